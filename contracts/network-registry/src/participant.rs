//! Participant removal: the owner removes a participant, and with it every
//! member it added (found through the adder index, not a scan).

use cosmwasm_std::{Addr, DepsMut, MessageInfo, Order, Response, StdResult};

use crate::error::ContractError;
use crate::member;
use crate::network::{load_owned, save_changed};
use crate::providers::Touched;
use crate::state::{BY_ADDER, MEMBERS, PARTICIPANTS};
use crate::{events, tags, validate};

pub fn remove(
    deps: DepsMut,
    info: MessageInfo,
    network_id: u64,
    participant: String,
) -> Result<Response, ContractError> {
    let mut net = load_owned(deps.storage, network_id, &info.sender)?;
    let addr: Addr = validate::addr(deps.api, &participant)?;
    let p = PARTICIPANTS
        .may_load(deps.storage, (net.id, &addr))?
        .ok_or_else(|| ContractError::NotParticipant(addr.to_string()))?;
    let names: Vec<String> = BY_ADDER
        .prefix((net.id, &addr))
        .keys(deps.storage, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    let mut touched = Touched::new();
    for name in &names {
        let m = MEMBERS.load(deps.storage, (net.id, name))?;
        member::delete(deps.storage, &mut net, name, &m, &mut touched)?;
    }
    tags::drop_grants(deps.storage, net.id, &p.tags)?;
    PARTICIPANTS.remove(deps.storage, (net.id, &addr));
    net.participant_count -= 1;
    save_changed(deps.storage, &mut net)?;
    Ok(Response::new().add_event(
        events::network("remove_participant", &net, &touched)
            .add_attribute("participant", addr)
            .add_attribute("removed_members", names.len().to_string()),
    ))
}
