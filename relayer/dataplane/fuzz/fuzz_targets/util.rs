//! Helpers shared by the offload targets (`gso_split`, `gro`): an
//! independent Internet checksum and the pseudo-header sum, so the targets
//! check tun-rs against code that is not its own.
#![allow(dead_code)]

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;

pub fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// RFC 1071 sum of `b` (odd tail padded with zero) added to `sum`, unfolded.
pub fn sum(b: &[u8], mut sum: u64) -> u64 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        sum += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

pub fn fold(mut sum: u64) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The pseudo-header sum of an IPv4 or IPv6 packet `p` for a transport
/// segment of `len` bytes.
pub fn pseudo(p: &[u8], is_v6: bool, proto: u8, len: u16) -> u64 {
    let addrs = if is_v6 { &p[8..40] } else { &p[12..20] };
    sum(addrs, u64::from(proto) + u64::from(len))
}

/// The checksum to store in a header whose checksum field is zero.
pub fn csum(b: &[u8], initial: u64) -> u16 {
    !fold(sum(b, initial))
}

/// Whether the bytes, checksum field included, verify.
pub fn verifies(b: &[u8], initial: u64) -> bool {
    fold(sum(b, initial)) == 0xffff
}

/// Header lengths of a packet that is plain IPv4 (no options) or IPv6
/// (no extension headers) carrying TCP or UDP, as GRO sees it:
/// (is_v6, proto, ip header length, ip + transport header length).
pub fn l4_headers(p: &[u8]) -> Option<(bool, u8, usize, usize)> {
    let (is_v6, proto, iph) = match p.first()? >> 4 {
        4 if p.len() >= 20 && p[0] & 0x0f == 5 => (false, p[9], 20),
        6 if p.len() >= 40 => (true, p[6], 40),
        _ => return None,
    };
    let th = match proto {
        TCP if p.len() >= iph + 20 => usize::from(p[iph + 12] >> 4) * 4,
        UDP => 8,
        _ => return None,
    };
    (p.len() >= iph + th && th >= 8).then_some((is_v6, proto, iph, iph + th))
}
