//! The byte copy of a forwarded connection, registered under its flow.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use avpn_model::NetworkId;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::peer_streams::InboundGuard;
use super::pipe::{End, copy_both};
use super::registry::LiveStream;
use crate::datapath::Shared;
use crate::metrics::Traffic;
use crate::tasks::Spawner;

/// What a forward holds until it ends: its member permits (SOCKS session,
/// forward into the destination) and its place among the connection's
/// inbound streams.
pub(super) struct Hold {
    pub permits: Vec<OwnedSemaphorePermit>,
    pub _inbound: Option<InboundGuard>,
}

/// A forward's flow and what carries it.
pub(super) struct Flow {
    pub network: NetworkId,
    pub src: IpAddr,
    /// Same family as `src`.
    pub dst: SocketAddr,
    pub traffic: Traffic,
    /// `stable_id` of the QUIC connection carrying it, if any.
    pub conn: Option<usize>,
    /// Cancelled when the far end (a peer, or a second local member) is
    /// removed; the registry cancels it to cut the flow.
    pub cut: CancellationToken,
}

/// Unregisters a forward when its task ends, however it ends.
struct Registered(Arc<Shared>, u64);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.streams.remove(self.1);
    }
}

/// Spawns the byte copy between `a` and `b` as a task of `owner` (the
/// local member it belongs to), registered under `flow`; `hold` is
/// released when it ends.
pub(super) fn spawn_forward(
    shared: &Arc<Shared>,
    owner: &Spawner,
    flow: Flow,
    hold: Hold,
    a: End,
    b: End,
) {
    let id = shared.streams.insert(LiveStream {
        network: flow.network,
        src: flow.src,
        dst: flow.dst.ip(),
        dport: flow.dst.port(),
        conn: flow.conn,
        cut: flow.cut.clone(),
    });
    let registered = Registered(shared.clone(), id);
    let traffic = flow.traffic;
    owner.spawn(async move {
        let _registered = registered;
        let _hold = hold;
        // The copy buffers live in this future: allocated at the first
        // read, freed when the forward ends.
        let copy = copy_both(a, b);
        if let Some(Ok((ab, ba))) = flow.cut.run_until_cancelled(copy).await {
            traffic.tx_bytes.inc_by(ab);
            traffic.rx_bytes.inc_by(ba);
        }
    });
}
