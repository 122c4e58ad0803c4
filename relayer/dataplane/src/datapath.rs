//! Per-packet forwarding: routing tables rebuilt on every change and read
//! lock-free by the data path, the TUN read loop (sender side, here) and
//! the receive path (receiver side, [`crate::receive`]).
//!
//! Sender (packet read from a local member's TUN): the source must be the
//! member's own address; the destination must be a member of the same
//! network; the firewall must allow the flow; then the packet goes to the
//! TUN of a local destination, or as one datagram to the provider hosting
//! the destination.
//!
//! Receiver (datagram from an authenticated peer provider): the network
//! must be served here; the source must be a member whose lease the
//! sending provider hosts (anti-spoofing: a provider can only speak for
//! its own members, in networks it takes part in); the destination must
//! be a member attached here; the firewall is checked again with this
//! relayer's own copy of the policies. Each network has its own tables,
//! and the network id of the frame selects them, so networks with the
//! same CIDR never exchange a packet.
//!
//! IPv4 and IPv6 are handled alike: a member is routed by either of its
//! addresses. IPv6 link-scope control traffic a workload's stack sends on
//! its TUN (router solicitations, MLD reports, anything link-local or
//! multicast) is dropped as `ipv6_control`.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use avpn_model::{NetworkId, NetworkInfo, ProviderAddr, Verdict};
use rustc_hash::FxHashMap;
use tokio::sync::Semaphore;

use crate::addr_map::AddrMap;
use crate::dns::{self, TokenBucket, Zone};
use crate::identity::TrustStore;
use crate::metrics::{DropReason, Metrics, Traffic};
use crate::netns::NetnsWorker;
use crate::packet::{self, PacketError, PacketInfo};
use crate::policy::{CompiledPolicy, FlowCache, FlowKey};
use crate::sealed::{Opener, SendBatch};
use crate::service::{self, ServiceTable};
use crate::streams::StreamRegistry;
use crate::tasks::Spawner;
use crate::tun::{RecvBatch, Tun};
use crate::wire::{self, DATAGRAM_HEADER_LEN};

/// Keys a connection was authenticated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnKeys {
    /// The peer's key.
    pub peer: [u8; 32],
    /// Our own key at the time of the handshake.
    pub local: [u8; 32],
}

/// A connection replaced by a newer one, kept until the forwarded
/// streams it carries end (or its key expires).
#[derive(Debug)]
pub(crate) struct Draining {
    pub conn: quinn::Connection,
    pub keys: ConnKeys,
    /// The sending half of its sealed channel.
    pub sealed: Option<Arc<SealedTx>>,
    pub since: Instant,
}

/// State of the connection to one peer provider, shared by the tables
/// and the connection tasks.
#[derive(Debug)]
pub(crate) struct PeerSlot {
    pub provider: ProviderAddr,
    /// The connection new traffic goes to.
    pub conn: ArcSwapOption<quinn::Connection>,
    /// Keys the current connection authenticated with.
    pub key: Mutex<Option<ConnKeys>>,
    /// Replaced connections still carrying forwarded streams.
    pub draining: Mutex<Vec<Draining>>,
    /// Whether this side dials (the lower provider address dials).
    pub dialer: bool,
    /// Connections established with this peer so far.
    pub connects: AtomicU64,
    /// A key handover dial is in progress.
    pub handover: AtomicBool,
    /// The peer's tasks: dialer, connection loops, inbound streams.
    pub tasks: Spawner,
    /// When the peer was last heard from (replica health).
    pub heard: crate::service::health::Heard,
    /// The sending half of the current connection's sealed channel.
    pub sealed: ArcSwapOption<SealedTx>,
}

/// The two halves of a connection's sealed channel ([`crate::sealed`]).
#[derive(Debug)]
pub(crate) struct SealedTx {
    pub sealer: crate::sealed::Sealer,
    /// The receiving half (for its counters).
    pub opener: Arc<Opener>,
    /// When the channel was made, and how long after that the last
    /// padding datagram went to the peer ([`PADDING_EVERY`]), in ms.
    since: Instant,
    padded_ms: AtomicU64,
}

impl SealedTx {
    /// The channel of `sealer` and `opener`, made now.
    pub fn new(sealer: crate::sealed::Sealer, opener: Arc<Opener>) -> Self {
        SealedTx {
            sealer,
            opener,
            since: Instant::now(),
            padded_ms: AtomicU64::new(0),
        }
    }

    /// Whether a padding datagram is due now (and then it is counted as
    /// sent).
    fn padding_due(&self, now: Instant) -> bool {
        let now = now.saturating_duration_since(self.since).as_millis() as u64;
        let last = self.padded_ms.load(Ordering::Relaxed);
        (last == 0 || now >= last + PADDING_EVERY.as_millis() as u64)
            && self
                .padded_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl PeerSlot {
    pub fn new(provider: ProviderAddr, dialer: bool, tasks: Spawner) -> Self {
        PeerSlot {
            provider,
            conn: ArcSwapOption::empty(),
            key: Mutex::new(None),
            draining: Mutex::new(Vec::new()),
            dialer,
            connects: AtomicU64::new(0),
            handover: AtomicBool::new(false),
            tasks,
            heard: Default::default(),
            sealed: ArcSwapOption::empty(),
        }
    }
}

/// How a local member is attached.
#[derive(Debug)]
pub(crate) enum LocalKind {
    Tun(Arc<Tun>),
    /// SOCKS5 and served ports; packets for the member go to the TUN of
    /// its shadow stack ([`crate::shadow`]).
    Userspace {
        serve: BTreeMap<u16, SocketAddr>,
        shadow: Arc<Tun>,
    },
}

impl LocalKind {
    /// The TUN packets for the member are written to.
    pub fn tun(&self) -> &Arc<Tun> {
        match self {
            LocalKind::Tun(t) | LocalKind::Userspace { shadow: t, .. } => t,
        }
    }
}

/// A local member's attachment as the data path sees it.
#[derive(Debug)]
pub(crate) struct LocalPort {
    pub worker: Arc<NetnsWorker>,
    pub kind: LocalKind,
    /// Permits for forwarded connections into the member
    /// ([`crate::limits::MAX_FORWARDS_PER_MEMBER`]).
    pub forwards: Arc<Semaphore>,
    /// The attachment's tasks, which forwards into the member join.
    pub tasks: Spawner,
}

/// Where a member's packets go.
#[derive(Debug)]
pub(crate) struct MemberRoute {
    pub provider: ProviderAddr,
    /// Set when the member is hosted and attached here.
    pub local: Option<Arc<LocalPort>>,
    /// Set when another provider hosts the member and it is a known peer.
    pub peer: Option<Arc<PeerSlot>>,
    /// Traffic of (network, hosting provider).
    pub traffic: Traffic,
}

/// One network's routing and firewall state.
#[derive(Debug)]
pub(crate) struct NetTable {
    pub info: NetworkInfo,
    /// Routes by every member address (IPv4 and IPv6).
    pub members: AddrMap<Arc<MemberRoute>>,
    pub policy: Arc<CompiledPolicy>,
    /// Names answered on the gateway address.
    pub zone: Zone,
    /// Carried from one rebuild to the next, revalidated on each.
    pub flows: Arc<Mutex<FlowCache>>,
    /// Service addresses and their pinned flows.
    pub services: ServiceTable,
}

impl NetTable {
    /// Stateful firewall decision for one packet.
    pub fn check(&self, info: &PacketInfo) -> Verdict {
        self.flows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .check(&self.policy, FlowKey::from(info))
    }
}

/// Snapshot of everything the data path reads.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub networks: FxHashMap<NetworkId, Arc<NetTable>>,
    pub peers: FxHashMap<ProviderAddr, Arc<PeerSlot>>,
}

/// This relayer's current key, as used for new handshakes.
#[derive(Debug)]
pub(crate) struct LocalKey {
    pub public: [u8; 32],
    /// Client configuration presenting this key.
    pub client: quinn::ClientConfig,
    /// Unix time until which peers accept our previous key (`None`: no
    /// previous key, or it is no longer accepted).
    pub previous_until: Option<u64>,
}

/// State shared by the overlay and all its tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub local: ProviderAddr,
    pub identity: ArcSwap<LocalKey>,
    pub trust: Arc<TrustStore>,
    pub transport: Arc<quinn::TransportConfig>,
    pub endpoint: quinn::Endpoint,
    pub tables: ArcSwap<Tables>,
    pub metrics: Metrics,
    pub streams: StreamRegistry,
    pub tun_mtu: u16,
    /// Paths to peers, direct or relayed.
    pub paths: Arc<crate::paths::Paths>,
}

/// The drop reason for a packet that did not parse.
pub(crate) fn packet_drop(e: PacketError) -> DropReason {
    match e {
        PacketError::Fragment => DropReason::Fragment,
        PacketError::Ipv6Control(_) => DropReason::Ipv6Control,
        _ => DropReason::Malformed,
    }
}

/// A local member's own overlay addresses: the only sources its TUN may
/// send from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OwnAddrs {
    pub ip: Ipv4Addr,
    pub ip6: Option<Ipv6Addr>,
}

impl OwnAddrs {
    /// The addresses of `member`.
    pub fn of(member: &avpn_model::MemberInfo) -> Self {
        OwnAddrs {
            ip: member.ip,
            ip6: member.ip6,
        }
    }

    fn is(&self, a: IpAddr) -> bool {
        match a {
            IpAddr::V4(a) => a == self.ip,
            IpAddr::V6(a) => Some(a) == self.ip6,
        }
    }
}

/// IPv6's minimum link MTU (RFC 8200): a "packet too big" below it is
/// ignored by senders, so none is sent.
const IPV6_MIN_MTU: u16 = 1280;

/// The ICMP error telling the sender of `pkt` (flow `info`) that at most
/// `mtu` bytes pass: "fragmentation needed" (IPv4, only with DF) or
/// "packet too big" (IPv6, never below [`IPV6_MIN_MTU`]: while the path
/// is at QUIC's floor, IPv6 packets between the two are dropped until
/// the path MTU is found again), from the network's gateway address (the
/// first host of the prefix of the packet's family).
fn too_big(pkt: &[u8], info: &PacketInfo, net: &NetworkInfo, mtu: u16) -> Option<Vec<u8>> {
    match dns::serve::gateway(net, &info.addrs)? {
        IpAddr::V4(gateway) => packet::frag_needed(pkt, gateway, mtu),
        IpAddr::V6(gateway) => {
            packet::packet_too_big(pkt, gateway, u32::from(mtu.max(IPV6_MIN_MTU)))
        }
    }
}

/// Where a packet read from a TUN goes.
enum Outbound {
    /// Delivered to a local member (or dropped there).
    Delivered,
    /// To be sent to a peer provider as one datagram.
    Send {
        conn: Arc<quinn::Connection>,
        sealed: Arc<SealedTx>,
        /// The peer's address as QUIC sees it: sealed datagrams take
        /// the same way ([`crate::paths`] maps virtual addresses).
        to: SocketAddr,
        route: Arc<MemberRoute>,
        /// Largest datagram the connection takes now.
        room: usize,
        /// Whether the packet went out as it was read (no service
        /// address translated), so that its flow's next packets of the
        /// same read may take the same way ([`Reuse`]).
        as_read: bool,
    },
}

/// A flow's way out, kept for the rest of one TUN read: a super-packet
/// splits into up to ~45 segments of one TCP connection, and each would
/// repeat the table lookups, the firewall check (a lock and up to two hash
/// lookups) and the reads of the connection's state. All packets of a read
/// are checked against the same snapshot, and a packet of the same flow
/// (same addresses, protocol and ports) gets the same answers, so reuse
/// decides nothing differently; a packet larger than the connection takes
/// goes the full way (it is answered with ICMP there).
struct Reuse {
    key: FlowKey,
    conn: Arc<quinn::Connection>,
    sealed: Arc<SealedTx>,
    to: SocketAddr,
    route: Arc<MemberRoute>,
    room: usize,
}

/// Whether a frame of `len` bytes of flow `key` may take the way of the
/// flow `last` (of `room` bytes at most).
fn reusable(last: FlowKey, room: usize, key: FlowKey, len: usize) -> bool {
    last == key && len <= room
}

/// Checks one packet (`info`) read from the TUN of local member `me` in
/// network `net` and delivers it locally or says where to send it, or why
/// it is dropped. `frame` holds the wire header (already written) followed
/// by the packet. DNS queries to the gateway are answered from the
/// network's zone (within the member's allowance `dns`).
fn outbound(
    shared: &Shared,
    net: &NetTable,
    me: OwnAddrs,
    source: &Tun,
    frame: &mut [u8],
    info: PacketInfo,
    dns: &mut TokenBucket,
) -> Result<Outbound, DropReason> {
    let len = frame.len();
    let pkt = &mut frame[DATAGRAM_HEADER_LEN..];
    if !me.is(info.src()) {
        return Err(DropReason::SpoofedSource);
    }
    if dns::serve::is_query(&net.info, &info) {
        let _ = source.try_write(&dns::serve::serve(&net.zone, dns, pkt, &info)?);
        return Ok(Outbound::Delivered);
    }
    let read = info.dst();
    let info = net.services.to_replica(pkt, info)?;
    let dst = net.members.get(info.dst()).ok_or(DropReason::NoRoute)?;
    if net.check(&info) != Verdict::Allow {
        return Err(DropReason::Policy);
    }
    if dst.provider == shared.local {
        if let Some(from) = net.services.answer(&info) {
            service::answer_from(pkt, from)?;
        }
        deliver_local(&shared.metrics, dst, pkt);
        return Ok(Outbound::Delivered);
    }
    let peer = dst.peer.as_ref().ok_or(DropReason::NoPeer)?;
    let (Some(conn), Some(sealed)) = (peer.conn.load_full(), peer.sealed.load_full()) else {
        return Err(DropReason::NoPeer);
    };
    let room = conn.max_datagram_size().unwrap_or(0);
    if len > room {
        // The path is narrower than the TUN MTU (its MTU shrank): tell the
        // sender the size that fits; IPv4 without DF gets no answer.
        let mtu = u16::try_from(room.saturating_sub(DATAGRAM_HEADER_LEN)).unwrap_or(u16::MAX);
        if let Some(icmp) = too_big(pkt, &info, &net.info, mtu) {
            let _ = source.try_write(&icmp);
        }
        return Err(DropReason::TooBig);
    }
    Ok(Outbound::Send {
        to: conn.remote_address(),
        conn,
        sealed,
        route: dst.clone(),
        room,
        as_read: info.dst() == read,
    })
}

fn deliver_local(m: &Metrics, dst: &MemberRoute, pkt: &[u8]) {
    match dst.local.as_deref() {
        Some(local) => match local.kind.tun().try_write(pkt) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => m.drop(DropReason::TunFull),
            Err(_) => m.drop(DropReason::NoAttachment),
        },
        None => m.drop(DropReason::NoAttachment),
    }
}

/// Whether a TUN error ends the read loop: device errors do; a batch the
/// offload code could not split (bad virtio header, odd segment) is
/// dropped and reading goes on.
fn fatal(e: &io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|c| c != libc::EINTR && c != libc::EAGAIN)
}

/// Reads packets from a local member's TUN until the task is cancelled or
/// the device fails. Each read is one super-packet split into up to
/// [`crate::tun::BATCH`] packets; each goes out as one datagram, waiting
/// for room in the connection's send buffer (backpressure reaches the
/// workload's TCP through the TUN queue instead of datagrams being
/// dropped).
pub(crate) async fn tun_loop(shared: Arc<Shared>, network: NetworkId, me: OwnAddrs, tun: Arc<Tun>) {
    let mut header = [0u8; DATAGRAM_HEADER_LEN];
    wire::write_datagram_header(&mut header, network);
    let mut batch = RecvBatch::new(tun.mtu(), DATAGRAM_HEADER_LEN);
    let mut dns = TokenBucket::default();
    let mut out = Sender::new(&shared);
    loop {
        let n = match tun.recv_batch(&mut batch).await {
            Ok(n) => n,
            Err(e) if fatal(&e) => {
                tracing::warn!(%e, "tun read failed");
                return;
            }
            Err(e) => {
                tracing::debug!(%e, "tun batch dropped");
                shared.metrics.drop(DropReason::Malformed);
                continue;
            }
        };
        // One snapshot per read: its packets belong to one moment.
        out.read_at = Instant::now();
        let tables = shared.tables.load_full();
        let Some(net) = tables.networks.get(&network) else {
            for _ in 0..n {
                shared.metrics.drop(DropReason::UnknownNetwork);
            }
            continue;
        };
        let mut last: Option<Reuse> = None;
        for i in 0..n {
            let frame = batch.packet(i);
            frame[..DATAGRAM_HEADER_LEN].copy_from_slice(&header);
            let info = match packet::parse(&frame[DATAGRAM_HEADER_LEN..]) {
                Ok(info) => info,
                Err(e) => {
                    shared.metrics.drop(packet_drop(e));
                    continue;
                }
            };
            let key = FlowKey::from(&info);
            if let Some(r) = last
                .as_ref()
                .filter(|r| reusable(r.key, r.room, key, frame.len()))
            {
                out.send(&shared, &r.conn, (&r.sealed, r.to), &r.route, frame)
                    .await;
                continue;
            }
            let next = outbound(&shared, net, me, &tun, frame, info, &mut dns);
            match next {
                Ok(Outbound::Send {
                    conn,
                    sealed,
                    to,
                    route,
                    room,
                    as_read,
                }) => {
                    out.send(&shared, &conn, (&sealed, to), &route, frame).await;
                    last = as_read.then_some(Reuse {
                        key,
                        conn,
                        sealed,
                        to,
                        route,
                        room,
                    });
                }
                Ok(Outbound::Delivered) => {}
                Err(r) => shared.metrics.drop(r),
            }
        }
        out.batch.flush(&shared.paths).await;
    }
}

/// While full-size packets go to a peer, once every this long one of
/// them is accompanied by a QUIC datagram of its size that carries
/// nothing ([`wire::padding`]): QUIC's path-MTU discovery sees it lost
/// when the path narrows (black-hole detection), and the data path then
/// answers larger packets with ICMP ([`outbound`]). (Sending the packet
/// itself through QUIC instead would let its successors overtake it,
/// which the workload's TCP takes for a loss.)
const PADDING_EVERY: Duration = Duration::from_millis(100);

/// Packets of the size QUIC's black-hole detection watches (larger than
/// its 1200-byte floor).
const FULL_SIZE: usize = 1200;

/// Where a TUN read's packets to peers go out.
struct Sender {
    batch: SendBatch,
    /// When the current TUN read returned (one clock read per read, not
    /// per packet).
    read_at: Instant,
}

impl Sender {
    fn new(shared: &Shared) -> Self {
        Sender {
            batch: SendBatch::new(&shared.paths, shared.metrics.clone()),
            read_at: Instant::now(),
        }
    }

    /// Sends one frame (wire header and packet) to the peer of `conn`,
    /// sealed for `to`, waiting for room to send.
    async fn send(
        &mut self,
        shared: &Shared,
        conn: &quinn::Connection,
        (sealed, to): (&SealedTx, SocketAddr),
        route: &MemberRoute,
        frame: &[u8],
    ) {
        let len = frame.len() - DATAGRAM_HEADER_LEN;
        if frame.len() > FULL_SIZE && sealed.padding_due(self.read_at) {
            // Best effort: the datagram only stands for the size.
            let _ = conn.send_datagram(wire::padding(frame.len()).into());
        }
        if self
            .batch
            .push(&shared.paths, &sealed.sealer, to, frame)
            .await
        {
            route.traffic.sent(len);
        } else {
            // Counters used up (2^62 packets): a new connection has new keys.
            conn.close(0u32.into(), b"sealed counters used up");
            shared.metrics.drop(DropReason::NoPeer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkInfo {
        NetworkInfo {
            id: 1,
            name: "net".into(),
            owner: "owner".into(),
            revision: 1,
            cidr: "100.64.0.0/24".parse().unwrap(),
            cidr6: Some("fd00:1::/64".parse().unwrap()),
            default_verdict: Verdict::Deny,
        }
    }

    /// Only a packet of the very same flow (addresses, protocol, both
    /// ports, echo direction) that fits the connection takes the way of
    /// the packet before it: a denied flow, a spoofed source or a reply
    /// inside the same read never rides on an allowed one.
    #[test]
    fn only_the_same_flow_reuses_a_way() {
        let key = FlowKey {
            addrs: crate::packet::Addrs::V4 {
                src: Ipv4Addr::new(100, 64, 0, 2),
                dst: Ipv4Addr::new(100, 64, 0, 3),
            },
            proto: 6,
            sport: 40000,
            dport: 5201,
            icmp_reply: false,
        };
        assert!(reusable(key, 1400, key, 1400));
        assert!(!reusable(key, 1400, key, 1401), "too big: ICMP path");
        let other = |f: &dyn Fn(&mut FlowKey)| {
            let mut k = key;
            f(&mut k);
            k
        };
        for k in [
            other(&|k| k.sport ^= 1),
            other(&|k| k.dport ^= 1),
            other(&|k| k.proto = 17),
            other(&|k| k.icmp_reply = true),
            other(&|k| k.addrs = k.addrs.reversed()),
        ] {
            assert!(!reusable(key, 1400, k, 100), "{k:?}");
        }
    }

    #[test]
    fn too_big_answers_each_family_from_its_gateway() {
        let v6 = packet::build::ipv6(
            "fd00:1::2".parse().unwrap(),
            "fd00:1::3".parse().unwrap(),
            packet::proto::UDP,
            5000,
            53,
        );
        let info = packet::parse(&v6).unwrap();
        let icmp = too_big(&v6, &info, &net(), 1300).unwrap();
        let outer = packet::parse(&icmp).unwrap();
        assert_eq!(outer.src(), "fd00:1::1".parse::<IpAddr>().unwrap());
        assert_eq!(outer.dst(), info.src());
        assert_eq!(outer.proto, packet::proto::ICMPV6);
        assert_eq!(&icmp[44..48], &1300u32.to_be_bytes());
        // Below IPv6's minimum MTU the answer says the minimum.
        let floor = too_big(&v6, &info, &net(), 1152).unwrap();
        assert_eq!(&floor[44..48], &1280u32.to_be_bytes());
        assert_eq!(packet::parse(&icmp[48..]), Ok(info));
        // Without an IPv6 prefix there is no gateway to answer from.
        let v4_only = NetworkInfo {
            cidr6: None,
            ..net()
        };
        assert_eq!(too_big(&v6, &info, &v4_only, 1300), None);

        let v4 = packet::build::ipv4(
            Ipv4Addr::new(100, 64, 0, 2),
            Ipv4Addr::new(100, 64, 0, 3),
            packet::proto::TCP,
            5000,
            80,
        );
        let info = packet::parse(&v4).unwrap();
        let icmp = too_big(&v4, &info, &net(), 1300).unwrap();
        let outer = packet::parse(&icmp).unwrap();
        assert_eq!(outer.src(), IpAddr::from([100, 64, 0, 1]));
        assert_eq!(outer.dst(), info.src());
        assert_eq!(packet::parse(&icmp[28..]), Ok(info));
    }
}
