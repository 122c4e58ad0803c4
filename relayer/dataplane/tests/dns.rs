//! Names inside lease namespaces (root): the gateway address answers
//! `<member>.<network>` and reverse names of the sender's own network
//! only; SOCKS5 CONNECT by name; floods and malformed queries.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use avpn_dataplane::netns::NetnsWorker;
use avpn_model::{Change, DataPlane, NetworkInfo, Policy, Protocol, Verdict};
use common::v6::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const NET4: &str = "100.64.0.0/24";
const GATEWAY: &str = "100.64.0.1:53";
const A6: &str = "fd00:64::2";
const B6: &str = "fd00:64::3";
const SOCKS: &str = "127.0.0.1:1080";

/// `/etc/netns/<ns>/resolv.conf` (which `ip netns exec` mounts over
/// `/etc/resolv.conf`) naming the gateway, removed on drop.
struct ResolvConf(PathBuf);

impl ResolvConf {
    fn new(ns: &Netns, nameserver: &str) -> ResolvConf {
        let dir = PathBuf::from("/etc/netns").join(&ns.name);
        std::fs::create_dir_all(&dir).unwrap();
        let guard = ResolvConf(dir);
        std::fs::write(
            guard.0.join("resolv.conf"),
            format!("nameserver {nameserver}\noptions timeout:1 attempts:1\n"),
        )
        .unwrap();
        guard
    }
}

impl Drop for ResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn named(name: &str, info: NetworkInfo) -> NetworkInfo {
    NetworkInfo {
        name: name.into(),
        ..info
    }
}

/// Network 1 `prod` (dual stack) with a on provider A (transparent, or
/// userspace) and b on provider B (transparent, TCP 8080 allowed in);
/// network 2 `staging` on the same providers with members `b` and `c`.
async fn setup(test: &str, userspace_a: bool) -> World {
    let mut w = World::new(test).await;
    w.both(Change::SetNetwork(named(
        "prod",
        network6(1, NET4, CIDR6, Verdict::Deny),
    )))
    .await;
    let policy_b = Policy {
        ingress: vec![rule(Protocol::Tcp, (8080, 8080), Verdict::Allow)],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    };
    w.both(Change::SetMember(
        1,
        member6("a", "100.64.0.2", A6, PA, open_policy()),
    ))
    .await;
    w.both(Change::SetMember(
        1,
        member6("b", "100.64.0.3", B6, PB, policy_b),
    ))
    .await;
    w.both(Change::SetNetwork(named(
        "staging",
        network(2, "100.65.0.0/24", Verdict::Deny),
    )))
    .await;
    for (name, ip) in [("b", "100.65.0.3"), ("c", "100.65.0.4")] {
        w.both(Change::SetMember(2, member(name, ip, PB, open_policy())))
            .await;
    }
    let att_a = if userspace_a {
        userspace(&w.lease_a, SOCKS, &[])
    } else {
        transparent(&w.lease_a)
    };
    w.a.apply(Change::Attach(1, "a".into(), att_a))
        .await
        .unwrap();
    w.b.apply(Change::Attach(1, "b".into(), transparent(&w.lease_b)))
        .await
        .unwrap();
    w.connected().await;
    w
}

/// `getent <args>` inside `ns`: its stdout when it succeeded.
async fn getent(ns: &Netns, args: &[&str]) -> Option<String> {
    let out = ns.command("getent").args(args).output().await.unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A UDP socket inside `ns`.
async fn udp_socket(ns: &Netns) -> UdpSocket {
    let worker = NetnsWorker::spawn(&ns.path()).unwrap();
    let sock = worker
        .run(|| {
            let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
            s.set_nonblocking(true)?;
            Ok::<_, std::io::Error>(s)
        })
        .await
        .unwrap()
        .unwrap();
    UdpSocket::from_std(sock).unwrap()
}

/// A DNS query (id `id`, recursion desired) for `name` of type `qtype`.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Sends `q` to the gateway and waits up to `within` for its answer
/// (answers to earlier queries are skipped).
async fn ask(sock: &UdpSocket, q: &[u8], within: Duration) -> Option<Vec<u8>> {
    let gateway: SocketAddr = GATEWAY.parse().unwrap();
    sock.send_to(q, gateway).await.unwrap();
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        assert_eq!(from, gateway);
        if buf[..2] == q[..2] {
            return Some(buf[..n].to_vec());
        }
    }
}

/// The response code of a DNS message.
fn rcode(m: &[u8]) -> u8 {
    m[3] & 0x0f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolve_in_lease_namespaces_and_stay_in_their_network() {
    require_root!();
    let w = setup("dnsget", false).await;
    let _resolv = ResolvConf::new(&w.lease_a, "100.64.0.1");
    until("a's IPv6 address", Duration::from_secs(5), || {
        let out = w
            .lease_a
            .output(&["ip", "-6", "addr", "show", "dev", "avpn-1"]);
        (out.contains(&format!("{A6}/")) && !out.contains("tentative")).then_some(())
    })
    .await;
    let la = &w.lease_a;

    let v4 = getent(la, &["ahostsv4", "b.prod"])
        .await
        .expect("A of b.prod");
    assert!(v4.contains("100.64.0.3"), "{v4}");
    let v4 = getent(la, &["ahostsv4", "B.Prod."])
        .await
        .expect("any case");
    assert!(v4.contains("100.64.0.3"), "{v4}");
    let v6 = getent(la, &["ahostsv6", "b.prod"]).await.expect("AAAA");
    assert!(v6.contains(B6), "{v6}");
    let hosts = getent(la, &["hosts", "a.prod"]).await.expect("hosts");
    assert!(hosts.contains("a.prod"), "{hosts}");
    // Reverse lookups of both families.
    let ptr = getent(la, &["hosts", "100.64.0.3"]).await.expect("PTR");
    assert!(ptr.contains("b.prod"), "{ptr}");
    let ptr6 = getent(la, &["hosts", B6]).await.expect("PTR v6");
    assert!(ptr6.contains("b.prod"), "{ptr6}");

    // Another tenant's network on the same providers: neither its names
    // nor its addresses resolve; nor does anything else.
    for name in [
        "b.staging",
        "c.staging",
        "c.prod",
        "example.com",
        "localhost.prod",
    ] {
        assert_eq!(getent(la, &["ahostsv4", name]).await, None, "{name}");
    }
    assert_eq!(getent(la, &["hosts", "100.65.0.3"]).await, None);

    // What the resolver saw: REFUSED outside the zone, NXDOMAIN inside.
    let sock = udp_socket(la).await;
    let wait = Duration::from_secs(2);
    let r = ask(&sock, &query(1, "b.staging", 1), wait).await.unwrap();
    assert_eq!((rcode(&r), &r[6..8]), (5, &[0, 0][..]));
    let r = ask(&sock, &query(2, "c.prod", 1), wait).await.unwrap();
    assert_eq!(rcode(&r), 3);
    let r = ask(&sock, &query(3, "b.prod", 1), wait).await.unwrap();
    assert_eq!((rcode(&r), &r[r.len() - 4..]), (0, &[100, 64, 0, 3][..]));

    // Answer time seen by a client in the lease namespace (a figure, not
    // an assertion), paced below the member's rate limit.
    let mut times = Vec::new();
    for i in 0..400u16 {
        let start = Instant::now();
        let r = ask(&sock, &query(i, "b.prod", 1), wait).await.unwrap();
        times.push(start.elapsed());
        assert_eq!(u16::from_be_bytes([r[0], r[1]]), i);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    times.sort();
    println!(
        "DNS answer time over {} queries: p50 {:?}, p99 {:?}",
        times.len(),
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    assert_eq!(drops(&w.a, "dns_limit"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_floods_are_rate_limited_and_malformed_queries_dropped() {
    require_root!();
    let w = setup("dnsflood", false).await;
    let sock = udp_socket(&w.lease_a).await;
    let gateway: SocketAddr = GATEWAY.parse().unwrap();
    // Wait until the attachment answers at all.
    let deadline = Instant::now() + Duration::from_secs(5);
    while ask(&sock, &query(0, "b.prod", 1), Duration::from_millis(200))
        .await
        .is_none()
    {
        assert!(Instant::now() < deadline, "the gateway never answered");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A flood: the burst is answered, the rest counted and dropped.
    let q = query(7, "b.prod", 1);
    let start = Instant::now();
    for _ in 0..2000 {
        sock.send_to(&q, gateway).await.unwrap();
    }
    let mut answered = 0u64;
    let mut buf = [0u8; 1500];
    // Every answered query was handled between `start` and its answer's
    // arrival: the bucket refilled for at most that long.
    let mut window = start.elapsed();
    while let Ok(Ok(_)) =
        tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await
    {
        answered += 1;
        window = start.elapsed();
    }
    let elapsed = window;
    let limited = drops(&w.a, "dns_limit");
    let allowance = u64::from(avpn_dataplane::limits::DNS_BURST)
        + (elapsed.as_secs_f64() * f64::from(avpn_dataplane::limits::DNS_QUERIES_PER_SEC)) as u64
        + 1;
    // The kernel may drop part of the flood before the TUN (its queue is
    // short): what reached the relayer beyond the allowance was limited.
    assert!(answered <= allowance, "{answered} answered > {allowance}");
    assert!(limited >= 100, "only {limited} limited");
    assert!(answered + limited <= 2000);
    println!("flood of 2000 in {elapsed:?}: {answered} answered, {limited} rate-limited");

    // Malformed queries: dropped under their own reason, no answer.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut oversized = query(8, "b.prod", 1);
    oversized.resize(600, 0);
    // Unparsable, truncated, oversized; then a question-less header,
    // which gets FORMERR.
    let garbage: [&[u8]; 4] = [&[0xff; 40], &[1, 2, 3], &oversized, &[0; 12]];
    for g in garbage {
        sock.send_to(g, gateway).await.unwrap();
    }
    until("malformed queries counted", Duration::from_secs(2), || {
        (drops(&w.a, "dns_malformed") >= 3).then_some(())
    })
    .await;
    // Still answering afterwards.
    let r = ask(&sock, &query(9, "b.prod", 28), Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(rcode(&r), 0);
    assert_eq!(&r[r.len() - 16..], &ip6(B6).octets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_connect_by_name() {
    require_root!();
    let w = setup("dnssocks", true).await;
    let lb = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    let listener: TcpListener = lb
        .tcp_listener("100.64.0.3:8080".parse().unwrap())
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    for name in ["b.prod:8080", "B.PROD.:8080"] {
        let (mut s, code) = socks_connect(&la, SOCKS, name).await;
        assert_eq!(code, 0, "{name}");
        s.write_all(b"by name").await.unwrap();
        let mut back = [0u8; 7];
        s.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"by name");
    }
    // Another network's member, an unknown member, the Internet: host
    // unreachable.
    for name in ["b.staging:8080", "c.prod:8080", "example.com:80"] {
        let (_, code) = socks_connect(&la, SOCKS, name).await;
        assert_eq!(code, 4, "{name}");
    }
}

/// A userspace member's DNS datagrams through SOCKS5 UDP ASSOCIATE reach
/// the gateway of its shadow stack, which answers like a transparent
/// member's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_udp_queries_to_the_gateway_are_answered() {
    require_root!();
    let w = setup("dnssudp", true).await;
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let assoc = socks_udp_associate(&la, SOCKS).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        assert!(Instant::now() < deadline, "the gateway never answered");
        assoc.send(GATEWAY, &query(0x77, "b.prod", 1)).await;
        if let Some((src, data)) = assoc.recv(Duration::from_millis(200)).await {
            assert_eq!(src.to_string(), GATEWAY);
            break data;
        }
    };
    assert_eq!(
        (rcode(&answer), &answer[answer.len() - 4..]),
        (0, &[100, 64, 0, 3][..])
    );
    assoc.send(GATEWAY, &query(0x78, "b.staging", 1)).await;
    let (_, refused) = assoc.recv(Duration::from_secs(2)).await.expect("answer");
    assert_eq!(rcode(&refused), 5);
}
