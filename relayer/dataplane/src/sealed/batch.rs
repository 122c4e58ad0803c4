//! Sealed datagrams to one peer leave together: consecutive packets of a
//! TUN read are sealed into one buffer of equal segments (the last may be
//! shorter) and sent as one GSO transmit over the peer's current path.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

use quinn::UdpPoller;
use quinn::udp::Transmit;

use super::{OVERHEAD, Sealer};
use crate::metrics::Metrics;
use crate::paths::{MAX_BATCH_BYTES, Paths};

/// Most segments per transmit (the kernel's GSO limit is 64).
const MAX_SEGMENTS: usize = 64;

/// Sealed frames waiting to leave (see the module docs).
pub(crate) struct SendBatch {
    to: Option<SocketAddr>,
    segment: usize,
    count: usize,
    buf: Vec<u8>,
    /// Wakes us when the socket has room again.
    writable: Pin<Box<dyn UdpPoller>>,
    metrics: Metrics,
}

impl SendBatch {
    /// An empty batch for the socket of `paths`, counting its sends in
    /// `metrics`.
    pub fn new(paths: &Paths, metrics: Metrics) -> Self {
        SendBatch {
            to: None,
            segment: 0,
            count: 0,
            buf: Vec::with_capacity(MAX_BATCH_BYTES),
            writable: paths.poller(),
            metrics,
        }
    }

    /// Seals `packet` for the peer at virtual address `to` into the batch,
    /// sending what must leave first; false if `sealer` is used up.
    pub async fn push(
        &mut self,
        paths: &Paths,
        sealer: &Sealer,
        to: SocketAddr,
        packet: &[u8],
    ) -> bool {
        let len = packet.len() + OVERHEAD;
        if self.to.is_some_and(|t| t != to)
            || len > self.segment
            || self.count >= MAX_SEGMENTS.min(paths.max_segments())
            || self.buf.len() + len > MAX_BATCH_BYTES
        {
            self.flush(paths).await;
        }
        if self.count == 0 {
            self.to = Some(to);
            self.segment = len;
        }
        if !sealer.seal_into(&mut self.buf, packet) {
            return false;
        }
        self.count += 1;
        // A shorter segment ends a GSO batch.
        if len < self.segment {
            self.flush(paths).await;
        }
        true
    }

    /// Sends the batch, waiting while the socket is full (backpressure
    /// reaches the TUN instead of datagrams being dropped).
    pub async fn flush(&mut self, paths: &Paths) {
        let Some(to) = self.to.take() else { return };
        let t = Transmit {
            destination: to,
            ecn: None,
            contents: &self.buf,
            segment_size: (self.count > 1).then_some(self.segment),
            src_ip: None,
        };
        loop {
            match paths.send_sealed(&t) {
                Ok(()) => {
                    self.metrics.sealed_sent(self.count);
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if poll_fn(|cx| self.writable.as_mut().poll_writable(cx))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                // Other errors are the path's (unreachable, refused):
                // like any lost datagram, the workload's TCP resends.
                _ => break,
            }
        }
        self.buf.clear();
        self.count = 0;
        self.segment = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prometheus_client::registry::Registry;

    use super::*;
    use crate::metrics::Metrics;
    use crate::sealed::from_secret;

    /// Packets of one size leave as one batch, a shorter one ends it, a
    /// larger one or another destination starts a new one; every packet
    /// arrives as its own datagram, in order, and opens.
    #[tokio::test]
    async fn a_tun_reads_packets_arrive_one_datagram_each() {
        let real = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let metrics = Metrics::new(&mut Registry::default());
        let paths = Paths::new(real, metrics.clone(), 1, 1).unwrap();
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (sealer, _) = from_secret(&[1; 32], true);
        let (_, opener) = from_secret(&[1; 32], false);
        let mut batch = SendBatch::new(&paths, metrics.clone());
        let sizes = [1000, 1000, 1000, 400, 1000, 1200, 1200];
        for (i, len) in sizes.iter().enumerate() {
            let packet = vec![i as u8; *len];
            assert!(
                batch
                    .push(&paths, &sealer, rx.local_addr().unwrap(), &packet)
                    .await
            );
        }
        assert!(
            batch
                .push(&paths, &sealer, other.local_addr().unwrap(), b"elsewhere")
                .await
        );
        batch.flush(&paths).await;
        let mut buf = [0u8; 2048];
        for (i, len) in sizes.iter().enumerate() {
            let n = rx.recv(&mut buf).unwrap();
            assert_eq!(n, len + OVERHEAD, "packet {i}");
            let got = opener.open(&mut buf[..n]).unwrap();
            assert_eq!(got, vec![i as u8; *len].as_slice());
        }
        let n = other.recv(&mut buf).unwrap();
        assert_eq!(n, 9 + OVERHEAD);
        // [1000 ×3, 400], [1000], [1200 ×2], [9]
        assert_eq!(metrics.sealed_sends(), (4, 8));
    }
}
