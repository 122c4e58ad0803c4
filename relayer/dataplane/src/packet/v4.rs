//! IPv4: flow identity and ICMP "fragmentation needed".

use std::net::Ipv4Addr;

use super::{Addrs, PacketError, PacketInfo, checksum, icmp, proto};

/// Reads the flow identity of an IPv4 packet (version already checked).
pub(super) fn parse(p: &[u8]) -> Result<PacketInfo, PacketError> {
    if p.len() < 20 {
        return Err(PacketError::Truncated);
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    if ihl < 20 || ihl > p.len() {
        return Err(PacketError::BadHeaderLength);
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if total < ihl || total > p.len() {
        return Err(PacketError::BadTotalLength);
    }
    let frag_offset = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
    if frag_offset != 0 {
        return Err(PacketError::Fragment);
    }
    let proto = p[9];
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let l4 = &p[ihl..total];
    let mut icmp_reply = false;
    let (sport, dport) = match proto {
        proto::TCP | proto::UDP => {
            if l4.len() < 4 {
                return Err(PacketError::Truncated);
            }
            (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            )
        }
        proto::ICMP => {
            if l4.len() < 8 {
                return Err(PacketError::Truncated);
            }
            // Echo request (8) / reply (0): the identifier ties a reply to
            // its request, so it serves as both "ports" of the flow; the
            // type says which way.
            icmp_reply = l4[0] == icmp::ECHO_REPLY;
            if l4[0] == icmp::ECHO_REQUEST || icmp_reply {
                let id = u16::from_be_bytes([l4[4], l4[5]]);
                (id, id)
            } else {
                (0, 0)
            }
        }
        _ => (0, 0),
    };
    Ok(PacketInfo {
        addrs: Addrs::V4 { src, dst },
        proto,
        sport,
        dport,
        icmp_reply,
    })
}

/// Builds an ICMP "destination unreachable / fragmentation needed" reply to
/// `original` (sent by a local workload through the TUN) announcing
/// `next_hop_mtu`, with `from` as source. Returns `None` when `original`
/// is not an IPv4 packet with DF set (only those get the signal).
pub fn frag_needed(original: &[u8], from: Ipv4Addr, next_hop_mtu: u16) -> Option<Vec<u8>> {
    let info = super::parse(original).ok()?;
    let Addrs::V4 { src, .. } = info.addrs else {
        return None;
    };
    let df = original[6] & 0x40 != 0;
    if !df {
        return None;
    }
    let ihl = usize::from(original[0] & 0x0f) * 4;
    let quoted = &original[..original.len().min(ihl + 8)];
    let total = 20 + 8 + quoted.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = proto::ICMP;
    p[12..16].copy_from_slice(&from.octets());
    p[16..20].copy_from_slice(&src.octets());
    let c = checksum::of(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = 3; // destination unreachable
    p[21] = 4; // fragmentation needed and DF set
    p[26..28].copy_from_slice(&next_hop_mtu.to_be_bytes());
    p[28..].copy_from_slice(quoted);
    let c = checksum::of(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    Some(p)
}

/// Test helpers building IPv4 packets.
#[cfg(test)]
pub(crate) mod build {
    use super::*;

    /// A minimal IPv4 packet with a TCP/UDP/ICMP header stub.
    pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, sport: u16, dport: u16) -> Vec<u8> {
        let l4_len = 8;
        let total = 20 + l4_len;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = proto;
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&dst.octets());
        if proto == super::proto::ICMP {
            p[20] = icmp::ECHO_REQUEST;
            p[24..26].copy_from_slice(&sport.to_be_bytes());
        } else {
            p[20..22].copy_from_slice(&sport.to_be_bytes());
            p[22..24].copy_from_slice(&dport.to_be_bytes());
        }
        p
    }

    /// An ICMP echo reply with identifier `id`.
    pub fn echo_reply(src: Ipv4Addr, dst: Ipv4Addr, id: u16) -> Vec<u8> {
        let mut p = ipv4(src, dst, super::proto::ICMP, id, id);
        p[20] = icmp::ECHO_REPLY;
        p
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use proptest::prelude::*;

    const A: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 3);
    const AB: Addrs = Addrs::V4 { src: A, dst: B };

    #[test]
    fn parses_tcp_udp_icmp() {
        let p = build::ipv4(A, B, proto::TCP, 1234, 80);
        assert_eq!(
            parse(&p),
            Ok(PacketInfo {
                addrs: AB,
                proto: 6,
                sport: 1234,
                dport: 80,
                icmp_reply: false,
            })
        );
        let p = build::ipv4(A, B, proto::ICMP, 77, 0);
        assert_eq!(parse(&p).unwrap().dport, 77);
        assert_eq!(parse(&p).unwrap().sport, 77);
        assert!(!parse(&p).unwrap().icmp_reply);
        let r = parse(&build::echo_reply(B, A, 77)).unwrap();
        assert_eq!((r.sport, r.dport, r.icmp_reply), (77, 77, true));
        // Other ICMP (here: destination unreachable) is neither.
        let mut u = build::ipv4(B, A, proto::ICMP, 77, 0);
        u[20] = 3;
        let u = parse(&u).unwrap();
        assert_eq!((u.sport, u.dport, u.icmp_reply), (0, 0, false));
    }

    #[test]
    fn rejects_bad_packets() {
        let mut p = build::ipv4(A, B, proto::UDP, 1, 2);
        assert_eq!(parse(&p[..19]), Err(PacketError::Truncated));
        assert_eq!(parse(&[]), Err(PacketError::Truncated));
        p[0] = 0x55;
        assert_eq!(parse(&p), Err(PacketError::UnknownVersion(5)));
        p[0] = 0x44;
        assert_eq!(parse(&p), Err(PacketError::BadHeaderLength));
        p[0] = 0x45;
        p[3] = 200;
        assert_eq!(parse(&p), Err(PacketError::BadTotalLength));
        p[3] = 28;
        p[7] = 1;
        assert_eq!(parse(&p), Err(PacketError::Fragment));
    }

    #[test]
    fn frag_needed_is_valid_icmp() {
        let p = build::ipv4(A, B, proto::TCP, 1234, 80);
        let gw = Ipv4Addr::new(100, 64, 0, 1);
        let r = frag_needed(&p, gw, 1400).unwrap();
        let info = parse(&r).unwrap();
        assert_eq!(
            (info.addrs, info.proto),
            (Addrs::V4 { src: gw, dst: A }, proto::ICMP)
        );
        assert_eq!(checksum::of(&r[..20]), 0);
        assert_eq!(checksum::of(&r[20..]), 0);
        assert_eq!(u16::from_be_bytes([r[26], r[27]]), 1400);
    }

    proptest! {
        #[test]
        fn parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&buf);
            let _ = frag_needed(&buf, A, 1400);
        }

        #[test]
        fn parse_round_trip(src in any::<u32>(), dst in any::<u32>(), sport in any::<u16>(), dport in any::<u16>(), udp in any::<bool>()) {
            let proto = if udp { proto::UDP } else { proto::TCP };
            let p = build::ipv4(Ipv4Addr::from(src), Ipv4Addr::from(dst), proto, sport, dport);
            let addrs = Addrs::V4 { src: src.into(), dst: dst.into() };
            prop_assert_eq!(parse(&p).unwrap(), PacketInfo { addrs, proto, sport, dport, icmp_reply: false });
        }
    }
}
