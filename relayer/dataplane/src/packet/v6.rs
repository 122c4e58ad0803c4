//! IPv6: flow identity through a bounded extension-header chain,
//! classification of link-scope control traffic, and ICMPv6 "packet too
//! big".

use std::net::Ipv6Addr;

use super::{Addrs, PacketError, PacketInfo, checksum, icmpv6, proto};

/// Fixed IPv6 header length.
const HEADER_LEN: usize = 40;
/// Extension headers read before giving up (bounded work per packet; a
/// normal stack sends at most a hop-by-hop and a fragment header).
pub const MAX_EXTENSION_HEADERS: usize = 8;
/// The minimum IPv6 MTU: an ICMPv6 error never exceeds it (RFC 4443 2.4 c).
const MIN_MTU: usize = 1280;

/// Extension header numbers (RFC 8200 4, RFC 4302).
mod ext {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const AUTH: u8 = 51;
    pub const DEST_OPTS: u8 = 60;
}

/// IPv6 traffic that belongs to the link between a workload and its TUN
/// and is never forwarded into the overlay. A Linux stack sends some of it
/// on every new interface (router solicitations, MLD reports); the data
/// path drops it with its own reason, not as malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Control {
    /// Neighbour discovery: router/neighbour solicitation or advertisement,
    /// redirect (the ICMPv6 type).
    NeighborDiscovery(u8),
    /// Multicast listener discovery: query, v1 report/done, v2 report (the
    /// ICMPv6 type).
    Mld(u8),
    /// Any other packet with an unspecified, link-local or multicast
    /// address: it cannot leave the link.
    LinkScope,
}

/// Where the upper-layer header of a packet starts.
pub(super) struct Upper {
    addrs: (Ipv6Addr, Ipv6Addr),
    /// Upper-layer protocol (after extension headers).
    pub(super) proto: u8,
    /// Its offset and the end of the payload.
    pub(super) at: usize,
    end: usize,
}

fn addr_at(p: &[u8], at: usize) -> Ipv6Addr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&p[at..at + 16]);
    Ipv6Addr::from(o)
}

/// Walks the fixed header and at most [`MAX_EXTENSION_HEADERS`] extension
/// headers (version already checked).
pub(super) fn walk(p: &[u8]) -> Result<Upper, PacketError> {
    if p.len() < HEADER_LEN {
        return Err(PacketError::Truncated);
    }
    // A zero payload length with a hop-by-hop header would be a jumbogram;
    // those never fit a TUN MTU, so the field must match the packet.
    let end = HEADER_LEN + usize::from(u16::from_be_bytes([p[4], p[5]]));
    if end > p.len() {
        return Err(PacketError::BadTotalLength);
    }
    let addrs = (addr_at(p, 8), addr_at(p, 24));
    let mut next = p[6];
    let mut at = HEADER_LEN;
    for _ in 0..=MAX_EXTENSION_HEADERS {
        let len = match next {
            ext::HOP_BY_HOP | ext::ROUTING | ext::DEST_OPTS => {
                let b = p.get(at..(at + 2).min(end)).filter(|b| b.len() == 2);
                b.map(|b| (usize::from(b[1]) + 1) * 8)
            }
            ext::AUTH => {
                let b = p.get(at..(at + 2).min(end)).filter(|b| b.len() == 2);
                b.map(|b| (usize::from(b[1]) + 2) * 4)
            }
            ext::FRAGMENT => {
                let b = p.get(at..(at + 8).min(end)).filter(|b| b.len() == 8);
                let b = b.ok_or(PacketError::Truncated)?;
                // Offset and "more fragments": only an atomic fragment
                // (RFC 6946) is a whole packet.
                if u16::from_be_bytes([b[2], b[3]]) & 0xfff9 != 0 {
                    return Err(PacketError::Fragment);
                }
                Some(8)
            }
            upper => {
                return Ok(Upper {
                    addrs,
                    proto: upper,
                    at,
                    end,
                });
            }
        };
        let len = len.ok_or(PacketError::Truncated)?;
        if at + len > end {
            return Err(PacketError::Truncated);
        }
        next = p[at];
        at += len;
    }
    Err(PacketError::TooManyExtensionHeaders)
}

/// Whether `a` cannot leave the link (unspecified, link-local, multicast).
fn link_scope(a: Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_unicast_link_local() || a.is_multicast()
}

/// Reads the flow identity of an IPv6 packet (version already checked).
pub(super) fn parse(p: &[u8]) -> Result<PacketInfo, PacketError> {
    let u = walk(p)?;
    let l4 = &p[u.at..u.end];
    let mut icmp_reply = false;
    let (sport, dport) = match u.proto {
        proto::TCP | proto::UDP => {
            if l4.len() < 4 {
                return Err(PacketError::Truncated);
            }
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            )
        }
        proto::ICMPV6 => {
            if l4.len() < 4 {
                return Err(PacketError::Truncated);
            }
            match l4[0] {
                icmpv6::ECHO_REQUEST | icmpv6::ECHO_REPLY => {
                    if l4.len() < 8 {
                        return Err(PacketError::Truncated);
                    }
                    icmp_reply = l4[0] == icmpv6::ECHO_REPLY;
                    let id = u16::from_be_bytes([l4[4], l4[5]]);
                    (id, id)
                }
                t @ (icmpv6::ROUTER_SOLICITATION..=icmpv6::REDIRECT) => {
                    return Err(PacketError::Ipv6Control(Ipv6Control::NeighborDiscovery(t)));
                }
                t @ (icmpv6::MLD_QUERY..=icmpv6::MLD_DONE | icmpv6::MLD2_REPORT) => {
                    return Err(PacketError::Ipv6Control(Ipv6Control::Mld(t)));
                }
                _ => (0, 0),
            }
        }
        _ => (0, 0),
    };
    let (src, dst) = u.addrs;
    if link_scope(src) || link_scope(dst) {
        return Err(PacketError::Ipv6Control(Ipv6Control::LinkScope));
    }
    Ok(PacketInfo {
        addrs: Addrs::V6 { src, dst },
        proto: u.proto,
        sport,
        dport,
        icmp_reply,
    })
}

/// Builds an ICMPv6 "packet too big" (RFC 4443 3.2) answering `original`
/// (sent by a local workload through the TUN) with `mtu`, from `from`,
/// quoting as much of `original` as fits the IPv6 minimum MTU. Returns
/// `None` when `original` is not a forwardable IPv6 packet, or is itself
/// an ICMPv6 error (never answered, RFC 4443 2.4 e).
pub fn packet_too_big(original: &[u8], from: Ipv6Addr, mtu: u32) -> Option<Vec<u8>> {
    let info = super::parse(original).ok()?;
    let Addrs::V6 { src, .. } = info.addrs else {
        return None;
    };
    if info.proto == proto::ICMPV6 {
        let u = walk(original).ok()?;
        if original[u.at] < icmpv6::ECHO_REQUEST {
            return None;
        }
    }
    let quoted = &original[..original.len().min(MIN_MTU - HEADER_LEN - 8)];
    let message_len = 8 + quoted.len();
    let mut p = vec![0u8; HEADER_LEN + message_len];
    p[0] = 0x60;
    p[4..6].copy_from_slice(&(message_len as u16).to_be_bytes());
    p[6] = proto::ICMPV6;
    p[7] = 64;
    p[8..24].copy_from_slice(&from.octets());
    p[24..40].copy_from_slice(&src.octets());
    let m = &mut p[HEADER_LEN..];
    m[0] = icmpv6::PACKET_TOO_BIG;
    m[4..8].copy_from_slice(&mtu.to_be_bytes());
    m[8..].copy_from_slice(quoted);
    let c = checksum::ipv6(from, src, proto::ICMPV6, m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    Some(p)
}

/// Test helpers building IPv6 packets.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    /// An IPv6 packet with `ext` (already encoded extension headers, the
    /// first of type `first`, or `None`) before an 8-byte upper-layer stub
    /// of protocol `proto`: ports for TCP/UDP, an echo request with
    /// identifier `sport` for ICMPv6.
    pub fn ipv6_with(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        ext: Option<(u8, &[u8])>,
        proto: u8,
        sport: u16,
        dport: u16,
    ) -> Vec<u8> {
        let ext_bytes = ext.map_or(&[][..], |e| e.1);
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((ext_bytes.len() + 8) as u16).to_be_bytes());
        p[6] = ext.map_or(proto, |e| e.0);
        p[7] = 64;
        p[8..24].copy_from_slice(&src.octets());
        p[24..40].copy_from_slice(&dst.octets());
        p.extend_from_slice(ext_bytes);
        let mut l4 = [0u8; 8];
        if proto == super::proto::ICMPV6 {
            l4[0] = icmpv6::ECHO_REQUEST;
            l4[4..6].copy_from_slice(&sport.to_be_bytes());
        } else {
            l4[0..2].copy_from_slice(&sport.to_be_bytes());
            l4[2..4].copy_from_slice(&dport.to_be_bytes());
        }
        p.extend_from_slice(&l4);
        p
    }

    /// An IPv6 packet without extension headers (see [`ipv6_with`]).
    pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        ipv6_with(src, dst, None, proto, sport, dport)
    }

    /// An ICMPv6 message of type `ty` (8 bytes, zero body).
    pub fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, ty: u8) -> Vec<u8> {
        let mut p = ipv6(src, dst, super::proto::ICMPV6, 0, 0);
        p[HEADER_LEN] = ty;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use proptest::prelude::*;

    const A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
    const B: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 3);
    const GW: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);

    fn control(p: &[u8]) -> Option<Ipv6Control> {
        match parse(p) {
            Err(PacketError::Ipv6Control(c)) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn parses_tcp_udp_echo() {
        let p = build::ipv6(A, B, proto::TCP, 1234, 80);
        assert_eq!(
            parse(&p),
            Ok(PacketInfo {
                addrs: Addrs::V6 { src: A, dst: B },
                proto: proto::TCP,
                sport: 1234,
                dport: 80,
                icmp_reply: false,
            })
        );
        let e = parse(&build::ipv6(A, B, proto::ICMPV6, 77, 0)).unwrap();
        assert_eq!((e.sport, e.dport, e.icmp_reply), (77, 77, false));
        let mut r = build::ipv6(B, A, proto::ICMPV6, 77, 0);
        r[HEADER_LEN] = icmpv6::ECHO_REPLY;
        let r = parse(&r).unwrap();
        assert_eq!((r.sport, r.dport, r.icmp_reply), (77, 77, true));
        // An ICMPv6 error is ICMP without identifier.
        let u = parse(&build::icmpv6(B, A, 1)).unwrap();
        assert_eq!((u.proto, u.sport, u.icmp_reply), (proto::ICMPV6, 0, false));
    }

    #[test]
    fn walks_extension_headers() {
        // Hop-by-hop (8 bytes, next = destination options), destination
        // options (16 bytes, next = UDP).
        let mut ext = vec![ext::DEST_OPTS, 0, 1, 4, 0, 0, 0, 0];
        ext.extend_from_slice(&[proto::UDP, 1, 1, 12]);
        ext.extend_from_slice(&[0; 12]);
        let p = build::ipv6_with(A, B, Some((ext::HOP_BY_HOP, &ext)), proto::UDP, 5, 53);
        let i = parse(&p).unwrap();
        assert_eq!((i.proto, i.sport, i.dport), (proto::UDP, 5, 53));
        // An atomic fragment is whole; a real fragment is refused.
        let frag = [proto::TCP, 0, 0, 0, 0, 0, 0, 9];
        let p = build::ipv6_with(A, B, Some((ext::FRAGMENT, &frag)), proto::TCP, 1, 2);
        assert_eq!(parse(&p).unwrap().dport, 2);
        for (hi, lo) in [(0, 1), (0, 8), (0x12, 0x30)] {
            let frag = [proto::TCP, 0, hi, lo, 0, 0, 0, 9];
            let p = build::ipv6_with(A, B, Some((ext::FRAGMENT, &frag)), proto::TCP, 1, 2);
            assert_eq!(parse(&p), Err(PacketError::Fragment));
        }
        // A header claiming more bytes than the payload.
        let p = build::ipv6_with(
            A,
            B,
            Some((ext::ROUTING, &[proto::TCP, 9])),
            proto::TCP,
            1,
            2,
        );
        assert_eq!(parse(&p), Err(PacketError::Truncated));
        // A chain longer than the bound.
        let chain: Vec<u8> = (0..=MAX_EXTENSION_HEADERS)
            .flat_map(|_| [ext::DEST_OPTS, 0, 0, 0, 0, 0, 0, 0])
            .collect();
        let p = build::ipv6_with(A, B, Some((ext::DEST_OPTS, &chain)), proto::TCP, 1, 2);
        assert_eq!(parse(&p), Err(PacketError::TooManyExtensionHeaders));
    }

    #[test]
    fn rejects_bad_packets() {
        let p = build::ipv6(A, B, proto::UDP, 1, 2);
        assert_eq!(parse(&p[..39]), Err(PacketError::Truncated));
        assert_eq!(parse(&p[..47]), Err(PacketError::BadTotalLength));
        let mut short = p.clone();
        short[5] = 2;
        assert_eq!(parse(&short[..42]), Err(PacketError::Truncated));
    }

    /// What Linux sends on a new interface, and other link traffic, is
    /// classified rather than malformed.
    #[test]
    fn link_control_is_classified() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let all_routers: Ipv6Addr = "ff02::2".parse().unwrap();
        let mld2: Ipv6Addr = "ff02::16".parse().unwrap();
        use Ipv6Control::*;
        for (p, want) in [
            (build::icmpv6(ll, all_routers, 133), NeighborDiscovery(133)),
            (build::icmpv6(ll, all_routers, 134), NeighborDiscovery(134)),
            (
                build::icmpv6(
                    Ipv6Addr::UNSPECIFIED,
                    "ff02::1:ff00:2".parse().unwrap(),
                    135,
                ),
                NeighborDiscovery(135),
            ),
            (build::icmpv6(A, B, 136), NeighborDiscovery(136)),
            (build::icmpv6(ll, ll, 137), NeighborDiscovery(137)),
            (build::icmpv6(ll, mld2, 130), Mld(130)),
            (build::icmpv6(ll, mld2, 131), Mld(131)),
            (build::icmpv6(ll, mld2, 132), Mld(132)),
            (build::icmpv6(ll, mld2, 143), Mld(143)),
            (build::ipv6(ll, B, proto::UDP, 1, 2), LinkScope),
            (build::ipv6(A, mld2, proto::UDP, 1, 2), LinkScope),
            (build::ipv6(A, ll, proto::ICMPV6, 1, 0), LinkScope),
        ] {
            assert_eq!(control(&p), Some(want), "{want:?}");
        }
        // MLDv2 report as Linux sends it: hop-by-hop with router alert.
        let hbh = [proto::ICMPV6, 0, 5, 2, 0, 0, 1, 0];
        let mut p = build::ipv6_with(ll, mld2, Some((ext::HOP_BY_HOP, &hbh)), proto::ICMPV6, 0, 0);
        p[HEADER_LEN + 8] = icmpv6::MLD2_REPORT;
        assert_eq!(control(&p), Some(Mld(143)));
    }

    #[test]
    fn packet_too_big_is_valid_icmpv6() {
        let mut original = build::ipv6(A, B, proto::UDP, 1234, 53);
        original.resize(1500, 7);
        original[4..6].copy_from_slice(&1460u16.to_be_bytes());
        let r = packet_too_big(&original, GW, 1400).unwrap();
        assert_eq!(r.len(), MIN_MTU);
        let info = parse(&r).unwrap();
        assert_eq!(
            (info.addrs, info.proto),
            (Addrs::V6 { src: GW, dst: A }, proto::ICMPV6)
        );
        assert_eq!(r[HEADER_LEN], icmpv6::PACKET_TOO_BIG);
        assert_eq!(checksum::ipv6(GW, A, proto::ICMPV6, &r[HEADER_LEN..]), 0);
        assert_eq!(&r[HEADER_LEN + 4..HEADER_LEN + 8], &1400u32.to_be_bytes());
        assert_eq!(&r[HEADER_LEN + 8..], &original[..MIN_MTU - 48]);
        // Never about an ICMPv6 error, nor an IPv4 packet.
        assert_eq!(packet_too_big(&build::icmpv6(A, B, 1), GW, 1400), None);
        let v4 = super::super::build::ipv4(
            "100.64.0.2".parse().unwrap(),
            "100.64.0.3".parse().unwrap(),
            proto::UDP,
            1,
            2,
        );
        assert_eq!(packet_too_big(&v4, GW, 1400), None);
        assert!(packet_too_big(&build::ipv6(A, B, proto::ICMPV6, 1, 0), GW, 1400).is_some());
    }

    proptest! {
        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..200), ext_first in any::<bool>()) {
            let mut buf = buf;
            if let Some(b) = buf.first_mut() {
                *b = 0x60 | (*b & 0x0f);
            }
            if ext_first && buf.len() > 6 {
                buf[6] = [ext::HOP_BY_HOP, ext::FRAGMENT, ext::DEST_OPTS, ext::AUTH][buf[6] as usize % 4];
            }
            let _ = parse(&buf);
            let _ = packet_too_big(&buf, GW, 1400);
        }

        #[test]
        fn parse_round_trip(src in any::<u128>(), dst in any::<u128>(), sport in any::<u16>(), dport in any::<u16>(), udp in any::<bool>()) {
            // Unique local addresses (fd00::/8): never link scope.
            let ula = |a: u128| Ipv6Addr::from(a & !(0xffu128 << 120) | 0xfdu128 << 120);
            let (src, dst) = (ula(src), ula(dst));
            let proto = if udp { proto::UDP } else { proto::TCP };
            let p = build::ipv6(src, dst, proto, sport, dport);
            let addrs = Addrs::V6 { src, dst };
            prop_assert_eq!(parse(&p).unwrap(), PacketInfo { addrs, proto, sport, dport, icmp_reply: false });
        }
    }
}
