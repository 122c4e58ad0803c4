//! Firewall policy validation.
//!
//! The contract stores policies; relayers enforce them: a flow A→B on
//! (protocol, port) is allowed iff A's egress and B's ingress both allow it,
//! within one list deny beats allow, and no match falls back to the
//! network's default action. Here a policy is checked against the params
//! and the network's tag vocabulary, and its CIDRs are canonicalised.

use crate::error::ContractError;
use crate::msg::{Params, Peers, Policy, Protocol, Rule};
use crate::validate;

/// A checked policy and the distinct tags its rules reference.
pub struct Checked {
    pub policy: Policy,
    pub tags: Vec<String>,
}

/// Validates every rule of both lists.
pub fn check(
    policy: Policy,
    vocabulary: &[String],
    params: &Params,
) -> Result<Checked, ContractError> {
    validate::len(
        "ingress rules",
        &policy.ingress,
        params.max_rules_per_policy,
    )?;
    validate::len("egress rules", &policy.egress, params.max_rules_per_policy)?;
    let mut tags = Vec::new();
    let mut out = Policy::default();
    for (list, dst) in [
        (policy.ingress, &mut out.ingress),
        (policy.egress, &mut out.egress),
    ] {
        for rule in list {
            dst.push(rule_check(rule, vocabulary, params, &mut tags)?);
        }
    }
    Ok(Checked { policy: out, tags })
}

/// The distinct tags a stored (already valid) policy references.
pub fn referenced_tags(policy: &Policy) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for rule in policy.ingress.iter().chain(&policy.egress) {
        if let Peers::Tags(list) = &rule.peers {
            for t in list {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        }
    }
    tags
}

fn rule_check(
    mut rule: Rule,
    vocabulary: &[String],
    params: &Params,
    tags: &mut Vec<String>,
) -> Result<Rule, ContractError> {
    if let Some(p) = rule.ports {
        if rule.protocol == Protocol::Icmp {
            return Err(ContractError::IcmpWithPorts);
        }
        if p.start == 0 || p.end == 0 {
            return Err(ContractError::PortZero);
        }
        if p.start > p.end {
            return Err(ContractError::ReversedPorts {
                start: p.start,
                end: p.end,
            });
        }
    }
    match &mut rule.peers {
        Peers::Any => {}
        Peers::Members(names) => {
            non_empty(names)?;
            validate::names("peer members", names, params.max_list_len, params)?;
        }
        Peers::Services(names) => {
            non_empty(names)?;
            validate::names("peer services", names, params.max_list_len, params)?;
        }
        Peers::Tags(list) => {
            non_empty(list)?;
            validate::names("peer tags", list, params.max_list_len, params)?;
            for t in list.iter() {
                if !vocabulary.contains(t) {
                    return Err(ContractError::UnknownTag(t.clone()));
                }
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        }
        Peers::Cidrs(list) => {
            non_empty(list)?;
            validate::len("peer cidrs", list, params.max_list_len)?;
            for c in list.iter_mut() {
                *c = validate::cidr(c)?.to_string();
            }
        }
    }
    Ok(rule)
}

fn non_empty<T>(list: &[T]) -> Result<(), ContractError> {
    if list.is_empty() {
        Err(ContractError::EmptyPeers)
    } else {
        Ok(())
    }
}
