//! Members: add, rebind, remove, set_policy, and the storage operations the
//! manifest and participant removal reuse. Each operation keeps the IPAM,
//! the adder index, provider hosting counts and tag counters in step.

use cosmwasm_std::{Addr, DepsMut, Env, MessageInfo, Response, Storage};

use crate::error::ContractError;
use crate::msg::{LeaseId, Policy};
use crate::network::{Caller, load_as_caller_in_window, save_changed};
use crate::providers::{self, Touched};
use crate::state::{
    BY_ADDER, LEASE_MEMBERS, Lease, MEMBERS, Member, Network, PARAMS, PARTICIPANTS, POLICIES,
    Participant, SERVICES,
};
use crate::{events, ipam, policy, service, tags, validate};

/// A validated member about to be stored; `lease.owner` adds it.
pub struct NewMember {
    pub name: String,
    pub lease: Lease,
    pub tags: Vec<String>,
    pub service: Option<String>,
    /// Validated ([`validate::weight`]).
    pub weight: Option<u32>,
}

/// Allocates the address (`requested` offset or the lowest free one) and
/// stores the member. The caller then joins its service ([`join_service`]),
/// after every static address of the message is taken. On an error the
/// message fails and the chain discards every write.
pub fn insert(
    store: &mut dyn Storage,
    net: &mut Network,
    m: NewMember,
    requested: Option<u32>,
    touched: &mut Touched,
) -> Result<Member, ContractError> {
    service::check_member_name(store, net.id, &m.name)?;
    let offset = ipam::allocate(store, net, requested, &m.name)?;
    BY_ADDER.save(store, (net.id, &m.lease.owner, &m.name), &())?;
    LEASE_MEMBERS.save(store, (&m.lease.key(), net.id, &m.name), &())?;
    providers::host(store, net.id, &m.lease.provider, touched)?;
    tags::add_refs(store, net.id, &m.tags)?;
    let member = Member {
        offset,
        lease: m.lease,
        tags: m.tags,
        service: m.service,
        weight: m.weight,
    };
    MEMBERS.save(store, (net.id, &m.name), &member)?;
    net.member_count += 1;
    Ok(member)
}

/// Joins a stored member's service, if it names one.
pub fn join_service(
    store: &mut dyn Storage,
    net: &mut Network,
    name: &str,
    member: &Member,
) -> Result<(), ContractError> {
    match &member.service {
        Some(s) => service::join(store, net, s, name, &member.lease.owner),
        None => Ok(()),
    }
}

/// Removes a member with its policy and releases its address.
pub fn delete(
    store: &mut dyn Storage,
    net: &mut Network,
    name: &str,
    member: &Member,
    touched: &mut Touched,
) -> Result<(), ContractError> {
    ipam::release(store, net, member.offset)?;
    if let Some(s) = &member.service {
        service::leave(store, net, s)?;
    }
    BY_ADDER.remove(store, (net.id, &member.lease.owner, name));
    LEASE_MEMBERS.remove(store, (&member.lease.key(), net.id, name));
    providers::unhost(store, net.id, &member.lease.provider, touched)?;
    tags::drop_refs(store, net.id, &member.tags)?;
    replace_policy(store, net.id, name, Policy::default(), &[])?;
    MEMBERS.remove(store, (net.id, name));
    net.member_count -= 1;
    Ok(())
}

/// Moves a member to another lease of the same owner (its address stays).
pub fn set_lease(
    store: &mut dyn Storage,
    id: u64,
    name: &str,
    member: &mut Member,
    lease: Lease,
    touched: &mut Touched,
) -> Result<(), ContractError> {
    debug_assert_eq!(member.lease.owner, lease.owner);
    providers::unhost(store, id, &member.lease.provider, touched)?;
    providers::host(store, id, &lease.provider, touched)?;
    LEASE_MEMBERS.remove(store, (&member.lease.key(), id, name));
    LEASE_MEMBERS.save(store, (&lease.key(), id, name), &())?;
    member.lease = lease;
    Ok(())
}

/// Replaces a member's tags.
pub fn set_tags(
    store: &mut dyn Storage,
    id: u64,
    member: &mut Member,
    new_tags: Vec<String>,
) -> Result<(), ContractError> {
    tags::drop_refs(store, id, &member.tags)?;
    tags::add_refs(store, id, &new_tags)?;
    member.tags = new_tags;
    Ok(())
}

/// The stored policy of a member (empty when none).
pub fn load_policy(store: &dyn Storage, id: u64, name: &str) -> Result<Policy, ContractError> {
    Ok(POLICIES.may_load(store, (id, name))?.unwrap_or_default())
}

/// Replaces a member's policy (already checked, referencing `new_tags`).
pub fn replace_policy(
    store: &mut dyn Storage,
    id: u64,
    name: &str,
    new: Policy,
    new_tags: &[String],
) -> Result<(), ContractError> {
    if let Some(old) = POLICIES.may_load(store, (id, name))? {
        tags::drop_refs(store, id, &policy::referenced_tags(&old))?;
    }
    tags::add_refs(store, id, new_tags)?;
    if new == Policy::default() {
        POLICIES.remove(store, (id, name));
    } else {
        POLICIES.save(store, (id, name), &new)?;
    }
    Ok(())
}

/// Loads a member the caller may manage: any for the owner, only its own
/// for a participant.
fn load_managed(
    store: &dyn Storage,
    net: &Network,
    caller: &Caller,
    sender: &Addr,
    name: &str,
) -> Result<Member, ContractError> {
    let member = MEMBERS
        .may_load(store, (net.id, name))?
        .ok_or_else(|| ContractError::MemberNotFound(name.to_string()))?;
    match caller {
        Caller::Participant(_) if member.lease.owner != *sender => Err(ContractError::Unauthorized),
        _ => Ok(member),
    }
}

/// The event of a member message: `member`, `ip` and, when it has one,
/// `weight`.
fn event(action: &str, net: &Network, touched: &Touched, name: &str, member: &Member) -> Response {
    let mut ev = events::network(action, net, touched)
        .add_attribute("member", name)
        .add_attribute("ip", ipam::ipv4(net, member.offset).to_string());
    if let Some(w) = member.weight {
        ev = ev.add_attribute("weight", w.to_string());
    }
    Response::new().add_event(ev)
}

/// Adds the member's service to its event: `service`, `service_ip` and
/// `service_replicas` (0 and no address once the last replica left).
fn service_event(
    store: &dyn Storage,
    mut res: Response,
    net: &Network,
    member: &Member,
) -> Result<Response, ContractError> {
    let Some(name) = &member.service else {
        return Ok(res);
    };
    let s = SERVICES.may_load(store, (net.id, name))?;
    let replicas = s.as_ref().map_or(0, |s| s.replicas);
    let ev = &mut res.events[0];
    ev.attributes.push(("service", name.as_str()).into());
    ev.attributes
        .push(("service_replicas", replicas.to_string()).into());
    if let Some(s) = s {
        ev.attributes
            .push(("service_ip", ipam::ipv4(net, s.offset).to_string()).into());
    }
    Ok(res)
}

/// What a participant may do beyond the owner's checks: host only on
/// providers the owner authorized.
fn check_participant_provider(
    store: &dyn Storage,
    net: &Network,
    lease: &Lease,
) -> Result<(), ContractError> {
    if providers::is_authorized(store, net.id, &lease.provider)? {
        Ok(())
    } else {
        Err(ContractError::ProviderNotAllowed(
            lease.provider.to_string(),
        ))
    }
}

/// A participant's new member: at least one tag, all granted; no static
/// address; an authorized provider; within its quota.
fn check_participant_add(
    store: &dyn Storage,
    net: &Network,
    p: &Participant,
    sender: &Addr,
    args: &AddArgs,
    lease: &Lease,
) -> Result<(), ContractError> {
    if args.tags.is_empty() {
        return Err(ContractError::ParticipantMemberUntagged);
    }
    if let Some(t) = args.tags.iter().find(|t| !p.tags.contains(t)) {
        return Err(ContractError::TagNotGranted(t.clone()));
    }
    if args.ip.is_some() {
        return Err(ContractError::ParticipantStaticIp);
    }
    check_participant_provider(store, net, lease)?;
    if p.member_count >= p.max_members {
        return Err(ContractError::ParticipantQuota {
            participant: sender.to_string(),
            max: p.max_members,
        });
    }
    Ok(())
}

/// Arguments of `add_member`.
pub struct AddArgs {
    pub network_id: u64,
    pub name: String,
    pub lease: LeaseId,
    pub tags: Vec<String>,
    pub service: Option<String>,
    pub ip: Option<String>,
    pub weight: Option<u32>,
}

pub fn add(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    args: AddArgs,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    let (mut net, caller) =
        load_as_caller_in_window(deps.storage, args.network_id, &info.sender, env.block.time)?;
    validate::name("member name", &args.name, &params)?;
    let lease = validate::lease(deps.api, &args.lease, &info.sender)?;
    validate::tags_in(&args.tags, &net.tags, &params)?;
    validate::service(&args.service, &params)?;
    let weight = validate::weight(args.weight)?;
    if let Caller::Participant(p) = &caller {
        check_participant_add(deps.storage, &net, p, &info.sender, &args, &lease)?;
    }
    if MEMBERS.has(deps.storage, (net.id, &args.name)) {
        return Err(ContractError::MemberExists(args.name));
    }
    service::check_member_name(deps.storage, net.id, &args.name)?;
    if let Some(s) = &args.service {
        service::check_join(deps.storage, net.id, s, &args.name, &lease.owner)?;
    }
    if net.member_count >= params.max_members_per_network {
        return Err(ContractError::TooManyMembers {
            id: net.id,
            max: params.max_members_per_network,
        });
    }
    let requested = match &args.ip {
        Some(ip) => Some(ipam::offset_of(&net, validate::ipv4(ip)?)?),
        None => None,
    };
    let mut touched = Touched::new();
    let name = args.name.clone();
    let new = NewMember {
        name: args.name,
        lease,
        tags: args.tags,
        service: args.service,
        weight,
    };
    let member = insert(deps.storage, &mut net, new, requested, &mut touched)?;
    join_service(deps.storage, &mut net, &name, &member)?;
    if let Caller::Participant(mut p) = caller {
        p.member_count += 1;
        PARTICIPANTS.save(deps.storage, (net.id, &info.sender), &p)?;
    }
    save_changed(deps.storage, &mut net)?;
    let res = event("add_member", &net, &touched, &name, &member);
    service_event(deps.storage, res, &net, &member)
}

pub fn rebind(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    name: String,
    lease: LeaseId,
) -> Result<Response, ContractError> {
    let (mut net, caller) =
        load_as_caller_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    let mut member = load_managed(deps.storage, &net, &caller, &info.sender, &name)?;
    if member.lease.owner != info.sender {
        return Err(ContractError::NotMemberAdder {
            name,
            adder: member.lease.owner.to_string(),
        });
    }
    let lease = validate::lease(deps.api, &lease, &info.sender)?;
    if let Caller::Participant(_) = caller {
        check_participant_provider(deps.storage, &net, &lease)?;
    }
    let mut touched = Touched::new();
    set_lease(
        deps.storage,
        net.id,
        &name,
        &mut member,
        lease,
        &mut touched,
    )?;
    MEMBERS.save(deps.storage, (net.id, &name), &member)?;
    save_changed(deps.storage, &mut net)?;
    Ok(event("rebind_member", &net, &touched, &name, &member))
}

/// Deletes a member and, when a participant added it, lowers its count.
pub fn delete_counted(
    store: &mut dyn Storage,
    net: &mut Network,
    name: &str,
    member: &Member,
    touched: &mut Touched,
) -> Result<(), ContractError> {
    delete(store, net, name, member, touched)?;
    if let Some(mut p) = PARTICIPANTS.may_load(store, (net.id, &member.lease.owner))? {
        p.member_count = p.member_count.saturating_sub(1);
        PARTICIPANTS.save(store, (net.id, &member.lease.owner), &p)?;
    }
    Ok(())
}

pub fn remove(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    name: String,
) -> Result<Response, ContractError> {
    let (mut net, caller) =
        load_as_caller_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    let member = load_managed(deps.storage, &net, &caller, &info.sender, &name)?;
    let mut touched = Touched::new();
    delete_counted(deps.storage, &mut net, &name, &member, &mut touched)?;
    save_changed(deps.storage, &mut net)?;
    let res = event("remove_member", &net, &touched, &name, &member);
    service_event(deps.storage, res, &net, &member)
}

pub fn set_policy(
    deps: DepsMut,
    env: Env,
    info: MessageInfo,
    network_id: u64,
    name: String,
    new: Policy,
) -> Result<Response, ContractError> {
    let params = PARAMS.load(deps.storage)?;
    let (mut net, caller) =
        load_as_caller_in_window(deps.storage, network_id, &info.sender, env.block.time)?;
    let member = load_managed(deps.storage, &net, &caller, &info.sender, &name)?;
    let checked = policy::check(new, &net.tags, &params)?;
    if let Caller::Participant(p) = &caller
        && let Some(t) = checked.tags.iter().find(|t| !p.tags.contains(t))
    {
        return Err(ContractError::TagNotGranted(t.clone()));
    }
    replace_policy(deps.storage, net.id, &name, checked.policy, &checked.tags)?;
    save_changed(deps.storage, &mut net)?;
    let mut touched = Touched::new();
    touched.insert(member.lease.provider.clone());
    Ok(event("set_policy", &net, &touched, &name, &member))
}
