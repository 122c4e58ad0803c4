//! Reads a network's records from the registry, bounded: at most
//! [`MAX_MEMBERS`] members (with their policies) and one page of
//! participants, invitations and providers per network, and at most
//! [`MAX_OWNER_PAGES`] pages of the owner's network list.

use std::collections::BTreeMap;

use avpn_control::desired::{member_info, network_info};
use network_registry::msg::{self as reg, QueryMsg};

use super::snapshot::{Member, NetworkData};
use crate::chain::{Chain, ChainError};

/// Page size of every paginated query (the contract's default cap).
const PAGE: u32 = 100;

/// Members read per network; the rest are left out (shown as truncated).
pub const MAX_MEMBERS: usize = 200;

/// Pages of `networks_by_owner` read per refresh (closed networks stay
/// listed, so a long-lived owner needs more than one).
pub const MAX_OWNER_PAGES: usize = 5;

/// The owner's networks (open and closed), by id, and whether the listing
/// was cut.
pub async fn owned(
    chain: &Chain,
    owner: &str,
) -> Result<(Vec<reg::NetworkResponse>, bool), ChainError> {
    let mut out = Vec::new();
    let mut start_after = None;
    for _ in 0..MAX_OWNER_PAGES {
        let page: reg::NetworksResponse = chain
            .query(&QueryMsg::NetworksByOwner {
                owner: owner.to_string(),
                start_after,
                limit: Some(PAGE),
            })
            .await?;
        let full = page.networks.len() == PAGE as usize;
        start_after = page.networks.last().map(|n| n.id);
        out.extend(page.networks);
        if !full {
            return Ok((out, false));
        }
    }
    Ok((out, true))
}

/// Open networks the viewer joined as a participant: one page of at most
/// `limit`, and whether there may be more.
pub async fn joined(
    chain: &Chain,
    participant: &str,
    limit: usize,
) -> Result<(Vec<reg::NetworkResponse>, bool), ChainError> {
    let page: reg::NetworksResponse = chain
        .query(&QueryMsg::NetworksByParticipant {
            participant: participant.to_string(),
            start_after: None,
            limit: Some(PAGE.min(limit as u32)),
        })
        .await?;
    let full = page.networks.len() >= limit;
    Ok((page.networks, full))
}

/// One network record.
pub async fn record(chain: &Chain, id: u64) -> Result<reg::NetworkResponse, ChainError> {
    chain.query(&QueryMsg::Network { network_id: id }).await
}

/// Members with their policies (from the manifest export), up to
/// [`MAX_MEMBERS`]; whether some were left out.
async fn members(
    chain: &Chain,
    n: &reg::NetworkResponse,
    problems: &mut Vec<String>,
) -> Result<(Vec<Member>, bool), ChainError> {
    let mut records = Vec::new();
    let mut start_after = None;
    let mut truncated = false;
    loop {
        let page: reg::MembersResponse = chain
            .query(&QueryMsg::Members {
                network_id: n.id,
                start_after,
                limit: Some(PAGE),
            })
            .await?;
        let full = page.members.len() == PAGE as usize;
        start_after = page.members.last().map(|m| m.name.clone());
        records.extend(page.members);
        if records.len() >= MAX_MEMBERS {
            truncated = full || records.len() > MAX_MEMBERS;
            records.truncate(MAX_MEMBERS);
            break;
        }
        if !full {
            break;
        }
    }
    let mut policies = BTreeMap::new();
    let mut start_after = None;
    while policies.len() < records.len() {
        let page: reg::ManifestResponse = chain
            .query(&QueryMsg::Manifest {
                network_id: n.id,
                start_after,
                limit: Some(PAGE),
            })
            .await?;
        policies.extend(
            page.manifest
                .members
                .into_iter()
                .map(|m| (m.name, m.policy)),
        );
        match page.next_start_after {
            Some(next) => start_after = Some(next),
            None => break,
        }
    }
    let (cidr, cidr6) = match network_info(n) {
        Ok(info) => (info.cidr, info.cidr6),
        Err(e) => {
            problems.push(e.to_string());
            return Ok((Vec::new(), truncated));
        }
    };
    let empty = reg::Policy::default();
    let mut out = Vec::with_capacity(records.len());
    for m in &records {
        let policy = policies.get(&m.name).unwrap_or(&empty);
        match member_info(n.id, cidr, cidr6, m, policy) {
            Ok(info) => out.push(Member {
                info,
                ip6: m.ip6.clone(),
            }),
            Err(e) => problems.push(e.to_string()),
        }
    }
    Ok((out, truncated))
}

/// Every record of an open network the console shows; a closed network
/// has only its record.
pub async fn network(chain: &Chain, n: reg::NetworkResponse) -> Result<NetworkData, ChainError> {
    let mut data = NetworkData {
        network: n,
        members: Vec::new(),
        participants: Vec::new(),
        invitations: Vec::new(),
        providers: Vec::new(),
        truncated: false,
        problems: Vec::new(),
    };
    if data.network.status == reg::NetworkStatus::Closed {
        return Ok(data);
    }
    let id = data.network.id;
    let (members, cut) = members(chain, &data.network, &mut data.problems).await?;
    let participants: reg::ParticipantsResponse = chain
        .query(&QueryMsg::Participants {
            network_id: id,
            start_after: None,
            limit: Some(PAGE),
        })
        .await?;
    let invitations: reg::InvitationsResponse = chain
        .query(&QueryMsg::Invitations {
            network_id: id,
            start_after: None,
            limit: Some(PAGE),
        })
        .await?;
    let providers: reg::NetworkProvidersResponse = chain
        .query(&QueryMsg::Providers {
            network_id: id,
            start_after: None,
            limit: Some(PAGE),
        })
        .await?;
    let full = |len: usize| len == PAGE as usize;
    data.truncated = cut
        || full(participants.participants.len())
        || full(invitations.invitations.len())
        || full(providers.providers.len());
    data.members = members;
    data.participants = participants.participants;
    data.invitations = invitations.invitations;
    data.providers = providers.providers;
    Ok(data)
}
