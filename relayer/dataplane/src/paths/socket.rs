//! The endpoint's socket: QUIC packets go to and come from peers' virtual
//! addresses over their current path; relay frames and probes are handled
//! here, below QUIC, without a task hop.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

use super::frame::{self, Frame, PeerId, RELAY_HEADER_LEN};
use super::receivers::Touched;
use super::{PathTable, Paths, Route};
use crate::metrics::DropReason;

/// How long a source address first seen before it was any peer's
/// endpoint keeps reaching QUIC as itself: a handshake it began then (the
/// peer dialled before we learnt of it) must finish from the address it
/// began from. Afterwards its packets reach QUIC from the peer's virtual
/// address, which QUIC handles as a migration of the live connection.
const HANDSHAKE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
/// Unknown source addresses remembered for [`HANDSHAKE_GRACE`] at most.
const MAX_FRESH: usize = 4096;

/// Wraps the real UDP socket of the QUIC endpoint (see [`super`]).
pub(crate) struct PathSocket {
    paths: Arc<Paths>,
    /// Source addresses first seen while they were no peer's endpoint,
    /// and when (see [`HANDSHAKE_GRACE`]).
    fresh: std::sync::Mutex<rustc_hash::FxHashMap<SocketAddr, Instant>>,
    /// Whether `fresh` may hold entries (skips its lock on the hot path).
    any_fresh: std::sync::atomic::AtomicBool,
}

impl PathSocket {
    /// The socket of `paths`, translating for QUIC.
    pub fn new(paths: Arc<Paths>) -> Self {
        PathSocket {
            paths,
            fresh: Default::default(),
            any_fresh: Default::default(),
        }
    }

    /// The address QUIC should see for a QUIC packet from `from`.
    fn quic_source(&self, table: &PathTable, from: SocketAddr, now: Instant) -> SocketAddr {
        use std::sync::atomic::Ordering;
        let fresh = || self.fresh.lock().unwrap_or_else(|e| e.into_inner());
        match table.by_real.get(&from) {
            Some(v) => {
                if self.any_fresh.load(Ordering::Relaxed) {
                    // One lookup per batch: this is the receive path.
                    let mut f = fresh();
                    if let Some(seen) = f.get(&from) {
                        if now.saturating_duration_since(*seen) < HANDSHAKE_GRACE {
                            return from;
                        }
                        f.remove(&from);
                        self.any_fresh.store(!f.is_empty(), Ordering::Relaxed);
                    }
                }
                *v
            }
            None => {
                let mut f = fresh();
                if f.len() >= MAX_FRESH {
                    f.retain(|_, seen| now.saturating_duration_since(*seen) < HANDSHAKE_GRACE);
                }
                if f.len() < MAX_FRESH {
                    f.entry(from).or_insert(now);
                    self.any_fresh.store(true, Ordering::Relaxed);
                }
                from
            }
        }
    }

    fn drop(&self, reason: DropReason) {
        self.paths.metrics.drop(reason);
    }

    /// Handles one received datagram; returns the source QUIC should see
    /// and where the QUIC packet starts, if it is one for QUIC.
    fn segment(
        &self,
        table: &PathTable,
        seg: &mut [u8],
        from: SocketAddr,
        touched: &mut Touched,
    ) -> Option<(SocketAddr, usize)> {
        match frame::parse(seg) {
            Ok(Frame::Quic) => Some((self.quic_source(table, from, Instant::now()), 0)),
            Ok(Frame::Probe(nonce)) => {
                // Only peers' endpoints get answers: no reflection to
                // arbitrary addresses.
                if table.by_real.contains_key(&from) {
                    self.paths.send_raw(from, &frame::probe_reply(nonce));
                } else {
                    self.drop(DropReason::RelayUnknownSender);
                }
                None
            }
            Ok(Frame::ProbeReply(nonce)) => {
                self.paths.answered(nonce, Instant::now());
                None
            }
            Ok(Frame::Sealed { receiver }) => {
                self.paths.open_sealed(receiver, seg, touched);
                None
            }
            Ok(Frame::ToRelay { token, dst, .. }) => {
                self.forward(table, from, token, dst, seg);
                None
            }
            Ok(Frame::FromRelay {
                token,
                src,
                payload,
            }) => {
                let source = self.relayed_source(table, from, token, src)?;
                match frame::parse(payload) {
                    Ok(Frame::Quic) => Some((source, RELAY_HEADER_LEN)),
                    Ok(Frame::Probe(nonce)) => {
                        let mut reply = frame::to_relay(token, src).to_vec();
                        reply.extend_from_slice(&frame::probe_reply(nonce));
                        self.paths.send_raw(from, &reply);
                        None
                    }
                    Ok(Frame::ProbeReply(nonce)) => {
                        self.paths.answered(nonce, Instant::now());
                        None
                    }
                    Ok(Frame::Sealed { receiver }) => {
                        self.paths
                            .open_sealed(receiver, &mut seg[RELAY_HEADER_LEN..], touched);
                        None
                    }
                    _ => {
                        self.drop(DropReason::PathMalformed);
                        None
                    }
                }
            }
            Err(_) => {
                self.drop(DropReason::PathMalformed);
                None
            }
        }
    }

    /// As a relay: passes `seg` (a to-relay frame from `from`) on.
    fn forward(
        &self,
        table: &PathTable,
        from: SocketAddr,
        token: u64,
        dst: PeerId,
        seg: &mut [u8],
    ) {
        let Some(a) = table.by_real.get(&from).and_then(|v| table.peers.get(v)) else {
            return self.drop(DropReason::RelayUnknownSender);
        };
        if a.token != Some(token) {
            return self.drop(DropReason::RelayBadToken);
        }
        let Some(b) = table.by_id.get(&dst).and_then(|v| table.peers.get(v)) else {
            return self.drop(DropReason::RelayUnauthorized);
        };
        if !PathTable::may_relay(a, b) {
            return self.drop(DropReason::RelayUnauthorized);
        }
        let (Route::Direct(to), Some(b_token)) = (b.route, b.token) else {
            return self.drop(DropReason::RelayNoPath);
        };
        if !self.paths.spend(a.id, b.id, seg.len()) {
            return self.drop(DropReason::RelayPairLimit);
        }
        seg[..RELAY_HEADER_LEN].copy_from_slice(&frame::from_relay(b_token, a.id));
        self.paths.send_raw(to, seg);
        self.paths.metrics.relayed(seg.len());
    }

    /// As the receiver of a relayed packet: the virtual address of its
    /// source, if the relay is one we may accept it from.
    fn relayed_source(
        &self,
        table: &PathTable,
        from: SocketAddr,
        token: u64,
        src: PeerId,
    ) -> Option<SocketAddr> {
        let Some((relay_v, relay)) = table
            .by_real
            .get(&from)
            .and_then(|v| table.peers.get(v).map(|r| (*v, r)))
        else {
            self.drop(DropReason::RelayUnknownSender);
            return None;
        };
        if relay.token != Some(token) {
            self.drop(DropReason::RelayBadToken);
            return None;
        }
        let source = table.by_id.get(&src).filter(|v| {
            table
                .peers
                .get(v)
                .is_some_and(|a| a.relays.contains(&relay_v))
        });
        if source.is_none() {
            self.drop(DropReason::RelayUnauthorized);
        }
        source.copied()
    }

    /// Rewrites one received buffer (possibly several coalesced
    /// datagrams) into what QUIC should see.
    fn demux(&self, table: &PathTable, data: &mut [u8], m: &mut RecvMeta, touched: &mut Touched) {
        let len = m.len;
        let stride = if m.stride == 0 {
            len
        } else {
            m.stride.min(len)
        };
        if stride == 0 {
            return;
        }
        // Fast path: QUIC packets only (the direct path).
        if (0..len).step_by(stride).all(|i| data[i] & 0x40 != 0) {
            m.addr = self.quic_source(table, m.addr, Instant::now());
            return;
        }
        let (mut out, mut out_stride, mut last) = (0usize, 0usize, 0usize);
        let mut source: Option<SocketAddr> = None;
        let mut start = 0;
        while start < len {
            let end = (start + stride).min(len);
            if let Some((from, off)) = self.segment(table, &mut data[start..end], m.addr, touched) {
                let n = end - start - off;
                let fits = match source {
                    None => {
                        source = Some(from);
                        out_stride = n;
                        true
                    }
                    // Same source, and no shorter datagram before it.
                    Some(s) => s == from && last == out_stride,
                };
                if fits {
                    data.copy_within(start + off..end, out);
                    out += n;
                    last = n;
                } else {
                    self.drop(DropReason::PathMixedBatch);
                }
            }
            start = end;
        }
        m.len = out;
        m.stride = out_stride.max(1);
        if let Some(s) = source {
            m.addr = s;
        }
    }
}

impl fmt::Debug for PathSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PathSocket").finish_non_exhaustive()
    }
}

impl AsyncUdpSocket for PathSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.paths.socket.clone().create_io_poller()
    }

    fn try_send(&self, t: &Transmit) -> io::Result<()> {
        self.paths.send_routed(t)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(self.paths.socket.poll_recv(cx, bufs, meta))?;
        let table = self.paths.table();
        let mut touched = Touched::default();
        for (buf, m) in bufs.iter_mut().zip(meta.iter_mut()).take(n) {
            let len = m.len.min(buf.len());
            self.demux(&table, &mut buf[..len], m, &mut touched);
        }
        // The packets of this batch's sealed datagrams reach their TUNs.
        touched.flush();
        Poll::Ready(Ok(n))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.paths.socket.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.paths.socket.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.paths.socket.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.paths.socket.may_fragment()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;
    use std::time::Duration;

    use prometheus_client::registry::Registry;

    use super::*;
    use crate::metrics::Metrics;
    use crate::paths::PeerPlan;

    struct Peer {
        sock: std::net::UdpSocket,
        addr: SocketAddr,
        id: PeerId,
    }

    fn peer(name: &str) -> Peer {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let addr = sock.local_addr().unwrap();
        Peer {
            sock,
            addr,
            id: PeerId::of(name),
        }
    }

    fn plan(p: &Peer, relayed: &[u64], relays: &[&str]) -> PeerPlan {
        PeerPlan {
            endpoints: vec![p.addr],
            relays: relays.iter().map(|r| r.to_string()).collect(),
            relayed_networks: relayed.iter().copied().collect(),
        }
    }

    fn drops(m: &Metrics, reason: DropReason) -> u64 {
        m.drops().into_iter().find(|(r, _)| *r == reason).unwrap().1
    }

    /// Paths over a fresh loopback socket, once the reactor has seen it
    /// writable (sends before that would report `WouldBlock`).
    async fn paths(metrics: &Metrics) -> Arc<Paths> {
        let real = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let paths = Paths::new(real, metrics.clone(), 1000, 3000).unwrap();
        let mut poller = paths.socket.clone().create_io_poller();
        std::future::poll_fn(|cx| poller.as_mut().poll_writable(cx))
            .await
            .unwrap();
        paths
    }

    fn frame(header: [u8; RELAY_HEADER_LEN], len: usize) -> Vec<u8> {
        let mut f = header.to_vec();
        f.resize(len, 0x41);
        f
    }

    /// The relay's side: every forged or unauthorized frame is dropped
    /// with its reason and nothing reaches B; a good frame reaches B with
    /// B's token and A's id; the pair budget caps what A can push.
    #[tokio::test]
    async fn a_relay_forwards_only_authorized_frames_within_budget() {
        let metrics = Metrics::new(&mut Registry::default());
        let paths = paths(&metrics).await;
        let (a, b, c) = (peer("a"), peer("b"), peer("c"));
        paths.sync(BTreeMap::from([
            ("a".to_string(), plan(&a, &[1], &[])),
            ("b".to_string(), plan(&b, &[1, 2], &[])),
            ("c".to_string(), plan(&c, &[2], &[])),
        ]));
        for (name, token) in [("a", 11), ("b", 22), ("c", 33)] {
            paths.set_token(&name.to_string(), Some(token));
        }
        let s = PathSocket::new(paths.clone());
        let table = paths.table();
        let stranger: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let cases = [
            (
                a.addr,
                frame(frame::to_relay(99, b.id), 100),
                DropReason::RelayBadToken,
            ),
            (
                stranger,
                frame(frame::to_relay(11, b.id), 100),
                DropReason::RelayUnknownSender,
            ),
            // A and C share no network we relay for.
            (
                a.addr,
                frame(frame::to_relay(11, c.id), 100),
                DropReason::RelayUnauthorized,
            ),
            (
                a.addr,
                frame(frame::to_relay(11, PeerId(5)), 100),
                DropReason::RelayUnauthorized,
            ),
        ];
        for (from, mut f, reason) in cases {
            let before = drops(&metrics, reason);
            assert_eq!(
                s.segment(&table, &mut f, from, &mut Touched::default()),
                None
            );
            assert_eq!(drops(&metrics, reason), before + 1, "{reason:?}");
        }
        // Within the budget (3000 bytes at once): two frames pass, the
        // third is over it.
        for _ in 0..2 {
            let mut f = frame(frame::to_relay(11, b.id), 1200);
            assert_eq!(
                s.segment(&table, &mut f, a.addr, &mut Touched::default()),
                None
            );
        }
        let mut f = frame(frame::to_relay(11, b.id), 1200);
        s.segment(&table, &mut f, a.addr, &mut Touched::default());
        assert_eq!(drops(&metrics, DropReason::RelayPairLimit), 1);
        let mut buf = [0u8; 2048];
        for _ in 0..2 {
            let (n, from) = b.sock.recv_from(&mut buf).unwrap();
            assert_eq!(n, 1200);
            assert_eq!(from, paths.socket.local_addr().unwrap());
            assert_eq!(buf[..RELAY_HEADER_LEN], frame::from_relay(22, a.id));
        }
        b.sock.set_nonblocking(true).unwrap();
        assert!(b.sock.recv_from(&mut buf).is_err(), "B got a dropped frame");
        assert!(a.sock.set_nonblocking(true).is_ok() && a.sock.recv_from(&mut buf).is_err());
        assert!(c.sock.set_nonblocking(true).is_ok() && c.sock.recv_from(&mut buf).is_err());
    }

    /// The receiver's side: a relayed packet is accepted only from a relay
    /// of a network shared with its source, with that relay's token; QUIC
    /// then sees it from the source's virtual address.
    #[tokio::test]
    async fn relayed_packets_are_accepted_only_from_the_sources_relays() {
        let metrics = Metrics::new(&mut Registry::default());
        let paths = paths(&metrics).await;
        let (a, r, x) = (peer("a"), peer("r"), peer("x"));
        paths.sync(BTreeMap::from([
            ("a".to_string(), plan(&a, &[], &["r"])),
            ("r".to_string(), plan(&r, &[], &[])),
            ("x".to_string(), plan(&x, &[], &[])),
        ]));
        paths.set_token(&"r".to_string(), Some(7));
        paths.set_token(&"x".to_string(), Some(8));
        let s = PathSocket::new(paths.clone());
        let table = paths.table();
        let va = paths.virtual_of(&"a".to_string());
        let mut good = frame(frame::from_relay(7, a.id), 64);
        assert_eq!(
            s.segment(&table, &mut good, r.addr, &mut Touched::default()),
            Some((va, RELAY_HEADER_LEN))
        );
        let mut forged = frame(frame::from_relay(8, a.id), 64);
        assert_eq!(
            s.segment(&table, &mut forged, x.addr, &mut Touched::default()),
            None,
            "x is no relay of a"
        );
        assert_eq!(drops(&metrics, DropReason::RelayUnauthorized), 1);
        let mut stolen = frame(frame::from_relay(8, a.id), 64);
        assert_eq!(
            s.segment(&table, &mut stolen, r.addr, &mut Touched::default()),
            None,
            "x's token from r"
        );
        assert_eq!(drops(&metrics, DropReason::RelayBadToken), 1);
    }

    /// A peer that began its handshake before we knew its endpoint keeps
    /// reaching QUIC from its real address for the grace period (the
    /// handshake must finish from where it began), then from its virtual
    /// address; a known endpoint maps at once.
    #[tokio::test]
    async fn an_early_handshake_keeps_its_address_for_the_grace_period() {
        let metrics = Metrics::new(&mut Registry::default());
        let paths = paths(&metrics).await;
        let s = PathSocket::new(paths.clone());
        let (a, b) = (peer("a"), peer("b"));
        paths.sync(BTreeMap::from([("b".to_string(), plan(&b, &[], &[]))]));
        let t0 = Instant::now();
        assert_eq!(s.quic_source(&paths.table(), a.addr, t0), a.addr);
        paths.sync(BTreeMap::from([
            ("a".to_string(), plan(&a, &[], &[])),
            ("b".to_string(), plan(&b, &[], &[])),
        ]));
        let (va, vb) = (paths.virtual_of(&"a".into()), paths.virtual_of(&"b".into()));
        let t = paths.table();
        assert_eq!(
            s.quic_source(&t, a.addr, t0 + Duration::from_secs(1)),
            a.addr
        );
        assert_eq!(s.quic_source(&t, b.addr, t0 + Duration::from_secs(1)), vb);
        assert_eq!(s.quic_source(&t, a.addr, t0 + HANDSHAKE_GRACE), va);
    }

    /// A connection accepted through a relay has quinn send from the
    /// local address facing the relay; once the direct path is in use
    /// its packets must leave from the address the kernel picks for that
    /// path (the peer's endpoint for us), not from the relay-facing one.
    #[tokio::test]
    async fn direct_packets_leave_from_the_paths_own_source_address() {
        let metrics = Metrics::new(&mut Registry::default());
        let real = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let paths = Paths::new(real, metrics.clone(), 1000, 3000).unwrap();
        let b = peer("b");
        paths.sync(BTreeMap::from([("b".to_string(), plan(&b, &[], &[]))]));
        let s = PathSocket::new(paths.clone());
        let vb = paths.virtual_of(&"b".into());
        let relay_facing: IpAddr = "127.0.0.2".parse().unwrap();
        let send = || {
            s.try_send(&Transmit {
                destination: vb,
                ecn: None,
                contents: &[0x40; 32],
                segment_size: None,
                src_ip: Some(relay_facing),
            })
        };
        // The reactor may not have seen the socket writable yet.
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Err(e) = send() {
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
            assert!(Instant::now() < deadline, "socket never writable");
            tokio::task::yield_now().await;
        }
        let mut buf = [0u8; 64];
        let (n, from) = b.sock.recv_from(&mut buf).unwrap();
        assert_eq!(n, 32);
        assert_eq!(from.ip(), b.addr.ip(), "left from {from}");
    }

    /// A received batch of relayed datagrams loses its headers and keeps
    /// its segment boundaries.
    #[tokio::test]
    async fn a_relayed_batch_is_unwrapped_in_place() {
        let metrics = Metrics::new(&mut Registry::default());
        let paths = paths(&metrics).await;
        let (a, r) = (peer("a"), peer("r"));
        paths.sync(BTreeMap::from([
            ("a".to_string(), plan(&a, &[], &["r"])),
            ("r".to_string(), plan(&r, &[], &[])),
        ]));
        paths.set_token(&"r".to_string(), Some(7));
        let s = PathSocket::new(paths.clone());
        let header = frame::from_relay(7, a.id);
        let mut data = Vec::new();
        for (i, len) in [(1u8, 100usize), (2, 100), (3, 40)] {
            data.extend_from_slice(&header);
            data.extend(std::iter::repeat_n(0x40 | i, len));
        }
        let mut m = RecvMeta {
            addr: r.addr,
            len: data.len(),
            stride: 117,
            ecn: None,
            dst_ip: None,
        };
        s.demux(&paths.table(), &mut data, &mut m, &mut Touched::default());
        assert_eq!((m.len, m.stride), (240, 100));
        assert_eq!(m.addr, paths.virtual_of(&"a".to_string()));
        assert!(data[..100].iter().all(|b| *b == 0x41));
        assert!(data[100..200].iter().all(|b| *b == 0x42));
        assert!(data[200..240].iter().all(|b| *b == 0x43));
    }
}
