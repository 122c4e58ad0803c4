//! Cost of one firewall decision with 10,000 rules per list
//! (`cargo bench -p avpn-dataplane --bench policy`). Prints ns per
//! decision for the compiled evaluation (a new flow), for a flow-cache
//! hit (every later packet of the flow), and for a network's cache at its
//! budget under a flood of new flows; each the median of five runs.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use avpn_dataplane::packet::Addrs;
use avpn_dataplane::policy::{CompiledPolicy, FlowCache, FlowKey};
use avpn_model::{LeaseId, MemberInfo, PeerSelector, Policy, PortRange, Protocol, Rule, Verdict};

const RULES: usize = 10_000;
const MEMBERS: usize = 64;

/// Small deterministic generator (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn rules(rng: &mut Rng) -> Vec<Rule> {
    (0..RULES)
        .map(|i| {
            let start = (rng.next() % 65000) as u16;
            let len = (rng.next() % 200) as u16;
            let peers = match i % 4 {
                0 => PeerSelector::Any,
                1 => PeerSelector::Members([format!("m{}", rng.next() % MEMBERS as u64)].into()),
                2 => PeerSelector::Tags([format!("t{}", rng.next() % 8)].into()),
                _ => PeerSelector::Cidrs(vec![
                    format!("100.64.0.{}/30", (rng.next() % 64) * 4)
                        .parse()
                        .unwrap(),
                ]),
            };
            Rule {
                peers,
                protocol: [Protocol::Tcp, Protocol::Udp, Protocol::Any][i % 3],
                ports: PortRange::new(start, start.saturating_add(len)).unwrap(),
                verdict: if i % 5 == 0 {
                    Verdict::Deny
                } else {
                    Verdict::Allow
                },
            }
        })
        .collect()
}

/// Runs of every measurement; the median is reported (a busy machine
/// slows single runs, and one slow run should not decide the figure).
const RUNS: usize = 5;
/// Passes over the probe flows per run.
const ROUNDS: usize = 500;

/// The median of [`RUNS`] results of `measure` (ns per decision).
fn median_of_runs(mut measure: impl FnMut() -> f64) -> f64 {
    let mut runs: Vec<f64> = (0..RUNS).map(|_| measure()).collect();
    runs.sort_by(f64::total_cmp);
    runs[RUNS / 2]
}

/// ns per call of `decide` over all `probes`, [`ROUNDS`] passes, median
/// of [`RUNS`]; counts the allowed decisions so that none is optimised away.
fn ns_per_decision(
    probes: &[FlowKey],
    allowed: &mut usize,
    mut decide: impl FnMut(&FlowKey) -> Verdict,
) -> f64 {
    let n = (ROUNDS * probes.len()) as f64;
    median_of_runs(|| {
        let t = Instant::now();
        for _ in 0..ROUNDS {
            for k in probes {
                *allowed += usize::from(decide(k) == Verdict::Allow);
            }
        }
        t.elapsed().as_nanos() as f64 / n
    })
}

fn main() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let members: Vec<MemberInfo> = (0..MEMBERS)
        .map(|i| MemberInfo {
            name: format!("m{i}"),
            ip: Ipv4Addr::new(100, 64, 0, i as u8 + 1),
            ip6: Some(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, i as u16 + 1)),
            lease: LeaseId {
                owner: "akash1tenant".into(),
                dseq: i as u64,
                gseq: 1,
                oseq: 1,
                provider: "p".into(),
                bseq: 1,
            },
            tags: BTreeSet::from([format!("t{}", i % 8)]),
            service: None,
            policy: if i < 2 {
                Policy {
                    ingress: rules(&mut rng),
                    egress: rules(&mut rng),
                }
            } else {
                Policy::default()
            },
            weight: None,
        })
        .collect();
    let t = Instant::now();
    // Every member local: the largest tables a relayer can hold.
    let policy = CompiledPolicy::compile("akash1tenant", Verdict::Deny, &members, |_| true);
    println!(
        "compile: {} members, {} rules in each list of 2 members: {:.1} ms",
        MEMBERS,
        RULES,
        t.elapsed().as_secs_f64() * 1e3
    );

    // Flows between the two members that carry 10,000-rule lists.
    let v4 = |s: usize, d: usize| Addrs::V4 {
        src: members[s].ip,
        dst: members[d].ip,
    };
    let probes: Vec<FlowKey> = (0..4096)
        .map(|_| FlowKey {
            addrs: v4((rng.next() % 2) as usize, (rng.next() % 2) as usize),
            proto: [6u8, 17][(rng.next() % 2) as usize],
            sport: (rng.next() % 65536) as u16,
            dport: (rng.next() % 65536) as u16,
            icmp_reply: false,
        })
        .collect();
    let mut allowed = 0usize;
    let compiled_ns = ns_per_decision(&probes, &mut allowed, |k| {
        black_box(&policy).decide(k.addrs, k.proto, k.dport)
    });
    // The same flows over IPv6.
    let probes6: Vec<FlowKey> = probes
        .iter()
        .map(|k| {
            let (s, d) = (k.addrs.src(), k.addrs.dst());
            let six = |ip| {
                members
                    .iter()
                    .find(|m| std::net::IpAddr::V4(m.ip) == ip)
                    .and_then(|m| m.ip6)
            };
            FlowKey {
                addrs: Addrs::V6 {
                    src: six(s).unwrap(),
                    dst: six(d).unwrap(),
                },
                ..*k
            }
        })
        .collect();
    let compiled6_ns = ns_per_decision(&probes6, &mut allowed, |k| {
        black_box(&policy).decide(k.addrs, k.proto, k.dport)
    });
    let mut cache6 = FlowCache::default();
    for k in &probes6 {
        cache6.check(&policy, *k);
    }
    let cached6_ns = ns_per_decision(&probes6, &mut allowed, |k| {
        black_box(&mut cache6).check(&policy, *k)
    });
    let mut cache = FlowCache::default();
    for k in &probes {
        cache.check(&policy, *k);
    }
    let cached_ns = ns_per_decision(&probes, &mut allowed, |k| {
        black_box(&mut cache).check(&policy, *k)
    });
    // A network at its flow budget under a flood: one new flow (decided
    // and remembered, evicting as it goes) between two hits of the probes,
    // so both generations are full and misses look in both.
    let mut flood = (0u32..).map(|i| FlowKey {
        addrs: v4(2 + (i % 60) as usize, (i / 60 % 62 + 2) as usize),
        proto: 17,
        sport: (i >> 16) as u16,
        dport: i as u16,
        icmp_reply: false,
    });
    for k in flood
        .by_ref()
        .take(2 * avpn_dataplane::limits::FLOW_BUDGET_PER_NETWORK)
    {
        cache.check(&policy, k);
    }
    // Two decisions per probe: its hit and a new flow.
    let full_ns = ns_per_decision(&probes, &mut allowed, |k| {
        let v = black_box(&mut cache).check(&policy, *k);
        if let Some(f) = flood.next() {
            black_box(&mut cache).check(&policy, f);
        }
        v
    }) / 2.0;
    println!("allowed decisions: {allowed}");
    println!("policy decision, compiled (new flow), {RULES} rules: {compiled_ns:.1} ns");
    println!("policy decision, flow cache hit: {cached_ns:.1} ns");
    println!("policy decision over IPv6, compiled (new flow): {compiled6_ns:.1} ns");
    println!("policy decision over IPv6, flow cache hit: {cached6_ns:.1} ns");
    println!(
        "policy decision, full flow cache under a flood (hits and new flows alternating): {full_ns:.1} ns"
    );
    let worst = compiled_ns
        .max(cached_ns)
        .max(full_ns)
        .max(compiled6_ns)
        .max(cached6_ns);
    println!(
        "POLICY_NS {:.1} {} (target <= 100 ns)",
        worst,
        if worst <= 100.0 { "MET" } else { "NOT MET" }
    );
}
