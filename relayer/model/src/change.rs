//! The narrow interface between the reconciler and the data plane.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Attachment, MemberInfo, NetworkId, NetworkInfo, PeerInfo, ProviderAddr, ServiceInfo};

/// One idempotent step from the applied state towards the desired state.
///
/// Applying the same change twice has the same effect as applying it once;
/// the reconciler orders changes so that networks exist before their
/// members and attachments, and attachments go before their member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Create or update a peer provider (keys, endpoints).
    SetPeer(PeerInfo),
    /// Forget a peer: close its connection, refuse its key.
    RemovePeer(ProviderAddr),
    /// Create or update a network's settings.
    SetNetwork(NetworkInfo),
    /// Remove a network with all its members and attachments.
    RemoveNetwork(NetworkId),
    /// Create or update a member (IP, lease, tags, policy) of a network.
    SetMember(NetworkId, MemberInfo),
    /// Remove a member; live flows to and from it are cut.
    RemoveMember(NetworkId, String),
    /// Attach a local member's lease (create its TUN or userspace proxy).
    Attach(NetworkId, String, Attachment),
    /// Detach a local member's lease (delete its TUN or proxy).
    Detach(NetworkId, String),
    /// Replace a network's services (name → addresses); flows pinned to a
    /// service that went are dropped.
    SetServices(NetworkId, BTreeMap<String, ServiceInfo>),
    /// Replace a network's relays; relayed paths through a provider that
    /// is no longer a relay of any shared network are closed.
    SetRelays(NetworkId, BTreeSet<ProviderAddr>),
}

/// Failure of the data plane to apply a change.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// The change names a network the data plane does not have.
    #[error("unknown network {0}")]
    UnknownNetwork(NetworkId),
    /// The change names a member the data plane does not have.
    #[error("unknown member {1} in network {0}")]
    UnknownMember(NetworkId, String),
    /// Creating or deleting an attachment failed (namespace, TUN, socket).
    #[error("attachment of {member} in network {network}: {reason}")]
    Attachment {
        /// Network of the member.
        network: NetworkId,
        /// Member name.
        member: String,
        /// What went wrong.
        reason: String,
    },
    /// Any other I/O failure.
    #[error("data plane i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// What the reconciler drives. Implemented by the overlay; tests use a
/// recorder.
pub trait DataPlane {
    /// Apply one change. Must be idempotent.
    fn apply(
        &mut self,
        change: Change,
    ) -> impl std::future::Future<Output = Result<(), DataPlaneError>> + Send;

    /// Apply a plan in order; one result per change, in the same order.
    /// The default applies them one by one; a data plane with costly
    /// per-change work (rebuilding tables) can override it to do that work
    /// once per plan. A failed change must not stop the following ones.
    fn apply_all(
        &mut self,
        changes: Vec<Change>,
    ) -> impl std::future::Future<Output = Vec<Result<(), DataPlaneError>>> + Send
    where
        Self: Send,
    {
        async move {
            let mut results = Vec::with_capacity(changes.len());
            for change in changes {
                results.push(self.apply(change).await);
            }
            results
        }
    }
}
