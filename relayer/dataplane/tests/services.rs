//! Services across three providers (root): a service with replicas on p2
//! (5 ms RTT from p1) and p3 (30 ms), delays made by UDP relays (no netem
//! in this kernel; see `common::three`): new connections from p1 go to p2;
//! when p2 goes dark, new connections go to p3 within 2 s while the policy
//! still applies; when p2 is back they return to p2; a connection opened
//! meanwhile stays on p3 until it ends. Answers come from the service
//! address (TCP would not connect otherwise).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use avpn_model::{
    Attachment, Change, DataPlane, PeerSelector, Policy, Protocol, Rule, ServiceInfo, Verdict,
};
use common::three::{PROVIDERS, Three};
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One-way delay from p1 to p2 (RTT 5 ms) and to p3 (RTT 30 ms).
const ONE_WAY: [Duration; 2] = [Duration::from_micros(2500), Duration::from_millis(15)];
const SERVICE_IP: &str = "100.64.0.9";
const PORT_TCP: u16 = 7000;

/// A TCP server naming itself: it sends its name, then echoes each line
/// prefixed with it.
const SERVER: &str = r#"
import socket, sys, threading
name = sys.argv[1]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7000))
s.listen(64)
def serve(c):
    with c:
        c.sendall((name + "\n").encode())
        for line in c.makefile():
            c.sendall((name + ":" + line).encode())
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"#;

/// A TCP client: connects, prints the first line, then sends each stdin
/// line and prints the answer.
const CLIENT: &str = r#"
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
f = c.makefile()
print(f.readline().strip(), flush=True)
for line in sys.stdin:
    c.sendall(line.encode())
    print(f.readline().strip(), flush=True)
"#;

fn services_rule(verdict: Verdict) -> Rule {
    Rule {
        peers: PeerSelector::Services(["api".to_string()].into()),
        ..rule(Protocol::Tcp, (PORT_TCP, PORT_TCP), verdict)
    }
}

/// The name of the replica a new connection from `lease` reaches, or
/// `None` when it does not connect within `timeout`.
async fn probe(lease: &Netns, timeout: f32) -> Option<String> {
    let out = lease
        .command("/usr/bin/python3")
        .args([
            "-c",
            CLIENT,
            SERVICE_IP,
            &PORT_TCP.to_string(),
            &timeout.to_string(),
        ])
        .output()
        .await
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !line.is_empty()).then_some(line)
}

/// Probes until a new connection reaches `want`; returns the time taken.
async fn until_served_by(lease: &Netns, want: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = probe(lease, 0.3).await;
        if got.as_deref() == Some(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "no connection served by {want} within {within:?} (last: {got:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The world of the service tests: `client` and `nosy` on p1 (the client's
/// egress allows the service, nosy's allows nothing), replicas `r2` on p2
/// and `r3` on p3 of service `api` at [`SERVICE_IP`], attached with
/// `attach(lease)` for the two p1 members and transparently for replicas;
/// returns once every provider is connected.
async fn service_world(test: &str, attach: fn(&Netns) -> Attachment) -> Three {
    let mut w = Three::new(test, ONE_WAY).await;
    w.all(Change::SetNetwork(network(
        1,
        "100.64.0.0/24",
        Verdict::Deny,
    )))
    .await;
    let client = Policy {
        ingress: vec![],
        egress: vec![services_rule(Verdict::Allow)],
    };
    let replica_policy = Policy {
        ingress: vec![rule(Protocol::Tcp, (PORT_TCP, PORT_TCP), Verdict::Allow)],
        egress: vec![],
    };
    let mut members = vec![
        member("client", "100.64.0.2", PROVIDERS[0], client),
        member("r2", "100.64.0.3", PROVIDERS[1], replica_policy.clone()),
        member("r3", "100.64.0.4", PROVIDERS[2], replica_policy),
        member("nosy", "100.64.0.5", PROVIDERS[0], Policy::default()),
    ];
    members[1].service = Some("api".into());
    members[2].service = Some("api".into());
    for m in members {
        w.all(Change::SetMember(1, m)).await;
    }
    let services = [(
        "api".to_string(),
        ServiceInfo {
            ip: SERVICE_IP.parse().unwrap(),
            ip6: None,
        },
    )]
    .into();
    w.all(Change::SetServices(1, services)).await;
    let atts = [
        (0, "client", attach(&w.leases[0])),
        (1, "r2", transparent(&w.leases[1])),
        (2, "r3", transparent(&w.leases[2])),
        (0, "nosy", attach(&w.leases[3])),
    ];
    for (provider, name, att) in atts {
        w.overlays[provider]
            .apply(Change::Attach(1, name.into(), att))
            .await
            .unwrap();
    }
    w.connected().await;
    w
}

/// Starts the replicas' servers (each answers with its name) in the
/// leases of r2 and r3.
fn replica_servers(w: &Three) -> Vec<tokio::process::Child> {
    [(1, "r2"), (2, "r3")]
        .into_iter()
        .map(|(lease, name)| {
            w.leases[lease]
                .command("/usr/bin/python3")
                .args(["-c", SERVER, name])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_flows_go_to_the_nearest_healthy_replica_and_stay_pinned() {
    require_root!();
    let w = service_world("svc", transparent).await;
    let servers = replica_servers(&w);
    // Let RTT estimates settle, then new connections go to the nearer p2.
    tokio::time::sleep(Duration::from_millis(500)).await;
    until_served_by(&w.leases[0], "r2", Duration::from_secs(10)).await;
    for _ in 0..5 {
        assert_eq!(probe(&w.leases[0], 2.0).await.as_deref(), Some("r2"));
    }
    // Policy: nosy's egress does not allow the service.
    assert_eq!(probe(&w.leases[3], 1.0).await, None);
    let policy_drops = drops(&w.overlays[0], "policy");
    assert!(policy_drops > 0);

    // p2 goes dark: new connections go to p3 within 2 s.
    w.cut(1, true);
    let cut_at = Instant::now();
    let failover = until_served_by(&w.leases[0], "r3", Duration::from_secs(5)).await;
    eprintln!("replica failover: {failover:?} after p2 went dark");
    assert!(
        cut_at.elapsed() < Duration::from_millis(2500),
        "{:?}",
        cut_at.elapsed()
    );
    assert!(
        failover < Duration::from_secs(2),
        "failover took {failover:?}"
    );
    assert_eq!(probe(&w.leases[0], 2.0).await.as_deref(), Some("r3"));
    assert_eq!(probe(&w.leases[3], 1.0).await, None, "policy still applies");

    // A connection opened now (on r3) stays there after p2 is back.
    let mut long = w.leases[0]
        .command("/usr/bin/python3")
        .args(["-c", CLIENT, SERVICE_IP, &PORT_TCP.to_string(), "5"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = long.stdin.take().unwrap();
    let mut lines = BufReader::new(long.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("r3"));

    w.cut(1, false);
    let back = until_served_by(&w.leases[0], "r2", Duration::from_secs(10)).await;
    eprintln!("new connections back on p2 after {back:?}");
    stdin.write_all(b"still\n").await.unwrap();
    assert_eq!(
        lines.next_line().await.unwrap().as_deref(),
        Some("r3:still"),
        "the open connection moved"
    );
    drop(stdin);
    let _ = long.wait().await;
    for mut s in servers {
        let _ = s.kill().await;
    }
}

/// A userspace client's SOCKS5 CONNECT to the service address (or its
/// name) reaches the nearest healthy replica, with the same two-sided
/// policy as packets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_clients_reach_the_nearest_replica() {
    require_root!();
    let w = service_world("svcsocks", |l| userspace(l, "127.0.0.1:1080", &[])).await;
    let servers = replica_servers(&w);
    let worker = avpn_dataplane::netns::NetnsWorker::spawn(&w.leases[0].path()).unwrap();
    let first_line = |target: &'static str| {
        let worker = &worker;
        async move {
            // An open to a replica that just went dark hangs: give up
            // after a second, like a client's connect timeout.
            let connect = socks_connect(worker, "127.0.0.1:1080", target);
            let (s, code) = tokio::time::timeout(Duration::from_secs(1), connect)
                .await
                .ok()?;
            if code != 0 {
                return None;
            }
            let mut lines = BufReader::new(s).lines();
            tokio::time::timeout(Duration::from_secs(2), lines.next_line())
                .await
                .ok()?
                .ok()?
        }
    };
    // The nearer replica (p2) once RTTs are measured; the server may not
    // listen yet at first.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if first_line("100.64.0.9:7000").await.as_deref() == Some("r2") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no SOCKS connection served by r2"
        );
    }
    assert_eq!(first_line("api.net1:7000").await.as_deref(), Some("r2"));
    // nosy's egress does not allow the service.
    let nosy = avpn_dataplane::netns::NetnsWorker::spawn(&w.leases[3].path()).unwrap();
    let (_, code) = socks_connect(&nosy, "127.0.0.1:1080", "100.64.0.9:7000").await;
    assert_ne!(code, 0, "policy refuses the service to nosy");
    // p2 goes dark: new SOCKS connections go to r3.
    w.cut(1, true);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if first_line("100.64.0.9:7000").await.as_deref() == Some("r3") {
            break;
        }
        assert!(Instant::now() < deadline, "no failover to r3");
    }
    for mut s in servers {
        let _ = s.kill().await;
    }
}
