//! DNS answer time of the responder alone (no TUN, no namespaces):
//! `dns::answer` over N queries for a member of a 1,000-member zone,
//! printed as p50/p99. Run with
//! `cargo run --release -p avpn-dataplane --example dnsbench [N]`.
//! The time a client in a lease namespace sees (TUN round trip included)
//! is printed by `tests/dns.rs` with `--nocapture`.

use std::net::Ipv4Addr;
use std::time::Instant;

use avpn_dataplane::dns::{Zone, answer};
use avpn_model::{LeaseId, MemberInfo, NetworkInfo, Policy, Verdict};

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let info = NetworkInfo {
        id: 1,
        name: "prod".into(),
        owner: "akash1tenant".into(),
        revision: 1,
        cidr: "100.64.0.0/20".parse().expect("cidr"),
        cidr6: Some("fd00:64::/64".parse().expect("cidr6")),
        default_verdict: Verdict::Deny,
    };
    let members: Vec<MemberInfo> = (0..1000u32)
        .map(|i| MemberInfo {
            name: format!("m{i}"),
            ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 2)) + i),
            ip6: None,
            lease: LeaseId {
                owner: "akash1tenant".into(),
                dseq: u64::from(i),
                gseq: 1,
                oseq: 1,
                provider: "akash1provider".into(),
                bseq: 1,
            },
            tags: Default::default(),
            service: None,
            policy: Policy::default(),
            weight: None,
        })
        .collect();
    let zone = Zone::new(&info, &members);
    let queries: Vec<Vec<u8>> = (0..1000u16)
        .map(|i| query(i, &format!("m{}.prod", i % 1000)))
        .collect();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let q = &queries[i % queries.len()];
        let start = Instant::now();
        let a = answer(&zone, q).expect("answer");
        times.push(start.elapsed());
        assert!(a.len() > q.len());
    }
    times.sort();
    println!(
        "dns::answer over {n} queries: p50 {:?}, p99 {:?}",
        times[n / 2],
        times[n * 99 / 100]
    );
}
