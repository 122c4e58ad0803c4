//! What the control plane reports: served networks, members, IPs, peers,
//! rejected records and refused leases, and when the last change was
//! applied. Served as JSON and rendered as a table by `avpn-relayer status`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use avpn_model::{DesiredState, Network};
use serde::{Deserialize, Serialize};

use crate::desired::Built;
use crate::view::ChainView;

/// Control-plane status.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ControlStatus {
    /// This provider's account.
    pub provider: String,
    /// Chain id.
    pub chain_id: String,
    /// `off` or `akash-market`.
    pub lease_verification: String,
    /// Latest height seen.
    pub height: u64,
    /// Height the applied state was read at.
    pub synced_height: u64,
    /// Unix seconds of the last applied change.
    pub last_change: Option<u64>,
    /// Last error (chain unreachable, ...), cleared by a clean reconcile.
    pub last_error: Option<String>,
    /// Served networks by id.
    pub networks: BTreeMap<u64, NetworkRow>,
    /// Peer providers.
    pub peers: Vec<PeerRow>,
    /// Chain records skipped as unusable.
    pub rejected: Vec<String>,
    /// Local members refused by lease verification: `network/member: reason`.
    pub refused: Vec<String>,
    /// Local members without an attachment file: `network/member`.
    pub unattached: Vec<String>,
    /// Changes the data plane refused.
    pub failed_changes: Vec<String>,
    /// Networks whose last read or lease check failed (retried; the others
    /// are served normally), with the error.
    pub failing_networks: BTreeMap<u64, String>,
}

/// One served network.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct NetworkRow {
    /// Id.
    pub id: u64,
    /// Name on chain.
    pub name: String,
    /// Applied revision.
    pub revision: u64,
    /// CIDR.
    pub cidr: String,
    /// Members.
    pub members: Vec<MemberRow>,
}

/// One member.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MemberRow {
    /// Name.
    pub name: String,
    /// Overlay IP.
    pub ip: String,
    /// Hosting provider.
    pub provider: String,
    /// Full lease id, `owner/dseq/gseq/oseq/provider/bseq`.
    pub lease: String,
    /// `attached`, `local` (no attachment), `remote`.
    pub state: String,
}

/// One peer provider.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PeerRow {
    /// Address.
    pub provider: String,
    /// Endpoints.
    pub endpoints: Vec<String>,
    /// Accepted keys (hex, current first).
    pub keys: Vec<String>,
}

fn hex(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

impl ControlStatus {
    /// Refreshes from the applied state: the issue lists, the peers, and
    /// the rows of the `touched` networks (`None`: every network).
    pub fn update(
        &mut self,
        view: &ChainView,
        issues: &Built,
        applied: &DesiredState,
        changed_at: Option<u64>,
        touched: Option<&BTreeSet<u64>>,
    ) {
        self.synced_height = view.height;
        self.height = self.height.max(view.height);
        if changed_at.is_some() {
            self.last_change = changed_at;
        }
        self.rejected = issues.rejected.iter().map(ToString::to_string).collect();
        self.refused = issues
            .refused
            .iter()
            .map(|r| format!("{}/{}: {}", r.network, r.member, r.reason))
            .collect();
        self.unattached = issues
            .unattached
            .iter()
            .map(|(n, m)| format!("{n}/{m}"))
            .collect();
        let row = |n: &Network| NetworkRow {
            id: n.info.id,
            name: view
                .networks
                .get(&n.info.id)
                .map(|s| s.network.name.clone())
                .unwrap_or_default(),
            revision: n.info.revision,
            cidr: n.info.cidr.to_string(),
            members: n
                .members
                .values()
                .map(|m| MemberRow {
                    name: m.name.clone(),
                    ip: m.ip.to_string(),
                    provider: m.lease.provider.clone(),
                    lease: m.lease.to_string(),
                    state: if n.attachments.contains_key(&m.name) {
                        "attached"
                    } else if m.lease.provider == self.provider {
                        "local"
                    } else {
                        "remote"
                    }
                    .into(),
                })
                .collect(),
        };
        match touched {
            None => {
                self.networks = applied
                    .networks
                    .iter()
                    .map(|(id, n)| (*id, row(n)))
                    .collect()
            }
            Some(ids) => {
                for id in ids {
                    match applied.networks.get(id) {
                        Some(n) => {
                            self.networks.insert(*id, row(n));
                        }
                        None => {
                            self.networks.remove(id);
                        }
                    }
                }
            }
        }
        self.peers = applied
            .peers
            .values()
            .map(|p| PeerRow {
                provider: p.provider.clone(),
                endpoints: p.endpoints.iter().map(ToString::to_string).collect(),
                keys: p.keys.iter().map(|k| hex(&k.key)).collect(),
            })
            .collect();
    }

    /// A readable multi-table rendering.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "provider   {}", self.provider);
        let _ = writeln!(
            s,
            "chain      {} (height {}, synced at {})",
            self.chain_id, self.height, self.synced_height
        );
        let _ = writeln!(s, "leases     verification {}", self.lease_verification);
        let _ = writeln!(
            s,
            "last change {}",
            self.last_change.map_or("never".to_string(), |t| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                format!("{}s ago (unix {t})", now.saturating_sub(t))
            })
        );
        if let Some(e) = &self.last_error {
            let _ = writeln!(s, "last error {e}");
        }
        let _ = writeln!(
            s,
            "\n{:<8} {:<20} {:>8} {:<18} {:>7}",
            "NETWORK", "NAME", "REV", "CIDR", "MEMBERS"
        );
        for n in self.networks.values() {
            let _ = writeln!(
                s,
                "{:<8} {:<20} {:>8} {:<18} {:>7}",
                n.id,
                n.name,
                n.revision,
                n.cidr,
                n.members.len()
            );
        }
        let _ = writeln!(
            s,
            "\n{:<8} {:<20} {:<16} {:<10} LEASE (owner/dseq/gseq/oseq/provider/bseq)",
            "NETWORK", "MEMBER", "IP", "STATE"
        );
        for n in self.networks.values() {
            for m in &n.members {
                let _ = writeln!(
                    s,
                    "{:<8} {:<20} {:<16} {:<10} {}",
                    n.id, m.name, m.ip, m.state, m.lease
                );
            }
        }
        if !self.failing_networks.is_empty() {
            let _ = writeln!(s, "\nfailing networks (retried; others unaffected):");
            for (id, e) in &self.failing_networks {
                let _ = writeln!(s, "  {id}: {e}");
            }
        }
        for (title, list) in [
            ("refused leases", &self.refused),
            ("unattached local members", &self.unattached),
            ("rejected records", &self.rejected),
            ("failed changes", &self.failed_changes),
        ] {
            if !list.is_empty() {
                let _ = writeln!(s, "\n{title}:");
                for l in list {
                    let _ = writeln!(s, "  {l}");
                }
            }
        }
        s
    }
}
