//! Wire protocol v1 between two relayers, inside one QUIC connection
//! (ALPN `avpn/2`). All integers are big-endian.
//!
//! # Datagram frame: one IP packet
//!
//! The plaintext of a sealed datagram ([`crate::sealed`]) beside the
//! connection; the payload of a QUIC DATAGRAM frame is taken alike.
//!
//! ```text
//! offset size field
//!      0    1 version      = 1
//!      1    1 kind         = 0 (IP packet)
//!      2    8 network id   (u64, the network-registry id)
//!     10    n IP packet    (IPv4 or IPv6, complete, starting at the IP
//!                          header)
//! ```
//!
//! # Padding datagram (QUIC DATAGRAM payload): nothing
//!
//! ```text
//! offset size field
//!      0    1 version      = 1
//!      1    1 kind         = 3 (padding)
//!      2    n zeros
//! ```
//!
//! Sent as large as the packets it stands for, every 100 ms while
//! full-size packets flow to a peer (`datapath.rs`), so that QUIC's
//! path-MTU discovery sees the path's limit; the receiver discards it.
//!
//! # Stream header (first bytes of a bidirectional QUIC stream opened by
//! the relayer of the connecting side): one forwarded TCP connection
//!
//! ```text
//! offset size field
//!      0    1 version      = 1
//!      1    1 kind         = 1 (TCP forward)
//!      2    8 network id
//!     10    4 source IPv4 (overlay address of the connecting member)
//!     14    2 source port
//!     16    4 destination IPv4 (overlay address of the target member)
//!     20    2 destination port
//! ```
//!
//! A forward between IPv6 overlay addresses has kind 2 and 16-byte
//! addresses (a relayer that predates it answers nothing but a reset):
//!
//! ```text
//! offset size field
//!      0    1 version      = 1
//!      1    1 kind         = 2 (TCP forward over IPv6)
//!      2    8 network id
//!     10   16 source IPv6
//!     26    2 source port
//!     28   16 destination IPv6
//!     44    2 destination port
//! ```
//!
//! The accepting relayer answers on the same stream with a 2-byte reply
//! before any payload:
//!
//! ```text
//!      0    1 version      = 1
//!      1    1 status       0 connected, 1 refused by policy, 2 no such
//!                          member here, 3 nothing listens at the port,
//!                          4 source not hosted by the sender, 5 the
//!                          destination member has too many forwards open
//!                          (busy, try later)
//! ```
//!
//! After a `connected` reply both directions carry the raw TCP byte stream;
//! closing a direction finishes the QUIC stream in that direction.
//!
//! A receiver treats every byte as hostile: decoders return a typed
//! [`WireError`] and never panic.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use avpn_model::NetworkId;

/// Protocol version carried in every frame and header.
pub const VERSION: u8 = 1;
/// Length of the datagram frame header preceding the IP packet.
pub const DATAGRAM_HEADER_LEN: usize = 10;
/// Length of the stream header between IPv4 addresses, and the prefix of
/// every stream header a receiver reads before it knows the kind.
pub const STREAM_HEADER_LEN: usize = 22;
/// Length of the stream header between IPv6 addresses.
pub const STREAM_HEADER6_LEN: usize = 46;
/// Length of the stream reply.
pub const STREAM_REPLY_LEN: usize = 2;

const KIND_IP_PACKET: u8 = 0;
const KIND_TCP_FORWARD: u8 = 1;
const KIND_TCP_FORWARD6: u8 = 2;
const KIND_PADDING: u8 = 3;

/// Why bytes from a peer could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the fixed header needs.
    #[error("truncated: need {need} bytes, got {got}")]
    Truncated {
        /// Bytes required.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// A version this relayer does not speak.
    #[error("unsupported wire version {0}")]
    UnsupportedVersion(u8),
    /// A frame kind that is not valid at this place.
    #[error("unexpected frame kind {0}")]
    UnexpectedKind(u8),
    /// A reply status outside the defined set.
    #[error("unknown reply status {0}")]
    UnknownStatus(u8),
}

fn check_prefix(buf: &[u8], need: usize, kind: u8) -> Result<(), WireError> {
    if buf.len() < need {
        return Err(WireError::Truncated {
            need,
            got: buf.len(),
        });
    }
    if buf[0] != VERSION {
        return Err(WireError::UnsupportedVersion(buf[0]));
    }
    if buf[1] != kind {
        return Err(WireError::UnexpectedKind(buf[1]));
    }
    Ok(())
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_be_bytes(b)
}

fn addr_at(buf: &[u8], at: usize) -> SocketAddr {
    let ip = Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]);
    SocketAddrV4::new(ip, u16::from_be_bytes([buf[at + 4], buf[at + 5]])).into()
}

fn addr6_at(buf: &[u8], at: usize) -> SocketAddr {
    let mut o = [0u8; 16];
    o.copy_from_slice(&buf[at..at + 16]);
    let port = u16::from_be_bytes([buf[at + 16], buf[at + 17]]);
    SocketAddrV6::new(Ipv6Addr::from(o), port, 0, 0).into()
}

/// Writes the datagram header for `network` into the first
/// [`DATAGRAM_HEADER_LEN`] bytes of `out` (the caller reserves that
/// headroom in front of the packet, so no copy is needed).
pub fn write_datagram_header(out: &mut [u8; DATAGRAM_HEADER_LEN], network: NetworkId) {
    out[0] = VERSION;
    out[1] = KIND_IP_PACKET;
    out[2..10].copy_from_slice(&network.to_be_bytes());
}

/// Encodes a complete datagram frame (header + packet).
pub fn encode_datagram(network: NetworkId, packet: &[u8]) -> Vec<u8> {
    let mut header = [0u8; DATAGRAM_HEADER_LEN];
    write_datagram_header(&mut header, network);
    let mut v = Vec::with_capacity(DATAGRAM_HEADER_LEN + packet.len());
    v.extend_from_slice(&header);
    v.extend_from_slice(packet);
    v
}

/// A padding datagram of `len` bytes (at least 2).
pub fn padding(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len.max(2)];
    v[0] = VERSION;
    v[1] = KIND_PADDING;
    v
}

/// Whether `buf` is a padding datagram.
pub fn is_padding(buf: &[u8]) -> bool {
    buf.len() >= 2 && buf[0] == VERSION && buf[1] == KIND_PADDING
}

/// Splits a datagram frame into its network id and the IP packet.
pub fn decode_datagram(buf: &[u8]) -> Result<(NetworkId, &[u8]), WireError> {
    check_prefix(buf, DATAGRAM_HEADER_LEN, KIND_IP_PACKET)?;
    Ok((u64_at(buf, 2), &buf[DATAGRAM_HEADER_LEN..]))
}

/// Header of a forwarded TCP connection: its two ends are of one address
/// family (built only through [`StreamHeader::new`] and `decode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader {
    network: NetworkId,
    source: SocketAddr,
    destination: SocketAddr,
}

/// What the wire carries of an address: IPv6 flow labels and scopes are
/// not sent.
fn plain(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(a) => SocketAddrV6::new(*a.ip(), a.port(), 0, 0).into(),
        v4 => v4,
    }
}

impl StreamHeader {
    /// A header; `None` when the two addresses are of different families.
    pub fn new(network: NetworkId, source: SocketAddr, destination: SocketAddr) -> Option<Self> {
        (source.is_ipv4() == destination.is_ipv4()).then_some(StreamHeader {
            network,
            source: plain(source),
            destination: plain(destination),
        })
    }

    /// Network the connection belongs to.
    pub fn network(&self) -> NetworkId {
        self.network
    }

    /// Overlay address and port of the connecting member.
    pub fn source(&self) -> SocketAddr {
        self.source
    }

    /// Overlay address and port of the target member.
    pub fn destination(&self) -> SocketAddr {
        self.destination
    }

    /// Encodes the header (kind 1 for IPv4, kind 2 for IPv6 ends).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STREAM_HEADER6_LEN);
        out.push(VERSION);
        out.push(if self.source.is_ipv4() {
            KIND_TCP_FORWARD
        } else {
            KIND_TCP_FORWARD6
        });
        out.extend_from_slice(&self.network.to_be_bytes());
        for a in [self.source, self.destination] {
            match a {
                SocketAddr::V4(a) => out.extend_from_slice(&a.ip().octets()),
                SocketAddr::V6(a) => out.extend_from_slice(&a.ip().octets()),
            }
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        out
    }

    /// Length of the header whose first [`STREAM_HEADER_LEN`] bytes are
    /// `prefix` (at least that; the kind decides the rest).
    pub fn encoded_len(prefix: &[u8]) -> usize {
        match prefix.get(1) {
            Some(&KIND_TCP_FORWARD6) => STREAM_HEADER6_LEN,
            _ => STREAM_HEADER_LEN,
        }
    }

    /// Decodes a header from the start of `buf` (extra bytes are ignored).
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        if buf.get(1) == Some(&KIND_TCP_FORWARD6) {
            check_prefix(buf, STREAM_HEADER6_LEN, KIND_TCP_FORWARD6)?;
            return Ok(StreamHeader {
                network: u64_at(buf, 2),
                source: addr6_at(buf, 10),
                destination: addr6_at(buf, 28),
            });
        }
        check_prefix(buf, STREAM_HEADER_LEN, KIND_TCP_FORWARD)?;
        Ok(StreamHeader {
            network: u64_at(buf, 2),
            source: addr_at(buf, 10),
            destination: addr_at(buf, 16),
        })
    }
}

/// Answer of the accepting relayer to a [`StreamHeader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// The target accepted; payload follows.
    Connected,
    /// The firewall refused the flow.
    Refused,
    /// The destination is not a member attached at this relayer.
    NoSuchMember,
    /// Nothing accepted the connection at the destination port.
    ConnectFailed,
    /// The source address is not a member hosted by the sending provider.
    SpoofedSource,
    /// The destination member has reached its cap of concurrent forwards
    /// ([`crate::limits::MAX_FORWARDS_PER_MEMBER`]).
    Busy,
}

impl StreamStatus {
    fn code(self) -> u8 {
        match self {
            StreamStatus::Connected => 0,
            StreamStatus::Refused => 1,
            StreamStatus::NoSuchMember => 2,
            StreamStatus::ConnectFailed => 3,
            StreamStatus::SpoofedSource => 4,
            StreamStatus::Busy => 5,
        }
    }

    /// Encodes the reply.
    pub fn encode(self) -> [u8; STREAM_REPLY_LEN] {
        [VERSION, self.code()]
    }

    /// Decodes a reply.
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        if buf.len() < STREAM_REPLY_LEN {
            return Err(WireError::Truncated {
                need: STREAM_REPLY_LEN,
                got: buf.len(),
            });
        }
        if buf[0] != VERSION {
            return Err(WireError::UnsupportedVersion(buf[0]));
        }
        Ok(match buf[1] {
            0 => StreamStatus::Connected,
            1 => StreamStatus::Refused,
            2 => StreamStatus::NoSuchMember,
            3 => StreamStatus::ConnectFailed,
            4 => StreamStatus::SpoofedSource,
            5 => StreamStatus::Busy,
            s => return Err(WireError::UnknownStatus(s)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn addr() -> impl Strategy<Value = SocketAddr> {
        (any::<u32>(), any::<u16>())
            .prop_map(|(ip, p)| SocketAddrV4::new(Ipv4Addr::from(ip), p).into())
    }

    fn addr6() -> impl Strategy<Value = SocketAddr> {
        (any::<u128>(), any::<u16>(), any::<u32>())
            .prop_map(|(ip, p, scope)| SocketAddrV6::new(Ipv6Addr::from(ip), p, 0, scope).into())
    }

    proptest! {
        #[test]
        fn datagram_round_trip(network in any::<u64>(), packet in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let frame = encode_datagram(network, &packet);
            prop_assert_eq!(frame.len(), DATAGRAM_HEADER_LEN + packet.len());
            let (n, p) = decode_datagram(&frame).unwrap();
            prop_assert_eq!(n, network);
            prop_assert_eq!(p, &packet[..]);
        }

        #[test]
        fn stream_header_round_trip(network in any::<u64>(), source in addr(), destination in addr()) {
            let h = StreamHeader::new(network, source, destination).unwrap();
            let b = h.encode();
            prop_assert_eq!(b.len(), STREAM_HEADER_LEN);
            prop_assert_eq!(StreamHeader::encoded_len(&b[..STREAM_HEADER_LEN]), b.len());
            prop_assert_eq!(StreamHeader::decode(&b).unwrap(), h);
        }

        #[test]
        fn stream_header6_round_trip(network in any::<u64>(), source in addr6(), destination in addr6(), v4 in addr()) {
            let h = StreamHeader::new(network, source, destination).unwrap();
            let b = h.encode();
            prop_assert_eq!(b.len(), STREAM_HEADER6_LEN);
            prop_assert_eq!(StreamHeader::encoded_len(&b[..STREAM_HEADER_LEN]), b.len());
            let d = StreamHeader::decode(&b).unwrap();
            prop_assert_eq!(d, h);
            prop_assert_eq!(d.source().ip(), source.ip());
            // Mixed families are not a header.
            prop_assert_eq!(StreamHeader::new(network, source, v4), None);
            prop_assert_eq!(StreamHeader::new(network, v4, destination), None);
            for cut in 0..b.len() {
                prop_assert!(StreamHeader::decode(&b[..cut]).is_err());
            }
        }

        #[test]
        fn decoders_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_datagram(&buf);
            let _ = StreamHeader::decode(&buf);
            let _ = StreamStatus::decode(&buf);
        }
    }

    #[test]
    fn status_round_trip() {
        for s in [
            StreamStatus::Connected,
            StreamStatus::Refused,
            StreamStatus::NoSuchMember,
            StreamStatus::ConnectFailed,
            StreamStatus::SpoofedSource,
            StreamStatus::Busy,
        ] {
            assert_eq!(StreamStatus::decode(&s.encode()), Ok(s));
        }
        assert_eq!(
            StreamStatus::decode(&[1, 9]),
            Err(WireError::UnknownStatus(9))
        );
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            decode_datagram(&[1, 0, 0]),
            Err(WireError::Truncated { need: 10, got: 3 })
        );
        assert_eq!(
            decode_datagram(&[2; 10]),
            Err(WireError::UnsupportedVersion(2))
        );
        assert_eq!(
            decode_datagram(&[1, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(WireError::UnexpectedKind(1))
        );
        let h = StreamHeader::new(
            7,
            "100.64.0.2:1000".parse().unwrap(),
            "100.64.0.3:80".parse().unwrap(),
        )
        .unwrap();
        let mut b = h.encode();
        b[1] = 0;
        assert_eq!(StreamHeader::decode(&b), Err(WireError::UnexpectedKind(0)));
        assert_eq!(
            StreamHeader::decode(&h.encode()[..21]),
            Err(WireError::Truncated { need: 22, got: 21 })
        );
        let h6 = StreamHeader::new(
            7,
            "[fd00::2]:1000".parse().unwrap(),
            "[fd00::3]:80".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(
            StreamHeader::decode(&h6.encode()[..45]),
            Err(WireError::Truncated { need: 46, got: 45 })
        );
    }

    #[test]
    fn header_layout_is_big_endian() {
        let (n, p) = decode_datagram(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0x45]).unwrap();
        assert_eq!(n, 0x0102);
        assert_eq!(p, &[0x45]);
    }
}
