//! The reconciler: computes the ordered, idempotent [`Change`]s that take
//! the applied state to the desired state, and applies them through a
//! [`DataPlane`], tracking exactly what succeeded.
//!
//! Order of a plan: new or changed peers (relays among them); removed
//! networks; per network (settings, then its relays, so new members' routes
//! can use them, then removed members with their attachments detached first,
//! then detaches of stale attachments, then new or changed members, then
//! new attachments, then the services, which name members); removed peers
//! last, once nothing refers to them (no member, no relay set).

use avpn_model::{Change, DataPlane, DataPlaneError, DesiredState, Network};

/// A change the data plane refused, kept for the report and retried on the
/// next reconcile.
#[derive(Debug)]
pub struct Failure {
    /// The change that failed.
    pub change: Change,
    /// Why.
    pub error: DataPlaneError,
}

/// Outcome of one reconcile.
#[derive(Debug, Default)]
pub struct Report {
    /// Changes applied successfully, in order.
    pub applied: Vec<Change>,
    /// Changes the data plane refused.
    pub failed: Vec<Failure>,
}

/// Holds what the data plane has been told so far.
#[derive(Debug, Default)]
pub struct Reconciler {
    applied: DesiredState,
}

impl Reconciler {
    /// A reconciler for a data plane that serves nothing yet.
    pub fn new() -> Self {
        Reconciler::default()
    }

    /// The state the data plane has acknowledged.
    pub fn applied(&self) -> &DesiredState {
        &self.applied
    }

    /// Applies the plan from the applied state to `desired`. Failed changes
    /// do not update the applied state, so the next call retries them.
    pub async fn reconcile<D: DataPlane + Send>(
        &mut self,
        desired: &DesiredState,
        dp: &mut D,
    ) -> Report {
        let mut report = Report::default();
        let changes = plan(&self.applied, desired);
        if changes.is_empty() {
            return report;
        }
        let results = dp.apply_all(changes.clone()).await;
        let missing = || {
            Err(DataPlaneError::Io(std::io::Error::other(
                "data plane returned no result",
            )))
        };
        let results = results.into_iter().chain(std::iter::repeat_with(missing));
        for (change, result) in changes.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    record(&mut self.applied, &change);
                    report.applied.push(change);
                }
                Err(error) => {
                    tracing::warn!(?change, %error, "data plane refused a change");
                    report.failed.push(Failure { change, error });
                }
            }
        }
        report
    }
}

/// A network with settings `info` and nothing else.
fn bare(info: avpn_model::NetworkInfo) -> Network {
    Network {
        info,
        members: Default::default(),
        attachments: Default::default(),
        services: Default::default(),
        relays: Default::default(),
    }
}

/// The ordered changes from `applied` to `desired` (empty when equal).
pub fn plan(applied: &DesiredState, desired: &DesiredState) -> Vec<Change> {
    let mut out = Vec::new();
    for (addr, peer) in &desired.peers {
        if applied.peers.get(addr) != Some(peer) {
            out.push(Change::SetPeer(peer.clone()));
        }
    }
    for id in applied.networks.keys() {
        if !desired.networks.contains_key(id) {
            out.push(Change::RemoveNetwork(*id));
        }
    }
    let empty = bare(avpn_model::NetworkInfo {
        id: 0,
        name: String::new(),
        owner: String::new(),
        revision: 0,
        cidr: Default::default(),
        cidr6: None,
        default_verdict: avpn_model::Verdict::Deny,
    });
    for (id, want) in &desired.networks {
        let have = applied.networks.get(id);
        if have.map(|n| &n.info) != Some(&want.info) {
            out.push(Change::SetNetwork(want.info.clone()));
        }
        plan_network(*id, have.unwrap_or(&empty), want, &mut out);
    }
    for addr in applied.peers.keys() {
        if !desired.peers.contains_key(addr) {
            out.push(Change::RemovePeer(addr.clone()));
        }
    }
    out
}

fn plan_network(id: u64, have: &Network, want: &Network, out: &mut Vec<Change>) {
    if have.relays != want.relays {
        out.push(Change::SetRelays(id, want.relays.clone()));
    }
    for name in have.members.keys() {
        if !want.members.contains_key(name) {
            if have.attachments.contains_key(name) {
                out.push(Change::Detach(id, name.clone()));
            }
            out.push(Change::RemoveMember(id, name.clone()));
        }
    }
    // An attachment is stale when it is no longer wanted, differs, or its
    // member changed address or lease (it must be rebuilt after SetMember).
    let mut detached = Vec::new();
    for (name, att) in &have.attachments {
        let Some(member) = want.members.get(name) else {
            continue;
        };
        let member_moved = have
            .members
            .get(name)
            .is_some_and(|m| m.ip != member.ip || m.lease != member.lease);
        if want.attachments.get(name) != Some(att) || member_moved {
            out.push(Change::Detach(id, name.clone()));
            detached.push(name.clone());
        }
    }
    for (name, member) in &want.members {
        if have.members.get(name) != Some(member) {
            out.push(Change::SetMember(id, member.clone()));
        }
    }
    for (name, att) in &want.attachments {
        if have.attachments.get(name) != Some(att) || detached.contains(name) {
            out.push(Change::Attach(id, name.clone(), att.clone()));
        }
    }
    if have.services != want.services {
        out.push(Change::SetServices(id, want.services.clone()));
    }
}

/// Updates `state` as the data plane did when it applied `change`.
pub fn record(state: &mut DesiredState, change: &Change) {
    match change {
        Change::SetPeer(p) => {
            state.peers.insert(p.provider.clone(), p.clone());
        }
        Change::RemovePeer(addr) => {
            state.peers.remove(addr);
        }
        Change::SetNetwork(info) => {
            state
                .networks
                .entry(info.id)
                .and_modify(|n| n.info = info.clone())
                .or_insert_with(|| bare(info.clone()));
        }
        Change::RemoveNetwork(id) => {
            state.networks.remove(id);
        }
        Change::SetMember(id, m) => {
            if let Some(n) = state.networks.get_mut(id) {
                n.members.insert(m.name.clone(), m.clone());
            }
        }
        Change::RemoveMember(id, name) => {
            if let Some(n) = state.networks.get_mut(id) {
                n.members.remove(name);
                n.attachments.remove(name);
            }
        }
        Change::Attach(id, name, a) => {
            if let Some(n) = state.networks.get_mut(id) {
                n.attachments.insert(name.clone(), a.clone());
            }
        }
        Change::Detach(id, name) => {
            if let Some(n) = state.networks.get_mut(id) {
                n.attachments.remove(name);
            }
        }
        Change::SetServices(id, services) => {
            if let Some(n) = state.networks.get_mut(id) {
                n.services = services.clone();
            }
        }
        Change::SetRelays(id, relays) => {
            if let Some(n) = state.networks.get_mut(id) {
                n.relays = relays.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use avpn_model::{NetworkInfo, PeerInfo, Verdict};

    use super::*;

    fn info(id: u64) -> NetworkInfo {
        NetworkInfo {
            id,
            name: format!("net{id}"),
            owner: "akash1owner".into(),
            revision: 1,
            cidr: "100.64.0.0/24".parse().unwrap(),
            cidr6: None,
            default_verdict: Verdict::Deny,
        }
    }

    fn peer(p: &str) -> PeerInfo {
        PeerInfo {
            provider: p.into(),
            keys: vec![],
            endpoints: vec![],
        }
    }

    /// A state with network `id` relayed by `relays` (peers too).
    fn state(id: u64, relays: &[&str]) -> DesiredState {
        let mut s = DesiredState::default();
        let mut n = bare(info(id));
        n.relays = relays.iter().map(|r| r.to_string()).collect();
        s.networks.insert(id, n);
        for r in relays {
            s.peers.insert(r.to_string(), peer(r));
        }
        s
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|p| p.to_string()).collect()
    }

    fn round_trip(applied: &DesiredState, desired: &DesiredState) -> Vec<Change> {
        let changes = plan(applied, desired);
        let mut s = applied.clone();
        for c in &changes {
            record(&mut s, c);
        }
        assert_eq!(&s, desired);
        assert!(plan(&s, desired).is_empty());
        changes
    }

    #[test]
    fn relays_are_planned_after_the_network_and_its_peers() {
        let none = DesiredState::default();
        // A new network without relays needs no relay change.
        assert_eq!(
            round_trip(&none, &state(1, &[])),
            vec![Change::SetNetwork(info(1))]
        );
        // A new network with a relay: its peer, the network, then its relays.
        let relayed = state(1, &["r"]);
        assert_eq!(
            round_trip(&none, &relayed),
            vec![
                Change::SetPeer(peer("r")),
                Change::SetNetwork(info(1)),
                Change::SetRelays(1, set(&["r"])),
            ]
        );
        // Another relay replaces it; the old one's peer goes last.
        assert_eq!(
            round_trip(&relayed, &state(1, &["s"])),
            vec![
                Change::SetPeer(peer("s")),
                Change::SetRelays(1, set(&["s"])),
                Change::RemovePeer("r".into()),
            ]
        );
        // Gone: an empty relay set, then the peer.
        assert_eq!(
            round_trip(&relayed, &state(1, &[])),
            vec![
                Change::SetRelays(1, set(&[])),
                Change::RemovePeer("r".into())
            ]
        );
    }

    #[test]
    fn recording_relays_of_an_unknown_network_changes_nothing() {
        let mut s = DesiredState::default();
        record(&mut s, &Change::SetRelays(9, set(&["r"])));
        assert_eq!(s, DesiredState::default());
    }
}
