//! IP packets from a peer or a workload: parsing and building ICMP
//! replies never panic.
#![no_main]

use std::net::Ipv4Addr;

use avpn_dataplane::packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = packet::parse(data) {
        if let Some(icmp) = packet::frag_needed(data, Ipv4Addr::new(100, 64, 0, 1), 1400) {
            assert_eq!(packet::parse(&icmp).map(|i| i.dst()), Ok(info.src()));
        }
    }
});
