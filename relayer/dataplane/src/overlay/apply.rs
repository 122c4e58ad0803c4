//! Applying the reconciler's changes: staged one by one into the state,
//! then compiled and published once.

use std::collections::BTreeMap;

use avpn_model::{Change, DataPlane, DataPlaneError};

use super::Overlay;
use super::state::NetState;
use crate::datapath::OwnAddrs;
use crate::io_runtime::InContext;

impl Overlay {
    /// Applies one change to the state, without publishing new tables.
    async fn stage(&mut self, change: Change) -> Result<(), DataPlaneError> {
        match &change {
            // Relays change paths only, which are rebuilt every time.
            Change::SetPeer(_) | Change::RemovePeer(_) | Change::SetRelays(..) => {}
            Change::SetNetwork(info) => {
                self.dirty.insert(info.id);
            }
            Change::RemoveNetwork(id)
            | Change::SetMember(id, _)
            | Change::RemoveMember(id, _)
            | Change::Attach(id, _, _)
            | Change::Detach(id, _)
            | Change::SetServices(id, _) => {
                self.dirty.insert(*id);
            }
        }
        match change {
            Change::SetPeer(info) => self.set_peer(info),
            Change::RemovePeer(provider) => self.remove_peer(&provider).await,
            Change::SetNetwork(info) => match self.networks.get_mut(&info.id) {
                Some(n) => n.info = info,
                None => {
                    self.networks.insert(
                        info.id,
                        NetState {
                            info,
                            members: BTreeMap::new(),
                            attachments: BTreeMap::new(),
                            services: BTreeMap::new(),
                            relays: Default::default(),
                        },
                    );
                }
            },
            Change::RemoveNetwork(id) => {
                if let Some(net) = self.networks.remove(&id) {
                    net.close().await;
                }
            }
            Change::SetMember(network, member) => {
                let net = self
                    .networks
                    .get_mut(&network)
                    .ok_or(DataPlaneError::UnknownNetwork(network))?;
                let name = member.name.clone();
                let addrs = OwnAddrs::of(&member);
                let moved = member.lease.provider != self.shared.local;
                net.members.insert(name.clone(), member);
                let stale = net
                    .attachments
                    .get(&name)
                    .map(|a| (a.addrs != addrs || moved, a.spec.clone()));
                match stale {
                    Some((true, _)) if moved => self.detach(network, &name).await,
                    Some((true, spec)) => {
                        self.rebuild();
                        self.attach(network, &name, spec).await?;
                    }
                    _ => {}
                }
            }
            Change::RemoveMember(network, name) => {
                self.detach(network, &name).await;
                if let Some(net) = self.networks.get_mut(&network) {
                    net.members.remove(&name);
                }
            }
            Change::Attach(network, name, spec) => {
                self.attach(network, &name, spec).await?;
            }
            Change::Detach(network, name) => self.detach(network, &name).await,
            Change::SetServices(network, services) => {
                self.networks
                    .get_mut(&network)
                    .ok_or(DataPlaneError::UnknownNetwork(network))?
                    .services = services;
            }
            Change::SetRelays(network, relays) => {
                self.networks
                    .get_mut(&network)
                    .ok_or(DataPlaneError::UnknownNetwork(network))?
                    .relays = relays;
            }
        }
        Ok(())
    }
}

/// Changes run on the caller's runtime (compiling tables there, not on
/// the data plane's threads), inside the data plane's runtime context:
/// the sockets and TUN devices they create are driven by it.
impl DataPlane for Overlay {
    async fn apply(&mut self, change: Change) -> Result<(), DataPlaneError> {
        let io = self.io.handle().clone();
        InContext::new(io, async {
            let result = self.stage(change).await;
            self.rebuild();
            result
        })
        .await
    }

    /// Stages the whole plan, then compiles and publishes the tables once:
    /// a cold sync of N changes costs one rebuild, not N.
    async fn apply_all(&mut self, changes: Vec<Change>) -> Vec<Result<(), DataPlaneError>> {
        let io = self.io.handle().clone();
        InContext::new(io, async {
            let mut results = Vec::with_capacity(changes.len());
            for change in changes {
                results.push(self.stage(change).await);
            }
            self.rebuild();
            results
        })
        .await
    }
}
