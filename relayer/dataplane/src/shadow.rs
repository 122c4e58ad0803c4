//! The shadow stack of a userspace member. Its lease cannot have a TUN
//! (no NET_ADMIN), so the relayer gives it one elsewhere: a network
//! namespace private to the relayer (one per userspace attachment,
//! [`NetnsWorker::spawn_private`]) holding a TUN device with the member's
//! overlay address. The kernel's own TCP/UDP stack in that namespace then
//! terminates and originates the member's overlay traffic:
//!
//! - the TUN is read by the same loop as a transparent member's and
//!   packets for the member are written into it, so anti-spoofing, the
//!   two-sided stateful firewall, routing, MTU handling and metrics are
//!   the normal packet path, nothing re-implemented;
//! - served ports: listeners on `member_ip:port` here forward into the
//!   lease's namespace (`serve`, `serve_udp`), so TCP and UDP from any
//!   member (a transparent one's packets included) reach them;
//! - SOCKS5 UDP ASSOCIATE sends the client's datagrams from a socket bound
//!   to `member_ip:0` here, and receives the replies on it.
//!
//! The namespace has no other interface (its loopback stays down): only
//! the overlay reaches into it and only the overlay is reachable from it.
//! It carries IPv4 only: IPv6 is off in it, so IPv6 packets for a
//! userspace member are discarded by its kernel (IPv6 served ports and
//! SOCKS5 UDP to IPv6 members are not done yet; SOCKS5 CONNECT to IPv6
//! members goes over streams and works).
//! It ends with the attachment: its tasks end, the TUN and the sockets
//! close, the worker thread exits.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};

use crate::netns::NetnsWorker;
use crate::tun::Tun;

/// IPv4 and UDP header bytes in front of a UDP payload.
const IPV4_UDP_HEADERS: u16 = 28;

/// Turns IPv6 off in the calling thread's namespace: the shadow stack
/// carries IPv4, and the kernel's own IPv6 chatter (router solicitations,
/// MLD) would only be dropped.
fn disable_ipv6() -> io::Result<()> {
    for conf in ["all", "default"] {
        let path = format!("/proc/sys/net/ipv6/conf/{conf}/disable_ipv6");
        match std::fs::write(path, "1") {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// A userspace member's private namespace and TUN.
#[derive(Debug)]
pub(crate) struct Shadow {
    worker: NetnsWorker,
    tun: Arc<Tun>,
    ip: Ipv4Addr,
    mtu: u16,
}

impl Shadow {
    /// Creates the namespace and the TUN `name` with `ip/prefix` and `mtu`.
    pub async fn create(name: &str, ip: Ipv4Addr, prefix: u8, mtu: u16) -> io::Result<Shadow> {
        let worker = NetnsWorker::spawn_private()?;
        worker.run(disable_ipv6).await??;
        let tun = Arc::new(Tun::create(&worker, name, ip, prefix, None, mtu).await?);
        Ok(Shadow {
            worker,
            tun,
            ip,
            mtu,
        })
    }

    /// The TUN carrying the member's packets.
    pub fn tun(&self) -> &Arc<Tun> {
        &self.tun
    }

    /// Largest UDP payload that fits one overlay packet (no IP
    /// fragmentation: the overlay drops fragments).
    pub fn max_udp_payload(&self) -> usize {
        usize::from(self.mtu.saturating_sub(IPV4_UDP_HEADERS))
    }

    /// A UDP socket on the member's address (`port` 0: an ephemeral one).
    pub async fn udp_bind(&self, port: u16) -> io::Result<UdpSocket> {
        self.worker
            .udp_bind(SocketAddr::from((self.ip, port)))
            .await
    }

    /// A TCP listener on the member's address.
    pub async fn tcp_listener(&self, port: u16) -> io::Result<TcpListener> {
        self.worker
            .tcp_listener(SocketAddr::from((self.ip, port)))
            .await
    }
}
