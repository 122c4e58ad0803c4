//! Query handlers.

use cosmwasm_std::{Addr, Binary, Deps, Env, Order};
use cw_storage_plus::Bound;

use crate::error::ContractError;
use crate::msg::{AdminResponse, PreviousKey, ProviderRecord, ProvidersResponse};
use crate::state::{ADMIN, KEY_OWNERS, PARAMS, PROVIDERS, Provider};

/// Page size when the query gives none (capped by `max_query_limit`).
const DEFAULT_LIMIT: u32 = 30;

pub fn admin(deps: Deps) -> Result<AdminResponse, ContractError> {
    Ok(AdminResponse {
        admin: ADMIN.load(deps.storage)?,
    })
}

/// The public view of a stored record at `env`'s block time: an expired
/// retired key is left out.
fn record(env: &Env, address: Addr, p: Provider) -> ProviderRecord {
    ProviderRecord {
        address,
        overlay_key: p.overlay_key.to_binary(),
        previous_key: p
            .previous_key
            .filter(|k| k.valid_until > env.block.time)
            .map(|k| PreviousKey {
                key: k.key.to_binary(),
                valid_until: k.valid_until,
            }),
        endpoints: p.endpoints.iter().map(ToString::to_string).collect(),
        region: p.region,
        relay: p.relay,
        registered_at: p.registered_at,
        updated_at: p.updated_at,
    }
}

pub fn provider(deps: Deps, env: Env, address: String) -> Result<ProviderRecord, ContractError> {
    let address = deps.api.addr_validate(&address)?;
    let p = PROVIDERS
        .may_load(deps.storage, &address)?
        .ok_or_else(|| ContractError::NotRegistered(address.to_string()))?;
    Ok(record(&env, address, p))
}

/// The provider whose current key, or still valid retired key, is `key`.
pub fn provider_by_key(deps: Deps, env: Env, key: Binary) -> Result<ProviderRecord, ContractError> {
    let address = KEY_OWNERS
        .may_load(deps.storage, key.as_slice())?
        .ok_or(ContractError::UnknownKey)?;
    let found = record(
        &env,
        address.clone(),
        PROVIDERS.load(deps.storage, &address)?,
    );
    let valid =
        found.overlay_key == key || found.previous_key.as_ref().is_some_and(|p| p.key == key);
    if valid {
        Ok(found)
    } else {
        Err(ContractError::UnknownKey)
    }
}

pub fn providers(
    deps: Deps,
    env: Env,
    start_after: Option<String>,
    limit: Option<u32>,
) -> Result<ProvidersResponse, ContractError> {
    let max = PARAMS.load(deps.storage)?.max_query_limit;
    let limit = limit.unwrap_or(DEFAULT_LIMIT).min(max) as usize;
    let start = start_after
        .map(|s| deps.api.addr_validate(&s))
        .transpose()?;
    let providers = PROVIDERS
        .range(
            deps.storage,
            start.as_ref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(limit)
        .map(|item| item.map(|(addr, p)| record(&env, addr, p)))
        .collect::<Result<_, _>>()?;
    Ok(ProvidersResponse { providers })
}
