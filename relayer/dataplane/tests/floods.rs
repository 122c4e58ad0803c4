//! Limits against floods and key-rotation stability, from the attacker's
//! side (root, network namespaces): a peer opening too many streams, a
//! member opening too many SOCKS sessions or forwards, a flow-cache flood,
//! a reverse ping through echo state, and key rotations of either side of
//! a live connection.

mod common;

use std::time::Duration;

use avpn_dataplane::limits::{
    FLOW_BUDGET_PER_NETWORK, MAX_FORWARDS_PER_MEMBER, MAX_SOCKS_SESSIONS_PER_MEMBER,
    MAX_STREAMS_PER_PEER,
};
use avpn_dataplane::netns::NetnsWorker;
use avpn_dataplane::{Overlay, PeerStatus, wire};
use avpn_model::{Change, DataPlane, OverlayKey, Policy, Protocol, Verdict};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SOCKS: &str = "127.0.0.1:1080";

/// A server that writes `tag` to every client, then echoes.
fn tagged_echo(listener: TcpListener, tag: &'static [u8]) {
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                if s.write_all(tag).await.is_ok() {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                }
            });
        }
    });
}

/// SOCKS CONNECT from `worker`'s namespace to `target`; on success reads
/// the server's tag and checks an echo. Returns the reply code and the tag.
async fn socks_tag(worker: &NetnsWorker, target: &str) -> (u8, Vec<u8>) {
    let (mut s, code) = socks_connect(worker, SOCKS, target).await;
    if code != 0 {
        return (code, Vec::new());
    }
    let mut tag = [0u8; 2];
    s.read_exact(&mut tag).await.unwrap();
    s.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    s.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"ping");
    (code, tag.to_vec())
}

fn peer_status(o: &Overlay, provider: &str) -> PeerStatus {
    o.status()
        .peers
        .into_iter()
        .find(|p| p.provider == provider)
        .unwrap()
}

fn open_network(id: u64) -> Change {
    Change::SetNetwork(network(id, "100.64.0.0/24", Verdict::Allow))
}

/// Network 1: a (A, SOCKS in lease_a), b (B, serve 8080 → tag "b1").
/// Network 2 (same CIDR): a2 (A, SOCKS in `la2`), b2 (B, serve 8080 →
/// tag "b2" in `lb2`).
async fn two_networks(w: &mut World, la2: &Netns, lb2: &Netns) {
    for id in [1, 2] {
        w.both(open_network(id)).await;
    }
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
    w.both(Change::SetMember(
        2,
        member("a2", "100.64.0.2", PA, open_policy()),
    ))
    .await;
    w.both(Change::SetMember(
        2,
        member("b2", "100.64.0.3", PB, open_policy()),
    ))
    .await;
    let serve = [(8080, "127.0.0.1:9000")];
    let atts = [
        (1, "a", userspace(&w.lease_a, SOCKS, &[]), true),
        (2, "a2", userspace(la2, SOCKS, &[]), true),
        (1, "b", userspace(&w.lease_b, SOCKS, &serve), false),
        (2, "b2", userspace(lb2, SOCKS, &serve), false),
    ];
    for (net, name, att, on_a) in atts {
        let o = if on_a { &mut w.a } else { &mut w.b };
        o.apply(Change::Attach(net, name.into(), att))
            .await
            .unwrap();
    }
    for (ns, tag) in [(&w.lease_b, b"b1"), (lb2, b"b2")] {
        let worker = NetnsWorker::spawn(&ns.path()).unwrap();
        tagged_echo(
            worker
                .tcp_listener("127.0.0.1:9000".parse().unwrap())
                .await
                .unwrap(),
            tag,
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_opening_too_many_streams_is_blocked_while_others_are_served() {
    require_root!();
    let mut w = World::new("fstream").await;
    let la2 = Netns::new(&ns_name("fstream", "la2"));
    let lb2 = Netns::new(&ns_name("fstream", "lb2"));
    two_networks(&mut w, &la2, &lb2).await;
    let c = connect_provider_c(&mut w, member("c", "100.64.0.4", PC, open_policy())).await;
    let conn = c.conn.clone();
    w.connected().await;
    let connects_before = peer_status(&w.a, PB).connects;

    // C opens as many streams as it may and keeps them open (one byte of
    // a header each, so that B has accepted every one).
    let mut held = Vec::new();
    for i in 0..MAX_STREAMS_PER_PEER {
        let (mut send, recv) = tokio::time::timeout(Duration::from_secs(5), conn.open_bi())
            .await
            .unwrap_or_else(|_| panic!("stream {i} is within the cap"))
            .unwrap();
        send.write_all(&[wire::VERSION]).await.unwrap();
        held.push((send, recv));
    }
    until(
        "b counts the peer at its cap",
        Duration::from_secs(10),
        || (drops(&w.b, "stream_limit") > 0).then_some(()),
    )
    .await;
    // One more waits for credit that B does not give.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), conn.open_bi())
            .await
            .is_err(),
        "a stream beyond the cap was opened"
    );

    // Meanwhile B serves peer A in both networks.
    let wa = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let wa2 = NetnsWorker::spawn(&la2.path()).unwrap();
    assert_eq!(socks_tag(&wa, "100.64.0.3:8080").await, (0, b"b1".to_vec()));
    assert_eq!(
        socks_tag(&wa2, "100.64.0.3:8080").await,
        (0, b"b2".to_vec())
    );
    assert_eq!(peer_status(&w.a, PB).connects, connects_before);

    // Once C lets go, it may open streams again (blocked, not cut off).
    drop(held);
    let (mut send, mut recv) = tokio::time::timeout(Duration::from_secs(10), conn.open_bi())
        .await
        .expect("credit comes back when the streams end")
        .unwrap();
    let h = wire::StreamHeader::new(
        1,
        "100.64.0.4:4000".parse().unwrap(),
        "100.64.0.3:8080".parse().unwrap(),
    )
    .unwrap();
    send.write_all(&h.encode()).await.unwrap();
    let mut r = [0u8; 2];
    recv.read_exact(&mut r).await.unwrap();
    assert_eq!(
        wire::StreamStatus::decode(&r).unwrap(),
        wire::StreamStatus::Connected
    );
    drop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_opening_too_many_socks_sessions_is_refused_while_another_works() {
    require_root!();
    let mut w = World::new("fsocks").await;
    let la2 = Netns::new(&ns_name("fsocks", "la2"));
    w.both(open_network(1)).await;
    for (name, ip, p) in [
        ("a", "100.64.0.2", PA),
        ("a2", "100.64.0.5", PA),
        ("b", "100.64.0.3", PB),
    ] {
        w.both(Change::SetMember(1, member(name, ip, p, open_policy())))
            .await;
    }
    let (att_a, att_a2) = (
        userspace(&w.lease_a, SOCKS, &[]),
        userspace(&la2, SOCKS, &[]),
    );
    let att_b = userspace(&w.lease_b, SOCKS, &[(8080, "127.0.0.1:9000")]);
    w.a.apply(Change::Attach(1, "a".into(), att_a))
        .await
        .unwrap();
    w.a.apply(Change::Attach(1, "a2".into(), att_a2))
        .await
        .unwrap();
    w.b.apply(Change::Attach(1, "b".into(), att_b))
        .await
        .unwrap();
    let wb = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    tagged_echo(
        wb.tcp_listener("127.0.0.1:9000".parse().unwrap())
            .await
            .unwrap(),
        b"b1",
    );
    w.connected().await;

    // Member a opens its whole allowance of sessions; each gets as far as
    // the method reply, so the proxy holds every one.
    let wa = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let mut sessions = Vec::new();
    for _ in 0..MAX_SOCKS_SESSIONS_PER_MEMBER {
        let mut s = wa.tcp_connect(SOCKS.parse().unwrap()).await.unwrap();
        s.write_all(&[5, 1, 0]).await.unwrap();
        let mut m = [0u8; 2];
        s.read_exact(&mut m).await.unwrap();
        assert_eq!(m, [5, 0]);
        sessions.push(s);
    }
    // The next one is closed without an answer, and counted.
    let before = drops(&w.a, "socks_limit");
    let mut extra = wa.tcp_connect(SOCKS.parse().unwrap()).await.unwrap();
    let _ = extra.write_all(&[5, 1, 0]).await;
    let mut m = [0u8; 2];
    let r = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut m))
        .await
        .expect("the proxy closes a session beyond the cap");
    assert!(
        matches!(r, Ok(0) | Err(_)),
        "refused session answered: {r:?}"
    );
    assert!(drops(&w.a, "socks_limit") > before);

    // Member a2 on the same relayer is not affected.
    let wa2 = NetnsWorker::spawn(&la2.path()).unwrap();
    assert_eq!(
        socks_tag(&wa2, "100.64.0.3:8080").await,
        (0, b"b1".to_vec())
    );

    // When a closes its sessions, its allowance comes back.
    drop(sessions);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = wa.tcp_connect(SOCKS.parse().unwrap()).await.unwrap();
        let _ = s.write_all(&[5, 1, 0]).await;
        let mut m = [0u8; 2];
        if s.read_exact(&mut m).await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a's sessions were not released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(socks_tag(&wa, "100.64.0.3:8080").await, (0, b"b1".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_flooding_one_member_with_forwards_is_refused_busy() {
    require_root!();
    let mut w = World::new("ffwd").await;
    let la2 = Netns::new(&ns_name("ffwd", "la2"));
    let lb2 = Netns::new(&ns_name("ffwd", "lb2"));
    two_networks(&mut w, &la2, &lb2).await;
    let c = connect_provider_c(&mut w, member("c", "100.64.0.4", PC, open_policy())).await;
    let conn = c.conn.clone();
    w.connected().await;

    // C opens as many forwards into b as b takes, and holds them.
    let header = |port: u16| {
        wire::StreamHeader::new(
            1,
            format!("100.64.0.4:{port}").parse().unwrap(),
            "100.64.0.3:8080".parse().unwrap(),
        )
        .unwrap()
    };
    let forward = |port: u16| {
        let conn = conn.clone();
        async move {
            let (mut send, mut recv) = conn.open_bi().await.unwrap();
            send.write_all(&header(port).encode()).await.unwrap();
            let mut r = [0u8; 2];
            recv.read_exact(&mut r).await.unwrap();
            (wire::StreamStatus::decode(&r).unwrap(), send, recv)
        }
    };
    let mut held = Vec::new();
    for i in 0..MAX_FORWARDS_PER_MEMBER {
        let (status, send, recv) = forward(10_000 + i as u16).await;
        assert_eq!(status, wire::StreamStatus::Connected, "forward {i}");
        held.push((send, recv));
    }
    let before = drops(&w.b, "forward_limit");
    let (status, _, _) = forward(20_000).await;
    assert_eq!(status, wire::StreamStatus::Busy);
    assert!(drops(&w.b, "forward_limit") > before);
    // A reaching b now gets a general failure; other members and
    // networks are served.
    let wa = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    assert_eq!(socks_tag(&wa, "100.64.0.3:8080").await.0, 1);
    let wa2 = NetnsWorker::spawn(&la2.path()).unwrap();
    assert_eq!(
        socks_tag(&wa2, "100.64.0.3:8080").await,
        (0, b"b2".to_vec())
    );
    // Released forwards give b back.
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while socks_tag(&wa, "100.64.0.3:8080").await.0 != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "b's forwards were not released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(w);
}

/// A UDP socket bound inside `ns`.
async fn udp(ns: &Netns, bind: &str) -> tokio::net::UdpSocket {
    let worker = NetnsWorker::spawn(&ns.path()).unwrap();
    let bind: std::net::SocketAddr = bind.parse().unwrap();
    let s = worker
        .run(move || {
            let s = std::net::UdpSocket::bind(bind)?;
            s.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(s)
        })
        .await
        .unwrap()
        .unwrap();
    tokio::net::UdpSocket::from_std(s).unwrap()
}

/// Sends `msg` from `from` to `to` until `at` receives it (the first
/// packets may race the TUN coming up).
async fn udp_exchange(from: &tokio::net::UdpSocket, to: &str, at: &tokio::net::UdpSocket) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 16];
    loop {
        from.send_to(b"hi", to).await.unwrap();
        if let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(200), at.recv_from(&mut buf)).await
        {
            assert_eq!(&buf[..n], b"hi");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "udp to {to} never arrived"
        );
    }
}

fn flows(o: &Overlay, network: u64) -> usize {
    o.status()
        .networks
        .iter()
        .find(|n| n.id == network)
        .unwrap()
        .flows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_cache_flood_in_one_network_leaves_another_networks_flow() {
    require_root!();
    let mut w = World::new("fflow").await;
    for id in [1, 2] {
        w.both(Change::SetNetwork(network(
            id,
            "100.64.0.0/24",
            Verdict::Deny,
        )))
        .await;
    }
    w.both(Change::SetMember(
        1,
        member("a1", "100.64.0.2", PA, open_policy()),
    ))
    .await;
    w.both(Change::SetMember(
        1,
        member("b1", "100.64.0.3", PB, open_policy()),
    ))
    .await;
    // Network 2: a2 may send anything; b2 accepts UDP 9000 and a2 accepts
    // nothing, so b2 reaches a2 only as the reply of a2's flow.
    let a2 = Policy {
        ingress: vec![],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    };
    let b2 = Policy {
        ingress: vec![rule(Protocol::Udp, (9000, 9000), Verdict::Allow)],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    };
    w.both(Change::SetMember(2, member("a2", "100.64.0.2", PA, a2)))
        .await;
    w.both(Change::SetMember(2, member("b2", "100.64.0.3", PB, b2)))
        .await;
    let (la2, lb2) = w.attach_twins("fflow").await;

    // The established flow of network 2, both ways.
    let sa2 = udp(&la2, "100.64.0.2:5000").await;
    let sb2 = udp(&lb2, "100.64.0.3:9000").await;
    udp_exchange(&sa2, "100.64.0.3:9000", &sb2).await;
    udp_exchange(&sb2, "100.64.0.2:5000", &sa2).await;
    // Control: without that state b2 does not reach a2.
    let before = drops(&w.b, "policy");
    sb2.send_to(b"no", "100.64.0.2:5001").await.unwrap();
    until(
        "b2's stateless packet denied",
        Duration::from_secs(5),
        || (drops(&w.b, "policy") > before).then_some(()),
    )
    .await;
    let (flows_a2, flows_b2) = (flows(&w.a, 2), flows(&w.b, 2));

    // a1 floods network 1 with new flows until both relayers evict.
    let sa1 = udp(&w.lease_a, "100.64.0.2:0").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    'flood: loop {
        for port in 1..=u16::MAX {
            // Losses in the TUN queue only slow the flood down.
            let _ = sa1.send_to(b"x", ("100.64.0.3", port)).await;
            if port % 4096 == 0 {
                tokio::task::yield_now().await;
                if drops(&w.a, "flow_evicted") > 0 && drops(&w.b, "flow_evicted") > 0 {
                    break 'flood;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no eviction: a {} b {}",
            drops(&w.a, "flow_evicted"),
            drops(&w.b, "flow_evicted")
        );
    }
    assert!(flows(&w.a, 1) <= FLOW_BUDGET_PER_NETWORK);
    assert!(flows(&w.b, 1) <= FLOW_BUDGET_PER_NETWORK);
    assert_eq!((flows(&w.a, 2), flows(&w.b, 2)), (flows_a2, flows_b2));
    // b2's reply still passes on both relayers: the state survived.
    udp_exchange(&sb2, "100.64.0.2:5000", &sa2).await;
    drop(w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_ping_through_echo_state_is_dropped_while_the_reply_passes() {
    require_root!();
    let mut w = World::new("fping").await;
    w.both(Change::SetNetwork(network(
        1,
        "100.64.0.0/24",
        Verdict::Deny,
    )))
    .await;
    // a may ping b; nothing may reach a except replies.
    let a = Policy {
        ingress: vec![],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    };
    w.both(Change::SetMember(1, member("a", "100.64.0.2", PA, a)))
        .await;
    w.both(Change::SetMember(
        1,
        member("b", "100.64.0.3", PB, open_policy()),
    ))
    .await;
    let (att_a, att_b) = (transparent(&w.lease_a), transparent(&w.lease_b));
    w.a.apply(Change::Attach(1, "a".into(), att_a))
        .await
        .unwrap();
    w.b.apply(Change::Attach(1, "b".into(), att_b))
        .await
        .unwrap();
    w.connected().await;
    let ping = |ns: &Netns, to: &str, wait: &str| {
        ns.command("ping")
            .args(["-c", "2", "-i", "0.2", "-W", wait, "-e", "4242", to])
            .output()
    };
    let out = ping(&w.lease_a, "100.64.0.3", "2").await.unwrap();
    assert!(
        out.status.success(),
        "a's ping and its replies pass: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // b pings a with the very identifier of a's echo state.
    let before = drops(&w.b, "policy");
    let out = ping(&w.lease_b, "100.64.0.2", "1").await.unwrap();
    assert!(
        !out.status.success(),
        "reverse ping passed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        drops(&w.b, "policy") >= before + 2,
        "b's relayer dropped the requests"
    );
    // a's ping still works afterwards.
    let out = ping(&w.lease_a, "100.64.0.3", "2").await.unwrap();
    assert!(out.status.success());
}

/// A seed whose key orders against `other` the opposite way from `seed`'s
/// key: under a "lower key dials" rule, rotating to it would flip who dials.
fn flipping_seed(seed: [u8; 32], other: [u8; 32]) -> [u8; 32] {
    let lower = key_of(seed) < other;
    (10u8..)
        .map(|i| [i; 32])
        .find(|s| (key_of(*s) < other) != lower)
        .unwrap()
}

fn rotated(provider: &str, new: [u8; 32], old: [u8; 32], underlay: &str, until: u64) -> Change {
    let mut info = peer(provider, new, underlay);
    info.keys.push(OverlayKey {
        key: key_of(old),
        valid_until: Some(until),
    });
    Change::SetPeer(info)
}

fn now() -> u64 {
    avpn_dataplane::identity::unix_now()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_survives_key_rotation_of_either_side() {
    require_root!();
    let mut w = World::new("frot").await;
    w.both(open_network(1)).await;
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
    let att_a = userspace(&w.lease_a, SOCKS, &[]);
    let att_b = userspace(&w.lease_b, SOCKS, &[(8080, "127.0.0.1:9000")]);
    w.a.apply(Change::Attach(1, "a".into(), att_a))
        .await
        .unwrap();
    w.b.apply(Change::Attach(1, "b".into(), att_b))
        .await
        .unwrap();
    let wb = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    tagged_echo(
        wb.tcp_listener("127.0.0.1:9000".parse().unwrap())
            .await
            .unwrap(),
        b"b1",
    );
    w.connected().await;
    let wa = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    // A long-lived forwarded connection across every rotation.
    let (mut live, code) = socks_connect(&wa, SOCKS, "100.64.0.3:8080").await;
    assert_eq!(code, 0);
    let mut tag = [0u8; 2];
    live.read_exact(&mut tag).await.unwrap();
    let mut round = 0u8;
    let mut echo_live = async |live: &mut tokio::net::TcpStream| {
        round += 1;
        live.write_all(&[round; 8]).await.unwrap();
        let mut back = [0u8; 8];
        tokio::time::timeout(Duration::from_secs(5), live.read_exact(&mut back))
            .await
            .expect("the live connection still carries data")
            .unwrap();
        assert_eq!(back, [round; 8]);
    };
    echo_live(&mut live).await;
    let connects = |w: &World| {
        (
            peer_status(&w.a, PB).connects,
            peer_status(&w.b, PA).connects,
        )
    };
    assert_eq!(connects(&w), (1, 1));
    let overlap = now() + 3600;

    // 1. B rotates (a peer's rotation for A) to a key that orders the
    // other way against A's key.
    let seed_b1 = flipping_seed(SEED_B, key_of(SEED_A));
    w.b.rotate_identity(seed_b1, Some(overlap)).unwrap();
    assert_eq!(w.b.public_key(), key_of(seed_b1));
    w.a.apply(rotated(PB, seed_b1, SEED_B, UNDERLAY_B, overlap))
        .await
        .unwrap();
    // 2. A rotates too (our own rotation), again flipping the order.
    let seed_a1 = flipping_seed(SEED_A, key_of(seed_b1));
    w.a.rotate_identity(seed_a1, Some(overlap)).unwrap();
    w.b.apply(rotated(PA, seed_a1, SEED_A, UNDERLAY_A, overlap))
        .await
        .unwrap();
    // A negative check (nothing may happen), not a synchronisation: give
    // the 1-second maintenance tick (trust enforcement, key handover) one
    // chance to act on the new state before looking.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    echo_live(&mut live).await;
    assert_eq!(socks_tag(&wa, "100.64.0.3:8080").await, (0, b"b1".to_vec()));
    assert_eq!(connects(&w), (1, 1), "no reconnect on rotation");
    assert_eq!(
        peer_status(&w.a, PB).state,
        avpn_dataplane::PeerState::Connected
    );
    // The counters are per provider and never reset: one connection each.
    for (registry, peer) in [(&w.registry_a, PB), (&w.registry_b, PA)] {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        let line = format!("avpn_dataplane_peer_connections_total{{peer=\"{peer}\"}} 1\n");
        assert!(text.contains(&line), "{text}");
    }

    // 3. A's old key is about to expire: A hands the connection over to
    // its new key, make-before-break. The live forward stays on the old
    // connection, which drains; new traffic takes the new one.
    w.a.rotate_identity(seed_a1, Some(now() + 5)).unwrap();
    until("handover on both sides", Duration::from_secs(10), || {
        (connects(&w) == (2, 2)).then_some(())
    })
    .await;
    until("old connection draining", Duration::from_secs(5), || {
        (peer_status(&w.a, PB).draining == 1 && peer_status(&w.b, PA).draining == 1).then_some(())
    })
    .await;
    echo_live(&mut live).await;
    assert_eq!(socks_tag(&wa, "100.64.0.3:8080").await, (0, b"b1".to_vec()));
    // The drained connection goes once its last forward ends.
    drop(live);
    until("drained connection closed", Duration::from_secs(10), || {
        (peer_status(&w.a, PB).draining == 0 && peer_status(&w.b, PA).draining == 0).then_some(())
    })
    .await;
    assert_eq!(connects(&w), (2, 2));
    assert_eq!(socks_tag(&wa, "100.64.0.3:8080").await, (0, b"b1".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_flood_must_validate_its_address_and_peers_still_connect() {
    require_root!();
    let mut w = World::new("fhand").await;
    w.both(open_network(1)).await;
    w.connected().await;
    // A stranger (unknown key) opens handshakes in bursts until B asks
    // for address validation; every attempt fails at the certificate.
    let stranger = raw_endpoint(&w.prov_a, [9; 32], &[(PB, key_of(SEED_B))], "198.18.0.1:0").await;
    let target: std::net::SocketAddr = format!("{UNDERLAY_B}:{PORT}").parse().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while drops(&w.b, "handshake_retry") == 0 {
        let attempts: Vec<_> = (0..64)
            .map(|_| {
                let c = stranger.connect(target, "avpn").unwrap();
                tokio::spawn(async move {
                    // TLS 1.3: B's refusal of the client certificate
                    // arrives as a close.
                    if let Ok(conn) = c.await {
                        conn.closed().await;
                    }
                })
            })
            .collect();
        for a in attempts {
            a.await.unwrap();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no retry under a handshake flood"
        );
    }
    assert!(
        w.b.status()
            .peers
            .iter()
            .all(|p| p.provider == PA && p.state == avpn_dataplane::PeerState::Connected)
    );
    // A trusted peer still gets in: A's connection is replaced by a fresh
    // one after B forgets A and learns it again.
    w.b.apply(Change::RemovePeer(PA.into())).await.unwrap();
    w.b.apply(Change::SetPeer(peer(PA, SEED_A, UNDERLAY_A)))
        .await
        .unwrap();
    w.connected().await;
}
