//! The overlay stream protocol between relayers: a forwarded connection
//! is a bidirectional QUIC stream opened with a [`StreamHeader`] and
//! answered with a [`StreamStatus`] (see [`crate::wire`]). Opening side
//! ([`open_remote`]) and serving side ([`stream_accept_loop`]).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use avpn_model::{NetworkId, Verdict};
use tokio_util::sync::CancellationToken;

use super::forward::{Flow, Hold, spawn_forward};
use super::open::{OpenError, connect_local};
use super::pipe::End;
use super::{HANDSHAKE_TIMEOUT, read_full};
use crate::datapath::{MemberRoute, PeerSlot, Shared};
use crate::limits::MAX_STREAMS_PER_PEER;
use crate::metrics::{DropReason, Traffic};
use crate::packet::{Addrs, proto};
use crate::wire::{
    STREAM_HEADER_LEN, STREAM_HEADER6_LEN, STREAM_REPLY_LEN, StreamHeader, StreamStatus,
};

/// Counts a connection's inbound streams while they are open.
pub(super) struct InboundGuard(Arc<AtomicUsize>);

impl Drop for InboundGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A stream the hosting provider accepted.
pub(super) struct RemoteStream {
    pub send: quinn::SendStream,
    pub recv: quinn::RecvStream,
    /// `stable_id` of the connection carrying it.
    pub conn: usize,
    /// Cancelled when the peer is removed.
    pub peer: CancellationToken,
}

/// Opens a stream on `conn` to peer `slot` for a forward from `src` to
/// `dst`, and waits for the peer's answer.
pub(super) async fn open_remote(
    conn: &quinn::Connection,
    slot: &PeerSlot,
    network: NetworkId,
    src: SocketAddr,
    dst: SocketAddr,
) -> Result<RemoteStream, OpenError> {
    let header = StreamHeader::new(network, src, dst).ok_or(OpenError::NoRoute)?;
    let opened = async {
        let (mut send, mut recv) = conn.open_bi().await.map_err(io::Error::other)?;
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
        Ok((StreamStatus::Connected, send, recv)) => Ok(RemoteStream {
            send,
            recv,
            conn: conn.stable_id(),
            peer: slot.tasks.token().child_token(),
        }),
        Ok((status, _, _)) => Err(OpenError::Remote(status)),
        Err(_) => Err(OpenError::NoPeer),
    }
}

/// Accepts streams of one connection of peer `slot` until it closes,
/// serving each in a task of the peer. QUIC flow control keeps at most
/// [`MAX_STREAMS_PER_PEER`] of them open (the peer's next `open` waits);
/// reaching the cap is counted as `stream_limit`.
pub(crate) async fn stream_accept_loop(
    shared: Arc<Shared>,
    slot: Arc<PeerSlot>,
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
        slot.tasks.spawn(inbound_stream(
            shared.clone(),
            slot.clone(),
            id,
            guard,
            send,
            recv,
        ));
    }
}

/// Serves one bidirectional stream opened by peer `slot` on QUIC
/// connection `conn` (its `stable_id`): the forward it starts belongs to
/// the destination member.
async fn inbound_stream(
    shared: Arc<Shared>,
    slot: Arc<PeerSlot>,
    conn: usize,
    guard: InboundGuard,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    // The IPv4 header's length first; the kind tells whether more follows.
    let mut buf = [0u8; STREAM_HEADER6_LEN];
    if read_full(&mut recv, &mut buf[..STREAM_HEADER_LEN])
        .await
        .is_err()
    {
        return shared.metrics.drop(DropReason::Malformed);
    }
    let len = StreamHeader::encoded_len(&buf[..STREAM_HEADER_LEN]);
    if read_full(&mut recv, &mut buf[STREAM_HEADER_LEN..len])
        .await
        .is_err()
    {
        return shared.metrics.drop(DropReason::Malformed);
    }
    let header = match StreamHeader::decode(&buf[..len]) {
        Ok(h) => h,
        Err(_) => {
            shared.metrics.drop(DropReason::Malformed);
            let _ = send.reset(0u32.into());
            return;
        }
    };
    let (traffic, route) = match check_inbound(&shared, &slot.provider, &header) {
        Ok(r) => r,
        Err((reason, status)) => {
            shared.metrics.drop(reason);
            let _ = send.write_all(&status.encode()).await;
            let _ = send.finish();
            return;
        }
    };
    match connect_local(&shared, &route, header.destination()).await {
        Ok(target) => {
            if send
                .write_all(&StreamStatus::Connected.encode())
                .await
                .is_err()
            {
                return;
            }
            traffic.rx_packets.inc();
            let flow = Flow {
                network: header.network(),
                src: header.source().ip(),
                dst: header.destination(),
                traffic,
                conn: Some(conn),
                cut: slot.tasks.token().child_token(),
            };
            let hold = Hold {
                permits: vec![target.permit],
                _inbound: Some(guard),
            };
            let near = End::Tcp(target.stream);
            spawn_forward(
                &shared,
                &target.tasks,
                flow,
                hold,
                End::Quic(send, recv),
                near,
            );
        }
        Err(status) => {
            let _ = send.write_all(&status.encode()).await;
            let _ = send.finish();
        }
    }
}

/// Checks an inbound stream's header against the tables: the source is a
/// member the peer hosts, the destination one attached here, and the
/// policy allows the flow. Returns the source's traffic counters and the
/// destination's route.
fn check_inbound(
    shared: &Shared,
    provider: &str,
    h: &StreamHeader,
) -> Result<(Traffic, Arc<MemberRoute>), (DropReason, StreamStatus)> {
    let tables = shared.tables.load();
    let net = tables
        .networks
        .get(&h.network())
        .ok_or((DropReason::UnknownNetwork, StreamStatus::NoSuchMember))?;
    let (source, destination) = (h.source(), h.destination());
    let src = net
        .members
        .get(source.ip())
        .filter(|s| s.provider == provider)
        .ok_or((DropReason::SpoofedSource, StreamStatus::SpoofedSource))?;
    let dst = net
        .members
        .get(destination.ip())
        .filter(|d| d.provider == shared.local)
        .ok_or((DropReason::NotLocal, StreamStatus::NoSuchMember))?;
    let allowed = Addrs::new(source.ip(), destination.ip())
        .is_some_and(|a| net.policy.decide(a, proto::TCP, destination.port()) == Verdict::Allow);
    if !allowed {
        return Err((DropReason::Policy, StreamStatus::Refused));
    }
    Ok((src.traffic.clone(), dst.clone()))
}
