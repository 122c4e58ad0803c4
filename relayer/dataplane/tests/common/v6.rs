//! IPv6 helpers for the netns tests: dual-stack networks and members, and
//! hand-built ICMPv6 packets.

use std::net::Ipv6Addr;
use std::time::Duration;

use avpn_model::{
    MemberInfo, NetworkInfo, PeerSelector, Policy, PortRange, Protocol, Rule, Verdict,
};

/// The IPv6 prefix of the test networks built by [`network6`].
pub const CIDR6: &str = "fd00:64::/64";

/// A dual-stack network: `cidr` and the IPv6 prefix `cidr6`.
pub fn network6(id: u64, cidr: &str, cidr6: &str, default_verdict: Verdict) -> NetworkInfo {
    NetworkInfo {
        cidr6: Some(cidr6.parse().unwrap()),
        ..super::network(id, cidr, default_verdict)
    }
}

/// A member with IPv4 `ip` and IPv6 `ip6`.
pub fn member6(name: &str, ip: &str, ip6: &str, provider: &str, policy: Policy) -> MemberInfo {
    MemberInfo {
        ip6: Some(ip6.parse().unwrap()),
        ..super::member(name, ip, provider, policy)
    }
}

/// A rule about the members with an address in one of `cidrs`.
pub fn cidr_rule(cidrs: &[&str], proto: Protocol, ports: (u16, u16), verdict: Verdict) -> Rule {
    Rule {
        peers: PeerSelector::Cidrs(cidrs.iter().map(|c| c.parse().unwrap()).collect()),
        protocol: proto,
        ports: PortRange::new(ports.0, ports.1).unwrap(),
        verdict,
    }
}

pub fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// Builds an ICMPv6 echo request with a valid checksum.
pub fn icmpv6_echo(src: Ipv6Addr, dst: Ipv6Addr, id: u16) -> Vec<u8> {
    let mut p = vec![0u8; 40 + 16];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&16u16.to_be_bytes());
    p[6] = 58;
    p[7] = 64;
    p[8..24].copy_from_slice(&src.octets());
    p[24..40].copy_from_slice(&dst.octets());
    p[40] = 128;
    p[44..46].copy_from_slice(&id.to_be_bytes());
    p[46..48].copy_from_slice(&1u16.to_be_bytes());
    // Pseudo-header (addresses, length, next header) plus the message.
    let mut words: Vec<u8> = Vec::new();
    words.extend_from_slice(&p[8..40]);
    words.extend_from_slice(&16u32.to_be_bytes());
    words.extend_from_slice(&[0, 0, 0, 58]);
    words.extend_from_slice(&p[40..]);
    let mut s: u32 = words
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    p[42..44].copy_from_slice(&(!(s as u16)).to_be_bytes());
    p
}

/// Waits until `addr` is configured and usable (not tentative) on the TUN
/// `dev` in `ns`.
pub async fn address_ready(ns: &super::Netns, dev: &str, addr: &str) {
    super::until(
        &format!("{addr} ready on {dev}"),
        Duration::from_secs(5),
        || {
            let out = ns.output(&["ip", "-6", "addr", "show", "dev", dev]);
            (out.contains(&format!("{addr}/")) && !out.contains("tentative")).then_some(())
        },
    )
    .await;
}
