//! Visibility: what the owner and a participant see of one network.

use cosmwasm_std::{Addr, Timestamp};
use network_registry::msg as reg;

use super::*;
use avpn_model::{Decider, Flow, explain};

const OWNER: &str = "akash1owner";
const PART: &str = "akash1part";
const OTHER: &str = "akash1other";
const P1: &str = "akash1provider1";
const P2: &str = "akash1provider2";

fn rule(
    peers: reg::Peers,
    protocol: reg::Protocol,
    port: Option<u16>,
    action: reg::Action,
) -> reg::Rule {
    reg::Rule {
        peers,
        protocol,
        ports: port.map(|p| reg::PortRange { start: p, end: p }),
        action,
    }
}

fn member(
    name: &str,
    ip: &str,
    adder: &str,
    provider: &str,
    tags: &[&str],
    policy: reg::Policy,
) -> Member {
    let resp = reg::MemberResponse {
        name: name.into(),
        ip: ip.into(),
        // The network's cidr6 plus the IPv4 host offset, as the contract
        // gives it.
        ip6: Some(format!(
            "fd00:1::{:x}",
            ip.rsplit('.')
                .next()
                .and_then(|o| o.parse::<u8>().ok())
                .unwrap_or(0)
        )),
        lease: reg::LeaseId {
            owner: adder.into(),
            dseq: 7,
            gseq: 1,
            oseq: 1,
            provider: provider.into(),
            bseq: 0,
        },
        tags: tags.iter().map(|t| t.to_string()).collect(),
        service: None,
        weight: None,
    };
    let (cidr, cidr6) = ("100.64.0.0/24".parse().unwrap(), "fd00:1::/64".parse().ok());
    Member {
        info: avpn_control::desired::member_info(1, cidr, cidr6, &resp, &policy).unwrap(),
        ip6: resp.ip6,
    }
}

fn participant(addr: &str, tags: &[&str]) -> reg::ParticipantResponse {
    reg::ParticipantResponse {
        address: Addr::unchecked(addr),
        invitation_id: 1,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        joined_at: Timestamp::from_seconds(1),
        member_count: 1,
        max_members: 4,
    }
}

/// Owner members web-1 (reaches db on 5432), db-1 (accepts web on 5432),
/// admin-1 (no rules); participant PART's partner-web (tag web) and
/// OTHER's other-web (tag web).
fn data() -> NetworkData {
    use reg::{Action::*, Peers, Protocol::*};
    let db_policy = reg::Policy {
        ingress: vec![
            rule(Peers::Tags(vec!["web".into()]), Tcp, Some(5432), Allow),
            rule(Peers::Members(vec!["admin-1".into()]), Any, None, Deny),
        ],
        egress: vec![rule(Peers::Any, Any, None, Allow)],
    };
    let web_policy = reg::Policy {
        ingress: vec![],
        egress: vec![rule(Peers::Tags(vec!["db".into()]), Tcp, Some(5432), Allow)],
    };
    let partner_policy = reg::Policy {
        ingress: vec![],
        egress: vec![rule(Peers::Tags(vec!["db".into()]), Tcp, None, Allow)],
    };
    NetworkData {
        network: reg::NetworkResponse {
            id: 1,
            owner: Addr::unchecked(OWNER),
            name: "demo".into(),
            cidr: "100.64.0.0/24".into(),
            cidr6: Some("fd00:1::/64".into()),
            default_action: reg::Action::Deny,
            tags: vec!["web".into(), "db".into()],
            start_time: None,
            end_time: None,
            status: reg::NetworkStatus::Open,
            revision: 9,
            member_count: 5,
            created_at: Timestamp::from_seconds(1),
        },
        members: vec![
            member(
                "admin-1",
                "100.64.0.5",
                OWNER,
                P1,
                &["web"],
                reg::Policy::default(),
            ),
            member("db-1", "100.64.0.3", OWNER, P2, &["db"], db_policy),
            member(
                "other-web",
                "100.64.0.7",
                OTHER,
                P2,
                &["web"],
                partner_policy.clone(),
            ),
            member(
                "partner-web",
                "100.64.0.6",
                PART,
                P2,
                &["web"],
                partner_policy,
            ),
            member("web-1", "100.64.0.2", OWNER, P1, &["web"], web_policy),
        ],
        participants: vec![participant(PART, &["web"]), participant(OTHER, &["web"])],
        invitations: vec![reg::InvitationResponse {
            id: 1,
            pubkey: Default::default(),
            key_type: reg::KeyType::Ed25519,
            expires: Timestamp::from_seconds(100),
            max_uses: 2,
            uses: 2,
            tags: vec!["web".into()],
            max_members: 4,
        }],
        providers: vec![
            reg::NetworkProviderResponse {
                provider: Addr::unchecked(P1),
                authorized: true,
                hosted_members: 2,
            },
            reg::NetworkProviderResponse {
                provider: Addr::unchecked(P2),
                authorized: true,
                hosted_members: 3,
            },
        ],
        truncated: false,
        problems: vec![],
    }
}

fn names(v: &NetworkView) -> Vec<&str> {
    v.members.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn owner_sees_everything() {
    let v = data().view(OWNER);
    assert_eq!(v.role, Role::Owner);
    assert_eq!(
        names(&v),
        ["admin-1", "db-1", "other-web", "partner-web", "web-1"]
    );
    assert!(v.members.iter().all(|m| m.detailed && m.lease.is_some()));
    assert_eq!(v.participants.as_ref().map(Vec::len), Some(2));
    assert_eq!(v.invitations.as_ref().map(Vec::len), Some(1));
    assert_eq!(v.providers.len(), 2);
    let web = v.sites.iter().find(|s| s.tag == "web").unwrap();
    assert_eq!(web.participants, [PART, OTHER]);
    assert_eq!(v.matrix.names.len(), 5);
    assert!(v.matrix.cells.iter().flatten().all(Option::is_some));
}

#[test]
fn participant_sees_only_its_part() {
    let d = data();
    let v = d.view(PART);
    assert_eq!(v.role, Role::Participant);
    // Its own member, and db-1 which it may reach; not web-1 or admin-1
    // (no flow either way) nor the other participant's member.
    assert_eq!(names(&v), ["db-1", "partner-web"]);
    let db = &v.members[0];
    assert!(!db.detailed && db.lease.is_none() && db.ingress.is_empty() && db.tags.is_empty());
    let own = &v.members[1];
    assert!(own.detailed && own.lease.is_some());
    assert_eq!(own.added_by, "you");
    assert!(v.participants.is_none() && v.invitations.is_none());
    assert_eq!(v.providers.len(), 1);
    assert_eq!(v.providers[0].members, ["partner-web"]);
    assert!(v.sites.iter().all(|s| s.participants.is_empty()));
    let json = serde_json::to_string(&v).unwrap();
    for hidden in ["web-1", "admin-1", "other-web", OTHER, P1] {
        assert!(!json.contains(hidden), "{hidden} leaked: {json}");
    }
    // Matrix: cells involving partner-web only.
    assert_eq!(v.matrix.names, ["db-1", "partner-web"]);
    assert!(v.matrix.cells[0][0].is_none());
    let to_db = v.matrix.cells[1][0].as_ref().unwrap();
    assert_eq!(to_db.state, CellState::Partial);
    assert_eq!(to_db.summary, "tcp 5432");
    // Explain: allowed only for cells it may look at.
    assert!(d.explain(PART, "partner-web", "db-1").is_some());
    assert!(d.explain(PART, "db-1", "partner-web").is_some());
    assert!(d.explain(PART, "web-1", "db-1").is_none());
    assert!(d.explain(PART, "partner-web", "web-1").is_none());
    assert!(d.explain(PART, "other-web", "db-1").is_none());
    assert!(d.explain(OTHER, "partner-web", "db-1").is_none());
}

#[test]
fn outsider_sees_nothing() {
    let d = data();
    let v = d.view("akash1stranger");
    assert_eq!(v.role, Role::Outsider);
    assert!(v.members.is_empty() && v.providers.is_empty() && v.matrix.names.is_empty());
    assert!(d.explain("akash1stranger", "web-1", "db-1").is_none());
}

#[test]
fn explain_names_the_deciding_rules_and_default() {
    let d = data();
    let m = |n: &str| &d.members.iter().find(|m| m.info.name == n).unwrap().info;
    // web-1 → db-1 tcp 5432: egress rule 0, ingress rule 0.
    let e = explain(OWNER, Verdict::Deny, m("web-1"), m("db-1"), Flow::Tcp(5432));
    assert_eq!(e.verdict, Verdict::Allow);
    assert_eq!(
        (e.egress, e.ingress),
        (
            Decider::Rule {
                index: 0,
                verdict: Verdict::Allow
            },
            Decider::Rule {
                index: 0,
                verdict: Verdict::Allow
            }
        )
    );
    // web-1 → db-1 tcp 80: both lists fall to the default.
    let e = explain(OWNER, Verdict::Deny, m("web-1"), m("db-1"), Flow::Tcp(80));
    assert_eq!(e.verdict, Verdict::Deny);
    assert_eq!(
        (e.egress, e.ingress),
        (
            Decider::Default(Verdict::Deny),
            Decider::Default(Verdict::Deny)
        )
    );
    // admin-1 → db-1: db-1's deny by name beats its allow by tag.
    let e = explain(
        OWNER,
        Verdict::Allow,
        m("admin-1"),
        m("db-1"),
        Flow::Tcp(5432),
    );
    assert_eq!(
        e.ingress,
        Decider::Rule {
            index: 1,
            verdict: Verdict::Deny
        }
    );
    // An "any protocol, all ports" rule covers ICMP; a tcp rule does not.
    let e = explain(OWNER, Verdict::Deny, m("db-1"), m("web-1"), Flow::Icmp);
    assert_eq!(
        e.egress,
        Decider::Rule {
            index: 0,
            verdict: Verdict::Allow
        }
    );
    assert_eq!(e.ingress, Decider::Default(Verdict::Deny));
}

#[test]
fn name_selectors_do_not_capture_other_participants() {
    use reg::{Action::*, Peers, Protocol::*};
    let mut d = data();
    // db-1 allows "partner-x" by name; OTHER takes that name.
    d.members[1].info.policy = avpn_control::desired::member_info(
        1,
        "100.64.0.0/24".parse().unwrap(),
        None,
        &reg::MemberResponse {
            name: "db-1".into(),
            ip: "100.64.0.3".into(),
            ip6: None,
            lease: reg::LeaseId {
                owner: OWNER.into(),
                dseq: 7,
                gseq: 1,
                oseq: 1,
                provider: P2.into(),
                bseq: 0,
            },
            tags: vec!["db".into()],
            service: None,
            weight: None,
        },
        &reg::Policy {
            ingress: vec![rule(
                Peers::Members(vec!["other-web".into()]),
                Any,
                None,
                Allow,
            )],
            egress: vec![],
        },
    )
    .unwrap()
    .policy;
    let cell = d.explain(OWNER, "other-web", "db-1").unwrap();
    assert_eq!(cell.state, CellState::Deny);
    assert!(
        cell.segments
            .iter()
            .all(|s| matches!(s.explanation.ingress, Decider::Default(_)))
    );
}

#[test]
fn cell_segments_cover_every_port() {
    let d = data();
    let cell = d.explain(OWNER, "web-1", "db-1").unwrap();
    let tcp: Vec<_> = cell
        .segments
        .iter()
        .filter(|s| s.protocol == "tcp")
        .map(|s| s.ports.unwrap())
        .collect();
    assert_eq!(tcp, [(1, 5431), (5432, 5432), (5433, 65535)]);
    assert_eq!(cell.summary, "tcp 5432");
    assert_eq!(cell.state, CellState::Partial);
}
