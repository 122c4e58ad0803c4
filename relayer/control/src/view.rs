//! The provider's view of the chain: the raw registry and directory records
//! of every network this provider serves, read at one height.
//!
//! [`Source`] performs the reads (paginated smart queries pinned at a
//! height, so one network is always read consistently); [`ChainView`] keeps
//! them between reads so only networks whose revision moved are re-read.

use std::collections::{BTreeMap, BTreeSet};

use network_registry::msg as reg;
use provider_directory::msg as dir;

use avpn_model::LeaseId;

use crate::query::{PAGE_MEMBERS, PAGE_NETWORKS, Querier, QueryError};

/// The registry's form of a lease id.
pub fn reg_lease(l: &LeaseId) -> reg::LeaseId {
    reg::LeaseId {
        owner: l.owner.clone(),
        dseq: l.dseq,
        gseq: l.gseq,
        oseq: l.oseq,
        provider: l.provider.clone(),
        bseq: l.bseq,
    }
}

/// Pages of `members_by_lease` read per local lease (a lease's owner
/// decides how many networks bind it; beyond this budget the rest are
/// ignored with a warning).
pub const MAX_LEASE_PAGES: usize = 4;
/// Pages of `networks_by_owner` read per consented tenant.
pub const MAX_TENANT_PAGES: usize = 10;
/// Authorized providers kept per network (each costs a directory read).
/// The registry already caps them at its `max_list_len` param, 32 by
/// default; this bounds the work should governance raise it far.
pub const MAX_AUTHORIZED: usize = 256;

/// Whose networks this provider agreed to serve without hosting one of
/// their leases (e.g. to relay for them). Naming a provider on chain is
/// never consent: a network is served only when it binds a lease this
/// provider runs, or is consented here.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consent {
    /// Tenants (network owners) whose networks naming this provider it serves.
    pub tenants: BTreeSet<String>,
    /// Networks naming this provider that it serves.
    pub networks: BTreeSet<u64>,
}

/// One network as read from the registry at one height.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSnapshot {
    /// The network record.
    pub network: reg::NetworkResponse,
    /// Members with their policies, by name.
    pub members: Vec<(reg::MemberResponse, reg::Policy)>,
    /// Services, by name.
    pub services: Vec<reg::ServiceResponse>,
    /// Providers the owner authorized (`authorize_provider`; providers
    /// hosting members are implied and not listed), as every `manifest`
    /// page carries them. The registry caps them at its `max_list_len`
    /// param (32 by default), [`MAX_AUTHORIZED`] here.
    pub providers: Vec<String>,
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
    /// Networks served (binding a local lease, or consented) at `height`.
    pub serving: BTreeSet<u64>,
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

    /// Providers the owners of served networks authorized: the candidates
    /// for their relays (at most [`MAX_AUTHORIZED`] per network).
    pub fn authorized_providers(&self) -> BTreeSet<String> {
        self.networks
            .values()
            .flat_map(|n| n.providers.iter().cloned())
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
    /// Networks binding one of `leases` (this provider's local leases, full
    /// ids) at `height`. The work is bounded by the local leases, never by
    /// what others write on chain.
    pub async fn leased_networks<'a>(
        &self,
        leases: impl IntoIterator<Item = &'a LeaseId>,
        height: u64,
    ) -> Result<BTreeSet<u64>, QueryError> {
        let mut out = BTreeSet::new();
        for lease in leases {
            let mut start_after = None;
            for page_nr in 0.. {
                if page_nr == MAX_LEASE_PAGES {
                    tracing::warn!(%lease, "lease bound in more networks than the budget; rest ignored");
                    break;
                }
                let q = reg::QueryMsg::MembersByLease {
                    lease: reg_lease(lease),
                    start_after: start_after.take(),
                    limit: Some(PAGE_NETWORKS),
                };
                let page: reg::LeaseMembersResponse =
                    self.querier.smart(&self.registry, &q, Some(height)).await?;
                let n = page.members.len();
                start_after = page.members.last().cloned();
                out.extend(page.members.iter().map(|m| m.network_id));
                if n < PAGE_NETWORKS as usize {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// Consented networks that name this provider (authorized or hosting),
    /// at `height`.
    pub async fn consented_networks(
        &self,
        consent: &Consent,
        height: u64,
    ) -> Result<BTreeSet<u64>, QueryError> {
        let mut candidates = consent.networks.clone();
        for tenant in &consent.tenants {
            let mut start_after = None;
            for page_nr in 0.. {
                if page_nr == MAX_TENANT_PAGES {
                    tracing::warn!(%tenant, "tenant has more networks than the budget; rest ignored");
                    break;
                }
                let q = reg::QueryMsg::NetworksByOwner {
                    owner: tenant.clone(),
                    start_after,
                    limit: Some(PAGE_NETWORKS),
                };
                let page: reg::NetworksResponse =
                    self.querier.smart(&self.registry, &q, Some(height)).await?;
                let n = page.networks.len();
                start_after = page.networks.last().map(|n| n.id);
                candidates.extend(
                    page.networks
                        .iter()
                        .filter(|n| n.status == reg::NetworkStatus::Open)
                        .map(|n| n.id),
                );
                if n < PAGE_NETWORKS as usize {
                    break;
                }
            }
        }
        let mut out = BTreeSet::new();
        for id in candidates {
            if self.names_provider(id, height).await? {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// Whether network `network_id` names this provider (one-entry page of
    /// the provider view).
    async fn names_provider(&self, network_id: u64, height: u64) -> Result<bool, QueryError> {
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
            .is_some_and(|n| n.network_id == network_id))
    }

    /// The network record at `height`; `None` when it does not exist.
    pub async fn network_record(
        &self,
        network_id: u64,
        height: u64,
    ) -> Result<Option<reg::NetworkResponse>, QueryError> {
        let q = reg::QueryMsg::Network { network_id };
        match self.querier.smart(&self.registry, &q, Some(height)).await {
            Ok(r) => Ok(Some(r)),
            Err(QueryError::Rejected { log, .. }) if log.contains("not found") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads one network with all members and policies at `height`, in
    /// pages of the `manifest` query (members with their policies), and its
    /// services in pages of the `services` query (none from a registry
    /// older than 0.4, which does not know that query).
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
        let mut providers = None;
        let mut start_after = None;
        loop {
            let q = reg::QueryMsg::Manifest {
                network_id,
                start_after: start_after.take(),
                limit: Some(PAGE_MEMBERS),
            };
            let page: reg::ManifestResponse = self.querier.smart(&self.registry, &q, h).await?;
            // Every page lists all authorized providers; the first is kept.
            providers.get_or_insert_with(|| {
                let mut p = page.manifest.providers.clone();
                if p.len() > MAX_AUTHORIZED {
                    tracing::warn!(
                        network = network_id,
                        authorized = p.len(),
                        "more authorized providers than the budget; rest ignored"
                    );
                    p.truncate(MAX_AUTHORIZED);
                }
                p
            });
            members.extend(page.manifest.members.into_iter().map(|m| {
                // The manifest carries no IPv6: `desired` derives it from
                // the network's prefix and the IPv4, as the contract does.
                let member = reg::MemberResponse {
                    ip: m.ip.unwrap_or_default(),
                    ip6: None,
                    name: m.name,
                    lease: m.lease,
                    tags: m.tags,
                    service: m.service,
                    weight: m.weight,
                };
                (member, m.policy)
            }));
            match page.next_start_after {
                Some(next) => start_after = Some(next),
                None => break,
            }
        }
        let mut services = Vec::new();
        let mut start_after: Option<String> = None;
        loop {
            let q = reg::QueryMsg::Services {
                network_id,
                start_after: start_after.take(),
                limit: Some(PAGE_MEMBERS),
            };
            let page: reg::ServicesResponse = match self.querier.smart(&self.registry, &q, h).await
            {
                Ok(p) => p,
                // A registry older than 0.4 has no services.
                Err(QueryError::Rejected { log, .. }) if log.contains("unknown variant") => break,
                Err(e) => return Err(e),
            };
            let full = page.services.len() == PAGE_MEMBERS as usize;
            start_after = page.services.last().map(|s| s.name.clone());
            services.extend(page.services);
            if !full {
                break;
            }
        }
        Ok(NetworkSnapshot {
            network,
            members,
            services,
            providers: providers.unwrap_or_default(),
        })
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
