//! The receiving side of a peer connection: packets from the peer,
//! checked and written to local TUNs.
//!
//! Sealed datagrams are opened in the socket's receive path and handed
//! to the connection's [`Receive`] there ([`crate::paths::Delivery`]);
//! the packets of one `recvmmsg` are written per destination TUN in one
//! coalescing batch at its end. Packets the peer sends as QUIC datagrams
//! take the same checks ([`datagram_loop`]). The checks are described in
//! [`crate::datapath`].

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use avpn_model::{ProviderAddr, Verdict};

use crate::datapath::{Shared, Tables, packet_drop};
use crate::metrics::{DropReason, Metrics};
use crate::packet;
use crate::paths::{Delivery, Registration};
use crate::service;
use crate::tun::{GroBuf, Tun};
use crate::wire;

/// Most packets held for one flush; a fuller batch is written at once.
const RECV_BATCH: usize = crate::tun::BATCH;

/// The receiving side of the connection to one peer provider.
pub(crate) struct Receive {
    shared: Arc<Shared>,
    provider: ProviderAddr,
    held: Mutex<Held>,
}

/// Packets taken since the last flush.
#[derive(Default)]
struct Held {
    /// The tables they were checked with (one snapshot per batch).
    tables: Option<Arc<Tables>>,
    out: TunBatches,
    count: usize,
}

impl Receive {
    /// The receiving side for packets from `provider`.
    pub fn new(shared: Arc<Shared>, provider: ProviderAddr) -> Self {
        Receive {
            shared,
            provider,
            held: Mutex::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Delivery for Receive {
    fn packet(&self, datagram: &[u8]) {
        let mut held = self.held();
        let Held { tables, out, count } = &mut *held;
        let tables = tables.get_or_insert_with(|| self.shared.tables.load_full());
        let m = &self.shared.metrics;
        match inbound(&self.shared, tables, &self.provider, datagram) {
            Ok((tun, skip, None)) => out.push(tun, &datagram[skip..]),
            Ok((tun, skip, Some(from))) => {
                let mut pkt = datagram[skip..].to_vec();
                match service::answer_from(&mut pkt, from) {
                    Ok(()) => out.push(tun, &pkt),
                    Err(r) => return m.drop(r),
                }
            }
            Err(r) => return m.drop(r),
        }
        *count += 1;
        if *count >= RECV_BATCH {
            held.flush(m);
        }
    }

    fn flush(&self) {
        self.held().flush(&self.shared.metrics);
    }
}

impl Held {
    fn flush(&mut self, m: &Metrics) {
        self.tables = None;
        self.count = 0;
        self.out.write(m);
    }
}

/// Checks one datagram received from the authenticated peer `provider`:
/// the local TUN its packet goes to, where the packet starts and, for an
/// answer of a service replica, the service address to answer from; or
/// why it is dropped.
fn inbound<'t>(
    shared: &Shared,
    tables: &'t Tables,
    provider: &str,
    data: &[u8],
) -> Result<(&'t Arc<Tun>, usize, Option<IpAddr>), DropReason> {
    let (network, pkt) = wire::decode_datagram(data).map_err(|_| DropReason::Malformed)?;
    let net = tables
        .networks
        .get(&network)
        .ok_or(DropReason::UnknownNetwork)?;
    let info = packet::parse(pkt).map_err(packet_drop)?;
    match net.members.get(info.src()) {
        Some(src) if src.provider == provider => src.traffic.received(pkt.len()),
        _ => return Err(DropReason::SpoofedSource),
    }
    let dst = match net.members.get(info.dst()) {
        Some(d) if d.provider == shared.local => d,
        _ => return Err(DropReason::NotLocal),
    };
    if net.check(&info) != Verdict::Allow {
        return Err(DropReason::Policy);
    }
    match dst.local.as_deref() {
        Some(local) => Ok((
            local.kind.tun(),
            data.len() - pkt.len(),
            net.services.answer(&info),
        )),
        None => Err(DropReason::NoAttachment),
    }
}

/// Receives the QUIC datagrams of one connection until it closes (or the
/// task is cancelled), keeping its sealed channel registered until then.
/// Padding ([`wire::padding`]) is discarded; datagrams that have already
/// arrived are taken together and written in one batch.
pub(crate) async fn datagram_loop(
    conn: quinn::Connection,
    receive: Arc<Receive>,
    _sealed: Registration,
) {
    while let Ok(d) = conn.read_datagram().await {
        let mut next = Some(d);
        while let Some(d) = next {
            if !wire::is_padding(&d) {
                receive.packet(&d);
            }
            next = poll_once(conn.read_datagram()).and_then(Result::ok);
        }
        receive.flush();
    }
}

/// Polls a future once: its output if it is ready now.
fn poll_once<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Packets waiting to be written, grouped by destination TUN.
#[derive(Default)]
struct TunBatches {
    groups: Vec<(Arc<Tun>, Vec<GroBuf>)>,
    gro: GroTable,
    /// Buffers of written batches, reused for the next ones (no allocation
    /// per packet, and a buffer GRO grew keeps its room for the next
    /// flow's segments). At most [`RECV_BATCH`] are kept, of which at most
    /// [`LARGE_SPARES`] larger than a packet: per connection ≤ 128 × 1.5 KiB
    /// + 8 × 64 KiB.
    spare: Vec<GroBuf>,
}

/// Grown (coalesced) buffers kept for reuse per connection.
const LARGE_SPARES: usize = 8;

/// A buffer above this many bytes counts as grown.
const SMALL_BUF: usize = 2048;

/// `tun_rs::GROTable` with a `Default` that reserves its tables once.
struct GroTable(tun_rs::GROTable);

impl Default for GroTable {
    fn default() -> Self {
        GroTable(tun_rs::GROTable::new())
    }
}

impl TunBatches {
    /// Queues `pkt` for `tun` (copied behind the TUN's header room).
    fn push(&mut self, tun: &Arc<Tun>, pkt: &[u8]) {
        let i = match self.groups.iter().position(|(t, _)| Arc::ptr_eq(t, tun)) {
            Some(i) => i,
            None => {
                self.groups
                    .push((tun.clone(), Vec::with_capacity(RECV_BATCH)));
                self.groups.len() - 1
            }
        };
        let buf = match self.spare.pop() {
            Some(mut b) => {
                b.refill(pkt);
                b
            }
            None => GroBuf::new(pkt),
        };
        self.groups[i].1.push(buf);
    }

    /// Writes every group to its TUN and empties the batches, keeping
    /// buffers for the next ones within the bound.
    fn write(&mut self, m: &Metrics) {
        for (tun, mut bufs) in self.groups.drain(..) {
            match tun.write_batch(&mut self.gro.0, &mut bufs) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => m.drop(DropReason::TunFull),
                Err(e) => {
                    tracing::debug!(%e, "tun write failed");
                    m.drop(DropReason::NoAttachment);
                }
            }
            recycle(&mut self.spare, bufs);
        }
    }
}

/// Keeps written buffers in `spare` for reuse, within its bound.
fn recycle(spare: &mut Vec<GroBuf>, written: Vec<GroBuf>) {
    let mut large = spare.iter().filter(|b| b.capacity() > SMALL_BUF).count();
    for b in written {
        if spare.len() >= RECV_BATCH {
            break;
        }
        if b.capacity() > SMALL_BUF {
            if large >= LARGE_SPARES {
                continue;
            }
            large += 1;
        }
        spare.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reused buffers are bounded in number and in grown ones.
    #[test]
    fn recycled_buffers_are_bounded() {
        let mut spare = Vec::new();
        let small = || GroBuf::new(&[0u8; 1400]);
        let large = || GroBuf::new(&[0u8; 60_000]);
        recycle(&mut spare, (0..20).map(|_| large()).collect());
        assert_eq!(spare.len(), LARGE_SPARES);
        recycle(&mut spare, (0..200).map(|_| small()).collect());
        assert_eq!(spare.len(), RECV_BATCH);
        recycle(&mut spare, vec![large()]);
        assert_eq!(spare.len(), RECV_BATCH);
        let grown = spare.iter().filter(|b| b.capacity() > SMALL_BUF).count();
        assert_eq!(grown, LARGE_SPARES);
        // A refilled buffer holds the new packet behind the header room.
        let mut b = spare.pop().unwrap();
        b.refill(&[7u8; 3]);
        assert_eq!(b.as_ref(), &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 7][..]);
    }
}
