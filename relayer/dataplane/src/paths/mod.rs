//! Paths to peer providers: direct, or through a relay.
//!
//! Every peer gets a stable *virtual* address (in 240.0.0.0/4, never
//! routed) and QUIC only ever sees that address: the endpoint's socket
//! (`PathSocket`) sends each packet for it over the path currently in
//! use and presents every packet from the peer, whichever path brought it,
//! as coming from it. Moving a peer between paths is therefore invisible
//! to its QUIC connection — no migration, no new handshake — and the TCP
//! connections carried inside see delay, not a reset.
//!
//! A path is the peer's directory endpoint (direct) or a relay: a provider
//! the network owner authorized with the relay capability. A relayed
//! packet is the two providers' own encrypted QUIC packet behind a
//! 17-byte header ([`frame`]); the relay checks the header and forwards
//! it, holding none of their keys. The header carries the secret of the
//! sender's connection with the relay (exported from that connection's
//! TLS session), so only the peer on the other end of that connection can
//! make a relay forward. A relay forwards only between providers that
//! both host members of a network that made it a relay, within a byte
//! budget per provider pair ([`crate::limits::RELAY_PAIR_BYTES_PER_SEC`]);
//! a receiver accepts a relayed packet only from a relay authorized for a
//! network it shares with the packet's source.
//!
//! Every path is probed five times a second (`cost`); the cheapest
//! usable path carries the traffic, with hysteresis. The QUIC MTU leaves
//! room for the relay header on every path, so a move never changes what
//! fits.

mod budget;
mod coalesce;
mod cost;
pub mod frame;
mod receivers;
mod socket;
pub(crate) mod socket_buffers;
mod sockopt;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use avpn_model::{NetworkId, ProviderAddr};
use quinn::AsyncUdpSocket;
use quinn::udp::Transmit;
use ring::rand::SecureRandom;
use rustc_hash::FxHashMap;
use serde::Serialize;

pub(crate) use coalesce::MAX_BATCH_BYTES;
pub(crate) use receivers::{Delivery, Registration};
pub(crate) use socket::PathSocket;

use crate::limits::MAX_OUTSTANDING_PROBES;
use crate::metrics::{DropReason, Metrics};
use crate::sealed::{OpenError, Opener};
use budget::PairBudgets;
use coalesce::{Coalescer, Underlay};
pub use cost::PROBE_INTERVAL;
use cost::{PROBE_TIMEOUT, PathStats, choose};
use frame::{PeerId, RELAY_HEADER_LEN};
use receivers::{Receiver, Receivers, Touched};

/// The `n`-th virtual address: 240.0.0.0/4 is reserved and never routed,
/// so it cannot collide with a real endpoint.
fn virtual_addr(n: u32) -> SocketAddr {
    SocketAddr::new(Ipv4Addr::from(0xF000_0000 | (n & 0x0FFF_FFFF)).into(), 1)
}

/// One path to a peer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PathKey {
    /// The peer's endpoint.
    Direct(SocketAddr),
    /// Through this relay provider.
    Relay(ProviderAddr),
}

impl std::fmt::Display for PathKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathKey::Direct(a) => write!(f, "direct {a}"),
            PathKey::Relay(p) => write!(f, "relay {p}"),
        }
    }
}

/// Where packets for a peer go now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// No usable path known (packets are dropped; QUIC retransmits).
    Down,
    /// To the peer's endpoint.
    Direct(SocketAddr),
    /// To the relay at `via`, with our connection's token and the peer's id.
    Relay {
        via: SocketAddr,
        token: u64,
        dst: PeerId,
    },
}

/// What the socket needs to know of one peer.
#[derive(Debug)]
pub(crate) struct PeerEntry {
    pub id: PeerId,
    /// Secret of our live connection with the peer.
    pub token: Option<u64>,
    pub route: Route,
    /// Virtual addresses of the relays that may carry this peer's packets.
    pub relays: Vec<SocketAddr>,
    /// Networks we relay for in which the peer hosts a member (sorted).
    pub relayed_networks: Vec<NetworkId>,
}

/// Snapshot read by the socket on every batch.
#[derive(Debug, Default)]
pub(crate) struct PathTable {
    pub peers: FxHashMap<SocketAddr, PeerEntry>,
    /// Real endpoint → virtual address.
    pub by_real: FxHashMap<SocketAddr, SocketAddr>,
    pub by_id: FxHashMap<PeerId, SocketAddr>,
}

impl PathTable {
    /// Whether we may relay between `a` and `b`: both host members of a
    /// network we relay for.
    pub fn may_relay(a: &PeerEntry, b: &PeerEntry) -> bool {
        let (mut i, mut j) = (0, 0);
        let (x, y) = (&a.relayed_networks, &b.relayed_networks);
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
            }
        }
        false
    }
}

/// What the overlay derives for one peer from its networks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PeerPlan {
    pub endpoints: Vec<SocketAddr>,
    /// Relays of networks in which the peer hosts a member.
    pub relays: BTreeSet<ProviderAddr>,
    /// Networks we relay for in which the peer hosts a member.
    pub relayed_networks: BTreeSet<NetworkId>,
}

#[derive(Debug)]
struct PeerPaths {
    virtual_addr: SocketAddr,
    id: PeerId,
    plan: PeerPlan,
    token: Option<u64>,
    stats: BTreeMap<PathKey, PathStats>,
    route: Option<PathKey>,
}

impl PeerPaths {
    /// A peer without a path yet starts on its first endpoint.
    fn default_route(&mut self) {
        if self.route.is_none()
            && let Some(e) = self.plan.endpoints.first()
        {
            self.route = Some(PathKey::Direct(*e));
        }
    }
}

#[derive(Debug, Default)]
struct State {
    next_virtual: u32,
    peers: BTreeMap<ProviderAddr, PeerPaths>,
    outstanding: FxHashMap<u64, (ProviderAddr, PathKey, Instant)>,
}

impl State {
    fn peer(&mut self, provider: &ProviderAddr) -> &mut PeerPaths {
        let n = &mut self.next_virtual;
        self.peers.entry(provider.clone()).or_insert_with(|| {
            *n += 1;
            PeerPaths {
                virtual_addr: virtual_addr(*n),
                id: PeerId::of(provider),
                plan: PeerPlan::default(),
                token: None,
                stats: BTreeMap::new(),
                route: None,
            }
        })
    }

    /// The relay's address and our token with it, if it is reachable directly.
    fn relay_hop(&self, relay: &ProviderAddr) -> Option<(SocketAddr, u64)> {
        let r = self.peers.get(relay)?;
        match (&r.route, r.token) {
            (Some(PathKey::Direct(addr)), Some(token)) => Some((*addr, token)),
            _ => None,
        }
    }

    /// The paths to `p` worth probing, direct ones first.
    fn candidates(&self, p: &PeerPaths) -> Vec<PathKey> {
        let direct = p.plan.endpoints.iter().map(|e| PathKey::Direct(*e));
        let relayed = p
            .plan
            .relays
            .iter()
            .filter(|r| self.relay_hop(r).is_some())
            .map(|r| PathKey::Relay(r.clone()));
        direct.chain(relayed).collect()
    }

    fn table(&self) -> PathTable {
        let mut t = PathTable::default();
        for p in self.peers.values() {
            let route = match &p.route {
                None => Route::Down,
                Some(PathKey::Direct(a)) => Route::Direct(*a),
                Some(PathKey::Relay(r)) => match self.relay_hop(r) {
                    Some((via, token)) => Route::Relay {
                        via,
                        token,
                        dst: p.id,
                    },
                    None => Route::Down,
                },
            };
            for e in &p.plan.endpoints {
                t.by_real.entry(*e).or_insert(p.virtual_addr);
            }
            if t.by_id.insert(p.id, p.virtual_addr).is_some() {
                tracing::warn!(
                    id = p.id.0,
                    "two peers share a relay id; neither is relayed"
                );
            }
            t.peers.insert(
                p.virtual_addr,
                PeerEntry {
                    id: p.id,
                    token: p.token,
                    route,
                    relays: p
                        .plan
                        .relays
                        .iter()
                        .filter_map(|r| self.peers.get(r).map(|x| x.virtual_addr))
                        .collect(),
                    relayed_networks: p.plan.relayed_networks.iter().copied().collect(),
                },
            );
        }
        t
    }
}

/// The path in use to a peer, and every path measured.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathStatus {
    /// The path carrying the traffic (`direct <addr>`, `relay <provider>`),
    /// `None` while no path is usable.
    pub in_use: Option<String>,
    /// Every path probed, in use or not.
    pub paths: Vec<PathCost>,
}

/// The measured cost of one path.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathCost {
    /// `direct <addr>` or `relay <provider>`.
    pub path: String,
    /// Smoothed probe RTT in milliseconds, once a probe was answered.
    pub rtt_ms: Option<f64>,
    /// Share of recent probes lost.
    pub loss: f64,
    /// Cost in milliseconds (RTT inflated by loss); `None` while unusable.
    pub cost_ms: Option<f64>,
}

/// Paths to every peer; shared by the socket, the prober and the overlay.
pub(crate) struct Paths {
    table: ArcSwap<PathTable>,
    state: Mutex<State>,
    budgets: Mutex<PairBudgets>,
    socket: Arc<dyn AsyncUdpSocket>,
    /// The same socket, to cork it.
    socket_fd: std::net::UdpSocket,
    /// QUIC transmits joined into one send ([`coalesce`]).
    batch: Coalescer,
    metrics: Metrics,
    rng: ring::rand::SystemRandom,
    /// Receiving halves of sealed channels by receiver id.
    receivers: ArcSwap<Receivers>,
    /// The socket's receive-buffer overflows, sampled every probe round.
    receive_drops: socket_buffers::ReceiveDrops,
}

impl std::fmt::Debug for Paths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paths").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Paths {
    /// Paths over the real `socket` (registered with the current
    /// runtime), relaying `pair_rate` bytes/s per provider pair
    /// (`pair_burst` at once).
    pub fn new(
        socket: std::net::UdpSocket,
        metrics: Metrics,
        pair_rate: u64,
        pair_burst: u64,
    ) -> io::Result<Arc<Paths>> {
        use quinn::Runtime;
        let socket_fd = socket.try_clone()?;
        Ok(Arc::new(Paths {
            table: ArcSwap::from_pointee(PathTable::default()),
            state: Mutex::new(State::default()),
            budgets: Mutex::new(PairBudgets::new(pair_rate, pair_burst)),
            socket: quinn::TokioRuntime.wrap_udp_socket(socket)?,
            socket_fd,
            batch: Coalescer::new(metrics.clone()),
            metrics,
            rng: ring::rand::SystemRandom::new(),
            receivers: Default::default(),
            receive_drops: Default::default(),
        }))
    }

    /// The virtual address QUIC uses for `provider`.
    pub fn virtual_of(&self, provider: &ProviderAddr) -> SocketAddr {
        let mut st = lock(&self.state);
        let v = st.peer(provider).virtual_addr;
        self.publish(&st);
        v
    }

    /// Sets the endpoints of `provider` at once (before its networks'
    /// plans are derived), so a dial to it has a path from the start.
    pub fn set_endpoints(&self, provider: &ProviderAddr, endpoints: &[SocketAddr]) {
        let mut st = lock(&self.state);
        let p = st.peer(provider);
        p.plan.endpoints = endpoints.to_vec();
        p.default_route();
        self.publish(&st);
    }

    /// Replaces what is known of every peer (peers not named are forgotten).
    pub fn sync(&self, plans: BTreeMap<ProviderAddr, PeerPlan>) {
        let mut st = lock(&self.state);
        st.peers.retain(|p, _| plans.contains_key(p));
        for (provider, plan) in plans {
            let p = st.peer(&provider);
            p.plan = plan;
            p.default_route();
        }
        let ids: BTreeSet<PeerId> = st.peers.values().map(|p| p.id).collect();
        lock(&self.budgets).retain(|id| ids.contains(&id));
        self.publish(&st);
    }

    /// Records the secret of our live connection with `provider` (`None`:
    /// no live connection).
    pub fn set_token(&self, provider: &ProviderAddr, token: Option<u64>) {
        let mut st = lock(&self.state);
        st.peer(provider).token = token;
        self.publish(&st);
    }

    fn publish(&self, st: &State) {
        self.table.store(Arc::new(st.table()));
    }

    /// The current snapshot.
    pub fn table(&self) -> arc_swap::Guard<Arc<PathTable>> {
        self.table.load()
    }

    /// Sends a QUIC transmit on the real socket, joined with the ones
    /// around it where they form one burst ([`coalesce`]); `WouldBlock`:
    /// not taken, retry once the socket is writable.
    pub fn send_quic(&self, t: &Transmit) -> io::Result<()> {
        self.batch.send(&self.underlay(), t)
    }

    fn underlay(&self) -> Underlay<'_> {
        Underlay {
            socket: &*self.socket,
            fd: &self.socket_fd,
        }
    }

    /// Most segments one send may carry (1: the kernel cannot segment).
    pub fn max_segments(&self) -> usize {
        self.socket.max_transmit_segments()
    }

    /// A waker for when the socket has room to send again.
    pub fn poller(&self) -> std::pin::Pin<Box<dyn quinn::UdpPoller>> {
        self.socket.clone().create_io_poller()
    }

    /// Registers the receiving half of a sealed channel and where its
    /// packets go, until the registration is dropped.
    pub fn add_receiver(
        self: &Arc<Self>,
        opener: Arc<Opener>,
        delivery: Arc<dyn Delivery>,
    ) -> Registration {
        let id = opener.id();
        let r = Receiver { opener, delivery };
        self.receivers.rcu(|m| {
            let mut m = Receivers::clone(m);
            m.insert(id, r.clone());
            m
        });
        Registration::new(self.clone(), id)
    }

    fn remove_receiver(&self, id: u64) {
        self.receivers.rcu(|m| {
            let mut m = Receivers::clone(m);
            m.remove(&id);
            m
        });
    }

    /// Opens a sealed datagram for the receiving half `receiver` and
    /// hands its packet on (noting the delivery in `touched`), or counts
    /// why not.
    fn open_sealed(&self, receiver: u64, frame: &mut [u8], touched: &mut Touched) {
        let receivers = self.receivers.load();
        let Some(r) = receivers.get(&receiver) else {
            return self.metrics.drop(DropReason::SealedRejected);
        };
        match r.opener.open(frame) {
            Ok(packet) => {
                r.delivery.packet(packet);
                touched.add(&r.delivery);
            }
            Err(e) => self.metrics.drop(match e {
                OpenError::Malformed | OpenError::Forged => DropReason::SealedRejected,
                OpenError::Replayed | OpenError::Epoch => DropReason::SealedReplayed,
            }),
        }
    }

    /// Sends a transmit addressed to a peer's virtual address over its
    /// current path (real addresses go out as they are).
    pub fn send_routed(&self, t: &Transmit) -> io::Result<()> {
        self.route(t, |t| self.send_quic(t))
    }

    /// Sends a batch of sealed datagrams (already one GSO send) to the
    /// peer at virtual address `t.destination`, like [`Paths::send_routed`]
    /// but never joined with QUIC's transmits: a cork would cost two more
    /// system calls and could hold the batch until the flusher runs.
    pub fn send_sealed(&self, t: &Transmit) -> io::Result<()> {
        self.route(t, |t| self.batch.send_alone(&self.underlay(), t))
    }

    /// Sends `t` with `send` over the current path of the peer it is
    /// addressed to.
    fn route(&self, t: &Transmit, send: impl Fn(&Transmit) -> io::Result<()>) -> io::Result<()> {
        let table = self.table();
        let Some(peer) = table.peers.get(&t.destination) else {
            return send(t);
        };
        match peer.route {
            // No usable path yet: QUIC retransmits once there is one.
            Route::Down => Ok(()),
            // The source address is the kernel's choice for the path, as
            // for relayed packets and probes: quinn's `src_ip` is the
            // local address the connection's first packet arrived on,
            // which belongs to the path of that moment (a relay's link
            // when it was made through a relay), and the peer takes a
            // packet from an address that is not our endpoint for a
            // stranger's.
            Route::Direct(to) => send(&Transmit {
                destination: to,
                src_ip: None,
                ..*t
            }),
            Route::Relay { via, token, dst } => {
                let header = frame::to_relay(token, dst);
                let seg = t.segment_size.unwrap_or(t.contents.len()).max(1);
                let count = t.contents.len().div_ceil(seg);
                let mut buf = Vec::with_capacity(t.contents.len() + count * RELAY_HEADER_LEN);
                for chunk in t.contents.chunks(seg) {
                    buf.extend_from_slice(&header);
                    buf.extend_from_slice(chunk);
                }
                send(&Transmit {
                    destination: via,
                    ecn: t.ecn,
                    contents: &buf,
                    segment_size: t.segment_size.map(|s| s + RELAY_HEADER_LEN),
                    src_ip: None,
                })
            }
        }
    }

    /// Sends one datagram on the real socket, best effort.
    pub fn send_raw(&self, to: SocketAddr, bytes: &[u8]) {
        let t = Transmit {
            destination: to,
            ecn: None,
            contents: bytes,
            segment_size: None,
            src_ip: None,
        };
        let _ = self.batch.send_alone(&self.underlay(), &t);
    }

    /// Spends relay budget of the pair (`a`, `b`).
    pub fn spend(&self, a: PeerId, b: PeerId, len: usize) -> bool {
        lock(&self.budgets).spend(a, b, len, Instant::now())
    }

    /// The answer to probe `nonce` arrived at `now`.
    pub fn answered(&self, nonce: u64, now: Instant) {
        let mut st = lock(&self.state);
        let Some((provider, key, sent)) = st.outstanding.remove(&nonce) else {
            return;
        };
        if let Some(p) = st.peers.get_mut(&provider) {
            p.stats
                .entry(key)
                .or_default()
                .answered(now.saturating_duration_since(sent), now);
        }
    }

    /// One probing round: counts the socket's overflows, times out old
    /// probes, picks each peer's path, publishes, and sends a probe on
    /// every path.
    pub fn tick(&self, now: Instant) {
        self.receive_drops.sample(&self.socket_fd, &self.metrics);
        let mut sends: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        let mut st = lock(&self.state);
        let expired: Vec<u64> = st
            .outstanding
            .iter()
            .filter(|(_, (_, _, sent))| now.saturating_duration_since(*sent) >= PROBE_TIMEOUT)
            .map(|(n, _)| *n)
            .collect();
        for n in expired {
            if let Some((provider, key, sent)) = st.outstanding.remove(&n)
                && let Some(p) = st.peers.get_mut(&provider)
            {
                p.stats.entry(key).or_default().lost(sent);
            }
        }
        let providers: Vec<ProviderAddr> = st.peers.keys().cloned().collect();
        let mut changed = false;
        for provider in providers {
            let cands = st.candidates(&st.peers[&provider]);
            let p = st.peers.get_mut(&provider).expect("listed");
            p.stats.retain(|k, _| cands.contains(k));
            let stats: Vec<(PathKey, &PathStats)> = cands
                .iter()
                .map(|k| (k.clone(), p.stats.get(k).unwrap_or(&EMPTY)))
                .collect();
            let current = p.route.as_ref().filter(|r| cands.contains(r));
            let chosen = choose(current, &stats, now).or_else(|| cands.first().cloned());
            if chosen != p.route {
                tracing::info!(peer = %provider, from = ?p.route.as_ref().map(|k| k.to_string()),
                    to = ?chosen.as_ref().map(|k| k.to_string()), "path changed");
                p.route = chosen;
                changed = true;
            }
            for (k, s) in &stats {
                let cost = s.cost(now).map(|c| c.as_secs_f64());
                self.metrics
                    .set_path(&provider, &k.to_string(), cost, Some(k) == p.route.as_ref());
            }
            let id = p.id;
            for key in cands {
                if st.outstanding.len() >= MAX_OUTSTANDING_PROBES {
                    break;
                }
                let mut nonce = [0u8; 8];
                if self.rng.fill(&mut nonce).is_err() {
                    continue;
                }
                let nonce = u64::from_be_bytes(nonce);
                let probe = frame::probe(nonce);
                let send = match &key {
                    PathKey::Direct(a) => Some((*a, probe.to_vec())),
                    PathKey::Relay(r) => st.relay_hop(r).map(|(via, token)| {
                        let mut b = frame::to_relay(token, id).to_vec();
                        b.extend_from_slice(&probe);
                        (via, b)
                    }),
                };
                if let Some(s) = send {
                    sends.push(s);
                    st.outstanding.insert(nonce, (provider.clone(), key, now));
                }
            }
        }
        if changed {
            self.publish(&st);
        }
        drop(st);
        for (to, bytes) in sends {
            self.send_raw(to, &bytes);
        }
    }

    /// Paths to `provider` as measured at `now`.
    pub fn status(&self, provider: &ProviderAddr, now: Instant) -> Option<PathStatus> {
        let st = lock(&self.state);
        let p = st.peers.get(provider)?;
        let paths = st
            .candidates(p)
            .into_iter()
            .map(|k| {
                let s = p.stats.get(&k).unwrap_or(&EMPTY);
                PathCost {
                    path: k.to_string(),
                    rtt_ms: s.rtt().map(|d| d.as_secs_f64() * 1e3),
                    loss: s.loss(),
                    cost_ms: s.cost(now).map(|d| d.as_secs_f64() * 1e3),
                }
            })
            .collect();
        Some(PathStatus {
            in_use: p.route.as_ref().map(|k| k.to_string()),
            paths,
        })
    }
}

static EMPTY: PathStats = PathStats::EMPTY;

/// Sends the batches the socket holds ([`coalesce`]) until cancelled (a
/// task of the overlay).
pub(crate) async fn flush_loop(paths: Arc<Paths>) {
    loop {
        paths.batch.began().await;
        // The tasks queued meanwhile run first: a connection driver that
        // goes on with its burst adds to this batch instead of starting
        // the next one.
        tokio::task::yield_now().await;
        paths.batch.flush(&paths.underlay());
    }
}

/// Probes every path of every peer until cancelled (a task of the overlay).
pub(crate) async fn probe_loop(paths: Arc<Paths>) {
    let mut tick = tokio::time::interval(PROBE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        paths.tick(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_addresses_are_reserved_and_distinct() {
        let (a, b) = (virtual_addr(1), virtual_addr(2));
        assert_ne!(a, b);
        let std::net::IpAddr::V4(ip) = a.ip() else {
            panic!("v4")
        };
        assert_eq!(ip.octets()[0] & 0xf0, 0xf0);
    }

    fn entry(nets: &[NetworkId]) -> PeerEntry {
        PeerEntry {
            id: PeerId(0),
            token: None,
            route: Route::Down,
            relays: vec![],
            relayed_networks: nets.to_vec(),
        }
    }

    #[test]
    fn relaying_needs_a_shared_relayed_network() {
        assert!(PathTable::may_relay(&entry(&[1, 4, 9]), &entry(&[2, 9])));
        assert!(!PathTable::may_relay(&entry(&[1, 4]), &entry(&[2, 9])));
        assert!(!PathTable::may_relay(&entry(&[]), &entry(&[2])));
    }

    #[test]
    fn relayed_routes_need_a_direct_connected_relay() {
        let mut st = State::default();
        let (b, r) = ("akash1b".to_string(), "akash1r".to_string());
        st.peer(&b).plan.relays.insert(r.clone());
        st.peer(&b).route = Some(PathKey::Relay(r.clone()));
        st.peer(&r).plan.endpoints = vec!["198.18.0.3:4433".parse().unwrap()];
        let vb = st.peer(&b).virtual_addr;
        assert_eq!(
            st.table().peers[&vb].route,
            Route::Down,
            "relay not connected"
        );
        assert!(st.candidates(&st.peers[&b]).is_empty());
        st.peer(&r).route = Some(PathKey::Direct("198.18.0.3:4433".parse().unwrap()));
        st.peer(&r).token = Some(7);
        assert_eq!(
            st.table().peers[&vb].route,
            Route::Relay {
                via: "198.18.0.3:4433".parse().unwrap(),
                token: 7,
                dst: PeerId::of(&b)
            }
        );
        assert_eq!(st.candidates(&st.peers[&b]), vec![PathKey::Relay(r)]);
    }
}
