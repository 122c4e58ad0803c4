//! Providers of a network: authorized ones and those hosting a member.
//!
//! `NET_PROVIDERS` holds an entry exactly while the provider is authorized
//! or hosts at least one member, and `PROVIDER_VIEW` mirrors it keyed by
//! provider, so `provider_view` is a prefix range, never a scan. Every
//! change records the provider in the `touched` set reported in the event.

use std::collections::BTreeSet;

use cosmwasm_std::{Addr, DepsMut, Env, MessageInfo, Order, Response, StdResult, Storage};

use crate::error::ContractError;
use crate::events;
use crate::network::{load_owned_in_window, save_changed};
use crate::state::{AUTHORIZED, NET_PROVIDERS, Network, PROVIDER_VIEW, ProviderEntry};
use crate::validate;

/// Providers whose relation to the network changed, for the event.
pub type Touched = BTreeSet<Addr>;

fn update(
    store: &mut dyn Storage,
    id: u64,
    provider: &Addr,
    change: impl FnOnce(&mut ProviderEntry),
) -> StdResult<()> {
    let old = NET_PROVIDERS.may_load(store, (id, provider))?;
    let mut entry = old.clone().unwrap_or_default();
    change(&mut entry);
    if entry.authorized || entry.hosted_members > 0 {
        NET_PROVIDERS.save(store, (id, provider), &entry)?;
        // The view entry exists exactly while the provider entry does.
        if old.is_none() {
            PROVIDER_VIEW.save(store, (provider, id), &())?;
        }
    } else {
        NET_PROVIDERS.remove(store, (id, provider));
        PROVIDER_VIEW.remove(store, (provider, id));
    }
    Ok(())
}

/// A member hosted by `provider` was added (or rebound to it).
pub fn host(
    store: &mut dyn Storage,
    id: u64,
    provider: &Addr,
    touched: &mut Touched,
) -> StdResult<()> {
    touched.insert(provider.clone());
    update(store, id, provider, |e| e.hosted_members += 1)
}

/// A member hosted by `provider` was removed (or rebound away).
pub fn unhost(
    store: &mut dyn Storage,
    id: u64,
    provider: &Addr,
    touched: &mut Touched,
) -> StdResult<()> {
    touched.insert(provider.clone());
    update(store, id, provider, |e| {
        e.hosted_members = e.hosted_members.saturating_sub(1)
    })
}

/// Whether `provider` is authorized for the network.
pub fn is_authorized(store: &dyn Storage, id: u64, provider: &Addr) -> StdResult<bool> {
    Ok(NET_PROVIDERS
        .may_load(store, (id, provider))?
        .is_some_and(|e| e.authorized))
}

/// Sets the authorization flag; keeps `authorized_count` in step.
pub fn set_authorized(
    store: &mut dyn Storage,
    net: &mut Network,
    provider: &Addr,
    authorized: bool,
    touched: &mut Touched,
) -> StdResult<()> {
    touched.insert(provider.clone());
    if authorized {
        net.authorized_count += 1;
        AUTHORIZED.save(store, (net.id, provider), &())?;
    } else {
        net.authorized_count -= 1;
        AUTHORIZED.remove(store, (net.id, provider));
    }
    update(store, net.id, provider, |e| e.authorized = authorized)
}

/// Authorized providers of the network, ordered (at most `max_list_len`).
pub fn authorized(store: &dyn Storage, id: u64) -> StdResult<Vec<Addr>> {
    AUTHORIZED
        .prefix(id)
        .keys(store, None, None, Order::Ascending)
        .collect()
}

/// Most providers an event about a whole network names; beyond that they are
/// named in part (relayers also react to any event with their `network_id`).
pub const EVENT_PROVIDERS_MAX: usize = 256;

/// The network's providers for an event that concerns all its members.
pub fn for_event(store: &dyn Storage, id: u64) -> StdResult<Touched> {
    NET_PROVIDERS
        .prefix(id)
        .keys(store, None, None, Order::Ascending)
        .take(EVENT_PROVIDERS_MAX)
        .collect()
}

/// Deletes up to `n` provider entries of a (closed) network; returns how
/// many it deleted.
pub fn purge(store: &mut dyn Storage, id: u64, n: usize) -> StdResult<usize> {
    let batch: Vec<Addr> = NET_PROVIDERS
        .prefix(id)
        .keys(store, None, None, Order::Ascending)
        .take(n)
        .collect::<StdResult<_>>()?;
    for p in &batch {
        NET_PROVIDERS.remove(store, (id, p));
        PROVIDER_VIEW.remove(store, (p, id));
        AUTHORIZED.remove(store, (id, p));
    }
    Ok(batch.len())
}

/// `authorize_provider`: owner only.
pub fn authorize(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    provider: String,
) -> Result<Response, ContractError> {
    let params = crate::state::PARAMS.load(deps.storage)?;
    let mut net = load_owned_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    let provider = validate::addr(deps.api, &provider)?;
    if is_authorized(deps.storage, net.id, &provider)? {
        return Err(ContractError::AlreadyAuthorized(provider.to_string()));
    }
    if net.authorized_count >= params.max_list_len {
        return Err(ContractError::TooMany {
            kind: "authorized providers",
            got: net.authorized_count as usize + 1,
            max: params.max_list_len,
        });
    }
    let mut touched = Touched::new();
    set_authorized(deps.storage, &mut net, &provider, true, &mut touched)?;
    save_changed(deps.storage, &mut net)?;
    Ok(Response::new().add_event(events::network("authorize_provider", &net, &touched)))
}

/// `revoke_provider`: owner only. A provider still hosting members keeps
/// serving the network until they leave it, but participants cannot add or
/// rebind members onto it any more.
pub fn revoke(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    provider: String,
) -> Result<Response, ContractError> {
    let mut net = load_owned_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    let provider = validate::addr(deps.api, &provider)?;
    if !is_authorized(deps.storage, net.id, &provider)? {
        return Err(ContractError::NotAuthorized(provider.to_string()));
    }
    let mut touched = Touched::new();
    set_authorized(deps.storage, &mut net, &provider, false, &mut touched)?;
    save_changed(deps.storage, &mut net)?;
    Ok(Response::new().add_event(events::network("revoke_provider", &net, &touched)))
}
