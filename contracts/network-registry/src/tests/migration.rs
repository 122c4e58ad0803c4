//! `migrate` from 0.1: a state built by the contract is rewritten record by
//! record into the 0.1 shapes (raw storage writes of the old JSON: members
//! with `added_by` and a lease without owner and bseq, invitations without
//! `max_members`, participants without counts, params without
//! `max_members_per_participant`, no lease index, no authorized index, no
//! claims, no participant index, cw2 version 0.1.0); after `migrate` every query must answer as
//! before, and the new checks must work on the migrated records.

use cosmwasm_std::{Order, Storage};
use serde_json::json;

use super::*;
use crate::assert_err;
use crate::contract::{CONTRACT_NAME, CONTRACT_VERSION, migrate};
use crate::msg::{Action, MigrateMsg, Peers, Protocol, Rule};
use crate::state::{
    AUTHORIZED, CLAIMS, INVITATIONS, IPS, LEASE_MEMBERS, MEMBERS, PARAMS, PARTICIPANT_NETWORKS,
    PARTICIPANTS, RELEASED, SERVICES,
};

/// Writes `value` as the raw JSON of `key`.
fn put(storage: &mut dyn Storage, key: &[u8], value: serde_json::Value) {
    storage.set(key, &serde_json::to_vec(&value).unwrap());
}

/// Rewrites the contract's state into the 0.1 layout.
fn downgrade_to_v1(storage: &mut dyn Storage) {
    let members: Vec<((u64, String), crate::state::Member)> = MEMBERS
        .range(storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    for ((id, name), m) in members {
        assert_eq!(m.lease.bseq, 0, "0.1 had no bseq");
        put(
            storage,
            &MEMBERS.key((id, &name)),
            json!({
                "offset": m.offset,
                "lease": {
                    "dseq": m.lease.dseq,
                    "gseq": m.lease.gseq,
                    "oseq": m.lease.oseq,
                    "provider": m.lease.provider,
                },
                "added_by": m.lease.owner,
                "tags": m.tags,
                "service": m.service,
            }),
        );
    }
    let invitations: Vec<((u64, u64), crate::state::Invitation)> = INVITATIONS
        .range(storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    for ((id, inv), i) in invitations {
        put(
            storage,
            &INVITATIONS.key((id, inv)),
            json!({
                "pubkey": i.pubkey,
                "key_type": i.key_type,
                "expires": i.expires,
                "max_uses": i.max_uses,
                "uses": i.uses,
                "tags": i.tags,
            }),
        );
    }
    let participants: Vec<((u64, Addr), crate::state::Participant)> = PARTICIPANTS
        .range(storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    for ((id, addr), p) in participants {
        put(
            storage,
            &PARTICIPANTS.key((id, &addr)),
            json!({
                "invitation_id": p.invitation_id,
                "tags": p.tags,
                "joined_at": p.joined_at,
            }),
        );
    }
    let mut params = serde_json::to_value(PARAMS.load(storage).unwrap()).unwrap();
    params
        .as_object_mut()
        .unwrap()
        .remove("max_members_per_participant")
        .unwrap();
    put(storage, PARAMS.as_slice(), params);
    // Indexes 0.2 added.
    let lease_keys: Vec<(String, u64, String)> = LEASE_MEMBERS
        .keys(storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    for (k, id, name) in lease_keys {
        LEASE_MEMBERS.remove(storage, (&k, id, &name));
    }
    let authorized: Vec<(u64, Addr)> = AUTHORIZED
        .keys(storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    for (id, p) in authorized {
        AUTHORIZED.remove(storage, (id, &p));
    }
    let claims: Vec<(u64, u64, Addr)> = CLAIMS
        .keys(storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    for (id, inv, who) in claims {
        CLAIMS.remove(storage, (id, inv, &who));
    }
    drop_participant_index(storage);
    drop_services(storage);
    cw2::set_contract_version(storage, CONTRACT_NAME, "0.1.0").unwrap();
}

/// Removes the participant → networks index 0.3 added.
fn drop_participant_index(storage: &mut dyn Storage) {
    let keys: Vec<(Addr, u64)> = PARTICIPANT_NETWORKS
        .keys(storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    assert!(!keys.is_empty(), "the populated state has participants");
    for (who, id) in keys {
        PARTICIPANT_NETWORKS.remove(storage, (&who, id));
    }
}

/// Removes the service records 0.4 added; their addresses go back to the
/// IPAM as 0.3 would have them (released below the cursor).
fn drop_services(storage: &mut dyn Storage) {
    let services: Vec<((u64, String), crate::state::Service)> = SERVICES
        .range(storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    assert!(!services.is_empty(), "the populated state has services");
    for ((id, name), svc) in services {
        SERVICES.remove(storage, (id, &name));
        IPS.remove(storage, (id, svc.offset));
        RELEASED.save(storage, (id, svc.offset), &()).unwrap();
    }
}

/// Storage without the claims (0.1 kept none, so migrate cannot restore them).
fn without_claims(storage: &dyn Storage) -> Vec<(Vec<u8>, Vec<u8>)> {
    let claims: Vec<Vec<u8>> = CLAIMS
        .keys(storage, None, None, Order::Ascending)
        .map(|k| {
            let (id, inv, who) = k.unwrap();
            CLAIMS.key((id, inv, &who)).to_vec()
        })
        .collect();
    snapshot(storage)
        .into_iter()
        .filter(|(k, _)| !claims.contains(k))
        .collect()
}

/// A state as 0.1 could hold it: two open networks and a closed one,
/// owner and participant members (tagged, static, with policies),
/// authorized providers, a released address, invitations.
fn populated() -> (Setup, Vec<u64>) {
    let mut s = setup();
    let (owner, bob, mallory, p1, p2, p3) = (
        s.owner.clone(),
        s.bob.clone(),
        s.mallory.clone(),
        s.p1.clone(),
        s.p2.clone(),
        s.p3.clone(),
    );
    let a = s.net();
    s.ok(&owner, add_msg(a, "web-1", 1001, &p1, &["web"]));
    s.ok(&owner, add_msg(a, "gone", 1003, &p1, &[]));
    s.ok(
        &owner,
        ExecuteMsg::AddMember {
            network_id: a,
            name: "db-1".into(),
            lease: lease(1002, &p2),
            tags: strings(&["db"]),
            service: Some("postgres".into()),
            ip: Some("100.64.0.10".into()),
            weight: None,
        },
    );
    s.ok(
        &owner,
        ExecuteMsg::SetPolicy {
            network_id: a,
            name: "db-1".into(),
            policy: Policy {
                ingress: vec![Rule {
                    peers: Peers::Tags(strings(&["web"])),
                    protocol: Protocol::Tcp,
                    ports: None,
                    action: Action::Allow,
                }],
                egress: vec![],
            },
        },
    );
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: a,
            name: "gone".into(),
        },
    );
    s.authorize(a, &p1);
    s.authorize(a, &p3);
    let key = Key::Ed(ed_key(8));
    let inv = s.invite(a, &key, 3, &["web"]);
    let claim = s.claim_msg(a, inv, &key, &bob);
    s.ok(&bob, claim);
    s.ok(&bob, add_msg_by(&bob, a, "bob-web", 2001, &p1, &["web"]));
    s.ok(&bob, add_msg_by(&bob, a, "bob-web-2", 2002, &p3, &["web"]));
    s.invite(a, &Key::K1(k1_key(8)), 1, &["db"]);
    let b = s.create(&mallory, create_msg("hers", "100.64.0.0/24"));
    s.ok(&mallory, add_msg_by(&mallory, b, "m", 7, &p2, &["db"]));
    let c = s.create(&owner, create_msg("closed", "10.0.0.0/24"));
    s.ok(&owner, add_msg(c, "x", 1, &p1, &[]));
    s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: c });
    (s, vec![a, b, c])
}

#[test]
fn migrate_from_v1_rewrites_records_and_builds_indexes() {
    let (mut s, ids) = populated();
    let (owner, bob, mallory, p1, p2, p3) = (
        s.owner.clone(),
        s.bob.clone(),
        s.mallory.clone(),
        s.p1.clone(),
        s.p2.clone(),
        s.p3.clone(),
    );
    let a = ids[0];
    let dumps: Vec<Dump> = ids.iter().map(|id| s.dump(*id, &[])).collect();
    let params: Params = s.q(QueryMsg::Params {}).unwrap();
    let storage = without_claims(&s.deps.storage);

    downgrade_to_v1(&mut s.deps.storage);
    // The 0.2 code cannot read these records: proof they are the old shapes.
    assert!(s.member(a, "web-1").is_err());
    assert!(s.q::<Params>(QueryMsg::Params {}).is_ok(), "params default");
    assert!(s.by_lease(&lease(1001, &p1)).is_empty());

    let res = migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    let ev = &res.events[0];
    assert_eq!(attr(ev, "from_version"), "0.1.0");
    assert_eq!(attr(ev, "to_version"), CONTRACT_VERSION);
    let v = cw2::get_contract_version(&s.deps.storage).unwrap();
    assert_eq!(v.version, CONTRACT_VERSION);

    // Every query answers as before the downgrade: lease owners from
    // added_by, bseq 0, quotas from the params, the indexes rebuilt
    // (members_by_lease of every member is part of the dump).
    for (id, before) in ids.iter().zip(&dumps) {
        assert_eq!(&s.dump(*id, &[]), before, "network {id}");
    }
    assert_eq!(s.q::<Params>(QueryMsg::Params {}).unwrap(), params);
    assert_eq!(params.max_members_per_participant, 128);
    // Byte for byte, but for the claims 0.1 never recorded (migrate
    // records those of current participants; a test below checks them).
    assert_eq!(without_claims(&s.deps.storage), storage);

    let web = s.member(a, "web-1").unwrap();
    assert_eq!(web.lease, lease(1001, &p1));
    assert_eq!(web.lease.owner, owner.as_str());
    let bobs = s.member(a, "bob-web").unwrap();
    assert_eq!(bobs.lease, lease_of(&bob, 2001, &p1));
    assert_eq!(
        s.by_lease(&lease_of(&bob, 2001, &p1)),
        vec![LeaseMember {
            network_id: a,
            name: "bob-web".into()
        }]
    );
    assert_eq!(
        s.by_lease(&lease_of(&mallory, 7, &p2)),
        vec![LeaseMember {
            network_id: ids[1],
            name: "m".into()
        }]
    );
    assert!(s.by_lease(&lease(1, &p1)).is_empty(), "closed network");
    let part = &dumps[0].participants[0];
    assert_eq!((part.member_count, part.max_members), (2, 128));
    assert_eq!(dumps[0].invitations[0].max_members, 128);
    let mut authorized = vec![p1.to_string(), p3.to_string()];
    authorized.sort();
    assert_eq!(dumps[0].manifest.providers, authorized);

    // The migrated records work with the 0.2 rules.
    s.ok(&owner, add_msg(a, "web-2", 1004, &p2, &["web"]));
    s.ok(
        &owner,
        ExecuteMsg::RebindMember {
            network_id: a,
            name: "web-1".into(),
            lease: LeaseId {
                bseq: 1,
                ..lease(1001, &p2)
            },
        },
    );
    s.ok(
        &bob,
        ExecuteMsg::RebindMember {
            network_id: a,
            name: "bob-web".into(),
            lease: lease_of(&bob, 2003, &p3),
        },
    );
    s.ok(&bob, add_msg_by(&bob, a, "bob-web-3", 2004, &p1, &["web"]));
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RebindMember {
                network_id: a,
                name: "bob-web".into(),
                lease: lease(1, &p1),
            }
        ),
        ContractError::NotMemberAdder { .. }
    );
    assert_err!(
        s.reject(
            &bob,
            ExecuteMsg::RebindMember {
                network_id: a,
                name: "bob-web".into(),
                lease: lease(1, &p1),
            }
        ),
        ContractError::LeaseOwnerMismatch { .. }
    );
    assert_err!(
        s.reject(&bob, add_msg_by(&bob, a, "x", 1, &p2, &["web"])),
        ContractError::ProviderNotAllowed(_)
    );
    let r: crate::msg::ParticipantsResponse = s
        .q(QueryMsg::Participants {
            network_id: a,
            start_after: None,
            limit: None,
        })
        .unwrap();
    assert_eq!(r.participants[0].member_count, 3);
    assert_eq!(s.by_lease(&lease(1001, &p1)), vec![]);
    assert_eq!(
        s.by_lease(&LeaseId {
            bseq: 1,
            ..lease(1001, &p2)
        }),
        vec![LeaseMember {
            network_id: a,
            name: "web-1".into()
        }]
    );
    // Removing the migrated participant takes its members (found through
    // the adder index 0.1 already kept).
    let res = s.ok(
        &owner,
        ExecuteMsg::RemoveParticipant {
            network_id: a,
            participant: bob.to_string(),
        },
    );
    assert_eq!(attr(event(&res), "removed_members"), "3");
    // Migrating again (same version) changes nothing.
    let again = snapshot(&s.deps.storage);
    migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    assert_eq!(snapshot(&s.deps.storage), again);
}

/// A participant that joined under 0.1 has no recorded claim: after
/// `migrate`, once removed, it can claim the same invitation again (if it
/// has uses left). `migrate` could record `(network, invitation_id,
/// participant)` for every 0.1 participant.
#[test]
fn migrated_participant_cannot_replay_its_claim() {
    let (mut s, ids) = populated();
    let (owner, bob) = (s.owner.clone(), s.bob.clone());
    let a = ids[0];
    let key = Key::Ed(ed_key(8));
    let claim = s.claim_msg(a, 1, &key, &bob);
    downgrade_to_v1(&mut s.deps.storage);
    migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    s.ok(
        &owner,
        ExecuteMsg::RemoveParticipant {
            network_id: a,
            participant: bob.to_string(),
        },
    );
    assert_err!(s.reject(&bob, claim), ContractError::ClaimAlreadyUsed(..));
}

/// 0.2 kept no participant → networks index: migrate builds it, and the
/// storage is then byte for byte what 0.3 writes itself.
#[test]
fn migrate_from_v2_builds_the_participant_index() {
    let (mut s, ids) = populated();
    let bob = s.bob.clone();
    let storage = snapshot(&s.deps.storage);
    drop_participant_index(&mut s.deps.storage);
    drop_services(&mut s.deps.storage);
    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "0.2.0").unwrap();
    let joined = |s: &Setup| {
        s.q::<crate::msg::NetworksResponse>(QueryMsg::NetworksByParticipant {
            participant: bob.to_string(),
            start_after: None,
            limit: None,
        })
        .unwrap()
        .networks
        .into_iter()
        .map(|n| n.id)
        .collect::<Vec<_>>()
    };
    assert!(joined(&s).is_empty());
    migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    assert_eq!(snapshot(&s.deps.storage), storage);
    assert_eq!(joined(&s), vec![ids[0]]);
}

/// 0.3 kept no service records: migrate builds them from the members (the
/// lowest free address each, owned by the first replica's adder), and the
/// storage is then byte for byte what 0.4 writes itself. A service whose
/// name is a member's is skipped and reported.
#[test]
fn migrate_from_v3_builds_the_services() {
    let (mut s, ids) = populated();
    let a = ids[0];
    let dump = s.dump(a, &[]);
    assert_eq!(dump.services.len(), 1, "postgres");
    let storage = snapshot(&s.deps.storage);
    drop_services(&mut s.deps.storage);
    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "0.3.0").unwrap();
    assert!(s.dump(a, &[]).services.is_empty());
    let res = migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    assert_eq!(attr(&res.events[0], "skipped_services"), "");
    assert_eq!(snapshot(&s.deps.storage), storage);
    assert_eq!(s.dump(a, &[]), dump);

    // A 0.3 state could hold a service named like a member: skipped.
    let owner = s.owner.clone();
    let p1 = s.p1.clone();
    s.ok(
        &owner,
        ExecuteMsg::AddMember {
            network_id: a,
            name: "cache-1".into(),
            lease: lease(1004, &p1),
            tags: vec![],
            service: Some("cache".into()),
            ip: None,
            weight: None,
        },
    );
    drop_services(&mut s.deps.storage);
    let mut m = MEMBERS.load(&s.deps.storage, (a, "cache-1")).unwrap();
    m.service = Some("web-1".into());
    MEMBERS
        .save(&mut s.deps.storage, (a, "cache-1"), &m)
        .unwrap();
    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "0.3.0").unwrap();
    let res = migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    assert_eq!(
        attr(&res.events[0], "skipped_services"),
        format!("{a}/web-1")
    );
    let names: Vec<String> = s
        .dump(a, &[])
        .services
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, strings(&["postgres"]));
    // Its replica still leaves cleanly.
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: a,
            name: "cache-1".into(),
        },
    );
}

/// 0.5 added member weights and rewrites nothing: a member without a weight
/// is stored byte for byte as 0.4 stored it, a record written without the
/// key (in any key order) loads with no weight, and migrate from 0.4 only
/// sets the version.
#[test]
fn migrate_from_v4_loads_members_without_weights() {
    #[derive(serde::Serialize)]
    struct MemberV4 {
        offset: u32,
        lease: crate::state::Lease,
        tags: Vec<String>,
        service: Option<String>,
    }
    let (mut s, ids) = populated();
    let a = ids[0];
    let dump = s.dump(a, &[]);
    let members: Vec<((u64, String), crate::state::Member)> = MEMBERS
        .range(&s.deps.storage, None, None, Order::Ascending)
        .map(Result::unwrap)
        .collect();
    assert!(members.len() > 3);
    for ((id, name), m) in members {
        assert_eq!(m.weight, None);
        let key = MEMBERS.key((id, &name));
        let v4 = MemberV4 {
            offset: m.offset,
            lease: m.lease,
            tags: m.tags,
            service: m.service,
        };
        assert_eq!(
            s.deps.storage.get(&key).unwrap(),
            cosmwasm_std::to_json_vec(&v4).unwrap()
        );
        // serde_json writes the keys sorted: another byte layout, same record.
        put(
            &mut s.deps.storage,
            &key,
            serde_json::to_value(&v4).unwrap(),
        );
    }
    assert_eq!(s.dump(a, &[]), dump);
    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "0.4.0").unwrap();
    let without_version = |s: &Setup| {
        let mut all = snapshot(&s.deps.storage);
        all.retain(|(k, _)| k.as_slice() != b"contract_info");
        all
    };
    let storage = without_version(&s);
    let res = migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    assert_eq!(attr(&res.events[0], "from_version"), "0.4.0");
    assert_eq!(
        cw2::get_contract_version(&s.deps.storage).unwrap().version,
        CONTRACT_VERSION
    );
    assert_eq!(without_version(&s), storage);
    assert_eq!(s.dump(a, &[]), dump);

    // Weights work on the migrated state.
    let owner = s.owner.clone();
    let mut manifest = s.manifest(a);
    let web = manifest
        .members
        .iter_mut()
        .find(|m| m.name == "web-1")
        .unwrap();
    web.weight = Some(70);
    s.ok(
        &owner,
        ExecuteMsg::ApplyManifest {
            network_id: a,
            manifest,
        },
    );
    assert_eq!(s.member(a, "web-1").unwrap().weight, Some(70));
}
