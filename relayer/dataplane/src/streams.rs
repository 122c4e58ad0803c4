//! Userspace TCP forwarding: the SOCKS5 proxy inside a lease namespace,
//! QUIC streams between relayers (wire header, see [`crate::wire`]), and
//! delivery to a local member: its "serve" mapping in userspace mode, or
//! its own overlay address (a socket in its namespace) in transparent mode.
//!
//! Every forwarded connection is registered with its flow so that a policy
//! change or a member removal can cut it ([`StreamRegistry::cut`]), and
//! with the QUIC connection carrying it (a replaced connection drains
//! until its streams end).
//!
//! Limits ([`crate::limits`]): concurrent SOCKS5 sessions per member,
//! concurrent forwards into a member, concurrent streams per peer
//! connection (QUIC flow control; reaching it is counted). Copy buffers
//! are allocated when a forward starts and freed when it ends.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use avpn_model::{NetworkId, Verdict};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

use crate::datapath::{LocalKind, MemberRoute, Shared, Tables};
use crate::limits::{COPY_BUF, MAX_STREAMS_PER_PEER};
use crate::metrics::{DropReason, Traffic};
use crate::packet::proto;
use crate::socks::{self, Command, Greeting, Reply, Request, SocksError, Target};
use crate::wire::{STREAM_HEADER_LEN, STREAM_REPLY_LEN, StreamHeader, StreamStatus};

/// Time allowed for a stream header, SOCKS handshake or reply.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct LiveStream {
    network: NetworkId,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dport: u16,
    /// `stable_id` of the QUIC connection carrying it, if any.
    conn: Option<usize>,
    abort: Option<AbortHandle>,
}

/// Counts a connection's inbound streams while they are open.
struct InboundGuard(Arc<AtomicUsize>);

impl Drop for InboundGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a forward holds until it ends: its member permits (SOCKS session,
/// forward into the destination) and its place among the connection's
/// inbound streams.
#[derive(Default)]
struct Hold {
    permits: Vec<OwnedSemaphorePermit>,
    _inbound: Option<InboundGuard>,
}

/// Forwarded connections currently open, with their flows.
#[derive(Debug, Default)]
pub(crate) struct StreamRegistry {
    next: AtomicU64,
    live: Mutex<HashMap<u64, LiveStream>>,
}

impl StreamRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, LiveStream>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of open forwarded connections.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Number of open forwarded connections carried by QUIC connection
    /// `stable_id`.
    pub fn on_connection(&self, stable_id: usize) -> usize {
        self.lock()
            .values()
            .filter(|s| s.conn == Some(stable_id))
            .count()
    }

    /// Aborts every connection whose flow the new tables no longer allow
    /// (network or member gone, or policy now denies).
    pub fn cut(&self, tables: &Tables) {
        self.lock().retain(|_, s| {
            let allowed = tables.networks.get(&s.network).is_some_and(|n| {
                n.members.contains_key(&s.src)
                    && n.members.contains_key(&s.dst)
                    && n.policy.decide(s.src, s.dst, proto::TCP, s.dport) == Verdict::Allow
            });
            if !allowed && let Some(a) = &s.abort {
                a.abort();
            }
            allowed
        });
    }
}

/// Spawns the byte copy between `a` and `b`, registered under its flow
/// and the QUIC connection `conn` carrying it; `hold` is released when it
/// ends.
#[allow(clippy::too_many_arguments)]
fn spawn_forward<A, B>(
    shared: &Arc<Shared>,
    network: NetworkId,
    src: Ipv4Addr,
    dst: SocketAddrV4,
    traffic: Traffic,
    conn: Option<usize>,
    hold: Hold,
    mut a: A,
    mut b: B,
) where
    A: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let id = shared.streams.next.fetch_add(1, Ordering::Relaxed);
    shared.streams.lock().insert(
        id,
        LiveStream {
            network,
            src,
            dst: *dst.ip(),
            dport: dst.port(),
            conn,
            abort: None,
        },
    );
    let s = shared.clone();
    let task = tokio::spawn(async move {
        let _hold = hold;
        // The copy buffers live in this future: allocated now, freed when
        // the forward ends.
        let r = tokio::io::copy_bidirectional_with_sizes(&mut a, &mut b, COPY_BUF, COPY_BUF).await;
        if let Ok((ab, ba)) = r {
            traffic.tx_bytes.inc_by(ab);
            traffic.rx_bytes.inc_by(ba);
        }
        s.streams.lock().remove(&id);
    });
    if let Some(e) = shared.streams.lock().get_mut(&id) {
        e.abort = Some(task.abort_handle());
    }
}

/// Why an outbound stream could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenError {
    NoRoute,
    Refused,
    NoPeer,
    Remote(StreamStatus),
}

impl OpenError {
    fn socks_reply(self) -> Reply {
        match self {
            OpenError::NoRoute => Reply::HostUnreachable,
            OpenError::Refused
            | OpenError::Remote(StreamStatus::Refused | StreamStatus::SpoofedSource) => {
                Reply::NotAllowed
            }
            OpenError::NoPeer => Reply::NetworkUnreachable,
            OpenError::Remote(StreamStatus::NoSuchMember) => Reply::HostUnreachable,
            OpenError::Remote(StreamStatus::Busy) => Reply::GeneralFailure,
            OpenError::Remote(_) => Reply::ConnectionRefused,
        }
    }
}

/// Connects to a member attached here, at overlay port `port`, within the
/// member's cap of concurrent forwards (the permit is held by the forward).
async fn connect_local(
    shared: &Shared,
    route: &MemberRoute,
    port: u16,
) -> Result<(TcpStream, OwnedSemaphorePermit), StreamStatus> {
    let Some(local) = route.local.as_deref() else {
        return Err(StreamStatus::NoSuchMember);
    };
    let Ok(permit) = local.forwards.clone().try_acquire_owned() else {
        shared.metrics.drop(DropReason::ForwardLimit);
        return Err(StreamStatus::Busy);
    };
    let target = match &local.kind {
        LocalKind::Tun(_) => SocketAddr::from((route.ip, port)),
        LocalKind::Userspace { serve } => *serve.get(&port).ok_or(StreamStatus::ConnectFailed)?,
    };
    let s = local
        .worker
        .tcp_connect(target)
        .await
        .map_err(|_| StreamStatus::ConnectFailed)?;
    let _ = s.set_nodelay(true);
    Ok((s, permit))
}

async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<()> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, r.read_exact(buf))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timeout"))??;
    Ok(())
}

/// The target side of an opened forward.
enum Opened {
    Local(TcpStream, OwnedSemaphorePermit),
    Quic(tokio::io::Join<quinn::RecvStream, quinn::SendStream>, usize),
}

/// Opens a forwarded connection from local member address `src` to
/// overlay address `dst`: checks route and policy, then connects to a
/// member attached here or opens a stream to the hosting provider.
async fn open(
    shared: &Arc<Shared>,
    network: NetworkId,
    src: SocketAddrV4,
    dst: SocketAddrV4,
) -> Result<(Opened, Traffic), OpenError> {
    let tables = shared.tables.load_full();
    let Some(net) = tables.networks.get(&network) else {
        return Err(OpenError::NoRoute);
    };
    let Some(route) = net.members.get(dst.ip()).cloned() else {
        shared.metrics.drop(DropReason::NoRoute);
        return Err(OpenError::NoRoute);
    };
    if net
        .policy
        .decide(*src.ip(), *dst.ip(), proto::TCP, dst.port())
        != Verdict::Allow
    {
        shared.metrics.drop(DropReason::Policy);
        return Err(OpenError::Refused);
    }
    drop(tables);
    if route.provider == shared.local {
        let (target, permit) = connect_local(shared, &route, dst.port())
            .await
            .map_err(OpenError::Remote)?;
        return Ok((Opened::Local(target, permit), route.traffic.clone()));
    }
    let Some(conn) = route.peer.as_ref().and_then(|p| p.conn.load_full()) else {
        shared.metrics.drop(DropReason::NoPeer);
        return Err(OpenError::NoPeer);
    };
    let opened = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(io::Error::other)?;
        let header = StreamHeader {
            network,
            source: src,
            destination: dst,
        };
        send.write_all(&header.encode())
            .await
            .map_err(io::Error::other)?;
        let mut reply = [0u8; STREAM_REPLY_LEN];
        read_full(&mut recv, &mut reply).await?;
        let status = StreamStatus::decode(&reply).map_err(io::Error::other)?;
        Ok::<_, io::Error>((status, send, recv))
    };
    // Bounded: opening waits while the peer's stream cap is reached.
    let opened = tokio::time::timeout(HANDSHAKE_TIMEOUT, opened)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
    match opened {
        Ok((StreamStatus::Connected, send, recv)) => {
            route.traffic.tx_packets.inc();
            Ok((
                Opened::Quic(tokio::io::join(recv, send), conn.stable_id()),
                route.traffic.clone(),
            ))
        }
        Ok((status, _, _)) => Err(OpenError::Remote(status)),
        Err(_) => Err(OpenError::NoPeer),
    }
}

/// Serves one bidirectional stream opened by peer `provider` on QUIC
/// connection `conn` (its `stable_id`).
async fn inbound_stream(
    shared: Arc<Shared>,
    provider: String,
    conn: usize,
    guard: InboundGuard,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let mut buf = [0u8; STREAM_HEADER_LEN];
    if read_full(&mut recv, &mut buf).await.is_err() {
        return shared.metrics.drop(DropReason::Malformed);
    }
    let header = match StreamHeader::decode(&buf) {
        Ok(h) => h,
        Err(_) => {
            shared.metrics.drop(DropReason::Malformed);
            let _ = send.reset(0u32.into());
            return;
        }
    };
    let verdict = check_inbound(&shared, &provider, &header);
    let route = match verdict {
        Ok(r) => r,
        Err((reason, status)) => {
            shared.metrics.drop(reason);
            let _ = send.write_all(&status.encode()).await;
            let _ = send.finish();
            return;
        }
    };
    match connect_local(&shared, &route.1, header.destination.port()).await {
        Ok((target, permit)) => {
            if send
                .write_all(&StreamStatus::Connected.encode())
                .await
                .is_err()
            {
                return;
            }
            route.0.rx_packets.inc();
            spawn_forward(
                &shared,
                header.network,
                *header.source.ip(),
                header.destination,
                route.0,
                Some(conn),
                Hold {
                    permits: vec![permit],
                    _inbound: Some(guard),
                },
                tokio::io::join(recv, send),
                target,
            );
        }
        Err(status) => {
            let _ = send.write_all(&status.encode()).await;
            let _ = send.finish();
        }
    }
}

type Checked = (Traffic, Arc<MemberRoute>);

fn check_inbound(
    shared: &Shared,
    provider: &str,
    h: &StreamHeader,
) -> Result<Checked, (DropReason, StreamStatus)> {
    let tables = shared.tables.load();
    let net = tables
        .networks
        .get(&h.network)
        .ok_or((DropReason::UnknownNetwork, StreamStatus::NoSuchMember))?;
    let src = net
        .members
        .get(h.source.ip())
        .filter(|s| s.provider == provider)
        .ok_or((DropReason::SpoofedSource, StreamStatus::SpoofedSource))?;
    let dst = net
        .members
        .get(h.destination.ip())
        .filter(|d| d.provider == shared.local)
        .ok_or((DropReason::NotLocal, StreamStatus::NoSuchMember))?;
    if net.policy.decide(
        *h.source.ip(),
        *h.destination.ip(),
        proto::TCP,
        h.destination.port(),
    ) != Verdict::Allow
    {
        return Err((DropReason::Policy, StreamStatus::Refused));
    }
    Ok((src.traffic.clone(), dst.clone()))
}

/// Accepts streams of one connection until it closes. QUIC flow control
/// keeps at most [`MAX_STREAMS_PER_PEER`] of them open (the peer's next
/// `open` waits); reaching the cap is counted as `stream_limit`.
pub(crate) async fn stream_accept_loop(
    shared: Arc<Shared>,
    provider: String,
    conn: quinn::Connection,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let id = conn.stable_id();
    while let Ok((send, recv)) = conn.accept_bi().await {
        let n = open.fetch_add(1, Ordering::Relaxed) + 1;
        if n >= MAX_STREAMS_PER_PEER as usize {
            shared.metrics.drop(DropReason::StreamLimit);
        }
        let guard = InboundGuard(open.clone());
        tokio::spawn(inbound_stream(
            shared.clone(),
            provider.clone(),
            id,
            guard,
            send,
            recv,
        ));
    }
}

/// Accepts SOCKS5 clients of local member `me` until aborted, at most
/// `sessions` (permits) at a time: a client beyond is closed at once.
pub(crate) async fn socks_loop(
    shared: Arc<Shared>,
    network: NetworkId,
    me: Ipv4Addr,
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
                tokio::spawn(socks_session(
                    shared.clone(),
                    network,
                    me,
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

async fn socks_session(
    shared: Arc<Shared>,
    network: NetworkId,
    me: Ipv4Addr,
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
    let src = SocketAddrV4::new(me, port);
    let unbound = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
    let dst = match (request.command, request.target) {
        (Command::Connect, Target::V4(dst)) => dst,
        (Command::Connect, _) => {
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
    if !buf.is_empty() {
        // Payload pipelined before our reply: refuse rather than guess.
        let _ = client
            .write_all(&Reply::GeneralFailure.encode(unbound))
            .await;
        return;
    }
    match open(&shared, network, src, dst).await {
        Ok((target, traffic)) => {
            if client
                .write_all(&Reply::Succeeded.encode(src))
                .await
                .is_err()
            {
                return;
            }
            let mut hold = Hold {
                permits: vec![permit],
                _inbound: None,
            };
            match target {
                Opened::Local(t, p) => {
                    hold.permits.push(p);
                    spawn_forward(&shared, network, me, dst, traffic, None, hold, client, t)
                }
                Opened::Quic(t, conn) => spawn_forward(
                    &shared,
                    network,
                    me,
                    dst,
                    traffic,
                    Some(conn),
                    hold,
                    client,
                    t,
                ),
            }
        }
        Err(e) => {
            let _ = client.write_all(&e.socks_reply().encode(unbound)).await;
        }
    }
}
