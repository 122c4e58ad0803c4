//! State migrations, run once by governance through `migrate`: from 0.1
//! (leases without owner and bseq, participants without quotas, no lease
//! index) and from 0.2 (no index of the networks a participant joined).
//! Both walk every record they rewrite, which is acceptable only because
//! the 0.1 and 0.2 deployments are small (localnets, no mainnet state).
//! Later migrations must not walk unbounded state in one call. 0.5 (member
//! weights) needs none: a record without `weight` loads with none.

use cosmwasm_std::{Addr, Order, StdResult, Storage, Timestamp};
use cw_storage_plus::Map;
use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::ipam;
use crate::msg::{KeyType, NetworkStatus, Params};
use crate::state::{
    AUTHORIZED, BY_ADDER, CLAIMS, INVITATIONS, Invitation, LEASE_MEMBERS, Lease, MEMBERS, Member,
    NET_PROVIDERS, NETWORKS, PARAMS, PARTICIPANT_NETWORKS, PARTICIPANTS, Participant, SERVICES,
    Service,
};

#[derive(Serialize, Deserialize)]
struct LeaseV1 {
    dseq: u64,
    gseq: u32,
    oseq: u32,
    provider: Addr,
}

#[derive(Serialize, Deserialize)]
struct MemberV1 {
    offset: u32,
    lease: LeaseV1,
    added_by: Addr,
    tags: Vec<String>,
    service: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct InvitationV1 {
    pubkey: cosmwasm_std::Binary,
    key_type: KeyType,
    expires: Timestamp,
    max_uses: u32,
    uses: u32,
    tags: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct ParticipantV1 {
    invitation_id: u64,
    tags: Vec<String>,
    joined_at: Timestamp,
}

const MEMBERS_V1: Map<(u64, &str), MemberV1> = Map::new("members");
const INVITATIONS_V1: Map<(u64, u64), InvitationV1> = Map::new("invitations");
const PARTICIPANTS_V1: Map<(u64, &Addr), ParticipantV1> = Map::new("participants");

/// Rewrites 0.1 records in the 0.2 layout: a member's lease owner is the
/// account that added it and its bseq 0; quotas come from the params.
pub fn from_v1(store: &mut dyn Storage) -> StdResult<()> {
    // Params stored without the new field load with its default.
    let params: Params = PARAMS.load(store)?;
    PARAMS.save(store, &params)?;
    let quota = params.max_members_per_participant;

    let members: Vec<((u64, String), MemberV1)> = MEMBERS_V1
        .range(store, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    for ((id, name), old) in members {
        let lease = Lease {
            owner: old.added_by,
            dseq: old.lease.dseq,
            gseq: old.lease.gseq,
            oseq: old.lease.oseq,
            provider: old.lease.provider,
            bseq: 0,
        };
        LEASE_MEMBERS.save(store, (&lease.key(), id, &name), &())?;
        let member = Member {
            offset: old.offset,
            lease,
            tags: old.tags,
            service: old.service,
            weight: None,
        };
        MEMBERS.save(store, (id, &name), &member)?;
    }

    let invitations: Vec<((u64, u64), InvitationV1)> = INVITATIONS_V1
        .range(store, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    for (key, old) in invitations {
        let inv = Invitation {
            pubkey: old.pubkey,
            key_type: old.key_type,
            expires: old.expires,
            max_uses: old.max_uses,
            uses: old.uses,
            tags: old.tags,
            max_members: quota,
        };
        INVITATIONS.save(store, key, &inv)?;
    }

    let participants: Vec<((u64, Addr), ParticipantV1)> = PARTICIPANTS_V1
        .range(store, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    for ((id, addr), old) in participants {
        let count = BY_ADDER
            .prefix((id, &addr))
            .keys_raw(store, None, None, Order::Ascending)
            .count() as u32;
        let p = Participant {
            invitation_id: old.invitation_id,
            tags: old.tags,
            joined_at: old.joined_at,
            member_count: count,
            max_members: quota.max(count),
        };
        PARTICIPANTS.save(store, (id, &addr), &p)?;
        // 0.1 kept no claims: record this one, so that a removed
        // participant cannot replay it.
        CLAIMS.save(store, (id, p.invitation_id, &addr), &())?;
    }

    let authorized: Vec<(u64, Addr)> = NET_PROVIDERS
        .range(store, None, None, Order::Ascending)
        .filter_map(|r| match r {
            Ok((key, e)) if e.authorized => Some(Ok(key)),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
        .collect::<StdResult<_>>()?;
    for (id, p) in authorized {
        AUTHORIZED.save(store, (id, &p), &())?;
    }
    Ok(())
}

/// Builds the participant → networks index (new in 0.3) from the
/// participants of every network.
pub fn participant_index(store: &mut dyn Storage) -> StdResult<()> {
    let keys: Vec<(u64, Addr)> = PARTICIPANTS
        .keys(store, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    for (id, addr) in keys {
        PARTICIPANT_NETWORKS.save(store, (&addr, id), &())?;
    }
    Ok(())
}

/// Builds the service records (new in 0.4) of open networks from their
/// members: each service gets the lowest free address, its owner is the
/// adder of its first replica by name. A service that cannot be created
/// (its name is a member's, or the pool is full) is skipped and returned
/// as `network_id/name`; its replicas work as plain members.
pub fn services(store: &mut dyn Storage) -> StdResult<Vec<String>> {
    let mut replicas: BTreeMap<(u64, String), (Addr, u32)> = BTreeMap::new();
    for r in MEMBERS.range(store, None, None, Order::Ascending) {
        let ((id, _), m) = r?;
        if let Some(s) = m.service {
            replicas.entry((id, s)).or_insert((m.lease.owner, 0)).1 += 1;
        }
    }
    let mut skipped = vec![];
    for ((id, name), (owner, count)) in replicas {
        let mut net = NETWORKS.load(store, id)?;
        if net.status == NetworkStatus::Closed {
            continue;
        }
        if MEMBERS.has(store, (id, &name)) {
            skipped.push(format!("{id}/{name}"));
            continue;
        }
        let Ok(offset) = ipam::allocate(store, &mut net, None, &name) else {
            skipped.push(format!("{id}/{name}"));
            continue;
        };
        let service = Service {
            offset,
            owner,
            replicas: count,
        };
        SERVICES.save(store, (id, &name), &service)?;
        NETWORKS.save(store, id, &net)?;
    }
    Ok(skipped)
}
