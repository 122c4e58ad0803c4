//! Frames that share the relayer's UDP socket with QUIC packets: packets
//! relayed through a third provider, path probes and sealed datagrams.
//!
//! Our endpoints never grease the QUIC fixed bit, so every QUIC packet
//! they exchange has bit `0x40` of its first byte set; a first byte below
//! `0x40` is one of these frames. All integers are big-endian.
//!
//! ```text
//! to relay    0x00 | token (8) | destination peer id (8) | payload
//! from relay  0x01 | token (8) | source peer id (8)      | payload
//! probe       0x02 | nonce (8)
//! probe reply 0x03 | nonce (8)
//! sealed      0x04 | receiver id (8) | counter (8) | ciphertext | tag (16)
//! ```
//!
//! The token is the secret of the connection between the sender and the
//! relay (exported from its TLS session, so it never crosses the wire
//! otherwise); a relayed payload is a QUIC packet of the two end providers'
//! own connection, a probe or probe reply between them, or a sealed
//! datagram ([`crate::sealed`]) of theirs.

use ring::digest;

/// Bytes a relay frame adds in front of the payload.
pub const RELAY_HEADER_LEN: usize = 17;
/// Length of a probe and of a probe reply.
pub const PROBE_LEN: usize = 9;

const TO_RELAY: u8 = 0x00;
const FROM_RELAY: u8 = 0x01;
const PROBE: u8 = 0x02;
const PROBE_REPLY: u8 = 0x03;
/// Kind of a sealed datagram ([`crate::sealed`]).
pub const SEALED: u8 = 0x04;
/// Bytes of a sealed datagram's header (kind, receiver id, counter).
pub const SEALED_HEADER_LEN: usize = 17;
/// Set in the first byte of every QUIC packet our endpoints send.
const QUIC_FIXED_BIT: u8 = 0x40;

/// A short, stable name of a provider in relay frames: the first 8 bytes
/// of the SHA-256 of its account address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl PeerId {
    /// The id of `provider`.
    pub fn of(provider: &str) -> PeerId {
        let d = digest::digest(&digest::SHA256, provider.as_bytes());
        PeerId(u64::from_be_bytes(
            d.as_ref()[..8].try_into().expect("8 bytes"),
        ))
    }
}

/// One received datagram, classified.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A QUIC packet of a connection with the sender itself.
    Quic,
    /// A packet the sender asks us (a relay) to pass on to `dst`.
    ToRelay {
        token: u64,
        dst: PeerId,
        payload: &'a [u8],
    },
    /// A packet a relay passes on to us from `src`.
    FromRelay {
        token: u64,
        src: PeerId,
        payload: &'a [u8],
    },
    /// A path probe to answer.
    Probe(u64),
    /// The answer to one of our probes.
    ProbeReply(u64),
    /// A sealed datagram for the receiving half with this id.
    Sealed { receiver: u64 },
}

/// Why a datagram is none of the frames above.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Shorter than its kind's header.
    #[error("frame too short")]
    Short,
    /// A first byte below 0x40 that names no frame kind.
    #[error("unknown frame kind {0:#04x}")]
    UnknownKind(u8),
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Classifies a datagram (see the module docs).
pub fn parse(b: &[u8]) -> Result<Frame<'_>, FrameError> {
    let kind = *b.first().ok_or(FrameError::Short)?;
    if kind & QUIC_FIXED_BIT != 0 {
        return Ok(Frame::Quic);
    }
    match kind {
        TO_RELAY | FROM_RELAY => {
            if b.len() < RELAY_HEADER_LEN {
                return Err(FrameError::Short);
            }
            let (token, id) = (u64_at(b, 1), PeerId(u64_at(b, 9)));
            let payload = &b[RELAY_HEADER_LEN..];
            Ok(if kind == TO_RELAY {
                Frame::ToRelay {
                    token,
                    dst: id,
                    payload,
                }
            } else {
                Frame::FromRelay {
                    token,
                    src: id,
                    payload,
                }
            })
        }
        PROBE | PROBE_REPLY => {
            if b.len() < PROBE_LEN {
                return Err(FrameError::Short);
            }
            let nonce = u64_at(b, 1);
            Ok(if kind == PROBE {
                Frame::Probe(nonce)
            } else {
                Frame::ProbeReply(nonce)
            })
        }
        SEALED => {
            if b.len() < SEALED_HEADER_LEN {
                return Err(FrameError::Short);
            }
            Ok(Frame::Sealed {
                receiver: u64_at(b, 1),
            })
        }
        other => Err(FrameError::UnknownKind(other)),
    }
}

fn relay_header(kind: u8, token: u64, id: PeerId) -> [u8; RELAY_HEADER_LEN] {
    let mut h = [0u8; RELAY_HEADER_LEN];
    h[0] = kind;
    h[1..9].copy_from_slice(&token.to_be_bytes());
    h[9..17].copy_from_slice(&id.0.to_be_bytes());
    h
}

/// Header of a packet sent to a relay for `dst`.
pub fn to_relay(token: u64, dst: PeerId) -> [u8; RELAY_HEADER_LEN] {
    relay_header(TO_RELAY, token, dst)
}

/// Header of a packet a relay passes on from `src`.
pub fn from_relay(token: u64, src: PeerId) -> [u8; RELAY_HEADER_LEN] {
    relay_header(FROM_RELAY, token, src)
}

fn nonce_frame(kind: u8, nonce: u64) -> [u8; PROBE_LEN] {
    let mut f = [0u8; PROBE_LEN];
    f[0] = kind;
    f[1..].copy_from_slice(&nonce.to_be_bytes());
    f
}

/// A probe carrying `nonce`.
pub fn probe(nonce: u64) -> [u8; PROBE_LEN] {
    nonce_frame(PROBE, nonce)
}

/// The reply to the probe carrying `nonce`.
pub fn probe_reply(nonce: u64) -> [u8; PROBE_LEN] {
    nonce_frame(PROBE_REPLY, nonce)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn frames_round_trip() {
        let id = PeerId::of("akash1provider");
        let mut pkt = to_relay(7, id).to_vec();
        pkt.extend_from_slice(b"\x41quic");
        assert_eq!(
            parse(&pkt),
            Ok(Frame::ToRelay {
                token: 7,
                dst: id,
                payload: b"\x41quic"
            })
        );
        let mut pkt = from_relay(9, id).to_vec();
        pkt.extend_from_slice(&probe(5));
        let Ok(Frame::FromRelay {
            token: 9,
            src,
            payload,
        }) = parse(&pkt)
        else {
            panic!("not from-relay");
        };
        assert_eq!(src, id);
        assert_eq!(parse(payload), Ok(Frame::Probe(5)));
        assert_eq!(
            parse(&probe_reply(u64::MAX)),
            Ok(Frame::ProbeReply(u64::MAX))
        );
    }

    #[test]
    fn quic_short_and_long_headers_are_quic() {
        assert_eq!(parse(&[0x40, 1, 2]), Ok(Frame::Quic));
        assert_eq!(parse(&[0xc0]), Ok(Frame::Quic));
    }

    #[test]
    fn bad_frames_are_typed_errors() {
        assert_eq!(parse(&[]), Err(FrameError::Short));
        assert_eq!(parse(&[0x00; 16]), Err(FrameError::Short));
        assert_eq!(parse(&[0x02; 8]), Err(FrameError::Short));
        assert_eq!(parse(&[0x3f; 20]), Err(FrameError::UnknownKind(0x3f)));
    }

    #[test]
    fn ids_differ_per_provider() {
        assert_ne!(PeerId::of("akash1a"), PeerId::of("akash1b"));
        assert_eq!(PeerId::of("akash1a"), PeerId::of("akash1a"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse(&b);
        }
    }
}
