//! The provider's view of the chain: the raw registry and directory records
//! of every network this provider serves, read at one height.
//!
//! [`Source`] performs the reads (paginated smart queries pinned at a
//! height, so one network is always read consistently); [`ChainView`] keeps
//! them between reads so only networks whose revision moved are re-read.

use std::collections::{BTreeMap, BTreeSet};

use network_registry::msg as reg;
use provider_directory::msg as dir;

use crate::query::{PAGE_MEMBERS, PAGE_NETWORKS, Querier, QueryError};

/// Networks with at most this many members are read with one `manifest`
/// query for all policies; larger ones with one `policy` query per member.
pub const MANIFEST_MAX_MEMBERS: u32 = 30;

/// One network as read from the registry at one height.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSnapshot {
    /// The network record.
    pub network: reg::NetworkResponse,
    /// Members with their policies, by name.
    pub members: Vec<(reg::MemberResponse, reg::Policy)>,
}

/// Everything read from the chain for one provider.
#[derive(Clone, Debug, Default)]
pub struct ChainView {
    /// Height of the most recent read.
    pub height: u64,
    /// Block time of that height, unix seconds.
    pub time: u64,
    /// Served networks by id.
    pub networks: BTreeMap<u64, NetworkSnapshot>,
    /// Directory records of this provider and its peers; `None` = not registered.
    pub providers: BTreeMap<String, Option<dir::ProviderRecord>>,
}

impl ChainView {
    /// Providers hosting members of served networks (this one included).
    pub fn hosting_providers(&self) -> BTreeSet<String> {
        self.networks
            .values()
            .flat_map(|n| n.members.iter().map(|(m, _)| m.lease.provider.clone()))
            .collect()
    }

    /// Revisions of served networks.
    pub fn revisions(&self) -> BTreeMap<u64, u64> {
        self.networks
            .iter()
            .map(|(id, n)| (*id, n.network.revision))
            .collect()
    }
}

/// Reads the registry and directory contracts for one provider.
#[derive(Clone, Debug)]
pub struct Source {
    /// Query client.
    pub querier: Querier,
    /// `network-registry` contract address.
    pub registry: String,
    /// `provider-directory` contract address.
    pub directory: String,
    /// This provider's account address.
    pub provider: String,
}

impl Source {
    /// Every network this provider serves with its revision, at `height`.
    pub async fn provider_view(&self, height: u64) -> Result<BTreeMap<u64, u64>, QueryError> {
        let mut out = BTreeMap::new();
        let mut start_after = None;
        loop {
            let q = reg::QueryMsg::ProviderView {
                provider: self.provider.clone(),
                start_after,
                limit: Some(PAGE_NETWORKS),
            };
            let page: reg::ProviderViewResponse =
                self.querier.smart(&self.registry, &q, Some(height)).await?;
            let n = page.networks.len();
            for pn in page.networks {
                out.insert(pn.network_id, pn.revision);
                start_after = Some(pn.network_id);
            }
            if n < PAGE_NETWORKS as usize {
                return Ok(out);
            }
        }
    }

    /// Whether this provider serves `network_id` at `height`, and at which
    /// revision (one-entry page of the provider view).
    pub async fn served_revision(
        &self,
        network_id: u64,
        height: u64,
    ) -> Result<Option<u64>, QueryError> {
        let q = reg::QueryMsg::ProviderView {
            provider: self.provider.clone(),
            start_after: network_id.checked_sub(1),
            limit: Some(1),
        };
        let page: reg::ProviderViewResponse =
            self.querier.smart(&self.registry, &q, Some(height)).await?;
        Ok(page
            .networks
            .first()
            .filter(|n| n.network_id == network_id)
            .map(|n| n.revision))
    }

    /// Reads one network with all members and policies at `height`.
    pub async fn network(
        &self,
        network_id: u64,
        height: u64,
    ) -> Result<NetworkSnapshot, QueryError> {
        let h = Some(height);
        let network: reg::NetworkResponse = self
            .querier
            .smart(&self.registry, &reg::QueryMsg::Network { network_id }, h)
            .await?;
        let mut members = Vec::with_capacity(network.member_count as usize);
        let mut start_after = None;
        loop {
            let q = reg::QueryMsg::Members {
                network_id,
                start_after: start_after.take(),
                limit: Some(PAGE_MEMBERS),
            };
            let page: reg::MembersResponse = self.querier.smart(&self.registry, &q, h).await?;
            let n = page.members.len();
            start_after = page.members.last().map(|m| m.name.clone());
            members.extend(page.members);
            if n < PAGE_MEMBERS as usize {
                break;
            }
        }
        let mut policies: BTreeMap<String, reg::Policy> = BTreeMap::new();
        if members.len() as u32 <= MANIFEST_MAX_MEMBERS {
            let m: reg::Manifest = self
                .querier
                .smart(&self.registry, &reg::QueryMsg::Manifest { network_id }, h)
                .await?;
            policies.extend(m.members.into_iter().map(|mm| (mm.name, mm.policy)));
        } else {
            for m in &members {
                let q = reg::QueryMsg::Policy {
                    network_id,
                    name: m.name.clone(),
                };
                let p: reg::Policy = self.querier.smart(&self.registry, &q, h).await?;
                policies.insert(m.name.clone(), p);
            }
        }
        let members = members
            .into_iter()
            .map(|m| {
                let p = policies.remove(&m.name).unwrap_or_default();
                (m, p)
            })
            .collect();
        Ok(NetworkSnapshot { network, members })
    }

    /// The directory record of `address` at `height`; `None` when it has none.
    pub async fn provider(
        &self,
        address: &str,
        height: u64,
    ) -> Result<Option<dir::ProviderRecord>, QueryError> {
        let q = dir::QueryMsg::Provider {
            address: address.to_owned(),
        };
        match self.querier.smart(&self.directory, &q, Some(height)).await {
            Ok(r) => Ok(Some(r)),
            Err(QueryError::Rejected { log, .. }) if log.contains("is not registered") => Ok(None),
            Err(e) => Err(e),
        }
    }
}
