//! Prometheus metrics of the data plane. Per-packet paths hold cloned
//! counter handles (one atomic add each), never a label lookup.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use avpn_model::NetworkId;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

/// Why the data plane dropped a packet or refused a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// Undecodable frame, IP packet or SOCKS5 UDP datagram header.
    Malformed,
    /// Frame for a network this relayer does not serve.
    UnknownNetwork,
    /// Source address is not a member hosted by the sending provider
    /// (or, from a local TUN, not the attached member's own address; or,
    /// at a SOCKS5 UDP relay, not the client that opened it).
    SpoofedSource,
    /// Destination is not a member attached at this relayer.
    NotLocal,
    /// Destination address is not a member of the network.
    NoRoute,
    /// The firewall refused the flow.
    Policy,
    /// No connection to the provider hosting the destination.
    NoPeer,
    /// The destination member has no attachment that can take the packet.
    NoAttachment,
    /// Packet larger than the path's datagram size.
    TooBig,
    /// Non-first IPv4 fragment, any IPv6 fragment, or a SOCKS5 UDP
    /// datagram with FRAG ≠ 0.
    Fragment,
    /// IPv6 link-scope control traffic from a workload's stack (neighbour
    /// discovery, MLD, link-local or multicast addresses): dropped by
    /// design, never forwarded.
    Ipv6Control,
    /// The TUN queue was full.
    TunFull,
    /// A peer reached its cap of concurrent streams
    /// ([`crate::limits::MAX_STREAMS_PER_PEER`]); its next streams wait.
    StreamLimit,
    /// A SOCKS5 client was closed: its member has
    /// [`crate::limits::MAX_SOCKS_SESSIONS_PER_MEMBER`] sessions open.
    SocksLimit,
    /// A forward was refused: its destination member has
    /// [`crate::limits::MAX_FORWARDS_PER_MEMBER`] forwards open.
    ForwardLimit,
    /// A connection attempt was refused: too many handshakes in progress.
    HandshakeLimit,
    /// A connection attempt from an unvalidated address was sent a QUIC
    /// Retry (too many unvalidated handshakes in progress).
    HandshakeRetry,
    /// A flow-cache entry was evicted to stay within its network's budget
    /// (counts entries, not packets).
    FlowEvicted,
    /// A SOCKS5 UDP datagram for a domain name or an IPv6 address: only
    /// IPv4 overlay addresses are relayed.
    AddressType,
    /// A datagram to a served UDP port would open a new flow: its member
    /// has [`crate::limits::MAX_UDP_FLOWS_PER_MEMBER`] flows open.
    UdpFlowLimit,
    /// A DNS query to the gateway that could not be answered: not one
    /// well-formed question within the size bounds
    /// ([`crate::limits::DNS_MAX_QUERY`]).
    DnsMalformed,
    /// A DNS query to the gateway beyond the member's rate
    /// ([`crate::limits::DNS_QUERIES_PER_SEC`]).
    DnsLimit,
    /// A new flow to a service address found no healthy replica.
    NoReplica,
    /// A frame on the QUIC socket that is neither QUIC nor a well-formed
    /// relay or probe frame ([`crate::paths`]).
    PathMalformed,
    /// A relay or probe frame from an address that is no peer's.
    RelayUnknownSender,
    /// A relay frame whose token is not the secret of the sender's
    /// connection with us.
    RelayBadToken,
    /// A packet to relay between providers that share no network this
    /// relayer relays for, or a relayed packet from a relay not authorized
    /// for a network we share with its source.
    RelayUnauthorized,
    /// A packet to relay towards a provider we have no direct connection to.
    RelayNoPath,
    /// A packet to relay beyond its provider pair's byte budget
    /// ([`crate::limits::RELAY_PAIR_BYTES_PER_SEC`]) or pair table.
    RelayPairLimit,
    /// A received batch mixing datagrams of two sources (kept: the first's).
    PathMixedBatch,
    /// A sealed datagram for no channel of ours, or that did not
    /// authenticate ([`crate::sealed`]).
    SealedRejected,
    /// A sealed datagram whose counter was seen before, is behind the
    /// replay window or epochs away.
    SealedReplayed,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 32] = [
        DropReason::Malformed,
        DropReason::UnknownNetwork,
        DropReason::SpoofedSource,
        DropReason::NotLocal,
        DropReason::NoRoute,
        DropReason::Policy,
        DropReason::NoPeer,
        DropReason::NoAttachment,
        DropReason::TooBig,
        DropReason::Fragment,
        DropReason::Ipv6Control,
        DropReason::TunFull,
        DropReason::StreamLimit,
        DropReason::SocksLimit,
        DropReason::ForwardLimit,
        DropReason::HandshakeLimit,
        DropReason::HandshakeRetry,
        DropReason::FlowEvicted,
        DropReason::AddressType,
        DropReason::UdpFlowLimit,
        DropReason::DnsMalformed,
        DropReason::DnsLimit,
        DropReason::NoReplica,
        DropReason::PathMalformed,
        DropReason::RelayUnknownSender,
        DropReason::RelayBadToken,
        DropReason::RelayUnauthorized,
        DropReason::RelayNoPath,
        DropReason::RelayPairLimit,
        DropReason::PathMixedBatch,
        DropReason::SealedRejected,
        DropReason::SealedReplayed,
    ];

    /// Name used in metrics and status.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::UnknownNetwork => "unknown_network",
            DropReason::SpoofedSource => "spoofed_source",
            DropReason::NotLocal => "not_local",
            DropReason::NoRoute => "no_route",
            DropReason::Policy => "policy",
            DropReason::NoPeer => "no_peer",
            DropReason::NoAttachment => "no_attachment",
            DropReason::TooBig => "too_big",
            DropReason::Fragment => "fragment",
            DropReason::Ipv6Control => "ipv6_control",
            DropReason::TunFull => "tun_full",
            DropReason::StreamLimit => "stream_limit",
            DropReason::SocksLimit => "socks_limit",
            DropReason::ForwardLimit => "forward_limit",
            DropReason::HandshakeLimit => "handshake_limit",
            DropReason::HandshakeRetry => "handshake_retry",
            DropReason::FlowEvicted => "flow_evicted",
            DropReason::AddressType => "address_type",
            DropReason::UdpFlowLimit => "udp_flow_limit",
            DropReason::DnsMalformed => "dns_malformed",
            DropReason::DnsLimit => "dns_limit",
            DropReason::NoReplica => "no_replica",
            DropReason::PathMalformed => "path_malformed",
            DropReason::RelayUnknownSender => "relay_unknown_sender",
            DropReason::RelayBadToken => "relay_bad_token",
            DropReason::RelayUnauthorized => "relay_unauthorized",
            DropReason::RelayNoPath => "relay_no_path",
            DropReason::RelayPairLimit => "relay_pair_limit",
            DropReason::PathMixedBatch => "path_mixed_batch",
            DropReason::SealedRejected => "sealed_rejected",
            DropReason::SealedReplayed => "sealed_replayed",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TrafficLabels {
    network: u64,
    peer: String,
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabels {
    peer: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PathLabels {
    peer: String,
    path: String,
}

/// Bytes and packets of one (network, peer) pair, both directions.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    /// Bytes sent (IP packets and stream payload).
    pub tx_bytes: Counter,
    /// Packets (or streams) sent.
    pub tx_packets: Counter,
    /// Bytes received.
    pub rx_bytes: Counter,
    /// Packets (or streams) received.
    pub rx_packets: Counter,
}

impl Traffic {
    /// Counts one sent unit of `len` bytes.
    pub fn sent(&self, len: usize) {
        self.tx_bytes.inc_by(len as u64);
        self.tx_packets.inc();
    }

    /// Counts one received unit of `len` bytes.
    pub fn received(&self, len: usize) {
        self.rx_bytes.inc_by(len as u64);
        self.rx_packets.inc();
    }
}

/// All data-plane metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    drops: Arc<[Counter; DropReason::ALL.len()]>,
    bytes: Family<TrafficLabels, Counter>,
    packets: Family<TrafficLabels, Counter>,
    rtt: Family<PeerLabels, Gauge<f64, AtomicU64>>,
    connections: Family<PeerLabels, Counter>,
    path_cost: Family<PathLabels, Gauge<f64, AtomicU64>>,
    path_in_use: Family<PathLabels, Gauge>,
    relayed: Counter,
    send_batches: Counter,
    send_batch_datagrams: Counter,
    sealed_sends: Counter,
    sealed_datagrams: Counter,
    socket_receive_drops: Counter,
}

impl Metrics {
    /// Creates the metrics and registers them under `avpn_dataplane_*`.
    pub fn new(registry: &mut Registry) -> Self {
        let drops_family = Family::<ReasonLabels, Counter>::default();
        let drops = Arc::new(DropReason::ALL.map(|reason| {
            drops_family
                .get_or_create(&ReasonLabels {
                    reason: reason.as_str(),
                })
                .clone()
        }));
        let m = Metrics {
            drops,
            bytes: Family::default(),
            packets: Family::default(),
            rtt: Family::default(),
            connections: Family::default(),
            path_cost: Family::default(),
            path_in_use: Family::default(),
            relayed: Counter::default(),
            send_batches: Counter::default(),
            send_batch_datagrams: Counter::default(),
            sealed_sends: Counter::default(),
            sealed_datagrams: Counter::default(),
            socket_receive_drops: Counter::default(),
        };
        let sub = registry.sub_registry_with_prefix("avpn_dataplane");
        sub.register(
            "drops",
            "Packets dropped and streams refused, by reason",
            drops_family,
        );
        sub.register(
            "bytes",
            "Overlay bytes by network, peer provider and direction",
            m.bytes.clone(),
        );
        sub.register(
            "packets",
            "Overlay packets (and streams) by network, peer provider and direction",
            m.packets.clone(),
        );
        sub.register(
            "peer_rtt_seconds",
            "Smoothed QUIC round-trip time per peer provider",
            m.rtt.clone(),
        );
        sub.register(
            "peer_connections",
            "QUIC connections established per peer provider (a reconnect or a key handover adds one)",
            m.connections.clone(),
        );
        sub.register(
            "peer_path_cost_seconds",
            "Cost of each path to a peer provider (probe RTT inflated by loss; -1 while unusable)",
            m.path_cost.clone(),
        );
        sub.register(
            "peer_path_in_use",
            "1 for the path carrying a peer provider's traffic, 0 for the alternatives",
            m.path_in_use.clone(),
        );
        sub.register(
            "relayed_bytes",
            "Bytes this relayer forwarded as a relay between other providers",
            m.relayed.clone(),
        );
        sub.register(
            "send_batches",
            "UDP sends that joined several QUIC transmits of a burst (send coalescing)",
            m.send_batches.clone(),
        );
        sub.register(
            "send_batch_datagrams",
            "Datagrams that left in those sends",
            m.send_batch_datagrams.clone(),
        );
        sub.register(
            "sealed_sends",
            "UDP sends of sealed datagrams (one per TUN read and peer, GSO)",
            m.sealed_sends.clone(),
        );
        sub.register(
            "sealed_datagrams",
            "Sealed datagrams that left in those sends",
            m.sealed_datagrams.clone(),
        );
        sub.register(
            "socket_receive_drops",
            "Datagrams the kernel dropped at the endpoint socket's full receive buffer (the relayer fell behind)",
            m.socket_receive_drops.clone(),
        );
        m
    }

    /// Records the cost of one path to `peer` (`None`: unusable) and
    /// whether it is in use.
    pub fn set_path(&self, peer: &str, path: &str, cost: Option<f64>, in_use: bool) {
        let l = PathLabels {
            peer: peer.to_owned(),
            path: path.to_owned(),
        };
        self.path_cost.get_or_create(&l).set(cost.unwrap_or(-1.0));
        self.path_in_use.get_or_create(&l).set(i64::from(in_use));
    }

    /// Counts one send that joined several transmits, of `datagrams`
    /// datagrams.
    pub fn batch_sent(&self, datagrams: usize) {
        self.send_batches.inc();
        self.send_batch_datagrams.inc_by(datagrams as u64);
    }

    /// Counts one send of `datagrams` sealed datagrams.
    pub fn sealed_sent(&self, datagrams: usize) {
        self.sealed_sends.inc();
        self.sealed_datagrams.inc_by(datagrams as u64);
    }

    /// Counts datagrams the kernel dropped at the endpoint socket.
    pub fn socket_receive_drops(&self, n: u64) {
        self.socket_receive_drops.inc_by(n);
    }

    /// Datagrams the kernel dropped at the endpoint socket so far.
    #[cfg(test)]
    pub(crate) fn socket_receive_drops_total(&self) -> u64 {
        self.socket_receive_drops.get()
    }

    /// Sealed sends and their datagrams so far.
    #[cfg(test)]
    pub(crate) fn sealed_sends(&self) -> (u64, u64) {
        (self.sealed_sends.get(), self.sealed_datagrams.get())
    }

    /// Joined sends and their datagrams so far.
    #[cfg(test)]
    pub(crate) fn send_batches(&self) -> (u64, u64) {
        (self.send_batches.get(), self.send_batch_datagrams.get())
    }

    /// Counts bytes forwarded as a relay.
    pub fn relayed(&self, len: usize) {
        self.relayed.inc_by(len as u64);
    }

    /// Counts a drop.
    pub fn drop(&self, reason: DropReason) {
        self.drops[reason as usize].inc();
    }

    /// The counter of one drop reason (for code that counts in bulk).
    pub fn drop_counter(&self, reason: DropReason) -> Counter {
        self.drops[reason as usize].clone()
    }

    /// Counts a connection established with `peer`.
    pub fn connected(&self, peer: &str) {
        self.connections
            .get_or_create(&PeerLabels {
                peer: peer.to_owned(),
            })
            .inc();
    }

    /// Drops so far, by reason.
    pub fn drops(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .map(|&r| (r, self.drops[r as usize].get()))
            .collect()
    }

    /// Counter handles for one (network, peer) pair.
    pub fn traffic(&self, network: NetworkId, peer: &str) -> Traffic {
        let l = |direction| TrafficLabels {
            network,
            peer: peer.to_owned(),
            direction,
        };
        // One statement per lookup: a family's read guard must be released
        // before the next lookup may need its write lock.
        let get =
            |f: &Family<TrafficLabels, Counter>, d| -> Counter { f.get_or_create(&l(d)).clone() };
        let tx_bytes = get(&self.bytes, "tx");
        let tx_packets = get(&self.packets, "tx");
        let rx_bytes = get(&self.bytes, "rx");
        let rx_packets = get(&self.packets, "rx");
        Traffic {
            tx_bytes,
            tx_packets,
            rx_bytes,
            rx_packets,
        }
    }

    /// Records a peer's current RTT.
    pub fn set_rtt(&self, peer: &str, seconds: f64) {
        self.rtt
            .get_or_create(&PeerLabels {
                peer: peer.to_owned(),
            })
            .set(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exported_names() {
        let mut r = Registry::default();
        let m = Metrics::new(&mut r);
        m.drop(DropReason::SpoofedSource);
        m.traffic(7, "akash1p").sent(100);
        m.set_rtt("akash1p", 0.001);
        m.connected("akash1p");
        m.drop(DropReason::FlowEvicted);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        assert!(
            out.contains("avpn_dataplane_drops_total{reason=\"spoofed_source\"} 1"),
            "{out}"
        );
        assert!(
            out.contains(
                "avpn_dataplane_bytes_total{network=\"7\",peer=\"akash1p\",direction=\"tx\"} 100"
            ),
            "{out}"
        );
        assert!(
            out.contains("avpn_dataplane_peer_rtt_seconds{peer=\"akash1p\"} 0.001"),
            "{out}"
        );
        assert!(
            out.contains("avpn_dataplane_peer_connections_total{peer=\"akash1p\"} 1"),
            "{out}"
        );
        assert!(
            out.contains("avpn_dataplane_drops_total{reason=\"flow_evicted\"} 1"),
            "{out}"
        );
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "ALL is in declaration order");
        }
        assert_eq!(
            m.drops()[DropReason::SpoofedSource as usize],
            (DropReason::SpoofedSource, 1)
        );
    }
}
