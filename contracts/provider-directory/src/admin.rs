//! Admin (governance) messages.

use cosmwasm_std::{DepsMut, Event, MessageInfo, Response};

use crate::error::ContractError;
use crate::msg::Params;
use crate::state::{ADMIN, PARAMS};
use crate::validate::check_params;

fn ensure_admin(deps: &DepsMut, info: &MessageInfo) -> Result<(), ContractError> {
    if ADMIN.load(deps.storage)? == info.sender {
        Ok(())
    } else {
        Err(ContractError::Unauthorized)
    }
}

pub fn update_params(
    deps: DepsMut,
    info: MessageInfo,
    params: Params,
) -> Result<Response, ContractError> {
    ensure_admin(&deps, &info)?;
    check_params(&params)?;
    PARAMS.save(deps.storage, &params)?;
    Ok(Response::new().add_event(Event::new("update_params")))
}

pub fn update_admin(
    deps: DepsMut,
    info: MessageInfo,
    admin: String,
) -> Result<Response, ContractError> {
    ensure_admin(&deps, &info)?;
    let admin = deps.api.addr_validate(&admin)?;
    ADMIN.save(deps.storage, &admin)?;
    Ok(Response::new().add_event(Event::new("update_admin").add_attribute("admin", admin)))
}
