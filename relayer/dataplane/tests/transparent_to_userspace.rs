//! A transparent member's own TCP and UDP (plain sockets on its TUN)
//! reaching a userspace member's served ports through the userspace
//! member's shadow stack (root), across providers and on one provider.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use avpn_dataplane::netns::NetnsWorker;
use avpn_model::{Change, DataPlane, Policy, Protocol, Verdict};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const SOCKS: &str = "127.0.0.1:1080";

/// The userspace member's ingress: TCP 8080, UDP 53 and 7, ICMP; 8081 is
/// mapped but not allowed.
fn served_policy(tcp: &[u16]) -> Policy {
    let mut ingress: Vec<_> = tcp
        .iter()
        .map(|p| rule(Protocol::Tcp, (*p, *p), Verdict::Allow))
        .collect();
    ingress.push(rule(Protocol::Udp, (53, 53), Verdict::Allow));
    ingress.push(rule(Protocol::Udp, (7, 7), Verdict::Allow));
    ingress.push(rule(Protocol::Icmp, (0, 65535), Verdict::Allow));
    Policy {
        ingress,
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    }
}

/// The userspace member's attachment in `ns`.
fn served(ns: &Netns) -> avpn_model::Attachment {
    userspace_udp(
        ns,
        SOCKS,
        &[(8080, "127.0.0.1:9000"), (8081, "127.0.0.1:9001")],
        &[(53, "127.0.0.1:5353"), (7, "127.0.0.1:9007")],
    )
}

/// Echo servers (TCP 9000 and 9001, UDP 9007) and dnsmasq (UDP 5353) in
/// the userspace member's lease `ns`.
async fn servers(ns: &Netns) -> (NetnsWorker, tokio::process::Child) {
    let worker = NetnsWorker::spawn(&ns.path()).unwrap();
    for port in [9000, 9001] {
        let l = worker
            .tcp_listener(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap();
        tcp_echo(l);
    }
    udp_echo(&worker, "127.0.0.1:9007").await;
    let dns = dnsmasq(ns, "127.0.0.1", 5353);
    (worker, dns)
}

/// Echo server: returns every byte it receives.
fn tcp_echo(listener: TcpListener) {
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
}

/// Sends `payload` from `sock` to `dst` until `accept` takes an answer
/// from `dst` (servers may not be up yet).
async fn udp_exchange<T>(
    sock: &UdpSocket,
    dst: &str,
    payload: &[u8],
    accept: impl Fn(&[u8]) -> Option<T>,
) -> T {
    let dst: SocketAddr = dst.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = vec![0u8; 65536];
    loop {
        assert!(Instant::now() < deadline, "no answer from {dst}");
        sock.send_to(payload, dst).await.unwrap();
        while let Ok(r) =
            tokio::time::timeout(Duration::from_millis(200), sock.recv_from(&mut buf)).await
        {
            let (n, from) = r.unwrap();
            assert_eq!(from, dst, "the answer comes from the served port");
            if let Some(v) = accept(&buf[..n]) {
                return v;
            }
        }
    }
}

/// TCP (echo, 4 MiB), UDP (echo and a DNS query) and ping from the
/// transparent member `from` (lease `worker`) to userspace member `to`.
async fn reach_served_ports(worker: &NetnsWorker, from: &str, to: &str, ns: &Netns) {
    let mut s = worker
        .tcp_connect(format!("{to}:8080").parse().unwrap())
        .await
        .expect("served TCP port");
    let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
    let (mut r, mut wr) = s.split();
    let send = async { wr.write_all(&data).await.unwrap() };
    let mut back = vec![0u8; data.len()];
    let (_, got) = tokio::join!(send, r.read_exact(&mut back));
    got.unwrap();
    assert!(back == data, "echo mismatch");

    let sock = worker
        .udp_bind(format!("{from}:0").parse().unwrap())
        .await
        .unwrap();
    udp_exchange(&sock, &format!("{to}:7"), b"ping", |r| {
        (r == b"ping").then_some(())
    })
    .await;
    let q = dns_query(7, DNS_NAME);
    let answer = udp_exchange(&sock, &format!("{to}:53"), &q, |r| dns_answer(r, 7)).await;
    assert_eq!(answer, ip(DNS_ADDR));

    // The shadow stack's kernel answers ping like a host would.
    let out = ns
        .command("ping")
        .args(["-c", "1", "-W", "5", to])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparent_member_reaches_served_tcp_and_udp_ports_of_a_remote_userspace_member() {
    require_root!();
    let mut w = World::new("t2u").await;
    attach_pair(
        &mut w,
        network(1, "100.64.0.0/24", Verdict::Deny),
        (member("a", "100.64.0.2", PA, open_policy()), transparent),
        (
            member("b", "100.64.0.3", PB, served_policy(&[8080])),
            served,
        ),
    )
    .await;
    let (_lb, _dns) = servers(&w.lease_b).await;
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    reach_served_ports(&la, "100.64.0.2", "100.64.0.3", &w.lease_a).await;

    // 8081 is served but b's ingress denies it: a's relayer drops the SYN.
    let denied = drops(&w.a, "policy");
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        la.tcp_connect("100.64.0.3:8081".parse().unwrap()),
    )
    .await;
    assert!(!matches!(r, Ok(Ok(_))), "denied port connected");
    assert!(drops(&w.a, "policy") > denied);

    // A live connection to a served port is cut on b when b's ingress
    // stops allowing it, like a stream forward.
    let mut s = la
        .tcp_connect("100.64.0.3:8080".parse().unwrap())
        .await
        .unwrap();
    s.write_all(b"live").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    until("forward registered", Duration::from_secs(5), || {
        (w.b.status().live_streams == 1).then_some(())
    })
    .await;
    w.both(Change::SetMember(
        1,
        member("b", "100.64.0.3", PB, served_policy(&[])),
    ))
    .await;
    assert_eq!(w.b.status().live_streams, 0);
    s.write_all(b"gone").await.unwrap();
    let r = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await;
    assert!(!matches!(r, Ok(Ok(n)) if n > 0), "no echo after the cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparent_member_reaches_a_userspace_member_on_the_same_provider() {
    require_root!();
    let mut w = World::new("t2ul").await;
    let lease_c = Netns::new(&ns_name("t2ul", "lc"));
    w.both(Change::SetNetwork(network(
        1,
        "100.64.0.0/24",
        Verdict::Deny,
    )))
    .await;
    w.both(Change::SetMember(
        1,
        member("a", "100.64.0.2", PA, open_policy()),
    ))
    .await;
    w.both(Change::SetMember(
        1,
        member("c", "100.64.0.4", PA, served_policy(&[8080])),
    ))
    .await;
    w.a.apply(Change::Attach(1, "a".into(), transparent(&w.lease_a)))
        .await
        .unwrap();
    w.a.apply(Change::Attach(1, "c".into(), served(&lease_c)))
        .await
        .unwrap();
    let (_lc, _dns) = servers(&lease_c).await;
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    reach_served_ports(&la, "100.64.0.2", "100.64.0.4", &w.lease_a).await;
    // The userspace member still reaches the transparent one through its
    // proxy (a QUIC-less local forward).
    let l = la
        .tcp_listener("100.64.0.2:7000".parse().unwrap())
        .await
        .unwrap();
    tcp_echo(l);
    let lc = NetnsWorker::spawn(&lease_c.path()).unwrap();
    let (mut s, code) = socks_connect(&lc, SOCKS, "100.64.0.2:7000").await;
    assert_eq!(code, 0);
    s.write_all(b"back").await.unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"back");
}

/// From a member allowed to reach a served UDP port: every source port is
/// a flow with a socket in the lease, so flows are capped per member; the
/// datagrams of a flow beyond the cap are dropped and counted, and the
/// flows already open keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn served_udp_flows_are_capped_per_member() {
    require_root!();
    let mut w = World::new("t2ucap").await;
    w.both(Change::SetNetwork(network(
        1,
        "100.64.0.0/24",
        Verdict::Deny,
    )))
    .await;
    w.both(Change::SetMember(
        1,
        member("a", "100.64.0.2", PA, open_policy()),
    ))
    .await;
    w.both(Change::SetMember(
        1,
        member("b", "100.64.0.3", PB, served_policy(&[])),
    ))
    .await;
    w.a.apply(Change::Attach(1, "a".into(), transparent(&w.lease_a)))
        .await
        .unwrap();
    w.b.apply(Change::Attach(1, "b".into(), served(&w.lease_b)))
        .await
        .unwrap();
    w.connected().await;
    let (_lb, _dns) = servers(&w.lease_b).await;
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let cap = avpn_dataplane::limits::MAX_UDP_FLOWS_PER_MEMBER;
    let mut socks = Vec::new();
    let mut buf = [0u8; 8];
    for _ in 0..cap {
        // The first datagram of a new flow is relayed, not lost while the
        // flow's socket is being made.
        let s = la.udp_bind("100.64.0.2:0".parse().unwrap()).await.unwrap();
        s.send_to(b"in", "100.64.0.3:7").await.unwrap();
        let (n, _) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf))
            .await
            .expect("answer to a new flow's first datagram")
            .unwrap();
        assert_eq!(&buf[..n], b"in");
        socks.push(s);
    }
    assert_eq!(drops(&w.b, "udp_flow_limit"), 0);
    let extra = la.udp_bind("100.64.0.2:0".parse().unwrap()).await.unwrap();
    extra.send_to(b"over", "100.64.0.3:7").await.unwrap();
    until(
        "flow beyond the cap counted",
        Duration::from_secs(5),
        || (drops(&w.b, "udp_flow_limit") >= 1).then_some(()),
    )
    .await;
    let r = tokio::time::timeout(Duration::from_millis(300), extra.recv_from(&mut buf)).await;
    assert!(r.is_err(), "no answer beyond the cap");
    udp_exchange(&socks[0], "100.64.0.3:7", b"still", |r| {
        (r == b"still").then_some(())
    })
    .await;
}

/// iperf3 from a transparent member to a userspace member's served port
/// (TCP through the shadow stack and a forward into the lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iperf3_from_a_transparent_member_to_a_served_port() {
    require_root!();
    let mut w = World::new("t2uperf").await;
    w.both(Change::SetNetwork(network(
        1,
        "100.64.0.0/24",
        Verdict::Deny,
    )))
    .await;
    w.both(Change::SetMember(
        1,
        member("a", "100.64.0.2", PA, open_policy()),
    ))
    .await;
    w.both(Change::SetMember(
        1,
        member("b", "100.64.0.3", PB, served_policy(&[5201])),
    ))
    .await;
    w.a.apply(Change::Attach(1, "a".into(), transparent(&w.lease_a)))
        .await
        .unwrap();
    let att_b = userspace_udp(&w.lease_b, SOCKS, &[(5201, "127.0.0.1:5201")], &[]);
    w.b.apply(Change::Attach(1, "b".into(), att_b))
        .await
        .unwrap();
    w.connected().await;
    let _server = w
        .lease_b
        .command("iperf3")
        .args(["-s", "-B", "127.0.0.1", "-p", "5201"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let report = loop {
        let out = w
            .lease_a
            .command("iperf3")
            .args(["-c", "100.64.0.3", "-p", "5201", "-t", "2", "-J"])
            .output()
            .await
            .unwrap();
        // The server may not listen yet: only a report counts.
        let report = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .filter(|r| r["end"]["sum_received"]["bits_per_second"].is_f64());
        if let Some(r) = report {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let bps = report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap();
    eprintln!(
        "transparent → userspace served port: {:.2} Gbit/s",
        bps / 1e9
    );
    assert!(bps > 1e6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparent_member_reaches_a_userspace_members_served_ports_over_ipv6() {
    require_root!();
    let mut w = World::new("t2u6").await;
    attach_pair(
        &mut w,
        v6::network6(1, "100.64.0.0/24", v6::CIDR6, Verdict::Deny),
        (
            v6::member6("a", "100.64.0.2", "fd00:64::2", PA, open_policy()),
            transparent,
        ),
        (
            v6::member6("b", "100.64.0.3", "fd00:64::3", PB, served_policy(&[8080])),
            served,
        ),
    )
    .await;
    let (_lb, _dns) = servers(&w.lease_b).await;
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();

    let mut s = la
        .tcp_connect("[fd00:64::3]:8080".parse().unwrap())
        .await
        .expect("served TCP port over IPv6");
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    let (mut r, mut wr) = s.split();
    let send = async { wr.write_all(&data).await.unwrap() };
    let mut back = vec![0u8; data.len()];
    let (_, got) = tokio::join!(send, r.read_exact(&mut back));
    got.unwrap();
    assert!(back == data, "echo mismatch over IPv6");

    let sock = la
        .udp_bind("[fd00:64::2]:0".parse().unwrap())
        .await
        .unwrap();
    udp_exchange(&sock, "[fd00:64::3]:7", b"ping6", |r| {
        (r == b"ping6").then_some(())
    })
    .await;

    // The denied served port stays closed over IPv6 too.
    let denied = drops(&w.a, "policy");
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        la.tcp_connect("[fd00:64::3]:8081".parse().unwrap()),
    )
    .await;
    assert!(!matches!(r, Ok(Ok(_))), "denied port connected over IPv6");
    assert!(drops(&w.a, "policy") > denied);
    assert_eq!(drops(&w.a, "malformed") + drops(&w.b, "malformed"), 0);
}
