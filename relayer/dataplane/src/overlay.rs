//! The overlay: applies [`Change`]s from the reconciler, owns attachments
//! and peer connections, and publishes routing tables to the data path.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use avpn_model::{
    Attachment, AttachmentMode, Change, DataPlane, DataPlaneError, MemberInfo, NetworkId,
    NetworkInfo, PeerInfo, ProviderAddr, Verdict,
};
use ipnet::Ipv4Net;
use prometheus_client::registry::Registry;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::{AbortHandle, JoinHandle};

use crate::datapath::{
    LocalKey, LocalKind, LocalPort, MemberRoute, NetTable, PeerSlot, Shared, Tables, tun_loop,
};
use crate::identity::{Identity, IdentityError, TrustStore};
use crate::limits::{
    FLOW_BUDGET_PER_NETWORK, MAX_FORWARDS_PER_MEMBER, MAX_SOCKS_SESSIONS_PER_MEMBER,
};
use crate::metrics::{DropReason, Metrics};
use crate::netns::NetnsWorker;
use crate::peers;
use crate::policy::{CompiledPolicy, FlowCache};
use crate::streams::{StreamRegistry, socks_loop};
use crate::tun::{Tun, tun_mtu};

/// Settings of [`Overlay::start`].
pub struct OverlayConfig<'a> {
    /// UDP address the QUIC endpoint listens on.
    pub listen: SocketAddr,
    /// ed25519 seed of this relayer's overlay key.
    pub identity_seed: [u8; 32],
    /// This provider's account address (`lease.provider` of local members).
    pub local_provider: ProviderAddr,
    /// Registry the data-plane metrics are added to.
    pub metrics: &'a mut Registry,
    /// MTU of the underlay path (sets the QUIC packet size and the TUN MTU).
    pub underlay_mtu: u16,
    /// Namespace to create the UDP socket in (`None`: the current one).
    pub underlay_netns: Option<PathBuf>,
}

impl std::fmt::Debug for OverlayConfig<'_> {
    /// Everything but the seed, which is key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OverlayConfig")
            .field("listen", &self.listen)
            .field("identity_seed", &"<redacted>")
            .field("local_provider", &self.local_provider)
            .field("underlay_mtu", &self.underlay_mtu)
            .field("underlay_netns", &self.underlay_netns)
            .finish_non_exhaustive()
    }
}

impl<'a> OverlayConfig<'a> {
    /// A configuration with a 1500-byte underlay in the current namespace.
    pub fn new(
        listen: SocketAddr,
        identity_seed: [u8; 32],
        local_provider: ProviderAddr,
        metrics: &'a mut Registry,
    ) -> Self {
        OverlayConfig {
            listen,
            identity_seed,
            local_provider,
            metrics,
            underlay_mtu: 1500,
            underlay_netns: None,
        }
    }
}

/// Failure to start the overlay.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// Key or certificate problem.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// TLS configuration rejected by QUIC.
    #[error("quic tls: {0}")]
    Tls(String),
    /// Socket creation failed.
    #[error("underlay socket: {0}")]
    Io(#[from] std::io::Error),
}

/// A running attachment; its tasks stop when it is dropped.
#[derive(Debug)]
struct AttachRuntime {
    spec: Attachment,
    ip: Ipv4Addr,
    port: Arc<LocalPort>,
    interface: Option<String>,
    task: AbortHandle,
}

impl Drop for AttachRuntime {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct NetState {
    info: NetworkInfo,
    members: BTreeMap<String, MemberInfo>,
    attachments: BTreeMap<String, AttachRuntime>,
}

#[derive(Debug)]
struct PeerRuntime {
    info: PeerInfo,
    slot: Arc<PeerSlot>,
    dialer: Option<JoinHandle<()>>,
}

impl Drop for PeerRuntime {
    fn drop(&mut self) {
        if let Some(d) = &self.dialer {
            d.abort();
        }
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

/// The data plane of one relayer. Must be started and used inside a
/// multi-threaded tokio runtime.
#[derive(Debug)]
pub struct Overlay {
    shared: Arc<Shared>,
    listen: SocketAddr,
    networks: BTreeMap<NetworkId, NetState>,
    peers: BTreeMap<ProviderAddr, PeerRuntime>,
    tasks: Vec<JoinHandle<()>>,
    /// Networks whose tables the next rebuild compiles again; the others
    /// keep theirs, so a change in one network recompiles that one only.
    dirty: BTreeSet<NetworkId>,
    /// Peers were added or removed: every network's routes are rebuilt.
    all_dirty: bool,
}

impl Drop for Overlay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.shared
            .endpoint
            .close(quinn::VarInt::from_u32(0), b"shutdown");
    }
}

fn attach_error(
    network: NetworkId,
    member: &str,
    reason: impl std::fmt::Display,
) -> DataPlaneError {
    DataPlaneError::Attachment {
        network,
        member: member.to_owned(),
        reason: reason.to_string(),
    }
}

/// TUN name for a network: `avpn-<id>`, or a kernel-chosen `avpnN` when
/// the id is too long for an interface name.
fn interface_name(network: NetworkId) -> String {
    let n = format!("avpn-{network}");
    if n.len() < libc::IFNAMSIZ {
        n
    } else {
        "avpn%d".to_owned()
    }
}

impl Overlay {
    /// Creates the QUIC endpoint and starts accepting peers. Nothing is
    /// served until changes arrive.
    pub fn start(cfg: OverlayConfig<'_>) -> Result<Overlay, OverlayError> {
        let identity = Identity::from_seed(&cfg.identity_seed)?;
        let trust = Arc::new(TrustStore::default());
        let transport = Arc::new(peers::transport(cfg.underlay_mtu));
        let server = peers::server_config(&identity, trust.clone(), transport.clone())?;
        let client = peers::client_config(&identity, trust.clone(), transport.clone())?;
        let endpoint = peers::endpoint(
            server,
            cfg.listen,
            cfg.underlay_netns.as_deref(),
            cfg.underlay_mtu,
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
            metrics: Metrics::new(cfg.metrics),
            streams: StreamRegistry::default(),
            tun_mtu: tun_mtu(cfg.underlay_mtu),
        });
        let tasks = vec![
            tokio::spawn(peers::accept_loop(shared.clone())),
            tokio::spawn(peers::maintenance_loop(shared.clone())),
        ];
        Ok(Overlay {
            shared,
            listen,
            networks: BTreeMap::new(),
            peers: BTreeMap::new(),
            tasks,
            dirty: BTreeSet::new(),
            all_dirty: true,
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

    /// Publishes new tables built from the current state, then cuts flows
    /// and streams the new state no longer allows.
    fn rebuild(&mut self) {
        let old = self.shared.tables.load_full();
        let peers: rustc_hash::FxHashMap<ProviderAddr, Arc<PeerSlot>> = self
            .peers
            .iter()
            .map(|(p, r)| (p.clone(), r.slot.clone()))
            .collect();
        let mut networks = rustc_hash::FxHashMap::default();
        let mut rebuilt = Vec::new();
        for (id, net) in &self.networks {
            if !self.all_dirty
                && !self.dirty.contains(id)
                && let Some(kept) = old.networks.get(id)
            {
                networks.insert(*id, kept.clone());
                continue;
            }
            rebuilt.push(*id);
            let policy = Arc::new(CompiledPolicy::compile(
                &net.info.owner,
                net.info.default_verdict,
                net.members.values(),
                |m| net.attachments.contains_key(&m.name),
            ));
            let flows = old
                .networks
                .get(id)
                .map(|n| n.flows.clone())
                .unwrap_or_else(|| {
                    Arc::new(Mutex::new(FlowCache::new(
                        FLOW_BUDGET_PER_NETWORK,
                        self.shared.metrics.drop_counter(DropReason::FlowEvicted),
                    )))
                });
            let members = net
                .members
                .values()
                .map(|m| {
                    let provider = m.lease.provider.clone();
                    let route = MemberRoute {
                        ip: m.ip,
                        local: net.attachments.get(&m.name).map(|a| a.port.clone()),
                        peer: peers.get(&provider).cloned(),
                        traffic: self.shared.metrics.traffic(*id, &provider),
                        provider,
                    };
                    (m.ip, Arc::new(route))
                })
                .collect();
            networks.insert(
                *id,
                Arc::new(NetTable {
                    info: net.info.clone(),
                    members,
                    policy,
                    flows,
                }),
            );
        }
        self.dirty.clear();
        self.all_dirty = false;
        let tables = Arc::new(Tables { networks, peers });
        self.shared.tables.store(tables.clone());
        // Revalidate after publishing so that verdicts cached meanwhile
        // under the old policy are corrected too.
        for id in &rebuilt {
            let n = &tables.networks[id];
            n.flows
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .revalidate(&n.policy);
        }
        self.shared.streams.cut(&tables);
        peers::enforce_trust(&self.shared);
    }

    /// Adds or updates a peer. Who dials depends only on the provider
    /// addresses (the lower one dials), so a key rotation on either side
    /// never replaces the peer's slot: its live connection stays up as
    /// long as the key it was made with is accepted.
    fn set_peer(&mut self, info: PeerInfo) {
        self.shared.trust.set_peer(&info.provider, &info.keys);
        if let Some(r) = self.peers.get_mut(&info.provider) {
            *r.slot.endpoints.lock().unwrap_or_else(|e| e.into_inner()) = info.endpoints.clone();
            r.info = info;
            return;
        }
        // A new slot: routes of every network may point at it.
        self.all_dirty = true;
        let dialer = self.shared.local < info.provider;
        let slot = Arc::new(PeerSlot::new(
            info.provider.clone(),
            info.endpoints.clone(),
            dialer,
        ));
        let task =
            dialer.then(|| tokio::spawn(peers::dial_loop(self.shared.clone(), slot.clone())));
        self.peers.insert(
            info.provider.clone(),
            PeerRuntime {
                info,
                slot,
                dialer: task,
            },
        );
    }

    async fn attach(
        &mut self,
        network: NetworkId,
        name: &str,
        spec: Attachment,
    ) -> Result<(), DataPlaneError> {
        let net = self
            .networks
            .get(&network)
            .ok_or(DataPlaneError::UnknownNetwork(network))?;
        let member = net
            .members
            .get(name)
            .ok_or_else(|| DataPlaneError::UnknownMember(network, name.to_owned()))?;
        if member.lease.provider != self.shared.local {
            return Err(attach_error(
                network,
                name,
                "lease is not hosted by this provider",
            ));
        }
        if net
            .attachments
            .get(name)
            .is_some_and(|a| a.spec == spec && a.ip == member.ip)
        {
            return Ok(());
        }
        let (ip, cidr) = (member.ip, net.info.cidr);
        // Tear down a previous attachment first (it may own the same
        // interface name or listening port).
        if let Some(net) = self.networks.get_mut(&network) {
            net.attachments.remove(name);
        }
        let runtime = self
            .create_attachment(network, name, ip, cidr, spec)
            .await?;
        if let Some(net) = self.networks.get_mut(&network) {
            net.attachments.insert(name.to_owned(), runtime);
        }
        Ok(())
    }

    async fn create_attachment(
        &self,
        network: NetworkId,
        name: &str,
        ip: Ipv4Addr,
        cidr: Ipv4Net,
        spec: Attachment,
    ) -> Result<AttachRuntime, DataPlaneError> {
        let worker =
            Arc::new(NetnsWorker::spawn(&spec.netns).map_err(|e| attach_error(network, name, e))?);
        match &spec.mode {
            AttachmentMode::Transparent => {
                let tun = Tun::create(
                    &worker,
                    &interface_name(network),
                    ip,
                    cidr.prefix_len(),
                    self.shared.tun_mtu,
                )
                .await
                .map_err(|e| attach_error(network, name, format!("tun: {e}")))?;
                let tun = Arc::new(tun);
                let interface = Some(tun.name().to_owned());
                let task = tokio::spawn(tun_loop(self.shared.clone(), network, ip, tun.clone()))
                    .abort_handle();
                let port = Arc::new(LocalPort {
                    worker,
                    kind: LocalKind::Tun(tun),
                    forwards: Arc::new(Semaphore::new(MAX_FORWARDS_PER_MEMBER)),
                });
                Ok(AttachRuntime {
                    spec,
                    ip,
                    port,
                    interface,
                    task,
                })
            }
            AttachmentMode::Userspace { socks, serve } => {
                let listener = worker.tcp_listener(*socks).await.map_err(|e| {
                    attach_error(network, name, format!("socks listener {socks}: {e}"))
                })?;
                let sessions = Arc::new(Semaphore::new(MAX_SOCKS_SESSIONS_PER_MEMBER));
                let task = tokio::spawn(socks_loop(
                    self.shared.clone(),
                    network,
                    ip,
                    listener,
                    sessions,
                ))
                .abort_handle();
                let port = Arc::new(LocalPort {
                    worker,
                    kind: LocalKind::Userspace {
                        serve: serve.clone(),
                    },
                    forwards: Arc::new(Semaphore::new(MAX_FORWARDS_PER_MEMBER)),
                });
                Ok(AttachRuntime {
                    spec,
                    ip,
                    port,
                    interface: None,
                    task,
                })
            }
        }
    }

    /// Applies one change to the state, without publishing new tables.
    async fn stage(&mut self, change: Change) -> Result<(), DataPlaneError> {
        match &change {
            Change::SetPeer(_) | Change::RemovePeer(_) => {}
            Change::SetNetwork(info) => {
                self.dirty.insert(info.id);
            }
            Change::RemoveNetwork(id)
            | Change::SetMember(id, _)
            | Change::RemoveMember(id, _)
            | Change::Attach(id, _, _)
            | Change::Detach(id, _) => {
                self.dirty.insert(*id);
            }
        }
        match change {
            Change::SetPeer(info) => self.set_peer(info),
            Change::RemovePeer(provider) => {
                self.shared.trust.remove_peer(&provider);
                self.peers.remove(&provider);
                self.all_dirty = true;
            }
            Change::SetNetwork(info) => match self.networks.get_mut(&info.id) {
                Some(n) => n.info = info,
                None => {
                    self.networks.insert(
                        info.id,
                        NetState {
                            info,
                            members: BTreeMap::new(),
                            attachments: BTreeMap::new(),
                        },
                    );
                }
            },
            Change::RemoveNetwork(id) => {
                self.networks.remove(&id);
            }
            Change::SetMember(network, member) => {
                let net = self
                    .networks
                    .get_mut(&network)
                    .ok_or(DataPlaneError::UnknownNetwork(network))?;
                let name = member.name.clone();
                let ip = member.ip;
                let moved = member.lease.provider != self.shared.local;
                net.members.insert(name.clone(), member);
                let stale = net
                    .attachments
                    .get(&name)
                    .map(|a| (a.ip != ip || moved, a.spec.clone()));
                match stale {
                    Some((true, _)) if moved => {
                        net.attachments.remove(&name);
                    }
                    Some((true, spec)) => {
                        self.rebuild();
                        self.attach(network, &name, spec).await?;
                    }
                    _ => {}
                }
            }
            Change::RemoveMember(network, name) => {
                if let Some(net) = self.networks.get_mut(&network) {
                    net.attachments.remove(&name);
                    net.members.remove(&name);
                }
            }
            Change::Attach(network, name, spec) => {
                self.attach(network, &name, spec).await?;
            }
            Change::Detach(network, name) => {
                if let Some(net) = self.networks.get_mut(&network) {
                    net.attachments.remove(&name);
                }
            }
        }
        Ok(())
    }

    /// What the data plane serves and how it is doing.
    pub fn status(&self) -> OverlayStatus {
        let tables = self.shared.tables.load();
        let networks = self
            .networks
            .values()
            .map(|n| NetworkStatus {
                id: n.info.id,
                revision: n.info.revision,
                cidr: n.info.cidr,
                default_verdict: n.info.default_verdict,
                flows: tables
                    .networks
                    .get(&n.info.id)
                    .map(|t| t.flows.lock().unwrap_or_else(|e| e.into_inner()).len())
                    .unwrap_or(0),
                members: n
                    .members
                    .values()
                    .map(|m| MemberStatus {
                        name: m.name.clone(),
                        ip: m.ip,
                        provider: m.lease.provider.clone(),
                        local: m.lease.provider == self.shared.local,
                        attachment: n.attachments.get(&m.name).map(|a| AttachmentStatus {
                            netns: a.spec.netns.clone(),
                            mode: match a.spec.mode {
                                AttachmentMode::Transparent => "transparent",
                                AttachmentMode::Userspace { .. } => "userspace",
                            },
                            interface: a.interface.clone(),
                            socks: match &a.spec.mode {
                                AttachmentMode::Userspace { socks, .. } => Some(*socks),
                                AttachmentMode::Transparent => None,
                            },
                        }),
                    })
                    .collect(),
            })
            .collect();
        let peers = self
            .peers
            .values()
            .map(|p| {
                let conn = peers::live(&p.slot);
                let stats = conn.as_ref().map(|c| c.stats());
                PeerStatus {
                    provider: p.info.provider.clone(),
                    state: match (&conn, p.slot.dialer) {
                        (Some(_), _) => PeerState::Connected,
                        (None, true) => PeerState::Connecting,
                        (None, false) => PeerState::Waiting,
                    },
                    remote: conn.as_ref().map(|c| c.remote_address()),
                    rtt_us: stats.as_ref().map(|s| s.path.rtt.as_micros() as u64),
                    tx_bytes: stats.as_ref().map_or(0, |s| s.udp_tx.bytes),
                    rx_bytes: stats.as_ref().map_or(0, |s| s.udp_rx.bytes),
                    lost_packets: stats.as_ref().map_or(0, |s| s.path.lost_packets),
                    connects: p.slot.connects.load(Ordering::Relaxed),
                    draining: p
                        .slot
                        .draining
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .len(),
                }
            })
            .collect();
        OverlayStatus {
            provider: self.shared.local.clone(),
            public_key: self
                .shared
                .identity
                .load()
                .public
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            listen: self.listen,
            tun_mtu: self.shared.tun_mtu,
            networks,
            peers,
            drops: self
                .shared
                .metrics
                .drops()
                .into_iter()
                .map(|(r, n)| (r.as_str().to_owned(), n))
                .collect(),
            live_streams: self.shared.streams.len(),
        }
    }
}

impl DataPlane for Overlay {
    async fn apply(&mut self, change: Change) -> Result<(), DataPlaneError> {
        let result = self.stage(change).await;
        self.rebuild();
        result
    }

    /// Stages the whole plan, then compiles and publishes the tables once:
    /// a cold sync of N changes costs one rebuild, not N.
    async fn apply_all(&mut self, changes: Vec<Change>) -> Vec<Result<(), DataPlaneError>> {
        let mut results = Vec::with_capacity(changes.len());
        for change in changes {
            results.push(self.stage(change).await);
        }
        self.rebuild();
        results
    }
}

/// Snapshot of the data plane for a status endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct OverlayStatus {
    /// This provider.
    pub provider: ProviderAddr,
    /// Overlay public key, hex.
    pub public_key: String,
    /// QUIC listen address.
    pub listen: SocketAddr,
    /// MTU of TUN devices.
    pub tun_mtu: u16,
    /// Served networks.
    pub networks: Vec<NetworkStatus>,
    /// Peer providers.
    pub peers: Vec<PeerStatus>,
    /// Drops by reason.
    pub drops: BTreeMap<String, u64>,
    /// Open forwarded TCP connections.
    pub live_streams: usize,
}

/// One served network.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkStatus {
    /// Network id.
    pub id: NetworkId,
    /// Contract revision applied.
    pub revision: u64,
    /// Overlay CIDR.
    pub cidr: Ipv4Net,
    /// Verdict when no rule matches.
    pub default_verdict: Verdict,
    /// Flows in the firewall cache.
    pub flows: usize,
    /// Members.
    pub members: Vec<MemberStatus>,
}

/// One member.
#[derive(Debug, Clone, Serialize)]
pub struct MemberStatus {
    /// Name.
    pub name: String,
    /// Overlay address.
    pub ip: Ipv4Addr,
    /// Hosting provider.
    pub provider: ProviderAddr,
    /// Hosted by this provider.
    pub local: bool,
    /// Attachment, when attached here.
    pub attachment: Option<AttachmentStatus>,
}

/// A local attachment.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentStatus {
    /// Lease namespace.
    pub netns: PathBuf,
    /// `transparent` or `userspace`.
    pub mode: &'static str,
    /// TUN name (transparent).
    pub interface: Option<String>,
    /// SOCKS5 address (userspace).
    pub socks: Option<SocketAddr>,
}

/// Connection state of a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    /// A connection is up.
    Connected,
    /// This side dials and has no connection yet.
    Connecting,
    /// The peer dials (it has the lower provider address) and has not
    /// connected yet.
    Waiting,
}

/// One peer provider.
#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    /// Provider address.
    pub provider: ProviderAddr,
    /// Connection state.
    pub state: PeerState,
    /// Remote UDP address of the connection.
    pub remote: Option<SocketAddr>,
    /// Smoothed RTT in microseconds.
    pub rtt_us: Option<u64>,
    /// UDP bytes sent on the connection.
    pub tx_bytes: u64,
    /// UDP bytes received on the connection.
    pub rx_bytes: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// Connections established with this peer since it was added (a
    /// reconnect or a key handover adds one; a key rotation alone does
    /// not).
    pub connects: u64,
    /// Replaced connections still carrying forwarded streams.
    pub draining: usize,
}

#[cfg(test)]
mod tests {
    use avpn_model::{LeaseId, MemberInfo, NetworkInfo, Policy, Verdict};

    use super::*;

    fn info(id: NetworkId) -> NetworkInfo {
        NetworkInfo {
            id,
            owner: "owner".into(),
            revision: 1,
            cidr: "100.64.0.0/24".parse().unwrap(),
            default_verdict: Verdict::Deny,
        }
    }

    fn member(name: &str, host: u8) -> MemberInfo {
        MemberInfo {
            name: name.into(),
            ip: std::net::Ipv4Addr::new(100, 64, 0, host),
            lease: LeaseId {
                owner: "owner".into(),
                dseq: u64::from(host),
                gseq: 1,
                oseq: 1,
                provider: "remote".into(),
                bseq: 0,
            },
            tags: Default::default(),
            service: None,
            policy: Policy::default(),
        }
    }

    fn table(o: &Overlay, id: NetworkId) -> Arc<NetTable> {
        o.shared.tables.load().networks[&id].clone()
    }

    /// A change in one network recompiles that network's tables only; the
    /// other network keeps the very same compiled table.
    #[tokio::test]
    async fn a_change_recompiles_only_its_network() {
        let mut registry = Registry::default();
        let cfg = OverlayConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            [7; 32],
            "local".into(),
            &mut registry,
        );
        let mut o = Overlay::start(cfg).unwrap();
        let plan = vec![
            Change::SetNetwork(info(1)),
            Change::SetNetwork(info(2)),
            Change::SetMember(1, member("a", 2)),
            Change::SetMember(2, member("b", 2)),
        ];
        assert!(o.apply_all(plan).await.iter().all(Result::is_ok));
        let (one, two) = (table(&o, 1), table(&o, 2));
        o.apply(Change::SetMember(1, member("c", 3))).await.unwrap();
        assert!(
            Arc::ptr_eq(&two, &table(&o, 2)),
            "untouched network recompiled"
        );
        assert!(
            !Arc::ptr_eq(&one, &table(&o, 1)),
            "changed network kept old table"
        );
        assert_eq!(table(&o, 1).members.len(), 2);
    }
}
