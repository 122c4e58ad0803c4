//! The Internet checksum (RFC 1071) and the IPv6 pseudo-header sum.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Adds `data` as big-endian 16-bit words to `sum` (an odd last byte is
/// padded with zero).
pub(super) fn add(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds and complements a running sum.
pub(super) fn finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Checksum of `data` alone (IPv4 header, ICMP message).
pub(super) fn of(data: &[u8]) -> u16 {
    finish(add(0, data))
}

/// Checksum of an upper-layer `message` of protocol `next_header` carried
/// in IPv6 from `src` to `dst` (RFC 8200 8.1 pseudo-header).
pub(super) fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, message: &[u8]) -> u16 {
    let mut sum = add(0, &src.octets());
    sum = add(sum, &dst.octets());
    // The length is at most a u16 payload here: its upper half is zero.
    sum = add(sum, &(message.len() as u32).to_be_bytes());
    sum = add(sum, &[0, 0, 0, next_header]);
    finish(add(sum, message))
}

/// Checksum of an upper-layer `message` of protocol `proto` carried in
/// IPv4 from `src` to `dst` (RFC 768 pseudo-header).
pub(super) fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, message: &[u8]) -> u16 {
    let mut sum = add(0, &src.octets());
    sum = add(sum, &dst.octets());
    sum = add(sum, &[0, proto]);
    // The length is at most a u16 total length here.
    sum = add(sum, &(message.len() as u16).to_be_bytes());
    finish(add(sum, message))
}
