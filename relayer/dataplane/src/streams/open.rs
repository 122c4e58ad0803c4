//! Opening the target side of a forward: route and policy checks, then a
//! connection to a member attached here or a stream to the provider
//! hosting the destination.

use std::net::SocketAddr;
use std::sync::Arc;

use avpn_model::{NetworkId, Verdict};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::peer_streams::{RemoteStream, open_remote};
use crate::datapath::{LocalKind, MemberRoute, Shared};
use crate::metrics::{DropReason, Traffic};
use crate::packet::{Addrs, proto};
use crate::socks::Reply;
use crate::tasks::Spawner;
use crate::wire::StreamStatus;

/// Why an outbound stream could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpenError {
    NoRoute,
    Refused,
    NoPeer,
    Remote(StreamStatus),
}

impl OpenError {
    /// The SOCKS5 reply telling the client why.
    pub fn socks_reply(self) -> Reply {
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

/// A connection to a member attached here.
pub(super) struct LocalTarget {
    pub stream: TcpStream,
    /// The member's permit for this forward.
    pub permit: OwnedSemaphorePermit,
    /// The member's tasks, which the forward belongs to or ends with.
    pub tasks: Spawner,
}

/// Connects to a member attached here at its overlay address `dst` (one
/// of its addresses, with the port), within the member's cap of
/// concurrent forwards (the permit is held by the forward).
pub(super) async fn connect_local(
    shared: &Shared,
    route: &MemberRoute,
    dst: SocketAddr,
) -> Result<LocalTarget, StreamStatus> {
    let Some(local) = route.local.as_deref() else {
        return Err(StreamStatus::NoSuchMember);
    };
    let Ok(permit) = local.forwards.clone().try_acquire_owned() else {
        shared.metrics.drop(DropReason::ForwardLimit);
        return Err(StreamStatus::Busy);
    };
    let target = match &local.kind {
        LocalKind::Tun(_) => dst,
        LocalKind::Userspace { serve, .. } => {
            *serve.get(&dst.port()).ok_or(StreamStatus::ConnectFailed)?
        }
    };
    let stream = local
        .worker
        .tcp_connect(target)
        .await
        .map_err(|_| StreamStatus::ConnectFailed)?;
    Ok(LocalTarget {
        stream,
        permit,
        tasks: local.tasks.clone(),
    })
}

/// The target side of an opened forward.
pub(super) enum Opened {
    Local(LocalTarget),
    Remote(RemoteStream),
}

impl Opened {
    /// Cancelled when the target's owner (local member or peer) goes.
    pub fn far_end(&self) -> CancellationToken {
        match self {
            Opened::Local(t) => t.tasks.token().child_token(),
            Opened::Remote(r) => r.peer.child_token(),
        }
    }
}

/// Opens a forwarded connection from local member address `src` to
/// overlay address `dst` (same family; a service address means its best
/// healthy replica, see [`crate::service`]): checks route and policy, then
/// connects to a member attached here or opens a stream to the hosting
/// provider.
pub(super) async fn open(
    shared: &Arc<Shared>,
    network: NetworkId,
    src: SocketAddr,
    dst: SocketAddr,
) -> Result<(Opened, Traffic), OpenError> {
    let tables = shared.tables.load_full();
    let Some(net) = tables.networks.get(&network) else {
        return Err(OpenError::NoRoute);
    };
    // A connection to a service address goes to one of its replicas.
    let Some(dst) = net.services.stream_target(src.ip(), dst) else {
        shared.metrics.drop(DropReason::NoReplica);
        return Err(OpenError::NoRoute);
    };
    let (Some(route), Some(addrs)) = (
        net.members.get(dst.ip()).cloned(),
        Addrs::new(src.ip(), dst.ip()),
    ) else {
        shared.metrics.drop(DropReason::NoRoute);
        return Err(OpenError::NoRoute);
    };
    if net.policy.decide(addrs, proto::TCP, dst.port()) != Verdict::Allow {
        shared.metrics.drop(DropReason::Policy);
        return Err(OpenError::Refused);
    }
    drop(tables);
    if route.provider == shared.local {
        let target = connect_local(shared, &route, dst)
            .await
            .map_err(OpenError::Remote)?;
        return Ok((Opened::Local(target), route.traffic.clone()));
    }
    let Some(peer) = route.peer.as_ref() else {
        shared.metrics.drop(DropReason::NoPeer);
        return Err(OpenError::NoPeer);
    };
    let Some(conn) = peer.conn.load_full() else {
        shared.metrics.drop(DropReason::NoPeer);
        return Err(OpenError::NoPeer);
    };
    let remote = open_remote(&conn, peer, network, src, dst).await?;
    route.traffic.tx_packets.inc();
    Ok((Opened::Remote(remote), route.traffic.clone()))
}
