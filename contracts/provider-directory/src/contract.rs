//! Entry points and dispatch.

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{Binary, Deps, DepsMut, Env, Event, MessageInfo, Response, to_json_binary};

use crate::error::ContractError;
use crate::msg::{ExecuteMsg, InstantiateMsg, MigrateMsg, QueryMsg};
use crate::state::{ADMIN, PARAMS};
use crate::validate::check_params;
use crate::{admin, provider, query};

/// cw2 contract name.
pub const CONTRACT_NAME: &str = "crates.io:avpn-provider-directory";
/// cw2 contract version.
pub const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn instantiate(
    deps: DepsMut,
    _env: Env,
    info: MessageInfo,
    msg: InstantiateMsg,
) -> Result<Response, ContractError> {
    let admin = match msg.admin {
        Some(a) => deps.api.addr_validate(&a)?,
        None => info.sender,
    };
    let params = msg.params.unwrap_or_default();
    check_params(&params)?;
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    ADMIN.save(deps.storage, &admin)?;
    PARAMS.save(deps.storage, &params)?;
    Ok(Response::new().add_event(Event::new("instantiate").add_attribute("admin", admin)))
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn execute(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    msg: ExecuteMsg,
) -> Result<Response, ContractError> {
    match msg {
        ExecuteMsg::Register {
            overlay_key,
            signature,
            endpoints,
            region,
            relay,
        } => provider::register(
            deps,
            env,
            info,
            provider::Registration {
                overlay_key,
                signature,
                endpoints,
                region,
                relay,
            },
        ),
        ExecuteMsg::Update {
            endpoints,
            region,
            relay,
        } => provider::update(deps, env, info, endpoints, region, relay),
        ExecuteMsg::RotateKey {
            new_key,
            signature,
            overlap_until,
        } => provider::rotate_key(deps, env, info, new_key, signature, overlap_until),
        ExecuteMsg::Deregister {} => provider::deregister(deps, info),
        ExecuteMsg::UpdateParams { params } => admin::update_params(deps, info, params),
        ExecuteMsg::UpdateAdmin { admin } => admin::update_admin(deps, info, admin),
    }
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, env: Env, msg: QueryMsg) -> Result<Binary, ContractError> {
    Ok(match msg {
        QueryMsg::Params {} => to_json_binary(&PARAMS.load(deps.storage)?)?,
        QueryMsg::Admin {} => to_json_binary(&query::admin(deps)?)?,
        QueryMsg::Provider { address } => to_json_binary(&query::provider(deps, env, address)?)?,
        QueryMsg::ProviderByKey { key } => {
            to_json_binary(&query::provider_by_key(deps, env, key)?)?
        }
        QueryMsg::Providers { start_after, limit } => {
            to_json_binary(&query::providers(deps, env, start_after, limit)?)?
        }
    })
}

/// Accepts only this contract's own state at the same or an older version.
#[cfg_attr(not(feature = "library"), entry_point)]
pub fn migrate(deps: DepsMut, _env: Env, _msg: MigrateMsg) -> Result<Response, ContractError> {
    let stored = cw2::get_contract_version(deps.storage)?;
    let older_or_same = match (
        semver::Version::parse(&stored.version),
        semver::Version::parse(CONTRACT_VERSION),
    ) {
        (Ok(old), Ok(new)) => old <= new,
        _ => false,
    };
    if stored.contract != CONTRACT_NAME || !older_or_same {
        return Err(ContractError::CannotMigrate {
            name: stored.contract,
            version: stored.version,
        });
    }
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    Ok(Response::new().add_event(
        Event::new("migrate")
            .add_attribute("from_version", stored.version)
            .add_attribute("to_version", CONTRACT_VERSION),
    ))
}
