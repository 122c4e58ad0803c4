//! IPv6 packets from a peer or a workload: parsing (extension-header
//! chain, ICMPv6 classification) and building "packet too big" never
//! panic, and whatever parses is consistent.
#![no_main]

use std::net::Ipv6Addr;

use avpn_dataplane::packet::{self, Addrs, PacketError, proto};
use libfuzzer_sys::fuzz_target;

const GATEWAY: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

fuzz_target!(|data: &[u8]| {
    // Every input is an IPv6 packet as far as the version nibble goes.
    let mut p = data.to_vec();
    if let Some(b) = p.first_mut() {
        *b = 0x60 | (*b & 0x0f);
    }
    let info = match packet::parse(&p) {
        Ok(info) => info,
        Err(PacketError::UnknownVersion(_) | PacketError::BadHeaderLength) => {
            panic!("an IPv6 packet is never judged by IPv4 rules")
        }
        Err(_) => return,
    };
    let Addrs::V6 { src, dst } = info.addrs else {
        panic!("an IPv6 packet parsed as IPv4");
    };
    // Forwardable traffic never has link-scope ends.
    for a in [src, dst] {
        assert!(!a.is_unspecified() && !a.is_multicast() && !a.is_unicast_link_local());
    }
    if info.icmp_reply {
        assert_eq!(info.proto, proto::ICMPV6);
        assert_eq!(info.sport, info.dport);
    }
    if let Some(reply) = packet::packet_too_big(&p, GATEWAY, 1280) {
        assert!(reply.len() <= 1280);
        let r = packet::parse(&reply).expect("our own ICMPv6 parses");
        assert_eq!(
            r.addrs,
            Addrs::V6 {
                src: GATEWAY,
                dst: src
            }
        );
        assert_eq!(r.proto, proto::ICMPV6);
        assert!(!r.icmp_reply);
        // It quotes the start of the packet.
        let quoted = &reply[48..];
        assert_eq!(quoted, &p[..quoted.len()]);
    }
});
