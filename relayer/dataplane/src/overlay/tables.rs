//! Compiling the state into the routing and firewall tables the data path
//! reads, and publishing them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use avpn_model::ProviderAddr;

use super::Overlay;
use crate::datapath::{MemberRoute, NetTable, PeerSlot, Tables};
use crate::dns::Zone;
use crate::limits::FLOW_BUDGET_PER_NETWORK;
use crate::metrics::DropReason;
use crate::paths::PeerPlan;
use crate::peers;
use crate::policy::{CompiledPolicy, FlowCache};
use crate::service::ServiceTable;

impl Overlay {
    /// Publishes new tables built from the current state, then cuts flows
    /// and streams the new state no longer allows.
    pub(super) fn rebuild(&mut self) {
        let old = self.shared.tables.load_full();
        let peers: rustc_hash::FxHashMap<ProviderAddr, Arc<PeerSlot>> = self
            .peers
            .iter()
            .map(|(p, r)| (p.clone(), r.slot.clone()))
            .collect();
        let mut networks = rustc_hash::FxHashMap::default();
        let mut rebuilt = Vec::new();
        for (id, net) in &self.networks {
            if !self.all_dirty
                && !self.dirty.contains(id)
                && let Some(kept) = old.networks.get(id)
            {
                networks.insert(*id, kept.clone());
                continue;
            }
            rebuilt.push(*id);
            let policy = Arc::new(CompiledPolicy::compile(
                &net.info.owner,
                net.info.default_verdict,
                net.members.values(),
                |m| net.attachments.contains_key(&m.name),
            ));
            let flows = old
                .networks
                .get(id)
                .map(|n| n.flows.clone())
                .unwrap_or_else(|| {
                    Arc::new(Mutex::new(FlowCache::new(
                        FLOW_BUDGET_PER_NETWORK,
                        self.shared.metrics.drop_counter(DropReason::FlowEvicted),
                    )))
                });
            let routes: Vec<_> = net
                .members
                .values()
                .map(|m| {
                    let provider = m.lease.provider.clone();
                    let route = Arc::new(MemberRoute {
                        local: net.attachments.get(&m.name).map(|a| a.port.clone()),
                        peer: peers.get(&provider).cloned(),
                        traffic: self.shared.metrics.traffic(*id, &provider),
                        provider,
                    });
                    (m, route)
                })
                .collect();
            let members = routes
                .iter()
                .flat_map(|(m, route)| m.addrs().map(move |ip| (ip, route.clone())))
                .collect();
            let pins = old
                .networks
                .get(id)
                .map(|n| n.services.pins())
                .unwrap_or_default();
            let services = ServiceTable::build(&net.services, routes.into_iter(), pins);
            networks.insert(
                *id,
                Arc::new(NetTable {
                    info: net.info.clone(),
                    members,
                    policy,
                    zone: Zone::with_services(&net.info, net.members.values(), &net.services),
                    flows,
                    services,
                }),
            );
        }
        self.dirty.clear();
        self.all_dirty = false;
        let tables = Arc::new(Tables { networks, peers });
        self.shared.tables.store(tables.clone());
        // Revalidate after publishing so that verdicts cached meanwhile
        // under the old policy are corrected too.
        for id in &rebuilt {
            let n = &tables.networks[id];
            n.flows
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .revalidate(&n.policy);
        }
        self.shared.streams.cut(&tables);
        peers::enforce_trust(&self.shared);
        self.shared.paths.sync(self.path_plans());
    }

    /// What each peer's paths are, from the served networks: its
    /// endpoints; the relays of networks in which it hosts a member (and
    /// we serve); the networks we relay for in which it hosts a member.
    fn path_plans(&self) -> BTreeMap<ProviderAddr, PeerPlan> {
        let local = &self.shared.local;
        let mut plans: BTreeMap<ProviderAddr, PeerPlan> = self
            .peers
            .iter()
            .map(|(p, r)| {
                let plan = PeerPlan {
                    endpoints: r.info.endpoints.clone(),
                    ..PeerPlan::default()
                };
                (p.clone(), plan)
            })
            .collect();
        for (id, net) in &self.networks {
            let we_relay = net.relays.contains(local);
            let hosts: BTreeSet<&ProviderAddr> =
                net.members.values().map(|m| &m.lease.provider).collect();
            for host in hosts {
                let Some(plan) = plans.get_mut(host) else {
                    continue;
                };
                plan.relays.extend(
                    net.relays
                        .iter()
                        .filter(|r| *r != host && *r != local && self.peers.contains_key(*r))
                        .cloned(),
                );
                if we_relay {
                    plan.relayed_networks.insert(*id);
                }
            }
        }
        plans
    }
}

#[cfg(test)]
mod tests {
    use avpn_model::{
        Change, DataPlane, LeaseId, MemberInfo, NetworkId, NetworkInfo, Policy, Verdict,
    };
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::OverlayConfig;

    fn info(id: NetworkId) -> NetworkInfo {
        NetworkInfo {
            id,
            name: format!("net{id}"),
            owner: "owner".into(),
            revision: 1,
            cidr: "100.64.0.0/24".parse().unwrap(),
            cidr6: Some("fd00:64::/64".parse().unwrap()),
            default_verdict: Verdict::Deny,
        }
    }

    fn member(name: &str, host: u8) -> MemberInfo {
        MemberInfo {
            name: name.into(),
            ip: std::net::Ipv4Addr::new(100, 64, 0, host),
            ip6: Some(std::net::Ipv6Addr::new(
                0xfd00,
                0x64,
                0,
                0,
                0,
                0,
                0,
                host.into(),
            )),
            lease: LeaseId {
                owner: "owner".into(),
                dseq: u64::from(host),
                gseq: 1,
                oseq: 1,
                provider: "remote".into(),
                bseq: 0,
            },
            tags: Default::default(),
            service: None,
            policy: Policy::default(),
            weight: None,
        }
    }

    fn table(o: &Overlay, id: NetworkId) -> Arc<NetTable> {
        o.shared.tables.load().networks[&id].clone()
    }

    /// A change in one network recompiles that network's tables only; the
    /// other network keeps the very same compiled table.
    #[tokio::test]
    async fn a_change_recompiles_only_its_network() {
        let mut registry = Registry::default();
        let cfg = OverlayConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            [7; 32],
            "local".into(),
            &mut registry,
        );
        let mut o = Overlay::start(cfg).unwrap();
        let plan = vec![
            Change::SetNetwork(info(1)),
            Change::SetNetwork(info(2)),
            Change::SetMember(1, member("a", 2)),
            Change::SetMember(2, member("b", 2)),
        ];
        assert!(o.apply_all(plan).await.iter().all(Result::is_ok));
        let (one, two) = (table(&o, 1), table(&o, 2));
        o.apply(Change::SetMember(1, member("c", 3))).await.unwrap();
        assert!(
            Arc::ptr_eq(&two, &table(&o, 2)),
            "untouched network recompiled"
        );
        assert!(
            !Arc::ptr_eq(&one, &table(&o, 1)),
            "changed network kept old table"
        );
        // Both members, each routed by its IPv4 and by its IPv6.
        let t = table(&o, 1);
        for host in [2, 3] {
            assert!(t.members.contains([100, 64, 0, host].into()));
            let ip6 = std::net::Ipv6Addr::new(0xfd00, 0x64, 0, 0, 0, 0, 0, host.into());
            assert!(t.members.contains(ip6.into()));
        }
        assert!(!t.members.contains([100, 64, 0, 4].into()));
    }
}
