//! The overlay: applies [`Change`](avpn_model::Change)s from the
//! reconciler ([`apply`]), owns attachments ([`attach`]) and peer
//! connections ([`peering`]), publishes routing tables to the data path
//! ([`tables`]) and reports what it serves ([`status`]).
//!
//! Every background task belongs to the overlay, a peer or a member's
//! attachment ([`crate::tasks`]); removing one cancels its tasks and waits
//! for them to end.

mod apply;
mod attach;
mod config;
mod peering;
mod state;
mod status;
mod tables;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use avpn_model::{NetworkId, ProviderAddr};

pub use config::{Congestion, OverlayConfig, OverlayError, UnknownCongestion};
pub use status::{
    AttachmentStatus, MemberStatus, NetworkStatus, OverlayStatus, PeerState, PeerStatus,
};

use crate::datapath::{LocalKey, Shared, Tables};
use crate::identity::{Identity, TrustStore};
use crate::io_runtime::IoRuntime;
use crate::metrics::Metrics;
use crate::paths::Paths;
use crate::peers;
use crate::streams::StreamRegistry;
use crate::tasks::TaskScope;
use crate::tun::tun_mtu;
use state::{NetState, PeerRuntime};

/// The data plane of one relayer. Must be started and used inside a
/// tokio runtime; its packets and connections run on a runtime of its
/// own (`io_runtime`).
#[derive(Debug)]
pub struct Overlay {
    shared: Arc<Shared>,
    listen: SocketAddr,
    networks: BTreeMap<NetworkId, NetState>,
    peers: BTreeMap<ProviderAddr, PeerRuntime>,
    /// The overlay's own tasks; peers' and attachments' scopes are its
    /// children, so dropping the overlay cancels every task.
    tasks: TaskScope,
    /// Networks whose tables the next rebuild compiles again; the others
    /// keep theirs, so a change in one network recompiles that one only.
    dirty: BTreeSet<NetworkId>,
    /// Peers were added or removed: every network's routes are rebuilt.
    all_dirty: bool,
    /// Runs every task above; declared last, so it stops after the
    /// scopes have cancelled them.
    io: IoRuntime,
}

impl Drop for Overlay {
    fn drop(&mut self) {
        self.shared
            .endpoint
            .close(quinn::VarInt::from_u32(0), b"shutdown");
    }
}

impl Overlay {
    /// Creates the QUIC endpoint and starts accepting peers. Nothing is
    /// served until changes arrive.
    pub fn start(cfg: OverlayConfig<'_>) -> Result<Overlay, OverlayError> {
        let io = IoRuntime::start(cfg.io_threads)?;
        // The endpoint's socket and driver belong to the data plane's
        // runtime.
        let _io_context = io.handle().enter();
        let identity = Identity::from_seed(&cfg.identity_seed)?;
        let trust = Arc::new(TrustStore::default());
        let transport = Arc::new(peers::transport(cfg.underlay_mtu, cfg.congestion));
        let server = peers::server_config(&identity, trust.clone(), transport.clone())?;
        let client = peers::client_config(&identity, trust.clone(), transport.clone())?;
        let metrics = Metrics::new(cfg.metrics);
        let burst = crate::limits::RELAY_PAIR_BURST.min(cfg.relay_pair_rate.max(1 << 16));
        let (endpoint, paths) = peers::endpoint(
            server,
            cfg.listen,
            cfg.underlay_netns.as_deref(),
            cfg.underlay_mtu,
            |socket| Paths::new(socket, metrics.clone(), cfg.relay_pair_rate, burst),
        )?;
        let listen = endpoint.local_addr()?;
        let shared = Arc::new(Shared {
            local: cfg.local_provider,
            identity: ArcSwap::from_pointee(LocalKey {
                public: identity.public_key(),
                client,
                previous_until: None,
            }),
            trust,
            transport,
            endpoint,
            tables: ArcSwap::from_pointee(Tables::default()),
            metrics,
            streams: StreamRegistry::default(),
            tun_mtu: tun_mtu(cfg.underlay_mtu),
            paths: paths.clone(),
        });
        let tasks = TaskScope::root(Arc::default(), io.handle().clone());
        let spawner = tasks.spawner();
        spawner.spawn(peers::accept_loop(shared.clone(), spawner.clone()));
        spawner.spawn(peers::maintenance_loop(shared.clone()));
        spawner.spawn(crate::service::health::watch(shared.clone()));
        spawner.spawn(crate::paths::flush_loop(paths.clone()));
        spawner.spawn(crate::paths::probe_loop(paths));
        Ok(Overlay {
            shared,
            listen,
            networks: BTreeMap::new(),
            peers: BTreeMap::new(),
            tasks,
            dirty: BTreeSet::new(),
            all_dirty: true,
            io,
        })
    }

    /// This relayer's overlay public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.shared.identity.load().public
    }

    /// Switches to a new overlay key without restarting: new handshakes
    /// use it at once, live connections keep the key they were made with.
    /// `previous_valid_until` is when peers stop accepting the previous
    /// key (unix seconds; `None`: they already do not): connections made
    /// with it are handed over to the new key, make-before-break,
    /// [`crate::HANDOVER_MARGIN`] before that (at once if it is
    /// nearer).
    pub fn rotate_identity(
        &mut self,
        seed: [u8; 32],
        previous_valid_until: Option<u64>,
    ) -> Result<(), OverlayError> {
        let identity = Identity::from_seed(&seed)?;
        let s = &self.shared;
        let server = peers::server_config(&identity, s.trust.clone(), s.transport.clone())?;
        let client = peers::client_config(&identity, s.trust.clone(), s.transport.clone())?;
        s.endpoint.set_server_config(Some(server));
        s.identity.store(Arc::new(LocalKey {
            public: identity.public_key(),
            client,
            previous_until: previous_valid_until,
        }));
        Ok(())
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listen
    }

    /// MTU given to TUN devices.
    pub fn tun_mtu(&self) -> u16 {
        self.shared.tun_mtu
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use prometheus_client::registry::Registry;

    use super::*;
    use crate::io_runtime::MAX_IO_THREADS;

    fn start(threads: usize) -> Result<Overlay, OverlayError> {
        let mut registry = Registry::default();
        let mut cfg = OverlayConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            [7; 32],
            "akash1local".into(),
            &mut registry,
        );
        cfg.io_threads = NonZeroUsize::new(threads).unwrap();
        Overlay::start(cfg)
    }

    /// The thread count is bounded and a bad one is refused by name.
    #[tokio::test]
    async fn io_threads_are_bounded() {
        assert!(matches!(
            start(MAX_IO_THREADS + 1),
            Err(OverlayError::IoThreads(n)) if n == MAX_IO_THREADS + 1
        ));
        let overlay = start(2).unwrap();
        assert_ne!(overlay.local_addr().port(), 0);
    }
}
