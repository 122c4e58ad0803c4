//! Reading a network from chain: finding it by id or by the owner's name
//! for it, and its whole manifest (all pages).

use avpn_control::query::PAGE_MEMBERS;
use network_registry::msg::{Manifest, ManifestResponse, NetworkResponse, NetworkStatus, QueryMsg};

use crate::chain::{Chain, ChainError};

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
    Ok(chain
        .networks_by_owner(owner)
        .await?
        .into_iter()
        .find(|n| n.name == name && n.status == NetworkStatus::Open))
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
