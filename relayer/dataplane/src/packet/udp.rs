//! UDP datagrams the relayer itself answers (DNS on the gateway address):
//! reading a query's payload and building the answering packet.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Addrs, checksum, proto};

/// UDP header length.
const UDP_HEADER: usize = 8;

/// The payload of the UDP datagram in `pkt`, an IP packet already
/// checked by [`super::parse`] to be UDP (IPv6: only a UDP header right
/// after the fixed header is read; extension headers give `None`).
pub fn payload(pkt: &[u8]) -> Option<&[u8]> {
    let (at, end) = match pkt.first()? >> 4 {
        4 => {
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            (
                ihl,
                usize::from(u16::from_be_bytes([*pkt.get(2)?, *pkt.get(3)?])),
            )
        }
        6 if pkt.get(6) == Some(&proto::UDP) => {
            let len = u16::from_be_bytes([*pkt.get(4)?, *pkt.get(5)?]);
            (40, 40 + usize::from(len))
        }
        _ => return None,
    };
    let udp = pkt.get(at..end.min(pkt.len()))?;
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    udp.get(UDP_HEADER..len)
}

/// An IP packet (of the family of `addrs`) carrying one UDP datagram from
/// `addrs.src():sport` to `addrs.dst():dport` with `payload`, checksums
/// set. `payload` must fit a UDP datagram (callers bound it far below).
pub fn datagram(addrs: Addrs, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = UDP_HEADER + payload.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let (mut p, c) = match addrs {
        Addrs::V4 { src, dst } => (
            ipv4_header(src, dst, udp_len),
            checksum::ipv4(src, dst, proto::UDP, &udp),
        ),
        Addrs::V6 { src, dst } => (
            ipv6_header(src, dst, udp_len),
            checksum::ipv6(src, dst, proto::UDP, &udp),
        ),
    };
    // A computed zero is sent as all ones (zero means "no checksum").
    let c = if c == 0 { 0xffff } else { c };
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&udp);
    p
}

fn ipv4_header(src: Ipv4Addr, dst: Ipv4Addr, udp_len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(20 + udp_len);
    h.extend_from_slice(&[0x45, 0]);
    h.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, 64, proto::UDP, 0, 0]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    let c = checksum::of(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

fn ipv6_header(src: Ipv6Addr, dst: Ipv6Addr, udp_len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(40 + udp_len);
    h.extend_from_slice(&[0x60, 0, 0, 0]);
    h.extend_from_slice(&(udp_len as u16).to_be_bytes());
    h.extend_from_slice(&[proto::UDP, 64]);
    h.extend_from_slice(&src.octets());
    h.extend_from_slice(&dst.octets());
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::parse;

    #[test]
    fn datagrams_round_trip_with_valid_checksums() {
        let v4 = Addrs::V4 {
            src: Ipv4Addr::new(100, 64, 0, 1),
            dst: Ipv4Addr::new(100, 64, 0, 2),
        };
        let v6 = Addrs::V6 {
            src: "fd00:1::1".parse().unwrap(),
            dst: "fd00:1::2".parse().unwrap(),
        };
        for (addrs, ip_len) in [(v4, 20), (v6, 40)] {
            let p = datagram(addrs, 53, 4000, b"hello");
            let info = parse(&p).unwrap();
            assert_eq!((info.addrs, info.sport, info.dport), (addrs, 53, 4000));
            assert_eq!(payload(&p), Some(&b"hello"[..]));
            let udp = &p[ip_len..];
            let c = match addrs {
                Addrs::V4 { src, dst } => {
                    assert_eq!(checksum::of(&p[..20]), 0);
                    checksum::ipv4(src, dst, proto::UDP, udp)
                }
                Addrs::V6 { src, dst } => checksum::ipv6(src, dst, proto::UDP, udp),
            };
            assert_eq!(c, 0, "{addrs:?}");
        }
    }

    #[test]
    fn bad_lengths_have_no_payload() {
        let mut p = datagram(
            Addrs::V4 {
                src: Ipv4Addr::LOCALHOST,
                dst: Ipv4Addr::LOCALHOST,
            },
            1,
            53,
            b"q",
        );
        p[25] = 200;
        assert_eq!(payload(&p), None);
        p[25] = 3;
        assert_eq!(payload(&p), None);
        assert_eq!(payload(&[0x60; 30]), None);
    }
}
