//! Networks: create, update, close, and the checks every network-scoped
//! message shares (existence, open status, caller role, time window).

use cosmwasm_std::{Addr, DepsMut, Env, MessageInfo, Response, StdResult, Storage, Timestamp};

use crate::error::ContractError;
use crate::msg::{Action, NetworkStatus};
use crate::state::{
    NETWORK_SEQ, NETWORKS, Network, OPEN_COUNT, OPEN_NAMES, OWNER_NETWORKS, PARAMS, PARTICIPANTS,
    Participant,
};
use crate::{events, ipam, providers, purge, tags, validate};

/// Who is acting on a network.
pub enum Caller {
    Owner,
    Participant(Participant),
}

/// Loads a network or fails with `NetworkNotFound`.
pub fn load(store: &dyn Storage, id: u64) -> Result<Network, ContractError> {
    NETWORKS
        .may_load(store, id)?
        .ok_or(ContractError::NetworkNotFound(id))
}

/// Loads an open network.
pub fn load_open(store: &dyn Storage, id: u64) -> Result<Network, ContractError> {
    let net = load(store, id)?;
    if net.status == NetworkStatus::Closed {
        return Err(ContractError::NetworkClosed(id));
    }
    Ok(net)
}

/// Loads an open network owned by `sender`.
pub fn load_owned(store: &dyn Storage, id: u64, sender: &Addr) -> Result<Network, ContractError> {
    let net = load_open(store, id)?;
    if net.owner != *sender {
        return Err(ContractError::Unauthorized);
    }
    Ok(net)
}

/// Loads an open network on which `sender` is the owner or a participant.
pub fn load_as_caller(
    store: &dyn Storage,
    id: u64,
    sender: &Addr,
) -> Result<(Network, Caller), ContractError> {
    let net = load_open(store, id)?;
    if net.owner == *sender {
        return Ok((net, Caller::Owner));
    }
    match PARTICIPANTS.may_load(store, (id, sender))? {
        Some(p) => Ok((net, Caller::Participant(p))),
        None => Err(ContractError::Unauthorized),
    }
}

/// Loads an open network owned by `sender` for a change that the time box
/// governs (refused outside `start_time..end_time`).
pub fn load_owned_in_window(
    store: &dyn Storage,
    id: u64,
    sender: &Addr,
    now: Timestamp,
) -> Result<Network, ContractError> {
    let net = load_owned(store, id, sender)?;
    check_window(&net, now)?;
    Ok(net)
}

/// [`load_as_caller`] for a change that the time box governs.
pub fn load_as_caller_in_window(
    store: &dyn Storage,
    id: u64,
    sender: &Addr,
    now: Timestamp,
) -> Result<(Network, Caller), ContractError> {
    let (net, caller) = load_as_caller(store, id, sender)?;
    check_window(&net, now)?;
    Ok((net, caller))
}

/// Rejects time-boxed actions before `start_time` or from `end_time` on.
/// Every message that changes members, policies, providers, invitations or
/// participants goes through it; only `update_network` (which moves the
/// window), `close_network` and `purge_network` do not.
pub fn check_window(net: &Network, now: Timestamp) -> Result<(), ContractError> {
    if let Some(start) = net.start_time
        && now < start
    {
        return Err(ContractError::NotStarted { id: net.id, start });
    }
    if let Some(end) = net.end_time
        && now >= end
    {
        return Err(ContractError::Ended { id: net.id, end });
    }
    Ok(())
}

/// Bumps the revision and saves.
pub fn save_changed(store: &mut dyn Storage, net: &mut Network) -> StdResult<()> {
    net.revision += 1;
    NETWORKS.save(store, net.id, net)
}

/// Arguments of `create_network`.
pub struct CreateArgs {
    pub name: String,
    pub cidr: String,
    pub cidr6: Option<String>,
    pub default_action: Option<Action>,
    pub tags: Vec<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
}

pub fn create(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    args: CreateArgs,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    validate::name("network name", &args.name, &params)?;
    let cidr = validate::cidr4(&args.cidr, &params)?;
    let cidr6 = match &args.cidr6 {
        Some(c) => Some(validate::cidr6(c, &cidr, &params)?),
        None => None,
    };
    validate::names("tags", &args.tags, params.max_tags, &params)?;
    validate::window(args.start_time, args.end_time, env.block.time)?;
    let owner = info.sender;
    if OPEN_NAMES.has(deps.storage, (&owner, &args.name)) {
        return Err(ContractError::DuplicateNetworkName(args.name));
    }
    let open = OPEN_COUNT.may_load(deps.storage, &owner)?.unwrap_or(0);
    if open >= params.max_networks_per_owner {
        return Err(ContractError::TooManyNetworks(
            params.max_networks_per_owner,
        ));
    }
    let id = NETWORK_SEQ.may_load(deps.storage)?.unwrap_or(0) + 1;
    let mut net = Network {
        id,
        owner: owner.clone(),
        name: args.name,
        cidr,
        cidr6,
        default_action: args.default_action.unwrap_or_default(),
        tags: args.tags,
        start_time: args.start_time,
        end_time: args.end_time,
        status: NetworkStatus::Open,
        revision: 0,
        member_count: 0,
        created_at: env.block.time,
        ipam_cursor: ipam::FIRST_HOST,
        next_invitation_id: 1,
        invitation_count: 0,
        participant_count: 0,
        authorized_count: 0,
    };
    NETWORK_SEQ.save(deps.storage, &id)?;
    OWNER_NETWORKS.save(deps.storage, (&owner, id), &())?;
    OPEN_NAMES.save(deps.storage, (&owner, &net.name), &id)?;
    OPEN_COUNT.save(deps.storage, &owner, &(open + 1))?;
    save_changed(deps.storage, &mut net)?;
    Ok(Response::new()
        .add_attribute("network_id", id.to_string())
        .add_event(events::network("create_network", &net, &Default::default())))
}

/// Arguments of `update_network`.
pub struct UpdateArgs {
    pub network_id: u64,
    pub default_action: Option<Action>,
    pub tags: Option<Vec<String>>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
}

pub fn update(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    args: UpdateArgs,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    let mut net = load_owned(deps.storage, args.network_id, &info.sender)?;
    if let Some(new_tags) = &args.tags {
        validate::names("tags", new_tags, params.max_tags, &params)?;
        if let Some(t) = net
            .tags
            .iter()
            .find(|t| !new_tags.contains(t) && tags::in_use(deps.storage, net.id, t))
        {
            return Err(ContractError::TagInUse(t.clone()));
        }
    }
    let start = args.start_time.or(net.start_time);
    let end = args.end_time.or(net.end_time);
    if args.start_time.is_some() || args.end_time.is_some() {
        validate::window(start, end, env.block.time)?;
    }
    if let Some(a) = args.default_action {
        net.default_action = a;
    }
    if let Some(t) = args.tags {
        net.tags = t;
    }
    net.start_time = start;
    net.end_time = end;
    save_changed(deps.storage, &mut net)?;
    // Default action and vocabulary concern every member's flows.
    let touched = providers::for_event(deps.storage, net.id)?;
    Ok(Response::new().add_event(events::network("update_network", &net, &touched)))
}

/// Records deleted by `close_network` itself; `purge_network` does the rest.
const CLOSE_BATCH: usize = 100;
/// Default and maximum `limit` of `purge_network`.
pub const MAX_PURGE_BATCH: u32 = 500;

/// Closes at once (status, name, open count: O(1), and relayers drop a
/// network whose status is closed); its records go in bounded batches.
pub fn close(deps: DepsMut, info: MessageInfo, network_id: u64) -> Result<Response, ContractError> {
    let mut net = load_owned(deps.storage, network_id, &info.sender)?;
    let store = deps.storage;
    OPEN_NAMES.remove(store, (&net.owner, &net.name));
    let open = OPEN_COUNT.load(store, &net.owner)?;
    if open <= 1 {
        OPEN_COUNT.remove(store, &net.owner);
    } else {
        OPEN_COUNT.save(store, &net.owner, &(open - 1))?;
    }
    net.status = NetworkStatus::Closed;
    net.member_count = 0;
    net.invitation_count = 0;
    net.participant_count = 0;
    net.authorized_count = 0;
    net.ipam_cursor = ipam::FIRST_HOST;
    let touched = providers::for_event(store, net.id)?;
    let remaining = purge::batch(store, net.id, CLOSE_BATCH)?;
    save_changed(store, &mut net)?;
    Ok(Response::new().add_event(
        events::network("close_network", &net, &touched)
            .add_attribute("remaining", remaining.to_string()),
    ))
}

/// `purge_network`: anyone may delete records of a closed network.
pub fn purge(
    deps: DepsMut,
    network_id: u64,
    limit: Option<u32>,
) -> Result<Response, ContractError> {
    let net = load(deps.storage, network_id)?;
    if net.status != NetworkStatus::Closed {
        return Err(ContractError::NotClosed(network_id));
    }
    let n = limit.unwrap_or(MAX_PURGE_BATCH).clamp(1, MAX_PURGE_BATCH) as usize;
    let remaining = purge::batch(deps.storage, net.id, n)?;
    Ok(Response::new().add_event(
        events::network("purge_network", &net, &Default::default())
            .add_attribute("remaining", remaining.to_string()),
    ))
}
