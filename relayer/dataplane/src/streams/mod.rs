//! Userspace TCP forwarding: the SOCKS5 proxy inside a lease namespace
//! ([`socks_server`]), QUIC streams between relayers ([`peer_streams`],
//! wire header see [`crate::wire`]), and delivery to a local member
//! ([`open`]): its "serve" mapping in userspace mode, or its own overlay
//! address (a socket in its namespace) in transparent mode.
//!
//! Every forwarded connection ([`forward`]) is registered with its flow
//! so that a policy change or a member removal can cut it
//! ([`StreamRegistry::cut`]), and with the QUIC connection carrying it (a
//! replaced connection drains until its streams end). A forward is a task
//! of the local member it comes from or goes to, and is also cut when the
//! other end (a peer, or a second local member) is removed.
//!
//! Limits ([`crate::limits`]): concurrent SOCKS5 sessions per member,
//! concurrent forwards into a member, concurrent streams per peer
//! connection (QUIC flow control; reaching it is counted). Copy buffers
//! are allocated when a forward starts and freed when it ends.

mod forward;
mod open;
mod peer_streams;
mod registry;
mod socks_server;

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

pub(crate) use peer_streams::stream_accept_loop;
pub(crate) use registry::StreamRegistry;
pub(crate) use socks_server::{SocksMember, socks_loop};

/// Time allowed for a stream header, SOCKS handshake or reply.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Fills `buf` from `r` within [`HANDSHAKE_TIMEOUT`].
async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, r.read_exact(buf))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timeout"))??;
    Ok(())
}
