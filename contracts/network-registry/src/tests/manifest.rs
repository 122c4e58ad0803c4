//! apply_manifest and the manifest export.

use super::*;
use crate::assert_err;
use crate::msg::{
    Action, Manifest, ManifestMember, ManifestResponse, Peers, PortRange, Protocol, Rule,
};

fn mm(name: &str, dseq: u64, provider: &Addr, tags: &[&str], ip: Option<&str>) -> ManifestMember {
    ManifestMember {
        name: name.into(),
        lease: lease(dseq, provider),
        tags: strings(tags),
        service: None,
        ip: ip.map(String::from),
        policy: Policy::default(),
        weight: None,
    }
}

fn apply(id: u64, manifest: Manifest) -> ExecuteMsg {
    ExecuteMsg::ApplyManifest {
        network_id: id,
        manifest,
    }
}

fn export(s: &Setup, id: u64) -> Manifest {
    s.manifest(id)
}

fn web_policy() -> Policy {
    Policy {
        ingress: vec![Rule {
            peers: Peers::Tags(strings(&["web"])),
            protocol: Protocol::Tcp,
            ports: Some(PortRange {
                start: 5432,
                end: 5432,
            }),
            action: Action::Allow,
        }],
        egress: vec![],
    }
}

#[test]
fn apply_reconciles_and_keeps_ips() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1, p2, p3) = (s.owner.clone(), s.p1.clone(), s.p2.clone(), s.p3.clone());
    s.add(id, "keep", &p1); // .2
    s.add(id, "drop", &p1); // .3
    s.add(id, "move", &p1); // .4
    s.ok(
        &owner,
        ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p3.to_string(),
        },
    );
    let mut db = mm("db", 10, &p2, &["db"], Some("100.64.0.3"));
    db.policy = web_policy();
    let manifest = Manifest {
        default_action: Action::Allow,
        tags: strings(&["web", "db", "cache"]),
        providers: vec![p2.to_string()],
        members: vec![
            mm("keep", 1, &p1, &["web"], None),
            mm("move", 20, &p2, &[], Some("100.64.0.4")),
            db,
            mm("new", 30, &p2, &["cache"], None),
        ],
    };
    let res = s.ok(&owner, apply(id, manifest));
    let ev = event(&res);
    assert_eq!(ev.ty, "apply_manifest");
    let mut all = [p1.to_string(), p2.to_string(), p3.to_string()];
    all.sort();
    assert_eq!(attr(ev, "providers"), all.join(","));
    let ips: Vec<(String, String)> = s.members(id).into_iter().map(|m| (m.name, m.ip)).collect();
    assert_eq!(
        ips,
        vec![
            ("db".to_string(), "100.64.0.3".to_string()),
            ("keep".into(), "100.64.0.2".into()),
            ("move".into(), "100.64.0.4".into()),
            ("new".into(), "100.64.0.5".into()),
        ]
    );
    assert_eq!(s.member(id, "move").unwrap().lease, lease(20, &p2));
    assert_eq!(s.member(id, "keep").unwrap().tags, strings(&["web"]));
    assert_eq!(s.policy(id, "db"), web_policy());
    let n = s.network(id);
    assert_eq!(n.default_action, Action::Allow);
    assert_eq!(n.tags, strings(&["web", "db", "cache"]));
    assert_eq!(s.view(&p1), vec![id]);
    assert!(s.view(&p3).is_empty());
    assert_eq!(s.view(&p2), vec![id]);
    let out = export(&s, id);
    assert_eq!(out.providers, vec![p2.to_string()]);
    assert_eq!(out.members.len(), 4);
    assert_eq!(out.members[0].policy, web_policy());
}

#[test]
fn export_then_apply_is_identity() {
    let mut s = setup();
    let id = s.net();
    let (owner, bob, p1, p2) = (s.owner.clone(), s.bob.clone(), s.p1.clone(), s.p2.clone());
    s.add(id, "a", &p1);
    s.add(id, "b", &p2);
    s.ok(
        &owner,
        ExecuteMsg::SetPolicy {
            network_id: id,
            name: "a".into(),
            policy: web_policy(),
        },
    );
    s.join(id, &bob, &["web"]);
    s.authorize(id, &p2);
    s.ok(&bob, add_msg_by(&bob, id, "c", 3, &p2, &["web"]));
    s.ok(
        &owner,
        ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p1.to_string(),
        },
    );
    let before = snapshot(&s.deps.storage);
    let m = export(&s, id);
    let res = s.ok(&owner, apply(id, m.clone()));
    assert_eq!(
        attr(event(&res), "revision"),
        s.network(id).revision.to_string()
    );
    assert_eq!(before, snapshot(&s.deps.storage));
    // Participants' members keep their adder (the lease owner).
    assert_eq!(s.member(id, "c").unwrap().lease.owner, bob.as_str());
    assert_eq!(export(&s, id), m);
}

#[test]
fn apply_rejections() {
    let mut s = setup_with(Some(Params {
        max_members_per_network: 3,
        max_members_per_participant: 3,
        max_list_len: 2,
        ..Params::default()
    }));
    let id = s.net();
    let (owner, bob, mallory, p1) = (
        s.owner.clone(),
        s.bob.clone(),
        s.mallory.clone(),
        s.p1.clone(),
    );
    s.add(id, "a", &p1); // .2
    s.add(id, "b", &p1); // .3
    s.join(id, &bob, &["db"]);
    let base = |members: Vec<ManifestMember>| Manifest {
        default_action: Action::Deny,
        tags: strings(&["web", "db"]),
        providers: vec![],
        members,
    };
    let mut bad_policy = mm("a", 1, &p1, &[], None);
    bad_policy.policy.ingress.push(Rule {
        peers: Peers::Any,
        protocol: Protocol::Tcp,
        ports: Some(PortRange { start: 0, end: 1 }),
        action: Action::Allow,
    });
    let cases: Vec<(Manifest, ErrorCheck)> = vec![
        (base(vec![mm("a", 1, &p1, &[], Some("100.64.0.9"))]), |e| {
            matches!(e, ContractError::IpMismatch { .. })
        }),
        (
            base(vec![
                mm("a", 1, &p1, &[], None),
                mm("n", 1, &p1, &[], Some("100.64.0.2")),
            ]),
            |e| matches!(e, ContractError::IpTaken(_)),
        ),
        (
            base(vec![
                mm("n", 1, &p1, &[], Some("100.64.0.7")),
                mm("m", 1, &p1, &[], Some("100.64.0.7")),
            ]),
            |e| matches!(e, ContractError::IpTaken(_)),
        ),
        (base(vec![mm("n", 1, &p1, &[], Some("100.64.0.1"))]), |e| {
            matches!(e, ContractError::IpReserved(_))
        }),
        (base(vec![mm("n", 1, &p1, &[], Some("100.65.0.1"))]), |e| {
            matches!(e, ContractError::IpOutsideCidr { .. })
        }),
        (
            base(vec![mm("n", 1, &p1, &[], None), mm("n", 2, &p1, &[], None)]),
            |e| matches!(e, ContractError::Duplicate { .. }),
        ),
        (base(vec![mm("n", 1, &p1, &["cache"], None)]), |e| {
            matches!(e, ContractError::UnknownTag(_))
        }),
        (base(vec![mm("N", 1, &p1, &[], None)]), |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (base(vec![bad_policy]), |e| {
            matches!(e, ContractError::PortZero)
        }),
        (
            base(vec![
                mm("w", 1, &p1, &[], None),
                mm("x", 1, &p1, &[], None),
                mm("y", 1, &p1, &[], None),
                mm("z", 1, &p1, &[], None),
            ]),
            |e| matches!(e, ContractError::TooManyMembers { .. }),
        ),
        (
            Manifest {
                tags: strings(&["web"]),
                ..base(vec![])
            },
            |e| matches!(e, ContractError::TagInUse(t) if t == "db"),
        ),
        (
            Manifest {
                providers: vec!["bad".into()],
                ..base(vec![])
            },
            |e| matches!(e, ContractError::InvalidAddress(_)),
        ),
        (
            Manifest {
                providers: vec![p1.to_string(), p1.to_string()],
                ..base(vec![])
            },
            |e| matches!(e, ContractError::Duplicate { .. }),
        ),
        (
            Manifest {
                providers: vec![p1.to_string(), bob.to_string(), mallory.to_string()],
                ..base(vec![])
            },
            |e| matches!(e, ContractError::TooMany { .. }),
        ),
    ];
    for (manifest, check) in cases {
        let err = s.reject(&owner, apply(id, manifest.clone()));
        assert!(check(&err), "{manifest:?} → {err:?}");
    }
    assert_err!(
        s.reject(&mallory, apply(id, base(vec![]))),
        ContractError::Unauthorized
    );
    assert_err!(
        s.reject(&bob, apply(id, base(vec![]))),
        ContractError::Unauthorized
    );
    // A new member may take the address of a member the manifest removes.
    s.ok(
        &owner,
        apply(id, base(vec![mm("n", 1, &p1, &[], Some("100.64.0.2"))])),
    );
    assert_eq!(s.member(id, "n").unwrap().ip, "100.64.0.2");
}

#[test]
fn apply_rejects_more_members_than_the_pool_holds() {
    let mut s = setup();
    let owner = s.owner.clone();
    let p1 = s.p1.clone();
    let id = s.create(&owner, create_msg("small", "100.64.0.0/30"));
    let m = Manifest {
        default_action: Action::Deny,
        tags: vec![],
        providers: vec![],
        members: vec![mm("a", 1, &p1, &[], None), mm("b", 1, &p1, &[], None)],
    };
    assert_err!(
        s.reject(&owner, apply(id, m)),
        ContractError::PoolExhausted(_)
    );
}

#[test]
fn apply_cannot_take_over_participant_members_or_foreign_leases() {
    let mut s = setup();
    let id = s.net();
    let (owner, bob, p1, p2) = (s.owner.clone(), s.bob.clone(), s.p1.clone(), s.p2.clone());
    s.authorize(id, &p1);
    s.join(id, &bob, &["web"]);
    s.ok(&bob, add_msg_by(&bob, id, "bob-web", 5, &p1, &["web"]));
    let base = s.manifest(id);
    let with = |f: &dyn Fn(&mut ManifestMember)| {
        let mut m = base.clone();
        f(&mut m.members[0]);
        m
    };
    let cases: Vec<(Manifest, ErrorCheck)> = vec![
        // Moved to another lease of Bob's.
        (with(&|m| m.lease = lease_of(&bob, 6, &p1)), |e| {
            matches!(e, ContractError::ParticipantMemberInManifest(_))
        }),
        // Retagged or given a service.
        (with(&|m| m.tags = vec![]), |e| {
            matches!(e, ContractError::ParticipantMemberInManifest(_))
        }),
        (with(&|m| m.service = Some("svc".into())), |e| {
            matches!(e, ContractError::ParticipantMemberInManifest(_))
        }),
        // Bound to a lease of the owner's: the lease owner must stay Bob.
        (with(&|m| m.lease = lease(5, &p1)), |e| {
            matches!(e, ContractError::LeaseOwnerMismatch { .. })
        }),
        // A new member on someone else's lease.
        (
            Manifest {
                members: vec![base.members[0].clone(), {
                    let mut m = mm("new", 1, &p2, &[], None);
                    m.lease = lease_of(&bob, 1, &p2);
                    m
                }],
                ..base.clone()
            },
            |e| matches!(e, ContractError::LeaseOwnerMismatch { .. }),
        ),
    ];
    for (manifest, check) in cases {
        let err = s.reject(&owner, apply(id, manifest.clone()));
        assert!(check(&err), "{manifest:?} → {err:?}");
    }
    // The owner may still set the participant member's policy, or remove it.
    s.ok(&owner, apply(id, with(&|m| m.policy = web_policy())));
    assert_eq!(s.policy(id, "bob-web"), web_policy());
    s.ok(
        &owner,
        apply(
            id,
            Manifest {
                members: vec![],
                ..base.clone()
            },
        ),
    );
    assert!(s.members(id).is_empty());
}

#[test]
fn manifest_export_is_paged() {
    let mut s = setup();
    let owner = s.owner.clone();
    let p1 = s.p1.clone();
    let id = s.create(&owner, create_msg("big", "100.64.0.0/22"));
    let members: Vec<ManifestMember> = (0..250)
        .map(|i| mm(&format!("m{i:03}"), i, &p1, &["web"], None))
        .collect();
    s.ok(
        &owner,
        apply(
            id,
            Manifest {
                default_action: Action::Deny,
                tags: strings(&["web", "db"]),
                providers: vec![],
                members,
            },
        ),
    );
    let page = |after: Option<&str>, limit: Option<u32>| -> ManifestResponse {
        s.q(QueryMsg::Manifest {
            network_id: id,
            start_after: after.map(String::from),
            limit,
        })
        .unwrap()
    };
    // Default 30, capped at 100.
    let first = page(None, None);
    assert_eq!(first.manifest.members.len(), 30);
    assert_eq!(first.next_start_after.as_deref(), Some("m029"));
    let big = page(None, Some(1000));
    assert_eq!(big.manifest.members.len(), 100);
    let next = page(big.next_start_after.as_deref(), Some(100));
    assert_eq!(next.manifest.members[0].name, "m100");
    let last = page(Some("m199"), Some(100));
    assert_eq!(last.manifest.members.len(), 50);
    assert_eq!(last.next_start_after, None);
    // Every page carries the network settings.
    assert_eq!(last.manifest.tags, strings(&["web", "db"]));
    // A page that ends exactly at the last member points to an empty page.
    let exact = page(Some("m149"), Some(100));
    assert_eq!(exact.next_start_after.as_deref(), Some("m249"));
    let empty = page(Some("m249"), Some(100));
    assert!(empty.manifest.members.is_empty());
    assert_eq!(empty.next_start_after, None);
    assert_eq!(s.manifest(id).members.len(), 250);
}
