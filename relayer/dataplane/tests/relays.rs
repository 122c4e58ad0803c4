//! Relays in network namespaces: providers A and B whose direct link is
//! down talk through provider R, which the network made its relay; traffic
//! moves to the direct path when it comes up and back to R when it fails,
//! under a live TCP connection; a provider that is not the network's relay
//! forwards nothing.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use avpn_model::{Change, DataPlane, Verdict};
use common::relayed::{PROVIDERS, R, Relayed};
use common::*;

const A_IP: &str = "100.64.0.2";
const B_IP: &str = "100.64.0.3";

/// TCP echo over one connection: the client makes a round trip every
/// 20 ms, prints the count after each, and stops when its stdin closes
/// (or after `secs`); it exits 1 if the connection failed.
const ECHO: &str = r#"
import socket, sys, time, select
mode, host, port, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if mode == "server":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(1); print("ready", flush=True)
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
else:
    c = socket.create_connection((host, port), timeout=10); c.settimeout(10)
    n, end = 0, time.time() + secs
    while time.time() < end:
        msg = n.to_bytes(8, "big") * 64
        c.sendall(msg); got = b""
        while len(got) < len(msg):
            d = c.recv(len(msg) - len(got))
            if not d: sys.exit(1)
            got += d
        if got != msg: sys.exit(2)
        n += 1; print(n, flush=True)
        if select.select([sys.stdin], [], [], 0.02)[0] and not sys.stdin.read(1): break
"#;

/// The network on all three providers: A and B each host a member, R hosts
/// none; `relays` as R is told (A and B always name R).
async fn setup(w: &mut Relayed, r_is_relay: bool) {
    w.all(Change::SetNetwork(network(
        1,
        "100.64.0.0/24",
        Verdict::Deny,
    )))
    .await;
    w.all(Change::SetMember(
        1,
        member("a", A_IP, PROVIDERS[0], open_policy()),
    ))
    .await;
    w.all(Change::SetMember(
        1,
        member("b", B_IP, PROVIDERS[1], open_policy()),
    ))
    .await;
    let relays: std::collections::BTreeSet<String> = [PROVIDERS[R].to_string()].into();
    for (i, o) in w.overlays.iter_mut().enumerate() {
        let set = if i == R && !r_is_relay {
            Default::default()
        } else {
            relays.clone()
        };
        o.apply(Change::SetRelays(1, set)).await.unwrap();
    }
    let (la, lb) = (transparent(&w.leases[0]), transparent(&w.leases[1]));
    w.overlays[0]
        .apply(Change::Attach(1, "a".into(), la))
        .await
        .unwrap();
    w.overlays[1]
        .apply(Change::Attach(1, "b".into(), lb))
        .await
        .unwrap();
}

async fn ping(lease: &Netns, ip: &str) -> bool {
    lease
        .command("ping")
        .args(["-c", "1", "-W", "1", ip])
        .output()
        .await
        .unwrap()
        .status
        .success()
}

fn relayed_bytes(w: &Relayed) -> u64 {
    counter(&w.registries[R], "relayed_bytes")
}

async fn until_ping(w: &Relayed, within: Duration) {
    let deadline = std::time::Instant::now() + within;
    while !ping(&w.leases[0], B_IP).await {
        assert!(
            std::time::Instant::now() < deadline,
            "no ping a → b within {within:?}"
        );
    }
}

/// Waits until the echo client counted ten more round trips than now.
async fn ten_more_trips(what: &str, trips: &AtomicU64) {
    let from = trips.load(Ordering::Relaxed);
    until(
        &format!("round trips {what}"),
        Duration::from_secs(10),
        || (trips.load(Ordering::Relaxed) >= from + 10).then_some(()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_without_a_direct_path_talk_through_the_relay_and_move_between_paths() {
    require_root!();
    // The A–B connection is made through R: the direct path, once up,
    // must carry it all the same.
    let mut w = Relayed::new("relay", false, None).await;
    setup(&mut w, true).await;
    until_ping(&w, Duration::from_secs(20)).await;
    assert_eq!(w.path(0, 1), Some(format!("relay {}", PROVIDERS[R])));
    assert_eq!(w.path(1, 0), Some(format!("relay {}", PROVIDERS[R])));
    assert!(relayed_bytes(&w) > 0, "R forwarded the pings");
    // The status lists the alternatives with their cost.
    let st = w.overlays[0].status();
    let to_b = st
        .peers
        .iter()
        .find(|p| p.provider == PROVIDERS[1])
        .unwrap();
    let paths = to_b.paths.as_ref().unwrap();
    assert_eq!(paths.paths.len(), 2, "{paths:?}");
    assert!(
        paths
            .paths
            .iter()
            .any(|p| p.path.starts_with("direct") && p.cost_ms.is_none())
    );
    assert!(
        paths
            .paths
            .iter()
            .any(|p| p.path.starts_with("relay") && p.cost_ms.is_some())
    );

    // One TCP connection lives through both moves.
    let mut server = w.leases[1]
        .command("/usr/bin/python3")
        .args(["-c", ECHO, "server", B_IP, "7000", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("ready"));
    }
    let mut client = w.leases[0]
        .command("/usr/bin/python3")
        .args(["-c", ECHO, "client", B_IP, "7000", "120"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let trips = Arc::new(AtomicU64::new(0));
    let counter = {
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(client.stdout.take().unwrap()).lines();
        let trips = trips.clone();
        tokio::spawn(async move {
            while let Ok(Some(l)) = lines.next_line().await {
                trips.store(l.trim().parse().unwrap_or(0), Ordering::Relaxed);
            }
        })
    };
    let trips_now = || trips.load(Ordering::Relaxed);
    ten_more_trips("on the relay", &trips).await;

    // Deadlines are generous: under CPU contention the probes' RTTs are
    // noisy and the direct path takes longer to look steady and cheaper.
    w.direct(true);
    let back = w.until_relayed(false, Duration::from_secs(20)).await;
    eprintln!("moved to the direct path {back:?} after it came up");
    let relayed_then = relayed_bytes(&w);
    ten_more_trips("on the direct path", &trips).await;
    w.direct(false);
    let away = w.until_relayed(true, Duration::from_secs(10)).await;
    eprintln!("moved to the relay {away:?} after the direct path failed");
    until("relayed traffic again", Duration::from_secs(5), || {
        (relayed_bytes(&w) > relayed_then).then_some(())
    })
    .await;
    ten_more_trips("on the relay again", &trips).await;

    // Closing its stdin ends the client; it fails if the connection broke.
    drop(client.stdin.take());
    let status = client.wait().await.unwrap();
    counter.await.unwrap();
    assert!(status.success(), "the TCP connection broke ({status:?})");
    eprintln!("{} round trips over one connection", trips_now());
    let _ = server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_is_not_the_networks_relay_forwards_nothing() {
    require_root!();
    let mut w = Relayed::new("norelay", false, None).await;
    // A and B believe R relays for them; R's network does not say so.
    setup(&mut w, false).await;
    until("R refuses relaying", Duration::from_secs(15), || {
        (drops(&w.overlays[R], "relay_unauthorized") > 5).then_some(())
    })
    .await;
    assert!(!ping(&w.leases[0], B_IP).await);
    assert_eq!(relayed_bytes(&w), 0, "R forwarded packets it may not");
    let to_b = w.overlays[0].status().peers;
    let to_b = to_b.iter().find(|p| p.provider == PROVIDERS[1]).unwrap();
    assert!(
        to_b.paths
            .as_ref()
            .unwrap()
            .paths
            .iter()
            .all(|p| p.cost_ms.is_none()),
        "no usable path: {:?}",
        to_b.paths
    );
    // The same world works once the network makes R its relay.
    let relays = [PROVIDERS[R].to_string()].into();
    w.overlays[R]
        .apply(Change::SetRelays(1, relays))
        .await
        .unwrap();
    until_ping(&w, Duration::from_secs(20)).await;
    assert!(relayed_bytes(&w) > 0);
}
