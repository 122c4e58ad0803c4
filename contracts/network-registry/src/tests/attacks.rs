//! Attacks on tenant isolation, each from the attacker's side: the message
//! must fail with its typed error and change nothing — neither a byte of
//! storage ([`Setup::reject`]) nor any answer of the network's queries
//! ([`Setup::dump`]: record, members, policies, by-IP lookups, manifest,
//! invitations, participants, providers, provider views, members by lease,
//! including the leases the attacker named). Then the positive side: what
//! the defences must still allow (leaving, events, purging, the lease index).

use cosmwasm_std::{Order, Timestamp};

use super::*;
use crate::assert_err;
use crate::msg::{Action, ManifestMember, Peers, PortRange, Protocol, Rule};
use crate::state::{
    AUTHORIZED, BY_ADDER, CLAIMS, INVITATIONS, IPS, LEASE_MEMBERS, MEMBERS, NET_PROVIDERS,
    OPEN_NAMES, PARTICIPANTS, POLICIES, PROVIDER_VIEW, RELEASED, TAG_GRANTS, TAG_REFS,
};

/// The network under attack (owner `tenant`, tags web and db) with
/// - `web-1` (owner, web, provider-1) and `db-1` (owner, db, provider-2,
///   static 100.64.0.10, ingress from web on 5432);
/// - provider-1 authorized (provider-3 is not);
/// - Bob a participant granted web with a quota of 2 members, through
///   invitation `inv` (3 uses, 1 used), holding `bob-web` on provider-1.
struct World {
    s: Setup,
    id: u64,
    key: Key,
    inv: u64,
    /// Bob's accepted claim, kept for replays.
    bob_claim: ExecuteMsg,
}

fn db_policy() -> Policy {
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

fn world_with(end_time: Option<u64>) -> World {
    let mut s = setup();
    let (owner, bob, p1, p2) = (s.owner.clone(), s.bob.clone(), s.p1.clone(), s.p2.clone());
    let id = s.create(
        &owner,
        ExecuteMsg::CreateNetwork {
            name: "demo".into(),
            cidr: "100.64.0.0/24".into(),
            cidr6: Some("fd00:1::/64".into()),
            default_action: None,
            tags: strings(&["web", "db"]),
            start_time: None,
            end_time: end_time.map(Timestamp::from_seconds),
        },
    );
    s.ok(&owner, add_msg(id, "web-1", 1001, &p1, &["web"]));
    s.ok(
        &owner,
        ExecuteMsg::AddMember {
            network_id: id,
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
            network_id: id,
            name: "db-1".into(),
            policy: db_policy(),
        },
    );
    s.authorize(id, &p1);
    let key = Key::Ed(ed_key(7));
    let inv = s.invite_with(id, &key, 3, &["web"], Some(2));
    let bob_claim = s.claim_msg(id, inv, &key, &bob);
    s.ok(&bob, bob_claim.clone());
    s.ok(&bob, add_msg_by(&bob, id, "bob-web", 2001, &p1, &["web"]));
    World {
        s,
        id,
        key,
        inv,
        bob_claim,
    }
}

fn world() -> World {
    world_with(None)
}

/// Sends `msg` from `attacker`; expects a rejection that leaves storage
/// and every query answer about the networks `ids` (and `probes`) as they
/// were. Returns the error.
fn attack(
    s: &mut Setup,
    ids: &[u64],
    attacker: &Addr,
    msg: ExecuteMsg,
    probes: &[LeaseId],
) -> ContractError {
    let before: Vec<Dump> = ids.iter().map(|id| s.dump(*id, probes)).collect();
    let err = s.reject(attacker, msg);
    let after: Vec<Dump> = ids.iter().map(|id| s.dump(*id, probes)).collect();
    assert_eq!(
        before, after,
        "rejected attack changed a query answer: {err}"
    );
    err
}

fn rebind(id: u64, name: &str, lease: LeaseId) -> ExecuteMsg {
    ExecuteMsg::RebindMember {
        network_id: id,
        name: name.into(),
        lease,
    }
}

// ---------------------------------------------------------------------------
// Leases of other accounts
// ---------------------------------------------------------------------------

#[test]
fn tenant_b_cannot_bind_tenant_a_lease_in_its_own_network() {
    let World { mut s, id, .. } = world();
    let (owner, mallory, p1) = (s.owner.clone(), s.mallory.clone(), s.p1.clone());
    // Mallory (tenant B) runs her own network.
    let b = s.create(&mallory, create_msg("mine", "100.64.0.0/24"));
    s.ok(&mallory, add_msg_by(&mallory, b, "own", 7, &p1, &["web"]));
    let a_lease = lease(1001, &p1); // web-1's lease, owner = tenant A
    let expect_mismatch = |e: &ContractError| {
        matches!(e, ContractError::LeaseOwnerMismatch { lease_owner, sender }
            if *lease_owner == owner.as_str() && *sender == mallory.as_str())
    };
    let add = ExecuteMsg::AddMember {
        network_id: b,
        name: "stolen".into(),
        lease: a_lease.clone(),
        tags: strings(&["web"]),
        service: None,
        ip: None,
        weight: None,
    };
    let err = attack(
        &mut s,
        &[id, b],
        &mallory,
        add,
        std::slice::from_ref(&a_lease),
    );
    assert!(expect_mismatch(&err), "{err:?}");
    let err = attack(
        &mut s,
        &[id, b],
        &mallory,
        rebind(b, "own", a_lease.clone()),
        std::slice::from_ref(&a_lease),
    );
    assert!(expect_mismatch(&err), "{err:?}");
    let mut manifest = s.manifest(b);
    manifest.members.push(ManifestMember {
        name: "stolen".into(),
        lease: a_lease.clone(),
        tags: vec![],
        service: None,
        ip: None,
        policy: Policy::default(),
        weight: None,
    });
    let err = attack(
        &mut s,
        &[id, b],
        &mallory,
        ExecuteMsg::ApplyManifest {
            network_id: b,
            manifest,
        },
        std::slice::from_ref(&a_lease),
    );
    assert!(expect_mismatch(&err), "{err:?}");
    // Her own lease with A's dseq/gseq/oseq/provider is another lease: it is
    // accepted and never found under A's lease.
    let look_alike = lease_of(&mallory, 1001, &p1);
    s.ok(
        &mallory,
        ExecuteMsg::AddMember {
            network_id: b,
            name: "look-alike".into(),
            lease: look_alike.clone(),
            tags: vec![],
            service: None,
            ip: None,
            weight: None,
        },
    );
    assert_eq!(
        s.by_lease(&a_lease),
        vec![LeaseMember {
            network_id: id,
            name: "web-1".into()
        }]
    );
    assert_eq!(
        s.by_lease(&look_alike),
        vec![LeaseMember {
            network_id: b,
            name: "look-alike".into()
        }]
    );
}

#[test]
fn participant_cannot_bind_a_member_to_the_owners_lease() {
    let World { mut s, id, .. } = world();
    let (owner, bob, p1) = (s.owner.clone(), s.bob.clone(), s.p1.clone());
    let owners = lease(1001, &p1);
    let msg = ExecuteMsg::AddMember {
        network_id: id,
        name: "bob-2".into(),
        lease: owners.clone(),
        tags: strings(&["web"]),
        service: None,
        ip: None,
        weight: None,
    };
    let err = attack(&mut s, &[id], &bob, msg, &[owners]);
    assert_err!(
        err,
        ContractError::LeaseOwnerMismatch { lease_owner, sender }
            if *lease_owner == owner.as_str() && *sender == bob.as_str()
    );
}

#[test]
fn participant_cannot_rebind_to_someone_elses_lease() {
    let World { mut s, id, .. } = world();
    let (bob, mallory, p1) = (s.bob.clone(), s.mallory.clone(), s.p1.clone());
    for foreign in [lease(1001, &p1), lease_of(&mallory, 9, &p1)] {
        let err = attack(
            &mut s,
            &[id],
            &bob,
            rebind(id, "bob-web", foreign.clone()),
            &[foreign],
        );
        assert_err!(
            err,
            ContractError::LeaseOwnerMismatch { sender, .. } if *sender == bob.as_str()
        );
    }
}

#[test]
fn owner_cannot_rebind_a_participants_member() {
    let World { mut s, id, .. } = world();
    let (owner, bob, p1) = (s.owner.clone(), s.bob.clone(), s.p1.clone());
    // Neither to a lease of its own nor to another of Bob's leases.
    for target in [lease(3001, &p1), lease_of(&bob, 3002, &p1)] {
        let err = attack(
            &mut s,
            &[id],
            &owner,
            rebind(id, "bob-web", target.clone()),
            &[target],
        );
        assert_err!(
            err,
            ContractError::NotMemberAdder { name, adder }
                if name == "bob-web" && *adder == bob.as_str()
        );
    }
}

// ---------------------------------------------------------------------------
// Participant limits
// ---------------------------------------------------------------------------

/// Bob's `add_member` of his lease 4000 on `provider`.
fn bob_add(
    s: &Setup,
    id: u64,
    name: &str,
    provider: &Addr,
    tags: &[&str],
    ip: Option<&str>,
) -> ExecuteMsg {
    ExecuteMsg::AddMember {
        network_id: id,
        name: name.into(),
        lease: lease_of(&s.bob, 4000, provider),
        tags: strings(tags),
        service: None,
        ip: ip.map(String::from),
        weight: None,
    }
}

#[test]
fn participant_cannot_add_an_untagged_member() {
    let World { mut s, id, .. } = world();
    let (bob, p1) = (s.bob.clone(), s.p1.clone());
    let msg = bob_add(&s, id, "plain", &p1, &[], None);
    assert_err!(
        attack(&mut s, &[id], &bob, msg, &[]),
        ContractError::ParticipantMemberUntagged
    );
}

#[test]
fn participant_cannot_add_a_member_with_an_ungranted_tag() {
    let World { mut s, id, .. } = world();
    let (bob, p1) = (s.bob.clone(), s.p1.clone());
    for tags in [&["db"][..], &["web", "db"][..]] {
        let msg = bob_add(&s, id, "sneaky", &p1, tags, None);
        assert_err!(
            attack(&mut s, &[id], &bob, msg, &[]),
            ContractError::TagNotGranted(t) if t == "db"
        );
    }
}

#[test]
fn participant_cannot_request_a_static_ip() {
    let World { mut s, id, .. } = world();
    let (bob, p1) = (s.bob.clone(), s.p1.clone());
    // A free address, and the owner's database's.
    for ip in ["100.64.0.50", "100.64.0.10"] {
        let msg = bob_add(&s, id, "fixed", &p1, &["web"], Some(ip));
        assert_err!(
            attack(&mut s, &[id], &bob, msg, &[]),
            ContractError::ParticipantStaticIp
        );
    }
}

#[test]
fn participant_cannot_host_on_an_unauthorized_provider() {
    let World { mut s, id, .. } = world();
    let (bob, p3) = (s.bob.clone(), s.p3.clone());
    let msg = bob_add(&s, id, "elsewhere", &p3, &["web"], None);
    assert_err!(
        attack(&mut s, &[id], &bob, msg, &[]),
        ContractError::ProviderNotAllowed(p) if *p == p3.as_str()
    );
    // Provider-2 hosts the owner's database, which does not authorize it.
    let p2 = s.p2.clone();
    let msg = bob_add(&s, id, "elsewhere", &p2, &["web"], None);
    assert_err!(
        attack(&mut s, &[id], &bob, msg, &[]),
        ContractError::ProviderNotAllowed(p) if *p == p2.as_str()
    );
    let to_p3 = lease_of(&bob, 4001, &p3);
    assert_err!(
        attack(
            &mut s,
            &[id],
            &bob,
            rebind(id, "bob-web", to_p3.clone()),
            &[to_p3]
        ),
        ContractError::ProviderNotAllowed(_)
    );
}

#[test]
fn participant_cannot_host_on_a_revoked_provider() {
    let World { mut s, id, .. } = world();
    let (owner, bob, p3) = (s.owner.clone(), s.bob.clone(), s.p3.clone());
    s.authorize(id, &p3);
    s.ok(
        &owner,
        ExecuteMsg::RevokeProvider {
            network_id: id,
            provider: p3.to_string(),
        },
    );
    let msg = bob_add(&s, id, "on-revoked", &p3, &["web"], None);
    assert_err!(
        attack(&mut s, &[id], &bob, msg, &[]),
        ContractError::ProviderNotAllowed(p) if *p == p3.as_str()
    );
    let to_p3 = lease_of(&bob, 4001, &p3);
    assert_err!(
        attack(&mut s, &[id], &bob, rebind(id, "bob-web", to_p3.clone()), &[to_p3]),
        ContractError::ProviderNotAllowed(p) if *p == p3.as_str()
    );
}

#[test]
fn participant_cannot_exceed_its_quota() {
    let World { mut s, id, .. } = world();
    let (owner, bob, p1) = (s.owner.clone(), s.bob.clone(), s.p1.clone());
    s.ok(&bob, add_msg_by(&bob, id, "bob-2", 2002, &p1, &["web"]));
    let msg = add_msg_by(&bob, id, "bob-3", 2003, &p1, &["web"]);
    assert_err!(
        attack(&mut s, &[id], &bob, msg.clone(), &[]),
        ContractError::ParticipantQuota { participant, max: 2 } if *participant == bob.as_str()
    );
    // A removal by the owner frees a slot; the quota still holds after.
    s.ok(
        &owner,
        ExecuteMsg::RemoveMember {
            network_id: id,
            name: "bob-2".into(),
        },
    );
    s.ok(&bob, msg);
    let again = add_msg_by(&bob, id, "bob-4", 2004, &p1, &["web"]);
    assert_err!(
        attack(&mut s, &[id], &bob, again, &[]),
        ContractError::ParticipantQuota { max: 2, .. }
    );
}

#[test]
fn participant_cannot_set_a_policy_with_an_ungranted_tag() {
    let World { mut s, id, .. } = world();
    let bob = s.bob.clone();
    let db_rule = Rule {
        peers: Peers::Tags(strings(&["web", "db"])),
        protocol: Protocol::Any,
        ports: None,
        action: Action::Allow,
    };
    for policy in [
        Policy {
            ingress: vec![db_rule.clone()],
            egress: vec![],
        },
        Policy {
            ingress: vec![],
            egress: vec![db_rule],
        },
    ] {
        let msg = ExecuteMsg::SetPolicy {
            network_id: id,
            name: "bob-web".into(),
            policy,
        };
        assert_err!(
            attack(&mut s, &[id], &bob, msg, &[]),
            ContractError::TagNotGranted(t) if t == "db"
        );
    }
}

#[test]
fn owner_cannot_create_an_invitation_granting_nothing() {
    let World { mut s, id, key, .. } = world();
    let owner = s.owner.clone();
    let msg = ExecuteMsg::CreateInvitation {
        network_id: id,
        pubkey: key.public(),
        key_type: key.key_type(),
        expires: Timestamp::from_seconds(T0 + 600),
        max_uses: 5,
        tags: vec![],
        max_members: None,
    };
    assert_err!(
        attack(&mut s, &[id], &owner, msg, &[]),
        ContractError::InvitationGrantsNothing
    );
}

#[test]
fn removed_participant_cannot_replay_its_claim() {
    let World {
        mut s,
        id,
        inv,
        bob_claim,
        ..
    } = world();
    let (owner, bob) = (s.owner.clone(), s.bob.clone());
    s.ok(
        &owner,
        ExecuteMsg::RemoveParticipant {
            network_id: id,
            participant: bob.to_string(),
        },
    );
    // The invitation has uses left (3, 1 used) and the signature is valid.
    assert_err!(
        attack(&mut s, &[id], &bob, bob_claim, &[]),
        ContractError::ClaimAlreadyUsed(who, i) if *who == bob.as_str() && *i == inv
    );
}

#[test]
fn departed_participant_cannot_replay_its_claim() {
    let World {
        mut s,
        id,
        inv,
        key,
        ..
    } = world();
    let mallory = s.mallory.clone();
    let claim = s.claim_msg(id, inv, &key, &mallory);
    s.ok(&mallory, claim.clone());
    s.ok(&mallory, ExecuteMsg::LeaveNetwork { network_id: id });
    assert_err!(
        attack(&mut s, &[id], &mallory, claim, &[]),
        ContractError::ClaimAlreadyUsed(who, i) if *who == mallory.as_str() && *i == inv
    );
}

#[test]
fn leave_network_is_only_for_participants() {
    let World { mut s, id, .. } = world();
    let (owner, mallory) = (s.owner.clone(), s.mallory.clone());
    let leave = ExecuteMsg::LeaveNetwork { network_id: id };
    assert_err!(
        attack(&mut s, &[id], &mallory, leave.clone(), &[]),
        ContractError::Unauthorized
    );
    assert_err!(
        attack(&mut s, &[id], &owner, leave, &[]),
        ContractError::NotParticipant(_)
    );
}

// ---------------------------------------------------------------------------
// The time box
// ---------------------------------------------------------------------------

/// Every message the time box governs, each from an account that could
/// send it inside the window, and valid there.
fn time_boxed(w: &World) -> Vec<(&'static str, Addr, ExecuteMsg)> {
    let s = &w.s;
    let id = w.id;
    let (owner, bob, mallory) = (s.owner.clone(), s.bob.clone(), s.mallory.clone());
    let (p1, p3) = (s.p1.clone(), s.p3.clone());
    let mut manifest = s.manifest(id);
    manifest.default_action = Action::Allow;
    vec![
        ("add_member", owner.clone(), add_msg(id, "new", 5, &p1, &[])),
        (
            "add_member (participant)",
            bob.clone(),
            add_msg_by(&bob, id, "bob-new", 5, &p1, &["web"]),
        ),
        (
            "rebind_member",
            owner.clone(),
            rebind(id, "web-1", lease(5, &p1)),
        ),
        (
            "rebind_member (participant)",
            bob.clone(),
            rebind(id, "bob-web", lease_of(&bob, 5, &p1)),
        ),
        (
            "remove_member",
            owner.clone(),
            ExecuteMsg::RemoveMember {
                network_id: id,
                name: "web-1".into(),
            },
        ),
        (
            "remove_member (participant)",
            bob.clone(),
            ExecuteMsg::RemoveMember {
                network_id: id,
                name: "bob-web".into(),
            },
        ),
        (
            "set_policy",
            owner.clone(),
            ExecuteMsg::SetPolicy {
                network_id: id,
                name: "db-1".into(),
                policy: Policy::default(),
            },
        ),
        (
            "set_policy (participant)",
            bob.clone(),
            ExecuteMsg::SetPolicy {
                network_id: id,
                name: "bob-web".into(),
                policy: db_policy(),
            },
        ),
        (
            "apply_manifest",
            owner.clone(),
            ExecuteMsg::ApplyManifest {
                network_id: id,
                manifest,
            },
        ),
        (
            "authorize_provider",
            owner.clone(),
            ExecuteMsg::AuthorizeProvider {
                network_id: id,
                provider: p3.to_string(),
            },
        ),
        (
            "revoke_provider",
            owner.clone(),
            ExecuteMsg::RevokeProvider {
                network_id: id,
                provider: p1.to_string(),
            },
        ),
        (
            "create_invitation",
            owner.clone(),
            ExecuteMsg::CreateInvitation {
                network_id: id,
                pubkey: w.key.public(),
                key_type: w.key.key_type(),
                expires: Timestamp::from_seconds(T0 + 7200),
                max_uses: 1,
                tags: strings(&["db"]),
                max_members: None,
            },
        ),
        (
            "revoke_invitation",
            owner.clone(),
            ExecuteMsg::RevokeInvitation {
                network_id: id,
                invitation_id: w.inv,
            },
        ),
        (
            "claim_invitation",
            mallory.clone(),
            s.claim_msg(id, w.inv, &w.key, &mallory),
        ),
        (
            "remove_participant",
            owner.clone(),
            ExecuteMsg::RemoveParticipant {
                network_id: id,
                participant: bob.to_string(),
            },
        ),
        (
            "leave_network",
            bob.clone(),
            ExecuteMsg::LeaveNetwork { network_id: id },
        ),
    ]
}

#[test]
fn every_time_boxed_message_is_refused_outside_the_window() {
    let end = T0 + 1000;
    let mut w = world_with(Some(end));
    let id = w.id;
    let owner = w.s.owner.clone();
    // Each message is valid inside the window: it passes on a copy.
    for (what, sender, msg) in time_boxed(&w) {
        let mut copy = world_with(Some(end));
        copy.s
            .exec(&sender, msg)
            .unwrap_or_else(|e| panic!("{what} refused inside the window: {e}"));
    }
    // From end_time on, every one is refused the same way.
    w.s.now = end;
    for (what, sender, msg) in time_boxed(&w) {
        let err = attack(&mut w.s, &[id], &sender, msg, &[]);
        assert!(
            matches!(&err, ContractError::Ended { id: i, end: e } if *i == id && e.seconds() == end),
            "{what}: {err:?}"
        );
    }
    // The owner moves the window into the future (update_network is not
    // time-boxed): now every one is refused as not started.
    let start = end + 1000;
    s_update_window(&mut w.s, id, start, start + 1000);
    for (what, sender, msg) in time_boxed(&w) {
        let err = attack(&mut w.s, &[id], &sender, msg, &[]);
        assert!(
            matches!(&err, ContractError::NotStarted { id: i, start: t } if *i == id && t.seconds() == start),
            "{what}: {err:?}"
        );
    }
    // Closing and purging are not time-boxed.
    let res = w.s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: id });
    assert_eq!(attr(event(&res), "remaining"), "false");
    let mallory = w.s.mallory.clone();
    w.s.ok(
        &mallory,
        ExecuteMsg::PurgeNetwork {
            network_id: id,
            limit: None,
        },
    );
}

fn s_update_window(s: &mut Setup, id: u64, start: u64, end: u64) {
    let owner = s.owner.clone();
    s.ok(
        &owner,
        ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: None,
            tags: None,
            start_time: Some(Timestamp::from_seconds(start)),
            end_time: Some(Timestamp::from_seconds(end)),
        },
    );
}

// ---------------------------------------------------------------------------
// Close and purge
// ---------------------------------------------------------------------------

#[test]
fn only_the_owner_closes_and_nobody_purges_an_open_network() {
    let World { mut s, id, .. } = world();
    let (owner, bob, mallory) = (s.owner.clone(), s.bob.clone(), s.mallory.clone());
    for who in [&mallory, &bob] {
        assert_err!(
            attack(
                &mut s,
                &[id],
                who,
                ExecuteMsg::CloseNetwork { network_id: id },
                &[]
            ),
            ContractError::Unauthorized
        );
    }
    for who in [&mallory, &bob, &owner] {
        for limit in [None, Some(1), Some(500)] {
            assert_err!(
                attack(
                    &mut s,
                    &[id],
                    who,
                    ExecuteMsg::PurgeNetwork {
                        network_id: id,
                        limit
                    },
                    &[]
                ),
                ContractError::NotClosed(i) if *i == id
            );
        }
    }
    assert_err!(
        s.reject(
            &mallory,
            ExecuteMsg::PurgeNetwork {
                network_id: 77,
                limit: None
            }
        ),
        ContractError::NetworkNotFound(77)
    );
}

// ---------------------------------------------------------------------------
// What the defences still allow
// ---------------------------------------------------------------------------

#[test]
fn leave_network_removes_the_participants_members_and_frees_their_ips() {
    let World { mut s, id, .. } = world();
    let (owner, bob, p1, p3) = (s.owner.clone(), s.bob.clone(), s.p1.clone(), s.p3.clone());
    s.authorize(id, &p3);
    let res = s.ok(&bob, add_msg_by(&bob, id, "bob-2", 2002, &p3, &["web"]));
    assert_eq!(attr(event(&res), "ip"), "100.64.0.5");
    let bob_ips: Vec<String> = ["bob-web", "bob-2"]
        .iter()
        .map(|n| s.member(id, n).unwrap().ip)
        .collect();
    assert_eq!(bob_ips, ["100.64.0.4", "100.64.0.5"]);
    let revision = s.network(id).revision;
    let res = s.ok(&bob, ExecuteMsg::LeaveNetwork { network_id: id });
    let ev = event(&res);
    assert_eq!(ev.ty, "leave_network");
    assert_eq!(attr(ev, "participant"), bob.as_str());
    assert_eq!(attr(ev, "removed_members"), "2");
    let mut hosts = [p1.to_string(), p3.to_string()];
    hosts.sort();
    assert_eq!(attr(ev, "providers"), hosts.join(","));
    assert_eq!(attr(ev, "revision"), (revision + 1).to_string());
    // Members, their addresses and lease index entries are gone.
    let names: Vec<String> = s.members(id).into_iter().map(|m| m.name).collect();
    assert_eq!(names, strings(&["db-1", "web-1"]));
    for ip in &bob_ips {
        assert_err!(
            s.q::<MemberResponse>(QueryMsg::MemberByIp {
                network_id: id,
                ip: ip.clone()
            })
            .unwrap_err(),
            ContractError::IpNotAssigned(_)
        );
    }
    assert!(s.by_lease(&lease_of(&bob, 2001, &p1)).is_empty());
    let d = s.dump(id, &[]);
    assert!(d.participants.is_empty());
    assert_eq!(s.network(id).member_count, 2);
    // Bob is no longer anyone here.
    assert_err!(
        s.reject(&bob, add_msg_by(&bob, id, "back", 1, &p1, &["web"])),
        ContractError::Unauthorized
    );
    // The freed addresses are handed out again, lowest first (postgres,
    // the service of db-1, holds 100.64.0.3).
    let res = s.ok(&owner, add_msg(id, "next", 1, &p1, &[]));
    assert_eq!(attr(event(&res), "ip"), "100.64.0.4");
    let res = s.ok(&owner, add_msg(id, "after", 1, &p1, &[]));
    assert_eq!(attr(event(&res), "ip"), "100.64.0.5");
}

#[test]
fn events_name_the_providers_of_tag_service_and_policy_changes() {
    let World { mut s, id, .. } = world();
    let (owner, p1, p2, p3) = (s.owner.clone(), s.p1.clone(), s.p2.clone(), s.p3.clone());
    s.ok(&owner, add_msg(id, "cache", 1003, &p3, &[]));
    let base = s.manifest(id);
    let apply = |m: Manifest| ExecuteMsg::ApplyManifest {
        network_id: id,
        manifest: m,
    };
    let find = |m: &mut Manifest, name: &str| -> usize {
        m.members.iter().position(|x| x.name == name).unwrap()
    };
    // Unchanged: nothing named, nothing written.
    let res = s.ok(&owner, apply(base.clone()));
    assert_eq!(attr(event(&res), "providers"), "");
    assert!(
        res.attributes
            .iter()
            .any(|a| a.key == "changed" && a.value == "false")
    );
    // Tags of web-1 (provider-1) only.
    let mut m = base.clone();
    let i = find(&mut m, "web-1");
    m.members[i].tags = strings(&["web", "db"]);
    let res = s.ok(&owner, apply(m.clone()));
    assert_eq!(attr(event(&res), "providers"), p1.as_str());
    // The policy of db-1 (provider-2) only.
    let i = find(&mut m, "db-1");
    m.members[i].policy = Policy::default();
    let res = s.ok(&owner, apply(m.clone()));
    assert_eq!(attr(event(&res), "providers"), p2.as_str());
    // The service of cache (provider-3) only.
    let i = find(&mut m, "cache");
    m.members[i].service = Some("redis".into());
    let res = s.ok(&owner, apply(m.clone()));
    assert_eq!(attr(event(&res), "providers"), p3.as_str());
    // Two at once, sorted.
    let i = find(&mut m, "cache");
    m.members[i].tags = strings(&["db"]);
    let j = find(&mut m, "db-1");
    m.members[j].policy = db_policy();
    let res = s.ok(&owner, apply(m));
    let mut both = [p2.to_string(), p3.to_string()];
    both.sort();
    assert_eq!(attr(event(&res), "providers"), both.join(","));
    // Network-wide changes name every provider of the network.
    let res = s.ok(
        &owner,
        ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: Some(Action::Allow),
            tags: None,
            start_time: None,
            end_time: None,
        },
    );
    let mut all = [p1.to_string(), p2.to_string(), p3.to_string()];
    all.sort();
    assert_eq!(attr(event(&res), "providers"), all.join(","));
    let res = s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: id });
    assert_eq!(attr(event(&res), "providers"), all.join(","));
}

/// Storage entries still under network `id` in any of its maps.
fn records_of(storage: &dyn cosmwasm_std::Storage, id: u64) -> Vec<String> {
    let mut left = Vec::new();
    let mut count = |name: &str, n: usize| {
        if n > 0 {
            left.push(format!("{name}: {n}"));
        }
    };
    let keys = |it: Box<dyn Iterator<Item = Vec<u8>> + '_>| it.count();
    count(
        "members",
        keys(
            MEMBERS
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "policies",
        keys(
            POLICIES
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "ips",
        keys(
            IPS.prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "released",
        keys(
            RELEASED
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "by_adder",
        keys(
            BY_ADDER
                .sub_prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "net_providers",
        keys(
            NET_PROVIDERS
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "authorized",
        keys(
            AUTHORIZED
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "invitations",
        keys(
            INVITATIONS
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "participants",
        keys(
            PARTICIPANTS
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "tag_refs",
        keys(
            TAG_REFS
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "tag_grants",
        keys(
            TAG_GRANTS
                .prefix(id)
                .keys_raw(storage, None, None, Order::Ascending),
        ),
    );
    count(
        "lease_members",
        LEASE_MEMBERS
            .keys(storage, None, None, Order::Ascending)
            .filter(|k| k.as_ref().unwrap().1 == id)
            .count(),
    );
    count(
        "provider_view",
        PROVIDER_VIEW
            .keys(storage, None, None, Order::Ascending)
            .filter(|k| k.as_ref().unwrap().1 == id)
            .count(),
    );
    count(
        "open_names",
        OPEN_NAMES
            .range(storage, None, None, Order::Ascending)
            .filter(|r| r.as_ref().unwrap().1 == id)
            .count(),
    );
    left
}

#[test]
fn close_then_purge_until_done_leaves_no_records() {
    let mut s = setup();
    let (owner, bob, mallory, p1, p2) = (
        s.owner.clone(),
        s.bob.clone(),
        s.mallory.clone(),
        s.p1.clone(),
        s.p2.clone(),
    );
    let id = s.create(&owner, create_msg("big", "100.64.0.0/22"));
    // A second network of the owner, sharing providers and a lease, must
    // not be touched.
    let other = s.create(&owner, create_msg("other", "100.64.0.0/24"));
    s.ok(&owner, add_msg(other, "keep", 10_000, &p1, &["web"]));
    s.authorize(other, &p2);
    // Past one close batch: 400 members (a third with policies), released
    // addresses, authorized providers, a participant with members, an
    // outstanding invitation.
    let members: Vec<ManifestMember> = (0..400u64)
        .map(|i| ManifestMember {
            name: format!("m{i:03}"),
            lease: lease(10_000 + i, if i % 2 == 0 { &p1 } else { &p2 }),
            tags: strings(&["web"]),
            service: None,
            ip: None,
            policy: if i % 3 == 0 {
                db_policy()
            } else {
                Policy::default()
            },
            weight: None,
        })
        .collect();
    s.ok(
        &owner,
        ExecuteMsg::ApplyManifest {
            network_id: id,
            manifest: Manifest {
                default_action: Action::Deny,
                tags: strings(&["web", "db"]),
                providers: vec![p1.to_string(), p2.to_string()],
                members,
            },
        },
    );
    for name in ["m010", "m020", "m399"] {
        s.ok(
            &owner,
            ExecuteMsg::RemoveMember {
                network_id: id,
                name: name.into(),
            },
        );
    }
    s.join(id, &bob, &["web"]);
    s.ok(&bob, add_msg_by(&bob, id, "bob-1", 1, &p1, &["web"]));
    s.invite(id, &Key::K1(k1_key(3)), 1, &["db"]);
    // The other network as its queries show it, except where they name the
    // closed one.
    let other_before = s.dump(other, &[]);
    assert!(records_of(&s.deps.storage, id).len() >= 10);

    let res = s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: id });
    assert_eq!(attr(event(&res), "remaining"), "true");
    // Closed at once: no member is shown any more, the name is free.
    assert!(s.members(id).is_empty());
    assert_err!(
        s.member(id, "m001").unwrap_err(),
        ContractError::NetworkClosed(_)
    );
    assert!(s.by_lease(&lease(10_001, &p2)).is_empty());
    assert_eq!(
        s.by_lease(&lease(10_000, &p1)),
        vec![LeaseMember {
            network_id: other,
            name: "keep".into()
        }]
    );
    s.create(&owner, create_msg("big", "100.64.0.0/22"));
    // Anyone purges, in batches, until nothing is left.
    let mut calls = 0;
    loop {
        let res = s.ok(
            &mallory,
            ExecuteMsg::PurgeNetwork {
                network_id: id,
                limit: Some(70),
            },
        );
        calls += 1;
        let ev = event(&res);
        assert_eq!(ev.ty, "purge_network");
        assert_eq!(attr(ev, "network_id"), id.to_string());
        if attr(ev, "remaining") == "false" {
            break;
        }
        assert!(calls < 100, "purge does not finish");
    }
    // 398 members (each with its address, index entries and policy) and a
    // few dozen other records, 100 of them by close, 70 per purge.
    assert!(calls >= 5, "{calls} purge calls");
    assert_eq!(records_of(&s.deps.storage, id), Vec::<String>::new());
    // Nothing keyed by the network remains but its record, the owner index
    // entry and the claim (a claim works once).
    let id_key = id.to_be_bytes();
    let leftovers: Vec<String> = snapshot(&s.deps.storage)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k.windows(8).any(|w| w == id_key))
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .collect();
    assert_eq!(leftovers.len(), 3, "{leftovers:?}");
    assert!(CLAIMS.has(&s.deps.storage, (id, 1, &bob)));
    // Purging again is harmless; the other network is as it was.
    let res = s.ok(
        &mallory,
        ExecuteMsg::PurgeNetwork {
            network_id: id,
            limit: None,
        },
    );
    assert_eq!(attr(event(&res), "remaining"), "false");
    let mut expected = other_before;
    for (_, networks) in &mut expected.provider_views {
        networks.retain(|n| n.network_id != id);
    }
    for (_, members) in &mut expected.by_lease {
        members.retain(|m| m.network_id != id);
    }
    assert_eq!(s.dump(other, &[]), expected);
    assert_eq!(s.view(&p1), vec![other]);
}

#[test]
fn members_by_lease_spans_networks_and_tells_leases_apart() {
    let mut s = setup();
    let (owner, bob, p1) = (s.owner.clone(), s.bob.clone(), s.p1.clone());
    let a = s.net();
    let b = s.create(&owner, create_msg("second", "100.64.0.0/24"));
    let c = s.create(&bob, create_msg("bobs", "100.64.0.0/24"));
    let l = lease(42, &p1);
    // The same lease in two networks, under different names.
    s.ok(&owner, add_msg(a, "x", 42, &p1, &[]));
    s.ok(&owner, add_msg(b, "y", 42, &p1, &[]));
    // Same dseq/gseq/oseq/provider, other owner.
    let other_owner = lease_of(&bob, 42, &p1);
    s.ok(
        &bob,
        ExecuteMsg::AddMember {
            network_id: c,
            name: "x".into(),
            lease: other_owner.clone(),
            tags: vec![],
            service: None,
            ip: None,
            weight: None,
        },
    );
    // Same everything but bseq.
    let other_bid = LeaseId {
        bseq: 1,
        ..l.clone()
    };
    s.ok(
        &owner,
        ExecuteMsg::AddMember {
            network_id: a,
            name: "z".into(),
            lease: other_bid.clone(),
            tags: vec![],
            service: None,
            ip: None,
            weight: None,
        },
    );
    let lm = |network_id: u64, name: &str| LeaseMember {
        network_id,
        name: name.into(),
    };
    assert_eq!(s.by_lease(&l), vec![lm(a, "x"), lm(b, "y")]);
    assert_eq!(s.by_lease(&other_owner), vec![lm(c, "x")]);
    assert_eq!(s.by_lease(&other_bid), vec![lm(a, "z")]);
    // Other gseq / oseq / provider / dseq: nothing.
    for miss in [
        LeaseId {
            gseq: 2,
            ..l.clone()
        },
        LeaseId {
            oseq: 2,
            ..l.clone()
        },
        LeaseId {
            provider: s.p2.to_string(),
            ..l.clone()
        },
        LeaseId {
            dseq: 43,
            ..l.clone()
        },
    ] {
        assert!(s.by_lease(&miss).is_empty(), "{miss:?}");
    }
    // Paginated by (network, name).
    let page: LeaseMembersResponse = s
        .q(QueryMsg::MembersByLease {
            lease: l.clone(),
            start_after: Some(lm(a, "x")),
            limit: Some(1),
        })
        .unwrap();
    assert_eq!(page.members, vec![lm(b, "y")]);
    // Rebinding moves the entry; closing hides the network at once.
    s.ok(&owner, rebind(a, "x", other_bid.clone()));
    assert_eq!(s.by_lease(&l), vec![lm(b, "y")]);
    assert_eq!(s.by_lease(&other_bid), vec![lm(a, "x"), lm(a, "z")]);
    s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: b });
    assert!(s.by_lease(&l).is_empty());
    // A malformed lease is an error, not an empty answer.
    assert_err!(
        s.q::<LeaseMembersResponse>(QueryMsg::MembersByLease {
            lease: LeaseId {
                owner: "nope".into(),
                ..l
            },
            start_after: None,
            limit: None,
        })
        .unwrap_err(),
        ContractError::InvalidAddress(_)
    );
}
