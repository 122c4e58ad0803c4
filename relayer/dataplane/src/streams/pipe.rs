//! The two ends of a forwarded connection and the byte copy between them.
//!
//! Why not `tokio::io::copy_bidirectional`: it zero-fills a fresh copy
//! buffer per direction for every connection (a measurable share of the
//! CPU at thousands of connections per second) and copies QUIC stream data
//! once more than needed. Here TCP reads land in spare, unzeroed capacity
//! (at most [`COPY_BUF`] bytes per read) and are handed to a QUIC stream
//! as they are (`write_chunk` takes the `Bytes` without a copy); QUIC
//! stream data goes to TCP as the chunks quinn received, several per
//! `writev` ([`write_tcp`]).

use std::io::{self, IoSlice};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::limits::COPY_BUF;

/// Reads go on into the current allocation while this much room is left.
/// Bytes handed to a QUIC stream stay allocated until the peer acknowledges
/// them, so a fresh buffer per read would let a trickle of tiny reads pin
/// [`COPY_BUF`] each; filling each allocation to at least three quarters
/// keeps what is pinned within 4/3 of the bytes QUIC holds (its send
/// window) plus one buffer.
const MIN_ROOM: usize = COPY_BUF / 4;

/// One end of a forward.
pub(super) enum End {
    /// A TCP connection in a namespace of this host.
    Tcp(TcpStream),
    /// A QUIC stream to a peer provider.
    Quic(quinn::SendStream, quinn::RecvStream),
}

impl End {
    fn split(self) -> (Source, Sink) {
        match self {
            End::Tcp(s) => {
                let (r, w) = s.into_split();
                (Source::new(Reader::Tcp(r)), Sink::Tcp(w))
            }
            End::Quic(send, recv) => (Source::new(Reader::Quic(recv)), Sink::Quic(send)),
        }
    }
}

/// Most chunks (about one packet's payload each) taken from a QUIC stream
/// per read: one `writev` of up to ~80 KiB to TCP (on the userspace path
/// of `bench`, half the `writev` calls of 32 per read).
const MAX_CHUNKS: usize = 64;

/// The reading half of an [`End`], with the buffer TCP reads land in
/// (allocated at the first read; its room is reused once the bytes handed
/// out are dropped) and the bytes of the last read.
struct Source {
    reader: Reader,
    buf: BytesMut,
    /// One slot per chunk a read may return: one for TCP, [`MAX_CHUNKS`]
    /// for QUIC (allocated at the first read).
    read: Vec<Bytes>,
}

enum Reader {
    Tcp(OwnedReadHalf),
    Quic(quinn::RecvStream),
}

impl Source {
    fn new(reader: Reader) -> Self {
        Source {
            reader,
            buf: BytesMut::new(),
            read: Vec::new(),
        }
    }

    /// The next bytes, or `None` at the end of the stream: from TCP one
    /// buffer of at most [`COPY_BUF`] bytes; from QUIC up to
    /// [`MAX_CHUNKS`] chunks as the stream received them (no copy).
    async fn next(&mut self) -> io::Result<Option<&mut [Bytes]>> {
        let n = match &mut self.reader {
            Reader::Tcp(r) => {
                if self.buf.capacity() - self.buf.len() < MIN_ROOM {
                    // Reclaims the room of earlier reads once their bytes
                    // are dropped; allocates (unzeroed) only while they
                    // are held.
                    self.buf.reserve(COPY_BUF);
                }
                if r.take(COPY_BUF as u64).read_buf(&mut self.buf).await? == 0 {
                    return Ok(None);
                }
                self.read.clear();
                self.read.push(self.buf.split().freeze());
                1
            }
            Reader::Quic(r) => {
                self.read.resize(MAX_CHUNKS, Bytes::new());
                match r.read_chunks(&mut self.read).await? {
                    Some(n) => n,
                    None => return Ok(None),
                }
            }
        };
        Ok(Some(&mut self.read[..n]))
    }
}

/// The writing half of an [`End`].
enum Sink {
    Tcp(OwnedWriteHalf),
    Quic(quinn::SendStream),
}

impl Sink {
    /// Writes `chunks` (emptied).
    async fn write(&mut self, chunks: &mut [Bytes]) -> io::Result<()> {
        match self {
            Sink::Tcp(w) => write_tcp(w, chunks).await,
            Sink::Quic(w) => match chunks {
                [one] => Ok(w.write_chunk(std::mem::take(one)).await?),
                many => Ok(w.write_all_chunks(many).await?),
            },
        }
    }

    /// Passes the end of the stream on (TCP: shutdown of the write side;
    /// QUIC: FIN).
    async fn finish(&mut self) -> io::Result<()> {
        match self {
            Sink::Tcp(w) => w.shutdown().await,
            Sink::Quic(w) => w.finish().map_err(io::Error::other),
        }
    }
}

/// Writes `chunks` to `w` (emptying them): several in one `writev` as far
/// as the socket takes them now. A QUIC chunk keeps the whole datagram
/// batch it arrived in allocated, so chunks are not held while waiting for
/// a slow reader: what the socket does not take at once is first copied
/// into one buffer (a single chunk is kept as it is).
async fn write_tcp(w: &mut OwnedWriteHalf, chunks: &mut [Bytes]) -> io::Result<()> {
    let total: usize = chunks.iter().map(Bytes::len).sum();
    let mut taken = 0;
    if chunks.len() > 1 {
        let slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
        match w.try_write_vectored(&slices) {
            Ok(n) => taken = n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    let rest = match &*chunks {
        [] => return Ok(()),
        [one] => one.slice(taken..),
        _ if taken == total => Bytes::new(),
        many => {
            let mut rest = BytesMut::with_capacity(total - taken);
            let mut skip = taken;
            for c in many.iter() {
                let from = skip.min(c.len());
                rest.extend_from_slice(&c[from..]);
                skip -= from;
            }
            rest.freeze()
        }
    };
    chunks.fill(Bytes::new());
    w.write_all(&rest).await
}

/// Copies `from` to `to` until the end of `from`, then passes the end on;
/// returns the bytes copied.
async fn copy(mut from: Source, mut to: Sink) -> io::Result<u64> {
    let mut total = 0u64;
    while let Some(chunks) = from.next().await? {
        total += chunks.iter().map(|c| c.len() as u64).sum::<u64>();
        to.write(chunks).await?;
    }
    to.finish().await?;
    Ok(total)
}

/// Copies both ways between `a` and `b` until both directions have ended
/// (each end passed on); returns the bytes copied from `a` to `b` and
/// from `b` to `a`. The first error ends both.
pub(super) async fn copy_both(a: End, b: End) -> io::Result<(u64, u64)> {
    let (a_read, a_write) = a.split();
    let (b_read, b_write) = b.split();
    tokio::try_join!(copy(a_read, b_write), copy(b_read, a_write))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A connected pair of local TCP streams.
    async fn tcp_pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        (c, s)
    }

    /// Bytes pass both ways unchanged, in reads larger than one buffer,
    /// and each side's end reaches the other.
    #[tokio::test]
    async fn copies_both_ways_and_passes_the_end_on() {
        let (mut client, near) = tcp_pair().await;
        let (far, mut server) = tcp_pair().await;
        let forward = tokio::spawn(copy_both(End::Tcp(near), End::Tcp(far)));
        let up: Vec<u8> = (0..3 * COPY_BUF + 17).map(|i| (i % 251) as u8).collect();
        let down: Vec<u8> = up.iter().rev().copied().collect();
        let (up2, down2) = (up.clone(), down.clone());
        let c = tokio::spawn(async move {
            client.write_all(&up2).await.unwrap();
            client.shutdown().await.unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut got_up = Vec::new();
        server.read_to_end(&mut got_up).await.unwrap();
        server.write_all(&down2).await.unwrap();
        server.shutdown().await.unwrap();
        assert_eq!(got_up, up);
        assert_eq!(c.await.unwrap(), down);
        let (ab, ba) = forward.await.unwrap().unwrap();
        assert_eq!((ab, ba), (up.len() as u64, down.len() as u64));
    }

    /// Tiny reads whose bytes are all still held (as a QUIC stream holds
    /// them until acknowledged) share allocations instead of pinning one
    /// buffer each.
    #[tokio::test]
    async fn held_tiny_reads_share_allocations() {
        let (mut w, r) = tcp_pair().await;
        let (r, _keep) = r.into_split();
        let mut src = Source::new(Reader::Tcp(r));
        let mut held = Vec::new();
        for i in 0..2000u32 {
            w.write_all(&i.to_be_bytes()).await.unwrap();
            let mut got = 0;
            while got < 4 {
                let b = std::mem::take(&mut src.next().await.unwrap().unwrap()[0]);
                got += b.len();
                held.push(b);
            }
        }
        let mut starts: Vec<usize> = held.iter().map(|b| b.as_ptr() as usize).collect();
        starts.sort_unstable();
        let allocations = 1 + starts.windows(2).filter(|w| w[1] - w[0] > COPY_BUF).count();
        // 8,000 bytes in at most a few allocations, not one per read.
        assert!(allocations <= 2, "{allocations} allocations");
        let bytes: Vec<u8> = held.iter().flat_map(|b| b.iter().copied()).collect();
        let want: Vec<u8> = (0..2000u32).flat_map(|i| i.to_be_bytes()).collect();
        assert_eq!(bytes, want);
    }

    /// Reads never return more than one buffer's worth, and the buffer
    /// does not grow while the bytes handed out are dropped.
    #[tokio::test]
    async fn tcp_reads_reuse_their_buffer() {
        let (mut w, r) = tcp_pair().await;
        let (r, _keep) = r.into_split();
        let mut src = Source::new(Reader::Tcp(r));
        let chunk = vec![7u8; COPY_BUF];
        for _ in 0..4 {
            w.write_all(&chunk).await.unwrap();
            let mut seen = 0;
            while seen < COPY_BUF {
                let b = src.next().await.unwrap().unwrap();
                assert_eq!(b.len(), 1, "one buffer per TCP read");
                assert!(b[0].len() <= COPY_BUF);
                seen += b[0].len();
            }
            assert!(src.buf.capacity() <= 2 * COPY_BUF, "{}", src.buf.capacity());
        }
        drop(w);
        assert!(src.next().await.unwrap().is_none());
    }

    /// Many chunks to a reader that does not keep up: every byte arrives
    /// once and in order, and no chunk is held once a write returns (what
    /// the socket did not take at once was copied out).
    #[tokio::test]
    async fn chunks_reach_a_slow_reader_in_order_and_are_released() {
        let (w, mut r) = tcp_pair().await;
        let (_keep, mut w) = w.into_split();
        let data: Vec<u8> = (0..4 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
        let reader = tokio::spawn(async move {
            // Let the socket buffers fill before reading.
            let mut got = Vec::new();
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            r.read_to_end(&mut got).await.unwrap();
            got
        });
        let whole = Bytes::from(data.clone());
        let mut pinned = 0;
        for batch in whole.chunks(MAX_CHUNKS * 1300) {
            let mut chunks: Vec<Bytes> = batch.chunks(1300).map(|c| whole.slice_ref(c)).collect();
            write_tcp(&mut w, &mut chunks).await.unwrap();
            pinned += chunks.iter().filter(|c| !c.is_empty()).count();
        }
        drop(w);
        assert_eq!(pinned, 0, "chunks held after their write");
        assert!(reader.await.unwrap() == data, "bytes differ");
    }
}
