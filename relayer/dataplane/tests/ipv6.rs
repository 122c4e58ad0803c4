//! IPv6 between two providers in network namespaces (root): dual-stack
//! networks (`cidr` plus `cidr6`), transparent and userspace members.

mod common;

use std::time::Duration;

use avpn_dataplane::netns::NetnsWorker;
use avpn_dataplane::wire;
use avpn_model::{Change, DataPlane, Policy, Protocol, Verdict};
use common::v6::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const NET4: &str = "100.64.0.0/24";
const A6: &str = "fd00:64::2";
const B6: &str = "fd00:64::3";
const SOCKS: &str = "127.0.0.1:1080";

fn member_a(policy: Policy) -> avpn_model::MemberInfo {
    member6("a", "100.64.0.2", A6, PA, policy)
}

fn member_b(policy: Policy) -> avpn_model::MemberInfo {
    member6("b", "100.64.0.3", B6, PB, policy)
}

/// A dual-stack network 1 (default deny) with a on provider A (attached
/// as `att_a`) and b on provider B (transparent).
async fn setup(test: &str, policy_b: Policy, userspace_a: bool) -> World {
    let mut w = World::new(test).await;
    w.both(Change::SetNetwork(network6(1, NET4, CIDR6, Verdict::Deny)))
        .await;
    w.both(Change::SetMember(1, member_a(open_policy()))).await;
    w.both(Change::SetMember(1, member_b(policy_b))).await;
    let att_a = if userspace_a {
        userspace(&w.lease_a, SOCKS, &[])
    } else {
        transparent(&w.lease_a)
    };
    let att_b = transparent(&w.lease_b);
    w.a.apply(Change::Attach(1, "a".into(), att_a))
        .await
        .unwrap();
    w.b.apply(Change::Attach(1, "b".into(), att_b))
        .await
        .unwrap();
    w.connected().await;
    w
}

/// Echo server: returns every byte it receives.
fn echo(listener: TcpListener) {
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
}

/// Connects from inside `ns` to `addr` with a 1 s bound.
async fn try_connect(ns: &Netns, addr: &str) -> std::io::Result<tokio::net::TcpStream> {
    let worker = NetnsWorker::spawn(&ns.path()).unwrap();
    match tokio::time::timeout(
        Duration::from_secs(1),
        worker.tcp_connect(addr.parse().unwrap()),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Sends `msg` on `s` and expects it back.
async fn round_trip(s: &mut tokio::net::TcpStream, msg: &[u8]) {
    s.write_all(msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut back))
        .await
        .expect("echo within 5 s")
        .unwrap();
    assert_eq!(back, msg);
}

async fn ping6(ns: &Netns, args: &[&str]) -> bool {
    ns.command("ping")
        .arg("-6")
        .args(args)
        .output()
        .await
        .unwrap()
        .status
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping6_and_tcp_between_transparent_leases() {
    require_root!();
    let w = setup("6ping", open_policy(), false).await;
    address_ready(&w.lease_a, "avpn-1", A6).await;
    address_ready(&w.lease_b, "avpn-1", B6).await;
    // The kernel routes the whole prefix through the TUN.
    assert!(
        w.lease_a
            .output(&["ip", "-6", "route"])
            .contains("fd00:64::/64 dev avpn-1")
    );
    assert!(ping6(&w.lease_a, &["-c", "3", "-i", "0.2", "-W", "2", B6]).await);
    // A full-MTU packet (1405 bytes: 40 + 8 + 1357) fits one datagram.
    assert!(
        ping6(
            &w.lease_a,
            &["-c", "1", "-W", "2", "-M", "do", "-s", "1357", B6]
        )
        .await
    );
    // ... and so does the reverse direction.
    assert!(ping6(&w.lease_b, &["-c", "1", "-W", "2", A6]).await);

    let lb = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    echo(
        lb.tcp_listener(format!("[{B6}]:7001").parse().unwrap())
            .await
            .unwrap(),
    );
    let mut s = try_connect(&w.lease_a, &format!("[{B6}]:7001"))
        .await
        .expect("tcp over ipv6");
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let (mut r, mut wr) = s.split();
    let send = async { wr.write_all(&data).await.unwrap() };
    let mut back = vec![0u8; data.len()];
    let (_, got) = tokio::join!(send, r.read_exact(&mut back));
    got.unwrap();
    assert!(back == data, "echo mismatch");
    assert!(w.a.status().networks[0].flows > 0);

    // What the two stacks sent on their new interfaces (router
    // solicitations, MLD reports) is dropped by design, never as malformed.
    until(
        "link-scope traffic counted",
        Duration::from_secs(10),
        || (drops(&w.a, "ipv6_control") + drops(&w.b, "ipv6_control") > 0).then_some(()),
    )
    .await;
    assert_eq!(drops(&w.a, "malformed"), 0);
    assert_eq!(drops(&w.b, "malformed"), 0);
    let st = serde_json::to_string(&w.a.status()).unwrap();
    assert!(st.contains("\"cidr6\":\"fd00:64::/64\""), "{st}");
}

/// b admits TCP 7001 from the members in an IPv6 CIDR; the rule selects
/// members, so a's IPv4 flows match it too. A deny with an IPv6 CIDR
/// beats an allow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_cidr_rules_allow_and_deny() {
    require_root!();
    let allow_a = Policy {
        ingress: vec![cidr_rule(
            &["fd00:64::2/128"],
            Protocol::Tcp,
            (7001, 7001),
            Verdict::Allow,
        )],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    };
    let mut w = setup("6pol", allow_a, false).await;
    address_ready(&w.lease_a, "avpn-1", A6).await;
    address_ready(&w.lease_b, "avpn-1", B6).await;
    let lb = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    for port in [7001, 7002] {
        echo(
            lb.tcp_listener(format!("[::]:{port}").parse().unwrap())
                .await
                .unwrap(),
        );
    }
    let mut s = try_connect(&w.lease_a, &format!("[{B6}]:7001"))
        .await
        .expect("allowed by the ipv6 cidr");
    round_trip(&mut s, b"six").await;
    let mut s4 = try_connect(&w.lease_a, "100.64.0.3:7001")
        .await
        .expect("the cidr selects member a, over ipv4 too");
    round_trip(&mut s4, b"four").await;
    let before = drops(&w.a, "policy");
    assert!(
        try_connect(&w.lease_a, &format!("[{B6}]:7002"))
            .await
            .is_err()
    );
    assert!(!ping6(&w.lease_a, &["-c", "1", "-W", "1", B6]).await);
    // The sender's relayer applies both sides already.
    assert!(drops(&w.a, "policy") >= before + 2);

    // A CIDR that does not hold a's address: 7001 closes, the live flow
    // is cut.
    let other = Policy {
        ingress: vec![cidr_rule(
            &["fd00:64::8/125"],
            Protocol::Tcp,
            (7001, 7001),
            Verdict::Allow,
        )],
        egress: vec![],
    };
    w.both(Change::SetMember(1, member_b(other))).await;
    assert!(
        try_connect(&w.lease_a, &format!("[{B6}]:7001"))
            .await
            .is_err()
    );
    s.write_all(b"cut").await.unwrap();
    let mut buf = [0u8; 3];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), s.read_exact(&mut buf))
            .await
            .is_err(),
        "a cut flow carries nothing"
    );

    // Allow everything but deny a (by its IPv6 CIDR) on 7002: deny wins.
    let deny_a = Policy {
        ingress: vec![
            rule(Protocol::Any, (0, 65535), Verdict::Allow),
            cidr_rule(
                &["fd00:64::/120"],
                Protocol::Tcp,
                (7002, 7002),
                Verdict::Deny,
            ),
        ],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    };
    w.both(Change::SetMember(1, member_b(deny_a))).await;
    let mut s = try_connect(&w.lease_a, &format!("[{B6}]:7001"))
        .await
        .expect("allowed by the any rule");
    round_trip(&mut s, b"again").await;
    assert!(
        try_connect(&w.lease_a, &format!("[{B6}]:7002"))
            .await
            .is_err()
    );
    assert!(try_connect(&w.lease_a, "100.64.0.3:7002").await.is_err());
    assert!(ping6(&w.lease_a, &["-c", "1", "-W", "2", B6]).await);
}

/// A workload sending from an IPv6 address that is not its own is
/// stopped by its own relayer; a provider speaking for an IPv6 address it
/// does not host is stopped by the receiver. Both count as
/// `spoofed_source`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_ipv6_sources_are_dropped() {
    require_root!();
    let mut w = setup("6spoof", open_policy(), false).await;
    address_ready(&w.lease_a, "avpn-1", A6).await;
    address_ready(&w.lease_b, "avpn-1", B6).await;
    w.lease_a.exec(&[
        "ip",
        "-6",
        "addr",
        "add",
        "fd00:64::9/128",
        "dev",
        "avpn-1",
        "nodad",
    ]);
    address_ready(&w.lease_a, "avpn-1", "fd00:64::9").await;
    let before = drops(&w.a, "spoofed_source");
    assert!(!ping6(&w.lease_a, &["-c", "1", "-W", "1", "-I", "fd00:64::9", B6]).await);
    assert!(drops(&w.a, "spoofed_source") > before);
    assert!(
        ping6(&w.lease_a, &["-c", "1", "-W", "2", "-I", A6, B6]).await,
        "the member's own address still works"
    );

    // Provider C (a raw QUIC endpoint trusted by B) hosts c (fd00:64::4).
    let mut c = connect_provider_c(
        &mut w,
        member6("c", "100.64.0.4", "fd00:64::4", PC, open_policy()),
    )
    .await;
    let conn = c.conn.clone();
    // Control: C speaks for c; b's kernel answers through B.
    let echo = icmpv6_echo(ip6("fd00:64::4"), ip6(B6), 42);
    conn.send_datagram(wire::encode_datagram(1, &echo).into())
        .unwrap();
    let reply = c.recv(Duration::from_secs(5)).await.expect("echo reply");
    let (_, pkt) = wire::decode_datagram(&reply).unwrap();
    let info = avpn_dataplane::packet::parse(pkt).unwrap();
    assert_eq!(
        (info.src(), info.dst(), info.icmp_reply),
        (ip6(B6).into(), ip6("fd00:64::4").into(), true)
    );
    // C claims a's IPv6 (a is hosted by A), then an address of nobody.
    for (i, forged) in [A6, "fd00:64::99"].into_iter().enumerate() {
        let before = drops(&w.b, "spoofed_source");
        let p = icmpv6_echo(ip6(forged), ip6(B6), 43 + i as u16);
        conn.send_datagram(wire::encode_datagram(1, &p).into())
            .unwrap();
        until("forged ipv6 source counted", Duration::from_secs(5), || {
            (drops(&w.b, "spoofed_source") > before).then_some(())
        })
        .await;
    }
    // A forged IPv6 stream header is refused the same way.
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let h = wire::StreamHeader::new(
        1,
        format!("[{A6}]:4000").parse().unwrap(),
        format!("[{B6}]:22").parse().unwrap(),
    )
    .unwrap();
    send.write_all(&h.encode()).await.unwrap();
    let mut r = [0u8; 2];
    recv.read_exact(&mut r).await.unwrap();
    assert_eq!(
        wire::StreamStatus::decode(&r).unwrap(),
        wire::StreamStatus::SpoofedSource
    );
    // None of the forged echoes was answered.
    assert_eq!(c.recv(Duration::from_millis(300)).await, None);
}

/// Two networks with the same IPv4 CIDR and the same IPv6 prefix on the
/// same providers never exchange a packet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_ipv6_prefixes_stay_isolated() {
    require_root!();
    let mut w = World::new("6iso").await;
    for id in [1, 2] {
        w.both(Change::SetNetwork(network6(
            id,
            NET4,
            CIDR6,
            Verdict::Allow,
        )))
        .await;
        let a = member6(&format!("a{id}"), "100.64.0.2", A6, PA, open_policy());
        let b = member6(&format!("b{id}"), "100.64.0.3", B6, PB, open_policy());
        w.both(Change::SetMember(id, a)).await;
        w.both(Change::SetMember(id, b)).await;
    }
    let (lease_a2, lease_b2) = w.attach_twins("6iso").await;
    for (ns, dev, addr) in [
        (&w.lease_a, "avpn-1", A6),
        (&w.lease_b, "avpn-1", B6),
        (&lease_a2, "avpn-2", A6),
        (&lease_b2, "avpn-2", B6),
    ] {
        address_ready(ns, dev, addr).await;
    }
    let (b1_before, b2_before) = (
        rx_packets(&w.lease_b, "avpn-1"),
        rx_packets(&lease_b2, "avpn-2"),
    );
    assert!(ping6(&w.lease_a, &["-c", "3", "-i", "0.2", "-W", "2", B6]).await);
    assert!(rx_packets(&w.lease_b, "avpn-1") >= b1_before + 3);
    assert_eq!(
        rx_packets(&lease_b2, "avpn-2"),
        b2_before,
        "network 2 saw nothing of network 1"
    );
    let b1_mid = rx_packets(&w.lease_b, "avpn-1");
    assert!(ping6(&lease_a2, &["-c", "3", "-i", "0.2", "-W", "2", B6]).await);
    assert!(rx_packets(&lease_b2, "avpn-2") >= b2_before + 3);
    assert_eq!(
        rx_packets(&w.lease_b, "avpn-1"),
        b1_mid,
        "network 1 saw nothing of network 2"
    );
    drop(w);
}

/// A userspace member reaches a transparent member's IPv6 address through
/// SOCKS5 (ATYP 4), within b's policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_connect_to_an_ipv6_member() {
    require_root!();
    let policy_b = Policy {
        ingress: vec![rule(Protocol::Tcp, (8080, 8080), Verdict::Allow)],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    };
    let w = setup("6socks", policy_b, true).await;
    address_ready(&w.lease_b, "avpn-1", B6).await;
    let lb = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    for port in [8080, 8081] {
        echo(
            lb.tcp_listener(format!("[{B6}]:{port}").parse().unwrap())
                .await
                .unwrap(),
        );
    }
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let (mut s, code) = socks_connect(&la, SOCKS, &format!("[{B6}]:8080")).await;
    assert_eq!(code, 0);
    round_trip(&mut s, b"over ipv6").await;
    assert_eq!(w.a.status().live_streams, 1);
    // Not allowed by b's ingress; not a member.
    let (_, code) = socks_connect(&la, SOCKS, &format!("[{B6}]:8081")).await;
    assert_eq!(code, 2);
    let (_, code) = socks_connect(&la, SOCKS, "[fd00:64::99]:8080").await;
    assert_eq!(code, 4);
}
