//! Send coalescing: consecutive QUIC transmits to one destination leave
//! in one GSO send.
//!
//! quinn hands its socket at most 10 datagrams per transmit (a constant
//! inside quinn, see quinn issue #2189), so a bulk transfer costs one
//! full `sendmsg` per 10 packets: route lookup, socket buffer, the
//! hand-off to the link and the receiver's work per buffer. The kernel
//! takes up to 64 segments per send. So when a transmit is part of a
//! burst (several full-size segments), the socket is corked (`UDP_CORK`):
//! it and the next transmits to the same destination are appended by the
//! kernel to one pending buffer (segmented by the first transmit's
//! `UDP_SEGMENT` size), without a copy of ours and without a route lookup
//! each, up to what one send may carry. The socket is uncorked — the
//! batch leaves as one GSO send — when a transmit ends the burst (a single
//! datagram, a short last segment), before anything else is sent, when
//! the batch is full, or when the flusher runs ([`super::flush_loop`]):
//! after the tasks that were queued when the batch began, quinn's
//! connection driver continuing its burst among them, so a batch waits
//! for no timer. Single datagrams (pings, ACKs, handshakes) are never
//! held. Every send of the socket goes through here (a cork would append
//! anything else sent meanwhile to the batch). Measured on the transparent
//! path (`bench`, alternating A/B on a 2-core VM): ~34 segments per send
//! instead of ~9, +10 % throughput, −13 % CPU per GB.
//!
//! A kernel that refuses a batch on uncorking (`EIO`/`EINVAL`: the
//! device cannot segment UDP, as quinn-udp also detects) turns batching
//! off for the endpoint; QUIC resends what was lost.
//!
//! Hand-written because no crate does it: it sits between quinn and its
//! socket. Bound: one batch of at most [`MAX_BATCH_BYTES`] per endpoint,
//! in the kernel's socket buffer.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use quinn::AsyncUdpSocket;
use quinn::udp::{EcnCodepoint, Transmit};
use tokio::sync::Notify;

use super::sockopt::set_int;
use crate::metrics::Metrics;

/// Most bytes one UDP send may carry, so that it holds for IPv6 (40-byte
/// header) and IPv4 alike: the UDP length field is 16 bits.
pub(crate) const MAX_BATCH_BYTES: usize = u16::MAX as usize - 40 - 8;

/// Where transmits go: the real socket, or a recorder in tests.
pub(crate) trait Sink {
    /// Sends one transmit (appends it while corked; `WouldBlock`: not
    /// sent, try again when writable).
    fn send(&self, t: &Transmit) -> io::Result<()>;
    /// Most segments one send may carry (1: no GSO).
    fn max_segments(&self) -> usize;
    /// Corks the socket, or uncorks it: what was appended leaves.
    fn cork(&self, on: bool) -> io::Result<()>;
}

/// The endpoint's real socket: quinn's wrapper sends, a duplicate of its
/// descriptor corks.
pub(crate) struct Underlay<'a> {
    pub socket: &'a dyn AsyncUdpSocket,
    pub fd: &'a UdpSocket,
}

impl Sink for Underlay<'_> {
    fn send(&self, t: &Transmit) -> io::Result<()> {
        self.socket.try_send(t)
    }

    fn max_segments(&self) -> usize {
        self.socket.max_transmit_segments()
    }

    fn cork(&self, on: bool) -> io::Result<()> {
        // socket2's cork is TCP's.
        set_int(self.fd, libc::IPPROTO_UDP, libc::UDP_CORK, on.into())
    }
}

/// What every segment of one send shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    to: SocketAddr,
    ecn: Option<EcnCodepoint>,
    src_ip: Option<IpAddr>,
}

impl Key {
    fn of(t: &Transmit) -> Key {
        Key {
            to: t.destination,
            ecn: t.ecn,
            src_ip: t.src_ip,
        }
    }
}

/// The batch appended so far: full segments of `segment` bytes, from
/// `transmits` transmits.
#[derive(Debug, Clone, Copy)]
struct Batch {
    key: Key,
    segment: usize,
    len: usize,
    transmits: usize,
}

impl Batch {
    /// Whether `len` more bytes in segments of `segment` bytes to `key`
    /// may join, `cap` segments at most.
    fn takes(&self, key: Key, segment: usize, len: usize, cap: usize) -> bool {
        let total = self.len + len;
        self.key == key
            && self.segment == segment
            && total <= MAX_BATCH_BYTES
            && total.div_ceil(segment) <= cap
    }

    /// Whether a full segment more would still fit.
    fn has_room(&self, cap: usize) -> bool {
        self.len + self.segment <= MAX_BATCH_BYTES && self.len / self.segment < cap
    }
}

/// Joins transmits into batches (see the module documentation).
#[derive(Debug)]
pub(crate) struct Coalescer {
    /// The open batch, if the socket is corked. Held across each send so
    /// that nothing else lands in a batch.
    batch: Mutex<Option<Batch>>,
    /// Signalled when a batch begins.
    began: Notify,
    /// Set once the kernel refused a batch: no more batches.
    off: AtomicBool,
    metrics: Metrics,
}

impl Coalescer {
    /// A coalescer counting its batches in `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Coalescer {
            batch: Mutex::default(),
            began: Notify::new(),
            off: AtomicBool::new(false),
            metrics,
        }
    }

    /// Uncorks: the batch leaves. QUIC treats what did not leave as
    /// lost; a refusal the device will repeat turns batching off.
    fn close(&self, sink: &(impl Sink + ?Sized), batch: &mut Option<Batch>) {
        let Some(b) = batch.take() else {
            return;
        };
        let sent = sink.cork(false);
        if sent.is_ok() && b.transmits > 1 {
            self.metrics.batch_sent(b.len.div_ceil(b.segment));
        }
        if let Err(e) = sent {
            let permanent = matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL));
            if permanent && !self.off.swap(true, Ordering::Relaxed) {
                tracing::warn!(%e, "the underlay refused a batched send; sending unbatched");
            } else {
                tracing::debug!(%e, "uncork failed");
            }
        }
    }

    /// Sends `t` through `sink`, possibly as part of a batch.
    /// `WouldBlock` means `t` was not taken.
    pub fn send(&self, sink: &(impl Sink + ?Sized), t: &Transmit) -> io::Result<()> {
        let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        let segment = t.segment_size.unwrap_or(t.contents.len());
        let cap = match self.off.load(Ordering::Relaxed) {
            true => 1,
            false => sink.max_segments().max(1),
        };
        let key = Key::of(t);
        // Several full-size segments: quinn had more to send than fits
        // one transmit, so more may follow at once.
        let burst =
            t.segment_size.is_some() && segment > 0 && t.contents.len().is_multiple_of(segment);
        if let Some(b) = batch.as_mut()
            && b.takes(key, segment, t.contents.len(), cap)
        {
            sink.send(t)?;
            b.len += t.contents.len();
            b.transmits += 1;
            if !(burst && b.has_room(cap)) {
                self.close(sink, &mut batch);
            }
            return Ok(());
        }
        self.close(sink, &mut batch);
        let alone = Batch {
            key,
            segment,
            len: 0,
            transmits: 1,
        };
        if !(burst && alone.takes(key, segment, t.contents.len(), cap)) {
            return sink.send(t);
        }
        if let Err(e) = sink.cork(true) {
            if !self.off.swap(true, Ordering::Relaxed) {
                tracing::warn!(%e, "cannot cork the underlay socket; sending unbatched");
            }
            return sink.send(t);
        }
        if let Err(e) = sink.send(t) {
            let _ = sink.cork(false);
            return Err(e);
        }
        let open = Batch {
            len: t.contents.len(),
            ..alone
        };
        *batch = Some(open);
        if open.has_room(cap) {
            self.began.notify_one();
        } else {
            self.close(sink, &mut batch);
        }
        Ok(())
    }

    /// Sends the open batch, if any.
    pub fn flush(&self, sink: &(impl Sink + ?Sized)) {
        self.close(
            sink,
            &mut self.batch.lock().unwrap_or_else(|e| e.into_inner()),
        );
    }

    /// Sends `t` alone, after the open batch.
    pub fn send_alone(&self, sink: &(impl Sink + ?Sized), t: &Transmit) -> io::Result<()> {
        let mut batch = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        self.close(sink, &mut batch);
        sink.send(t)
    }

    /// Resolves once a batch has begun since the last call.
    pub async fn began(&self) {
        self.began.notified().await
    }

    /// Whether a batch is open.
    #[cfg(test)]
    fn is_open(&self) -> bool {
        self.batch.lock().unwrap().is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use prometheus_client::registry::Registry;

    use super::*;

    /// One send as it would leave: destination, segment size, bytes.
    type Sent = (SocketAddr, Option<usize>, Vec<u8>);

    /// Models the kernel: while corked, sends append to one pending send
    /// (segment size of the first); uncorking sends it. Refuses sends
    /// while `blocked`.
    #[derive(Default)]
    struct Kernel {
        sent: RefCell<Vec<Sent>>,
        corked: RefCell<Option<Sent>>,
        cork_on: Cell<bool>,
        blocked: Cell<bool>,
        max: Cell<usize>,
        /// Uncorking fails with EIO (a device without UDP segmentation).
        no_gso: Cell<bool>,
    }

    impl Sink for Kernel {
        fn send(&self, t: &Transmit) -> io::Result<()> {
            if self.blocked.get() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if !self.cork_on.get() {
                self.sent
                    .borrow_mut()
                    .push((t.destination, t.segment_size, t.contents.to_vec()));
                return Ok(());
            }
            let mut c = self.corked.borrow_mut();
            match c.as_mut() {
                Some(p) => p.2.extend_from_slice(t.contents),
                None => *c = Some((t.destination, t.segment_size, t.contents.to_vec())),
            }
            Ok(())
        }

        fn max_segments(&self) -> usize {
            match self.max.get() {
                0 => 64,
                n => n,
            }
        }

        fn cork(&self, on: bool) -> io::Result<()> {
            self.cork_on.set(on);
            if !on && let Some(p) = self.corked.borrow_mut().take() {
                if self.no_gso.get() {
                    return Err(io::Error::from_raw_os_error(libc::EIO));
                }
                self.sent.borrow_mut().push(p);
            }
            Ok(())
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([198, 18, 0, 2], port))
    }

    fn coalescer() -> Coalescer {
        Coalescer::new(Metrics::new(&mut Registry::default()))
    }

    /// `n` segments of `seg` bytes, the last `last` bytes long; byte
    /// values count up from `first` so that order can be checked.
    fn burst(n: usize, seg: usize, last: usize, first: u8) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            let len = if i + 1 == n { last } else { seg };
            v.extend(std::iter::repeat_n(first.wrapping_add(i as u8), len));
        }
        v
    }

    fn transmit(to: u16, seg: Option<usize>, bytes: &[u8]) -> Transmit<'_> {
        Transmit {
            destination: addr(to),
            ecn: None,
            contents: bytes,
            segment_size: seg,
            src_ip: None,
        }
    }

    fn send(c: &Coalescer, k: &Kernel, to: u16, seg: Option<usize>, b: &[u8]) -> io::Result<()> {
        c.send(k, &transmit(to, seg, b))
    }

    /// A burst of full 10-segment transmits leaves in sends of as many
    /// segments as fit 64 KiB; the tail (short last segment) sends the
    /// rest at once; every byte leaves once, in order.
    #[test]
    fn a_burst_leaves_in_full_batches_in_order() {
        let (c, k) = (coalescer(), Kernel::default());
        let seg = 1400;
        let mut all = Vec::new();
        for i in 0..9u8 {
            let t = burst(10, seg, seg, i * 10);
            send(&c, &k, 1, Some(seg), &t).unwrap();
            all.extend_from_slice(&t);
        }
        let tail = burst(3, seg, 200, 90);
        send(&c, &k, 1, Some(seg), &tail).unwrap();
        all.extend_from_slice(&tail);
        let sent = k.sent.borrow();
        let per_send = MAX_BATCH_BYTES / seg / 10 * 10;
        assert_eq!(sent[0].2.len(), per_send * seg, "first batch");
        assert!(
            sent.iter()
                .all(|(to, s, b)| *to == addr(1) && *s == Some(seg) && b.len() <= MAX_BATCH_BYTES)
        );
        assert_eq!(sent.len(), 93usize.div_ceil(per_send));
        let got: Vec<u8> = sent.iter().flat_map(|s| s.2.clone()).collect();
        assert_eq!(got, all);
        assert!(!c.is_open() && !k.cork_on.get());
        assert_eq!(c.metrics.send_batches(), (sent.len() as u64, 93));
    }

    /// Single datagrams and short transmits are never held.
    #[test]
    fn single_datagrams_leave_at_once() {
        let (c, k) = (coalescer(), Kernel::default());
        send(&c, &k, 1, None, &[7; 90]).unwrap();
        send(&c, &k, 1, Some(1400), &burst(2, 1400, 600, 0)).unwrap();
        assert_eq!(k.sent.borrow().len(), 2);
        assert!(!c.is_open() && !k.cork_on.get());
    }

    /// An open batch leaves before anything to another destination, a
    /// datagram of another size to the same one, or a probe.
    #[test]
    fn an_open_batch_leaves_first() {
        let (c, k) = (coalescer(), Kernel::default());
        send(&c, &k, 1, Some(1400), &burst(10, 1400, 1400, 0)).unwrap();
        assert!(c.is_open() && k.sent.borrow().is_empty());
        send(&c, &k, 2, None, &[9; 50]).unwrap();
        send(&c, &k, 1, Some(1400), &burst(10, 1400, 1400, 10)).unwrap();
        send(&c, &k, 1, None, &[8; 1500]).unwrap();
        send(&c, &k, 1, Some(1400), &burst(10, 1400, 1400, 20)).unwrap();
        c.send_alone(&k, &transmit(3, None, &[1; 9])).unwrap();
        let order: Vec<(SocketAddr, usize)> =
            k.sent.borrow().iter().map(|s| (s.0, s.2.len())).collect();
        assert_eq!(
            order,
            [
                (addr(1), 14_000),
                (addr(2), 50),
                (addr(1), 14_000),
                (addr(1), 1500),
                (addr(1), 14_000),
                (addr(3), 9)
            ]
        );
    }

    /// A socket that cannot take a transmit: it is refused (quinn retries
    /// it), the open batch still leaves at the flush, nothing is lost or
    /// sent twice.
    #[test]
    fn a_full_socket_refuses_instead_of_dropping() {
        let (c, k) = (coalescer(), Kernel::default());
        let first = burst(10, 1400, 1400, 0);
        send(&c, &k, 1, Some(1400), &first).unwrap();
        k.blocked.set(true);
        let second = burst(10, 1400, 1400, 10);
        let refused = send(&c, &k, 1, Some(1400), &second).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::WouldBlock);
        c.flush(&k);
        k.blocked.set(false);
        send(&c, &k, 1, Some(1400), &second).unwrap();
        c.flush(&k);
        let sent = k.sent.borrow();
        assert_eq!(sent.len(), 2);
        assert_eq!((&sent[0].2, &sent[1].2), (&first, &second));
    }

    /// Without GSO (one segment per send) nothing is ever held.
    #[test]
    fn without_gso_nothing_is_held() {
        let (c, k) = (coalescer(), Kernel::default());
        k.max.set(1);
        for _ in 0..3 {
            send(&c, &k, 1, Some(1400), &[1; 2800]).unwrap();
        }
        assert_eq!(k.sent.borrow().len(), 3);
        assert!(!c.is_open() && !k.cork_on.get());
    }

    /// A device that cannot segment: the first batch is lost (QUIC
    /// resends it), every later transmit leaves as quinn built it.
    #[test]
    fn a_refused_batch_turns_batching_off() {
        let (c, k) = (coalescer(), Kernel::default());
        k.no_gso.set(true);
        send(&c, &k, 1, Some(1400), &burst(10, 1400, 1400, 0)).unwrap();
        c.flush(&k);
        assert!(k.sent.borrow().is_empty(), "the refused batch is gone");
        for i in 1..4u8 {
            send(&c, &k, 1, Some(1400), &burst(10, 1400, 1400, i * 10)).unwrap();
        }
        assert!(!c.is_open() && !k.cork_on.get());
        let sent = k.sent.borrow();
        assert_eq!(sent.len(), 3);
        assert!(sent.iter().all(|s| s.2.len() == 14_000));
    }

    /// The flusher is told when a batch begins, and a flush sends it.
    #[tokio::test]
    async fn a_new_batch_wakes_the_flusher() {
        let (c, k) = (coalescer(), Kernel::default());
        send(&c, &k, 1, Some(1400), &burst(10, 1400, 1400, 0)).unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), c.began())
            .await
            .expect("flusher woken");
        c.flush(&k);
        assert_eq!(k.sent.borrow().len(), 1);
        assert!(!c.is_open() && !k.cork_on.get());
    }

    /// The real kernel: a corked batch of three 10-segment transmits and a
    /// short tail arrives as 33 datagrams of the right sizes, in order (a
    /// kernel that ignored the segment size while corked would deliver
    /// one large datagram, or refuse it).
    #[tokio::test]
    async fn the_kernel_splits_a_corked_batch_into_its_segments() {
        use quinn::Runtime;
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = tx.try_clone().unwrap();
        let socket = quinn::TokioRuntime.wrap_udp_socket(tx).unwrap();
        let mut poller = socket.clone().create_io_poller();
        std::future::poll_fn(|cx| poller.as_mut().poll_writable(cx))
            .await
            .unwrap();
        let sink = Underlay {
            socket: &*socket,
            fd: &fd,
        };
        if sink.max_segments() < 64 {
            eprintln!("no UDP GSO here; nothing to check");
            return;
        }
        let c = coalescer();
        let to = rx.local_addr().unwrap();
        let seg = 1200;
        let mut parts = Vec::new();
        for i in 0..3u8 {
            parts.push(burst(10, seg, seg, i * 10));
        }
        parts.push(burst(3, seg, 100, 30));
        for p in &parts {
            let t = Transmit {
                destination: to,
                ecn: None,
                contents: p,
                segment_size: Some(seg),
                src_ip: None,
            };
            c.send(&sink, &t).unwrap();
        }
        assert!(!c.is_open());
        let mut buf = [0u8; 65536];
        for i in 0..33usize {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(n, if i == 32 { 100 } else { seg }, "datagram {i}");
            assert!(
                buf[..n].iter().all(|b| usize::from(*b) == i),
                "datagram {i}"
            );
        }
    }
}
