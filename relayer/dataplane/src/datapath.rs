//! Per-packet forwarding: routing tables rebuilt on every change and read
//! lock-free by the data path, the TUN read loop (sender side) and the
//! datagram receive path (receiver side).
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

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};
use avpn_model::{NetworkId, NetworkInfo, ProviderAddr, Verdict};
use bytes::{Bytes, BytesMut};
use rustc_hash::FxHashMap;
use tokio::sync::Semaphore;

use crate::identity::TrustStore;
use crate::metrics::{DropReason, Metrics, Traffic};
use crate::netns::NetnsWorker;
use crate::packet::{self, PacketError, PacketInfo};
use crate::policy::{CompiledPolicy, FlowCache, FlowKey};
use crate::streams::StreamRegistry;
use crate::tasks::Spawner;
use crate::tun::Tun;
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
    pub endpoints: Mutex<Vec<SocketAddr>>,
    /// Whether this side dials (the lower provider address dials).
    pub dialer: bool,
    /// Connections established with this peer so far.
    pub connects: AtomicU64,
    /// A key handover dial is in progress.
    pub handover: AtomicBool,
    /// The peer's tasks: dialer, connection loops, inbound streams.
    pub tasks: Spawner,
}

impl PeerSlot {
    pub fn new(
        provider: ProviderAddr,
        endpoints: Vec<SocketAddr>,
        dialer: bool,
        tasks: Spawner,
    ) -> Self {
        PeerSlot {
            provider,
            conn: ArcSwapOption::empty(),
            key: Mutex::new(None),
            draining: Mutex::new(Vec::new()),
            endpoints: Mutex::new(endpoints),
            dialer,
            connects: AtomicU64::new(0),
            handover: AtomicBool::new(false),
            tasks,
        }
    }
}

/// How a local member is attached.
#[derive(Debug)]
pub(crate) enum LocalKind {
    Tun(Arc<Tun>),
    Userspace { serve: BTreeMap<u16, SocketAddr> },
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
    pub ip: Ipv4Addr,
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
    pub members: FxHashMap<Ipv4Addr, Arc<MemberRoute>>,
    pub policy: Arc<CompiledPolicy>,
    /// Carried from one rebuild to the next, revalidated on each.
    pub flows: Arc<Mutex<FlowCache>>,
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
}

fn packet_drop(e: PacketError) -> DropReason {
    match e {
        PacketError::Fragment => DropReason::Fragment,
        _ => DropReason::Malformed,
    }
}

/// Handles one packet read from the TUN of local member `me` in `network`.
/// `frame` holds the wire header (already written) followed by the packet.
fn outbound(
    shared: &Shared,
    tables: &Tables,
    network: NetworkId,
    me: Ipv4Addr,
    source: &Tun,
    frame: BytesMut,
) {
    let m = &shared.metrics;
    let pkt = &frame[DATAGRAM_HEADER_LEN..];
    let info = match packet::parse(pkt) {
        Ok(i) => i,
        Err(e) => return m.drop(packet_drop(e)),
    };
    if info.src != me {
        return m.drop(DropReason::SpoofedSource);
    }
    let Some(net) = tables.networks.get(&network) else {
        return m.drop(DropReason::UnknownNetwork);
    };
    let Some(dst) = net.members.get(&info.dst) else {
        return m.drop(DropReason::NoRoute);
    };
    if net.check(&info) != Verdict::Allow {
        return m.drop(DropReason::Policy);
    }
    if dst.provider == shared.local {
        return deliver_local(m, dst, pkt);
    }
    let Some(conn) = dst.peer.as_ref().and_then(|s| s.conn.load_full()) else {
        return m.drop(DropReason::NoPeer);
    };
    let len = pkt.len();
    match conn.send_datagram(frame.freeze()) {
        Ok(()) => dst.traffic.sent(len),
        Err(quinn::SendDatagramError::TooLarge) => {
            m.drop(DropReason::TooBig);
            let room = conn
                .max_datagram_size()
                .unwrap_or(0)
                .saturating_sub(DATAGRAM_HEADER_LEN);
            let gateway = Ipv4Addr::from(u32::from(net.info.cidr.network()).wrapping_add(1));
            // The original bytes are gone with the frame; rebuild from info.
            if let Some(icmp) = frag_needed_for(&info, gateway, room as u16) {
                let _ = source.try_write(&icmp);
            }
        }
        Err(_) => m.drop(DropReason::NoPeer),
    }
}

/// ICMP "fragmentation needed" quoting a header rebuilt from `info`
/// (enough for the sender's kernel to find the socket).
fn frag_needed_for(info: &PacketInfo, from: Ipv4Addr, mtu: u16) -> Option<Vec<u8>> {
    let mut quoted = [0u8; 28];
    quoted[0] = 0x45;
    quoted[2..4].copy_from_slice(&28u16.to_be_bytes());
    quoted[6] = 0x40;
    quoted[8] = 64;
    quoted[9] = info.proto;
    quoted[12..16].copy_from_slice(&info.src.octets());
    quoted[16..20].copy_from_slice(&info.dst.octets());
    quoted[20..22].copy_from_slice(&info.sport.to_be_bytes());
    quoted[22..24].copy_from_slice(&info.dport.to_be_bytes());
    packet::frag_needed(&quoted, from, mtu)
}

fn deliver_local(m: &Metrics, dst: &MemberRoute, pkt: &[u8]) {
    match dst.local.as_deref() {
        Some(LocalPort {
            kind: LocalKind::Tun(t),
            ..
        }) => match t.try_write(pkt) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => m.drop(DropReason::TunFull),
            Err(_) => m.drop(DropReason::NoAttachment),
        },
        _ => m.drop(DropReason::NoAttachment),
    }
}

/// Handles one datagram received from the authenticated peer `provider`.
pub(crate) fn inbound(shared: &Shared, tables: &Tables, provider: &str, data: &Bytes) {
    let m = &shared.metrics;
    let (network, pkt) = match wire::decode_datagram(data) {
        Ok(x) => x,
        Err(_) => return m.drop(DropReason::Malformed),
    };
    let Some(net) = tables.networks.get(&network) else {
        return m.drop(DropReason::UnknownNetwork);
    };
    let info = match packet::parse(pkt) {
        Ok(i) => i,
        Err(e) => return m.drop(packet_drop(e)),
    };
    match net.members.get(&info.src) {
        Some(src) if src.provider == provider => src.traffic.received(pkt.len()),
        _ => return m.drop(DropReason::SpoofedSource),
    }
    let dst = match net.members.get(&info.dst) {
        Some(d) if d.provider == shared.local => d,
        _ => return m.drop(DropReason::NotLocal),
    };
    if net.check(&info) != Verdict::Allow {
        return m.drop(DropReason::Policy);
    }
    deliver_local(m, dst, pkt);
}

/// Packets handled per wake-up before yielding to other tasks.
const BATCH: usize = 64;

/// Reads packets from a local member's TUN until the task is cancelled or
/// the device fails.
pub(crate) async fn tun_loop(shared: Arc<Shared>, network: NetworkId, me: Ipv4Addr, tun: Arc<Tun>) {
    let need = DATAGRAM_HEADER_LEN + usize::from(tun.mtu()) + 64;
    let mut header = [0u8; DATAGRAM_HEADER_LEN];
    wire::write_datagram_header(&mut header, network);
    let mut buf = BytesMut::new();
    loop {
        let mut guard = match tun.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(%e, "tun wait failed");
                return;
            }
        };
        let tables = shared.tables.load();
        let mut handled = 0;
        while handled < BATCH {
            if buf.capacity() < need {
                buf.reserve(need * 64);
            }
            buf.resize(need, 0);
            match tun.try_read(&mut buf[DATAGRAM_HEADER_LEN..]) {
                Ok(n) => {
                    buf.truncate(DATAGRAM_HEADER_LEN + n);
                    buf[..DATAGRAM_HEADER_LEN].copy_from_slice(&header);
                    let frame = buf.split();
                    outbound(&shared, &tables, network, me, &tun, frame);
                    handled += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    buf.clear();
                    guard.clear_ready();
                    break;
                }
                Err(e) => {
                    tracing::warn!(%e, "tun read failed");
                    return;
                }
            }
        }
        drop(guard);
        drop(tables);
        if handled == BATCH {
            tokio::task::yield_now().await;
        }
    }
}

/// Receives datagrams of one connection until it closes.
pub(crate) async fn datagram_loop(
    shared: Arc<Shared>,
    provider: ProviderAddr,
    conn: quinn::Connection,
) {
    while let Ok(data) = conn.read_datagram().await {
        let tables = shared.tables.load();
        inbound(&shared, &tables, &provider, &data);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frag_needed_quotes_the_flow() {
        let info = PacketInfo {
            src: Ipv4Addr::new(100, 64, 0, 2),
            dst: Ipv4Addr::new(100, 64, 0, 3),
            proto: packet::proto::TCP,
            sport: 5000,
            dport: 80,
            icmp_reply: false,
        };
        let icmp = frag_needed_for(&info, Ipv4Addr::new(100, 64, 0, 1), 1300).unwrap();
        let outer = packet::parse(&icmp).unwrap();
        assert_eq!(outer.dst, info.src);
        let inner = packet::parse(&icmp[28..]).unwrap();
        assert_eq!(inner, info);
    }
}
