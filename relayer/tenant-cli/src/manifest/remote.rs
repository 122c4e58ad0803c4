//! Reading a network from chain: finding it by id or by the owner's name
//! for it, its whole manifest (all pages), and its members' addresses.

use avpn_control::query::PAGE_MEMBERS;
use network_registry::msg::{
    Manifest, ManifestResponse, MemberResponse, MembersResponse, NetworkResponse, NetworkStatus,
    NetworksResponse, QueryMsg,
};

use crate::chain::{Chain, ChainError};

/// Networks per `networks_by_owner` page.
const PAGE_NETWORKS: u32 = 100;

/// The network with this id (open or closed).
pub async fn network(chain: &Chain, network_id: u64) -> Result<NetworkResponse, ChainError> {
    chain.query(&QueryMsg::Network { network_id }).await
}

/// The open network `owner` named `name`, if any.
pub async fn network_by_name(
    chain: &Chain,
    owner: &str,
    name: &str,
) -> Result<Option<NetworkResponse>, ChainError> {
    let mut start_after = None;
    loop {
        let page: NetworksResponse = chain
            .query(&QueryMsg::NetworksByOwner {
                owner: owner.to_owned(),
                start_after,
                limit: Some(PAGE_NETWORKS),
            })
            .await?;
        let Some(last) = page.networks.last() else {
            return Ok(None);
        };
        start_after = Some(last.id);
        if let Some(n) = page
            .networks
            .into_iter()
            .find(|n| n.name == name && n.status == NetworkStatus::Open)
        {
            return Ok(Some(n));
        }
    }
}

/// The whole network as a manifest, every page of it.
pub async fn manifest(chain: &Chain, network_id: u64) -> Result<Manifest, ChainError> {
    let page = |start_after| async move {
        chain
            .query::<ManifestResponse>(&QueryMsg::Manifest {
                network_id,
                start_after,
                limit: Some(PAGE_MEMBERS),
            })
            .await
    };
    let first = page(None).await?;
    let mut whole = first.manifest;
    let mut next = first.next_start_after;
    while let Some(start_after) = next {
        let more = page(Some(start_after)).await?;
        whole.members.extend(more.manifest.members);
        next = more.next_start_after;
    }
    Ok(whole)
}

/// Every member with its addresses, by name.
pub async fn members(chain: &Chain, network_id: u64) -> Result<Vec<MemberResponse>, ChainError> {
    let mut out: Vec<MemberResponse> = Vec::new();
    loop {
        let page: MembersResponse = chain
            .query(&QueryMsg::Members {
                network_id,
                start_after: out.last().map(|m| m.name.clone()),
                limit: Some(PAGE_MEMBERS),
            })
            .await?;
        if page.members.is_empty() {
            return Ok(out);
        }
        out.extend(page.members);
    }
}
