//! Manifests: `apply_manifest` makes a network equal to a declarative
//! document in one message; the `manifest` query exports it back.
//!
//! Apply validates the whole document first (so a rejection writes
//! nothing), then removes unlisted members, updates vocabulary, default
//! action and authorized providers, updates listed members in place
//! (keeping their addresses), adds members with requested addresses, and
//! then the rest at the lowest free addresses, and finally joins services
//! (a new service takes the lowest free address then). When the document already
//! equals the network nothing is written and the revision stays.

use std::collections::BTreeSet;

use cosmwasm_std::{Addr, Deps, DepsMut, Env, MessageInfo, Order, Response, StdResult};
use cw_storage_plus::Bound;

use crate::error::ContractError;
use crate::member::{self, NewMember};
use crate::msg::{Manifest, ManifestMember, ManifestResponse, NetworkStatus, Policy};
use crate::network::{load_owned_in_window, save_changed};
use crate::providers::{self, Touched};
use crate::state::{IPS, Lease, MEMBERS, Member, NETWORKS, Network, PARAMS};
use crate::{events, ipam, policy, service, tags, validate};

/// A manifest member after validation.
struct Planned {
    name: String,
    lease: Lease,
    tags: Vec<String>,
    service: Option<String>,
    weight: Option<u32>,
    offset: Option<u32>,
    policy: Policy,
    policy_tags: Vec<String>,
    existing: Option<Member>,
}

pub fn apply(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    manifest: Manifest,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    let mut net = load_owned_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    let id = net.id;

    // Validate everything before writing.
    validate::names("tags", &manifest.tags, params.max_tags, &params)?;
    if let Some(t) = net
        .tags
        .iter()
        .find(|t| !manifest.tags.contains(t) && tags::granted(deps.storage, id, t))
    {
        return Err(ContractError::TagInUse(t.clone()));
    }
    validate::len(
        "authorized providers",
        &manifest.providers,
        params.max_list_len,
    )?;
    let mut wanted_providers = BTreeSet::new();
    for p in &manifest.providers {
        if !wanted_providers.insert(validate::addr(deps.api, p)?) {
            return Err(ContractError::Duplicate {
                kind: "provider",
                value: p.clone(),
            });
        }
    }
    if manifest.members.len() > params.max_members_per_network as usize {
        return Err(ContractError::TooManyMembers {
            id,
            max: params.max_members_per_network,
        });
    }
    if manifest.members.len() as u64 > ipam::capacity(&net) {
        return Err(ContractError::PoolExhausted(id));
    }
    let mut listed: BTreeSet<&str> = BTreeSet::new();
    for m in &manifest.members {
        if !listed.insert(m.name.as_str()) {
            return Err(ContractError::Duplicate {
                kind: "member",
                value: m.name.clone(),
            });
        }
    }
    let mut planned: Vec<Planned> = Vec::with_capacity(manifest.members.len());
    let mut requested = BTreeSet::new();
    for m in &manifest.members {
        let p = plan(deps.as_ref(), &net, m, &manifest.tags, &params)?;
        if let Some(offset) = p.offset {
            if !requested.insert(offset) {
                return Err(ContractError::IpTaken(ipam::ipv4(&net, offset).to_string()));
            }
            match &p.existing {
                Some(e) if e.offset != offset => {
                    return Err(ContractError::IpMismatch {
                        name: p.name.clone(),
                        requested: ipam::ipv4(&net, offset).to_string(),
                        current: ipam::ipv4(&net, e.offset).to_string(),
                    });
                }
                Some(_) => {}
                None => {
                    // Free now, or held by a member this manifest removes.
                    if let Some(holder) = IPS.may_load(deps.storage, (id, offset))?
                        && listed.contains(holder.as_str())
                    {
                        return Err(ContractError::IpTaken(ipam::ipv4(&net, offset).to_string()));
                    }
                }
            }
        }
        planned.push(p);
    }

    // Write.
    let store = deps.storage;
    let mut touched = Touched::new();
    let mut changed = false;
    let current: Vec<(String, Member)> = MEMBERS
        .prefix(id)
        .range(store, None, None, Order::Ascending)
        .collect::<StdResult<_>>()?;
    for (name, m) in current.iter().filter(|(n, _)| !listed.contains(n.as_str())) {
        member::delete_counted(store, &mut net, name, m, &mut touched)?;
        changed = true;
    }
    if net.default_action != manifest.default_action || net.tags != manifest.tags {
        net.default_action = manifest.default_action;
        net.tags = manifest.tags;
        changed = true;
    }
    let authorized: BTreeSet<Addr> = providers::authorized(store, id)?.into_iter().collect();
    for p in authorized.difference(&wanted_providers) {
        providers::set_authorized(store, &mut net, p, false, &mut touched)?;
        changed = true;
    }
    for p in wanted_providers.difference(&authorized) {
        providers::set_authorized(store, &mut net, p, true, &mut touched)?;
        changed = true;
    }
    let (existing, new): (Vec<Planned>, Vec<Planned>) =
        planned.into_iter().partition(|p| p.existing.is_some());
    // Services join after every static address is taken (a service takes
    // the lowest free one); changed services are left first.
    let mut joining: Vec<(String, Member)> = Vec::new();
    for p in existing {
        changed |= update_existing(store, &mut net, p, &mut touched, &mut joining)?;
    }
    let (fixed, auto): (Vec<Planned>, Vec<Planned>) =
        new.into_iter().partition(|p| p.offset.is_some());
    for p in fixed.into_iter().chain(auto) {
        let name = p.name.clone();
        let new = NewMember {
            name: p.name,
            lease: p.lease,
            tags: p.tags,
            service: p.service,
            weight: p.weight,
        };
        let m = member::insert(store, &mut net, new, p.offset, &mut touched)?;
        member::replace_policy(store, id, &name, p.policy, &p.policy_tags)?;
        joining.push((name, m));
        changed = true;
    }
    for (name, m) in &joining {
        member::join_service(store, &mut net, name, m)?;
    }
    if changed {
        save_changed(store, &mut net)?;
    }
    Ok(Response::new()
        .add_event(events::network("apply_manifest", &net, &touched))
        .add_attribute("changed", changed.to_string()))
}

fn plan(
    deps: Deps,
    net: &Network,
    m: &ManifestMember,
    vocabulary: &[String],
    params: &crate::msg::Params,
) -> Result<Planned, ContractError> {
    validate::name("member name", &m.name, params)?;
    let existing = MEMBERS.may_load(deps.storage, (net.id, &m.name))?;
    // New members are the owner's; a member keeps its adder.
    let adder = existing.as_ref().map_or(&net.owner, |e| &e.lease.owner);
    let lease = validate::lease(deps.api, &m.lease, adder)?;
    let weight = validate::weight(m.weight)?;
    if let Some(e) = &existing
        && e.lease.owner != net.owner
        && (e.lease != lease || e.tags != m.tags || e.service != m.service || e.weight != weight)
    {
        return Err(ContractError::ParticipantMemberInManifest(m.name.clone()));
    }
    validate::tags_in(&m.tags, vocabulary, params)?;
    validate::service(&m.service, params)?;
    if existing.is_none() {
        service::check_member_name(deps.storage, net.id, &m.name)?;
    }
    if let Some(s) = &m.service {
        service::check_join(deps.storage, net.id, s, &m.name, adder)?;
    }
    let checked = policy::check(m.policy.clone(), vocabulary, params)?;
    let offset = match &m.ip {
        Some(ip) => Some(ipam::offset_of(net, validate::ipv4(ip)?)?),
        None => None,
    };
    Ok(Planned {
        name: m.name.clone(),
        lease,
        tags: m.tags.clone(),
        service: m.service.clone(),
        weight,
        offset,
        policy: checked.policy,
        policy_tags: checked.tags,
        existing,
    })
}

/// Brings a remaining member in line with the manifest; true if it
/// changed. A member whose service changes leaves the old one here and is
/// pushed to `joining` to join the new one.
fn update_existing(
    store: &mut dyn cosmwasm_std::Storage,
    net: &mut Network,
    p: Planned,
    touched: &mut Touched,
    joining: &mut Vec<(String, Member)>,
) -> Result<bool, ContractError> {
    let id = net.id;
    let Some(mut m) = p.existing else {
        return Ok(false);
    };
    let before = m.clone();
    if m.lease != p.lease {
        member::set_lease(store, id, &p.name, &mut m, p.lease, touched)?;
    }
    if m.tags != p.tags {
        member::set_tags(store, id, &mut m, p.tags)?;
    }
    m.weight = p.weight;
    if m.service != p.service {
        if let Some(old) = &m.service {
            service::leave(store, net, old)?;
        }
        m.service = p.service;
        joining.push((p.name.clone(), m.clone()));
    }
    let mut changed = m != before;
    if changed {
        MEMBERS.save(store, (id, &p.name), &m)?;
    }
    if member::load_policy(store, id, &p.name)? != p.policy {
        member::replace_policy(store, id, &p.name, p.policy, &p.policy_tags)?;
        changed = true;
    }
    if changed {
        // Tags, service, weight and policy changes concern the hosting
        // provider too.
        touched.insert(m.lease.provider);
    }
    Ok(changed)
}

/// One page of the network as a manifest, members by name with explicit
/// addresses (a page of `limit` members, capped like every list query).
pub fn export(
    deps: Deps,
    network_id: u64,
    start_after: Option<String>,
    limit: Option<u32>,
) -> Result<ManifestResponse, ContractError> {
    let net = NETWORKS
        .may_load(deps.storage, network_id)?
        .ok_or(ContractError::NetworkNotFound(network_id))?;
    let n = validate::limit(limit, &PARAMS.load(deps.storage)?);
    // A closed network's records only wait for `purge_network`.
    let n = if net.status == NetworkStatus::Closed {
        0
    } else {
        n
    };
    let members: Vec<ManifestMember> = MEMBERS
        .prefix(net.id)
        .range(
            deps.storage,
            start_after.as_deref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n)
        .map(|r| {
            let (name, m) = r?;
            Ok(ManifestMember {
                policy: member::load_policy(deps.storage, net.id, &name)?,
                ip: Some(ipam::ipv4(&net, m.offset).to_string()),
                lease: m.lease.to_msg(),
                tags: m.tags,
                service: m.service,
                weight: m.weight,
                name,
            })
        })
        .collect::<Result<_, ContractError>>()?;
    let next_start_after = if members.len() == n {
        members.last().map(|m| m.name.clone())
    } else {
        None
    };
    Ok(ManifestResponse {
        manifest: Manifest {
            default_action: net.default_action,
            tags: net.tags,
            providers: if net.status == NetworkStatus::Closed {
                vec![]
            } else {
                providers::authorized(deps.storage, net.id)?
                    .into_iter()
                    .map(String::from)
                    .collect()
            },
            members,
        },
        next_start_after,
    })
}
