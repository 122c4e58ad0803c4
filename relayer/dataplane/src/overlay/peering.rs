//! Adding, updating and removing peer providers.

use std::sync::Arc;

use avpn_model::{PeerInfo, ProviderAddr};

use super::Overlay;
use super::state::PeerRuntime;
use crate::datapath::PeerSlot;
use crate::peers;
use crate::tasks::Owner;

impl Overlay {
    /// Adds or updates a peer. Who dials depends only on the provider
    /// addresses (the lower one dials), so a key rotation on either side
    /// never replaces the peer's slot: its live connection stays up as
    /// long as the key it was made with is accepted.
    pub(super) fn set_peer(&mut self, info: PeerInfo) {
        self.shared.trust.set_peer(&info.provider, &info.keys);
        self.shared
            .paths
            .set_endpoints(&info.provider, &info.endpoints);
        // Routes of every network may point at the slot, and the peer's
        // paths follow its endpoints.
        self.all_dirty = true;
        if let Some(r) = self.peers.get_mut(&info.provider) {
            r.info = info;
            return;
        }
        let dialer = self.shared.local < info.provider;
        let tasks = self.tasks.child(Owner::Peer);
        let slot = Arc::new(PeerSlot::new(
            info.provider.clone(),
            dialer,
            tasks.spawner().clone(),
        ));
        if dialer {
            let dial = peers::dial_loop(self.shared.clone(), slot.clone());
            tasks.spawner().spawn(dial);
        }
        self.peers
            .insert(info.provider.clone(), PeerRuntime { info, slot, tasks });
    }

    /// Forgets a peer: closes its connections and waits until its tasks
    /// have ended.
    pub(super) async fn remove_peer(&mut self, provider: &ProviderAddr) {
        self.shared.trust.remove_peer(provider);
        if let Some(peer) = self.peers.remove(provider) {
            peer.close().await;
        }
        self.all_dirty = true;
    }
}
