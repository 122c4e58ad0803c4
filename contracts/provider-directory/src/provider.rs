//! Execute handlers for a provider's own record; `info.sender` is the provider.

use cosmwasm_std::{Binary, DepsMut, Env, Event, MessageInfo, Response, Timestamp};

use crate::error::ContractError;
use crate::proof::verify_key_proof;
use crate::state::{KEY_OWNERS, OverlayKey, PARAMS, PROVIDERS, Provider, RetiredKey};
use crate::validate::{parse_endpoints, parse_region};

fn event(kind: &str, info: &MessageInfo) -> Event {
    Event::new(kind).add_attribute("provider", info.sender.as_str())
}

/// The fields of a `Register` message.
pub struct Registration {
    pub overlay_key: Binary,
    pub signature: Binary,
    pub endpoints: Vec<String>,
    pub region: Option<String>,
    pub relay: bool,
}

/// Creates the sender's record; the sender must prove possession of the
/// overlay key, and the key must not belong to anyone.
pub fn register(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    reg: Registration,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    if PROVIDERS.has(deps.storage, &info.sender) {
        return Err(ContractError::AlreadyRegistered(info.sender.into_string()));
    }
    let key = OverlayKey::parse(&reg.overlay_key)?;
    verify_key_proof(deps.api, &env, &info.sender, &key, &reg.signature)?;
    if let Some(owner) = KEY_OWNERS.may_load(deps.storage, key.as_slice())? {
        return Err(ContractError::KeyInUse(owner.into_string()));
    }
    let record = Provider {
        endpoints: parse_endpoints(&reg.endpoints, &params)?,
        region: parse_region(reg.region, &params)?,
        overlay_key: key,
        previous_key: None,
        relay: reg.relay,
        registered_at: env.block.time,
        updated_at: env.block.time,
    };
    KEY_OWNERS.save(deps.storage, record.overlay_key.as_slice(), &info.sender)?;
    PROVIDERS.save(deps.storage, &info.sender, &record)?;
    Ok(Response::new().add_event(event("register_provider", &info)))
}

fn load_own(deps: &DepsMut, info: &MessageInfo) -> Result<Provider, ContractError> {
    PROVIDERS
        .may_load(deps.storage, &info.sender)?
        .ok_or_else(|| ContractError::NotRegistered(info.sender.to_string()))
}

/// Changes the given fields of the sender's record.
pub fn update(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    endpoints: Option<Vec<String>>,
    region: Option<String>,
    relay: Option<bool>,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    let mut record = load_own(&deps, &info)?;
    if endpoints.is_none() && region.is_none() && relay.is_none() {
        return Err(ContractError::EmptyUpdate);
    }
    if let Some(endpoints) = endpoints {
        record.endpoints = parse_endpoints(&endpoints, &params)?;
    }
    if region.is_some() {
        record.region = parse_region(region, &params)?;
    }
    if let Some(relay) = relay {
        record.relay = relay;
    }
    record.updated_at = env.block.time;
    PROVIDERS.save(deps.storage, &info.sender, &record)?;
    Ok(Response::new().add_event(event("update_provider", &info)))
}

/// Makes `new_key` (with its proof of possession) current and keeps the old
/// key valid until `overlap_until`. Only one retired key is kept: one still listed from an earlier rotation is
/// dropped (and freed) now. A key currently held by any provider (as its
/// current or retired key) cannot be taken.
pub fn rotate_key(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    new_key: Binary,
    signature: Binary,
    overlap_until: Timestamp,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    let mut record = load_own(&deps, &info)?;
    let key = OverlayKey::parse(&new_key)?;
    if key == record.overlay_key {
        return Err(ContractError::KeyUnchanged);
    }
    verify_key_proof(deps.api, &env, &info.sender, &key, &signature)?;
    if let Some(owner) = KEY_OWNERS.may_load(deps.storage, key.as_slice())? {
        return Err(ContractError::KeyInUse(owner.into_string()));
    }
    let now = env.block.time;
    if overlap_until <= now {
        return Err(ContractError::OverlapInPast {
            until: overlap_until,
            now,
        });
    }
    let max = now.plus_seconds(params.max_rotation_overlap_secs);
    if overlap_until > max {
        return Err(ContractError::OverlapTooLong {
            until: overlap_until,
            max,
        });
    }
    if let Some(dropped) = record.previous_key.take() {
        KEY_OWNERS.remove(deps.storage, dropped.key.as_slice());
    }
    let old = std::mem::replace(&mut record.overlay_key, key);
    record.previous_key = Some(RetiredKey {
        key: old,
        valid_until: overlap_until,
    });
    record.updated_at = now;
    KEY_OWNERS.save(deps.storage, record.overlay_key.as_slice(), &info.sender)?;
    PROVIDERS.save(deps.storage, &info.sender, &record)?;
    Ok(Response::new().add_event(
        event("rotate_key", &info)
            .add_attribute("valid_until", overlap_until.seconds().to_string()),
    ))
}

/// Removes the sender's record and frees its keys.
pub fn deregister(deps: DepsMut, info: MessageInfo) -> Result<Response, ContractError> {
    let record = load_own(&deps, &info)?;
    KEY_OWNERS.remove(deps.storage, record.overlay_key.as_slice());
    if let Some(prev) = &record.previous_key {
        KEY_OWNERS.remove(deps.storage, prev.key.as_slice());
    }
    PROVIDERS.remove(deps.storage, &info.sender);
    Ok(Response::new().add_event(event("deregister_provider", &info)))
}
