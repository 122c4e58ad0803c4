//! Userspace forwarding: the SOCKS5 proxy inside a lease namespace
//! ([`socks_server`]: CONNECT, and UDP ASSOCIATE in [`socks_udp`]), QUIC
//! streams between relayers ([`peer_streams`], wire header see
//! [`crate::wire`]), delivery to a local member ([`open`]): its "serve"
//! mapping in userspace mode, or its own overlay address (a socket in its
//! namespace) in transparent mode; and a userspace member's served ports
//! on its shadow stack ([`crate::shadow`]), reached by other members'
//! packets ([`served_tcp`], [`served_udp`]).
//!
//! Every forwarded connection ([`forward`]) is registered with its flow
//! so that a policy change or a member removal can cut it
//! ([`StreamRegistry::cut`]), and with the QUIC connection carrying it (a
//! replaced connection drains until its streams end). A forward is a task
//! of the local member it comes from or goes to, and is also cut when the
//! other end (a peer, or a second local member) is removed. UDP through
//! the shadow stack is packets: the packet path checks every datagram, so
//! a denied flow stops at once and its state idles out.
//!
//! Limits ([`crate::limits`]): concurrent SOCKS5 sessions per member,
//! concurrent forwards into a member, concurrent UDP flows into a member,
//! concurrent streams per peer connection (QUIC flow control; reaching it
//! is counted). Copy and datagram buffers are allocated when a forward,
//! association or flow starts and freed when it ends.

mod forward;
mod open;
mod peer_streams;
mod pipe;
mod registry;
mod served_tcp;
mod served_udp;
mod socks_server;
mod socks_udp;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use avpn_model::NetworkId;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::netns::NetnsWorker;
use crate::shadow::Shadow;
use crate::tasks::Spawner;

pub(crate) use peer_streams::stream_accept_loop;
pub(crate) use registry::StreamRegistry;
pub(crate) use served_tcp::serve_tcp;
pub(crate) use served_udp::serve_udp;
pub(crate) use socks_server::socks_loop;

/// Time allowed for a stream header, SOCKS handshake or reply.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A userspace member, as its SOCKS5 server and served ports see it.
#[derive(Clone)]
pub(crate) struct UserspaceMember {
    pub network: NetworkId,
    /// The member's overlay address.
    pub ip: Ipv4Addr,
    /// The member's overlay IPv6 address, in a network with an IPv6 prefix.
    pub ip6: Option<Ipv6Addr>,
    /// A thread in the lease's namespace.
    pub lease: Arc<NetnsWorker>,
    /// The member's shadow stack.
    pub shadow: Arc<Shadow>,
    /// The member's attachment tasks (sessions, forwards and flows run
    /// there).
    pub tasks: Spawner,
}

/// Fills `buf` from `r` within [`HANDSHAKE_TIMEOUT`].
async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, r.read_exact(buf))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timeout"))??;
    Ok(())
}
