//! QUIC endpoint and connections to peer providers.
//!
//! One connection per peer pair carries every network both providers
//! serve. The side with the lower provider address (byte order of the
//! account address) dials, the other waits; addresses never change, so a
//! key rotation of either side never flips who dials. The dialer
//! reconnects with exponential backoff (100 ms to 5 s) whenever the pair
//! has no live connection, whoever dialled the last one.
//!
//! An accepted or dialled connection is bound to the provider owning the
//! key it authenticated with and stays up as long as that key is accepted:
//! a peer's rotation (new key first, old key until its deadline) changes
//! nothing for the live connection; the maintenance tick closes a
//! connection whose key stops being trusted (peer removed, rotated key
//! past its deadline).
//!
//! Our own rotation ([`crate::Overlay::rotate_identity`]) applies to new
//! handshakes; live connections keep their key. [`HANDOVER_MARGIN`]
//! before peers stop accepting the old key, each connection made with it
//! is handed over make-before-break: a new connection with the new key is
//! established and takes the traffic, while the old one drains (it keeps
//! carrying the forwarded TCP connections opened on it, and is closed once
//! they end, or when its key expires).
//!
//! Limits against floods ([`crate::limits`]): concurrent streams per
//! connection, handshakes in progress, address validation (QUIC Retry)
//! beyond a threshold of unvalidated handshakes.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use quinn::congestion::{BbrConfig, CubicConfig, NewRenoConfig};
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{AckFrequencyConfig, EndpointConfig, MtuDiscoveryConfig, TransportConfig, VarInt};
use rustls::pki_types::CertificateDer;

use crate::datapath::{ConnKeys, Draining, PeerSlot, SealedTx, Shared};
use crate::identity::{self, Identity, TrustStore, key_of_certificate, unix_now};
use crate::limits::{self, Admission};
use crate::metrics::DropReason;
use crate::overlay::Congestion;
use crate::paths::frame::RELAY_HEADER_LEN;
use crate::paths::{PathSocket, Paths};
use crate::receive::{Receive, datagram_loop};
use crate::sealed;
use crate::streams::stream_accept_loop;
use crate::tasks::Spawner;
use crate::tun::UDP_IPV4_OVERHEAD;

/// Error code sent when closing a connection whose key is not (or no
/// longer) trusted, or that was replaced by a newer one.
const CLOSE_UNTRUSTED: u32 = 1;
/// Server name used when dialing (certificates carry no meaningful name).
const SERVER_NAME: &str = "avpn";
/// How long before peers stop accepting our previous key the connections
/// made with it are handed over to the new key (several dial attempts fit
/// in it, and peers' clocks may be a little ahead).
pub const HANDOVER_MARGIN: Duration = Duration::from_secs(60);

/// QUIC keep-alive interval: short enough that a live peer is heard from
/// well within [`crate::limits::PEER_SILENCE`] (replica health).
const KEEP_ALIVE: Duration = Duration::from_millis(300);

/// Ack-eliciting packets the peer may receive before it must acknowledge
/// (QUIC ACK frequency extension; quinn's default is 1, an ACK for every
/// other packet). A full-rate stream of datagrams then costs an eighth of
/// the ACK packets to build, send and process on both sides: measured
/// 5 % less CPU per GB and 4 % more throughput in `relayer/dataplane/bench`
/// on a 2-core VM. Loss and reordering still get immediate ACKs
/// (quinn's reordering threshold) and a quiet flow is acknowledged within
/// the peer's max ACK delay.
const ACK_ELICITING_THRESHOLD: u32 = 8;

/// How long the path MTU stays at QUIC's 1200-byte floor after a black
/// hole before it is searched up again (quinn's default is 60 s). At the
/// floor the TUN carries only 1152-byte packets, below IPv6's 1280-byte
/// minimum, so the window is kept short; a search costs a few probe
/// packets, and only while the path keeps losing large ones.
const BLACK_HOLE_COOLDOWN: Duration = Duration::from_secs(10);

/// A replaced connection is kept at least this long, so that datagrams
/// the peer sent before it switched still arrive.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Largest QUIC packet on a path of `underlay_mtu`: a relayed packet's
/// header must fit too ([`crate::paths`]), so every path carries the same
/// packets.
pub(crate) fn quic_mtu(underlay_mtu: u16) -> u16 {
    underlay_mtu - UDP_IPV4_OVERHEAD - RELAY_HEADER_LEN as u16
}

/// Transport tuned for carrying IP packets: the MTU starts at the
/// underlay's (less the relay header) and path-MTU discovery keeps it honest (a narrower path is
/// detected as a black hole, the MTU falls to 1200 bytes and is searched up
/// again to the underlay's; datagrams that no longer fit are answered with
/// ICMP "fragmentation needed" by the data path), large datagram and
/// stream buffers (ceilings, allocated as data arrives), keep-alives for
/// fast loss detection, and the per-connection stream caps of
/// [`crate::limits`].
pub(crate) fn transport(underlay_mtu: u16, congestion: Congestion) -> TransportConfig {
    let mut t = TransportConfig::default();
    let udp_payload = quic_mtu(underlay_mtu);
    let mut mtud = MtuDiscoveryConfig::default();
    mtud.upper_bound(udp_payload)
        .black_hole_cooldown(BLACK_HOLE_COOLDOWN);
    t.initial_mtu(udp_payload)
        .min_mtu(udp_payload.min(1200))
        .mtu_discovery_config(Some(mtud))
        .datagram_receive_buffer_size(Some(16 << 20))
        .datagram_send_buffer_size(16 << 20)
        .stream_receive_window(VarInt::from_u32(16 << 20))
        .receive_window(VarInt::from_u32(64 << 20))
        .send_window(64 << 20)
        .max_concurrent_bidi_streams(VarInt::from_u32(limits::MAX_STREAMS_PER_PEER))
        .max_concurrent_uni_streams(VarInt::from_u32(limits::MAX_UNI_STREAMS_PER_PEER))
        .keep_alive_interval(Some(KEEP_ALIVE))
        .max_idle_timeout(Some(VarInt::from_u32(10_000).into()));
    let mut acks = AckFrequencyConfig::default();
    acks.ack_eliciting_threshold(VarInt::from_u32(ACK_ELICITING_THRESHOLD));
    t.ack_frequency_config(Some(acks));
    match congestion {
        Congestion::Bbr => t.congestion_controller_factory(Arc::new(BbrConfig::default())),
        Congestion::Cubic => t.congestion_controller_factory(Arc::new(CubicConfig::default())),
        Congestion::NewReno => t.congestion_controller_factory(Arc::new(NewRenoConfig::default())),
    };
    t
}

/// Server side of the endpoint for `identity`, with the handshake limits.
pub(crate) fn server_config(
    identity: &Identity,
    trust: Arc<TrustStore>,
    transport: Arc<TransportConfig>,
) -> Result<quinn::ServerConfig, crate::OverlayError> {
    let server_tls = identity::server_tls(identity, trust)?;
    let quic_server = QuicServerConfig::try_from(server_tls)
        .map_err(|e| crate::OverlayError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic_server));
    server
        .transport_config(transport)
        .max_incoming(limits::MAX_PENDING_HANDSHAKES)
        .incoming_buffer_size(limits::INCOMING_BUFFER)
        .incoming_buffer_size_total(limits::INCOMING_BUFFER_TOTAL);
    Ok(server)
}

/// Client configuration used to dial as `identity`.
pub(crate) fn client_config(
    identity: &Identity,
    trust: Arc<TrustStore>,
    transport: Arc<TransportConfig>,
) -> Result<quinn::ClientConfig, crate::OverlayError> {
    let client_tls = identity::client_tls(identity, trust)?;
    let quic_client = QuicClientConfig::try_from(client_tls)
        .map_err(|e| crate::OverlayError::Tls(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic_client));
    client.transport_config(transport);
    Ok(client)
}

/// Creates the UDP socket (inside `netns` if given) with large buffers
/// ([`crate::paths::socket_buffers`]).
fn udp_socket(listen: SocketAddr, netns: Option<&Path>) -> io::Result<std::net::UdpSocket> {
    let make = move || -> io::Result<std::net::UdpSocket> {
        let s = socket2::Socket::new(
            socket2::Domain::for_address(listen),
            socket2::Type::DGRAM,
            None,
        )?;
        crate::paths::socket_buffers::enlarge(&s);
        s.bind(&listen.into())?;
        Ok(s.into())
    };
    match netns {
        None => make(),
        Some(path) => {
            let ns = std::fs::File::open(path)?;
            std::thread::scope(|scope| {
                scope
                    .spawn(move || {
                        use std::os::fd::AsRawFd;
                        // SAFETY: setns on a valid fd; this scoped thread then exits.
                        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                            return Err(io::Error::last_os_error());
                        }
                        make()
                    })
                    .join()
                    .map_err(|_| io::Error::other("netns thread panicked"))?
            })
        }
    }
}

/// The endpoint (serving as `identity`) on a socket bound to `listen`,
/// with the paths its socket sends over ([`crate::paths`]).
pub(crate) fn endpoint(
    server: quinn::ServerConfig,
    listen: SocketAddr,
    netns: Option<&Path>,
    underlay_mtu: u16,
    make_paths: impl FnOnce(std::net::UdpSocket) -> io::Result<Arc<Paths>>,
) -> Result<(quinn::Endpoint, Arc<Paths>), crate::OverlayError> {
    let paths = make_paths(udp_socket(listen, netns)?)?;
    let mut ep_cfg = EndpointConfig::default();
    ep_cfg
        .max_udp_payload_size(underlay_mtu - UDP_IPV4_OVERHEAD)
        .map_err(|e| crate::OverlayError::Tls(e.to_string()))?;
    // Relay frames and probes are told from QUIC packets by the fixed bit.
    ep_cfg.grease_quic_bit(false);
    let endpoint = quinn::Endpoint::new_with_abstract_socket(
        ep_cfg,
        Some(server),
        Arc::new(PathSocket::new(paths.clone())),
        Arc::new(quinn::TokioRuntime),
    )?;
    Ok((endpoint, paths))
}

/// The relay token of a connection: a secret both ends derive from its
/// TLS session ([`crate::paths::frame`]).
fn relay_token(conn: &quinn::Connection) -> Option<u64> {
    let mut out = [0u8; 8];
    conn.export_keying_material(&mut out, b"avpn relay token", b"")
        .ok()?;
    Some(u64::from_be_bytes(out))
}

/// Tells the paths the token of the slot's current connection.
fn publish_token(shared: &Shared, slot: &PeerSlot) {
    let token = slot
        .conn
        .load()
        .as_ref()
        .filter(|c| c.close_reason().is_none())
        .and_then(|c| relay_token(c));
    shared.paths.set_token(&slot.provider, token);
}

/// The ed25519 key a connection's peer authenticated with.
pub(crate) fn peer_key(conn: &quinn::Connection) -> Option<[u8; 32]> {
    let any = conn.peer_identity()?;
    let certs = any.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    key_of_certificate(certs.first()?).ok()
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes `conn` the connection of `slot` and starts its receive tasks
/// (tasks of the peer). A live connection it replaces is kept draining
/// (see the module docs).
pub(crate) fn register(
    shared: &Arc<Shared>,
    slot: &Arc<PeerSlot>,
    conn: quinn::Connection,
    keys: ConnKeys,
) {
    if slot.tasks.token().is_cancelled() {
        // The peer was removed while this connection was being made.
        conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"peer removed");
        return;
    }
    let Some((sealer, opener)) = sealed::channel(&conn, keys.local < keys.peer) else {
        conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"no keys");
        return;
    };
    let opener = Arc::new(opener);
    let receive = Arc::new(Receive::new(shared.clone(), slot.provider.clone()));
    let registration = shared.paths.add_receiver(opener.clone(), receive.clone());
    let tx = Arc::new(SealedTx::new(sealer, opener));
    shared.metrics.connected(&slot.provider);
    slot.connects.fetch_add(1, Ordering::Relaxed);
    {
        let mut current = lock(&slot.key);
        let previous = current.replace(keys);
        let previous_tx = slot.sealed.swap(Some(tx));
        if let Some(old) = slot.conn.swap(Some(Arc::new(conn.clone())))
            && old.stable_id() != conn.stable_id()
            && old.close_reason().is_none()
        {
            match previous {
                Some(keys) => lock(&slot.draining).push(Draining {
                    conn: (*old).clone(),
                    keys,
                    sealed: previous_tx,
                    since: Instant::now(),
                }),
                None => old.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"replaced"),
            }
        }
    }
    publish_token(shared, slot);
    tracing::info!(peer = %slot.provider, remote = %conn.remote_address(), "peer connected");
    let tasks = &slot.tasks;
    tasks.spawn(datagram_loop(conn.clone(), receive, registration));
    tasks.spawn(stream_accept_loop(
        shared.clone(),
        slot.clone(),
        conn.clone(),
    ));
    let (slot, shared) = (slot.clone(), shared.clone());
    tasks.spawn(async move {
        let reason = conn.closed().await;
        tracing::info!(peer = %slot.provider, %reason, "peer connection closed");
        retire(&slot, conn.stable_id());
        publish_token(&shared, &slot);
    });
}

/// Forgets connection `id` of `slot` (closed or being closed). If it was
/// the current one, a draining connection that is still up takes over
/// (e.g. when the newer connection of a handover died first).
fn retire(slot: &PeerSlot, id: usize) {
    let mut current = lock(&slot.key);
    let mut draining = lock(&slot.draining);
    draining.retain(|d| d.conn.stable_id() != id);
    if slot
        .conn
        .load()
        .as_ref()
        .is_some_and(|c| c.stable_id() == id)
    {
        draining.retain(|d| d.conn.close_reason().is_none());
        match draining.pop() {
            Some(d) => {
                slot.conn.store(Some(Arc::new(d.conn)));
                slot.sealed.store(d.sealed);
                *current = Some(d.keys);
            }
            None => {
                slot.conn.store(None);
                slot.sealed.store(None);
                *current = None;
            }
        }
    }
}

/// Decrements a handshake counter when the handshake ends.
struct Pending(Vec<Arc<AtomicUsize>>);

impl Drop for Pending {
    fn drop(&mut self) {
        for c in &self.0 {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Accepts incoming connections for the life of the endpoint, within the
/// handshake limits ([`limits::admit`]); each handshake is a task of
/// `tasks` (the overlay's) until it is bound to a peer.
pub(crate) async fn accept_loop(shared: Arc<Shared>, tasks: Spawner) {
    let pending = Arc::new(AtomicUsize::new(0));
    let unvalidated = Arc::new(AtomicUsize::new(0));
    while let Some(incoming) = shared.endpoint.accept().await {
        let validated = incoming.remote_address_validated();
        match limits::admit(
            pending.load(Ordering::Relaxed),
            unvalidated.load(Ordering::Relaxed),
            validated,
            incoming.may_retry(),
        ) {
            Admission::Refuse => {
                shared.metrics.drop(DropReason::HandshakeLimit);
                incoming.refuse();
                continue;
            }
            Admission::Retry => {
                shared.metrics.drop(DropReason::HandshakeRetry);
                if let Err(e) = incoming.retry() {
                    e.into_incoming().refuse();
                }
                continue;
            }
            Admission::Accept => {}
        }
        let mut counters = vec![pending.clone()];
        if !validated {
            counters.push(unvalidated.clone());
        }
        for c in &counters {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let guard = Pending(counters);
        let local = shared.identity.load().public;
        let shared = shared.clone();
        tasks.spawn(async move {
            let result = incoming.await;
            drop(guard);
            let conn = match result {
                Ok(c) => c,
                Err(e) => {
                    tracing::info!(%e, "handshake refused");
                    return;
                }
            };
            let provider = peer_key(&conn)
                .and_then(|k| shared.trust.provider_of(&k, unix_now()).map(|p| (k, p)));
            let slot = provider
                .as_ref()
                .and_then(|(_, p)| shared.tables.load().peers.get(p).cloned());
            match (provider, slot) {
                (Some((peer, _)), Some(slot)) => {
                    register(&shared, &slot, conn, ConnKeys { peer, local })
                }
                _ => conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"untrusted"),
            }
        });
    }
}

/// The slot's connection if it is up.
pub(crate) fn live(slot: &PeerSlot) -> Option<Arc<quinn::Connection>> {
    slot.conn.load_full().filter(|c| c.close_reason().is_none())
}

/// Keeps `slot` connected until the task is cancelled: waits while the pair
/// has a live connection (whoever dialled it), dials with backoff when it
/// has none.
pub(crate) async fn dial_loop(shared: Arc<Shared>, slot: Arc<PeerSlot>) {
    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);
    let mut backoff = MIN;
    loop {
        if let Some(conn) = live(&slot) {
            conn.closed().await;
            backoff = MIN;
            tokio::time::sleep(MIN).await;
            continue;
        }
        if dial_any(&shared, &slot).await {
            backoff = MIN;
            continue;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX);
    }
}

/// Dials the peer's virtual address (its paths pick the way there);
/// registers the connection.
async fn dial_any(shared: &Arc<Shared>, slot: &Arc<PeerSlot>) -> bool {
    let addr = shared.paths.virtual_of(&slot.provider);
    match dial(shared, slot, addr).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(peer = %slot.provider, %e, "dial failed");
            false
        }
    }
}

async fn dial(shared: &Arc<Shared>, slot: &Arc<PeerSlot>, addr: SocketAddr) -> io::Result<()> {
    let me = shared.identity.load_full();
    let connecting = shared
        .endpoint
        .connect_with(me.client.clone(), addr, SERVER_NAME)
        .map_err(io::Error::other)?;
    let conn = connecting.await.map_err(io::Error::other)?;
    let peer = peer_key(&conn).ok_or_else(|| io::Error::other("no peer key"))?;
    if shared.trust.provider_of(&peer, unix_now()).as_ref() != Some(&slot.provider) {
        conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"wrong provider");
        return Err(io::Error::other(
            "endpoint answered with another provider's key",
        ));
    }
    register(
        shared,
        slot,
        conn,
        ConnKeys {
            peer,
            local: me.public,
        },
    );
    Ok(())
}

/// Once a second: publish RTTs, close connections whose key is no longer
/// trusted and drained connections, hand connections over to our new key.
pub(crate) async fn maintenance_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        enforce_trust(&shared);
        handover(&shared);
    }
}

/// Closes connections whose key is no longer trusted and draining
/// connections that carry no forwarded stream any more; publishes RTTs.
pub(crate) fn enforce_trust(shared: &Shared) {
    let now = unix_now();
    let tables = shared.tables.load();
    let trusted = |peer: &[u8; 32], provider: &str| {
        shared.trust.provider_of(peer, now).as_deref() == Some(provider)
    };
    for slot in tables.peers.values() {
        lock(&slot.draining).retain(|d| {
            let keep = trusted(&d.keys.peer, &slot.provider)
                && (d.since.elapsed() < DRAIN_GRACE
                    || shared.streams.on_connection(d.conn.stable_id()) > 0);
            if !keep {
                d.conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"replaced");
            }
            keep
        });
        let Some(conn) = slot.conn.load_full() else {
            continue;
        };
        shared
            .metrics
            .set_rtt(&slot.provider, conn.rtt().as_secs_f64());
        let keys = *lock(&slot.key);
        if !keys.is_some_and(|k| trusted(&k.peer, &slot.provider)) {
            conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"key no longer trusted");
            retire(slot, conn.stable_id());
        }
    }
}

/// Starts a make-before-break handover of every connection made with a
/// previous key of ours once peers are about to stop accepting that key.
fn handover(shared: &Arc<Shared>) {
    let me = shared.identity.load();
    let due = me
        .previous_until
        .is_none_or(|until| unix_now() + HANDOVER_MARGIN.as_secs() >= until);
    if !due {
        return;
    }
    let tables = shared.tables.load();
    for slot in tables.peers.values() {
        let stale = live(slot).is_some() && lock(&slot.key).is_some_and(|k| k.local != me.public);
        if !stale || slot.handover.swap(true, Ordering::AcqRel) {
            continue;
        }
        let (shared, peer) = (shared.clone(), slot.clone());
        slot.tasks.spawn(async move {
            tracing::info!(peer = %peer.provider, "handing the connection over to our new key");
            dial_any(&shared, &peer).await;
            peer.handover.store(false, Ordering::Release);
        });
    }
}
