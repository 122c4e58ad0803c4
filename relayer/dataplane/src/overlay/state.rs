//! What the overlay keeps per network and per peer between changes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use avpn_model::{Attachment, MemberInfo, NetworkInfo, PeerInfo, ProviderAddr, ServiceInfo};

use crate::datapath::{LocalPort, OwnAddrs, PeerSlot};
use crate::tasks::TaskScope;

/// A running attachment; its tasks are cancelled when it is dropped, and
/// awaited by [`AttachRuntime::close`].
#[derive(Debug)]
pub(super) struct AttachRuntime {
    pub spec: Attachment,
    /// The member's addresses it was attached with.
    pub addrs: OwnAddrs,
    pub port: Arc<LocalPort>,
    pub interface: Option<String>,
    pub tasks: TaskScope,
}

impl AttachRuntime {
    /// Stops the attachment's tasks and waits until they have ended (its
    /// interface or listening socket is then closed).
    pub async fn close(self) {
        self.tasks.shutdown().await;
    }
}

/// One served network.
#[derive(Debug)]
pub(super) struct NetState {
    pub info: NetworkInfo,
    pub members: BTreeMap<String, MemberInfo>,
    pub attachments: BTreeMap<String, AttachRuntime>,
    pub services: BTreeMap<String, ServiceInfo>,
    pub relays: BTreeSet<ProviderAddr>,
}

impl NetState {
    /// Closes every attachment of the network.
    pub async fn close(self) {
        for a in self.attachments.into_values() {
            a.close().await;
        }
    }
}

/// One peer provider: its slot in the tables and its tasks.
#[derive(Debug)]
pub(super) struct PeerRuntime {
    pub info: PeerInfo,
    pub slot: Arc<PeerSlot>,
    pub tasks: TaskScope,
}

impl PeerRuntime {
    /// Closes the peer's connections, stops its tasks and waits until they
    /// have ended.
    pub async fn close(self) {
        self.close_connections();
        self.tasks.shutdown().await;
    }

    fn close_connections(&self) {
        if let Some(c) = self.slot.conn.swap(None) {
            c.close(quinn::VarInt::from_u32(1), b"peer removed");
        }
        for d in self
            .slot
            .draining
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            d.conn.close(quinn::VarInt::from_u32(1), b"peer removed");
        }
    }
}

impl Drop for PeerRuntime {
    fn drop(&mut self) {
        self.close_connections();
    }
}
