//! The few IPv4 header fields the data path needs (addresses, protocol,
//! ports), read without copying, and ICMP "fragmentation needed" replies.
//!
//! Only IPv4 is carried (networks are IPv4). Non-first fragments carry no
//! ports and cannot be checked by the firewall; they are refused with
//! [`PacketError::Fragment`] (workloads see the TUN MTU, so TCP never
//! fragments and UDP applications larger than the MTU must use PMTU).

use std::net::Ipv4Addr;

/// IP protocol numbers the firewall distinguishes.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
}

/// ICMP types the data path distinguishes.
pub mod icmp {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
}

/// Parsed view of an IPv4 packet's flow identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub proto: u8,
    /// Source port (TCP/UDP); ICMP echo identifier; otherwise 0.
    pub sport: u16,
    /// Destination port (TCP/UDP); ICMP echo identifier; otherwise 0.
    pub dport: u16,
    /// An ICMP echo reply (type 0). The firewall lets it pass only as the
    /// answer to an echo request it allowed, and never lets a request
    /// through on the state of a reply (see [`crate::policy::FlowKey`]).
    pub icmp_reply: bool,
}

/// Why a packet is not a well-formed, checkable IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than its headers.
    #[error("truncated packet")]
    Truncated,
    /// Not IPv4.
    #[error("IP version {0} is not carried")]
    NotIpv4(u8),
    /// Header length field below 20 bytes or past the packet.
    #[error("bad IPv4 header length")]
    BadHeaderLength,
    /// Total length field disagrees with the packet.
    #[error("bad IPv4 total length")]
    BadTotalLength,
    /// A non-first fragment (no ports to check).
    #[error("non-first fragment")]
    Fragment,
}

/// Reads the flow identity of an IPv4 packet.
pub fn parse(p: &[u8]) -> Result<PacketInfo, PacketError> {
    if p.len() < 20 {
        return Err(PacketError::Truncated);
    }
    let version = p[0] >> 4;
    if version != 4 {
        return Err(PacketError::NotIpv4(version));
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
        src,
        dst,
        proto,
        sport,
        dport,
        icmp_reply,
    })
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Builds an ICMP "destination unreachable / fragmentation needed" reply to
/// `original` (sent by a local workload through the TUN) announcing
/// `next_hop_mtu`, with `from` as source. Returns `None` when `original`
/// is not an IPv4 packet with DF set (only those get the signal).
pub fn frag_needed(original: &[u8], from: Ipv4Addr, next_hop_mtu: u16) -> Option<Vec<u8>> {
    let info = parse(original).ok()?;
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
    p[16..20].copy_from_slice(&info.src.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = 3; // destination unreachable
    p[21] = 4; // fragmentation needed and DF set
    p[26..28].copy_from_slice(&next_hop_mtu.to_be_bytes());
    p[28..].copy_from_slice(quoted);
    let c = checksum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    Some(p)
}

/// Test helpers building packets.
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
    use super::*;
    use proptest::prelude::*;

    const A: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 3);

    #[test]
    fn parses_tcp_udp_icmp() {
        let p = build::ipv4(A, B, proto::TCP, 1234, 80);
        assert_eq!(
            parse(&p),
            Ok(PacketInfo {
                src: A,
                dst: B,
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
        p[0] = 0x65;
        assert_eq!(parse(&p), Err(PacketError::NotIpv4(6)));
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
        assert_eq!((info.src, info.dst, info.proto), (gw, A, proto::ICMP));
        assert_eq!(checksum(&r[..20]), 0);
        assert_eq!(checksum(&r[20..]), 0);
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
            prop_assert_eq!(parse(&p).unwrap(), PacketInfo { src: src.into(), dst: dst.into(), proto, sport, dport, icmp_reply: false });
        }
    }
}
