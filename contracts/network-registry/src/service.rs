//! Services: members sharing a `service` name form a service with its own
//! address, taken from the network's IPAM when its first replica joins and
//! released when its last one leaves, so no member can ever hold it.
//!
//! Names: a service name is never a member name of the same network and
//! vice versa (an address query by name is unambiguous). Ownership: the
//! account that adds the first replica owns the service; members added by
//! another account cannot join it, so a participant can neither capture an
//! owner's service traffic nor grow someone else's service. Every service
//! has at least one replica, so services never outnumber members and a
//! participant's quota bounds the addresses it can take.

use cosmwasm_std::{Addr, Storage};

use crate::error::ContractError;
use crate::ipam;
use crate::state::{MEMBERS, Network, SERVICES, Service};

/// Fails when `name` may not be a new member's name (a service has it).
pub fn check_member_name(store: &dyn Storage, id: u64, name: &str) -> Result<(), ContractError> {
    if SERVICES.has(store, (id, name)) {
        return Err(ContractError::NameIsService(name.to_string()));
    }
    Ok(())
}

/// Fails when member `member` added by `adder` may not join service
/// `name`: the name is a member's (or its own), or another account owns it.
pub fn check_join(
    store: &dyn Storage,
    id: u64,
    name: &str,
    member: &str,
    adder: &Addr,
) -> Result<(), ContractError> {
    if name == member || MEMBERS.has(store, (id, name)) {
        return Err(ContractError::ServiceIsMember(name.to_string()));
    }
    match SERVICES.may_load(store, (id, name))? {
        Some(s) if s.owner != *adder => Err(ContractError::ServiceNotOwned {
            service: name.to_string(),
            owner: s.owner.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Adds a replica added by `adder` (named `member`) to service `name`,
/// allocating the service's address for the first one. Fails before
/// writing anything.
pub fn join(
    store: &mut dyn Storage,
    net: &mut Network,
    name: &str,
    member: &str,
    adder: &Addr,
) -> Result<(), ContractError> {
    check_join(store, net.id, name, member, adder)?;
    let service = match SERVICES.may_load(store, (net.id, name))? {
        Some(s) => Service {
            replicas: s.replicas + 1,
            ..s
        },
        None => Service {
            offset: ipam::allocate(store, net, None, name)?,
            owner: adder.clone(),
            replicas: 1,
        },
    };
    SERVICES.save(store, (net.id, name), &service)?;
    Ok(())
}

/// Removes a replica of service `name`; the last one releases the address.
/// A service without a record (one `migrate` could not create) is ignored.
pub fn leave(store: &mut dyn Storage, net: &Network, name: &str) -> Result<(), ContractError> {
    let Some(mut s) = SERVICES.may_load(store, (net.id, name))? else {
        return Ok(());
    };
    if s.replicas <= 1 {
        ipam::release(store, net, s.offset)?;
        SERVICES.remove(store, (net.id, name));
    } else {
        s.replicas -= 1;
        SERVICES.save(store, (net.id, name), &s)?;
    }
    Ok(())
}
