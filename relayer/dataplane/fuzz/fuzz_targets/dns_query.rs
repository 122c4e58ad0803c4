//! A DNS query a workload sends to its network's gateway address, answered
//! from a zone of two dual-stack members (`a.prod`, `b.prod`).
//!
//! `dns::answer` never panics; an answer is at most `DNS_MAX_ANSWER`
//! bytes (512 unless the query carried EDNS) and echoes the query's id; a
//! query over `DNS_MAX_QUERY` bytes gets none. `Zone::resolve` (SOCKS5
//! CONNECT by name) never panics on the same bytes taken as a name.
#![no_main]

use std::sync::OnceLock;

use avpn_dataplane::dns::{Zone, answer};
use avpn_dataplane::limits::{DNS_MAX_ANSWER, DNS_MAX_QUERY};
use avpn_model::{LeaseId, MemberInfo, NetworkInfo, Policy, Verdict};
use libfuzzer_sys::fuzz_target;

fn member(name: &str, host: u8) -> MemberInfo {
    MemberInfo {
        name: name.into(),
        ip: [100, 64, 0, host].into(),
        ip6: Some([0xfd00, 0x64, 0, 0, 0, 0, 0, u16::from(host)].into()),
        lease: LeaseId {
            owner: "akash1tenant".into(),
            dseq: 1,
            gseq: 1,
            oseq: 1,
            provider: "akash1provider".into(),
            bseq: 1,
        },
        tags: Default::default(),
        service: None,
        policy: Policy::default(),
        weight: None,
    }
}

fn zone() -> &'static Zone {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    ZONE.get_or_init(|| {
        let info = NetworkInfo {
            id: 1,
            name: "prod".into(),
            owner: "akash1tenant".into(),
            revision: 1,
            cidr: "100.64.0.0/24".parse().unwrap(),
            cidr6: Some("fd00:64::/64".parse().unwrap()),
            default_verdict: Verdict::Deny,
        };
        Zone::new(&info, &[member("a", 2), member("b", 3)])
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = zone().resolve(data);
    let Ok(reply) = answer(zone(), data) else {
        return;
    };
    assert!(
        data.len() <= DNS_MAX_QUERY,
        "answered a {}-byte query",
        data.len()
    );
    assert!(reply.len() <= DNS_MAX_ANSWER, "{}-byte answer", reply.len());
    assert_eq!(reply[..2], data[..2], "answer id");
    assert_eq!(reply[2] & 0x80, 0x80, "answer without QR");
});
