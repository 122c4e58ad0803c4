//! create_network, update_network, close_network.

use cosmwasm_std::Timestamp;

use super::*;
use crate::assert_err;
use crate::msg::{Action, NetworkStatus, NetworksResponse, Peers, Protocol, Rule};

fn create_full(cidr: &str, cidr6: Option<&str>) -> ExecuteMsg {
    ExecuteMsg::CreateNetwork {
        name: "full".into(),
        cidr: cidr.into(),
        cidr6: cidr6.map(String::from),
        default_action: Some(Action::Allow),
        tags: strings(&["web"]),
        start_time: None,
        end_time: None,
    }
}

#[test]
fn create_records_network_and_emits_event() {
    let mut s = setup();
    let owner = s.owner.clone();
    let res = s.ok(&owner, create_msg("demo", "100.64.0.0/24"));
    let ev = event(&res);
    assert_eq!(ev.ty, "create_network");
    assert_eq!(attr(ev, "network_id"), "1");
    assert_eq!(attr(ev, "revision"), "1");
    assert_eq!(attr(ev, "providers"), "");
    let n = s.network(1);
    assert_eq!(n.owner, owner);
    assert_eq!(n.name, "demo");
    assert_eq!(n.cidr, "100.64.0.0/24");
    assert_eq!(n.default_action, Action::Deny);
    assert_eq!(n.status, NetworkStatus::Open);
    assert_eq!(n.member_count, 0);
    assert_eq!(n.created_at, Timestamp::from_seconds(T0));
    let id2 = s.create(&owner, create_full("100.64.0.0/24", Some("fd00:1::/64")));
    assert_eq!(id2, 2);
    let n2 = s.network(2);
    assert_eq!(n2.cidr6.as_deref(), Some("fd00:1::/64"));
    assert_eq!(n2.default_action, Action::Allow);
    let list: NetworksResponse = s
        .q(QueryMsg::NetworksByOwner {
            owner: owner.to_string(),
            start_after: Some(1),
            limit: None,
        })
        .unwrap();
    assert_eq!(list.networks.len(), 1);
    assert_eq!(list.networks[0].id, 2);
}

#[test]
fn same_cidr_and_name_for_different_owners() {
    let mut s = setup();
    let (owner, bob) = (s.owner.clone(), s.bob.clone());
    let a = s.create(&owner, create_msg("demo", "100.64.0.0/24"));
    let b = s.create(&bob, create_msg("demo", "100.64.0.0/24"));
    let p1 = s.p1.clone();
    let ip_a = s.add(a, "x", &p1);
    let res = s.ok(&bob, add_msg_by(&bob, b, "x", 1, &p1, &[]));
    assert_eq!(ip_a, "100.64.0.2");
    assert_eq!(attr(event(&res), "ip"), "100.64.0.2");
    assert_eq!(s.view(&p1), vec![a, b]);
}

#[test]
fn create_rejects_bad_input() {
    let mut s = setup();
    let owner = s.owner.clone();
    s.net();
    let cases: Vec<(ExecuteMsg, ErrorCheck)> = vec![
        (create_msg("Demo", "100.64.0.0/24"), |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (create_msg("", "100.64.0.0/24"), |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (create_msg("-x", "100.64.0.0/24"), |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (create_msg(&"a".repeat(65), "100.64.0.0/24"), |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (create_msg("a b", "100.64.0.0/24"), |e| {
            matches!(e, ContractError::InvalidName { .. })
        }),
        (create_msg("demo", "100.64.0.0/24"), |e| {
            matches!(e, ContractError::DuplicateNetworkName(_))
        }),
        (create_msg("x", "100.64.0.0"), |e| {
            matches!(e, ContractError::InvalidCidr(_))
        }),
        (create_msg("x", "garbage"), |e| {
            matches!(e, ContractError::InvalidCidr(_))
        }),
        (create_msg("x", "100.64.0.0/33"), |e| {
            matches!(e, ContractError::InvalidCidr(_))
        }),
        (create_msg("x", "100.64.0.256/24"), |e| {
            matches!(e, ContractError::InvalidCidr(_))
        }),
        (create_msg("x", "fd00::/64"), |e| {
            matches!(e, ContractError::InvalidCidr(_))
        }),
        (create_msg("x", "100.64.0.1/24"), |e| {
            matches!(e, ContractError::HostBitsSet(_))
        }),
        (create_msg("x", "100.64.0.0/31"), |e| {
            matches!(e, ContractError::PrefixOutOfRange { got: 31, .. })
        }),
        (create_msg("x", "100.0.0.0/7"), |e| {
            matches!(e, ContractError::PrefixOutOfRange { got: 7, .. })
        }),
        (create_full("100.64.0.0/24", Some("fd00:1::1/64")), |e| {
            matches!(e, ContractError::HostBitsSet(_))
        }),
        (create_full("100.64.0.0/24", Some("100.64.0.0/24")), |e| {
            matches!(e, ContractError::InvalidCidr(_))
        }),
        (create_full("100.64.0.0/24", Some("fd00::/16")), |e| {
            matches!(e, ContractError::PrefixOutOfRange { got: 16, .. })
        }),
        (create_full("100.64.0.0/16", Some("fd00::/120")), |e| {
            matches!(e, ContractError::Ipv6TooSmall { needed: 16, .. })
        }),
        (
            ExecuteMsg::CreateNetwork {
                name: "x".into(),
                cidr: "100.64.0.0/24".into(),
                cidr6: None,
                default_action: None,
                tags: strings(&["web", "web"]),
                start_time: None,
                end_time: None,
            },
            |e| matches!(e, ContractError::Duplicate { .. }),
        ),
        (
            ExecuteMsg::CreateNetwork {
                name: "x".into(),
                cidr: "100.64.0.0/24".into(),
                cidr6: None,
                default_action: None,
                tags: (0..17).map(|i| format!("t{i}")).collect(),
                start_time: None,
                end_time: None,
            },
            |e| matches!(e, ContractError::TooMany { got: 17, .. }),
        ),
        (
            ExecuteMsg::CreateNetwork {
                name: "x".into(),
                cidr: "100.64.0.0/24".into(),
                cidr6: None,
                default_action: None,
                tags: strings(&["Web"]),
                start_time: None,
                end_time: None,
            },
            |e| matches!(e, ContractError::InvalidName { .. }),
        ),
        (
            ExecuteMsg::CreateNetwork {
                name: "x".into(),
                cidr: "100.64.0.0/24".into(),
                cidr6: None,
                default_action: None,
                tags: vec![],
                start_time: Some(Timestamp::from_seconds(T0 + 100)),
                end_time: Some(Timestamp::from_seconds(T0 + 100)),
            },
            |e| matches!(e, ContractError::InvalidTimeWindow),
        ),
        (
            ExecuteMsg::CreateNetwork {
                name: "x".into(),
                cidr: "100.64.0.0/24".into(),
                cidr6: None,
                default_action: None,
                tags: vec![],
                start_time: None,
                end_time: Some(Timestamp::from_seconds(T0)),
            },
            |e| matches!(e, ContractError::EndInPast { .. }),
        ),
    ];
    for (msg, check) in cases {
        let err = s.reject(&owner, msg.clone());
        assert!(check(&err), "{msg:?} → {err:?}");
    }
}

#[test]
fn create_limits_open_networks_per_owner() {
    let mut s = setup_with(Some(Params {
        max_networks_per_owner: 2,
        ..Params::default()
    }));
    let (owner, bob) = (s.owner.clone(), s.bob.clone());
    let a = s.create(&owner, create_msg("a", "100.64.0.0/24"));
    s.create(&owner, create_msg("b", "100.64.0.0/24"));
    assert_err!(
        s.reject(&owner, create_msg("c", "100.64.0.0/24")),
        ContractError::TooManyNetworks(2)
    );
    s.create(&bob, create_msg("c", "100.64.0.0/24"));
    s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: a });
    // Closing frees both the slot and the name.
    s.create(&owner, create_msg("a", "100.64.0.0/24"));
}

#[test]
fn update_changes_fields_and_bumps_revision() {
    let mut s = setup();
    let id = s.net();
    let owner = s.owner.clone();
    let res = s.ok(
        &owner,
        ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: Some(Action::Allow),
            tags: Some(strings(&["web", "cache"])),
            start_time: None,
            end_time: Some(Timestamp::from_seconds(T0 + 10)),
        },
    );
    assert_eq!(event(&res).ty, "update_network");
    assert_eq!(attr(event(&res), "revision"), "2");
    let n = s.network(id);
    assert_eq!(n.default_action, Action::Allow);
    assert_eq!(n.tags, strings(&["web", "cache"]));
    assert_eq!(n.end_time, Some(Timestamp::from_seconds(T0 + 10)));
    assert_eq!(n.revision, 2);
}

#[test]
fn update_rejects_outsiders_bad_windows_and_removing_used_tags() {
    let mut s = setup();
    let id = s.net();
    let (owner, mallory) = (s.owner.clone(), s.mallory.clone());
    let upd = |tags: &[&str]| ExecuteMsg::UpdateNetwork {
        network_id: id,
        default_action: None,
        tags: Some(strings(tags)),
        start_time: None,
        end_time: None,
    };
    assert_err!(
        s.reject(&mallory, upd(&["web"])),
        ContractError::Unauthorized
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::UpdateNetwork {
                network_id: 99,
                default_action: None,
                tags: None,
                start_time: None,
                end_time: None,
            }
        ),
        ContractError::NetworkNotFound(99)
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::UpdateNetwork {
                network_id: id,
                default_action: None,
                tags: None,
                start_time: Some(Timestamp::from_seconds(T0 + 50)),
                end_time: Some(Timestamp::from_seconds(T0 + 20)),
            }
        ),
        ContractError::InvalidTimeWindow
    );
    assert_err!(
        s.reject(&owner, upd(&["web", "web"])),
        ContractError::Duplicate { .. }
    );
    // A member tag keeps "web" in the vocabulary.
    let p1 = s.p1.clone();
    s.ok(&owner, add_msg(id, "a", 1, &p1, &["web"]));
    assert_err!(s.reject(&owner, upd(&["db"])), ContractError::TagInUse(t) if t == "web");
    // A rule tag keeps "db".
    s.ok(
        &owner,
        ExecuteMsg::SetPolicy {
            network_id: id,
            name: "a".into(),
            policy: Policy {
                ingress: vec![Rule {
                    peers: Peers::Tags(strings(&["db"])),
                    protocol: Protocol::Tcp,
                    ports: None,
                    action: Action::Allow,
                }],
                egress: vec![],
            },
        },
    );
    assert_err!(s.reject(&owner, upd(&["web"])), ContractError::TagInUse(t) if t == "db");
    // Once unused, they can go.
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "a".into(),
        },
    );
    s.ok(&owner, upd(&["other"]));
    // An invitation grant keeps a tag.
    let key = Key::Ed(ed_key(1));
    s.invite(id, &key, 1, &["other"]);
    assert_err!(s.reject(&owner, upd(&[])), ContractError::TagInUse(t) if t == "other");
}

#[test]
fn close_removes_everything_and_frees_name() {
    let mut s = setup();
    let id = s.net();
    let (owner, bob, p1, p2) = (s.owner.clone(), s.bob.clone(), s.p1.clone(), s.p2.clone());
    s.add(id, "a", &p1);
    s.add(id, "b", &p1);
    s.ok(
        &owner,
        ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p2.to_string(),
        },
    );
    s.join(id, &bob, &["web"]);
    s.ok(&bob, add_msg_by(&bob, id, "bob-1", 7, &p2, &["web"]));
    let before_other = {
        // A second network of the same owner must be untouched.
        let other = s.create(&owner, create_msg("other", "100.64.0.0/24"));
        s.add(other, "a", &p1);
        other
    };
    let other_members = s.members(before_other);
    let mallory = s.mallory.clone();
    assert_err!(
        s.reject(&mallory, ExecuteMsg::CloseNetwork { network_id: id }),
        ContractError::Unauthorized
    );
    assert_err!(
        s.reject(&bob, ExecuteMsg::CloseNetwork { network_id: id }),
        ContractError::Unauthorized
    );
    let res = s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: id });
    let ev = event(&res);
    assert_eq!(ev.ty, "close_network");
    let mut all = [p1.to_string(), p2.to_string()];
    all.sort();
    assert_eq!(attr(ev, "providers"), all.join(","));
    // A small network is deleted by close itself.
    assert_eq!(attr(ev, "remaining"), "false");
    let n = s.network(id);
    assert_eq!(n.status, NetworkStatus::Closed);
    assert_eq!(n.member_count, 0);
    assert!(s.members(id).is_empty());
    assert_eq!(s.view(&p1), vec![before_other]);
    assert!(s.view(&p2).is_empty());
    assert_eq!(s.members(before_other), other_members);
    // Nothing keyed by the closed network remains except its record, the
    // owner index entry and Bob's claim (a claim works once).
    let id_key = id.to_be_bytes();
    let leftovers: Vec<String> = snapshot(&s.deps.storage)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.windows(8).any(|w| w == id_key))
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .collect();
    assert_eq!(leftovers.len(), 3, "{leftovers:?}");
    assert!(
        leftovers.iter().any(|k| k.contains("claims")),
        "{leftovers:?}"
    );
    // Every message on a closed network is rejected.
    let closed: Vec<ExecuteMsg> = vec![
        ExecuteMsg::CloseNetwork { network_id: id },
        add_msg(id, "c", 1, &p1, &[]),
        ExecuteMsg::RebindMember {
            network_id: id,
            name: "a".into(),
            lease: lease(2, &p1),
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
        ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: Some(Action::Allow),
            tags: None,
            start_time: None,
            end_time: None,
        },
        ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p1.to_string(),
        },
        ExecuteMsg::RevokeProvider {
            network_id: id,
            provider: p2.to_string(),
        },
        ExecuteMsg::CreateInvitation {
            network_id: id,
            pubkey: ed_pub(&ed_key(1)),
            key_type: KeyType::Ed25519,
            expires: Timestamp::from_seconds(T0 + 100),
            max_uses: 1,
            tags: strings(&["web"]),
            max_members: None,
        },
        ExecuteMsg::RevokeInvitation {
            network_id: id,
            invitation_id: 1,
        },
        ExecuteMsg::RemoveParticipant {
            network_id: id,
            participant: bob.to_string(),
        },
        ExecuteMsg::LeaveNetwork { network_id: id },
        ExecuteMsg::ApplyManifest {
            network_id: id,
            manifest: crate::msg::Manifest {
                default_action: Action::Deny,
                tags: vec![],
                providers: vec![],
                members: vec![],
            },
        },
    ];
    for msg in closed {
        assert_err!(s.reject(&owner, msg), ContractError::NetworkClosed(_));
    }
    assert_err!(
        s.reject(&bob, ExecuteMsg::LeaveNetwork { network_id: id }),
        ContractError::NetworkClosed(_)
    );
    let key = Key::Ed(ed_key(3));
    let claim = s.claim_msg(id, 1, &key, &mallory);
    assert_err!(s.reject(&mallory, claim), ContractError::NetworkClosed(_));
    // The name is free again, the closed network still listed.
    s.create(&owner, create_msg("demo", "100.64.0.0/24"));
    let list: NetworksResponse = s
        .q(QueryMsg::NetworksByOwner {
            owner: owner.to_string(),
            start_after: None,
            limit: None,
        })
        .unwrap();
    assert_eq!(list.networks.len(), 3);
}

#[test]
fn time_box_gates_every_change_but_update_close_and_purge() {
    let mut s = setup();
    let (owner, bob, p1) = (s.owner.clone(), s.bob.clone(), s.p1.clone());
    let id = s.create(
        &owner,
        ExecuteMsg::CreateNetwork {
            name: "boxed".into(),
            cidr: "100.64.0.0/24".into(),
            cidr6: None,
            default_action: None,
            tags: strings(&["web"]),
            start_time: Some(Timestamp::from_seconds(T0 + 100)),
            end_time: Some(Timestamp::from_seconds(T0 + 200)),
        },
    );
    let manifest = crate::msg::Manifest {
        default_action: Action::Deny,
        tags: strings(&["web"]),
        providers: vec![],
        members: vec![],
    };
    let key = Key::Ed(ed_key(5));
    // Not started yet: nothing can be prepared either.
    let before_start = vec![
        add_msg(id, "a", 1, &p1, &[]),
        ExecuteMsg::ApplyManifest {
            network_id: id,
            manifest: manifest.clone(),
        },
        ExecuteMsg::AuthorizeProvider {
            network_id: id,
            provider: p1.to_string(),
        },
        ExecuteMsg::CreateInvitation {
            network_id: id,
            pubkey: key.public(),
            key_type: key.key_type(),
            expires: Timestamp::from_seconds(T0 + 150),
            max_uses: 2,
            tags: strings(&["web"]),
            max_members: None,
        },
    ];
    for msg in before_start {
        assert_err!(
            s.reject(&owner, msg),
            ContractError::NotStarted { id: i, start } if *i == id && start.seconds() == T0 + 100
        );
    }
    // Running.
    s.now = T0 + 100;
    s.add(id, "a", &p1);
    let inv = s.invite(id, &key, 2, &["web"]);
    let claim = s.claim_msg(id, inv, &key, &bob);
    s.ok(&bob, claim);
    // Ended (end is exclusive): members can no longer be changed or removed.
    s.now = T0 + 200;
    assert_err!(
        s.reject(&owner, add_msg(id, "b", 1, &p1, &[])),
        ContractError::Ended { .. }
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RebindMember {
                network_id: id,
                name: "a".into(),
                lease: lease(2, &p1),
            }
        ),
        ContractError::Ended { .. }
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RemoveMember {
                network_id: id,
                name: "a".into(),
            }
        ),
        ContractError::Ended { .. }
    );
    assert_err!(
        s.reject(&bob, ExecuteMsg::LeaveNetwork { network_id: id }),
        ContractError::Ended { .. }
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::ApplyManifest {
                network_id: id,
                manifest
            }
        ),
        ContractError::Ended { .. }
    );
    // The owner may move the window (update_network is not time-boxed) ...
    s.ok(
        &owner,
        ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: None,
            tags: None,
            start_time: None,
            end_time: Some(Timestamp::from_seconds(T0 + 300)),
        },
    );
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "a".into(),
        },
    );
    // ... and close after the end.
    s.now = T0 + 400;
    s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: id });
}

#[test]
fn queries_on_unknown_network_fail() {
    let s = setup();
    assert_err!(
        s.q::<NetworkResponse>(QueryMsg::Network { network_id: 5 })
            .unwrap_err(),
        ContractError::NetworkNotFound(5)
    );
    assert_err!(
        s.q::<MembersResponse>(QueryMsg::Members {
            network_id: 5,
            start_after: None,
            limit: None
        })
        .unwrap_err(),
        ContractError::NetworkNotFound(5)
    );
}
