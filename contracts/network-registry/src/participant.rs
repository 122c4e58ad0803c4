//! Participants leave or are removed, and with them every member they added
//! (found through the adder index, not a scan; at most their member quota).

use cosmwasm_std::{Addr, DepsMut, Env, MessageInfo, Order, Response, StdResult};

use crate::error::ContractError;
use crate::member;
use crate::network::{load_as_caller_in_window, load_owned_in_window, save_changed};
use crate::providers::Touched;
use crate::state::{BY_ADDER, MEMBERS, Network, PARTICIPANT_NETWORKS, PARTICIPANTS};
use crate::{events, tags, validate};

/// `remove_participant`: owner only.
pub fn remove(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    participant: String,
) -> Result<Response, ContractError> {
    let mut net = load_owned_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    let addr: Addr = validate::addr(deps.api, &participant)?;
    drop_participant(deps, &mut net, addr, "remove_participant")
}

/// `leave_network`: a participant leaves on its own.
pub fn leave(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
) -> Result<Response, ContractError> {
    let (mut net, _) =
        load_as_caller_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    drop_participant(deps, &mut net, info.sender, "leave_network")
}

fn drop_participant(
    deps: DepsMut,
    net: &mut Network,
    addr: Addr,
    action: &str,
) -> Result<Response, ContractError> {
    let p = PARTICIPANTS
        .may_load(deps.storage, (net.id, &addr))?
        .ok_or_else(|| ContractError::NotParticipant(addr.to_string()))?;
    // Bounded by the participant's quota (`max_members`).
    let names: Vec<String> = BY_ADDER
        .prefix((net.id, &addr))
        .keys(deps.storage, None, None, Order::Ascending)
        .take(p.max_members as usize)
        .collect::<StdResult<_>>()?;
    let mut touched = Touched::new();
    for name in &names {
        let m = MEMBERS.load(deps.storage, (net.id, name))?;
        member::delete(deps.storage, net, name, &m, &mut touched)?;
    }
    tags::drop_grants(deps.storage, net.id, &p.tags)?;
    PARTICIPANTS.remove(deps.storage, (net.id, &addr));
    PARTICIPANT_NETWORKS.remove(deps.storage, (&addr, net.id));
    net.participant_count -= 1;
    save_changed(deps.storage, net)?;
    Ok(Response::new().add_event(
        events::network(action, net, &touched)
            .add_attribute("participant", addr)
            .add_attribute("removed_members", names.len().to_string()),
    ))
}
