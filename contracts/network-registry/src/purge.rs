//! Deleting a closed network's records in bounded batches, so that neither
//! `close_network` nor `purge_network` walks an unbounded list in one call.
//! A closed network is invisible to member queries at once; its records
//! only take storage until they are purged. Claims stay (a claim works once).

use cosmwasm_std::{Order, StdResult, Storage};

use crate::providers;
use crate::state::{
    BY_ADDER, INVITATIONS, IPS, LEASE_MEMBERS, MEMBERS, Member, NET_PROVIDERS,
    PARTICIPANT_NETWORKS, PARTICIPANTS, POLICIES, RELEASED, SERVICES, Service, TAG_GRANTS,
    TAG_REFS,
};

/// Removes up to `$n` entries under network `$id` of `$map`, whose second
/// key part `$key` turns from the listed form into the key form; evaluates
/// to how many it removed. (A macro: the maps' key types differ.)
macro_rules! purge_prefix {
    ($store:expr, $map:expr, $id:expr, $n:expr, |$k:ident| $key:expr) => {{
        let keys: Vec<_> = $map
            .prefix($id)
            .keys($store, None, None, Order::Ascending)
            .take($n)
            .collect::<StdResult<_>>()?;
        for $k in &keys {
            $map.remove($store, ($id, $key));
        }
        keys.len()
    }};
}

/// Deletes up to `n` records of network `id`; true while some are left.
pub fn batch(store: &mut dyn Storage, id: u64, n: usize) -> StdResult<bool> {
    let mut left = n;
    let members: Vec<(String, Member)> = MEMBERS
        .prefix(id)
        .range(store, None, None, Order::Ascending)
        .take(left)
        .collect::<StdResult<_>>()?;
    for (name, m) in &members {
        MEMBERS.remove(store, (id, name));
        POLICIES.remove(store, (id, name));
        BY_ADDER.remove(store, (id, &m.lease.owner, name));
        LEASE_MEMBERS.remove(store, (&m.lease.key(), id, name));
        IPS.remove(store, (id, m.offset));
    }
    left -= members.len();
    let services: Vec<(String, Service)> = SERVICES
        .prefix(id)
        .range(store, None, None, Order::Ascending)
        .take(left)
        .collect::<StdResult<_>>()?;
    for (name, s) in &services {
        SERVICES.remove(store, (id, name));
        IPS.remove(store, (id, s.offset));
    }
    left -= services.len();
    left -= purge_prefix!(store, RELEASED, id, left, |k| *k);
    left -= purge_prefix!(store, INVITATIONS, id, left, |k| *k);
    let participants: Vec<_> = PARTICIPANTS
        .prefix(id)
        .keys(store, None, None, Order::Ascending)
        .take(left)
        .collect::<StdResult<_>>()?;
    for addr in &participants {
        PARTICIPANTS.remove(store, (id, addr));
        PARTICIPANT_NETWORKS.remove(store, (addr, id));
    }
    left -= participants.len();
    left -= purge_prefix!(store, TAG_REFS, id, left, |k| k.as_str());
    left -= purge_prefix!(store, TAG_GRANTS, id, left, |k| k.as_str());
    providers::purge(store, id, left)?;
    Ok(remaining(store, id))
}

/// Whether any record of the network is left (one iterator step per map).
fn remaining(store: &dyn Storage, id: u64) -> bool {
    MEMBERS
        .prefix(id)
        .keys_raw(store, None, None, Order::Ascending)
        .next()
        .is_some()
        || SERVICES
            .prefix(id)
            .keys_raw(store, None, None, Order::Ascending)
            .next()
            .is_some()
        || RELEASED
            .prefix(id)
            .keys_raw(store, None, None, Order::Ascending)
            .next()
            .is_some()
        || INVITATIONS
            .prefix(id)
            .keys_raw(store, None, None, Order::Ascending)
            .next()
            .is_some()
        || PARTICIPANTS
            .prefix(id)
            .keys_raw(store, None, None, Order::Ascending)
            .next()
            .is_some()
        || TAG_REFS
            .prefix(id)
            .keys_raw(store, None, None, Order::Ascending)
            .next()
            .is_some()
        || TAG_GRANTS
            .prefix(id)
            .keys_raw(store, None, None, Order::Ascending)
            .next()
            .is_some()
        || NET_PROVIDERS
            .prefix(id)
            .keys_raw(store, None, None, Order::Ascending)
            .next()
            .is_some()
}
