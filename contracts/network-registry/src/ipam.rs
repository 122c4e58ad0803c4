//! IPAM: the network's decentralized DHCP.
//!
//! Addresses are handled as host offsets from the network address. Offset 0
//! (network), 1 (virtual gateway / DNS) and the last one (broadcast) are
//! reserved; members get offsets `2..=size-2`. A member's IPv6 address, when
//! the network has an IPv6 prefix, is that prefix plus the same offset.
//!
//! State per network, all keyed by the network id:
//! - `Network::ipam_cursor`: every offset below the cursor has been handed
//!   out at some time, so it is now either taken or released;
//! - `RELEASED`: the released offsets below the cursor, ordered;
//! - `IPS`: offset → member, the taken set (also serves `member_by_ip`).
//!
//! Invariant: an offset below the cursor is in exactly one of `IPS` and
//! `RELEASED`; an offset at or above it is free unless a static request
//! took it (then it is in `IPS`). Hence the lowest free offset is the first
//! released one if any (it lies below the cursor, so below every free
//! offset at or above it), else the cursor after skipping statically taken
//! offsets. Allocation therefore reads one range entry and, amortized, O(1)
//! `IPS` entries (each static offset is skipped at most once), whatever the
//! number of members: there is no scan.

use std::net::{Ipv4Addr, Ipv6Addr};

use cosmwasm_std::{Order, StdResult, Storage};

use crate::error::ContractError;
use crate::state::{IPS, Network, RELEASED};

/// The first offset given to members (0 = network, 1 = gateway).
pub const FIRST_HOST: u32 = 2;

/// Number of addresses in the network.
fn size(net: &Network) -> u64 {
    1u64 << (32 - u32::from(net.cidr.prefix_len()))
}

/// The last offset given to members (the one before broadcast).
pub fn last_host(net: &Network) -> u32 {
    (size(net) - 2) as u32
}

/// How many members the network's pool can hold.
pub fn capacity(net: &Network) -> u64 {
    size(net).saturating_sub(3)
}

/// The IPv4 address of an offset.
pub fn ipv4(net: &Network, offset: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.cidr.network()) + offset)
}

/// The IPv6 address of an offset, when the network has an IPv6 prefix.
pub fn ipv6(net: &Network, offset: u32) -> Option<Ipv6Addr> {
    net.cidr6
        .map(|c| Ipv6Addr::from(u128::from(c.network()) + u128::from(offset)))
}

/// The offset of an address of the network that may be given to a member.
pub fn offset_of(net: &Network, ip: Ipv4Addr) -> Result<u32, ContractError> {
    if !net.cidr.contains(&ip) {
        return Err(ContractError::IpOutsideCidr {
            ip: ip.to_string(),
            cidr: net.cidr.to_string(),
        });
    }
    let offset = u32::from(ip) - u32::from(net.cidr.network());
    if offset < FIRST_HOST || offset > last_host(net) {
        return Err(ContractError::IpReserved(ip.to_string()));
    }
    Ok(offset)
}

/// Whether a valid host offset is free.
pub fn is_free(store: &dyn Storage, net: &Network, offset: u32) -> StdResult<bool> {
    Ok(if offset < net.ipam_cursor {
        RELEASED.has(store, (net.id, offset))
    } else {
        !IPS.has(store, (net.id, offset))
    })
}

/// Takes `requested` (which must be free) or the lowest free offset, and
/// records it for `member`. Fails before writing anything.
pub fn allocate(
    store: &mut dyn Storage,
    net: &mut Network,
    requested: Option<u32>,
    member: &str,
) -> Result<u32, ContractError> {
    let offset = match requested {
        Some(offset) => {
            if !is_free(store, net, offset)? {
                return Err(ContractError::IpTaken(ipv4(net, offset).to_string()));
            }
            if offset < net.ipam_cursor {
                RELEASED.remove(store, (net.id, offset));
            }
            offset
        }
        None => match first_released(store, net.id)? {
            Some(offset) => {
                RELEASED.remove(store, (net.id, offset));
                offset
            }
            None => {
                let mut cursor = net.ipam_cursor;
                while cursor <= last_host(net) && IPS.has(store, (net.id, cursor)) {
                    cursor += 1;
                }
                if cursor > last_host(net) {
                    return Err(ContractError::PoolExhausted(net.id));
                }
                net.ipam_cursor = cursor + 1;
                cursor
            }
        },
    };
    IPS.save(store, (net.id, offset), &member.to_string())?;
    Ok(offset)
}

/// Frees an offset: it goes back to the released set when below the cursor.
pub fn release(store: &mut dyn Storage, net: &Network, offset: u32) -> StdResult<()> {
    IPS.remove(store, (net.id, offset));
    if offset < net.ipam_cursor {
        RELEASED.save(store, (net.id, offset), &())?;
    }
    Ok(())
}

fn first_released(store: &dyn Storage, id: u64) -> StdResult<Option<u32>> {
    RELEASED
        .prefix(id)
        .keys(store, None, None, Order::Ascending)
        .next()
        .transpose()
}
