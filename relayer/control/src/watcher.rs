//! Chain watcher: subscribes to the node's events over WebSocket and turns
//! them into [`Trigger`]s for the controller.
//!
//! Three subscriptions: `NewBlock` (heights, event lag, and the
//! `finalize_block_events` where CometBFT 0.38 reports messages executed by
//! governance) and `Tx` events of each contract (`execute._contract_address`).
//! After every (re)connection, once the subscriptions are in place, it asks
//! for a full resync, so a change made while disconnected is still seen;
//! it also asks periodically. A connection that delivers no block for
//! `stall_timeout` is considered dead. Reconnects back off exponentially.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use tendermint_rpc::SubscriptionClient;
use tendermint_rpc::event::{Event, EventData};
use tendermint_rpc::query::{EventType, Query};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::rpc::Endpoint;

/// Why a full re-read of the provider view is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResyncReason {
    /// First connection.
    Start,
    /// Connection re-established after a loss.
    Reconnect,
    /// Periodic check.
    Periodic,
    /// A contract event without a network or provider to narrow it down
    /// (params, admin, migration).
    Contract,
    /// A previous read failed (what it should have read is re-read).
    Retry,
}

impl ResyncReason {
    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ResyncReason::Start => "start",
            ResyncReason::Reconnect => "reconnect",
            ResyncReason::Periodic => "periodic",
            ResyncReason::Contract => "contract",
            ResyncReason::Retry => "retry",
        }
    }
}

/// What the controller must re-read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Re-read the whole provider view.
    Resync(ResyncReason),
    /// Networks touched by a registry event at `height`.
    Networks {
        /// Block height of the event.
        height: u64,
        /// Network ids named by the event.
        ids: BTreeSet<u64>,
        /// Providers the event names (`providers` attributes): a network
        /// not served yet is looked at only when it names this provider.
        providers: BTreeSet<String>,
    },
    /// Directory records touched at `height`.
    Providers {
        /// Block height of the event.
        height: u64,
        /// Provider addresses named by the event.
        addrs: BTreeSet<String>,
    },
    /// A new block (height, unix time in ms) — keeps the height fresh.
    Block {
        /// Height.
        height: u64,
        /// Block time, unix milliseconds.
        time_ms: u64,
    },
}

/// Settings of [`watch`].
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// The node.
    pub endpoint: Endpoint,
    /// Registry contract address.
    pub registry: String,
    /// Directory contract address.
    pub directory: String,
    /// Interval of periodic resyncs.
    pub resync_every: Duration,
    /// No block for this long = dead connection.
    pub stall_timeout: Duration,
    /// First reconnect delay (doubles up to `backoff_max`).
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
}

/// Triggers contained in one event's attribute map (`type.key` → values).
pub fn classify(
    events: &BTreeMap<String, Vec<String>>,
    height: u64,
    registry: &str,
    directory: &str,
) -> Vec<Trigger> {
    let touched = |addr: &str| {
        events
            .iter()
            .filter(|(k, _)| k.ends_with("._contract_address"))
            .any(|(_, v)| v.iter().any(|a| a == addr))
    };
    let wasm_attr = |attr: &'static str| {
        events
            .iter()
            .filter(move |(k, _)| {
                k.starts_with("wasm") && k.rsplit_once('.').is_some_and(|(_, a)| a == attr)
            })
            .flat_map(|(_, v)| v.iter())
    };
    let mut out = Vec::new();
    if touched(registry) {
        let mut ids = BTreeSet::new();
        let mut unparsable = false;
        for v in wasm_attr("network_id") {
            match v.parse() {
                Ok(id) => {
                    ids.insert(id);
                }
                Err(_) => unparsable = true,
            }
        }
        if ids.is_empty() || unparsable {
            out.push(Trigger::Resync(ResyncReason::Contract));
        }
        if !ids.is_empty() {
            let providers = wasm_attr("providers")
                .flat_map(|v| v.split(','))
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            out.push(Trigger::Networks {
                height,
                ids,
                providers,
            });
        }
    }
    if touched(directory) {
        let addrs: BTreeSet<String> = wasm_attr("provider").cloned().collect();
        if addrs.is_empty() {
            out.push(Trigger::Resync(ResyncReason::Contract));
        } else {
            out.push(Trigger::Providers { height, addrs });
        }
    }
    out
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Triggers of one received event; updates height and lag metrics.
fn handle(ev: &Event, cfg: &WatchConfig, metrics: &Metrics) -> Vec<Trigger> {
    let empty = BTreeMap::new();
    let map = ev.events.as_ref().unwrap_or(&empty);
    match &ev.data {
        EventData::NewBlock {
            block: Some(block), ..
        } => {
            let height = block.header.height.value();
            let time_ms = (block.header.time.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
            metrics.height.set(height as i64);
            metrics
                .event_lag_ms
                .set(unix_ms(SystemTime::now()).saturating_sub(time_ms) as i64);
            let mut out = vec![Trigger::Block { height, time_ms }];
            out.extend(classify(map, height, &cfg.registry, &cfg.directory));
            out
        }
        EventData::Tx { tx_result } => classify(
            map,
            tx_result.height.max(0) as u64,
            &cfg.registry,
            &cfg.directory,
        ),
        _ => Vec::new(),
    }
}

/// Watches the chain until `out` is closed. Never returns an error:
/// failures are logged, counted and retried.
pub async fn watch(cfg: WatchConfig, out: mpsc::Sender<Trigger>, metrics: Metrics) {
    let mut backoff = cfg.backoff_min;
    let mut first = true;
    loop {
        match session(&cfg, &out, &metrics, first).await {
            Session::Closed => return,
            Session::Lost(reason, subscribed) => {
                metrics.reconnects.inc();
                if subscribed {
                    backoff = cfg.backoff_min;
                    first = false;
                }
                tracing::warn!(%reason, retry_in = ?backoff, "chain event stream lost");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = out.closed() => return,
        }
        backoff = (backoff * 2).min(cfg.backoff_max);
    }
}

enum Session {
    /// The consumer went away.
    Closed,
    /// The connection failed; whether subscriptions had been established.
    Lost(String, bool),
}

async fn session(
    cfg: &WatchConfig,
    out: &mpsc::Sender<Trigger>,
    metrics: &Metrics,
    first: bool,
) -> Session {
    let (client, driver) = match cfg.endpoint.websocket().await {
        Ok(p) => p,
        Err(e) => return Session::Lost(e.to_string(), false),
    };
    let driver = tokio::spawn(driver.run());
    let result = subscribed(cfg, &client, out, metrics, first).await;
    let _ = client.close();
    driver.abort();
    result
}

async fn subscribed(
    cfg: &WatchConfig,
    client: &tendermint_rpc::WebSocketClient,
    out: &mpsc::Sender<Trigger>,
    metrics: &Metrics,
    first: bool,
) -> Session {
    let queries = [
        Query::from(EventType::NewBlock),
        Query::from(EventType::Tx).and_eq("execute._contract_address", cfg.registry.as_str()),
        Query::from(EventType::Tx).and_eq("execute._contract_address", cfg.directory.as_str()),
    ];
    let mut subs = Vec::new();
    for q in queries {
        match tokio::time::timeout(cfg.endpoint.timeout, client.subscribe(q.clone())).await {
            Ok(Ok(s)) => subs.push(s),
            Ok(Err(e)) => return Session::Lost(format!("subscribe {q}: {e}"), false),
            Err(_) => return Session::Lost(format!("subscribe {q}: timed out"), false),
        }
    }
    let reason = if first {
        ResyncReason::Start
    } else {
        ResyncReason::Reconnect
    };
    tracing::info!(?reason, "subscribed to chain events");
    if out.send(Trigger::Resync(reason)).await.is_err() {
        return Session::Closed;
    }
    let mut events = futures::stream::select_all(subs);
    let mut periodic = tokio::time::interval(cfg.resync_every);
    periodic.tick().await;
    let mut last_block = tokio::time::Instant::now();
    loop {
        let stall = tokio::time::sleep_until(last_block + cfg.stall_timeout);
        tokio::select! {
            ev = events.next() => {
                let ev = match ev {
                    Some(Ok(ev)) => ev,
                    Some(Err(e)) => return Session::Lost(format!("event stream: {e}"), true),
                    None => return Session::Lost("event stream ended".into(), true),
                };
                for t in handle(&ev, cfg, metrics) {
                    if matches!(t, Trigger::Block { .. }) {
                        last_block = tokio::time::Instant::now();
                    }
                    if out.send(t).await.is_err() {
                        return Session::Closed;
                    }
                }
            }
            _ = periodic.tick() => {
                if out.send(Trigger::Resync(ResyncReason::Periodic)).await.is_err() {
                    return Session::Closed;
                }
            }
            _ = stall => return Session::Lost(format!("no block for {:?}", cfg.stall_timeout), true),
            _ = out.closed() => return Session::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn registry_events_name_networks_and_directory_events_providers() {
        let ev = map(&[
            ("execute._contract_address", &["reg"]),
            ("wasm-set_policy._contract_address", &["reg"]),
            ("wasm-set_policy.network_id", &["7", "9"]),
            ("wasm-set_policy.revision", &["3"]),
            ("wasm-set_policy.providers", &["akash1a,akash1b", ""]),
        ]);
        assert_eq!(
            classify(&ev, 5, "reg", "dir"),
            vec![Trigger::Networks {
                height: 5,
                ids: [7, 9].into(),
                providers: ["akash1a".to_string(), "akash1b".to_string()].into(),
            }]
        );
        let ev = map(&[
            ("execute._contract_address", &["dir"]),
            ("wasm-rotate_key.provider", &["akash1p"]),
        ]);
        assert_eq!(
            classify(&ev, 6, "reg", "dir"),
            vec![Trigger::Providers {
                height: 6,
                addrs: ["akash1p".to_string()].into()
            }]
        );
    }

    #[test]
    fn unrelated_events_are_ignored_and_vague_ones_resync() {
        let other = map(&[
            ("execute._contract_address", &["other"]),
            ("wasm-x.network_id", &["1"]),
        ]);
        assert!(classify(&other, 1, "reg", "dir").is_empty());
        let params = map(&[
            ("execute._contract_address", &["reg"]),
            ("wasm-update_params.admin", &["gov"]),
        ]);
        assert_eq!(
            classify(&params, 1, "reg", "dir"),
            vec![Trigger::Resync(ResyncReason::Contract)]
        );
        let garbage = map(&[
            ("execute._contract_address", &["reg"]),
            ("wasm-a.network_id", &["x", "2"]),
        ]);
        assert_eq!(
            classify(&garbage, 1, "reg", "dir"),
            vec![
                Trigger::Resync(ResyncReason::Contract),
                Trigger::Networks {
                    height: 1,
                    ids: [2].into(),
                    providers: BTreeSet::new(),
                }
            ]
        );
    }
}
