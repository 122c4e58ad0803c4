//! Provider C of the attack tests: a QUIC endpoint run by the test that
//! speaks the data plane by hand. It sends QUIC datagrams (which a
//! relayer accepts like its sealed ones) and receives both QUIC and
//! sealed datagrams, the latter diverted from its socket before QUIC
//! sees them and opened with the connection's channel keys.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use avpn_dataplane::paths::frame::SEALED;
use avpn_dataplane::sealed::{self, Opener, Sealer};
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use tokio::sync::mpsc;

/// A connection of provider C with the sealed datagrams it receives.
pub struct RawPeer {
    pub ep: quinn::Endpoint,
    pub conn: quinn::Connection,
    /// The sending half of the connection's sealed channel.
    pub sealer: Sealer,
    sealed: mpsc::UnboundedReceiver<Vec<u8>>,
    opener: Opener,
    socket: Arc<dyn AsyncUdpSocket>,
    to: SocketAddr,
}

impl RawPeer {
    /// Sends `bytes` as one UDP datagram to the relayer, beside QUIC.
    pub async fn send_raw(&self, bytes: &[u8]) {
        let t = Transmit {
            destination: self.to,
            ecn: None,
            contents: bytes,
            segment_size: None,
            src_ip: None,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while let Err(e) = self.socket.try_send(&t) {
            assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
            assert!(
                std::time::Instant::now() < deadline,
                "socket never writable"
            );
            tokio::task::yield_now().await;
        }
    }

    /// `datagram` sealed with the connection's keys.
    pub fn seal(&self, datagram: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        assert!(self.sealer.seal_into(&mut f, datagram));
        f
    }

    /// The next data-plane datagram (wire header and packet) from the
    /// relayer, QUIC or sealed, if one comes within `within`.
    pub async fn recv(&mut self, within: Duration) -> Option<Vec<u8>> {
        tokio::time::timeout(within, async {
            loop {
                let datagram = tokio::select! {
                    d = self.conn.read_datagram() => d.ok()?.to_vec(),
                    f = self.sealed.recv() => {
                        let mut f = f?;
                        self.opener
                            .open(&mut f)
                            .expect("the relayer's sealed datagram opens")
                            .to_vec()
                    }
                };
                // Padding only stands for a packet size.
                if !avpn_dataplane::wire::is_padding(&datagram) {
                    return Some(datagram);
                }
            }
        })
        .await
        .ok()
        .flatten()
    }
}

/// Connects the raw endpoint to `to`; `low`: C's public key is the
/// lower of the two.
pub async fn connect((ep, sealed, socket): super::Diverting, to: SocketAddr, low: bool) -> RawPeer {
    let conn = ep
        .connect(to, "avpn")
        .unwrap()
        .await
        .expect("trusted provider C connects");
    let (sealer, opener) = sealed::channel(&conn, low).expect("keys export");
    RawPeer {
        ep,
        conn,
        sealer,
        sealed,
        opener,
        socket,
        to,
    }
}

/// A UDP socket for quinn that hands sealed datagrams to a channel.
#[derive(Debug)]
pub struct Divert {
    pub inner: Arc<dyn AsyncUdpSocket>,
    pub tx: mpsc::UnboundedSender<Vec<u8>>,
}

impl AsyncUdpSocket for Divert {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, t: &Transmit) -> io::Result<()> {
        self.inner.try_send(t)
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(self.inner.poll_recv(cx, bufs, meta))?;
        for (buf, m) in bufs.iter().zip(meta.iter_mut()).take(n) {
            if m.len > 0 && buf[0] == SEALED {
                let stride = if m.stride == 0 { m.len } else { m.stride };
                for seg in buf[..m.len].chunks(stride) {
                    let _ = self.tx.send(seg.to_vec());
                }
                // (A QUIC packet coalesced with them is lost: QUIC resends.)
                m.len = 0;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}
