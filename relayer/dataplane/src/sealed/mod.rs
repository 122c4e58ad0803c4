//! Sealed datagrams: the IP packets of the transparent data path, each
//! encrypted and authenticated on its own with keys exported from the
//! QUIC connection of the two providers, and sent on the endpoint's
//! socket beside QUIC ([`crate::paths::frame`]: `0x04 | receiver id (8) |
//! counter (8) | ciphertext | tag (16)`).
//!
//! Why beside QUIC and not as QUIC datagrams: every QUIC datagram goes
//! through quinn's connection state (packet numbers, ACKs, congestion
//! control, a task hop each way); measured on the transparent path of
//! `bench`, that was most of the relayer's CPU per packet. A sealed
//! datagram costs one AES-GCM operation and a share of one `sendmsg`;
//! the workloads' own TCP does the congestion control, as over any
//! WireGuard tunnel. The QUIC connection stays: it authenticates the
//! peer, derives these keys, carries the streams, measures the RTT and
//! finds the path MTU.
//!
//! Keys: a 32-byte secret exported from the TLS session (RFC 5705 as in
//! TLS 1.3, unique per connection) is expanded with HKDF-SHA256 into one
//! direction per side (the side with the lower public key is `low`):
//! its AES-128-GCM key per epoch of [`EPOCH_PACKETS`] counters, its IV
//! (the nonce is the IV XOR the counter, so a key never sees a nonce
//! twice) and the receiver id frames carry. A new key every epoch keeps
//! each key far below AES-GCM's usage bound (RFC 8446 §5.5: about 2^34
//! blocks for a 2^-57 margin; an epoch is at most 2^31).
//!
//! Receiving: a frame is authenticated before anything is counted; its
//! counter must be new to the replay window (`window.rs`) and its epoch
//! next to the newest one accepted (at most one key derivation per epoch,
//! whatever a forger sends). The packet is opened in place, in the
//! receive buffer of the socket, and handed on from there
//! (the data path's receiving side): no copy, no queue, no task hop.

mod batch;
mod window;

pub(crate) use batch::SendBatch;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf::{HKDF_SHA256, KeyType, Prk};

use crate::paths::frame::{SEALED, SEALED_HEADER_LEN};
use window::ReplayWindow;

/// Bytes of the authentication tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed frame adds to its packet.
pub const OVERHEAD: usize = SEALED_HEADER_LEN + TAG_LEN;
/// Counters per key (see the module docs).
pub const EPOCH_PACKETS: u64 = 1 << 24;
/// Counters a direction may use: beyond, the connection must be
/// replaced (never reached: 2^62 packets).
const MAX_COUNTER: u64 = 1 << 62;
/// TLS exporter label of the channel's secret.
const EXPORTER_LABEL: &[u8] = b"EXPORTER-avpn-sealed-v1";

/// Why a received sealed frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Shorter than a header and tag, or not a sealed frame.
    #[error("not a sealed frame")]
    Malformed,
    /// Its counter was accepted before or is behind the replay window.
    #[error("replayed or too old")]
    Replayed,
    /// Its counter is in an epoch too far from the newest accepted one.
    #[error("counter out of the current epochs")]
    Epoch,
    /// It did not authenticate (forged, corrupted, or another key's).
    #[error("authentication failed")]
    Forged,
}

/// Output length for HKDF expansion.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// Secrets of one direction.
struct Direction {
    prk: Prk,
    iv: [u8; NONCE_LEN],
    /// The receiver id its frames carry.
    id: u64,
}

impl Direction {
    fn of(master: &Prk, from: &[u8]) -> Direction {
        let expand = |what: &[u8], out: &mut [u8]| {
            master
                .expand(&[b"avpn sealed ", what, b" from ", from], Len(out.len()))
                .and_then(|okm| okm.fill(out))
                .expect("HKDF output within bounds");
        };
        let (mut secret, mut iv, mut id) = ([0u8; 32], [0u8; NONCE_LEN], [0u8; 8]);
        expand(b"secret", &mut secret);
        expand(b"iv", &mut iv);
        expand(b"id", &mut id);
        Direction {
            prk: Prk::new_less_safe(HKDF_SHA256, &secret),
            iv,
            id: u64::from_be_bytes(id),
        }
    }

    fn key(&self, epoch: u64) -> LessSafeKey {
        let epoch = epoch.to_be_bytes();
        let info = [b"avpn sealed key".as_slice(), &epoch];
        let okm = self
            .prk
            .expand(&info, &AES_128_GCM)
            .expect("HKDF output within bounds");
        LessSafeKey::new(UnboundKey::from(okm))
    }

    fn nonce(&self, counter: u64) -> Nonce {
        let mut n = self.iv;
        for (b, c) in n[NONCE_LEN - 8..].iter_mut().zip(counter.to_be_bytes()) {
            *b ^= c;
        }
        Nonce::assume_unique_for_key(n)
    }
}

/// A key and the epoch it belongs to.
struct EpochKey {
    epoch: u64,
    key: LessSafeKey,
}

/// The sending half of a channel (shared by every task sending to the
/// peer).
pub struct Sealer {
    dir: Direction,
    counter: AtomicU64,
    key: ArcSwap<EpochKey>,
    bytes: AtomicU64,
}

/// The receiving half of a channel.
pub struct Opener {
    dir: Direction,
    rx: Mutex<Rx>,
    bytes: AtomicU64,
}

struct Rx {
    window: ReplayWindow,
    /// Keys of the epochs next to the newest accepted one (at most 3).
    keys: Vec<(u64, Arc<LessSafeKey>)>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("id", &self.dir.id)
            .finish_non_exhaustive()
    }
}

/// Both halves of the channel of `conn`; `low`: our public key is the
/// lower of the two. `None` if the session exports no keys.
pub fn channel(conn: &quinn::Connection, low: bool) -> Option<(Sealer, Opener)> {
    let mut master = [0u8; 32];
    conn.export_keying_material(&mut master, EXPORTER_LABEL, b"")
        .ok()?;
    Some(from_secret(&master, low))
}

/// Both halves of a channel from its exported secret (the two sides pass
/// the same secret and opposite `low`).
pub fn from_secret(master: &[u8; 32], low: bool) -> (Sealer, Opener) {
    let master = Prk::new_less_safe(HKDF_SHA256, master);
    let (ours, theirs): (&[u8], &[u8]) = if low {
        (b"low", b"high")
    } else {
        (b"high", b"low")
    };
    let (tx, rx) = (Direction::of(&master, ours), Direction::of(&master, theirs));
    let key = ArcSwap::from_pointee(EpochKey {
        epoch: 0,
        key: tx.key(0),
    });
    (
        Sealer {
            dir: tx,
            counter: AtomicU64::new(0),
            key,
            bytes: AtomicU64::new(0),
        },
        Opener {
            dir: rx,
            rx: Mutex::new(Rx {
                window: ReplayWindow::default(),
                keys: Vec::new(),
            }),
            bytes: AtomicU64::new(0),
        },
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sealer {
    /// Appends the sealed frame of `packet` to `out`; false once the
    /// direction's counters are used up (the connection must be
    /// replaced).
    pub fn seal_into(&self, out: &mut Vec<u8>, packet: &[u8]) -> bool {
        let c = self.counter.fetch_add(1, Ordering::Relaxed);
        if c >= MAX_COUNTER {
            return false;
        }
        let epoch = c / EPOCH_PACKETS;
        let mut key = self.key.load_full();
        if key.epoch != epoch {
            key = Arc::new(EpochKey {
                epoch,
                key: self.dir.key(epoch),
            });
            self.key.store(key.clone());
        }
        let start = out.len();
        out.push(SEALED);
        out.extend_from_slice(&self.dir.id.to_be_bytes());
        out.extend_from_slice(&c.to_be_bytes());
        out.extend_from_slice(packet);
        let (head, body) = out[start..].split_at_mut(SEALED_HEADER_LEN);
        let tag = key
            .key
            .seal_in_place_separate_tag(self.dir.nonce(c), Aad::from(&*head), body)
            .expect("a packet is within AES-GCM's length limit");
        out.extend_from_slice(tag.as_ref());
        self.bytes
            .fetch_add((out.len() - start) as u64, Ordering::Relaxed);
        true
    }

    /// Bytes of sealed frames made so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

impl Rx {
    /// The key of `epoch` if it is next to the newest accepted epoch
    /// (derived at most once per epoch).
    fn key(&mut self, dir: &Direction, epoch: u64) -> Result<Arc<LessSafeKey>, OpenError> {
        let newest = self.window.top().map_or(0, |t| t / EPOCH_PACKETS);
        if epoch + 1 < newest || epoch > newest + 1 {
            return Err(OpenError::Epoch);
        }
        self.keys
            .retain(|(e, _)| e + 1 >= newest && *e <= newest + 1);
        if let Some((_, k)) = self.keys.iter().find(|(e, _)| *e == epoch) {
            return Ok(k.clone());
        }
        let k = Arc::new(dir.key(epoch));
        self.keys.push((epoch, k.clone()));
        Ok(k)
    }
}

impl Opener {
    /// The receiver id of this half's frames.
    pub fn id(&self) -> u64 {
        self.dir.id
    }

    /// Authenticates and decrypts `frame` in place; its packet.
    pub fn open<'f>(&self, frame: &'f mut [u8]) -> Result<&'f mut [u8], OpenError> {
        if frame.len() < OVERHEAD || frame[0] != SEALED {
            return Err(OpenError::Malformed);
        }
        let c = u64::from_be_bytes(frame[9..17].try_into().expect("8 bytes"));
        let key = {
            let mut rx = lock(&self.rx);
            if !rx.window.fresh(c) {
                return Err(OpenError::Replayed);
            }
            rx.key(&self.dir, c / EPOCH_PACKETS)?
        };
        let len = frame.len();
        let (head, body) = frame.split_at_mut(SEALED_HEADER_LEN);
        let packet = key
            .open_in_place(self.dir.nonce(c), Aad::from(&*head), body)
            .map_err(|_| OpenError::Forged)?;
        {
            let mut rx = lock(&self.rx);
            // Another copy of the frame may have been accepted meanwhile.
            if !rx.window.fresh(c) {
                return Err(OpenError::Replayed);
            }
            rx.window.accept(c);
        }
        self.bytes.fetch_add(len as u64, Ordering::Relaxed);
        Ok(packet)
    }

    /// Bytes of sealed frames accepted so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
