//! set_policy and rule validation.

use super::*;
use crate::assert_err;
use crate::msg::{Action, Peers, PortRange, Protocol, Rule};

fn rule(peers: Peers, protocol: Protocol, ports: Option<(u16, u16)>) -> Rule {
    Rule {
        peers,
        protocol,
        ports: ports.map(|(start, end)| PortRange { start, end }),
        action: Action::Allow,
    }
}

fn set(id: u64, ingress: Vec<Rule>, egress: Vec<Rule>) -> ExecuteMsg {
    ExecuteMsg::SetPolicy {
        network_id: id,
        name: "db".into(),
        policy: Policy { ingress, egress },
    }
}

#[test]
fn set_policy_stores_canonical_rules() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    s.add(id, "db", &p1);
    assert_eq!(s.policy(id, "db"), Policy::default());
    let ingress = vec![
        rule(
            Peers::Tags(strings(&["web"])),
            Protocol::Tcp,
            Some((6379, 6379)),
        ),
        rule(
            Peers::Members(strings(&["admin", "not-yet-there"])),
            Protocol::Any,
            None,
        ),
        rule(
            Peers::Cidrs(strings(&["100.64.0.0/26", "fd00:0::/64"])),
            Protocol::Udp,
            Some((1, 65535)),
        ),
        Rule {
            peers: Peers::Any,
            protocol: Protocol::Icmp,
            ports: None,
            action: Action::Deny,
        },
    ];
    let egress = vec![
        rule(Peers::Any, Protocol::Any, None),
        rule(
            Peers::Services(strings(&["cache", "not-yet-a-service"])),
            Protocol::Tcp,
            Some((6379, 6379)),
        ),
    ];
    let res = s.ok(&owner, set(id, ingress.clone(), egress.clone()));
    let ev = event(&res);
    assert_eq!(ev.ty, "set_policy");
    assert_eq!(attr(ev, "providers"), p1.as_str());
    assert_eq!(attr(ev, "revision"), "3");
    let got = s.policy(id, "db");
    assert_eq!(got.egress, egress);
    assert_eq!(got.ingress[0], ingress[0]);
    assert_eq!(
        got.ingress[2].peers,
        Peers::Cidrs(strings(&["100.64.0.0/26", "fd00::/64"]))
    );
    // Clearing stores nothing.
    s.ok(&owner, set(id, vec![], vec![]));
    assert_eq!(s.policy(id, "db"), Policy::default());
    assert_err!(
        s.q::<Policy>(QueryMsg::Policy {
            network_id: id,
            name: "nope".into()
        })
        .unwrap_err(),
        ContractError::MemberNotFound(_)
    );
}

#[test]
fn set_policy_rejects_bad_rules() {
    let mut s = setup_with(Some(Params {
        max_rules_per_policy: 2,
        max_list_len: 2,
        ..Params::default()
    }));
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    s.add(id, "db", &p1);
    let any = |p| rule(Peers::Any, p, None);
    let cases: Vec<(ExecuteMsg, ErrorCheck)> = vec![
        (
            set(
                id,
                vec![rule(Peers::Any, Protocol::Tcp, Some((0, 80)))],
                vec![],
            ),
            |e| matches!(e, ContractError::PortZero),
        ),
        (
            set(
                id,
                vec![],
                vec![rule(Peers::Any, Protocol::Udp, Some((90, 80)))],
            ),
            |e| matches!(e, ContractError::ReversedPorts { start: 90, end: 80 }),
        ),
        (
            set(
                id,
                vec![rule(Peers::Any, Protocol::Icmp, Some((1, 1)))],
                vec![],
            ),
            |e| matches!(e, ContractError::IcmpWithPorts),
        ),
        (
            set(
                id,
                vec![rule(Peers::Tags(strings(&["cache"])), Protocol::Tcp, None)],
                vec![],
            ),
            |e| matches!(e, ContractError::UnknownTag(_)),
        ),
        (
            set(
                id,
                vec![rule(Peers::Tags(vec![]), Protocol::Tcp, None)],
                vec![],
            ),
            |e| matches!(e, ContractError::EmptyPeers),
        ),
        (
            set(
                id,
                vec![],
                vec![rule(Peers::Services(vec![]), Protocol::Tcp, None)],
            ),
            |e| matches!(e, ContractError::EmptyPeers),
        ),
        (
            set(
                id,
                vec![],
                vec![rule(
                    Peers::Services(strings(&["Bad Name"])),
                    Protocol::Tcp,
                    None,
                )],
            ),
            |e| matches!(e, ContractError::InvalidName { .. }),
        ),
        (
            set(
                id,
                vec![rule(Peers::Members(vec![]), Protocol::Tcp, None)],
                vec![],
            ),
            |e| matches!(e, ContractError::EmptyPeers),
        ),
        (
            set(
                id,
                vec![rule(Peers::Cidrs(vec![]), Protocol::Tcp, None)],
                vec![],
            ),
            |e| matches!(e, ContractError::EmptyPeers),
        ),
        (
            set(
                id,
                vec![rule(
                    Peers::Members(strings(&["Bad Name"])),
                    Protocol::Tcp,
                    None,
                )],
                vec![],
            ),
            |e| matches!(e, ContractError::InvalidName { .. }),
        ),
        (
            set(
                id,
                vec![rule(
                    Peers::Cidrs(strings(&["100.64.0.1/26"])),
                    Protocol::Tcp,
                    None,
                )],
                vec![],
            ),
            |e| matches!(e, ContractError::HostBitsSet(_)),
        ),
        (
            set(
                id,
                vec![rule(
                    Peers::Cidrs(strings(&["nonsense"])),
                    Protocol::Tcp,
                    None,
                )],
                vec![],
            ),
            |e| matches!(e, ContractError::InvalidCidr(_)),
        ),
        (
            set(
                id,
                vec![rule(
                    Peers::Cidrs(strings(&["100.64.0.0/26", "10.0.0.0/8", "10.1.0.0/16"])),
                    Protocol::Tcp,
                    None,
                )],
                vec![],
            ),
            |e| matches!(e, ContractError::TooMany { got: 3, max: 2, .. }),
        ),
        (
            set(
                id,
                vec![rule(
                    Peers::Members(strings(&["a", "b", "c"])),
                    Protocol::Tcp,
                    None,
                )],
                vec![],
            ),
            |e| matches!(e, ContractError::TooMany { got: 3, max: 2, .. }),
        ),
        (
            set(
                id,
                vec![any(Protocol::Tcp), any(Protocol::Udp), any(Protocol::Icmp)],
                vec![],
            ),
            |e| matches!(e, ContractError::TooMany { got: 3, max: 2, .. }),
        ),
        (
            set(
                id,
                vec![],
                vec![any(Protocol::Tcp), any(Protocol::Udp), any(Protocol::Icmp)],
            ),
            |e| matches!(e, ContractError::TooMany { got: 3, max: 2, .. }),
        ),
        (
            ExecuteMsg::SetPolicy {
                network_id: id,
                name: "ghost".into(),
                policy: Policy::default(),
            },
            |e| matches!(e, ContractError::MemberNotFound(_)),
        ),
    ];
    for (msg, check) in cases {
        let err = s.reject(&owner, msg.clone());
        assert!(check(&err), "{msg:?} → {err:?}");
    }
}

#[test]
fn rule_json_shape() {
    let r = rule(
        Peers::Tags(strings(&["web"])),
        Protocol::Tcp,
        Some((80, 443)),
    );
    assert_eq!(
        cosmwasm_std::to_json_string(&r).unwrap(),
        r#"{"peers":{"tags":["web"]},"protocol":"tcp","ports":{"start":80,"end":443},"action":"allow"}"#
    );
    assert_eq!(
        cosmwasm_std::to_json_string(&Peers::Services(strings(&["db"]))).unwrap(),
        r#"{"services":["db"]}"#
    );
    let any: Peers = cosmwasm_std::from_json(br#""any""#).unwrap();
    assert_eq!(any, Peers::Any);
}
