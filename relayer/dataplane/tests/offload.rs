//! The offload path end to end (root): TUN super-packets split into
//! datagrams and coalesced again on the far side carry a large stream
//! byte for byte, and a path narrower than the TUN MTU is answered with
//! ICMP "fragmentation needed" (ICMPv6 "packet too big") that TCP over
//! IPv4 (IPv6) adapts to.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use avpn_dataplane::Overlay;
use avpn_dataplane::netns::NetnsWorker;
use avpn_model::Verdict;
use common::v6::*;
use common::*;
use ring::digest::{Context, SHA256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const B_IP: &str = "100.64.0.3";
const B_TCP: &str = "100.64.0.3:7001";
const A6: &str = "fd00:64::2";
const B6: &str = "fd00:64::3";

/// Sends `blocks` blocks of `block` bytes (each stamped with its index,
/// so a reordered or repeated block changes the digest) from lease A to
/// `to` (an address of lease B) over TCP; returns the SHA-256 digests of what was sent and
/// what was received.
async fn transfer(w: &World, to: &str, blocks: u64, block: usize) -> (Vec<u8>, Vec<u8>) {
    let server = NetnsWorker::spawn(&w.lease_b.path()).unwrap();
    let client = NetnsWorker::spawn(&w.lease_a.path()).unwrap();
    let addr: SocketAddr = to.parse().unwrap();
    let listener = server.tcp_listener(addr).await.unwrap();
    let receiver = async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut digest = Context::new(&SHA256);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
        }
        digest.finish().as_ref().to_vec()
    };
    let sender = async move {
        let mut s = client.tcp_connect(addr).await.unwrap();
        // Pseudo-random filler (not all zeros, so checksums and
        // coalescing see real data).
        let mut data: Vec<u8> = (0..block as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut digest = Context::new(&SHA256);
        for i in 0..blocks {
            data[..8].copy_from_slice(&i.to_be_bytes());
            digest.update(&data);
            s.write_all(&data).await.unwrap();
        }
        s.shutdown().await.unwrap();
        digest.finish().as_ref().to_vec()
    };
    tokio::time::timeout(Duration::from_secs(600), async {
        tokio::join!(sender, receiver)
    })
    .await
    .expect("transfer finished within 10 minutes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gigabyte_stream_arrives_byte_for_byte() {
    require_root!();
    let mut w = World::new("ogig").await;
    attach_transparent_pair(&mut w, open_policy()).await;
    let (sent, received) = transfer(&w, B_TCP, 1024, 1 << 20).await;
    assert_eq!(sent, received, "sha256 of 1 GiB sent and received");
    // The sending relayer sent each TUN read's packets (a super-packet of
    // up to 64 KiB) as one GSO send of sealed datagrams.
    let sends = counter(&w.registry_a, "sealed_sends");
    let datagrams = counter(&w.registry_a, "sealed_datagrams");
    assert!(sends > 0, "no sealed sends");
    assert!(
        datagrams > 10 * sends,
        "{datagrams} datagrams in {sends} sends"
    );
    for reason in ["too_big", "tun_full", "no_peer", "policy"] {
        assert_eq!(
            drops(&w.a, reason) + drops(&w.b, reason),
            0,
            "{reason} drops"
        );
    }
}

/// The current path MTU the relayer reports for its one peer.
fn path_mtu(o: &Overlay) -> Option<u16> {
    o.status().peers.first().and_then(|p| p.path_mtu)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrower_path_answers_frag_needed_and_tcp_adapts() {
    require_root!();
    // The relayers are told 1600 bytes (TUN MTU 1522) but the provider
    // link carries 1400: a 1500-byte DF packet does not fit the path.
    let mut w = World::with_mtu("omtu", 1600, Some(1400)).await;
    attach_transparent_pair(&mut w, open_policy()).await;
    assert!(w.a.tun_mtu() >= 1500);
    // Full-size packets are lost on the path until the QUIC black-hole
    // detection lowers the MTU; from then on they are answered with ICMP
    // "fragmentation needed" carrying the size that fits.
    let reply = until_async(
        "frag needed for a 1500-byte DF ping",
        Duration::from_secs(60),
        || async {
            let out = w
                .lease_a
                .command("ping")
                .args(["-c", "1", "-W", "1", "-M", "do", "-s", "1472", B_IP])
                .output()
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.contains("Frag needed").then_some(text)
        },
    )
    .await;
    let mtu = path_mtu(&w.a).expect("connected peer");
    assert!(mtu <= 1372, "path MTU {mtu} fits the 1400-byte link");
    let said: u16 = reply
        .split("mtu = ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no mtu in: {reply}"));
    assert!(
        said < 1400 && said + 100 > mtu,
        "ICMP says {said}, path MTU {mtu}: {reply}"
    );
    assert!(drops(&w.a, "too_big") >= 1);
    // TCP takes the smaller size from the ICMP and the stream arrives.
    let (sent, received) = transfer(&w, B_TCP, 64, 1 << 20).await;
    assert_eq!(sent, received, "sha256 of 64 MiB over the narrow path");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrower_path_answers_packet_too_big_and_tcp_over_ipv6_adapts() {
    require_root!();
    // As above, over IPv6: the TUN takes 1522-byte packets, the provider
    // link only 1400 bytes.
    let mut w = World::with_mtu("omtu6", 1600, Some(1400)).await;
    attach_pair(
        &mut w,
        network6(1, "100.64.0.0/24", CIDR6, Verdict::Deny),
        (
            member6("a", "100.64.0.2", A6, PA, open_policy()),
            transparent,
        ),
        (member6("b", B_IP, B6, PB, open_policy()), transparent),
    )
    .await;
    address_ready(&w.lease_a, "avpn-1", A6).await;
    address_ready(&w.lease_b, "avpn-1", B6).await;
    // A 1500-byte IPv6 packet (1452 bytes of ICMPv6 payload): IPv6 never
    // fragments on the way, so the sender gets ICMPv6 "packet too big"
    // from the network's IPv6 gateway; while the path MTU is at QUIC's
    // floor after the black hole it says IPv6's minimum (never less),
    // then, once the path MTU is found again, the size that fits.
    let seen = std::cell::RefCell::new(Vec::new());
    let (said, reply) = until_async(
        "packet too big above the IPv6 minimum for a 1500-byte ping6",
        Duration::from_secs(60),
        || async {
            // Forget the size learnt from the last answer, so the ping
            // goes out at 1500 bytes again.
            w.lease_a.exec(&["ip", "-6", "route", "flush", "cache"]);
            let out = w
                .lease_a
                .command("ping")
                .args(["-6", "-c", "1", "-W", "1", "-M", "do", "-s", "1452", B6])
                .output()
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let said: u16 = text
                .split("mtu=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            assert!(
                text.contains("From fd00:64::1 "),
                "from the gateway: {text}"
            );
            seen.borrow_mut().push(said);
            (said > 1280).then_some((said, text))
        },
    )
    .await;
    let seen = seen.into_inner();
    assert!(
        seen.iter().all(|&m| m >= 1280),
        "never below 1280: {seen:?}"
    );
    let mtu = path_mtu(&w.a).expect("connected peer");
    assert!(
        said < 1400 && said + 100 > mtu,
        "ICMPv6 says {said}, path MTU {mtu}: {reply}"
    );
    assert!(drops(&w.a, "too_big") >= 1);
    let (sent, received) = transfer(&w, &format!("[{B6}]:7001"), 64, 1 << 20).await;
    assert_eq!(
        sent, received,
        "sha256 of 64 MiB over IPv6 on the narrow path"
    );
}

/// Polls the async `check` until it yields a value, for at most `within`.
async fn until_async<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
