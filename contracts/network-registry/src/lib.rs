//! Network registry.

pub mod error;
pub mod msg;

pub use crate::error::ContractError;
