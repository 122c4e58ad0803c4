//! Keeps the snapshot current: one refresh per [`POLL_INTERVAL`] (about a
//! block), never two at once. A refresh lists the viewer's networks and
//! reads the named ones' records (a handful of small queries), and re-reads
//! a network's members, policies, participants, invitations and providers
//! only when its revision (bumped by the contract on every change) moved.
//! The result is published on a [`Board`] that the server reads.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use network_registry::msg as reg;

use super::read;
use super::relayer::RelayerProbe;
use super::snapshot::{Missing, NetworkData, NetworkView, Role, Snapshot};
use crate::chain::{Chain, ChainError};

/// Time between two refreshes (the chain's blocks come about every second
/// or slower, so a change shows within two blocks).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Networks shown at most: every network named with `--network`, then the
/// viewer's newest open networks, owned and joined.
pub const MAX_NETWORKS: usize = 16;

/// The latest published snapshot.
#[derive(Clone, Debug)]
pub struct Published {
    /// Bumped whenever the serialized snapshot changes (the page's ETag).
    pub version: u64,
    /// The snapshot as JSON.
    pub body: Arc<str>,
    /// The records behind it, by network id (for explain).
    pub networks: Arc<BTreeMap<u64, Arc<NetworkData>>>,
}

/// Where the poller publishes and the server reads.
#[derive(Debug)]
pub struct Board {
    viewer: String,
    latest: RwLock<Published>,
}

impl Board {
    /// An empty board for `viewer`.
    pub fn new(viewer: String) -> Self {
        Board {
            viewer,
            latest: RwLock::new(Published {
                version: 0,
                body: Arc::from("{}"),
                networks: Arc::default(),
            }),
        }
    }

    /// The viewer's address.
    pub fn viewer(&self) -> &str {
        &self.viewer
    }

    /// The latest snapshot.
    pub fn latest(&self) -> Published {
        self.latest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn publish(&self, snapshot: &Snapshot, networks: BTreeMap<u64, Arc<NetworkData>>) {
        let body = serde_json::to_string(snapshot)
            .unwrap_or_else(|e| format!("{{\"error\":\"snapshot not serializable: {e}\"}}"));
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        if *latest.body != *body {
            latest.version += 1;
            latest.body = Arc::from(body);
        }
        latest.networks = Arc::new(networks);
    }
}

/// A network's records and view, valid while its record stays the same.
#[derive(Clone, Debug)]
struct Cached {
    data: Arc<NetworkData>,
    view: NetworkView,
}

/// Reads the chain for one viewer.
#[derive(Debug)]
pub struct Poller {
    chain: Chain,
    viewer: String,
    named: Vec<u64>,
    relayer: Option<RelayerProbe>,
    cache: BTreeMap<u64, Cached>,
    last: Option<Snapshot>,
}

impl Poller {
    /// A poller of the networks `viewer` owns and those in `named`.
    pub fn new(
        chain: Chain,
        viewer: String,
        named: Vec<u64>,
        relayer: Option<RelayerProbe>,
    ) -> Self {
        Poller {
            chain,
            viewer,
            named,
            relayer,
            cache: BTreeMap::new(),
            last: None,
        }
    }

    /// Refreshes forever, one refresh at a time.
    pub async fn run(mut self, board: Arc<Board>) {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.refresh(&board).await;
        }
    }

    /// One refresh: reads the chain and publishes the result (on failure
    /// the last good networks with the error).
    pub async fn refresh(&mut self, board: &Board) {
        let relayer = match &self.relayer {
            Some(p) => Some(p.fetch().await),
            None => None,
        };
        let snapshot = match self.read().await {
            Ok(mut s) => {
                s.relayer = relayer;
                s
            }
            Err(e) => {
                let mut s = self.last.clone().unwrap_or_else(|| self.empty());
                s.error = Some(e.to_string());
                s.relayer = relayer;
                s
            }
        };
        let networks = self
            .cache
            .iter()
            .map(|(id, c)| (*id, c.data.clone()))
            .collect();
        board.publish(&snapshot, networks);
        self.last = Some(snapshot);
    }

    fn empty(&self) -> Snapshot {
        let s = self.chain.settings();
        Snapshot {
            viewer: self.viewer.clone(),
            chain_id: s.chain_id.clone(),
            registry: s.registry.clone(),
            networks: Vec::new(),
            missing: Vec::new(),
            networks_truncated: false,
            error: None,
            relayer: None,
        }
    }

    /// The records to show: named networks first, then the newest open
    /// owned ones, at most [`MAX_NETWORKS`].
    async fn records(
        &self,
        missing: &mut Vec<Missing>,
    ) -> Result<(Vec<reg::NetworkResponse>, bool), ChainError> {
        let (owned, mut truncated) = read::owned(&self.chain, &self.viewer).await?;
        let mut out: Vec<reg::NetworkResponse> = Vec::new();
        for &id in &self.named {
            if out.iter().any(|n| n.id == id) {
                continue;
            }
            if out.len() == MAX_NETWORKS {
                truncated = true;
                break;
            }
            match owned.iter().find(|n| n.id == id) {
                Some(n) => out.push(n.clone()),
                None => match read::record(&self.chain, id).await {
                    Ok(n) => out.push(n),
                    Err(ChainError::Query(e)) => missing.push(Missing {
                        id,
                        reason: e.to_string(),
                    }),
                    Err(e) => return Err(e),
                },
            }
        }
        let (joined, more_joined) = read::joined(&self.chain, &self.viewer, MAX_NETWORKS).await?;
        truncated |= more_joined;
        let mut open: Vec<reg::NetworkResponse> = Vec::new();
        for n in owned.into_iter().chain(joined) {
            if n.status == reg::NetworkStatus::Open
                && !out.iter().chain(&open).any(|o| o.id == n.id)
            {
                open.push(n);
            }
        }
        let room = MAX_NETWORKS - out.len();
        if open.len() > room {
            truncated = true;
            open.drain(..open.len() - room);
        }
        out.extend(open);
        Ok((out, truncated))
    }

    async fn read(&mut self) -> Result<Snapshot, ChainError> {
        let mut snapshot = self.empty();
        let (records, truncated) = self.records(&mut snapshot.missing).await?;
        snapshot.networks_truncated = truncated;
        let mut fresh = BTreeMap::new();
        for n in records {
            let cached = match self.cache.get(&n.id) {
                Some(c) if c.data.network == n => c.clone(),
                _ => {
                    let data = read::network(&self.chain, n).await?;
                    let view = data.view(&self.viewer);
                    Cached {
                        data: Arc::new(data),
                        view,
                    }
                }
            };
            if cached.view.role == Role::Outsider {
                snapshot.missing.push(Missing {
                    id: cached.view.id,
                    reason: "the viewer neither owns it nor participates in it".into(),
                });
            } else {
                snapshot.networks.push(cached.view.clone());
            }
            fresh.insert(cached.data.network.id, cached);
        }
        self.cache = fresh;
        Ok(snapshot)
    }
}
