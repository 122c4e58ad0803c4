//! The level-triggered control loop: gathers [`Trigger`]s, re-reads what
//! they name from the chain, builds the desired state and reconciles the
//! data plane. A failed read leaves the last applied state in force and is
//! retried; the first read after start is always a full one, and nothing is
//! applied before it succeeded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use avpn_model::{Attachment, Change, DataPlane, DesiredState};
use futures::StreamExt;
use tendermint_rpc::Client;
use tokio::sync::{Mutex, mpsc, watch};

use avpn_model::LeaseId;

use crate::attachments;
use crate::checkpoint::Checkpoint;
use crate::desired::{self, VerdictCache};
use crate::lease::LeaseVerifier;
use crate::metrics::Metrics;
use crate::query::QueryError;
use crate::reconcile::Reconciler;
use crate::status::ControlStatus;
use crate::view::{ChainView, Consent, NetworkSnapshot, Source};
use crate::watcher::{ResyncReason, Trigger};

/// Networks read concurrently during a full resync.
const PARALLEL_READS: usize = 8;

/// What has been applied to the data plane, published after every reconcile.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    /// Height the applied state was read at.
    pub height: u64,
    /// Revision of every applied network.
    pub revisions: BTreeMap<u64, u64>,
    /// When the last change was applied.
    pub at: Option<tokio::time::Instant>,
    /// Whether a full read has succeeded since start.
    pub ready: bool,
}

/// Settings of a [`Controller`].
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    /// Directory of attachment files (`None`: nothing is attached).
    pub attachments_dir: Option<PathBuf>,
    /// Data directory for the checkpoint (`None`: no checkpoint).
    pub data_dir: Option<PathBuf>,
    /// How often the attachments directory is re-read between chain events.
    pub attachments_poll: Duration,
    /// Delay before retrying after a failed chain read.
    pub retry_after: Duration,
    /// Networks served without hosting one of their leases.
    pub consent: Consent,
}

/// Merged work of several triggers.
#[derive(Debug, Default)]
struct Work {
    resync: Option<ResyncReason>,
    networks: BTreeSet<u64>,
    /// Providers named by registry events (not directory records).
    event_providers: BTreeSet<String>,
    providers: BTreeSet<String>,
    block: Option<(u64, u64)>,
}

impl Work {
    fn add(&mut self, t: Trigger) {
        match t {
            Trigger::Resync(r) => self.resync = Some(self.resync.unwrap_or(r)),
            Trigger::Networks { ids, providers, .. } => {
                self.networks.extend(ids);
                self.event_providers.extend(providers);
            }
            Trigger::Providers { addrs, .. } => self.providers.extend(addrs),
            Trigger::Block { height, time_ms } => self.block = Some((height, time_ms)),
        }
    }

    fn needs_read(&self) -> bool {
        self.resync.is_some() || !self.networks.is_empty() || !self.providers.is_empty()
    }
}

/// Failure of one control step (the previous state stays applied).
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Chain read failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Lease verification could not be performed.
    #[error(transparent)]
    Lease(#[from] crate::lease::LeaseError),
}

/// The control loop of one relayer.
pub struct Controller<V, D> {
    source: Source,
    verifier: V,
    dataplane: Arc<Mutex<D>>,
    cfg: ControllerConfig,
    view: ChainView,
    reconciler: Reconciler,
    cache: VerdictCache,
    attachments: HashMap<LeaseId, Attachment>,
    /// Local leases changed since the served networks were last discovered.
    rediscover: bool,
    /// Networks whose last read or build failed (retried; the others go on).
    failing: BTreeMap<u64, String>,
    metrics: Metrics,
    status: Arc<std::sync::Mutex<ControlStatus>>,
    applied: watch::Sender<Applied>,
    ready: bool,
    /// Checkpoint of the previous run, until the first full read.
    checkpoint: Option<Checkpoint>,
    /// Desired state, rebuilt network by network as the view changes.
    desired: DesiredState,
    /// Per-network build results (issues; the network itself is in `desired`).
    built: BTreeMap<u64, desired::NetworkBuild>,
    /// Unusable directory records of peers.
    peer_rejected: Vec<desired::RecordError>,
    /// Networks to rebuild.
    dirty: BTreeSet<u64>,
    /// Rebuild every network (attachments or verdicts changed, full read).
    dirty_all: bool,
    /// Time-box boundary last acted on, and when.
    boundary_fired: Option<(u64, tokio::time::Instant)>,
}

impl<V: LeaseVerifier, D: DataPlane + Send> Controller<V, D> {
    /// A controller; call [`Controller::run`] with the watcher's triggers.
    pub fn new(
        source: Source,
        verifier: V,
        dataplane: Arc<Mutex<D>>,
        cfg: ControllerConfig,
        metrics: Metrics,
    ) -> Self {
        let status = ControlStatus {
            provider: source.provider.clone(),
            chain_id: source.querier.endpoint().chain_id.clone(),
            lease_verification: verifier.mode().to_owned(),
            ..Default::default()
        };
        let chain_id = source.querier.endpoint().chain_id.clone();
        let checkpoint = match cfg.data_dir.as_deref().map(Checkpoint::load) {
            Some(Ok(Some(c))) if c.chain_id == chain_id => {
                tracing::info!(
                    height = c.height,
                    networks = c.revisions.len(),
                    "checkpoint found; rebuilding from chain before serving"
                );
                Some(c)
            }
            Some(Ok(Some(c))) => {
                tracing::warn!(chain = %c.chain_id, "ignoring the checkpoint of another chain");
                None
            }
            Some(Err(e)) => {
                tracing::warn!(%e, "ignoring unreadable checkpoint");
                None
            }
            _ => None,
        };
        Controller {
            source,
            verifier,
            dataplane,
            cfg,
            view: ChainView::default(),
            reconciler: Reconciler::new(),
            cache: VerdictCache::new(),
            attachments: HashMap::new(),
            rediscover: true,
            failing: BTreeMap::new(),
            metrics,
            status: Arc::new(std::sync::Mutex::new(status)),
            applied: watch::channel(Applied::default()).0,
            ready: false,
            checkpoint,
            desired: DesiredState::default(),
            built: BTreeMap::new(),
            peer_rejected: Vec::new(),
            dirty: BTreeSet::new(),
            dirty_all: true,
            boundary_fired: None,
        }
    }

    /// Shared status snapshot (for the HTTP endpoint).
    pub fn status(&self) -> Arc<std::sync::Mutex<ControlStatus>> {
        self.status.clone()
    }

    /// Receiver of [`Applied`] updates.
    pub fn applied(&self) -> watch::Receiver<Applied> {
        self.applied.subscribe()
    }

    /// Runs until the trigger channel closes.
    pub async fn run(mut self, mut triggers: mpsc::Receiver<Trigger>) {
        let mut poll = tokio::time::interval(self.cfg.attachments_poll);
        let mut retry: Option<tokio::time::Instant> = None;
        // After a failed read, whatever it was asked to read is owed: the
        // next step re-reads everything.
        let mut owed: Option<ResyncReason> = None;
        loop {
            let mut work = Work::default();
            tokio::select! {
                t = triggers.recv() => match t {
                    Some(t) => work.add(t),
                    None => return,
                },
                _ = poll.tick() => {
                    if self.ready && self.reload_attachments() && !self.apply().await {
                        retry = Some(tokio::time::Instant::now() + self.cfg.retry_after);
                    }
                    continue;
                }
                _ = sleep_until_opt(retry) => {
                    work.resync = Some(ResyncReason::Retry);
                }
                _ = sleep_until_opt(self.next_time_boundary()) => {
                    // A time-boxed network starts or ends: nothing happens on
                    // chain, so re-read it at the new block time.
                    let ids = self.networks_at_boundary();
                    let t = self.time_boundaries().map(|(t, _)| t).min().unwrap_or(0);
                    self.boundary_fired = Some((t, tokio::time::Instant::now()));
                    work.networks.extend(ids);
                }
            }
            while let Ok(t) = triggers.try_recv() {
                work.add(t);
            }
            if let Some((height, _)) = work.block {
                self.lock_status().height = height;
            }
            if work.resync.is_none() && work.needs_read() {
                work.resync = owed.take();
            }
            if !work.needs_read() {
                continue;
            }
            match self.step(work).await {
                Ok(true) => {
                    retry = None;
                    owed = None;
                }
                Ok(false) => retry = Some(tokio::time::Instant::now() + self.cfg.retry_after),
                Err(e) => {
                    owed = Some(ResyncReason::Retry);
                    self.metrics.sync_errors.inc();
                    tracing::warn!(%e, "chain read failed; keeping the applied state");
                    self.lock_status().last_error = Some(e.to_string());
                    retry = Some(tokio::time::Instant::now() + self.cfg.retry_after);
                }
            }
        }
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, ControlStatus> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads what `work` names, then reconciles.
    /// Returns whether every change was applied.
    async fn step(&mut self, work: Work) -> Result<bool, StepError> {
        let client = self.source.querier.client();
        let endpoint = self.source.querier.endpoint();
        let st = client
            .status()
            .await
            .map_err(|e| QueryError::Rpc(endpoint.unreachable(e)))?;
        if st.node_info.network.as_str() != endpoint.chain_id {
            return Err(QueryError::Rpc(crate::rpc::RpcError::WrongChainId {
                url: endpoint.url.to_string(),
                expected: endpoint.chain_id.clone(),
                actual: st.node_info.network.to_string(),
            })
            .into());
        }
        let height = st.sync_info.latest_block_height.value();
        let time =
            (st.sync_info.latest_block_time.unix_timestamp_nanos() / 1_000_000_000).max(0) as u64;
        // Which networks to serve: those binding a lease this provider runs
        // (found from the local leases, never from what names it) and the
        // consented ones. Looked up again on a full read, when local leases
        // changed, or when an event names this provider.
        let full = work.resync.is_some() || !self.ready;
        self.reload_attachments();
        if full {
            let reason = work.resync.unwrap_or(ResyncReason::Start);
            self.metrics.resync(reason.as_str());
            if reason == ResyncReason::Periodic {
                self.cache.clear();
            }
        }
        // An event naming this provider can bind one of its leases only in
        // a network it does not serve yet; changes in served networks need
        // no discovery.
        let names_local = work.event_providers.contains(&self.source.provider)
            && work
                .networks
                .iter()
                .any(|id| !self.view.serving.contains(id));
        let mut to_read: BTreeSet<u64> = BTreeSet::new();
        if full || names_local || self.rediscover {
            let mut serving = self
                .source
                .leased_networks(self.attachments.keys(), height)
                .await?;
            serving.extend(
                self.source
                    .consented_networks(&self.cfg.consent, height)
                    .await?,
            );
            self.rediscover = false;
            to_read.extend(serving.difference(&self.view.serving));
            self.view.serving = serving;
        }
        if full {
            to_read.extend(self.view.serving.iter().copied());
        } else {
            to_read.extend(work.networks.intersection(&self.view.serving));
        }
        // Named networks are rebuilt even when their revision did not move
        // (the block time may have crossed their time box).
        self.dirty.extend(work.networks.iter().copied());
        let mut updates: Vec<(u64, Option<NetworkSnapshot>)> = self
            .view
            .networks
            .keys()
            .filter(|id| !self.view.serving.contains(id))
            .map(|id| (*id, None))
            .collect();
        // One network's failure never holds up the others: each read is
        // its own, a failed one keeps its last snapshot and is retried.
        to_read.extend(self.failing.keys().copied());
        let source = &self.source;
        let known: BTreeMap<u64, u64> = self.view.revisions();
        let mut reads = futures::stream::iter(to_read)
            .map(|id| {
                let known = known.get(&id).copied();
                async move { (id, read_if_moved(source, id, known, height).await) }
            })
            .buffer_unordered(PARALLEL_READS);
        let mut stale = 0u64;
        while let Some((id, read)) = reads.next().await {
            match read {
                Ok(Read::Unchanged) => {
                    self.failing.remove(&id);
                }
                Ok(Read::Gone) => {
                    self.failing.remove(&id);
                    updates.push((id, None));
                }
                Ok(Read::Changed(snapshot)) => {
                    self.failing.remove(&id);
                    stale += 1;
                    updates.push((id, Some(*snapshot)));
                }
                Err(e) => {
                    self.metrics.sync_errors.inc();
                    tracing::warn!(network = id, %e, "network read failed; keeping its last state");
                    self.failing.insert(id, e.to_string());
                }
            }
        }
        drop(reads);
        if self.ready && full {
            self.metrics.stale_found.inc_by(stale);
        }
        if full {
            self.dirty_all = true;
        }
        for (id, snapshot) in updates {
            self.dirty.insert(id);
            match snapshot {
                Some(s) => self.view.networks.insert(id, s),
                None => self.view.networks.remove(&id),
            };
        }
        // Directory records: hosting providers, and the authorized ones
        // (relay candidates; the registry caps them per network at its
        // `max_list_len` param, 32 by default, and `view::MAX_AUTHORIZED`).
        let mut needed = self.view.hosting_providers();
        needed.extend(self.view.authorized_providers());
        needed.insert(self.source.provider.clone());
        self.view.providers.retain(|p, _| needed.contains(p));
        for p in &needed {
            if full || work.providers.contains(p) || !self.view.providers.contains_key(p) {
                let record = self.source.provider(p, height).await?;
                self.view.providers.insert(p.clone(), record);
            }
        }
        self.view.height = height;
        self.view.time = time;
        if let Some(c) = self.checkpoint.take() {
            let changed = c.changed_since(&self.view.revisions());
            tracing::info!(
                from = c.height,
                to = height,
                ?changed,
                "rebuilt from chain; networks changed while stopped"
            );
        }
        self.ready = true;
        let clean = self.apply().await;
        Ok(clean && self.failing.is_empty())
    }

    /// Start and end times (unix seconds) of served networks after the
    /// current block time.
    fn time_boundaries(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let now = self.view.time;
        self.view.networks.iter().flat_map(move |(id, n)| {
            [n.network.start_time, n.network.end_time]
                .into_iter()
                .flatten()
                .map(|t| t.seconds())
                .filter(move |t| *t > now)
                .map(move |t| (t, *id))
        })
    }

    /// When the next time box opens or closes: a second after it (so the
    /// chain has produced a block past it), or a second after the last try
    /// when the chain's time had not yet passed it.
    fn next_time_boundary(&self) -> Option<tokio::time::Instant> {
        if !self.ready {
            return None;
        }
        let t = self.time_boundaries().map(|(t, _)| t).min()?;
        if let Some((fired, at)) = self.boundary_fired
            && fired == t
        {
            return Some(at + Duration::from_secs(1));
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let wait_ms = ((t + 1) * 1000).saturating_sub(now_ms);
        Some(tokio::time::Instant::now() + Duration::from_millis(wait_ms))
    }

    /// Networks whose time box opens or closes at the next boundary.
    fn networks_at_boundary(&self) -> BTreeSet<u64> {
        let Some(t) = self.time_boundaries().map(|(t, _)| t).min() else {
            return BTreeSet::new();
        };
        self.time_boundaries()
            .filter(|(b, _)| *b == t)
            .map(|(_, id)| id)
            .collect()
    }

    /// Re-reads the attachments directory; whether anything changed.
    fn reload_attachments(&mut self) -> bool {
        let Some(dir) = &self.cfg.attachments_dir else {
            return false;
        };
        let (found, errors) = attachments::read_dir(dir, &self.source.provider);
        for e in &errors {
            tracing::warn!(%e, "attachment file skipped");
        }
        let changed = found != self.attachments;
        self.attachments = found;
        self.dirty_all |= changed;
        self.rediscover |= changed;
        changed
    }

    /// Rebuilds the networks of the desired state whose records, attachments
    /// or verdicts changed, then the peers. A network whose build fails
    /// (its lease query failed) keeps its previous desired state, stays
    /// dirty and is reported; the others go on.
    async fn rebuild_dirty(&mut self) -> Result<(), crate::lease::LeaseError> {
        let mut first_error = None;
        let ids: Vec<u64> = if self.dirty_all {
            self.view
                .networks
                .keys()
                .chain(self.desired.networks.keys())
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        } else {
            self.dirty.iter().copied().collect()
        };
        for id in ids {
            match self.view.networks.get(&id) {
                None => {
                    self.desired.networks.remove(&id);
                    self.built.remove(&id);
                }
                Some(snap) => {
                    let built = desired::build_network(
                        id,
                        snap,
                        self.view.time,
                        &self.source.provider,
                        &self.verifier,
                        &mut self.cache,
                        &self.attachments,
                    )
                    .await;
                    let mut nb = match built {
                        Ok(nb) => nb,
                        Err(e) => {
                            tracing::warn!(network = id, %e, "lease verification failed; network keeps its last state");
                            self.failing.insert(id, e.to_string());
                            first_error.get_or_insert(e);
                            continue;
                        }
                    };
                    for r in &nb.rejected {
                        tracing::warn!(%r, "chain record rejected");
                    }
                    for r in &nb.refused {
                        tracing::warn!(network = r.network, member = %r.member, reason = %r.reason, "lease refused");
                    }
                    self.metrics
                        .verification_failures
                        .inc_by(nb.refused.len() as u64);
                    match nb.network.take() {
                        Some(n) => self.desired.networks.insert(id, n),
                        None => self.desired.networks.remove(&id),
                    };
                    self.built.insert(id, nb);
                }
            }
            self.dirty.remove(&id);
        }
        self.dirty_all = false;
        desired::set_relays(&mut self.desired, &self.view);
        let (peers, rejected) = desired::peers(&self.desired, &self.view, &self.source.provider);
        self.desired.peers = peers;
        self.peer_rejected = rejected;
        first_error.map_or(Ok(()), Err)
    }

    /// Every rejected record, refused lease and unattached member (for status).
    fn issues(&self) -> desired::Built {
        let mut b = desired::Built::default();
        for nb in self.built.values() {
            b.rejected.extend(nb.rejected.iter().cloned());
            b.refused.extend(nb.refused.iter().cloned());
            b.unattached.extend(nb.unattached.iter().cloned());
        }
        b.rejected.extend(self.peer_rejected.iter().cloned());
        b
    }

    /// Builds the desired state from the view and reconciles the data
    /// plane; whether everything was applied.
    async fn apply(&mut self) -> bool {
        let verified = self.rebuild_dirty().await;
        if let Err(e) = &verified {
            self.metrics.sync_errors.inc();
            self.lock_status().last_error = Some(e.to_string());
        }
        let report = {
            let mut dp = self.dataplane.lock().await;
            self.reconciler.reconcile(&self.desired, &mut *dp).await
        };
        self.metrics
            .changes_applied
            .inc_by(report.applied.len() as u64);
        self.metrics
            .changes_failed
            .inc_by(report.failed.len() as u64);
        let applied = self.reconciler.applied();
        self.metrics.networks.set(applied.networks.len() as i64);
        self.metrics.members.set(
            applied
                .networks
                .values()
                .map(|n| n.members.len() as i64)
                .sum(),
        );
        let now = tokio::time::Instant::now();
        let changed = !report.applied.is_empty();
        if changed {
            tracing::info!(
                changes = report.applied.len(),
                height = self.view.height,
                "applied"
            );
        }
        let first = !self.applied.borrow().ready;
        let touched: BTreeSet<u64> = report.applied.iter().filter_map(network_of).collect();
        let issues = self.issues();
        {
            let mut st = self.lock_status();
            st.update(
                &self.view,
                &issues,
                applied,
                changed.then(unix_now),
                (!first).then_some(&touched),
            );
            st.failed_changes = report
                .failed
                .iter()
                .map(|f| format!("{:?}: {}", f.change, f.error))
                .collect();
            if report.failed.is_empty() && verified.is_ok() {
                st.last_error = None;
            }
            st.failing_networks = self.failing.clone();
        }
        let revisions: BTreeMap<u64, u64> = applied
            .networks
            .iter()
            .map(|(id, n)| (*id, n.info.revision))
            .collect();
        if let Some(dir) = &self.cfg.data_dir {
            let c = Checkpoint {
                chain_id: self.source.querier.endpoint().chain_id.clone(),
                height: self.view.height,
                revisions: revisions.clone(),
            };
            if let Err(e) = c.store(dir) {
                tracing::warn!(%e, "checkpoint not written");
            }
        }
        let height = self.view.height;
        self.applied.send_modify(|a| {
            a.height = height;
            a.revisions = revisions;
            a.ready = true;
            if changed {
                a.at = Some(now);
            }
        });
        report.failed.is_empty() && verified.is_ok()
    }
}

/// Outcome of re-reading one served network.
enum Read {
    /// Same revision as the one held.
    Unchanged,
    /// Closed or gone: no longer served.
    Gone,
    /// Read anew.
    Changed(Box<NetworkSnapshot>),
}

/// Reads network `id` at `height` when its revision moved from `known`.
async fn read_if_moved(
    source: &Source,
    id: u64,
    known: Option<u64>,
    height: u64,
) -> Result<Read, QueryError> {
    let Some(record) = source.network_record(id, height).await? else {
        return Ok(Read::Gone);
    };
    if record.status == network_registry::msg::NetworkStatus::Closed {
        return Ok(Read::Gone);
    }
    if known == Some(record.revision) {
        return Ok(Read::Unchanged);
    }
    Ok(Read::Changed(Box::new(source.network(id, height).await?)))
}

/// The network a change is about (`None` for peer changes).
fn network_of(c: &Change) -> Option<u64> {
    match c {
        Change::SetNetwork(i) => Some(i.id),
        Change::RemoveNetwork(id)
        | Change::SetMember(id, _)
        | Change::RemoveMember(id, _)
        | Change::Attach(id, _, _)
        | Change::Detach(id, _)
        | Change::SetServices(id, _)
        | Change::SetRelays(id, _) => Some(*id),
        Change::SetPeer(_) | Change::RemovePeer(_) => None,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
