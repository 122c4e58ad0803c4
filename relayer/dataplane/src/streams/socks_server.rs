//! The SOCKS5 server a userspace member reaches the overlay through
//! (no authentication; CONNECT to IPv4 or IPv6 overlay addresses or to
//! the names of the member's network, see [`crate::dns`]; UDP ASSOCIATE
//! see [`super::socks_udp`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use avpn_model::NetworkId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::forward::{Flow, Hold, spawn_forward};
use super::open::{Opened, open};
use super::pipe::End;
use super::socks_udp::associate;
use super::{HANDSHAKE_TIMEOUT, UserspaceMember};
use crate::datapath::Shared;
use crate::metrics::DropReason;
use crate::socks::{self, Command, Greeting, Reply, Request, SocksError, Target};

/// Accepts SOCKS5 clients of local member `me` until cancelled, at most
/// `sessions` (permits) at a time: a client beyond is closed at once.
pub(crate) async fn socks_loop(
    shared: Arc<Shared>,
    me: UserspaceMember,
    listener: TcpListener,
    sessions: Arc<Semaphore>,
) {
    loop {
        match listener.accept().await {
            Ok((client, from)) => {
                let Ok(permit) = sessions.clone().try_acquire_owned() else {
                    shared.metrics.drop(DropReason::SocksLimit);
                    drop(client);
                    continue;
                };
                me.tasks.spawn(socks_session(
                    shared.clone(),
                    me.clone(),
                    client,
                    from.port(),
                    permit,
                ));
            }
            Err(e) => tracing::debug!(%e, "socks accept"),
        }
    }
}

/// Reads from `client` until `decode` succeeds; returns the message and
/// the bytes read past it.
async fn read_message<T>(
    client: &mut TcpStream,
    buf: &mut Vec<u8>,
    decode: impl Fn(&[u8]) -> Result<(T, usize), SocksError>,
) -> io::Result<T> {
    loop {
        match decode(buf) {
            Ok((msg, n)) => {
                buf.drain(..n);
                return Ok(msg);
            }
            Err(SocksError::Incomplete(_)) => {}
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
        if buf.len() > 600 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "oversized socks message",
            ));
        }
        let mut chunk = [0u8; 512];
        let n = tokio::time::timeout(HANDSHAKE_TIMEOUT, client.read(&mut chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "socks timeout"))??;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `target` with a domain name replaced by the IPv4 address it names in
/// the member's network (the names its gateway answers); another name
/// gets "host unreachable".
fn resolve(shared: &Shared, network: NetworkId, target: Target) -> Result<Target, Reply> {
    let Target::Domain(name, port) = target else {
        return Ok(target);
    };
    let tables = shared.tables.load();
    let net = tables
        .networks
        .get(&network)
        .ok_or(Reply::NetworkUnreachable)?;
    let host = net.zone.resolve(&name).ok_or(Reply::HostUnreachable)?;
    Ok(Target::V4(SocketAddrV4::new(host.ip, port)))
}

/// One SOCKS5 client: handshake, request, then for CONNECT the forward
/// (a task of the member) if the target opens, for UDP ASSOCIATE the
/// association (this task, until it ends).
async fn socks_session(
    shared: Arc<Shared>,
    me: UserspaceMember,
    mut client: TcpStream,
    port: u16,
    permit: OwnedSemaphorePermit,
) {
    let _ = client.set_nodelay(true);
    let mut buf = Vec::new();
    let Ok(greeting) = read_message(&mut client, &mut buf, Greeting::decode).await else {
        return;
    };
    if !greeting.methods.contains(&socks::METHOD_NO_AUTH) {
        let _ = client
            .write_all(&[socks::VERSION, socks::METHOD_NONE_ACCEPTABLE])
            .await;
        return;
    }
    if client
        .write_all(&[socks::VERSION, socks::METHOD_NO_AUTH])
        .await
        .is_err()
    {
        return;
    }
    let Ok(request) = read_message(&mut client, &mut buf, Request::decode).await else {
        return;
    };
    let unbound = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    if !buf.is_empty() {
        // Bytes pipelined before our reply: refuse rather than guess.
        let _ = client
            .write_all(&Reply::GeneralFailure.encode(unbound))
            .await;
        return;
    }
    let mut target = request.target;
    if request.command == Command::Connect {
        match resolve(&shared, me.network, target) {
            Ok(t) => target = t,
            Err(reply) => {
                let _ = client.write_all(&reply.encode(unbound)).await;
                return;
            }
        }
    }
    // The source is the member's own address of the target's family.
    let (src, dst) = match (request.command, target, me.ip6) {
        (Command::Connect, Target::V4(dst), _) => {
            (SocketAddr::from((me.ip, port)), SocketAddr::V4(dst))
        }
        (Command::Connect, Target::V6(dst, dport), Some(ip6)) => (
            SocketAddr::from((ip6, port)),
            SocketAddr::from((dst, dport)),
        ),
        (Command::UdpAssociate, from, _) => {
            return associate(&shared, &me, client, from, permit).await;
        }
        (Command::Connect, _, _) => {
            let _ = client
                .write_all(&Reply::AddressTypeNotSupported.encode(unbound))
                .await;
            return;
        }
        _ => {
            let _ = client
                .write_all(&Reply::CommandNotSupported.encode(unbound))
                .await;
            return;
        }
    };
    let (target, traffic) = match open(&shared, me.network, src, dst).await {
        Ok(opened) => opened,
        Err(e) => {
            let _ = client.write_all(&e.socks_reply().encode(unbound)).await;
            return;
        }
    };
    if client
        .write_all(&Reply::Succeeded.encode(src))
        .await
        .is_err()
    {
        return;
    }
    let flow = Flow {
        network: me.network,
        src: src.ip(),
        dst,
        traffic,
        conn: None,
        cut: target.far_end(),
    };
    let mut hold = Hold {
        permits: vec![permit],
        _inbound: None,
    };
    match target {
        Opened::Local(t) => {
            hold.permits.push(t.permit);
            spawn_forward(
                &shared,
                &me.tasks,
                flow,
                hold,
                End::Tcp(client),
                End::Tcp(t.stream),
            );
        }
        Opened::Remote(r) => {
            let flow = Flow {
                conn: Some(r.conn),
                ..flow
            };
            let far = End::Quic(r.send, r.recv);
            spawn_forward(&shared, &me.tasks, flow, hold, End::Tcp(client), far);
        }
    }
}
