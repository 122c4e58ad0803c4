//! SOCKS5 UDP ASSOCIATE (RFC 1928 §7) for a userspace member.
//!
//! On the control connection the proxy opens a relay socket in the lease's
//! namespace (on the address the client reached the proxy at, port 0) and
//! replies with its address. Datagrams the client sends there carry the
//! SOCKS UDP header naming the destination; the payload leaves from a
//! socket of the member's shadow stack ([`crate::shadow`]) bound to
//! `member_ip:0` (`member_ip6:0` for an IPv6 destination, when the member
//! has an IPv6 address), so it is an ordinary overlay packet from the member
//! (anti-spoofing, stateful firewall, routing: the packet path). Replies
//! arriving on that socket go back to the client with a header naming
//! their source.
//!
//! Refused datagrams are dropped and counted: from anyone but the client
//! (`spoofed_source`; the client's address is the control connection's,
//! its port the one it announced, or if it announced 0 the port of its
//! first datagram), an undecodable header (`malformed`), FRAG ≠ 0
//! (`fragment`: reassembly is not supported), a domain name, or an IPv6
//! destination for a member without an IPv6 address (`address_type`),
//! a payload larger than one overlay packet (`too_big`), a destination
//! that is not a member (`no_route`) or that the firewall denies
//! (`policy`, checked like a CONNECT before any packet is made).
//!
//! The association is the session's task: it holds the member's SOCKS
//! session permit and ends when the control connection closes or sends
//! anything, or after [`SOCKS_UDP_IDLE`] without a datagram. Its only
//! memory is one datagram buffer; datagrams wait in the kernel's socket
//! buffers, never in a queue of ours, and each wake-up handles at most
//! [`UDP_BATCH`] of them.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;

use avpn_model::Verdict;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::UserspaceMember;
use crate::datapath::Shared;
use crate::dns;
use crate::limits::{SOCKS_UDP_IDLE, UDP_BATCH};
use crate::metrics::DropReason;
use crate::packet::{Addrs, proto};
use crate::socks::{
    Reply, Target, UDP_HEADER_MAX, UDP_HEADER_V4_LEN, UDP_HEADER_V6_LEN, UdpHeader,
};

/// Runs a UDP association on the control connection `client`, whose
/// request named `from` (where the client will send from; 0.0.0.0 and
/// port 0 mean "not known yet"), until it ends.
pub(super) async fn associate(
    shared: &Arc<Shared>,
    me: &UserspaceMember,
    mut client: TcpStream,
    from: Target,
    _permit: OwnedSemaphorePermit,
) {
    let unbound = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    let (Ok(SocketAddr::V4(peer)), Ok(SocketAddr::V4(local))) =
        (client.peer_addr(), client.local_addr())
    else {
        // An IPv6 proxy address: replies here carry IPv4 addresses only.
        let _ = client
            .write_all(&Reply::AddressTypeNotSupported.encode(unbound))
            .await;
        return;
    };
    let port = match from {
        Target::V4(a) if a.ip().is_unspecified() || a.ip() == peer.ip() => a.port(),
        Target::V4(_) => {
            // Datagrams are taken only from the client's own address.
            let _ = client.write_all(&Reply::NotAllowed.encode(unbound)).await;
            return;
        }
        _ => {
            let _ = client
                .write_all(&Reply::AddressTypeNotSupported.encode(unbound))
                .await;
            return;
        }
    };
    let sockets = async {
        let relay = me
            .lease
            .udp_bind(SocketAddr::from((*local.ip(), 0)))
            .await?;
        // One socket per address of the member, IPv4 first.
        let mut outs = me.shadow.udp_binds(0).await?.into_iter();
        let out = outs
            .next()
            .ok_or_else(|| io::Error::other("no shadow socket"))?;
        let out6 = outs.next();
        // `try_send_to` fails until the runtime has seen a new socket
        // writable once.
        relay.writable().await?;
        out.writable().await?;
        if let Some(o) = &out6 {
            o.writable().await?;
        }
        io::Result::Ok((relay, out, out6))
    };
    let (relay, out, out6, bound) = match sockets.await {
        Ok((relay, out, out6)) => match relay.local_addr() {
            Ok(SocketAddr::V4(bound)) => (relay, out, out6, bound),
            _ => return,
        },
        Err(e) => {
            tracing::debug!(%e, "socks udp sockets");
            let _ = client
                .write_all(&Reply::GeneralFailure.encode(unbound))
                .await;
            return;
        }
    };
    if client
        .write_all(&Reply::Succeeded.encode(bound))
        .await
        .is_err()
    {
        return;
    }
    let max_payload = me.shadow.max_udp_payload();
    let mut association = Association {
        shared: shared.clone(),
        me: me.clone(),
        client_ip: *peer.ip(),
        client_port: port,
        relay,
        out,
        out6,
        max_payload,
        buf: vec![0; UDP_HEADER_MAX + max_payload + 1],
    };
    association.run(&mut client).await;
}

/// One association's sockets and state.
struct Association {
    shared: Arc<Shared>,
    me: UserspaceMember,
    client_ip: Ipv4Addr,
    /// 0 until the first datagram fixes it.
    client_port: u16,
    /// In the lease's namespace: datagrams to and from the client.
    relay: UdpSocket,
    /// In the shadow namespace on `member_ip:0`: to and from the overlay.
    out: UdpSocket,
    /// On `member_ip6:0`, when the member has an IPv6 address.
    out6: Option<UdpSocket>,
    max_payload: usize,
    /// One datagram: the longest header, one overlay payload and a byte
    /// that tells a larger datagram (truncated on receive).
    buf: Vec<u8>,
}

impl Association {
    async fn run(&mut self, client: &mut TcpStream) {
        let mut ctl = [0u8; 1];
        let mut last = Instant::now();
        loop {
            let relayed = tokio::select! {
                // Nothing is expected after the reply: EOF, an error or
                // stray bytes end the association.
                _ = client.read(&mut ctl) => return,
                _ = tokio::time::sleep_until(last + SOCKS_UDP_IDLE) => return,
                r = self.relay.readable() => match r {
                    Ok(()) => self.relay_outbound(),
                    Err(_) => return,
                },
                r = self.out.readable() => match r {
                    Ok(()) => self.relay_replies(false),
                    Err(_) => return,
                },
                r = readable(self.out6.as_ref()) => match r {
                    Ok(()) => self.relay_replies(true),
                    Err(_) => return,
                },
            };
            if relayed {
                last = Instant::now();
            }
        }
    }

    /// Relays the client's queued datagrams (at most [`UDP_BATCH`]);
    /// returns whether one was sent on.
    fn relay_outbound(&mut self) -> bool {
        let mut relayed = false;
        for _ in 0..UDP_BATCH {
            let (n, from) = match self.relay.try_recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            };
            match self.check(n, from) {
                Ok((dst, at)) => {
                    let out = match dst {
                        SocketAddr::V4(_) => Some(&self.out),
                        SocketAddr::V6(_) => self.out6.as_ref(),
                    };
                    if let Some(out) = out {
                        let _ = out.try_send_to(&self.buf[at..n], dst);
                        relayed = true;
                    }
                }
                Err(reason) => self.shared.metrics.drop(reason),
            }
        }
        relayed
    }

    /// Checks datagram `buf[..n]` from `from`: the destination and the
    /// payload offset, or why it is dropped.
    fn check(&mut self, n: usize, from: SocketAddr) -> Result<(SocketAddr, usize), DropReason> {
        match from {
            SocketAddr::V4(f) if *f.ip() == self.client_ip => {
                if self.client_port == 0 {
                    self.client_port = f.port();
                } else if f.port() != self.client_port {
                    return Err(DropReason::SpoofedSource);
                }
            }
            _ => return Err(DropReason::SpoofedSource),
        }
        if n == self.buf.len() {
            return Err(DropReason::TooBig);
        }
        let (header, at) = UdpHeader::decode(&self.buf[..n]).map_err(|_| DropReason::Malformed)?;
        if header.frag != 0 {
            return Err(DropReason::Fragment);
        }
        let (dst, addrs) = match header.target {
            Target::V4(dst) => (
                SocketAddr::V4(dst),
                Addrs::V4 {
                    src: self.me.ip,
                    dst: *dst.ip(),
                },
            ),
            Target::V6(ip, port) if self.out6.is_some() => {
                let src = self.me.ip6.ok_or(DropReason::AddressType)?;
                (
                    SocketAddr::V6(SocketAddrV6::new(ip, port, 0, 0)),
                    Addrs::V6 { src, dst: ip },
                )
            }
            _ => {
                tracing::debug!("socks udp: a domain, or IPv6 for a member without IPv6");
                return Err(DropReason::AddressType);
            }
        };
        if n - at > self.max_payload {
            return Err(DropReason::TooBig);
        }
        let tables = self.shared.tables.load();
        let net = tables
            .networks
            .get(&self.me.network)
            .ok_or(DropReason::NoRoute)?;
        // DNS to the gateway is answered by the shadow stack's TUN path.
        if dst.port() == dns::PORT && dns::serve::gateway(&net.info, &addrs) == Some(dst.ip()) {
            return Ok((dst, at));
        }
        if !net.members.contains(dst.ip()) {
            return Err(DropReason::NoRoute);
        }
        if net.policy.decide(addrs, proto::UDP, dst.port()) != Verdict::Allow {
            return Err(DropReason::Policy);
        }
        Ok((dst, at))
    }

    /// Relays queued replies from the overlay to the client (at most
    /// [`UDP_BATCH`]) from the IPv4 socket or, with `v6`, the IPv6 one;
    /// returns whether one was sent on.
    fn relay_replies(&mut self, v6: bool) -> bool {
        let out = if v6 {
            self.out6.as_ref()
        } else {
            Some(&self.out)
        };
        let Some(out) = out else { return false };
        let room = if v6 {
            UDP_HEADER_V6_LEN
        } else {
            UDP_HEADER_V4_LEN
        };
        let mut relayed = false;
        for _ in 0..UDP_BATCH {
            let (n, from) = match out.try_recv_from(&mut self.buf[room..]) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => continue,
            };
            // Nothing was sent yet, so nothing can answer: unsolicited.
            if self.client_port == 0 {
                continue;
            }
            let header = UdpHeader {
                frag: 0,
                target: match from {
                    SocketAddr::V4(a) => Target::V4(a),
                    SocketAddr::V6(a) => Target::V6(*a.ip(), a.port()),
                },
            }
            .encode();
            if header.len() != room {
                continue;
            }
            self.buf[..room].copy_from_slice(&header);
            let to = SocketAddrV4::new(self.client_ip, self.client_port);
            let _ = self.relay.try_send_to(&self.buf[..room + n], to.into());
            relayed = true;
        }
        relayed
    }
}

/// Waits until `socket` is readable; never, without a socket.
async fn readable(socket: Option<&UdpSocket>) -> io::Result<()> {
    match socket {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}
