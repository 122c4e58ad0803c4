//! Governance: params and the admin.

use cosmwasm_std::{DepsMut, Event, MessageInfo, Response};

use crate::error::ContractError;
use crate::msg::Params;
use crate::state::{ADMIN, PARAMS};
use crate::validate;

fn check_admin(deps: &DepsMut, info: &MessageInfo) -> Result<(), ContractError> {
    if ADMIN.load(deps.storage)? != info.sender {
        return Err(ContractError::Unauthorized);
    }
    Ok(())
}

/// Replaces the params; existing state above new limits stays.
pub fn update_params(
    deps: DepsMut,
    info: MessageInfo,
    params: Params,
) -> Result<Response, ContractError> {
    check_admin(&deps, &info)?;
    validate::params(&params)?;
    PARAMS.save(deps.storage, &params)?;
    Ok(Response::new().add_event(Event::new("update_params")))
}

pub fn update_admin(
    deps: DepsMut,
    info: MessageInfo,
    admin: String,
) -> Result<Response, ContractError> {
    check_admin(&deps, &info)?;
    let admin = validate::addr(deps.api, &admin)?;
    ADMIN.save(deps.storage, &admin)?;
    Ok(Response::new().add_event(Event::new("update_admin").add_attribute("admin", admin)))
}
