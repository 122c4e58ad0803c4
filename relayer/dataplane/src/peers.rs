//! QUIC endpoint and connections to peer providers.
//!
//! One connection per peer pair carries every network both providers
//! serve. The side with the lower ed25519 key (byte order) dials, the
//! other waits; the dialer reconnects with exponential backoff (100 ms to
//! 5 s) whenever the connection is lost. An accepted or dialed connection
//! is bound to the provider owning the key it authenticated with; a
//! connection whose key stops being trusted (peer removed, rotated key
//! past its deadline) is closed by the maintenance tick.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{EndpointConfig, TransportConfig, VarInt};
use rustls::pki_types::CertificateDer;

use crate::datapath::{PeerSlot, Shared, datagram_loop};
use crate::identity::{self, Identity, TrustStore, key_of_certificate, unix_now};
use crate::streams::stream_accept_loop;
use crate::tun::UDP_IPV4_OVERHEAD;

/// Error code sent when closing a connection whose key is not (or no
/// longer) trusted, or that duplicates a newer one.
const CLOSE_UNTRUSTED: u32 = 1;
/// Server name used when dialing (certificates carry no meaningful name).
const SERVER_NAME: &str = "avpn";

/// Transport tuned for carrying IP packets: fixed MTU from the underlay,
/// large datagram and stream buffers, keep-alives for fast loss detection.
pub(crate) fn transport(underlay_mtu: u16) -> TransportConfig {
    let mut t = TransportConfig::default();
    let udp_payload = underlay_mtu - UDP_IPV4_OVERHEAD;
    t.initial_mtu(udp_payload)
        .min_mtu(udp_payload.min(1200))
        .mtu_discovery_config(None)
        .datagram_receive_buffer_size(Some(16 << 20))
        .datagram_send_buffer_size(16 << 20)
        .stream_receive_window(VarInt::from_u32(16 << 20))
        .receive_window(VarInt::from_u32(64 << 20))
        .send_window(64 << 20)
        .max_concurrent_bidi_streams(VarInt::from_u32(100_000))
        .keep_alive_interval(Some(Duration::from_secs(2)))
        .max_idle_timeout(Some(VarInt::from_u32(10_000).into()))
        // BBR keeps the queue short under the inner TCP's own control loop.
        .congestion_controller_factory(Arc::new(quinn::congestion::BbrConfig::default()));
    t
}

/// Creates the UDP socket (inside `netns` if given) with large buffers.
fn udp_socket(listen: SocketAddr, netns: Option<&Path>) -> io::Result<std::net::UdpSocket> {
    let make = move || -> io::Result<std::net::UdpSocket> {
        let s = socket2::Socket::new(
            socket2::Domain::for_address(listen),
            socket2::Type::DGRAM,
            None,
        )?;
        let _ = s.set_recv_buffer_size(8 << 20);
        let _ = s.set_send_buffer_size(8 << 20);
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

/// The endpoint and the client configuration used to dial.
pub(crate) fn endpoint(
    identity: &Identity,
    trust: Arc<TrustStore>,
    listen: SocketAddr,
    netns: Option<&Path>,
    underlay_mtu: u16,
) -> Result<(quinn::Endpoint, quinn::ClientConfig), crate::OverlayError> {
    let transport = Arc::new(transport(underlay_mtu));
    let server_tls = identity::server_tls(identity, trust.clone())?;
    let quic_server = QuicServerConfig::try_from(server_tls)
        .map_err(|e| crate::OverlayError::Tls(e.to_string()))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(quic_server));
    server.transport_config(transport.clone());
    let client_tls = identity::client_tls(identity, trust)?;
    let quic_client = QuicClientConfig::try_from(client_tls)
        .map_err(|e| crate::OverlayError::Tls(e.to_string()))?;
    let mut client = quinn::ClientConfig::new(Arc::new(quic_client));
    client.transport_config(transport);
    let socket = udp_socket(listen, netns)?;
    let mut ep_cfg = EndpointConfig::default();
    ep_cfg
        .max_udp_payload_size(underlay_mtu - UDP_IPV4_OVERHEAD)
        .map_err(|e| crate::OverlayError::Tls(e.to_string()))?;
    let endpoint =
        quinn::Endpoint::new(ep_cfg, Some(server), socket, Arc::new(quinn::TokioRuntime))?;
    Ok((endpoint, client))
}

/// The ed25519 key a connection's peer authenticated with.
pub(crate) fn peer_key(conn: &quinn::Connection) -> Option<[u8; 32]> {
    let any = conn.peer_identity()?;
    let certs = any.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    key_of_certificate(certs.first()?).ok()
}

/// Makes `conn` the connection of `slot` and starts its receive tasks.
pub(crate) fn register(
    shared: &Arc<Shared>,
    slot: &Arc<PeerSlot>,
    conn: quinn::Connection,
    key: [u8; 32],
) {
    *slot.key.lock().unwrap_or_else(|e| e.into_inner()) = Some(key);
    if let Some(old) = slot.conn.swap(Some(Arc::new(conn.clone())))
        && old.stable_id() != conn.stable_id()
    {
        old.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"replaced");
    }
    tracing::info!(peer = %slot.provider, remote = %conn.remote_address(), "peer connected");
    tokio::spawn(datagram_loop(
        shared.clone(),
        slot.provider.clone(),
        conn.clone(),
    ));
    tokio::spawn(stream_accept_loop(
        shared.clone(),
        slot.provider.clone(),
        conn.clone(),
    ));
    let slot = slot.clone();
    tokio::spawn(async move {
        let reason = conn.closed().await;
        tracing::info!(peer = %slot.provider, %reason, "peer connection closed");
        let current = slot.conn.load();
        if current
            .as_ref()
            .is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            slot.conn.store(None);
        }
    });
}

/// Accepts incoming connections for the life of the endpoint.
pub(crate) async fn accept_loop(shared: Arc<Shared>) {
    while let Some(incoming) = shared.endpoint.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let conn = match incoming.await {
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
                (Some((key, _)), Some(slot)) => register(&shared, &slot, conn, key),
                _ => conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"untrusted"),
            }
        });
    }
}

/// Dials `slot` until the task is aborted, reconnecting with backoff.
pub(crate) async fn dial_loop(shared: Arc<Shared>, slot: Arc<PeerSlot>) {
    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);
    let mut backoff = MIN;
    loop {
        let endpoints = slot
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for addr in endpoints {
            match dial(&shared, &slot, addr).await {
                Ok(conn) => {
                    backoff = MIN;
                    conn.closed().await;
                    break;
                }
                Err(e) => tracing::debug!(peer = %slot.provider, %addr, %e, "dial failed"),
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX);
    }
}

async fn dial(
    shared: &Arc<Shared>,
    slot: &Arc<PeerSlot>,
    addr: SocketAddr,
) -> io::Result<quinn::Connection> {
    let connecting = shared
        .endpoint
        .connect_with(shared.client.clone(), addr, SERVER_NAME)
        .map_err(io::Error::other)?;
    let conn = connecting.await.map_err(io::Error::other)?;
    let key = peer_key(&conn).ok_or_else(|| io::Error::other("no peer key"))?;
    if shared.trust.provider_of(&key, unix_now()).as_ref() != Some(&slot.provider) {
        conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"wrong provider");
        return Err(io::Error::other(
            "endpoint answered with another provider's key",
        ));
    }
    register(shared, slot, conn.clone(), key);
    Ok(conn)
}

/// Once a second: publish RTTs, close connections whose key is no longer
/// trusted.
pub(crate) async fn maintenance_loop(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        enforce_trust(&shared);
    }
}

/// Closes connections whose key is no longer trusted; publishes RTTs.
pub(crate) fn enforce_trust(shared: &Shared) {
    let now = unix_now();
    let tables = shared.tables.load();
    for slot in tables.peers.values() {
        let Some(conn) = slot.conn.load_full() else {
            continue;
        };
        shared
            .metrics
            .set_rtt(&slot.provider, conn.rtt().as_secs_f64());
        let key = *slot.key.lock().unwrap_or_else(|e| e.into_inner());
        let trusted =
            key.is_some_and(|k| shared.trust.provider_of(&k, now).as_ref() == Some(&slot.provider));
        if !trusted {
            conn.close(VarInt::from_u32(CLOSE_UNTRUSTED), b"key no longer trusted");
            slot.conn.store(None);
        }
    }
}
