//! Rewriting one address of a packet in place (the data path's service
//! NAT), with every checksum that covers it updated incrementally
//! (RFC 1624: `HC' = ~(~HC + ~m + m')`), so the cost does not depend on
//! the packet's size: the IPv4 header checksum, and the TCP, UDP and
//! ICMPv6 checksums, whose pseudo-header holds the addresses. ICMPv4 has
//! no pseudo-header; an IPv4 UDP checksum of zero means "none" and stays.

use std::net::IpAddr;

use super::{PacketError, proto, v6};

/// Which address of a packet to rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The source address.
    Source,
    /// The destination address.
    Destination,
}

/// Why an address could not be rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NatError {
    /// The packet does not parse far enough (see [`PacketError`]).
    #[error("{0}")]
    Packet(#[from] PacketError),
    /// The new address is not of the packet's family.
    #[error("address family differs from the packet's")]
    Family,
}

/// Replaces the `end` address of the IPv4 or IPv6 packet `p` with `to` and
/// fixes the checksums covering it. `p` must be a packet
/// [`super::parse`] accepts; nothing is written when an error is returned.
pub fn set_addr(p: &mut [u8], end: End, to: IpAddr) -> Result<(), NatError> {
    let new: &[u8] = &match to {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    super::parse(p)?;
    let (at, l4, proto, v4) = match p.first().map(|b| b >> 4) {
        Some(4) => {
            let at = if end == End::Source { 12 } else { 16 };
            (at, usize::from(p[0] & 0x0f) * 4, p[9], true)
        }
        Some(6) => {
            let u = v6::walk(p)?;
            let at = if end == End::Source { 8 } else { 24 };
            (at, u.at, u.proto, false)
        }
        Some(version) => return Err(PacketError::UnknownVersion(version).into()),
        None => return Err(PacketError::Truncated.into()),
    };
    if new.len() != if v4 { 4 } else { 16 } {
        return Err(NatError::Family);
    }
    let old = p[at..at + new.len()].to_vec();
    if v4 {
        update(p, 10, &old, new);
    }
    let field = match proto {
        proto::TCP if p.len() >= l4 + 18 => Some(l4 + 16),
        proto::UDP if p.len() >= l4 + 8 => {
            // IPv4 UDP without checksum stays without.
            (!v4 || p[l4 + 6..l4 + 8] != [0, 0]).then_some(l4 + 6)
        }
        proto::ICMPV6 if !v4 && p.len() >= l4 + 4 => Some(l4 + 2),
        _ => None,
    };
    if let Some(f) = field {
        update(p, f, &old, new);
        // UDP sends a computed zero as all ones (zero means "none").
        if proto == proto::UDP && p[f..f + 2] == [0, 0] {
            p[f..f + 2].copy_from_slice(&[0xff, 0xff]);
        }
    }
    p[at..at + new.len()].copy_from_slice(new);
    Ok(())
}

/// Updates the checksum at `p[field..field + 2]` for 16-bit words `old`
/// replaced by `new` (equal, even lengths).
fn update(p: &mut [u8], field: usize, old: &[u8], new: &[u8]) {
    let hc = u16::from_be_bytes([p[field], p[field + 1]]);
    let mut sum = u32::from(!hc);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        sum += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[field..field + 2].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::super::checksum;
    use super::*;

    /// Recomputes every checksum the rewrite must keep valid; `None` for
    /// a field the packet does not have.
    fn sums(p: &[u8]) -> (Option<u16>, Option<u16>) {
        if p[0] >> 4 == 4 {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let header = checksum::of(&p[..ihl]);
            let l4 = &p[ihl..];
            let transport = match p[9] {
                proto::TCP | proto::UDP => {
                    let mut pseudo = p[12..20].to_vec();
                    pseudo.extend_from_slice(&[0, p[9]]);
                    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
                    let udp_none = p[9] == proto::UDP && l4[6..8] == [0, 0];
                    (!udp_none)
                        .then(|| checksum::finish(checksum::add(checksum::add(0, &pseudo), l4)))
                }
                _ => None,
            };
            (Some(header), transport)
        } else {
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
            (None, Some(checksum::ipv6(src, dst, p[6], &p[40..])))
        }
    }

    /// A valid checksum sums to zero (0 or its one's-complement twin).
    fn valid(sum: Option<u16>) -> bool {
        sum.is_none_or(|s| s == 0 || s == 0xffff)
    }

    #[test]
    fn rewrites_each_family_and_keeps_checksums_valid() {
        let a = Ipv4Addr::new(100, 64, 0, 2);
        let svc = Ipv4Addr::new(100, 64, 0, 9);
        let replica = Ipv4Addr::new(100, 64, 0, 5);
        for proto in [proto::TCP, proto::UDP, proto::ICMP] {
            let mut p = super::super::build::ipv4(a, svc, proto, 4000, 80);
            p.extend_from_slice(&[7; 12]);
            fix_lengths_and_sums(&mut p, proto);
            set_addr(&mut p, End::Destination, replica.into()).unwrap();
            let info = super::super::parse(&p).unwrap();
            assert_eq!((info.src(), info.dst()), (a.into(), replica.into()));
            let (h, t) = sums(&p);
            assert!(valid(h) && valid(t), "proto {proto}");
        }
        let a6: Ipv6Addr = "fd00:1::2".parse().unwrap();
        let svc6: Ipv6Addr = "fd00:1::9".parse().unwrap();
        for proto in [proto::TCP, proto::UDP, proto::ICMPV6] {
            let mut p = super::super::build::ipv6(svc6, a6, proto, 80, 4000);
            p.extend_from_slice(&[7; 12]);
            fix_lengths_and_sums(&mut p, proto);
            set_addr(
                &mut p,
                End::Source,
                "fd00:1::5".parse::<Ipv6Addr>().unwrap().into(),
            )
            .unwrap();
            assert_eq!(
                super::super::parse(&p).unwrap().src(),
                "fd00:1::5".parse::<IpAddr>().unwrap()
            );
            assert!(valid(sums(&p).1), "proto {proto}");
        }
    }

    #[test]
    fn refuses_the_other_family_and_garbage_without_writing() {
        let mut p = super::super::build::ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            proto::TCP,
            1,
            2,
        );
        let before = p.clone();
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(set_addr(&mut p, End::Source, v6), Err(NatError::Family));
        assert_eq!(p, before);
        let mut short = vec![0x45, 0, 0];
        assert!(set_addr(&mut short, End::Source, Ipv4Addr::LOCALHOST.into()).is_err());
    }

    /// An IPv4 UDP datagram sent without checksum keeps none.
    #[test]
    fn ipv4_udp_without_checksum_stays_without() {
        let mut p = super::super::build::ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            proto::UDP,
            1,
            2,
        );
        p[26..28].copy_from_slice(&[0, 0]);
        let h = checksum::of(&p[..20]);
        p[10..12].copy_from_slice(&h.to_be_bytes());
        set_addr(&mut p, End::Destination, Ipv4Addr::new(10, 0, 0, 3).into()).unwrap();
        assert_eq!(&p[26..28], &[0, 0]);
        assert!(valid(sums(&p).0));
    }

    proptest! {
        /// The incremental update equals a full recomputation, for any
        /// addresses, ports, payload and either end.
        #[test]
        fn incremental_equals_recomputed(
            v6: bool,
            proto in prop::sample::select(vec![proto::TCP, proto::UDP]),
            src: [u8; 16],
            dst: [u8; 16],
            to: [u8; 16],
            ports: (u16, u16),
            payload in prop::collection::vec(any::<u8>(), 12..64),
            source: bool,
        ) {
            let mut p = if v6 {
                super::super::build::ipv6(Ipv6Addr::from(src), Ipv6Addr::from(dst), proto, ports.0, ports.1)
            } else {
                let a = |b: [u8; 16]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
                super::super::build::ipv4(a(src), a(dst), proto, ports.0, ports.1)
            };
            // Grow the packet by the payload, then make every checksum right.
            p.extend_from_slice(&payload);
            fix_lengths_and_sums(&mut p, proto);
            prop_assume!(super::super::parse(&p).is_ok());
            let to: IpAddr = if v6 { Ipv6Addr::from(to).into() } else { Ipv4Addr::new(to[0], to[1], to[2], to[3]).into() };
            let end = if source { End::Source } else { End::Destination };
            let mut expected = p.clone();
            set_addr(&mut p, end, to).unwrap();
            // Reference: write the address, recompute from scratch.
            let at = match (v6, source) { (false, true) => 12, (false, false) => 16, (true, true) => 8, (true, false) => 24 };
            match to { IpAddr::V4(a) => expected[at..at + 4].copy_from_slice(&a.octets()), IpAddr::V6(a) => expected[at..at + 16].copy_from_slice(&a.octets()) }
            fix_lengths_and_sums(&mut expected, proto);
            // Both are valid; they may differ only in 0x0000 vs 0xffff forms.
            let (h, t) = sums(&p);
            prop_assert!(valid(h) && valid(t));
            let norm = |x: &mut Vec<u8>| {
                let l4 = if v6 { 40 } else { 20 };
                let f = l4 + if proto == proto::TCP { 16 } else { 6 };
                if x[f..f + 2] == [0xff, 0xff] { x[f..f + 2].copy_from_slice(&[0, 0]); }
            };
            norm(&mut p);
            norm(&mut expected);
            prop_assert_eq!(p, expected);
        }
    }

    /// Sets the length fields and recomputes every checksum from scratch.
    fn fix_lengths_and_sums(p: &mut [u8], proto: u8) {
        let len = p.len();
        let l4 = if p[0] >> 4 == 4 {
            p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            p[10..12].copy_from_slice(&[0, 0]);
            let h = checksum::of(&p[..20]);
            p[10..12].copy_from_slice(&h.to_be_bytes());
            20
        } else {
            p[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
            40
        };
        if proto == proto::UDP {
            p[l4 + 4..l4 + 6].copy_from_slice(&((len - l4) as u16).to_be_bytes());
        }
        let f = l4
            + match proto {
                proto::TCP => 16,
                proto::UDP => 6,
                _ => 2,
            };
        p[f..f + 2].copy_from_slice(&[0, 0]);
        let sum = if proto == proto::ICMP {
            checksum::of(&p[l4..])
        } else if l4 == 20 {
            let mut pseudo = p[12..20].to_vec();
            pseudo.extend_from_slice(&[0, proto]);
            pseudo.extend_from_slice(&((len - l4) as u16).to_be_bytes());
            checksum::finish(checksum::add(checksum::add(0, &pseudo), &p[l4..]))
        } else {
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&p[8..24]).unwrap());
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&p[24..40]).unwrap());
            checksum::ipv6(src, dst, proto, &p[l4..])
        };
        p[f..f + 2].copy_from_slice(&sum.to_be_bytes());
    }
}
