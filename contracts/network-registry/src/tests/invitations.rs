//! create_invitation, revoke_invitation, claim_invitation (real ed25519 and
//! secp256k1 signatures), remove_participant — tested from the attacker's side.

use cosmwasm_std::Timestamp;

use super::*;
use crate::assert_err;
use crate::msg::{InvitationsResponse, ParticipantsResponse};

fn create(
    id: u64,
    pubkey: Binary,
    key_type: KeyType,
    expires: u64,
    uses: u32,
    tags: &[&str],
) -> ExecuteMsg {
    ExecuteMsg::CreateInvitation {
        network_id: id,
        pubkey,
        key_type,
        expires: Timestamp::from_seconds(expires),
        max_uses: uses,
        tags: strings(tags),
        max_members: None,
    }
}

fn participants(s: &Setup, id: u64) -> Vec<Addr> {
    let r: ParticipantsResponse = s
        .q(QueryMsg::Participants {
            network_id: id,
            start_after: None,
            limit: None,
        })
        .unwrap();
    r.participants.into_iter().map(|p| p.address).collect()
}

#[test]
fn claim_with_ed25519_and_secp256k1() {
    for key in [Key::Ed(ed_key(7)), Key::K1(k1_key(7))] {
        let mut s = setup();
        let id = s.net();
        let (bob, p1) = (s.bob.clone(), s.p1.clone());
        let inv = s.invite(id, &key, 1, &["web"]);
        assert_eq!(inv, 1);
        let list: InvitationsResponse = s
            .q(QueryMsg::Invitations {
                network_id: id,
                start_after: None,
                limit: None,
            })
            .unwrap();
        assert_eq!(list.invitations[0].pubkey, key.public());
        assert_eq!(list.invitations[0].uses, 0);
        let claim = s.claim_msg(id, inv, &key, &bob);
        let res = s.ok(&bob, claim);
        let ev = event(&res);
        assert_eq!(ev.ty, "claim_invitation");
        assert_eq!(attr(ev, "participant"), bob.as_str());
        let r: ParticipantsResponse = s
            .q(QueryMsg::Participants {
                network_id: id,
                start_after: None,
                limit: None,
            })
            .unwrap();
        assert_eq!(r.participants[0].address, bob);
        assert_eq!(r.participants[0].tags, strings(&["web"]));
        assert_eq!(r.participants[0].invitation_id, inv);
        s.authorize(id, &p1);
        s.ok(&bob, add_msg_by(&bob, id, "bob-1", 1, &p1, &["web"]));
    }
}

#[test]
fn claim_rejections() {
    let mut s = setup_with(Some(Params {
        max_participants_per_network: 2,
        ..Params::default()
    }));
    let id = s.net();
    let (owner, bob, mallory) = (s.owner.clone(), s.bob.clone(), s.mallory.clone());
    let carol = s.deps.api.addr_make("carol");
    let dave = s.deps.api.addr_make("dave");
    let key = Key::Ed(ed_key(1));
    let k1 = Key::K1(k1_key(2));
    let inv = s.invite(id, &key, 1, &["web"]);
    let inv_k1 = s.invite(id, &k1, 5, &["db"]);

    // Forged: signed with another key.
    let forged = s.claim_msg(id, inv, &Key::Ed(ed_key(99)), &mallory);
    assert_err!(s.reject(&mallory, forged), ContractError::InvalidSignature);
    let forged = s.claim_msg(id, inv_k1, &Key::K1(k1_key(98)), &mallory);
    assert_err!(s.reject(&mallory, forged), ContractError::InvalidSignature);
    // Wrong key type for the signature bytes.
    let wrong = s.claim_msg(id, inv_k1, &Key::Ed(ed_key(2)), &mallory);
    assert_err!(s.reject(&mallory, wrong), ContractError::InvalidSignature);
    // Garbage signature.
    assert_err!(
        s.reject(
            &mallory,
            ExecuteMsg::ClaimInvitation {
                network_id: id,
                invitation_id: inv,
                signature: Binary::new(vec![1, 2, 3]),
            }
        ),
        ContractError::InvalidSignature
    );
    // Signed for another network or invitation id.
    let other_net = s.claim_msg(id + 1, inv, &key, &mallory);
    let ExecuteMsg::ClaimInvitation { signature, .. } = other_net else {
        unreachable!()
    };
    assert_err!(
        s.reject(
            &mallory,
            ExecuteMsg::ClaimInvitation {
                network_id: id,
                invitation_id: inv,
                signature,
            }
        ),
        ContractError::InvalidSignature
    );

    // Copied: Bob's valid claim replayed by Mallory.
    let bobs = s.claim_msg(id, inv, &key, &bob);
    assert_err!(
        s.reject(&mallory, bobs.clone()),
        ContractError::InvalidSignature
    );
    let bobs_k1 = s.claim_msg(id, inv_k1, &k1, &bob);
    assert_err!(
        s.reject(&mallory, bobs_k1.clone()),
        ContractError::InvalidSignature
    );
    s.ok(&bob, bobs);
    assert_eq!(participants(&s, id), vec![bob.clone()]);

    // Used up (max_uses 1), even with a valid signature for a new claimant.
    let carols = s.claim_msg(id, inv, &key, &carol);
    assert_err!(s.reject(&carol, carols), ContractError::InvitationUsedUp(_));
    // Already a participant.
    assert_err!(
        s.reject(&bob, bobs_k1),
        ContractError::AlreadyParticipant(_)
    );
    // The owner cannot claim.
    let owners = s.claim_msg(id, inv_k1, &k1, &owner);
    assert_err!(s.reject(&owner, owners), ContractError::OwnerCannotClaim);
    // Participant limit.
    let carols = s.claim_msg(id, inv_k1, &k1, &carol);
    s.ok(&carol, carols);
    let daves = s.claim_msg(id, inv_k1, &k1, &dave);
    assert_err!(
        s.reject(&dave, daves),
        ContractError::TooManyParticipants { max: 2, .. }
    );
    // Unknown invitation.
    let unknown = s.claim_msg(id, 77, &key, &dave);
    assert_err!(
        s.reject(&dave, unknown),
        ContractError::InvitationNotFound(77)
    );

    // Revoked.
    let inv3 = s.invite(id, &key, 3, &["web"]);
    let res = s.ok(
        &owner,
        ExecuteMsg::RevokeInvitation {
            network_id: id,
            invitation_id: inv3,
        },
    );
    assert_eq!(event(&res).ty, "revoke_invitation");
    let daves = s.claim_msg(id, inv3, &key, &dave);
    assert_err!(s.reject(&dave, daves), ContractError::InvitationNotFound(_));

    // Expired (expiry is exclusive).
    let inv4 = s.invite(id, &key, 3, &["web"]);
    s.now += 3600;
    let daves = s.claim_msg(id, inv4, &key, &dave);
    assert_err!(s.reject(&dave, daves), ContractError::InvitationExpired(_));
}

#[test]
fn create_and_revoke_rejections() {
    let mut s = setup_with(Some(Params {
        max_invitations_per_network: 2,
        ..Params::default()
    }));
    let id = s.net();
    let (owner, mallory) = (s.owner.clone(), s.mallory.clone());
    let ed = ed_pub(&ed_key(1));
    let k1 = k1_pub(&k1_key(1));
    let uncompressed = Binary::new(
        k1_key(1)
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    );
    let later = T0 + 100;
    let cases: Vec<(ExecuteMsg, ErrorCheck)> = vec![
        (
            create(
                id,
                Binary::new(vec![1; 31]),
                KeyType::Ed25519,
                later,
                1,
                &[],
            ),
            |e| matches!(e, ContractError::InvalidPubkey { .. }),
        ),
        (
            create(id, ed.clone(), KeyType::Secp256k1, later, 1, &["web"]),
            |e| matches!(e, ContractError::InvalidPubkey { .. }),
        ),
        (
            create(id, uncompressed, KeyType::Secp256k1, later, 1, &["web"]),
            |e| matches!(e, ContractError::InvalidPubkey { .. }),
        ),
        (
            create(id, ed.clone(), KeyType::Ed25519, T0, 1, &["web"]),
            |e| matches!(e, ContractError::ExpiryInPast { .. }),
        ),
        (
            create(id, ed.clone(), KeyType::Ed25519, later, 0, &["web"]),
            |e| matches!(e, ContractError::ZeroUses),
        ),
        (
            create(id, ed.clone(), KeyType::Ed25519, later, 1, &["cache"]),
            |e| matches!(e, ContractError::UnknownTag(_)),
        ),
        (
            create(id, ed.clone(), KeyType::Ed25519, later, 1, &["web", "web"]),
            |e| matches!(e, ContractError::Duplicate { .. }),
        ),
        (
            create(id, ed.clone(), KeyType::Ed25519, later, 1, &[]),
            |e| matches!(e, ContractError::InvitationGrantsNothing),
        ),
        (
            ExecuteMsg::CreateInvitation {
                network_id: id,
                pubkey: ed.clone(),
                key_type: KeyType::Ed25519,
                expires: Timestamp::from_seconds(later),
                max_uses: 1,
                tags: strings(&["web"]),
                max_members: Some(0),
            },
            |e| matches!(e, ContractError::InvalidMemberQuota { got: 0, max: 128 }),
        ),
        (
            ExecuteMsg::CreateInvitation {
                network_id: id,
                pubkey: ed.clone(),
                key_type: KeyType::Ed25519,
                expires: Timestamp::from_seconds(later),
                max_uses: 1,
                tags: strings(&["web"]),
                max_members: Some(129),
            },
            |e| matches!(e, ContractError::InvalidMemberQuota { got: 129, max: 128 }),
        ),
    ];
    for (msg, check) in cases {
        let err = s.reject(&owner, msg.clone());
        assert!(check(&err), "{msg:?} → {err:?}");
    }
    assert_err!(
        s.reject(
            &mallory,
            create(id, ed.clone(), KeyType::Ed25519, later, 1, &["web"])
        ),
        ContractError::Unauthorized
    );
    let res = s.ok(
        &owner,
        create(id, ed.clone(), KeyType::Ed25519, later, 1, &["web"]),
    );
    assert_eq!(attr(event(&res), "invitation_id"), "1");
    s.ok(
        &owner,
        create(id, k1.clone(), KeyType::Secp256k1, later, 1, &["web"]),
    );
    assert_err!(
        s.reject(
            &owner,
            create(id, k1, KeyType::Secp256k1, later, 1, &["web"])
        ),
        ContractError::TooManyInvitations { max: 2, .. }
    );
    assert_err!(
        s.reject(
            &mallory,
            ExecuteMsg::RevokeInvitation {
                network_id: id,
                invitation_id: 1
            }
        ),
        ContractError::Unauthorized
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RevokeInvitation {
                network_id: id,
                invitation_id: 9
            }
        ),
        ContractError::InvitationNotFound(9)
    );
    // Revoking frees a slot; ids are never reused.
    s.ok(
        &owner,
        ExecuteMsg::RevokeInvitation {
            network_id: id,
            invitation_id: 1,
        },
    );
    let res = s.ok(&owner, create(id, ed, KeyType::Ed25519, later, 1, &["web"]));
    assert_eq!(attr(event(&res), "invitation_id"), "3");
}

#[test]
fn remove_participant_takes_its_members() {
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
    s.authorize(id, &p1);
    s.authorize(id, &p2);
    s.join(id, &bob, &["web"]);
    s.ok(&bob, add_msg_by(&bob, id, "b1", 1, &p2, &["web"]));
    s.ok(&bob, add_msg_by(&bob, id, "b2", 2, &p1, &["web"]));
    assert_err!(
        s.reject(
            &mallory,
            ExecuteMsg::RemoveParticipant {
                network_id: id,
                participant: bob.to_string()
            }
        ),
        ContractError::Unauthorized
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RemoveParticipant {
                network_id: id,
                participant: mallory.to_string()
            }
        ),
        ContractError::NotParticipant(_)
    );
    assert_err!(
        s.reject(
            &owner,
            ExecuteMsg::RemoveParticipant {
                network_id: id,
                participant: "junk".into()
            }
        ),
        ContractError::InvalidAddress(_)
    );
    let res = s.ok(
        &owner,
        ExecuteMsg::RemoveParticipant {
            network_id: id,
            participant: bob.to_string(),
        },
    );
    assert_eq!(attr(event(&res), "removed_members"), "2");
    let names: Vec<String> = s.members(id).into_iter().map(|m| m.name).collect();
    assert_eq!(names, strings(&["owners"]));
    assert!(participants(&s, id).is_empty());
    assert_err!(
        s.reject(&bob, add_msg_by(&bob, id, "b3", 1, &p1, &["web"])),
        ContractError::Unauthorized
    );
    // With the invitation gone too, the tag grant no longer blocks
    // vocabulary changes.
    let tags_only = ExecuteMsg::UpdateNetwork {
        network_id: id,
        default_action: None,
        tags: Some(vec![]),
        start_time: None,
        end_time: None,
    };
    assert_err!(s.reject(&owner, tags_only), ContractError::TagInUse(_));
    s.ok(
        &owner,
        ExecuteMsg::RevokeInvitation {
            network_id: id,
            invitation_id: 1,
        },
    );
    s.ok(
        &owner,
        ExecuteMsg::UpdateNetwork {
            network_id: id,
            default_action: None,
            tags: Some(vec![]),
            start_time: None,
            end_time: None,
        },
    );
}

fn joined(s: &Setup, who: &Addr, start_after: Option<u64>, limit: Option<u32>) -> Vec<u64> {
    let r: crate::msg::NetworksResponse = s
        .q(QueryMsg::NetworksByParticipant {
            participant: who.to_string(),
            start_after,
            limit,
        })
        .unwrap();
    r.networks.into_iter().map(|n| n.id).collect()
}

/// The networks a participant joined are listed until it leaves, is
/// removed, or the network closes; purging deletes the index entries.
#[test]
fn networks_by_participant_follows_claims_leaves_removals_and_closes() {
    let mut s = setup();
    let (owner, bob, mallory) = (s.owner.clone(), s.bob.clone(), s.mallory.clone());
    let ids: Vec<u64> = (0..4)
        .map(|i| s.create(&owner, create_msg(&format!("net-{i}"), "100.64.0.0/24")))
        .collect();
    for id in &ids {
        s.join(*id, &bob, &["web"]);
    }
    assert_eq!(joined(&s, &bob, None, None), ids);
    assert_eq!(joined(&s, &bob, Some(ids[0]), Some(2)), ids[1..3].to_vec());
    assert!(joined(&s, &mallory, None, None).is_empty());
    assert!(
        joined(&s, &owner, None, None).is_empty(),
        "owning is not joining"
    );

    s.ok(&bob, ExecuteMsg::LeaveNetwork { network_id: ids[0] });
    s.ok(
        &owner,
        ExecuteMsg::RemoveParticipant {
            network_id: ids[1],
            participant: bob.to_string(),
        },
    );
    s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: ids[2] });
    // closed networks are skipped before the page is cut
    assert_eq!(joined(&s, &bob, None, Some(1)), vec![ids[3]]);
    s.ok(
        &mallory,
        ExecuteMsg::PurgeNetwork {
            network_id: ids[2],
            limit: None,
        },
    );
    assert!(
        !crate::state::PARTICIPANT_NETWORKS.has(&s.deps.storage, (&bob, ids[2])),
        "purge removes the index entry"
    );
    assert_err!(
        s.q::<crate::msg::NetworksResponse>(QueryMsg::NetworksByParticipant {
            participant: "junk".into(),
            start_after: None,
            limit: None,
        })
        .unwrap_err(),
        ContractError::InvalidAddress(_)
    );
}
