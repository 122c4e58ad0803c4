//! Parsed firewall policy types (semantics in DESIGN.md "Policy").
//!
//! A flow A→B on (protocol, port) is allowed iff A's egress allows it AND
//! B's ingress allows it; within one list a matching deny beats any matching
//! allow; no match gives the network's default verdict.

use std::collections::BTreeSet;

use ipnet::Ipv4Net;
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
    /// ICMP (ports ignored).
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
    /// Members whose overlay address is inside one of these CIDRs (see
    /// [`PeerSelector::selects`]).
    Cidrs(Vec<Ipv4Net>),
}

impl PeerSelector {
    /// Whether this selector, in a rule of a member added by `rule_adder`,
    /// selects a peer member with overlay address `ip`, `name` and `tags`
    /// added by `peer_adder`, in a network owned by `owner`.
    ///
    /// Names and CIDRs are the rule writer's own vocabulary: they select
    /// only members of the network owner or of the rule's own adder, so a
    /// participant cannot capture a rule by taking a name or an address it
    /// names. `Any` and tags select every member (the owner grants tags on
    /// purpose; a participant's members carry only granted tags).
    pub fn selects(&self, peer: SelectorPeer<'_>, rule_adder: &str, owner: &str) -> bool {
        let trusted = || peer.adder == owner || peer.adder == rule_adder;
        match self {
            PeerSelector::Any => true,
            PeerSelector::Members(names) => names.contains(peer.name) && trusted(),
            PeerSelector::Tags(tags) => peer.tags.iter().any(|t| tags.contains(t)),
            PeerSelector::Cidrs(nets) => nets.iter().any(|n| n.contains(&peer.ip)) && trusted(),
        }
    }
}

/// The facts about a member a selector looks at.
#[derive(Clone, Copy, Debug)]
pub struct SelectorPeer<'a> {
    /// Member name.
    pub name: &'a str,
    /// Overlay address.
    pub ip: std::net::Ipv4Addr,
    /// Site classes.
    pub tags: &'a BTreeSet<String>,
    /// Account that added the member (its lease owner).
    pub adder: &'a str,
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

/// Ingress and egress rule lists of one member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Rules on flows towards the member.
    pub ingress: Vec<Rule>,
    /// Rules on flows from the member.
    pub egress: Vec<Rule>,
}
