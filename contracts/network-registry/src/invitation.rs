//! Invitations: the owner publishes a public key with an expiry, a use
//! limit and the tags it grants; whoever holds the private key becomes a
//! participant by signing
//! `avpn-claim/v1/{chain_id}/{contract_addr}/{network_id}/{invitation_id}/{claimant_addr}`.
//! The claimant address is the transaction sender, so a signature copied
//! from someone else's claim does not verify for the copier. Signatures are
//! checked with the chain's crypto API (ed25519 over the bytes; secp256k1
//! over their sha256, compact 64-byte signature, compressed 33-byte key).

use cosmwasm_std::{Addr, Api, Binary, DepsMut, Env, MessageInfo, Response, Timestamp};
use sha2::{Digest, Sha256};

use crate::error::ContractError;
use crate::msg::KeyType;
use crate::network::{check_window, load_open, load_owned_in_window, save_changed};
use crate::providers::Touched;
use crate::state::{
    CLAIMS, INVITATIONS, Invitation, PARAMS, PARTICIPANT_NETWORKS, PARTICIPANTS, Participant,
};
use crate::{events, tags, validate};

/// The bytes a claimant signs.
pub fn claim_bytes(
    chain_id: &str,
    contract: &Addr,
    network_id: u64,
    invitation_id: u64,
    claimant: &Addr,
) -> Vec<u8> {
    format!("avpn-claim/v1/{chain_id}/{contract}/{network_id}/{invitation_id}/{claimant}")
        .into_bytes()
}

fn check_pubkey(key_type: KeyType, key: &Binary) -> Result<(), ContractError> {
    match key_type {
        KeyType::Ed25519 if key.len() != 32 => Err(ContractError::InvalidPubkey {
            key_type: "ed25519",
            reason: "must be 32 bytes",
        }),
        KeyType::Secp256k1 if key.len() != 33 || !matches!(key[0], 2 | 3) => {
            Err(ContractError::InvalidPubkey {
                key_type: "secp256k1",
                reason: "must be 33 bytes, compressed (0x02/0x03 prefix)",
            })
        }
        _ => Ok(()),
    }
}

fn verify(
    api: &dyn Api,
    key_type: KeyType,
    pubkey: &[u8],
    message: &[u8],
    signature: &[u8],
) -> bool {
    let result = match key_type {
        KeyType::Ed25519 => api.ed25519_verify(message, signature, pubkey),
        KeyType::Secp256k1 => {
            let hash = Sha256::digest(message);
            api.secp256k1_verify(&hash, signature, pubkey)
        }
    };
    result.unwrap_or(false)
}

/// Arguments of `create_invitation`.
pub struct CreateArgs {
    pub network_id: u64,
    pub pubkey: Binary,
    pub key_type: KeyType,
    pub expires: Timestamp,
    pub max_uses: u32,
    pub tags: Vec<String>,
    pub max_members: Option<u32>,
}

pub fn create(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    args: CreateArgs,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    let mut net =
        load_owned_in_window(deps.storage, args.network_id, &info.sender, env.block.time)?;
    check_pubkey(args.key_type, &args.pubkey)?;
    if args.tags.is_empty() {
        return Err(ContractError::InvitationGrantsNothing);
    }
    let max_members = args
        .max_members
        .unwrap_or(params.max_members_per_participant);
    if max_members == 0 || max_members > params.max_members_per_participant {
        return Err(ContractError::InvalidMemberQuota {
            got: max_members,
            max: params.max_members_per_participant,
        });
    }
    if args.expires <= env.block.time {
        return Err(ContractError::ExpiryInPast {
            expires: args.expires,
            now: env.block.time,
        });
    }
    if args.max_uses == 0 {
        return Err(ContractError::ZeroUses);
    }
    validate::tags_in(&args.tags, &net.tags, &params)?;
    if net.invitation_count >= params.max_invitations_per_network {
        return Err(ContractError::TooManyInvitations {
            id: net.id,
            max: params.max_invitations_per_network,
        });
    }
    let invitation_id = net.next_invitation_id;
    tags::add_grants(deps.storage, net.id, &args.tags)?;
    INVITATIONS.save(
        deps.storage,
        (net.id, invitation_id),
        &Invitation {
            pubkey: args.pubkey,
            key_type: args.key_type,
            expires: args.expires,
            max_uses: args.max_uses,
            uses: 0,
            tags: args.tags,
            max_members,
        },
    )?;
    net.next_invitation_id += 1;
    net.invitation_count += 1;
    save_changed(deps.storage, &mut net)?;
    Ok(Response::new()
        .add_attribute("invitation_id", invitation_id.to_string())
        .add_event(
            events::network("create_invitation", &net, &Touched::new())
                .add_attribute("invitation_id", invitation_id.to_string()),
        ))
}

pub fn revoke(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    invitation_id: u64,
) -> Result<Response, ContractError> {
    let mut net = load_owned_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    let inv = INVITATIONS
        .may_load(deps.storage, (net.id, invitation_id))?
        .ok_or(ContractError::InvitationNotFound(invitation_id))?;
    tags::drop_grants(deps.storage, net.id, &inv.tags)?;
    INVITATIONS.remove(deps.storage, (net.id, invitation_id));
    net.invitation_count -= 1;
    save_changed(deps.storage, &mut net)?;
    Ok(Response::new().add_event(
        events::network("revoke_invitation", &net, &Touched::new())
            .add_attribute("invitation_id", invitation_id.to_string()),
    ))
}

pub fn claim(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    invitation_id: u64,
    signature: Binary,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    let mut net = load_open(deps.storage, network_id)?;
    check_window(&net, env.block.time)?;
    let mut inv = INVITATIONS
        .may_load(deps.storage, (net.id, invitation_id))?
        .ok_or(ContractError::InvitationNotFound(invitation_id))?;
    if env.block.time >= inv.expires {
        return Err(ContractError::InvitationExpired(invitation_id));
    }
    if inv.uses >= inv.max_uses {
        return Err(ContractError::InvitationUsedUp(invitation_id));
    }
    let claimant = info.sender;
    let message = claim_bytes(
        &env.block.chain_id,
        &env.contract.address,
        net.id,
        invitation_id,
        &claimant,
    );
    if !verify(deps.api, inv.key_type, &inv.pubkey, &message, &signature) {
        return Err(ContractError::InvalidSignature);
    }
    if claimant == net.owner {
        return Err(ContractError::OwnerCannotClaim);
    }
    if PARTICIPANTS.has(deps.storage, (net.id, &claimant)) {
        return Err(ContractError::AlreadyParticipant(claimant.to_string()));
    }
    if CLAIMS.has(deps.storage, (net.id, invitation_id, &claimant)) {
        return Err(ContractError::ClaimAlreadyUsed(
            claimant.to_string(),
            invitation_id,
        ));
    }
    if net.participant_count >= params.max_participants_per_network {
        return Err(ContractError::TooManyParticipants {
            id: net.id,
            max: params.max_participants_per_network,
        });
    }
    inv.uses += 1;
    INVITATIONS.save(deps.storage, (net.id, invitation_id), &inv)?;
    CLAIMS.save(deps.storage, (net.id, invitation_id, &claimant), &())?;
    tags::add_grants(deps.storage, net.id, &inv.tags)?;
    PARTICIPANT_NETWORKS.save(deps.storage, (&claimant, net.id), &())?;
    PARTICIPANTS.save(
        deps.storage,
        (net.id, &claimant),
        &Participant {
            invitation_id,
            tags: inv.tags,
            joined_at: env.block.time,
            member_count: 0,
            max_members: inv.max_members,
        },
    )?;
    net.participant_count += 1;
    save_changed(deps.storage, &mut net)?;
    Ok(Response::new().add_event(
        events::network("claim_invitation", &net, &Touched::new())
            .add_attribute("invitation_id", invitation_id.to_string())
            .add_attribute("participant", claimant),
    ))
}
