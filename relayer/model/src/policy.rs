//! Parsed firewall policy types (semantics in DESIGN.md "Policy").
//!
//! A flow A→B on (protocol, port) is allowed iff A's egress allows it AND
//! B's ingress allows it; within one list a matching deny beats any matching
//! allow; no match gives the network's default verdict.

use std::collections::BTreeSet;

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Outcome of a rule or of a default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// Let the flow through.
    Allow,
    /// Drop the flow.
    Deny,
}

/// Transport protocol a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Every IP protocol.
    Any,
    /// TCP (ports apply).
    Tcp,
    /// UDP (ports apply).
    Udp,
    /// ICMP and ICMPv6 (ports ignored).
    Icmp,
}

/// Inclusive port range with `start <= end`, built only through [`PortRange::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortRange {
    start: u16,
    end: u16,
}

impl PortRange {
    /// Every port, 0..=65535 (a rule without ports).
    pub const ALL: PortRange = PortRange {
        start: 0,
        end: u16::MAX,
    };

    /// A range; `None` when `start > end`.
    pub fn new(start: u16, end: u16) -> Option<Self> {
        (start <= end).then_some(PortRange { start, end })
    }

    /// First port.
    pub fn start(&self) -> u16 {
        self.start
    }

    /// Last port (inclusive).
    pub fn end(&self) -> u16 {
        self.end
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }
}

/// Which peers of a flow a rule matches (the other end: the source for
/// ingress rules, the destination for egress rules).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerSelector {
    /// Any member of the network.
    Any,
    /// Members with one of these names (see [`PeerSelector::selects`]).
    Members(BTreeSet<String>),
    /// Members carrying at least one of these tags.
    Tags(BTreeSet<String>),
    /// Members with an overlay address (IPv4 or IPv6) inside one of these
    /// CIDRs (see [`PeerSelector::selects`]).
    Cidrs(Vec<IpNet>),
    /// Members (replicas) of one of these services (see
    /// [`PeerSelector::selects`]).
    Services(BTreeSet<String>),
}

impl PeerSelector {
    /// Whether this selector, in a rule of a member added by `rule_adder`,
    /// selects a peer member with overlay address `ip`, `name` and `tags`
    /// added by `peer_adder`, in a network owned by `owner`.
    ///
    /// A CIDR selects members, not packets: a member with an address inside
    /// it (its IPv4 in an IPv4 CIDR, its IPv6 in an IPv6 one) is selected
    /// for all its flows, over either address family, exactly as a name or
    /// tag selector would select it.
    ///
    /// Names, CIDRs and services are the rule writer's own vocabulary: they
    /// select only members of the network owner or of the rule's own adder,
    /// so a participant cannot capture a rule by taking a name, an address
    /// or a service name it names. `Any` and tags select every member (the
    /// owner grants tags on purpose; a participant's members carry only
    /// granted tags).
    pub fn selects(&self, peer: SelectorPeer<'_>, rule_adder: &str, owner: &str) -> bool {
        let trusted = || peer.adder == owner || peer.adder == rule_adder;
        match self {
            PeerSelector::Any => true,
            PeerSelector::Members(names) => names.contains(peer.name) && trusted(),
            PeerSelector::Tags(tags) => peer.tags.iter().any(|t| tags.contains(t)),
            PeerSelector::Cidrs(nets) => nets.iter().any(|n| peer.in_net(n)) && trusted(),
            PeerSelector::Services(names) => {
                peer.service.is_some_and(|s| names.contains(s)) && trusted()
            }
        }
    }
}

/// The facts about a member a selector looks at.
#[derive(Clone, Copy, Debug)]
pub struct SelectorPeer<'a> {
    /// Member name.
    pub name: &'a str,
    /// Overlay IPv4 address.
    pub ip: Ipv4Addr,
    /// Overlay IPv6 address, if the network has an IPv6 prefix.
    pub ip6: Option<Ipv6Addr>,
    /// Site classes.
    pub tags: &'a BTreeSet<String>,
    /// Service the member is a replica of.
    pub service: Option<&'a str>,
    /// Account that added the member (its lease owner).
    pub adder: &'a str,
}

impl SelectorPeer<'_> {
    /// Whether one of the member's addresses lies in `net`.
    fn in_net(&self, net: &IpNet) -> bool {
        match net {
            IpNet::V4(n) => n.contains(&self.ip),
            IpNet::V6(n) => self.ip6.is_some_and(|ip| n.contains(&ip)),
        }
    }
}

/// The protocol facts of a flow a rule looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Flow {
    /// TCP to a destination port.
    Tcp(u16),
    /// UDP to a destination port.
    Udp(u16),
    /// ICMP or ICMPv6 (no ports).
    Icmp,
    /// Any other IP protocol, by number (no ports).
    Other(u8),
}

impl Flow {
    /// The flow of an IPv4 packet with protocol number `proto_nr` and
    /// destination port `dport` (ignored without ports).
    pub fn from_ip(proto_nr: u8, dport: u16) -> Self {
        match proto_nr {
            6 => Flow::Tcp(dport),
            17 => Flow::Udp(dport),
            1 => Flow::Icmp,
            other => Flow::Other(other),
        }
    }

    /// The flow of an IPv6 packet whose upper-layer header (after any
    /// extension headers) is `next_header`, with destination port `dport`.
    /// ICMPv6 is [`Flow::Icmp`]; IPv4's ICMP number means nothing here.
    pub fn from_ipv6(next_header: u8, dport: u16) -> Self {
        match next_header {
            6 => Flow::Tcp(dport),
            17 => Flow::Udp(dport),
            58 => Flow::Icmp,
            other => Flow::Other(other),
        }
    }
}

/// One firewall rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Who the rule is about.
    pub peers: PeerSelector,
    /// Protocol matched.
    pub protocol: Protocol,
    /// Destination ports matched (ignored for ICMP).
    pub ports: PortRange,
    /// What a match means.
    pub verdict: Verdict,
}

impl Rule {
    /// Whether the rule's protocol and ports cover `flow` (peers aside).
    /// A port range applies to TCP and UDP; an `Icmp` rule ignores ports;
    /// an `Any` rule matches a flow without ports only when its range is
    /// every port, so "any protocol, port 80" does not open ICMP.
    pub fn covers(&self, flow: Flow) -> bool {
        match (self.protocol, flow) {
            (Protocol::Tcp, Flow::Tcp(p)) | (Protocol::Udp, Flow::Udp(p)) => self.ports.contains(p),
            (Protocol::Any, Flow::Tcp(p) | Flow::Udp(p)) => self.ports.contains(p),
            (Protocol::Icmp, Flow::Icmp) => true,
            (Protocol::Any, Flow::Icmp | Flow::Other(_)) => self.ports == PortRange::ALL,
            _ => false,
        }
    }
}

/// Ingress and egress rule lists of one member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Rules on flows towards the member.
    pub ingress: Vec<Rule>,
    /// Rules on flows from the member.
    pub egress: Vec<Rule>,
}
