//! add_member, rebind_member, remove_member, IPAM through the messages,
//! participants' limits.

use super::*;
use crate::assert_err;
use crate::msg::MAX_WEIGHT;

#[test]
fn add_allocates_lowest_free_and_derives_ipv6() {
    let mut s = setup();
    let owner = s.owner.clone();
    let p1 = s.p1.clone();
    let id = s.create(
        &owner,
        ExecuteMsg::CreateNetwork {
            name: "v6".into(),
            cidr: "100.64.1.0/24".into(),
            cidr6: Some("fd00:1::/64".into()),
            default_action: None,
            tags: strings(&["web"]),
            start_time: None,
            end_time: None,
        },
    );
    let res = s.ok(
        &owner,
        ExecuteMsg::AddMember {
            network_id: id,
            name: "web-1".into(),
            lease: lease(1001, &p1),
            tags: strings(&["web"]),
            service: Some("web".into()),
            ip: None,
            weight: None,
        },
    );
    let ev = event(&res);
    assert_eq!(ev.ty, "add_member");
    assert_eq!(attr(ev, "network_id"), id.to_string());
    assert_eq!(attr(ev, "revision"), "2");
    assert_eq!(attr(ev, "providers"), p1.as_str());
    assert_eq!(attr(ev, "ip"), "100.64.1.2");
    let m = s.member(id, "web-1").unwrap();
    assert_eq!(m.ip, "100.64.1.2");
    assert_eq!(m.ip6.as_deref(), Some("fd00:1::2"));
    assert_eq!(m.lease.owner, owner.as_str());
    assert_eq!(m.service.as_deref(), Some("web"));
    assert_eq!(m.lease, lease(1001, &p1));
    // The service took the next address, from the same pool.
    let svc: crate::msg::ServiceResponse = s
        .q(QueryMsg::Service {
            network_id: id,
            name: "web".into(),
        })
        .unwrap();
    assert_eq!(
        (svc.ip.as_str(), svc.ip6.as_deref()),
        ("100.64.1.3", Some("fd00:1::3"))
    );
    assert_eq!(s.add(id, "web-2", &p1), "100.64.1.4");
    let by_ip: MemberResponse = s
        .q(QueryMsg::MemberByIp {
            network_id: id,
            ip: "100.64.1.4".into(),
        })
        .unwrap();
    assert_eq!(by_ip.name, "web-2");
    assert_err!(
        s.q::<MemberResponse>(QueryMsg::MemberByIp {
            network_id: id,
            ip: "100.64.1.9".into()
        })
        .unwrap_err(),
        ContractError::IpNotAssigned(_)
    );
    assert_eq!(s.network(id).member_count, 2);
}

#[test]
fn static_ip_is_honoured_and_skipped_by_automatic_allocation() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    s.ok(&owner, add_ip_msg(id, "fixed", &p1, "100.64.0.3"));
    assert_eq!(s.member(id, "fixed").unwrap().ip, "100.64.0.3");
    assert_eq!(s.add(id, "a", &p1), "100.64.0.2");
    assert_eq!(s.add(id, "b", &p1), "100.64.0.4");
    // Released addresses are reused, lowest first.
    for name in ["a", "fixed"] {
        s.ok(
            &owner,
            ExecuteMsg::RemoveMember {
                network_id: id,
                name: name.into(),
            },
        );
    }
    assert_eq!(s.add(id, "c", &p1), "100.64.0.2");
    assert_eq!(s.add(id, "d", &p1), "100.64.0.3");
    assert_eq!(s.add(id, "e", &p1), "100.64.0.5");
    // A released address can be requested statically.
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "c".into(),
        },
    );
    s.ok(&owner, add_ip_msg(id, "f", &p1, "100.64.0.2"));
    assert_eq!(s.member(id, "f").unwrap().ip, "100.64.0.2");
}

#[test]
fn add_rejects_bad_requested_ips() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    s.ok(&owner, add_ip_msg(id, "taken", &p1, "100.64.0.7"));
    s.add(id, "auto", &p1);
    let cases: Vec<(&str, ErrorCheck)> = vec![
        ("100.64.1.5", |e| {
            matches!(e, ContractError::IpOutsideCidr { .. })
        }),
        ("10.0.0.1", |e| {
            matches!(e, ContractError::IpOutsideCidr { .. })
        }),
        ("100.64.0.0", |e| matches!(e, ContractError::IpReserved(_))),
        ("100.64.0.1", |e| matches!(e, ContractError::IpReserved(_))),
        ("100.64.0.255", |e| {
            matches!(e, ContractError::IpReserved(_))
        }),
        ("100.64.0.7", |e| matches!(e, ContractError::IpTaken(_))),
        ("100.64.0.2", |e| matches!(e, ContractError::IpTaken(_))),
        ("100.64.0", |e| matches!(e, ContractError::InvalidIp(_))),
        ("fd00::1", |e| matches!(e, ContractError::InvalidIp(_))),
        ("100.64.0.07", |e| matches!(e, ContractError::InvalidIp(_))),
    ];
    for (ip, check) in cases {
        let err = s.reject(&owner, add_ip_msg(id, "new", &p1, ip));
        assert!(check(&err), "{ip} → {err:?}");
    }
}

#[test]
fn exhausted_pool_is_rejected_until_an_address_is_released() {
    let mut s = setup();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    // /29: 8 addresses, 5 usable (.2 - .6).
    let id = s.create(&owner, create_msg("small", "100.64.0.0/29"));
    for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        assert_eq!(s.add(id, name, &p1), format!("100.64.0.{}", i + 2));
    }
    assert_err!(
        s.reject(&owner, add_msg(id, "f", 1, &p1, &[])),
        ContractError::PoolExhausted(_)
    );
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "c".into(),
        },
    );
    assert_eq!(s.add(id, "f", &p1), "100.64.0.4");
    // /30: exactly one member.
    let tiny = s.create(&owner, create_msg("tiny", "100.64.0.0/30"));
    assert_eq!(s.add(tiny, "only", &p1), "100.64.0.2");
    assert_err!(
        s.reject(&owner, add_msg(tiny, "more", 1, &p1, &[])),
        ContractError::PoolExhausted(_)
    );
}

#[test]
fn add_rejects_bad_input_and_limits() {
    let mut s = setup_with(Some(Params {
        max_members_per_network: 2,
        max_members_per_participant: 2,
        max_tags: 2,
        ..Params::default()
    }));
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    s.add(id, "a", &p1);
    let bad_provider = ExecuteMsg::AddMember {
        network_id: id,
        name: "x".into(),
        lease: LeaseId {
            provider: "cosmos1notakash".into(),
            ..lease(1, &p1)
        },
        tags: vec![],
        service: None,
        ip: None,
        weight: None,
    };
    let bad_service = ExecuteMsg::AddMember {
        network_id: id,
        name: "x".into(),
        lease: lease(1, &p1),
        tags: vec![],
        service: Some("Bad Service".into()),
        ip: None,
        weight: None,
    };
    let cases: Vec<(ExecuteMsg, ErrorCheck)> = vec![
        (add_msg(id, "a", 1, &p1, &[]), |e| {
            matches!(e, ContractError::MemberExists(_))
        }),
        (add_msg(id, "A", 1, &p1, &[]), |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (add_msg(id, &"m".repeat(65), 1, &p1, &[]), |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (add_msg(id, "x", 1, &p1, &["cache"]), |e| {
            matches!(e, ContractError::UnknownTag(_))
        }),
        (add_msg(id, "x", 1, &p1, &["web", "web"]), |e| {
            matches!(e, ContractError::Duplicate { .. })
        }),
        (add_msg(id, "x", 1, &p1, &["web", "db", "web"]), |e| {
            matches!(e, ContractError::TooMany { got: 3, .. })
        }),
        (bad_provider, |e| {
            matches!(e, ContractError::InvalidAddress(_))
        }),
        (bad_service, |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (add_msg(42, "x", 1, &p1, &[]), |e| {
            matches!(e, ContractError::NetworkNotFound(42))
        }),
    ];
    for (msg, check) in cases {
        let err = s.reject(&owner, msg.clone());
        assert!(check(&err), "{msg:?} → {err:?}");
    }
    s.add(id, "b", &p1);
    assert_err!(
        s.reject(&owner, add_msg(id, "c", 1, &p1, &[])),
        ContractError::TooManyMembers { max: 2, .. }
    );
}

/// A weight beyond [`MAX_WEIGHT`] is refused with `InvalidWeight`, on add
/// and in a manifest, and writes nothing; the maximum is accepted, and 0 is
/// stored as no weight.
#[test]
fn weights_out_of_range_are_a_typed_error() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    let weighted = |name: &str, dseq: u64, weight: Option<u32>| {
        let mut msg = add_msg(id, name, dseq, &p1, &[]);
        if let ExecuteMsg::AddMember { weight: w, .. } = &mut msg {
            *w = weight;
        }
        msg
    };
    for bad in [MAX_WEIGHT + 1, u32::MAX] {
        assert_err!(
            s.reject(&owner, weighted("a", 1, Some(bad))),
            ContractError::InvalidWeight { got, max } if *got == bad && *max == MAX_WEIGHT
        );
    }
    s.ok(&owner, weighted("a", 1, Some(MAX_WEIGHT)));
    s.ok(&owner, weighted("b", 2, Some(0)));
    assert_eq!(s.member(id, "a").unwrap().weight, Some(MAX_WEIGHT));
    assert_eq!(s.member(id, "b").unwrap().weight, None);
    let mut manifest = s.manifest(id);
    manifest.members[1].weight = Some(MAX_WEIGHT + 1);
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::ApplyManifest {
                network_id: id,
                manifest,
            },
        ),
        ContractError::InvalidWeight { got, .. } if *got == MAX_WEIGHT + 1
    );
}

#[test]
fn outsiders_cannot_touch_members() {
    let mut s = setup();
    let id = s.net();
    let (mallory, p1) = (s.mallory.clone(), s.p1.clone());
    s.add(id, "a", &p1);
    let msgs = vec![
        add_msg(id, "evil", 1, &p1, &[]),
        ExecuteMsg::RebindMember {
            network_id: id,
            name: "a".into(),
            lease: lease(66, &mallory),
        },
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "a".into(),
        },
        ExecuteMsg::SetPolicy {
            network_id: id,
            name: "a".into(),
            policy: Policy::default(),
        },
        ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: mallory.to_string(),
        },
        ExecuteMsg::RevokeProvider {
            network_id: id,
            provider: p1.to_string(),
        },
    ];
    for msg in msgs {
        assert_err!(s.reject(&mallory, msg), ContractError::Unauthorized);
    }
}

#[test]
fn rebind_keeps_ip_and_moves_hosting() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1, p2) = (s.owner.clone(), s.p1.clone(), s.p2.clone());
    let ip = s.add(id, "redis", &p1);
    s.add(id, "other", &p1);
    let res = s.ok(
        &owner,
        ExecuteMsg::RebindMember {
            network_id: id,
            name: "redis".into(),
            lease: lease(2002, &p2),
        },
    );
    let ev = event(&res);
    assert_eq!(ev.ty, "rebind_member");
    let mut both = [p1.to_string(), p2.to_string()];
    both.sort();
    assert_eq!(attr(ev, "providers"), both.join(","));
    let m = s.member(id, "redis").unwrap();
    assert_eq!(m.ip, ip);
    assert_eq!(m.lease, lease(2002, &p2));
    assert_eq!(s.view(&p1), vec![id]);
    assert_eq!(s.view(&p2), vec![id]);
    // Moving the last member away from p1 drops the network from its view.
    s.ok(
        &owner,
        ExecuteMsg::RebindMember {
            network_id: id,
            name: "other".into(),
            lease: lease(2003, &p2),
        },
    );
    assert!(s.view(&p1).is_empty());
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RebindMember {
                network_id: id,
                name: "ghost".into(),
                lease: lease(1, &p1),
            }
        ),
        ContractError::MemberNotFound(_)
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RebindMember {
                network_id: id,
                name: "redis".into(),
                lease: LeaseId {
                    provider: "not-an-address".into(),
                    ..lease(1, &p1)
                },
            }
        ),
        ContractError::InvalidAddress(_)
    );
}

#[test]
fn remove_releases_ip_and_policy() {
    let mut s = setup();
    let id = s.net();
    let (owner, p1) = (s.owner.clone(), s.p1.clone());
    s.add(id, "a", &p1);
    let res = s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "a".into(),
        },
    );
    assert_eq!(event(&res).ty, "remove_member");
    assert_eq!(attr(event(&res), "providers"), p1.as_str());
    assert_err!(
        s.member(id, "a").unwrap_err(),
        ContractError::MemberNotFound(_)
    );
    assert!(s.view(&p1).is_empty());
    assert_eq!(s.network(id).member_count, 0);
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RemoveMember {
                network_id: id,
                name: "a".into()
            }
        ),
        ContractError::MemberNotFound(_)
    );
}

#[test]
fn participant_adds_only_granted_tags_and_manages_only_its_members() {
    let mut s = setup();
    let id = s.net();
    let (owner, bob, mallory, p1, p2) = (
        s.owner.clone(),
        s.bob.clone(),
        s.mallory.clone(),
        s.p1.clone(),
        s.p2.clone(),
    );
    s.add(id, "owners", &p1);
    s.authorize(id, &p2);
    s.join(id, &bob, &["web"]);
    // Mallory joins too, with the db tag.
    let key = Key::Ed(ed_key(21));
    let inv = s.invite(id, &key, 1, &["db"]);
    let claim = s.claim_msg(id, inv, &key, &mallory);
    s.ok(&mallory, claim);

    let res = s.ok(&bob, add_msg_by(&bob, id, "bob-web", 5, &p2, &["web"]));
    assert_eq!(attr(event(&res), "ip"), "100.64.0.3");
    assert_eq!(s.member(id, "bob-web").unwrap().lease.owner, bob.as_str());
    assert_err!(
        s.reject(&bob, add_msg_by(&bob, id, "bob-plain", 6, &p2, &[])),
        ContractError::ParticipantMemberUntagged
    );
    s.ok(
        &mallory,
        add_msg_by(&mallory, id, "mal-db", 7, &p2, &["db"]),
    );
    assert_err!(
        s.reject(&bob, add_msg_by(&bob, id, "bob-db", 5, &p2, &["db"])),
        ContractError::TagNotGranted(t) if t == "db"
    );
    assert_err!(
        s.reject(&bob, add_msg_by(&bob, id, "bob-x", 5, &p2, &["web", "db"])),
        ContractError::TagNotGranted(_)
    );
    // Bob cannot manage the owner's or Mallory's members.
    for name in ["owners", "mal-db"] {
        let msgs = vec![
            ExecuteMsg::RebindMember {
                network_id: id,
                name: name.into(),
                lease: lease_of(&bob, 9, &p2),
            },
            ExecuteMsg::RemoveMember {
                network_id: id,
                name: name.into(),
            },
            ExecuteMsg::SetPolicy {
                network_id: id,
                name: name.into(),
                policy: Policy::default(),
            },
        ];
        for msg in msgs {
            assert_err!(s.reject(&bob, msg), ContractError::Unauthorized);
        }
    }
    // Participants cannot do owner things.
    let owner_only = vec![
        ExecuteMsg::CloseNetwork { network_id: id },
        ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p2.to_string(),
        },
        ExecuteMsg::RemoveParticipant {
            network_id: id,
            participant: mallory.to_string(),
        },
        ExecuteMsg::RevokeInvitation {
            network_id: id,
            invitation_id: inv,
        },
    ];
    for msg in owner_only {
        assert_err!(s.reject(&bob, msg), ContractError::Unauthorized);
    }
    // Bob manages his own member, on authorized providers only; the owner
    // removes anyone's.
    assert_err!(
        s.reject(
            &bob,
            ExecuteMsg::RebindMember {
                network_id: id,
                name: "bob-web".into(),
                lease: lease_of(&bob, 8, &p1),
            }
        ),
        ContractError::ProviderNotAllowed(p) if p == p1.as_str()
    );
    s.ok(
        &bob,
        ExecuteMsg::RebindMember {
            network_id: id,
            name: "bob-web".into(),
            lease: lease_of(&bob, 8, &p2),
        },
    );
    assert_eq!(s.member(id, "bob-web").unwrap().ip, "100.64.0.3");
    s.ok(
        &bob,
        ExecuteMsg::SetPolicy {
            network_id: id,
            name: "bob-web".into(),
            policy: Policy::default(),
        },
    );
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "mal-db".into(),
        },
    );
    s.ok(
        &bob,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "bob-web".into(),
        },
    );
    assert_eq!(s.members(id).len(), 1);
}

#[test]
fn participant_member_counts_follow_adds_and_removals() {
    let mut s = setup();
    let id = s.net();
    let (owner, bob, p1) = (s.owner.clone(), s.bob.clone(), s.p1.clone());
    s.authorize(id, &p1);
    let key = Key::Ed(ed_key(4));
    let inv = s.invite_with(id, &key, 1, &["web"], Some(2));
    let claim = s.claim_msg(id, inv, &key, &bob);
    s.ok(&bob, claim);
    let count = |s: &Setup| {
        let r: crate::msg::ParticipantsResponse = s
            .q(QueryMsg::Participants {
                network_id: id,
                start_after: None,
                limit: None,
            })
            .unwrap();
        (
            r.participants[0].member_count,
            r.participants[0].max_members,
        )
    };
    assert_eq!(count(&s), (0, 2));
    s.ok(&bob, add_msg_by(&bob, id, "b1", 1, &p1, &["web"]));
    s.ok(&bob, add_msg_by(&bob, id, "b2", 2, &p1, &["web"]));
    assert_eq!(count(&s), (2, 2));
    // The owner removing one of Bob's members frees a slot of his quota.
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "b1".into(),
        },
    );
    assert_eq!(count(&s), (1, 2));
    s.ok(&bob, add_msg_by(&bob, id, "b3", 3, &p1, &["web"]));
    // So does a manifest that leaves his member out.
    let mut m = s.manifest(id);
    m.members.retain(|m| m.name != "b2");
    s.ok(
        &owner,
        ExecuteMsg::ApplyManifest {
            network_id: id,
            manifest: m,
        },
    );
    assert_eq!(count(&s), (1, 2));
}

#[test]
fn pagination_is_capped() {
    let mut s = setup_with(Some(Params {
        max_query_limit: 3,
        default_query_limit: 2,
        ..Params::default()
    }));
    let id = s.net();
    let p1 = s.p1.clone();
    for name in ["a", "b", "c", "d", "e"] {
        s.add(id, name, &p1);
    }
    let page = |s: &Setup, after: Option<&str>, limit: Option<u32>| -> Vec<String> {
        let r: MembersResponse = s
            .q(QueryMsg::Members {
                network_id: id,
                start_after: after.map(String::from),
                limit,
            })
            .unwrap();
        r.members.into_iter().map(|m| m.name).collect()
    };
    assert_eq!(page(&s, None, None), strings(&["a", "b"]));
    assert_eq!(page(&s, None, Some(50)), strings(&["a", "b", "c"]));
    assert_eq!(page(&s, Some("c"), Some(50)), strings(&["d", "e"]));
}
