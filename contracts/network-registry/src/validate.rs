//! Input validation: names, lists, addresses, CIDRs, time windows, params.
//! Everything here is pure (no storage writes) and returns typed errors.

use std::net::Ipv4Addr;

use cosmwasm_std::{Addr, Api, Timestamp};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::ContractError;
use crate::msg::{LeaseId, MAX_WEIGHT, Params};
use crate::state::Lease;

/// Accepts 1..=max characters of `[a-z0-9._-]` starting with a letter or digit.
pub fn name(kind: &'static str, value: &str, params: &Params) -> Result<(), ContractError> {
    let ok = value.len() <= params.max_name_len as usize && crate::msg::is_name(value);
    if ok {
        Ok(())
    } else {
        Err(ContractError::InvalidName {
            kind,
            value: value.to_string(),
            max: params.max_name_len,
        })
    }
}

/// A member weight within 0..=[`MAX_WEIGHT`], normalized the way it is
/// stored: 0 is no weight.
pub fn weight(value: Option<u32>) -> Result<Option<u32>, ContractError> {
    match value {
        Some(w) if w > MAX_WEIGHT => Err(ContractError::InvalidWeight {
            got: w,
            max: MAX_WEIGHT,
        }),
        Some(0) | None => Ok(None),
        w => Ok(w),
    }
}

/// Checks a list's length against `max`.
pub fn len<T>(kind: &'static str, list: &[T], max: u32) -> Result<(), ContractError> {
    if list.len() > max as usize {
        Err(ContractError::TooMany {
            kind,
            got: list.len(),
            max,
        })
    } else {
        Ok(())
    }
}

/// A list of distinct valid names, at most `max` long.
pub fn names(
    kind: &'static str,
    list: &[String],
    max: u32,
    params: &Params,
) -> Result<(), ContractError> {
    len(kind, list, max)?;
    for (i, n) in list.iter().enumerate() {
        name(kind, n, params)?;
        if list[..i].contains(n) {
            return Err(ContractError::Duplicate {
                kind,
                value: n.clone(),
            });
        }
    }
    Ok(())
}

/// Valid distinct tags (at most `max_tags`), each in the vocabulary.
pub fn tags_in(
    list: &[String],
    vocabulary: &[String],
    params: &Params,
) -> Result<(), ContractError> {
    names("tags", list, params.max_tags, params)?;
    match list.iter().find(|t| !vocabulary.contains(t)) {
        Some(t) => Err(ContractError::UnknownTag(t.clone())),
        None => Ok(()),
    }
}

/// An optional service name.
pub fn service(value: &Option<String>, params: &Params) -> Result<(), ContractError> {
    match value {
        Some(s) => name("service", s, params),
        None => Ok(()),
    }
}

/// A bech32 account address of this chain.
pub fn addr(api: &dyn Api, value: &str) -> Result<Addr, ContractError> {
    api.addr_validate(value)
        .map_err(|_| ContractError::InvalidAddress(value.to_string()))
}

/// A lease with a valid provider address.
/// Validates a lease id whose owner must be `owner` (the account adding or
/// rebinding the member).
pub fn lease(api: &dyn Api, lease: &LeaseId, owner: &Addr) -> Result<Lease, ContractError> {
    let lease_owner = addr(api, &lease.owner)?;
    if lease_owner != *owner {
        return Err(ContractError::LeaseOwnerMismatch {
            lease_owner: lease_owner.to_string(),
            sender: owner.to_string(),
        });
    }
    Ok(Lease {
        owner: lease_owner,
        dseq: lease.dseq,
        gseq: lease.gseq,
        oseq: lease.oseq,
        provider: addr(api, &lease.provider)?,
        bseq: lease.bseq,
    })
}

/// Parses an IPv4 or IPv6 CIDR without host bits.
pub fn cidr(value: &str) -> Result<IpNet, ContractError> {
    let net: IpNet = value
        .parse()
        .map_err(|_| ContractError::InvalidCidr(value.to_string()))?;
    if net.network() != net.addr() {
        return Err(ContractError::HostBitsSet(value.to_string()));
    }
    Ok(net)
}

/// Parses the network's IPv4 CIDR; prefix within params.
pub fn cidr4(value: &str, params: &Params) -> Result<Ipv4Net, ContractError> {
    match cidr(value)? {
        IpNet::V4(net) => {
            prefix(
                net.prefix_len(),
                params.min_ipv4_prefix,
                params.max_ipv4_prefix,
            )?;
            Ok(net)
        }
        IpNet::V6(_) => Err(ContractError::InvalidCidr(value.to_string())),
    }
}

/// Parses the network's IPv6 CIDR; prefix within params and host part at
/// least as wide as the IPv4 one (a member's IPv6 reuses its IPv4 offset).
pub fn cidr6(value: &str, v4: &Ipv4Net, params: &Params) -> Result<Ipv6Net, ContractError> {
    match cidr(value)? {
        IpNet::V6(net) => {
            prefix(
                net.prefix_len(),
                params.min_ipv6_prefix,
                params.max_ipv6_prefix,
            )?;
            let needed = 32 - v4.prefix_len();
            if 128 - net.prefix_len() < needed {
                return Err(ContractError::Ipv6TooSmall {
                    cidr6: value.to_string(),
                    needed,
                });
            }
            Ok(net)
        }
        IpNet::V4(_) => Err(ContractError::InvalidCidr(value.to_string())),
    }
}

fn prefix(got: u8, min: u8, max: u8) -> Result<(), ContractError> {
    if got < min || got > max {
        Err(ContractError::PrefixOutOfRange { got, min, max })
    } else {
        Ok(())
    }
}

/// Parses a dotted IPv4 address.
pub fn ipv4(value: &str) -> Result<Ipv4Addr, ContractError> {
    value
        .parse()
        .map_err(|_| ContractError::InvalidIp(value.to_string()))
}

/// `start < end` when both are given; `end` (when given) after `now`.
pub fn window(
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), ContractError> {
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        return Err(ContractError::InvalidTimeWindow);
    }
    match end {
        Some(end) if end <= now => Err(ContractError::EndInPast { end, now }),
        _ => Ok(()),
    }
}

/// Rejects params that would make the contract unusable.
pub fn params(p: &Params) -> Result<(), ContractError> {
    let checks: [(bool, &'static str); 10] = [
        (
            p.max_members_per_participant > 0
                && p.max_members_per_participant <= p.max_members_per_network,
            "max_members_per_participant must be in 1..=max_members_per_network",
        ),
        (p.max_name_len > 0, "max_name_len must be positive"),
        (
            p.max_members_per_network > 0,
            "max_members_per_network must be positive",
        ),
        (
            p.max_networks_per_owner > 0,
            "max_networks_per_owner must be positive",
        ),
        (p.max_query_limit > 0, "max_query_limit must be positive"),
        (
            p.default_query_limit > 0 && p.default_query_limit <= p.max_query_limit,
            "default_query_limit must be in 1..=max_query_limit",
        ),
        (
            p.min_ipv4_prefix <= p.max_ipv4_prefix,
            "min_ipv4_prefix must not exceed max_ipv4_prefix",
        ),
        (
            p.max_ipv4_prefix <= 30 && p.min_ipv4_prefix >= 1,
            "IPv4 prefixes must be in 1..=30 (a network needs a usable host)",
        ),
        (
            p.min_ipv6_prefix <= p.max_ipv6_prefix,
            "min_ipv6_prefix must not exceed max_ipv6_prefix",
        ),
        (
            p.max_ipv6_prefix <= 126 && p.min_ipv6_prefix >= 1,
            "IPv6 prefixes must be in 1..=126",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, why)) => Err(ContractError::InvalidParams(why)),
        None => Ok(()),
    }
}

/// Effective page size.
pub fn limit(limit: Option<u32>, params: &Params) -> usize {
    limit
        .unwrap_or(params.default_query_limit)
        .min(params.max_query_limit) as usize
}
