//! SOCKS5 UDP ASSOCIATE of a userspace member, between two providers
//! (root): DNS to a member's resolver through the proxy, and what the
//! relay refuses from the client's side.

mod common;

use std::time::{Duration, Instant};

use avpn_dataplane::netns::NetnsWorker;
use avpn_dataplane::socks::{Target, UdpHeader};
use avpn_model::{Policy, Protocol, Verdict};
use common::*;

const SOCKS: &str = "127.0.0.1:1080";

/// b's ingress: UDP 53 (DNS) and 7 (echo) only.
fn policy_b() -> Policy {
    Policy {
        ingress: vec![
            rule(Protocol::Udp, (53, 53), Verdict::Allow),
            rule(Protocol::Udp, (7, 7), Verdict::Allow),
        ],
        egress: vec![rule(Protocol::Any, (0, 65535), Verdict::Allow)],
    }
}

/// Userspace member a on provider A, member b on provider B attached as
/// `att_b`.
async fn setup(test: &str, att_b: fn(&Netns) -> avpn_model::Attachment) -> World {
    let mut w = World::new(test).await;
    attach_pair(
        &mut w,
        network(1, "100.64.0.0/24", Verdict::Deny),
        (member("a", "100.64.0.2", PA, open_policy()), socks_only),
        (member("b", "100.64.0.3", PB, policy_b()), att_b),
    )
    .await;
    w
}

/// A userspace attachment with the SOCKS5 proxy only.
fn socks_only(ns: &Netns) -> avpn_model::Attachment {
    userspace(ns, SOCKS, &[])
}

/// Sends `payload` to `dst` through the association until an answer from
/// `dst` that `accept` takes comes back (the server may not be up yet);
/// returns it and the other datagrams received meanwhile.
async fn exchange<T>(
    assoc: &SocksUdp,
    dst: &str,
    payload: &[u8],
    accept: impl Fn(&[u8]) -> Option<T>,
) -> (T, Vec<Vec<u8>>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut others = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "no answer from {dst}");
        assoc.send(dst, payload).await;
        while let Some((src, data)) = assoc.recv(Duration::from_millis(200)).await {
            assert_eq!(src.to_string(), dst, "answer names its source");
            match accept(&data) {
                Some(v) => return (v, others),
                None => others.push(data),
            }
        }
    }
}

async fn resolve(assoc: &SocksUdp, resolver: &str) -> std::net::Ipv4Addr {
    exchange(assoc, resolver, &dns_query(0x5a5a, DNS_NAME), |r| {
        dns_answer(r, 0x5a5a)
    })
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_through_socks_udp_to_a_transparent_members_resolver() {
    require_root!();
    let w = setup("sudns", transparent).await;
    let _dns = dnsmasq(&w.lease_b, "100.64.0.3", 53);
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let assoc = socks_udp_associate(&la, SOCKS).await;
    assert_eq!(resolve(&assoc, "100.64.0.3:53").await, ip(DNS_ADDR));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_through_socks_udp_to_a_userspace_members_served_udp_port() {
    require_root!();
    let w = setup("sudnsu", |ns| {
        userspace_udp(ns, SOCKS, &[], &[(53, "127.0.0.1:5353")])
    })
    .await;
    let _dns = dnsmasq(&w.lease_b, "127.0.0.1", 5353);
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let assoc = socks_udp_associate(&la, SOCKS).await;
    assert_eq!(resolve(&assoc, "100.64.0.3:53").await, ip(DNS_ADDR));
    // Each query is a datagram of one flow: b relays them in one flow
    // (the association's port), which stays while it is used.
    assert_eq!(resolve(&assoc, "100.64.0.3:53").await, ip(DNS_ADDR));
}

/// Waits until relayer `o` has counted `n` more drops for `reason` than
/// `before`.
async fn counted(o: &avpn_dataplane::Overlay, reason: &str, before: u64, n: u64) {
    until(
        &format!("{n} {reason} drop(s)"),
        Duration::from_secs(5),
        || (drops(o, reason) >= before + n).then_some(()),
    )
    .await;
    assert_eq!(drops(o, reason), before + n, "{reason}");
}

/// From the client's side: every datagram the relay must refuse is
/// dropped and counted by reason, none reaches the destination, a flood of
/// garbage costs bounded work (the association still answers at once),
/// and closing the control connection ends the association.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_udp_refuses_and_counts_bad_datagrams() {
    require_root!();
    let w = setup("subad", transparent).await;
    let lb = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    udp_echo(&lb, "100.64.0.3:7").await;
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let idle_a = w.a.status().tasks.members;
    let assoc = socks_udp_associate(&la, SOCKS).await;
    let echo = |want: &'static [u8]| move |r: &[u8]| (r == want).then_some(());
    // The association's first datagram is relayed (not lost to a socket
    // the runtime has not polled yet).
    assoc.send("100.64.0.3:7", b"hello").await;
    let (src, data) = assoc.recv(Duration::from_secs(2)).await.expect("echo");
    assert_eq!(
        (src.to_string().as_str(), &data[..]),
        ("100.64.0.3:7", &b"hello"[..])
    );

    let raw = |frag: u8, target: Target, payload: &[u8]| {
        let mut d = UdpHeader { frag, target }.encode();
        d.extend_from_slice(payload);
        d
    };
    let v4 = |s: &str| Target::V4(s.parse().unwrap());
    let send_raw = |d: Vec<u8>| {
        let a = &assoc;
        async move {
            a.socket.send_to(&d, a.relay).await.unwrap();
        }
    };

    // Not a member, and a port b's ingress denies.
    let n = drops(&w.a, "no_route");
    assoc.send("100.64.0.9:7", b"x").await;
    counted(&w.a, "no_route", n, 1).await;
    let n = drops(&w.a, "policy");
    assoc.send("100.64.0.3:8", b"x").await;
    counted(&w.a, "policy", n, 1).await;

    // A fragment (FRAG ≠ 0): no reassembly.
    let n = drops(&w.a, "fragment");
    send_raw(raw(1, v4("100.64.0.3:7"), b"frag")).await;
    counted(&w.a, "fragment", n, 1).await;

    // Garbage headers: reserved bytes set, a header longer than the
    // datagram (a 255-byte domain announced, 10 bytes sent), too short.
    let n = drops(&w.a, "malformed");
    send_raw(vec![0, 1, 0, 1, 100, 64, 0, 3, 0, 7, b'x']).await;
    let mut long = vec![0, 0, 0, 3, 255];
    long.extend_from_slice(&[b'a'; 10]);
    send_raw(long).await;
    send_raw(vec![0, 0]).await;
    counted(&w.a, "malformed", n, 3).await;

    // Domain names, and IPv6 from a member without an IPv6 address.
    let n = drops(&w.a, "address_type");
    send_raw(raw(0, Target::Domain(b"b.net".to_vec(), 7), b"x")).await;
    send_raw(raw(0, Target::V6("::1".parse().unwrap(), 7), b"x")).await;
    counted(&w.a, "address_type", n, 2).await;

    // Larger than one overlay packet (TUN MTU − 28), and far larger.
    let room = usize::from(w.a.tun_mtu()) - 28;
    let n = drops(&w.a, "too_big");
    send_raw(raw(0, v4("100.64.0.3:7"), &vec![7; room + 1])).await;
    send_raw(raw(0, v4("100.64.0.3:7"), &vec![7; 60_000])).await;
    counted(&w.a, "too_big", n, 2).await;
    // The largest payload that fits goes through.
    let full = vec![9u8; room];
    exchange(&assoc, "100.64.0.3:7", &full, |r| (r == full).then_some(())).await;

    // Another socket of the lease: not the client.
    let n = drops(&w.a, "spoofed_source");
    let other = la.udp_bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    other
        .send_to(&raw(0, v4("100.64.0.3:7"), b"foreign"), assoc.relay)
        .await
        .unwrap();
    counted(&w.a, "spoofed_source", n, 1).await;

    // A flood of garbage: each datagram is refused after reading its
    // first bytes; the association answers at once afterwards.
    for _ in 0..5_000 {
        send_raw(vec![0xff; 64]).await;
    }
    let started = Instant::now();
    let (_, mut others) = exchange(&assoc, "100.64.0.3:7", b"after", echo(b"after")).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    // Nothing refused reached the echo server: every other answer echoes
    // an accepted datagram.
    while let Some((_, data)) = assoc.recv(Duration::from_millis(300)).await {
        others.push(data);
    }
    for data in others {
        assert!(
            [&b"hello"[..], b"after", &full].contains(&&data[..]),
            "a refused datagram was relayed: {:?}",
            &data[..data.len().min(16)]
        );
    }

    // Closing the control connection ends the association: its task
    // (holding both sockets) is gone.
    drop(assoc);
    until("association ended", Duration::from_secs(5), || {
        (w.a.status().tasks.members == idle_a).then_some(())
    })
    .await;
}

/// UDP ASSOCIATE requests the proxy cannot serve get a typed reply: a
/// client address other than the control connection's ("not allowed":
/// datagrams are taken from the client only), a domain name or IPv6
/// address ("address type not supported").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_associate_requests_it_cannot_serve_get_typed_replies() {
    use avpn_dataplane::socks::{Command, Greeting, Reply, Request};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    require_root!();
    let w = setup("sureq", transparent).await;
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let idle_a = w.a.status().tasks.members;
    let cases = [
        (Target::V4("10.9.9.9:5000".parse().unwrap()), 2),
        (Target::Domain(b"client.local".to_vec(), 5000), 8),
        (Target::V6("::1".parse().unwrap(), 5000), 8),
    ];
    for (from, want) in cases {
        let mut s = la.tcp_connect(SOCKS.parse().unwrap()).await.unwrap();
        s.write_all(&Greeting { methods: vec![0] }.encode())
            .await
            .unwrap();
        let mut m = [0u8; 2];
        s.read_exact(&mut m).await.unwrap();
        let req = Request {
            command: Command::UdpAssociate,
            target: from.clone(),
        };
        s.write_all(&req.encode()).await.unwrap();
        let mut r = [0u8; 10];
        s.read_exact(&mut r).await.unwrap();
        assert_eq!(Reply::decode(&r).unwrap(), want, "{from:?}");
        let mut rest = [0u8; 1];
        assert_eq!(
            s.read(&mut rest).await.unwrap(),
            0,
            "closed after the reply"
        );
    }
    until("sessions ended", Duration::from_secs(5), || {
        (w.a.status().tasks.members == idle_a).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_udp_reaches_an_ipv6_member() {
    require_root!();
    let mut w = World::new("su6").await;
    attach_pair(
        &mut w,
        v6::network6(1, "100.64.0.0/24", v6::CIDR6, Verdict::Deny),
        (
            v6::member6("a", "100.64.0.2", "fd00:64::2", PA, open_policy()),
            socks_only,
        ),
        (
            v6::member6("b", "100.64.0.3", "fd00:64::3", PB, policy_b()),
            transparent,
        ),
    )
    .await;
    let lb = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    udp_echo(&lb, "[fd00:64::3]:7").await;
    let la = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let assoc = socks_udp_associate(&la, SOCKS).await;
    let (got, _) = exchange(&assoc, "[fd00:64::3]:7", b"six", |r| {
        (r == b"six").then(|| r.to_vec())
    })
    .await;
    assert_eq!(got, b"six");
    // b's ingress denies UDP 8 over IPv6 as over IPv4.
    let n = drops(&w.a, "policy");
    assoc.send("[fd00:64::3]:8", b"x").await;
    counted(&w.a, "policy", n, 1).await;
}
