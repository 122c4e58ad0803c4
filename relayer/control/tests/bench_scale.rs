//! In-process scale benchmark (ignored by default; it prints figures and
//! asserts no timing):
//!
//! ```text
//! cargo test -p avpn-control --release --test bench_scale -- --ignored --nocapture
//! ```
//!
//! A fake node (tests/common/fake.rs) serves one network of 16,384 members
//! (this provider hosts 4 of them, attached through attachment files into
//! real network namespaces; the rest on 15 peer providers) and 1,000 small
//! networks of 8 members (one on this provider, unattached, served by
//! consent for their 10 owners). A controller with lease verification on
//! (every local lease active in the fake market) reconciles the real
//! overlay (`avpn-dataplane`). Printed: cold sync time, peak and current
//! RSS of the process (VmHWM/VmRSS; the fake chain's records live in the
//! same process, so the figure before the relayer starts is printed too),
//! and the time from a trigger to the applied revision for policy changes
//! (a) on a local member of the big network, whose event names this
//! provider and so also re-runs discovery, (b) on a remote member of it,
//! (c) in a small network. Targets: RSS ≤ 300 MB, one policy change ≤ 1 s.
//! The fake node shares the 2 cores with the relayer and its work is part
//! of the times.

mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use avpn_control::controller::{Applied, Controller, ControllerConfig};
use avpn_control::lease::{self, Verification};
use avpn_control::metrics::Metrics;
use avpn_control::query::Querier;
use avpn_control::view::{Consent, Source};
use avpn_control::watcher::{ResyncReason, Trigger};
use network_registry::msg as reg;
use tokio::sync::watch;

use common::fake::*;
use common::{TempDir, write_attachment};

const LOCAL: &str = "akash1local";
const BIG: u64 = 1;
const BIG_MEMBERS: u32 = 16_384;
const LOCAL_IN_BIG: u32 = 4;
const PEERS: u32 = 15;
const SMALL: u64 = 1_000;
const SMALL_MEMBERS: u32 = 8;
const OWNERS: u64 = 10;

fn peer(i: u32) -> String {
    format!("akash1peer{i:02}")
}

fn owner(i: u64) -> String {
    format!("akash1tenant{i:02}")
}

fn proc_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// A network namespace with loopback up, removed on drop.
struct Netns(String);

impl Netns {
    fn new(name: &str) -> Option<Netns> {
        let _ = Command::new("ip")
            .args(["netns", "del", name])
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .is_ok_and(|s| s.success())
            && Command::new("ip")
                .args(["netns", "exec", name, "ip", "link", "set", "lo", "up"])
                .status()
                .is_ok_and(|s| s.success());
        ok.then(|| Netns(name.to_owned()))
    }

    fn path(&self) -> String {
        format!("/var/run/netns/{}", self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn web_policy(port: u16) -> reg::Policy {
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
        egress: vec![reg::Rule {
            peers: reg::Peers::Any,
            protocol: reg::Protocol::Any,
            ports: None,
            action: reg::Action::Allow,
        }],
    }
}

fn db_policy() -> reg::Policy {
    reg::Policy {
        ingress: vec![reg::Rule {
            peers: reg::Peers::Tags(vec!["web".into()]),
            protocol: reg::Protocol::Tcp,
            ports: Some(reg::PortRange {
                start: 5432,
                end: 5432,
            }),
            action: reg::Action::Allow,
        }],
        egress: vec![],
    }
}

fn member(name: String, ip: Ipv4Addr, lease: reg::LeaseId, web: bool) -> reg::ManifestMember {
    reg::ManifestMember {
        name,
        lease,
        tags: vec![if web { "web" } else { "db" }.into()],
        service: None,
        ip: Some(ip.to_string()),
        policy: if web { web_policy(80) } else { db_policy() },
        weight: None,
    }
}

/// The big network's owner is tenant 0; small networks belong to tenants
/// 1..=OWNERS. Every lease on this provider is active in the market.
fn build_chain() -> Chain {
    let mut c = Chain {
        height: 10,
        ..Chain::default()
    };
    c.providers.insert(LOCAL.into(), record(LOCAL, 1));
    for i in 1..=PEERS {
        let p = peer(i);
        c.providers.insert(p.clone(), record(&p, 1 + i as u8));
    }
    let mut big = FakeNetwork::new(BIG, &owner(0));
    big.record.tags = vec!["web".into(), "db".into()];
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 0));
    for i in 0..BIG_MEMBERS {
        let provider = if i < LOCAL_IN_BIG {
            LOCAL.to_string()
        } else {
            peer(i % PEERS + 1)
        };
        let lease = reg_lease(&owner(0), u64::from(i) + 1, &provider, 0);
        if provider == LOCAL {
            c.market.push(MarketLease {
                id: market_lease(&owner(0), u64::from(i) + 1, LOCAL, 0),
                state: lease::proto::STATE_ACTIVE,
            });
        }
        let m = member(
            format!("m{i:05}"),
            Ipv4Addr::from(base + i + 1),
            lease,
            i % 2 == 0,
        );
        big.members.insert(m.name.clone(), m);
    }
    big.record.member_count = BIG_MEMBERS;
    c.networks.insert(BIG, big);
    for id in 2..SMALL + 2 {
        let o = owner(1 + id % OWNERS);
        let mut n = FakeNetwork::new(id, &o);
        n.record.cidr = "100.64.0.0/24".into();
        n.record.tags = vec!["web".into(), "db".into()];
        for j in 0..SMALL_MEMBERS {
            let provider = if j == 0 {
                LOCAL.to_string()
            } else {
                peer((id as u32 + j) % PEERS + 1)
            };
            let dseq = id * 100 + u64::from(j);
            if provider == LOCAL {
                c.market.push(MarketLease {
                    id: market_lease(&o, dseq, LOCAL, 0),
                    state: lease::proto::STATE_ACTIVE,
                });
            }
            n.member(
                &format!("s{j}"),
                &format!("100.64.0.{}", j + 2),
                reg_lease(&o, dseq, &provider, 0),
            );
            n.members.get_mut(&format!("s{j}")).unwrap().policy = web_policy(8080);
        }
        c.networks.insert(id, n);
    }
    // the small networks are consented by their owners' names; the big one
    // is found through its attached leases
    c
}

async fn wait(
    applied: &mut watch::Receiver<Applied>,
    limit: Duration,
    ok: impl Fn(&Applied) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if ok(&applied.borrow_and_update()) {
            return;
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "not applied within {limit:?}");
        let _ = tokio::time::timeout(left, applied.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --release --ignored --nocapture"]
async fn policy_change_with_a_16384_member_network_and_1000_small_ones() {
    let t = Instant::now();
    let chain = Arc::new(Mutex::new(build_chain()));
    let node = chain_node(chain.clone()).await;
    println!(
        "BENCH scale setup: fake chain with 1 x {BIG_MEMBERS} + {SMALL} x {SMALL_MEMBERS} members built in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // the 4 local members of the big network run in namespaces of their own
    let att = TempDir::new("avpn-bench-scale");
    let mut namespaces = Vec::new();
    for i in 0..LOCAL_IN_BIG {
        match Netns::new(&format!("avpn-bs-{}-{i}", std::process::id())) {
            Some(ns) => {
                write_attachment(
                    &att.0,
                    &format!("big-{i}.toml"),
                    &owner(0),
                    u64::from(i) + 1,
                    0,
                    &ns.path(),
                );
                namespaces.push(ns);
            }
            None => {
                println!(
                    "BENCH note: no network namespace (not root?); the big network is served by consent, unattached"
                );
                break;
            }
        }
    }
    let attached = namespaces.len() == LOCAL_IN_BIG as usize;
    let consent = Consent {
        tenants: (1..=OWNERS).map(owner).collect(),
        networks: if attached {
            BTreeSet::new()
        } else {
            [BIG].into()
        },
    };

    let mut registry = prometheus_client::registry::Registry::default();
    let overlay = avpn_dataplane::Overlay::start(avpn_dataplane::OverlayConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        [7u8; 32],
        LOCAL.to_owned(),
        &mut registry,
    ))
    .unwrap();
    let querier = Querier::new(fake_endpoint(&node.url, CHAIN)).unwrap();
    let source = Source {
        querier: querier.clone(),
        registry: REGISTRY.into(),
        directory: DIRECTORY.into(),
        provider: LOCAL.into(),
    };
    let cfg = ControllerConfig {
        attachments_dir: Some(att.0.clone()),
        data_dir: None,
        attachments_poll: Duration::from_secs(3600),
        retry_after: Duration::from_secs(1),
        consent,
    };
    let dp = Arc::new(tokio::sync::Mutex::new(overlay));
    let metrics = Metrics::default();
    let ctl = Controller::new(
        source,
        Verification::Market(Box::new(querier)),
        dp.clone(),
        cfg,
        metrics.clone(),
    );
    let mut applied = ctl.applied();
    let status = ctl.status();
    let (tx, rx) = tokio::sync::mpsc::channel(16);

    // reset the peak-RSS watermark, then sync from scratch
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let rss0 = proc_kib("VmRSS:");
    let t = Instant::now();
    let task = tokio::spawn(ctl.run(rx));
    tx.send(Trigger::Resync(ResyncReason::Start)).await.unwrap();
    wait(&mut applied, Duration::from_secs(600), |a| {
        a.ready && a.revisions.len() as u64 == SMALL + 1
    })
    .await;
    let cold = t.elapsed();
    let (hwm, rss) = (proc_kib("VmHWM:"), proc_kib("VmRSS:"));
    {
        let st = status.lock().unwrap();
        let members: usize = st.networks.values().map(|n| n.members.len()).sum();
        let attached_n = st.networks.get(&BIG).map_or(0, |n| {
            n.members.iter().filter(|m| m.state == "attached").count()
        });
        assert!(st.failing_networks.is_empty(), "{:?}", st.failing_networks);
        assert!(st.refused.is_empty(), "{:?}", st.refused);
        println!(
            "BENCH scale cold sync: {} networks / {members} members ({attached_n} attached) into the real overlay in {:.2} s; {} lease checks",
            st.networks.len(),
            cold.as_secs_f64(),
            chain.lock().unwrap().lease_queries().len()
        );
    }
    println!(
        "BENCH scale RSS after cold sync: peak (VmHWM) {:.1} MiB, current (VmRSS) {:.1} MiB; before the relayer started {:.1} MiB (fake chain included); target <= 300 MB",
        mib(hwm),
        mib(rss),
        mib(rss0)
    );

    // policy changes: trigger (as the watcher would send it) -> applied
    let cases: [(&str, u64, &str, Vec<String>); 3] = [
        (
            "local member of the big network (event names this provider: discovery re-runs)",
            BIG,
            "m00000",
            vec![LOCAL.into()],
        ),
        (
            "remote member of the big network (event names its peer)",
            BIG,
            "m00101",
            vec![peer(101 % PEERS + 1)],
        ),
        (
            "local member of a small network",
            500,
            "s0",
            vec![LOCAL.into()],
        ),
    ];
    // the query log of the fake chain would grow with every change
    {
        let mut c = chain.lock().unwrap();
        c.quiet = true;
        c.log = Vec::new();
    }
    let changes: usize = std::env::var("AVPN_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    for (what, id, name, providers) in cases {
        let mut times = Vec::new();
        let hits0 = node.hits.load(std::sync::atomic::Ordering::SeqCst);
        for k in 0..changes as u16 {
            let (rev, height) = {
                let mut c = chain.lock().unwrap();
                let n = c.networks.get_mut(&id).unwrap();
                n.set_policy(name, web_policy(9000 + k));
                c.height += 1;
                (c.networks[&id].record.revision, c.height)
            };
            let t = Instant::now();
            tx.send(Trigger::Networks {
                height,
                ids: [id].into(),
                providers: providers.iter().cloned().collect(),
            })
            .await
            .unwrap();
            wait(&mut applied, Duration::from_secs(60), |a| {
                a.revisions.get(&id) == Some(&rev)
            })
            .await;
            times.push(t.elapsed());
        }
        times.sort();
        let requests = node.hits.load(std::sync::atomic::Ordering::SeqCst) - hits0;
        println!(
            "BENCH scale policy change, {what}: median {:.0} ms, min {:.0} ms, max {:.0} ms ({changes} changes, {} node requests each); target <= 1 s; RSS now {:.1} MiB",
            times[changes / 2].as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0,
            times[changes - 1].as_secs_f64() * 1000.0,
            requests / changes,
            mib(proc_kib("VmRSS:"))
        );
    }
    let overlay_members: usize = {
        let dp = dp.lock().await;
        dp.status().networks.iter().map(|n| n.members.len()).sum()
    };
    println!(
        "BENCH scale RSS during the policy changes: peak (VmHWM) {:.1} MiB, current {:.1} MiB; overlay holds {overlay_members} members; changes applied {}, failed {}",
        mib(proc_kib("VmHWM:")),
        mib(proc_kib("VmRSS:")),
        metrics.changes_applied.get(),
        metrics.changes_failed.get()
    );
    assert_eq!(metrics.changes_failed.get(), 0);
    drop(tx);
    // Not awaited: an abort takes effect only when the overlay yields.
    task.abort();
    drop(namespaces);
}
