//! Prometheus metrics of the control plane.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Label of a resync: why the full provider view was re-read.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct ResyncLabel {
    /// `start`, `reconnect` or `periodic`.
    pub reason: String,
}

/// Control-plane metrics (cheap to clone; all handles share state).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Latest block height seen on the event stream or in a query.
    pub height: Gauge,
    /// Delay between a block's time and receiving its event, milliseconds.
    pub event_lag_ms: Gauge,
    /// Full resyncs by reason.
    pub resyncs: Family<ResyncLabel, Counter>,
    /// WebSocket (re)connections that failed or dropped.
    pub reconnects: Counter,
    /// Networks served.
    pub networks: Gauge,
    /// Members of served networks.
    pub members: Gauge,
    /// Local members whose lease was refused.
    pub verification_failures: Counter,
    /// Changes applied to the data plane.
    pub changes_applied: Counter,
    /// Changes the data plane refused.
    pub changes_failed: Counter,
    /// Chain reads that failed (the last applied state stays in force).
    pub sync_errors: Counter,
    /// Revision-check runs that found a network out of date.
    pub stale_found: Counter<u64, AtomicU64>,
}

impl Metrics {
    /// Metrics registered under the `avpn_control` prefix.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Metrics::default();
        let r = registry.sub_registry_with_prefix("avpn_control");
        r.register("chain_height", "Latest block height seen", m.height.clone());
        r.register(
            "event_lag_ms",
            "Block time to event receipt, ms",
            m.event_lag_ms.clone(),
        );
        r.register(
            "resyncs",
            "Full re-reads of the provider view",
            m.resyncs.clone(),
        );
        r.register(
            "ws_reconnects",
            "WebSocket connections lost or refused",
            m.reconnects.clone(),
        );
        r.register("networks", "Networks served", m.networks.clone());
        r.register("members", "Members of served networks", m.members.clone());
        r.register(
            "lease_verification_failures",
            "Local members refused by lease verification",
            m.verification_failures.clone(),
        );
        r.register(
            "changes_applied",
            "Changes applied to the data plane",
            m.changes_applied.clone(),
        );
        r.register(
            "changes_failed",
            "Changes refused by the data plane",
            m.changes_failed.clone(),
        );
        r.register("sync_errors", "Failed chain reads", m.sync_errors.clone());
        r.register(
            "stale_networks",
            "Networks found out of date by a revision check",
            m.stale_found.clone(),
        );
        m
    }

    /// Counts a resync.
    pub fn resync(&self, reason: &str) {
        self.resyncs
            .get_or_create(&ResyncLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }
}
