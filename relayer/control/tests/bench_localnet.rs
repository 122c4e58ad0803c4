//! Benchmarks against the localnet (ignored by default; they print figures):
//!
//! ```text
//! cargo test -p avpn-control --release --test bench_localnet -- --ignored --nocapture
//! ```
//!
//! - propagation: 100 successive policy changes, delay from the block's
//!   commit (its NewBlock event reaching a separate subscriber) to the
//!   reconciler having applied the new revision; p50 and p99.
//! - cold sync: 1,000 networks × 20 members served by one provider, read
//!   from scratch by a new controller; wall time and peak RSS; then policy
//!   changes with that view in place; with `AVPN_BENCH_OVERLAY=1` the same
//!   cold sync into the real overlay (stopped after 5 minutes).
//! - scale: one network of 16,384 members (this provider hosts 4 of them,
//!   attached through attachment files into real namespaces) plus 1,000
//!   networks of 8 members (served by consent), into the real overlay with
//!   the watcher running: cold sync time, RSS (VmHWM/VmRSS; targets
//!   <= 300 MB) and block commit -> applied for policy changes in the big
//!   network (target <= 1 s). `tests/bench_scale.rs` is the same in process.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use avpn_control::tx::TxClient;
use futures::StreamExt;
use network_registry::msg as reg;
use tendermint_rpc::SubscriptionClient;
use tendermint_rpc::event::EventData;
use tendermint_rpc::query::EventType;

use common::*;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Records when each block's NewBlock event arrives.
async fn block_arrivals(
    env: &HashMap<String, String>,
) -> (
    Arc<Mutex<HashMap<u64, Instant>>>,
    tokio::task::JoinHandle<()>,
) {
    let arrivals: Arc<Mutex<HashMap<u64, Instant>>> = Default::default();
    let (client, driver) = endpoint(env).websocket().await.unwrap();
    let a = arrivals.clone();
    let task = tokio::spawn(async move {
        let _driver = tokio::spawn(driver.run());
        let mut sub = client.subscribe(EventType::NewBlock.into()).await.unwrap();
        while let Some(Ok(ev)) = sub.next().await {
            if let EventData::NewBlock { block: Some(b), .. } = ev.data {
                a.lock()
                    .unwrap()
                    .insert(b.header.height.value(), Instant::now());
            }
        }
    });
    (arrivals, task)
}

fn policy(port: u16) -> reg::Policy {
    reg::Policy {
        ingress: vec![reg::Rule {
            peers: reg::Peers::Any,
            protocol: reg::Protocol::Tcp,
            ports: Some(reg::PortRange {
                start: port,
                end: port,
            }),
            action: reg::Action::Allow,
        }],
        egress: vec![],
    }
}

fn create(name: String, cidr: &str) -> reg::ExecuteMsg {
    reg::ExecuteMsg::CreateNetwork {
        name,
        cidr: cidr.into(),
        cidr6: None,
        default_action: None,
        tags: vec![],
        start_time: None,
        end_time: None,
    }
}

fn add(id: u64, name: String, owner: &str, dseq: u64, provider: &str) -> reg::ExecuteMsg {
    reg::ExecuteMsg::AddMember {
        network_id: id,
        name,
        lease: reg::LeaseId {
            owner: owner.into(),
            dseq,
            gseq: 1,
            oseq: 1,
            provider: provider.into(),
            bseq: 0,
        },
        tags: vec![],
        service: None,
        ip: None,
        weight: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn propagation_of_100_policy_changes() {
    let Some(env) = localnet() else { return };
    let mut provider = fresh_accounts(&env, 1).await.remove(0);
    register(&env, &mut provider, "198.18.0.1:7000").await;
    let p1 = provider.address().to_string();
    // the relayer runs the tenant's lease 1 (its attachment file)
    let owner = env["TENANT"].clone();
    let tmp = TempDir::new("avpn-bench-att");
    write_attachment(&tmp.0, "web.toml", &owner, 1, 0, "/run/netns/lease-web");
    let mut relayer = start_relayer(
        &env,
        &p1,
        &env["RPC"].clone(),
        Duration::from_secs(3600),
        Opts::attachments(&tmp.0),
    );
    let (arrivals, sub) = block_arrivals(&env).await;
    let mut tenant = account(&env, "tenant").await;
    let registry = env["REGISTRY"].clone();
    let out = tenant
        .execute(
            &registry,
            &[create(format!("bench-{}", unique()), "100.64.0.0/24")],
        )
        .await
        .unwrap();
    let id: u64 = out.attribute("wasm-create_network", "network_id")[0]
        .parse()
        .unwrap();
    tenant
        .execute(&registry, &[add(id, "web".into(), &owner, 1, &p1)])
        .await
        .unwrap();
    let mut delays = Vec::new();
    for i in 0..100u16 {
        let msg = reg::ExecuteMsg::SetPolicy {
            network_id: id,
            name: "web".into(),
            policy: policy(1000 + i),
        };
        let out = tenant.execute(&registry, &[msg]).await.unwrap();
        let rev: u64 = out.attribute("wasm-set_policy", "revision")[0]
            .parse()
            .unwrap();
        let applied = relayer
            .wait_for(id, Some(rev), Duration::from_secs(20))
            .await;
        let at = applied.at.expect("applied instant").into_std();
        let deadline = Instant::now() + Duration::from_secs(5);
        let committed = loop {
            if let Some(t) = arrivals.lock().unwrap().get(&out.height) {
                break *t;
            }
            assert!(
                Instant::now() < deadline,
                "no NewBlock event for height {}",
                out.height
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        delays.push(at.saturating_duration_since(committed));
    }
    sub.abort();
    tenant
        .execute(
            &registry,
            &[reg::ExecuteMsg::CloseNetwork { network_id: id }],
        )
        .await
        .unwrap();
    delays.sort();
    println!(
        "BENCH propagation (100 policy changes, block commit -> reconciler applied): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.99)),
        ms(*delays.last().unwrap())
    );
    assert!(percentile(&delays, 0.5) < Duration::from_secs(2));
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_owned())
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.to_owned())
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

const OWNERS: usize = 10;
const NETS_PER_OWNER: usize = 100;
const MEMBERS: usize = 20;
const MSGS_PER_TX: usize = 100;

async fn owner_fill(
    c: TxClient,
    registry: String,
    provider: String,
    tag: String,
) -> (TxClient, Vec<u64>) {
    owner_fill_n(c, registry, provider, tag, MEMBERS).await
}

/// Creates `NETS_PER_OWNER` networks of `members` members each, all on
/// `provider`'s leases.
async fn owner_fill_n(
    mut c: TxClient,
    registry: String,
    provider: String,
    tag: String,
    members: usize,
) -> (TxClient, Vec<u64>) {
    let creates: Vec<_> = (0..NETS_PER_OWNER)
        .map(|n| create(format!("cold-{tag}-{n}"), "100.64.0.0/24"))
        .collect();
    let mut ids = Vec::new();
    for chunk in creates.chunks(MSGS_PER_TX) {
        let out = c.execute(&registry, chunk).await.unwrap();
        ids.extend(
            out.attribute("wasm-create_network", "network_id")
                .iter()
                .map(|v| v.parse::<u64>().unwrap()),
        );
    }
    let owner = c.address().to_string();
    let adds: Vec<_> = ids
        .iter()
        .flat_map(|id| (0..members).map(move |m| (*id, m)))
        .map(|(id, m)| add(id, format!("m{m}"), &owner, id * 100 + m as u64, &provider))
        .collect();
    for chunk in adds.chunks(MSGS_PER_TX) {
        c.execute(&registry, chunk).await.unwrap();
    }
    (c, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn cold_sync_of_1000_networks_with_20_members() {
    let Some(env) = localnet() else { return };
    let mut provider = fresh_accounts(&env, 1).await.remove(0);
    register(&env, &mut provider, "198.18.0.1:7000").await;
    let p1 = provider.address().to_string();
    let registry = env["REGISTRY"].clone();
    // fresh owners (100 open networks each at most), funded by the validator;
    // the relayer serves their networks by consent (`serve_tenants`)
    let owners = fresh_accounts(&env, OWNERS).await;
    let consent = avpn_control::view::Consent {
        tenants: owners.iter().map(|c| c.address().to_string()).collect(),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut fills = Vec::new();
    for (i, c) in owners.into_iter().enumerate() {
        fills.push(tokio::spawn(owner_fill(
            c,
            registry.clone(),
            p1.clone(),
            format!("{}-{i}", unique()),
        )));
    }
    let mut clients = Vec::new();
    let mut all_ids = Vec::new();
    for f in fills {
        let (c, ids) = f.await.unwrap();
        all_ids.extend(ids.iter().copied());
        clients.push((c, ids));
    }
    println!(
        "BENCH cold-sync setup: {} networks x {MEMBERS} members created in {:.1} s",
        all_ids.len(),
        t0.elapsed().as_secs_f64()
    );

    // reset the peak-RSS watermark, then sync from scratch
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let rss0 = vm_rss_kib();
    let t = Instant::now();
    let mut relayer = start_relayer(
        &env,
        &p1,
        &env["RPC"].clone(),
        Duration::from_secs(3600),
        Opts {
            consent: consent.clone(),
            ..Opts::default()
        },
    );
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        {
            let a = relayer.applied.borrow_and_update();
            if a.ready && all_ids.iter().all(|id| a.revisions.contains_key(id)) {
                break;
            }
        }
        assert!(Instant::now() < deadline, "cold sync did not finish");
        let _ = tokio::time::timeout(Duration::from_secs(1), relayer.applied.changed()).await;
    }
    let took = t.elapsed();
    let peak = vm_hwm_kib();
    let members: usize = relayer
        .status
        .lock()
        .unwrap()
        .networks
        .values()
        .map(|n| n.members.len())
        .sum();
    println!(
        "BENCH cold sync: {} networks / {members} members applied in {:.2} s; peak RSS {:.1} MiB (baseline before sync {:.1} MiB)",
        relayer.applied.borrow().revisions.len(),
        took.as_secs_f64(),
        peak as f64 / 1024.0,
        rss0 as f64 / 1024.0
    );
    // propagation with this large view in place
    let (arrivals, sub) = block_arrivals(&env).await;
    let net = clients[0].1[0];
    let mut delays = Vec::new();
    for i in 0..30u16 {
        let msg = reg::ExecuteMsg::SetPolicy {
            network_id: net,
            name: "m0".into(),
            policy: policy(2000 + i),
        };
        let out = clients[0].0.execute(&registry, &[msg]).await.unwrap();
        let rev: u64 = out.attribute("wasm-set_policy", "revision")[0]
            .parse()
            .unwrap();
        let applied = relayer
            .wait_for(net, Some(rev), Duration::from_secs(30))
            .await;
        let at = applied.at.expect("applied instant").into_std();
        let deadline = Instant::now() + Duration::from_secs(5);
        let committed = loop {
            if let Some(t) = arrivals.lock().unwrap().get(&out.height) {
                break *t;
            }
            assert!(
                Instant::now() < deadline,
                "no NewBlock event for height {}",
                out.height
            );
            std::thread::sleep(Duration::from_millis(5));
        };
        delays.push(at.saturating_duration_since(committed));
    }
    sub.abort();
    delays.sort();
    println!(
        "BENCH propagation with the 20,000-member view (30 policy changes): p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&delays, 0.5)),
        ms(percentile(&delays, 0.99))
    );
    drop(relayer);

    // the same cold sync into the real overlay (avpn-dataplane), on request:
    // the overlay rebuilds its tables after every change, which takes long here
    if std::env::var("AVPN_BENCH_OVERLAY").is_err() {
        println!("BENCH cold sync into the real overlay: skipped (set AVPN_BENCH_OVERLAY=1)");
    } else {
        let t = Instant::now();
        let (applied_n, finished) =
            cold_sync_into_overlay(&env, &p1, consent, &all_ids, Duration::from_secs(300)).await;
        println!(
            "BENCH cold sync into the real overlay: {applied_n}/{} networks applied, {} after {:.1} s",
            all_ids.len(),
            if finished { "finished" } else { "NOT finished" },
            t.elapsed().as_secs_f64()
        );
    }
    // clean up: close every network so owners' quotas and the provider view shrink again
    let mut closes = Vec::new();
    for (mut c, ids) in clients {
        let registry = registry.clone();
        closes.push(tokio::spawn(async move {
            let msgs: Vec<_> = ids
                .iter()
                .map(|id| reg::ExecuteMsg::CloseNetwork { network_id: *id })
                .collect();
            for chunk in msgs.chunks(MSGS_PER_TX) {
                c.execute(&registry, chunk).await.unwrap();
            }
        }));
    }
    for c in closes {
        c.await.unwrap();
    }
}

/// Runs a controller over the real overlay until every network in `ids` is
/// applied or `limit` passes; (networks applied, finished).
async fn cold_sync_into_overlay(
    env: &HashMap<String, String>,
    provider: &str,
    consent: avpn_control::view::Consent,
    ids: &[u64],
    limit: Duration,
) -> (usize, bool) {
    use avpn_control::controller::{Controller, ControllerConfig};
    use avpn_control::lease::Verification;
    use avpn_control::metrics::Metrics;
    use avpn_control::view::Source;
    use avpn_control::watcher::{ResyncReason, Trigger};
    let mut registry = prometheus_client::registry::Registry::default();
    let overlay = avpn_dataplane::Overlay::start(avpn_dataplane::OverlayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        [7u8; 32],
        provider.to_owned(),
        &mut registry,
    ))
    .unwrap();
    let source = Source {
        querier: avpn_control::query::Querier::new(endpoint(env)).unwrap(),
        registry: env["REGISTRY"].clone(),
        directory: env["DIRECTORY"].clone(),
        provider: provider.to_owned(),
    };
    let cfg = ControllerConfig {
        attachments_dir: None,
        data_dir: None,
        attachments_poll: Duration::from_secs(3600),
        retry_after: Duration::from_secs(1),
        consent,
    };
    let dp = Arc::new(tokio::sync::Mutex::new(overlay));
    let ctl = Controller::new(
        source,
        Verification::Off,
        dp.clone(),
        cfg,
        Metrics::default(),
    );
    let mut applied = ctl.applied();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let task = tokio::spawn(ctl.run(rx));
    tx.send(Trigger::Resync(ResyncReason::Start)).await.unwrap();
    let deadline = Instant::now() + limit;
    let result = loop {
        {
            let a = applied.borrow_and_update();
            let n = ids.iter().filter(|id| a.revisions.contains_key(id)).count();
            if n == ids.len() {
                break (n, true);
            }
            if Instant::now() >= deadline {
                break (n, false);
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), applied.changed()).await;
    };
    // Not awaited: an abort takes effect only when the overlay yields.
    task.abort();
    result
}

/// A network namespace with loopback up, removed on drop.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Netns {
        use std::process::{Command, Stdio};
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        for args in [
            vec!["netns", "add", name],
            vec!["netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ] {
            let ok = Command::new("ip")
                .args(&args)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ip {args:?} failed (the scale bench needs root)");
        }
        Netns(name.to_owned())
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

const BIG_MEMBERS: u64 = 16_384;
const BIG_LOCAL: u64 = 4;
const SMALL_MEMBERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn scale_16384_member_network_plus_1000_small_into_the_real_overlay() {
    use avpn_control::controller::{Controller, ControllerConfig};
    use avpn_control::lease::Verification;
    use avpn_control::metrics::Metrics;
    use avpn_control::view::{Consent, Source};
    use avpn_control::watcher::{WatchConfig, watch};

    let Some(env) = localnet() else { return };
    let registry = env["REGISTRY"].clone();
    // this provider, 3 peers, the big network's owner, 10 small owners
    let mut accounts = fresh_accounts(&env, 1 + 3 + 1 + OWNERS).await;
    let small_owners: Vec<TxClient> = accounts.split_off(5);
    let mut big_owner = accounts.pop().unwrap();
    let mut providers = accounts;
    for (i, p) in providers.iter_mut().enumerate() {
        register(&env, p, &format!("198.18.0.{}:7000", 20 + i)).await;
    }
    let p1 = providers[0].address().to_string();
    let peers: Vec<String> = providers[1..]
        .iter()
        .map(|p| p.address().to_string())
        .collect();

    let t0 = Instant::now();
    let mut fills = Vec::new();
    for (i, c) in small_owners.into_iter().enumerate() {
        fills.push(tokio::spawn(owner_fill_n(
            c,
            registry.clone(),
            p1.clone(),
            format!("scale-{}-{i}", unique()),
            SMALL_MEMBERS,
        )));
    }
    // the big network, filled while the small ones are
    let out = big_owner
        .execute(
            &registry,
            &[create(format!("big-{}", unique()), "100.64.0.0/16")],
        )
        .await
        .unwrap();
    let big: u64 = out.attribute("wasm-create_network", "network_id")[0]
        .parse()
        .unwrap();
    let big_addr = big_owner.address().to_string();
    let dseq0 = unique().parse::<u64>().unwrap() % 1_000_000_000 * 100_000;
    let adds: Vec<_> = (0..BIG_MEMBERS)
        .map(|i| {
            let provider = if i < BIG_LOCAL {
                p1.as_str()
            } else {
                peers[i as usize % peers.len()].as_str()
            };
            add(big, format!("m{i:05}"), &big_addr, dseq0 + i, provider)
        })
        .collect();
    for chunk in adds.chunks(MSGS_PER_TX) {
        big_owner.execute(&registry, chunk).await.unwrap();
    }
    let mut clients = Vec::new();
    let mut small_ids = Vec::new();
    for f in fills {
        let (c, ids) = f.await.unwrap();
        small_ids.extend(ids.iter().copied());
        clients.push((c, ids));
    }
    println!(
        "BENCH scale setup: 1 x {BIG_MEMBERS} + {} x {SMALL_MEMBERS} members created in {:.1} s",
        small_ids.len(),
        t0.elapsed().as_secs_f64()
    );

    // the 4 local leases of the big network run in namespaces of their own
    let att = TempDir::new("avpn-bench-scale-att");
    let namespaces: Vec<Netns> = (0..BIG_LOCAL)
        .map(|i| Netns::new(&format!("avpn-bl-{}-{i}", std::process::id())))
        .collect();
    for (i, ns) in namespaces.iter().enumerate() {
        write_attachment(
            &att.0,
            &format!("big-{i}.toml"),
            &big_addr,
            dseq0 + i as u64,
            0,
            &ns.path(),
        );
    }
    let consent = Consent {
        tenants: clients
            .iter()
            .map(|(c, _)| c.address().to_string())
            .collect(),
        ..Consent::default()
    };

    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let rss0 = vm_rss_kib();
    let t = Instant::now();
    let mut prom = prometheus_client::registry::Registry::default();
    let overlay = avpn_dataplane::Overlay::start(avpn_dataplane::OverlayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        [9u8; 32],
        p1.clone(),
        &mut prom,
    ))
    .unwrap();
    let source = Source {
        querier: avpn_control::query::Querier::new(endpoint(&env)).unwrap(),
        registry: registry.clone(),
        directory: env["DIRECTORY"].clone(),
        provider: p1.clone(),
    };
    let cfg = ControllerConfig {
        attachments_dir: Some(att.0.clone()),
        data_dir: None,
        attachments_poll: Duration::from_secs(2),
        retry_after: Duration::from_secs(1),
        consent,
    };
    let metrics = Metrics::default();
    let dp = Arc::new(tokio::sync::Mutex::new(overlay));
    let ctl = Controller::new(source, Verification::Off, dp.clone(), cfg, metrics.clone());
    let mut applied = ctl.applied();
    let status = ctl.status();
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let wcfg = WatchConfig {
        endpoint: endpoint(&env),
        registry: registry.clone(),
        directory: env["DIRECTORY"].clone(),
        resync_every: Duration::from_secs(3600),
        stall_timeout: Duration::from_secs(10),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
    };
    let tasks = [
        tokio::spawn(watch(wcfg, tx, metrics.clone())),
        tokio::spawn(ctl.run(rx)),
    ];
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        {
            let a = applied.borrow_and_update();
            if a.ready
                && a.revisions.contains_key(&big)
                && small_ids.iter().all(|id| a.revisions.contains_key(id))
            {
                break;
            }
        }
        assert!(Instant::now() < deadline, "cold sync did not finish");
        let _ = tokio::time::timeout(Duration::from_secs(1), applied.changed()).await;
    }
    let took = t.elapsed();
    {
        let st = status.lock().unwrap();
        let members: usize = st.networks.values().map(|n| n.members.len()).sum();
        let attached = st.networks[&big]
            .members
            .iter()
            .filter(|m| m.state == "attached")
            .count();
        println!(
            "BENCH scale cold sync (localnet, real overlay): {} networks / {members} members ({attached} attached) in {:.2} s; peak RSS {:.1} MiB, now {:.1} MiB (baseline {:.1} MiB); target <= 300 MB",
            st.networks.len(),
            took.as_secs_f64(),
            vm_hwm_kib() as f64 / 1024.0,
            vm_rss_kib() as f64 / 1024.0,
            rss0 as f64 / 1024.0
        );
    }

    // policy changes in the big network: block commit -> applied
    let (arrivals, sub) = block_arrivals(&env).await;
    for (what, name) in [
        ("local member (event names this provider)", "m00000"),
        ("remote member", "m00101"),
    ] {
        let mut delays = Vec::new();
        for i in 0..10u16 {
            let msg = reg::ExecuteMsg::SetPolicy {
                network_id: big,
                name: name.into(),
                policy: policy(3000 + i),
            };
            let out = big_owner.execute(&registry, &[msg]).await.unwrap();
            let rev: u64 = out.attribute("wasm-set_policy", "revision")[0]
                .parse()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            let at = loop {
                {
                    let a = applied.borrow_and_update();
                    if a.revisions.get(&big).is_some_and(|r| *r >= rev) {
                        break a.at.expect("applied instant").into_std();
                    }
                }
                assert!(Instant::now() < deadline, "policy change not applied");
                let _ = tokio::time::timeout(Duration::from_secs(1), applied.changed()).await;
            };
            let deadline = Instant::now() + Duration::from_secs(5);
            let committed = loop {
                if let Some(t) = arrivals.lock().unwrap().get(&out.height) {
                    break *t;
                }
                assert!(
                    Instant::now() < deadline,
                    "no NewBlock event for height {}",
                    out.height
                );
                std::thread::sleep(Duration::from_millis(5));
            };
            delays.push(at.saturating_duration_since(committed));
        }
        delays.sort();
        println!(
            "BENCH scale policy change in the {BIG_MEMBERS}-member network, {what}: p50 {:.1} ms, max {:.1} ms (10 changes); target <= 1 s",
            ms(percentile(&delays, 0.5)),
            ms(*delays.last().unwrap())
        );
    }
    sub.abort();
    println!(
        "BENCH scale RSS after the policy changes: peak {:.1} MiB, now {:.1} MiB; changes failed {}",
        vm_hwm_kib() as f64 / 1024.0,
        vm_rss_kib() as f64 / 1024.0,
        metrics.changes_failed.get()
    );
    for t in &tasks {
        t.abort();
    }
    drop(namespaces);

    // clean up: close every network; purge the big one's records
    big_owner
        .execute(
            &registry,
            &[reg::ExecuteMsg::CloseNetwork { network_id: big }],
        )
        .await
        .unwrap();
    let purge = vec![
        reg::ExecuteMsg::PurgeNetwork {
            network_id: big,
            limit: None,
        };
        5
    ];
    for _ in 0..100 {
        let out = big_owner.execute(&registry, &purge).await.unwrap();
        if out
            .attribute("wasm-purge_network", "remaining")
            .iter()
            .any(|r| r == "false")
        {
            break;
        }
    }
    let mut closes = Vec::new();
    for (mut c, ids) in clients {
        let registry = registry.clone();
        closes.push(tokio::spawn(async move {
            let msgs: Vec<_> = ids
                .iter()
                .map(|id| reg::ExecuteMsg::CloseNetwork { network_id: *id })
                .collect();
            for chunk in msgs.chunks(MSGS_PER_TX) {
                c.execute(&registry, chunk).await.unwrap();
            }
        }));
    }
    for c in closes {
        c.await.unwrap();
    }
}
