//! Placeholder explain of one flow, until the shared explain of
//! `avpn-model` lands (then this module goes away).
//!
//! Semantics as in `relayer/model/src/policy.rs` and
//! `relayer/dataplane/src/policy.rs`: a flow A→B is allowed iff A's egress
//! AND B's ingress allow it; within one list a matching deny beats any
//! matching allow; no match gives the network's default. TCP/UDP rules
//! match the destination port; an ICMP rule ignores ports; a protocol-`Any`
//! rule matches ICMP and other protocols only when it covers every port.
//! Member-name and CIDR selectors select only members of the network owner
//! or of the rule's own adder ([`avpn_model::PeerSelector::selects`]).

use avpn_model::{MemberInfo, PortRange, Protocol, Rule, Verdict};
use serde::Serialize;

/// What a flow is, as far as policies look at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// TCP to a destination port.
    Tcp(u16),
    /// UDP to a destination port.
    Udp(u16),
    /// ICMP.
    Icmp,
    /// Any other IP protocol.
    Other,
}

impl Probe {
    fn matches(self, rule: &Rule) -> bool {
        let all_ports = rule.ports == PortRange::ALL;
        match self {
            Probe::Tcp(p) => {
                matches!(rule.protocol, Protocol::Tcp | Protocol::Any) && rule.ports.contains(p)
            }
            Probe::Udp(p) => {
                matches!(rule.protocol, Protocol::Udp | Protocol::Any) && rule.ports.contains(p)
            }
            Probe::Icmp => {
                rule.protocol == Protocol::Icmp || (rule.protocol == Protocol::Any && all_ports)
            }
            Probe::Other => rule.protocol == Protocol::Any && all_ports,
        }
    }
}

/// How one list (the sender's egress or the receiver's ingress) decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ListDecision {
    /// The list's verdict.
    pub verdict: Verdict,
    /// Index of the deciding rule in the list; `None` = the network default.
    pub rule: Option<usize>,
}

/// Why a flow is allowed or denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// Allowed iff both lists allow.
    pub verdict: Verdict,
    /// The sender's egress list.
    pub egress: ListDecision,
    /// The receiver's ingress list.
    pub ingress: ListDecision,
}

/// Decides one list of a member added by `adder` about `peer`.
fn decide(
    rules: &[Rule],
    adder: &str,
    owner: &str,
    peer: &MemberInfo,
    probe: Probe,
    default: Verdict,
) -> ListDecision {
    let mut allow = None;
    for (i, r) in rules.iter().enumerate() {
        if !probe.matches(r) || !r.peers.selects(peer.as_peer(), adder, owner) {
            continue;
        }
        match r.verdict {
            Verdict::Deny => {
                return ListDecision {
                    verdict: Verdict::Deny,
                    rule: Some(i),
                };
            }
            Verdict::Allow => {
                allow.get_or_insert(i);
            }
        }
    }
    match allow {
        Some(i) => ListDecision {
            verdict: Verdict::Allow,
            rule: Some(i),
        },
        None => ListDecision {
            verdict: default,
            rule: None,
        },
    }
}

/// Explains the flow `from` → `to` in a network owned by `owner` with
/// default verdict `default`.
pub fn explain(
    owner: &str,
    default: Verdict,
    from: &MemberInfo,
    to: &MemberInfo,
    probe: Probe,
) -> Explanation {
    let egress = decide(
        &from.policy.egress,
        &from.lease.owner,
        owner,
        to,
        probe,
        default,
    );
    let ingress = decide(
        &to.policy.ingress,
        &to.lease.owner,
        owner,
        from,
        probe,
        default,
    );
    let verdict = if egress.verdict == Verdict::Allow && ingress.verdict == Verdict::Allow {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    Explanation {
        verdict,
        egress,
        ingress,
    }
}
