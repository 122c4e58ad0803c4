//! The status snapshot: what the data plane serves and how it is doing.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use avpn_model::{AttachmentMode, NetworkId, ProviderAddr, Verdict};
use ipnet::{Ipv4Net, Ipv6Net};
use serde::Serialize;

use super::Overlay;
use crate::peers;
use crate::tasks::TaskCounts;

impl Overlay {
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
                cidr6: n.info.cidr6,
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
                        ip6: m.ip6,
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
        let now = std::time::Instant::now();
        let peers = self
            .peers
            .values()
            .map(|p| {
                let conn = peers::live(&p.slot);
                let stats = conn.as_ref().map(|c| c.stats());
                let sealed = p.slot.sealed.load();
                let (sealed_tx, sealed_rx) = sealed
                    .as_ref()
                    .map_or((0, 0), |s| (s.sealer.bytes(), s.opener.bytes()));
                PeerStatus {
                    provider: p.info.provider.clone(),
                    state: match (&conn, p.slot.dialer) {
                        (Some(_), _) => PeerState::Connected,
                        (None, true) => PeerState::Connecting,
                        (None, false) => PeerState::Waiting,
                    },
                    remote: conn.as_ref().map(|c| c.remote_address()),
                    rtt_us: stats.as_ref().map(|s| s.path.rtt.as_micros() as u64),
                    tx_bytes: stats.as_ref().map_or(0, |s| s.udp_tx.bytes) + sealed_tx,
                    rx_bytes: stats.as_ref().map_or(0, |s| s.udp_rx.bytes) + sealed_rx,
                    lost_packets: stats.as_ref().map_or(0, |s| s.path.lost_packets),
                    path_mtu: stats.as_ref().map(|s| s.path.current_mtu),
                    connects: p.slot.connects.load(Ordering::Relaxed),
                    draining: p
                        .slot
                        .draining
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .len(),
                    paths: self.shared.paths.status(&p.info.provider, now),
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
            tasks: self.tasks.counts(),
        }
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
    /// Background tasks running, by owner (tasks of a removed member,
    /// peer or network are gone once its change is applied).
    pub tasks: TaskCounts,
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
    /// Overlay IPv6 prefix, if any.
    pub cidr6: Option<Ipv6Net>,
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
    /// Overlay IPv6 address, if the network has a prefix.
    pub ip6: Option<Ipv6Addr>,
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
    /// Remote address of the connection as QUIC sees it (a virtual
    /// address in 240.0.0.0/4 for a peer whose paths we manage; `paths`
    /// tells the real one).
    pub remote: Option<SocketAddr>,
    /// Smoothed RTT in microseconds.
    pub rtt_us: Option<u64>,
    /// UDP bytes sent on the connection and its sealed channel.
    pub tx_bytes: u64,
    /// UDP bytes received on the connection and its sealed channel.
    pub rx_bytes: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// UDP payload bytes the path carries now (path-MTU discovery; the
    /// largest packet a member can send to this peer is this minus the
    /// QUIC and wire overhead).
    pub path_mtu: Option<u16>,
    /// Connections established with this peer since it was added (a
    /// reconnect or a key handover adds one; a key rotation alone does
    /// not).
    pub connects: u64,
    /// Replaced connections still carrying forwarded streams.
    pub draining: usize,
    /// The path in use (direct or through a relay), its cost, and the
    /// alternatives.
    pub paths: Option<crate::paths::PathStatus>,
}
