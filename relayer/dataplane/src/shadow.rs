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
//! It carries the member's IPv6 address too when the network has a
//! `cidr6` (served ports listen on both addresses); otherwise IPv6 is off
//! in it. SOCKS5 UDP ASSOCIATE relays to IPv4 members only; SOCKS5
//! CONNECT to IPv6 members goes over streams.
//! It ends with the attachment: its tasks end, the TUN and the sockets
//! close, the worker thread exits.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use socket2::{Domain, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};

use crate::netns::NetnsWorker;
use crate::tun::Tun;

/// IPv4 and UDP header bytes in front of a UDP payload (IPv6's are 20
/// bytes more, so IPv4 gives the largest payload either family carries).
const IP_UDP_HEADERS: u16 = 28;

/// Turns IPv6 off in the calling thread's namespace (a member without an
/// IPv6 address): the kernel's own IPv6 chatter (router solicitations,
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

/// Turns duplicate address detection off in the calling thread's
/// namespace before the member's IPv6 address is added: nothing else
/// lives there, and a tentative address (DAD runs asynchronously even on a
/// NOARP device) would make binding the served ports fail at random.
fn disable_dad() -> io::Result<()> {
    for conf in ["all", "default"] {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{conf}/accept_dad"), "0")?;
    }
    Ok(())
}

/// A userspace member's private namespace and TUN.
#[derive(Debug)]
pub(crate) struct Shadow {
    worker: NetnsWorker,
    tun: Arc<Tun>,
    ip: Ipv4Addr,
    ip6: Option<Ipv6Addr>,
    mtu: u16,
}

impl Shadow {
    /// Creates the namespace and the TUN `name` with `ip/prefix`, the
    /// IPv6 address and prefix `ip6` if any, and `mtu`.
    pub async fn create(
        name: &str,
        ip: Ipv4Addr,
        prefix: u8,
        ip6: Option<(Ipv6Addr, u8)>,
        mtu: u16,
    ) -> io::Result<Shadow> {
        let worker = NetnsWorker::spawn_private()?;
        match ip6 {
            None => worker.run(disable_ipv6).await??,
            Some(_) => worker.run(disable_dad).await??,
        }
        let tun = Arc::new(Tun::create(&worker, name, ip, prefix, ip6, mtu).await?);
        Ok(Shadow {
            worker,
            tun,
            ip,
            ip6: ip6.map(|(a, _)| a),
            mtu,
        })
    }

    /// The member's addresses in this namespace (IPv4 first).
    fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        std::iter::once(IpAddr::V4(self.ip)).chain(self.ip6.map(IpAddr::V6))
    }

    /// The TUN carrying the member's packets.
    pub fn tun(&self) -> &Arc<Tun> {
        &self.tun
    }

    /// Largest UDP payload that fits one overlay packet (no IP
    /// fragmentation: the overlay drops fragments).
    pub fn max_udp_payload(&self) -> usize {
        usize::from(self.mtu.saturating_sub(IP_UDP_HEADERS))
    }

    /// TCP listeners on port `port` of each of the member's addresses.
    pub async fn tcp_listeners(&self, port: u16) -> io::Result<Vec<TcpListener>> {
        let mut out = Vec::new();
        for ip in self.addrs() {
            let addr = SocketAddr::new(ip, port);
            let l = self.worker.run(move || bound(addr, Type::STREAM)).await??;
            out.push(TcpListener::from_std(l.into())?);
        }
        Ok(out)
    }

    /// UDP sockets on port `port` of each of the member's addresses.
    pub async fn udp_binds(&self, port: u16) -> io::Result<Vec<UdpSocket>> {
        let mut out = Vec::new();
        for ip in self.addrs() {
            let addr = SocketAddr::new(ip, port);
            let u = self.worker.run(move || bound(addr, Type::DGRAM)).await??;
            out.push(UdpSocket::from_std(u.into())?);
        }
        Ok(out)
    }
}

/// A non-blocking socket of type `ty` bound to `addr` (listening, for a
/// stream socket). Free-bind: the kernel brings a new IPv6 address up
/// asynchronously after the TUN is up, and only the relayer's own
/// addresses live in this namespace, so binding need not wait for it.
fn bound(addr: SocketAddr, ty: Type) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), ty, None)?;
    match addr {
        SocketAddr::V4(_) => s.set_freebind_v4(true)?,
        SocketAddr::V6(_) => s.set_freebind_v6(true)?,
    }
    if ty == Type::STREAM {
        s.set_reuse_address(true)?;
    }
    s.bind(&addr.into())?;
    if ty == Type::STREAM {
        s.listen(1024)?;
    }
    s.set_nonblocking(true)?;
    Ok(s)
}
