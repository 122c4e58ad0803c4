//! Queries; lists are paginated (`start_after`, `limit` capped by params).

use cosmwasm_std::{Addr, Deps, Order, StdResult};
use cw_storage_plus::Bound;

use crate::error::ContractError;
use crate::member;
use crate::msg::{
    AdminResponse, InvitationResponse, InvitationsResponse, LeaseId, LeaseMember,
    LeaseMembersResponse, MemberResponse, MembersResponse, NetworkProviderResponse,
    NetworkProvidersResponse, NetworkResponse, NetworkStatus, NetworksResponse,
    ParticipantResponse, ParticipantsResponse, Policy, ProviderNetwork, ProviderViewResponse,
    ServiceResponse, ServicesResponse,
};
use crate::network::load;
use crate::state::{
    ADMIN, INVITATIONS, IPS, LEASE_MEMBERS, MEMBERS, Member, NET_PROVIDERS, NETWORKS, Network,
    OWNER_NETWORKS, PARAMS, PARTICIPANT_NETWORKS, PARTICIPANTS, PROVIDER_VIEW, SERVICES, Service,
};
use crate::{ipam, validate};

pub fn admin(deps: Deps) -> StdResult<AdminResponse> {
    Ok(AdminResponse {
        admin: ADMIN.load(deps.storage)?,
    })
}

fn network_response(net: Network) -> NetworkResponse {
    NetworkResponse {
        id: net.id,
        owner: net.owner,
        name: net.name,
        cidr: net.cidr.to_string(),
        cidr6: net.cidr6.map(|c| c.to_string()),
        default_action: net.default_action,
        tags: net.tags,
        start_time: net.start_time,
        end_time: net.end_time,
        status: net.status,
        revision: net.revision,
        member_count: net.member_count,
        created_at: net.created_at,
    }
}

fn member_response(net: &Network, name: String, m: Member) -> MemberResponse {
    MemberResponse {
        ip: ipam::ipv4(net, m.offset).to_string(),
        ip6: ipam::ipv6(net, m.offset).map(|a| a.to_string()),
        lease: m.lease.to_msg(),
        tags: m.tags,
        service: m.service,
        weight: m.weight,
        name,
    }
}

fn page_size(deps: Deps, limit: Option<u32>) -> StdResult<usize> {
    Ok(validate::limit(limit, &PARAMS.load(deps.storage)?))
}

/// Loads a network whose members are visible: an open one (a closed
/// network's records wait for `purge_network` and are never shown).
fn load_visible(deps: Deps, id: u64) -> Result<Network, ContractError> {
    let net = load(deps.storage, id)?;
    if net.status == NetworkStatus::Closed {
        return Err(ContractError::NetworkClosed(id));
    }
    Ok(net)
}

pub fn network(deps: Deps, id: u64) -> Result<NetworkResponse, ContractError> {
    Ok(network_response(load(deps.storage, id)?))
}

pub fn networks_by_owner(
    deps: Deps,
    owner: String,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> Result<NetworksResponse, ContractError> {
    let owner = validate::addr(deps.api, &owner)?;
    let n = page_size(deps, limit)?;
    let networks = OWNER_NETWORKS
        .prefix(&owner)
        .keys(
            deps.storage,
            start_after.map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n)
        .map(|id| Ok(network_response(NETWORKS.load(deps.storage, id?)?)))
        .collect::<StdResult<_>>()?;
    Ok(NetworksResponse { networks })
}

/// Open networks `participant` joined (claimed an invitation of and has
/// not left), by id.
pub fn networks_by_participant(
    deps: Deps,
    participant: String,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> Result<NetworksResponse, ContractError> {
    let participant = validate::addr(deps.api, &participant)?;
    let n = page_size(deps, limit)?;
    let networks = PARTICIPANT_NETWORKS
        .prefix(&participant)
        .keys(
            deps.storage,
            start_after.map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .filter_map(
            |id| match id.and_then(|id| NETWORKS.load(deps.storage, id)) {
                Ok(net) if net.status == NetworkStatus::Closed => None,
                Ok(net) => Some(Ok(network_response(net))),
                Err(e) => Some(Err(e)),
            },
        )
        // Closed networks are skipped before the page is cut (a short page
        // means the end); their entries go with `purge_network`.
        .take(n)
        .collect::<StdResult<_>>()?;
    Ok(NetworksResponse { networks })
}

pub fn members(
    deps: Deps,
    id: u64,
    start_after: Option<String>,
    limit: Option<u32>,
) -> Result<MembersResponse, ContractError> {
    let net = load(deps.storage, id)?;
    if net.status == NetworkStatus::Closed {
        return Ok(MembersResponse { members: vec![] });
    }
    let n = page_size(deps, limit)?;
    let members = MEMBERS
        .prefix(id)
        .range(
            deps.storage,
            start_after.as_deref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n)
        .map(|r| r.map(|(name, m)| member_response(&net, name, m)))
        .collect::<StdResult<_>>()?;
    Ok(MembersResponse { members })
}

pub fn member(deps: Deps, id: u64, name: String) -> Result<MemberResponse, ContractError> {
    let net = load_visible(deps, id)?;
    let m = MEMBERS
        .may_load(deps.storage, (id, &name))?
        .ok_or_else(|| ContractError::MemberNotFound(name.clone()))?;
    Ok(member_response(&net, name, m))
}

pub fn member_by_ip(deps: Deps, id: u64, ip: String) -> Result<MemberResponse, ContractError> {
    let net = load_visible(deps, id)?;
    let addr = validate::ipv4(&ip)?;
    let offset = ipam::offset_of(&net, addr)?;
    // A service's address is taken but held by no member.
    let found = match IPS.may_load(deps.storage, (id, offset))? {
        Some(name) => MEMBERS
            .may_load(deps.storage, (id, &name))?
            .map(|m| (name, m)),
        None => None,
    };
    let (name, m) = found.ok_or(ContractError::IpNotAssigned(ip))?;
    Ok(member_response(&net, name, m))
}

fn service_response(net: &Network, name: String, s: Service) -> ServiceResponse {
    ServiceResponse {
        ip: ipam::ipv4(net, s.offset).to_string(),
        ip6: ipam::ipv6(net, s.offset).map(|a| a.to_string()),
        owner: s.owner,
        replicas: s.replicas,
        name,
    }
}

pub fn service(deps: Deps, id: u64, name: String) -> Result<ServiceResponse, ContractError> {
    let net = load_visible(deps, id)?;
    let s = SERVICES
        .may_load(deps.storage, (id, &name))?
        .ok_or_else(|| ContractError::ServiceNotFound(name.clone()))?;
    Ok(service_response(&net, name, s))
}

pub fn services(
    deps: Deps,
    id: u64,
    start_after: Option<String>,
    limit: Option<u32>,
) -> Result<ServicesResponse, ContractError> {
    let net = load(deps.storage, id)?;
    if net.status == NetworkStatus::Closed {
        return Ok(ServicesResponse { services: vec![] });
    }
    let n = page_size(deps, limit)?;
    let services = SERVICES
        .prefix(id)
        .range(
            deps.storage,
            start_after.as_deref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n)
        .map(|r| r.map(|(name, s)| service_response(&net, name, s)))
        .collect::<StdResult<_>>()?;
    Ok(ServicesResponse { services })
}

pub fn policy(deps: Deps, id: u64, name: String) -> Result<Policy, ContractError> {
    load_visible(deps, id)?;
    if !MEMBERS.has(deps.storage, (id, &name)) {
        return Err(ContractError::MemberNotFound(name));
    }
    member::load_policy(deps.storage, id, &name)
}

pub fn invitations(
    deps: Deps,
    id: u64,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> Result<InvitationsResponse, ContractError> {
    if load(deps.storage, id)?.status == NetworkStatus::Closed {
        return Ok(InvitationsResponse {
            invitations: vec![],
        });
    }
    let n = page_size(deps, limit)?;
    let invitations = INVITATIONS
        .prefix(id)
        .range(
            deps.storage,
            start_after.map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n)
        .map(|r| {
            r.map(|(inv_id, i)| InvitationResponse {
                id: inv_id,
                pubkey: i.pubkey,
                key_type: i.key_type,
                expires: i.expires,
                max_uses: i.max_uses,
                uses: i.uses,
                tags: i.tags,
                max_members: i.max_members,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(InvitationsResponse { invitations })
}

pub fn participants(
    deps: Deps,
    id: u64,
    start_after: Option<String>,
    limit: Option<u32>,
) -> Result<ParticipantsResponse, ContractError> {
    if load(deps.storage, id)?.status == NetworkStatus::Closed {
        return Ok(ParticipantsResponse {
            participants: vec![],
        });
    }
    let n = page_size(deps, limit)?;
    let start = start_after.map(Addr::unchecked);
    let participants = PARTICIPANTS
        .prefix(id)
        .range(
            deps.storage,
            start.as_ref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n)
        .map(|r| {
            r.map(|(address, p)| ParticipantResponse {
                address,
                invitation_id: p.invitation_id,
                tags: p.tags,
                joined_at: p.joined_at,
                member_count: p.member_count,
                max_members: p.max_members,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(ParticipantsResponse { participants })
}

pub fn providers(
    deps: Deps,
    id: u64,
    start_after: Option<String>,
    limit: Option<u32>,
) -> Result<NetworkProvidersResponse, ContractError> {
    if load(deps.storage, id)?.status == NetworkStatus::Closed {
        return Ok(NetworkProvidersResponse { providers: vec![] });
    }
    let n = page_size(deps, limit)?;
    let start = start_after.map(Addr::unchecked);
    let providers = NET_PROVIDERS
        .prefix(id)
        .range(
            deps.storage,
            start.as_ref().map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n)
        .map(|r| {
            r.map(|(provider, e)| NetworkProviderResponse {
                provider,
                authorized: e.authorized,
                hosted_members: e.hosted_members,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(NetworkProvidersResponse { providers })
}

pub fn provider_view(
    deps: Deps,
    provider: String,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> Result<ProviderViewResponse, ContractError> {
    let provider = validate::addr(deps.api, &provider)?;
    let n = page_size(deps, limit)?;
    let networks = PROVIDER_VIEW
        .prefix(&provider)
        .keys(
            deps.storage,
            start_after.map(Bound::exclusive),
            None,
            Order::Ascending,
        )
        .take(n)
        .map(|id| {
            let id = id?;
            Ok(ProviderNetwork {
                network_id: id,
                revision: NETWORKS.load(deps.storage, id)?.revision,
            })
        })
        .collect::<StdResult<_>>()?;
    Ok(ProviderViewResponse { networks })
}

/// Members bound to exactly `lease` in open networks, by (network, name).
pub fn members_by_lease(
    deps: Deps,
    lease: LeaseId,
    start_after: Option<LeaseMember>,
    limit: Option<u32>,
) -> Result<LeaseMembersResponse, ContractError> {
    let owner = validate::addr(deps.api, &lease.owner)?;
    let lease = validate::lease(deps.api, &lease, &owner)?;
    let key = lease.key();
    let n = page_size(deps, limit)?;
    let start = start_after
        .as_ref()
        .map(|s| Bound::exclusive((s.network_id, s.name.as_str())));
    let members = LEASE_MEMBERS
        .sub_prefix(&key)
        .keys(deps.storage, start, None, Order::Ascending)
        .filter_map(|r| match r {
            Ok((network_id, name)) => match NETWORKS.load(deps.storage, network_id) {
                Ok(net) if net.status == NetworkStatus::Closed => None,
                Ok(_) => Some(Ok(LeaseMember { network_id, name })),
                Err(e) => Some(Err(e)),
            },
            Err(e) => Some(Err(e)),
        })
        // Closed networks are skipped before the page is cut, so a short
        // page means the end; they are only the lease owner's own, and go
        // with `purge_network`.
        .take(n)
        .collect::<StdResult<_>>()?;
    Ok(LeaseMembersResponse { members })
}
