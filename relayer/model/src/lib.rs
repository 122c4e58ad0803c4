//! Desired state of one avpn relayer, and the narrow interface between its
//! control plane (chain → desired state → changes) and its data plane
//! (QUIC overlay, attachments, firewall).
//!
//! Everything here is already parsed and validated: addresses are
//! [`Ipv4Addr`]/[`Ipv6Addr`] and [`Ipv4Net`]/[`Ipv6Net`], keys are 32-byte arrays, ports are ranges with
//! `start <= end`. The control plane converts the contracts' JSON into these
//! types at the boundary; the data plane never sees strings it must parse.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

mod change;
mod explain;
mod policy;

pub use change::{Change, DataPlane, DataPlaneError};
pub use explain::{Decider, Explanation, decide_list, explain};
pub use policy::{Flow, PeerSelector, Policy, PortRange, Protocol, Rule, SelectorPeer, Verdict};

/// Identifier of a network in the `network-registry` contract.
pub type NetworkId = u64;

/// Bech32 account address of a provider (e.g. `akash1…`).
pub type ProviderAddr = String;

/// The full id of an Akash lease (`akash.market.v1.LeaseID`): the workload
/// a member is bound to. Two leases differing in any field are different
/// workloads (two tenants may use the same dseq on one provider).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LeaseId {
    /// Tenant owning the lease; also the account that added the member.
    pub owner: String,
    /// Deployment sequence.
    pub dseq: u64,
    /// Group sequence.
    pub gseq: u32,
    /// Order sequence.
    pub oseq: u32,
    /// Provider hosting the lease.
    pub provider: ProviderAddr,
    /// Bid sequence.
    pub bseq: u32,
}

impl std::fmt::Display for LeaseId {
    /// `owner/dseq/gseq/oseq/provider/bseq`, the form status output and
    /// logs use.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}/{}/{}",
            self.owner, self.dseq, self.gseq, self.oseq, self.provider, self.bseq
        )
    }
}

impl MemberInfo {
    /// This member as a selector sees it.
    pub fn as_peer(&self) -> SelectorPeer<'_> {
        SelectorPeer {
            name: &self.name,
            ip: self.ip,
            ip6: self.ip6,
            tags: &self.tags,
            service: self.service.as_deref(),
            adder: &self.lease.owner,
        }
    }

    /// The member's overlay addresses: its IPv4 and, in a network with an
    /// IPv6 prefix, its IPv6.
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        std::iter::once(IpAddr::V4(self.ip)).chain(self.ip6.map(IpAddr::V6))
    }
}

/// Network-wide settings the data plane needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Network id (also the tag on every overlay frame).
    pub id: NetworkId,
    /// The network's name (unique among its owner's open networks): the
    /// DNS zone its members and services are named in
    /// (`<member>.<name>`). Empty in state written before names.
    #[serde(default)]
    pub name: String,
    /// The network owner's account: member-name and CIDR selectors match
    /// only the owner's members and those of the rule's own adder.
    pub owner: String,
    /// Contract revision this state was read at.
    pub revision: u64,
    /// The network's overlay IPv4 CIDR.
    pub cidr: Ipv4Net,
    /// The network's optional overlay IPv6 prefix (absent in state written
    /// before IPv6 support).
    #[serde(default)]
    pub cidr6: Option<Ipv6Net>,
    /// What happens when no rule matches.
    pub default_verdict: Verdict,
}

/// One member of a network as the data plane sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Stable name within the network.
    pub name: String,
    /// Overlay address (unique within the network).
    pub ip: Ipv4Addr,
    /// Overlay IPv6 address when the network has an IPv6 prefix (the
    /// prefix plus the IPv4 host offset; unique within the network).
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    /// Lease the member is bound to; `lease.provider` hosts it and
    /// `lease.owner` added it.
    pub lease: LeaseId,
    /// Site classes used by tag selectors.
    pub tags: BTreeSet<String>,
    /// Service name shared by replicas, if any.
    pub service: Option<String>,
    /// Ingress and egress rules.
    pub policy: Policy,
    /// Extra cost in milliseconds added to the measured path RTT when the
    /// replicas of its service are compared (set by the tenant; `None` = 0,
    /// also in state written before weights).
    #[serde(default)]
    pub weight: Option<u32>,
}

/// A service of a network: the stable address of the members sharing a
/// `service` name, allocated by the contract's IPAM (no member holds it).
/// A flow to it goes to one healthy replica (see the data plane).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// The service's IPv4 address.
    pub ip: Ipv4Addr,
    /// Its IPv6 address when the network has an IPv6 prefix.
    pub ip6: Option<Ipv6Addr>,
}

impl ServiceInfo {
    /// The service's overlay addresses (IPv4, then IPv6 if any).
    pub fn addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        std::iter::once(IpAddr::V4(self.ip)).chain(self.ip6.map(IpAddr::V6))
    }
}

/// An overlay identity key of a peer provider, valid until an optional
/// deadline (set on the old key during a rotation overlap).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OverlayKey {
    /// ed25519 public key.
    pub key: [u8; 32],
    /// Unix seconds after which the key is no longer accepted; `None` = current key.
    pub valid_until: Option<u64>,
}

/// A provider this relayer shares at least one network with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Provider account address.
    pub provider: ProviderAddr,
    /// Accepted keys (current first).
    pub keys: Vec<OverlayKey>,
    /// Where its relayer listens (QUIC/UDP).
    pub endpoints: Vec<SocketAddr>,
}

/// How a local member's lease is attached to the overlay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachmentMode {
    /// A TUN interface carrying the member's IP inside the lease's namespace.
    Transparent,
    /// No TUN: a SOCKS5 proxy (CONNECT and UDP ASSOCIATE) and port
    /// mappings inside the lease's namespace.
    Userspace {
        /// Where the SOCKS5 proxy listens inside the lease namespace.
        socks: SocketAddr,
        /// Overlay TCP port → local address inside the lease namespace.
        serve: BTreeMap<u16, SocketAddr>,
        /// Overlay UDP port → local address inside the lease namespace.
        #[serde(default)]
        serve_udp: BTreeMap<u16, SocketAddr>,
    },
}

/// Where and how to attach a member hosted by this provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Network namespace of the lease (e.g. `/var/run/netns/lease-42`).
    pub netns: PathBuf,
    /// Transparent or userspace.
    pub mode: AttachmentMode,
}

/// One network in the desired state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Settings.
    pub info: NetworkInfo,
    /// Members by name.
    pub members: BTreeMap<String, MemberInfo>,
    /// Attachments of the members this provider hosts (verified leases only).
    pub attachments: BTreeMap<String, Attachment>,
    /// Services by name (absent in state written before services).
    #[serde(default)]
    pub services: BTreeMap<String, ServiceInfo>,
    /// Relays of the network: providers the owner authorized that
    /// registered the relay capability. They forward the encrypted QUIC
    /// packets of this network's providers that cannot reach each other
    /// directly (absent in state written before relays).
    #[serde(default)]
    pub relays: BTreeSet<ProviderAddr>,
}

/// Everything a relayer must serve, as derived from the chain.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredState {
    /// Networks this provider serves, by id.
    pub networks: BTreeMap<NetworkId, Network>,
    /// Peer providers (sharing at least one network), by address.
    pub peers: BTreeMap<ProviderAddr, PeerInfo>,
}
