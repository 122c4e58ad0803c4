//! Typed errors of the network registry.

use cosmwasm_std::StdError;
use thiserror::Error;

/// Every way a message to the network registry can be rejected.
#[derive(Error, Debug)]
pub enum ContractError {
    #[error("{0}")]
    Std(#[from] StdError),
}
