//! Entry points and dispatch.

#[cfg(not(feature = "library"))]
use cosmwasm_std::entry_point;
use cosmwasm_std::{Binary, Deps, DepsMut, Env, Event, MessageInfo, Response, to_json_binary};

use crate::error::ContractError;
use crate::msg::{ExecuteMsg, InstantiateMsg, MigrateMsg, QueryMsg};
use crate::state::{ADMIN, PARAMS};
use crate::{
    admin, invitation, manifest, member, network, participant, providers, query, validate,
};

/// cw2 contract name.
pub const CONTRACT_NAME: &str = "crates.io:avpn-network-registry";
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
        Some(a) => validate::addr(deps.api, &a)?,
        None => info.sender,
    };
    let params = msg.params.unwrap_or_default();
    validate::params(&params)?;
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
        ExecuteMsg::CreateNetwork {
            name,
            cidr,
            cidr6,
            default_action,
            tags,
            start_time,
            end_time,
        } => network::create(
            deps,
            env,
            info,
            network::CreateArgs {
                name,
                cidr,
                cidr6,
                default_action,
                tags,
                start_time,
                end_time,
            },
        ),
        ExecuteMsg::UpdateNetwork {
            network_id,
            default_action,
            tags,
            start_time,
            end_time,
        } => network::update(
            deps,
            env,
            info,
            network::UpdateArgs {
                network_id,
                default_action,
                tags,
                start_time,
                end_time,
            },
        ),
        ExecuteMsg::CloseNetwork { network_id } => network::close(deps, info, network_id),
        ExecuteMsg::PurgeNetwork { network_id, limit } => network::purge(deps, network_id, limit),
        ExecuteMsg::AddMember {
            network_id,
            name,
            lease,
            tags,
            service,
            ip,
            weight,
        } => member::add(
            deps,
            env,
            info,
            member::AddArgs {
                network_id,
                name,
                lease,
                tags,
                service,
                ip,
                weight,
            },
        ),
        ExecuteMsg::RebindMember {
            network_id,
            name,
            lease,
        } => member::rebind(deps, env, info, network_id, name, lease),
        ExecuteMsg::RemoveMember { network_id, name } => {
            member::remove(deps, env, info, network_id, name)
        }
        ExecuteMsg::SetPolicy {
            network_id,
            name,
            policy,
        } => member::set_policy(deps, env, info, network_id, name, policy),
        ExecuteMsg::ApplyManifest {
            network_id,
            manifest,
        } => manifest::apply(deps, env, info, network_id, manifest),
        ExecuteMsg::AuthorizeProvider {
            network_id,
            provider,
        } => providers::authorize(deps, env, info, network_id, provider),
        ExecuteMsg::RevokeProvider {
            network_id,
            provider,
        } => providers::revoke(deps, env, info, network_id, provider),
        ExecuteMsg::CreateInvitation {
            network_id,
            pubkey,
            key_type,
            expires,
            max_uses,
            tags,
            max_members,
        } => invitation::create(
            deps,
            env,
            info,
            invitation::CreateArgs {
                network_id,
                pubkey,
                key_type,
                expires,
                max_uses,
                tags,
                max_members,
            },
        ),
        ExecuteMsg::RevokeInvitation {
            network_id,
            invitation_id,
        } => invitation::revoke(deps, env, info, network_id, invitation_id),
        ExecuteMsg::ClaimInvitation {
            network_id,
            invitation_id,
            signature,
        } => invitation::claim(deps, env, info, network_id, invitation_id, signature),
        ExecuteMsg::RemoveParticipant {
            network_id,
            participant,
        } => participant::remove(deps, env, info, network_id, participant),
        ExecuteMsg::LeaveNetwork { network_id } => participant::leave(deps, env, info, network_id),
        ExecuteMsg::UpdateParams { params } => admin::update_params(deps, info, params),
        ExecuteMsg::UpdateAdmin { admin } => admin::update_admin(deps, info, admin),
    }
}

#[cfg_attr(not(feature = "library"), entry_point)]
pub fn query(deps: Deps, _env: Env, msg: QueryMsg) -> Result<Binary, ContractError> {
    Ok(match msg {
        QueryMsg::Params {} => to_json_binary(&PARAMS.load(deps.storage)?)?,
        QueryMsg::Admin {} => to_json_binary(&query::admin(deps)?)?,
        QueryMsg::Network { network_id } => to_json_binary(&query::network(deps, network_id)?)?,
        QueryMsg::NetworksByOwner {
            owner,
            start_after,
            limit,
        } => to_json_binary(&query::networks_by_owner(deps, owner, start_after, limit)?)?,
        QueryMsg::NetworksByParticipant {
            participant,
            start_after,
            limit,
        } => to_json_binary(&query::networks_by_participant(
            deps,
            participant,
            start_after,
            limit,
        )?)?,
        QueryMsg::Members {
            network_id,
            start_after,
            limit,
        } => to_json_binary(&query::members(deps, network_id, start_after, limit)?)?,
        QueryMsg::Member { network_id, name } => {
            to_json_binary(&query::member(deps, network_id, name)?)?
        }
        QueryMsg::MemberByIp { network_id, ip } => {
            to_json_binary(&query::member_by_ip(deps, network_id, ip)?)?
        }
        QueryMsg::Policy { network_id, name } => {
            to_json_binary(&query::policy(deps, network_id, name)?)?
        }
        QueryMsg::Service { network_id, name } => {
            to_json_binary(&query::service(deps, network_id, name)?)?
        }
        QueryMsg::Services {
            network_id,
            start_after,
            limit,
        } => to_json_binary(&query::services(deps, network_id, start_after, limit)?)?,
        QueryMsg::Manifest {
            network_id,
            start_after,
            limit,
        } => to_json_binary(&manifest::export(deps, network_id, start_after, limit)?)?,
        QueryMsg::MembersByLease {
            lease,
            start_after,
            limit,
        } => to_json_binary(&query::members_by_lease(deps, lease, start_after, limit)?)?,
        QueryMsg::Invitations {
            network_id,
            start_after,
            limit,
        } => to_json_binary(&query::invitations(deps, network_id, start_after, limit)?)?,
        QueryMsg::Participants {
            network_id,
            start_after,
            limit,
        } => to_json_binary(&query::participants(deps, network_id, start_after, limit)?)?,
        QueryMsg::Providers {
            network_id,
            start_after,
            limit,
        } => to_json_binary(&query::providers(deps, network_id, start_after, limit)?)?,
        QueryMsg::ProviderView {
            provider,
            start_after,
            limit,
        } => to_json_binary(&query::provider_view(deps, provider, start_after, limit)?)?,
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
    let before = |major, minor| {
        semver::Version::parse(&stored.version)
            .is_ok_and(|v| v < semver::Version::new(major, minor, 0))
    };
    if before(0, 2) {
        crate::migrate::from_v1(deps.storage)?;
    }
    if before(0, 3) {
        crate::migrate::participant_index(deps.storage)?;
    }
    let mut skipped = vec![];
    if before(0, 4) {
        skipped = crate::migrate::services(deps.storage)?;
    }
    // 0.5 added member weights: an optional field that records without it
    // load as none, so nothing is rewritten.
    cw2::set_contract_version(deps.storage, CONTRACT_NAME, CONTRACT_VERSION)?;
    Ok(Response::new().add_event(
        Event::new("migrate")
            .add_attribute("from_version", stored.version)
            .add_attribute("to_version", CONTRACT_VERSION)
            .add_attribute("skipped_services", skipped.join(",")),
    ))
}
