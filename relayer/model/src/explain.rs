//! The policy semantics written plainly, with the deciding rule of each
//! side: what `avpn explain` and the console show. The data plane compiles
//! the same semantics into lookup tables for speed; its property tests
//! check every compiled decision against [`explain`].
//!
//! A flow A→B is allowed iff A's egress allows it AND B's ingress allows
//! it. Within one list the first matching deny decides, else the first
//! matching allow, else the network's default.

use serde::{Deserialize, Serialize};

use crate::MemberInfo;
use crate::policy::{Flow, Rule, SelectorPeer, Verdict};

/// What decided one side (one rule list) of a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decider {
    /// The rule at this index of the list matched with this verdict.
    Rule {
        /// Index in the ingress or egress list.
        index: usize,
        /// The rule's verdict.
        verdict: Verdict,
    },
    /// No rule matched: the network's default.
    Default(Verdict),
}

impl Decider {
    /// The side's verdict.
    pub fn verdict(&self) -> Verdict {
        match *self {
            Decider::Rule { verdict, .. } | Decider::Default(verdict) => verdict,
        }
    }
}

/// Both sides of a flow and the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// The sender's egress list.
    pub egress: Decider,
    /// The receiver's ingress list.
    pub ingress: Decider,
    /// Allow iff both sides allow.
    pub verdict: Verdict,
}

/// Decides one list of rules held by a member added by `holder_adder`, for
/// a flow whose other end is `peer`, in a network owned by `owner`.
pub fn decide_list(
    rules: &[Rule],
    holder_adder: &str,
    owner: &str,
    peer: SelectorPeer<'_>,
    flow: Flow,
    default: Verdict,
) -> Decider {
    let mut allow = None;
    for (index, rule) in rules.iter().enumerate() {
        if !rule.covers(flow) || !rule.peers.selects(peer, holder_adder, owner) {
            continue;
        }
        match rule.verdict {
            Verdict::Deny => {
                return Decider::Rule {
                    index,
                    verdict: Verdict::Deny,
                };
            }
            Verdict::Allow => {
                allow.get_or_insert(index);
            }
        }
    }
    match allow {
        Some(index) => Decider::Rule {
            index,
            verdict: Verdict::Allow,
        },
        None => Decider::Default(default),
    }
}

/// Explains a flow from member `from` to member `to` in a network owned by
/// `owner` with default verdict `default`.
pub fn explain(
    owner: &str,
    default: Verdict,
    from: &MemberInfo,
    to: &MemberInfo,
    flow: Flow,
) -> Explanation {
    let egress = decide_list(
        &from.policy.egress,
        &from.lease.owner,
        owner,
        to.as_peer(),
        flow,
        default,
    );
    let ingress = decide_list(
        &to.policy.ingress,
        &to.lease.owner,
        owner,
        from.as_peer(),
        flow,
        default,
    );
    let verdict = if egress.verdict() == Verdict::Allow && ingress.verdict() == Verdict::Allow {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    Explanation {
        egress,
        ingress,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::{LeaseId, PeerSelector, Policy, PortRange, Protocol};

    fn member(name: &str, adder: &str, tags: &[&str], service: Option<&str>) -> MemberInfo {
        MemberInfo {
            name: name.into(),
            ip: Ipv4Addr::new(100, 64, 0, name.len() as u8),
            ip6: Some(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, name.len() as u16)),
            lease: LeaseId {
                owner: adder.into(),
                dseq: 1,
                gseq: 1,
                oseq: 1,
                provider: "p".into(),
                bseq: 0,
            },
            tags: tags.iter().map(|t| t.to_string()).collect(),
            service: service.map(str::to_owned),
            policy: Policy::default(),
            weight: None,
        }
    }

    fn rule(peers: PeerSelector, protocol: Protocol, ports: PortRange, verdict: Verdict) -> Rule {
        Rule {
            peers,
            protocol,
            ports,
            verdict,
        }
    }

    fn set(v: &[&str]) -> std::collections::BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_the_deciding_rule_on_each_side() {
        let mut web = member("web", "owner", &["web"], None);
        let mut db = member("db-1", "owner", &["db"], Some("db"));
        let pg = PortRange::new(5432, 5432).unwrap();
        web.policy.egress = vec![
            rule(
                PeerSelector::Any,
                Protocol::Udp,
                PortRange::ALL,
                Verdict::Allow,
            ),
            rule(
                PeerSelector::Services(set(&["db"])),
                Protocol::Tcp,
                pg,
                Verdict::Allow,
            ),
        ];
        db.policy.ingress = vec![
            rule(
                PeerSelector::Tags(set(&["web"])),
                Protocol::Tcp,
                pg,
                Verdict::Allow,
            ),
            rule(
                PeerSelector::Members(set(&["web"])),
                Protocol::Tcp,
                PortRange::new(5432, 6000).unwrap(),
                Verdict::Deny,
            ),
        ];
        let e = explain("owner", Verdict::Deny, &web, &db, Flow::Tcp(5432));
        assert_eq!(
            e.egress,
            Decider::Rule {
                index: 1,
                verdict: Verdict::Allow
            }
        );
        // deny beats allow, whatever the order
        assert_eq!(
            e.ingress,
            Decider::Rule {
                index: 1,
                verdict: Verdict::Deny
            }
        );
        assert_eq!(e.verdict, Verdict::Deny);
        // no rule on either side for ICMP: the default decides both
        let e = explain("owner", Verdict::Allow, &web, &db, Flow::Icmp);
        assert_eq!(e.egress, Decider::Default(Verdict::Allow));
        assert_eq!(e.ingress, Decider::Default(Verdict::Allow));
        assert_eq!(e.verdict, Verdict::Allow);
        // the reverse direction has its own lists
        let e = explain("owner", Verdict::Deny, &db, &web, Flow::Tcp(5432));
        assert_eq!(e.egress, Decider::Default(Verdict::Deny));
    }

    #[test]
    fn a_participant_replica_does_not_capture_a_service_rule() {
        let mut web = member("web", "owner", &["web"], None);
        web.policy.egress = vec![rule(
            PeerSelector::Services(set(&["db"])),
            Protocol::Any,
            PortRange::ALL,
            Verdict::Allow,
        )];
        let owners = member("db-1", "owner", &["db"], Some("db"));
        let intruder = member("db-x", "participant", &["db"], Some("db"));
        let to = |m: &MemberInfo| explain("owner", Verdict::Deny, &web, m, Flow::Tcp(1)).egress;
        assert_eq!(
            to(&owners),
            Decider::Rule {
                index: 0,
                verdict: Verdict::Allow
            }
        );
        assert_eq!(to(&intruder), Decider::Default(Verdict::Deny));
    }

    #[test]
    fn any_protocol_with_ports_leaves_icmp_and_other_protocols_alone() {
        let r = rule(
            PeerSelector::Any,
            Protocol::Any,
            PortRange::new(80, 80).unwrap(),
            Verdict::Allow,
        );
        assert!(r.covers(Flow::Tcp(80)) && r.covers(Flow::Udp(80)));
        assert!(!r.covers(Flow::Tcp(81)) && !r.covers(Flow::Icmp) && !r.covers(Flow::Other(47)));
        let all = rule(
            PeerSelector::Any,
            Protocol::Any,
            PortRange::ALL,
            Verdict::Allow,
        );
        assert!(all.covers(Flow::Icmp) && all.covers(Flow::Other(47)));
        let icmp = rule(
            PeerSelector::Any,
            Protocol::Icmp,
            PortRange::ALL,
            Verdict::Allow,
        );
        assert!(icmp.covers(Flow::Icmp) && !icmp.covers(Flow::Tcp(1)));
        assert_eq!(Flow::from_ip(6, 22), Flow::Tcp(22));
        assert_eq!(Flow::from_ip(17, 53), Flow::Udp(53));
        assert_eq!(Flow::from_ip(1, 9), Flow::Icmp);
        assert_eq!(Flow::from_ip(47, 9), Flow::Other(47));
    }

    /// An IPv6 CIDR selects the members whose IPv6 lies in it, for all
    /// their flows; a member without an IPv6 is never selected by it.
    #[test]
    fn ipv6_cidr_selects_members_by_their_ipv6() {
        let mut web = member("web", "owner", &[], None);
        web.policy.egress = vec![rule(
            PeerSelector::Cidrs(vec!["fd00::2/127".parse().unwrap()]),
            Protocol::Tcp,
            PortRange::ALL,
            Verdict::Allow,
        )];
        // "db" has host 2 (fd00::2), "dbx" host 3 (fd00::3), "dbxy" host 4.
        let db = member("db", "owner", &[], None);
        let inside = member("dbx", "owner", &[], None);
        let mut outside = member("dbxy", "owner", &[], None);
        let egress = |m: &MemberInfo| explain("owner", Verdict::Deny, &web, m, Flow::Tcp(1)).egress;
        let allowed = Decider::Rule {
            index: 0,
            verdict: Verdict::Allow,
        };
        assert_eq!(egress(&db), allowed);
        assert_eq!(egress(&inside), allowed);
        assert_eq!(egress(&outside), Decider::Default(Verdict::Deny));
        outside.ip6 = None;
        assert_eq!(egress(&outside), Decider::Default(Verdict::Deny));
        // A participant's member inside the prefix is not captured.
        let intruder = member("dbx", "participant", &[], None);
        assert_eq!(egress(&intruder), Decider::Default(Verdict::Deny));
        assert_eq!(Flow::from_ipv6(58, 9), Flow::Icmp);
        assert_eq!(Flow::from_ipv6(1, 9), Flow::Other(1));
        assert_eq!(Flow::from_ipv6(6, 22), Flow::Tcp(22));
    }
}
