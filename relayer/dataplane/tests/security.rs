//! Attacks from a peer's side: forged sources, unknown keys, cross-network
//! leaks (root, network namespaces).

mod common;

use std::time::Duration;

use avpn_dataplane::wire;
use avpn_model::{Change, DataPlane, OverlayKey, PeerInfo, Verdict};
use common::raw_peer::RawPeer;
use common::*;

/// A world where provider C (run by the test as a raw QUIC endpoint) is a
/// trusted peer of B hosting member c (100.64.0.4) of network 1.
async fn with_provider_c(test: &str) -> (World, RawPeer) {
    let mut w = World::new(test).await;
    w.both(Change::SetNetwork(network(
        1,
        "100.64.0.0/24",
        Verdict::Allow,
    )))
    .await;
    w.both(Change::SetMember(
        1,
        member("a", "100.64.0.2", PA, open_policy()),
    ))
    .await;
    w.both(Change::SetMember(
        1,
        member("b", "100.64.0.3", PB, open_policy()),
    ))
    .await;
    let att = transparent(&w.lease_b);
    w.b.apply(Change::Attach(1, "b".into(), att)).await.unwrap();
    let c = connect_provider_c(&mut w, member("c", "100.64.0.4", PC, open_policy())).await;
    (w, c)
}

/// Waits until B lists provider C as connected.
async fn c_connected(w: &World) {
    until("b sees c connected", Duration::from_secs(5), || {
        w.b.status()
            .peers
            .iter()
            .any(|p| p.provider == PC && p.state == avpn_dataplane::PeerState::Connected)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_source_is_dropped_and_counted() {
    require_root!();
    let (w, mut c) = with_provider_c("sforge").await;
    let conn = c.conn.clone();
    c_connected(&w).await;

    // Control: C speaks for its own member c; b's kernel answers the echo
    // and the reply comes back to C through B.
    let echo = icmp_echo(ip("100.64.0.4"), ip("100.64.0.3"), 42);
    conn.send_datagram(wire::encode_datagram(1, &echo).into())
        .unwrap();
    let reply = c.recv(Duration::from_secs(5)).await.expect("echo reply");
    let (net, pkt) = wire::decode_datagram(&reply).unwrap();
    let info = avpn_dataplane::packet::parse(pkt).unwrap();
    assert_eq!(
        (net, info.src(), info.dst()),
        (1, ip("100.64.0.3").into(), ip("100.64.0.4").into())
    );

    // Attack 1: C claims a's address (a is hosted by provider A).
    let before = drops(&w.b, "spoofed_source");
    let forged = icmp_echo(ip("100.64.0.2"), ip("100.64.0.3"), 43);
    conn.send_datagram(wire::encode_datagram(1, &forged).into())
        .unwrap();
    until("spoofed packet counted", Duration::from_secs(5), || {
        (drops(&w.b, "spoofed_source") > before).then_some(())
    })
    .await;
    // Attack 2: an address outside any member.
    let forged = icmp_echo(ip("100.64.0.99"), ip("100.64.0.3"), 44);
    conn.send_datagram(wire::encode_datagram(1, &forged).into())
        .unwrap();
    until("second spoof counted", Duration::from_secs(5), || {
        (drops(&w.b, "spoofed_source") > before + 1).then_some(())
    })
    .await;
    // Attack 3: a network C does not take part in.
    let before_net = drops(&w.b, "unknown_network");
    conn.send_datagram(wire::encode_datagram(77, &echo).into())
        .unwrap();
    until("unknown network counted", Duration::from_secs(5), || {
        (drops(&w.b, "unknown_network") > before_net).then_some(())
    })
    .await;
    // Garbage frame.
    let before_bad = drops(&w.b, "malformed");
    conn.send_datagram(vec![1u8, 0, 0].into()).unwrap();
    until("malformed counted", Duration::from_secs(5), || {
        (drops(&w.b, "malformed") > before_bad).then_some(())
    })
    .await;
    // None of the forged echoes was answered.
    assert_eq!(c.recv(Duration::from_millis(300)).await, None);
    // A forged stream header is refused the same way.
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let h = wire::StreamHeader::new(
        1,
        "100.64.0.2:4000".parse().unwrap(),
        "100.64.0.3:22".parse().unwrap(),
    )
    .unwrap();
    send.write_all(&h.encode()).await.unwrap();
    let mut r = [0u8; 2];
    recv.read_exact(&mut r).await.unwrap();
    assert_eq!(
        wire::StreamStatus::decode(&r).unwrap(),
        wire::StreamStatus::SpoofedSource
    );
}

/// Sealed datagrams beside QUIC: a genuine one is answered; a replay of
/// it, one sealed with another channel's keys under B's receiver id, a
/// truncated one and one for an unknown receiver are each dropped with
/// their reason and answered by nothing; a genuine one speaking for a
/// member C does not host is dropped as spoofed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_datagrams_are_authenticated_and_used_once() {
    require_root!();
    let (w, mut c) = with_provider_c("ssealed").await;
    c_connected(&w).await;
    let echo = icmp_echo(ip("100.64.0.4"), ip("100.64.0.3"), 7);
    let genuine = c.seal(&wire::encode_datagram(1, &echo));
    c.send_raw(&genuine).await;
    let reply = c.recv(Duration::from_secs(5)).await.expect("echo reply");
    let (_, pkt) = wire::decode_datagram(&reply).unwrap();
    let info = avpn_dataplane::packet::parse(pkt).unwrap();
    assert_eq!(
        (info.src(), info.dst()),
        (ip("100.64.0.3").into(), ip("100.64.0.4").into())
    );

    let count = |reason| drops(&w.b, reason);
    let (replayed, rejected) = (count("sealed_replayed"), count("sealed_rejected"));
    c.send_raw(&genuine).await;
    until("replay counted", Duration::from_secs(5), || {
        (count("sealed_replayed") > replayed).then_some(())
    })
    .await;
    // Another channel's keys, B's receiver id.
    let (other, _) = avpn_dataplane::sealed::from_secret(&[42; 32], true);
    let mut forged = Vec::new();
    assert!(other.seal_into(&mut forged, &wire::encode_datagram(1, &echo)));
    forged[1..9].copy_from_slice(&genuine[1..9]);
    c.send_raw(&forged).await;
    let mut truncated = c.seal(&wire::encode_datagram(1, &echo));
    truncated.truncate(30);
    c.send_raw(&truncated).await;
    let mut stranger = c.seal(&wire::encode_datagram(1, &echo));
    stranger[1..9].copy_from_slice(&[0xee; 8]);
    c.send_raw(&stranger).await;
    until("forgeries counted", Duration::from_secs(5), || {
        (count("sealed_rejected") >= rejected + 2).then_some(())
    })
    .await;
    // Genuine keys, but speaking for a (hosted by provider A).
    let spoofed = drops(&w.b, "spoofed_source");
    let forged = icmp_echo(ip("100.64.0.2"), ip("100.64.0.3"), 8);
    c.send_raw(&c.seal(&wire::encode_datagram(1, &forged)))
        .await;
    until("spoofed source counted", Duration::from_secs(5), || {
        (drops(&w.b, "spoofed_source") > spoofed).then_some(())
    })
    .await;
    assert_eq!(
        c.recv(Duration::from_millis(300)).await,
        None,
        "nothing answered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_is_refused_at_the_handshake_both_ways() {
    require_root!();
    let mut w = World::new("skey").await;
    // Inbound: a relayer with an unknown key dials B.
    let stranger = raw_endpoint(&w.prov_a, [9; 32], &[(PB, key_of(SEED_B))], "198.18.0.1:0").await;
    // In TLS 1.3 the client finishes first; B's refusal of the client
    // certificate then closes the connection with a TLS alert.
    let err = match stranger
        .connect(format!("{UNDERLAY_B}:{PORT}").parse().unwrap(), "avpn")
        .unwrap()
        .await
    {
        Err(e) => e,
        Ok(conn) => tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .expect("B closes it"),
    };
    eprintln!("stranger refused: {err}");
    assert!(
        matches!(err, quinn::ConnectionError::ConnectionClosed(ref c) if c.error_code.to_string().contains("crypto")),
        "{err}"
    );
    assert!(
        w.b.status()
            .peers
            .iter()
            .all(|p| p.state != avpn_dataplane::PeerState::Connected || p.provider == PA)
    );

    // Outbound: B dials an endpoint listed for provider X, but the server
    // there presents another key than X's directory key. B is the dialing
    // side: its provider address is the lower one.
    let kb = key_of(SEED_B);
    let x_seed = [10u8; 32];
    let impostor = raw_endpoint(&w.prov_a, [99; 32], &[(PB, kb)], "198.18.0.1:7500").await;
    w.b.apply(Change::SetPeer(PeerInfo {
        provider: "akash1providerx".into(),
        keys: vec![OverlayKey {
            key: key_of(x_seed),
            valid_until: None,
        }],
        endpoints: vec!["198.18.0.1:7500".parse().unwrap()],
    }))
    .await
    .unwrap();
    let incoming = tokio::time::timeout(Duration::from_secs(5), impostor.accept())
        .await
        .expect("B dials")
        .unwrap();
    assert!(
        incoming.await.is_err(),
        "B aborts the handshake with the impostor"
    );
    let x =
        w.b.status()
            .peers
            .into_iter()
            .find(|p| p.provider == "akash1providerx")
            .unwrap();
    assert_eq!(x.state, avpn_dataplane::PeerState::Connecting);

    // A rotated key past its deadline is refused too: A's only key expired.
    let expired = PeerInfo {
        provider: PA.into(),
        keys: vec![OverlayKey {
            key: key_of(SEED_A),
            valid_until: Some(1),
        }],
        endpoints: vec![format!("{UNDERLAY_A}:{PORT}").parse().unwrap()],
    };
    w.b.apply(Change::SetPeer(expired)).await.unwrap();
    let a_again = raw_endpoint(&w.prov_a, SEED_A, &[(PB, kb)], "198.18.0.1:0").await;
    let res = match a_again
        .connect(format!("{UNDERLAY_B}:{PORT}").parse().unwrap(), "avpn")
        .unwrap()
        .await
    {
        Err(e) => e,
        Ok(conn) => tokio::time::timeout(Duration::from_secs(5), conn.closed())
            .await
            .expect("B closes it"),
    };
    assert!(
        matches!(res, quinn::ConnectionError::ConnectionClosed(_)),
        "expired key refused: {res}"
    );
    let a =
        w.b.status()
            .peers
            .into_iter()
            .find(|p| p.provider == PA)
            .unwrap();
    assert_ne!(
        a.state,
        avpn_dataplane::PeerState::Connected,
        "the live connection of the expired key was closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_cidr_networks_stay_isolated() {
    require_root!();
    let mut w = World::new("siso").await;
    for id in [1, 2] {
        w.both(Change::SetNetwork(network(
            id,
            "100.64.0.0/24",
            Verdict::Allow,
        )))
        .await;
        w.both(Change::SetMember(
            id,
            member(&format!("a{id}"), "100.64.0.2", PA, open_policy()),
        ))
        .await;
        w.both(Change::SetMember(
            id,
            member(&format!("b{id}"), "100.64.0.3", PB, open_policy()),
        ))
        .await;
    }
    let (lease_a2, lease_b2) = w.attach_twins("siso").await;
    let (b1_before, b2_before) = (
        rx_packets(&w.lease_b, "avpn-1"),
        rx_packets(&lease_b2, "avpn-2"),
    );
    let p = w
        .lease_a
        .command("ping")
        .args(["-c", "3", "-i", "0.2", "-W", "2", "100.64.0.3"])
        .output()
        .await
        .unwrap();
    assert!(p.status.success());
    assert!(rx_packets(&w.lease_b, "avpn-1") >= b1_before + 3);
    assert_eq!(
        rx_packets(&lease_b2, "avpn-2"),
        b2_before,
        "network 2 saw nothing of network 1"
    );
    let b1_mid = rx_packets(&w.lease_b, "avpn-1");
    let p = lease_a2
        .command("ping")
        .args(["-c", "3", "-i", "0.2", "-W", "2", "100.64.0.3"])
        .output()
        .await
        .unwrap();
    assert!(p.status.success());
    assert!(rx_packets(&lease_b2, "avpn-2") >= b2_before + 3);
    assert_eq!(
        rx_packets(&w.lease_b, "avpn-1"),
        b1_mid,
        "network 1 saw nothing of network 2"
    );
    drop(w);
}
