//! The service NAT: rewriting either address of any packet never panics;
//! a packet that parsed still parses after, with only that address changed.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use avpn_dataplane::packet::{self, nat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, pkt)) = data.split_first() else {
        return;
    };
    let end = if selector & 1 == 0 {
        nat::End::Source
    } else {
        nat::End::Destination
    };
    let to: IpAddr = if selector & 2 == 0 {
        Ipv4Addr::new(100, 64, 0, 9).into()
    } else {
        Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 9).into()
    };
    let before = packet::parse(pkt);
    let mut p = pkt.to_vec();
    match nat::set_addr(&mut p, end, to) {
        Ok(()) => {
            let (old, new) = (before.unwrap(), packet::parse(&p).unwrap());
            let (src, dst) = match end {
                nat::End::Source => (to, old.dst()),
                nat::End::Destination => (old.src(), to),
            };
            assert_eq!((new.src(), new.dst(), new.proto), (src, dst, old.proto));
        }
        Err(_) => assert_eq!(p, pkt, "a refused rewrite wrote"),
    }
});
