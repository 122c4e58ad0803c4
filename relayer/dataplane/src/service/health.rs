//! Replica health: a local replica is healthy while it is attached; a
//! remote one while its provider's connection is up and that provider was
//! heard from (any QUIC packet, keep-alives included) within
//! [`PEER_SILENCE`]. The attachment of a remote replica has no cheap
//! signal: its provider being connected counts as healthy (a lease that
//! goes away is removed by control, which drops its pinned flows).
//!
//! [`watch`] samples every connection's received-packet count every
//! [`SAMPLE`]; with keep-alives every [`crate::peers`] interval, a dead
//! provider stops getting new flows within `PEER_SILENCE + SAMPLE`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::datapath::{MemberRoute, Shared};
use crate::limits::PEER_SILENCE;

/// How often [`watch`] samples the connections.
pub const SAMPLE: Duration = Duration::from_millis(100);

/// When a peer was last heard from, kept by [`watch`].
#[derive(Debug)]
pub(crate) struct Heard {
    base: Instant,
    /// UDP datagrams received on the current connection at the last sample.
    count: AtomicU64,
    /// Milliseconds after `base` the count last moved.
    at_ms: AtomicU64,
}

impl Default for Heard {
    fn default() -> Self {
        Heard {
            base: Instant::now(),
            count: AtomicU64::new(0),
            at_ms: AtomicU64::new(0),
        }
    }
}

impl Heard {
    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// Records the received count `count` seen at `now`.
    fn sample(&self, count: u64, now: Instant) {
        if self.count.swap(count, Ordering::Relaxed) != count {
            self.at_ms.store(self.now_ms(now), Ordering::Relaxed);
        }
    }

    /// Whether the peer was heard from within [`PEER_SILENCE`] of `now`.
    fn recent(&self, now: Instant) -> bool {
        let at = self.at_ms.load(Ordering::Relaxed);
        self.now_ms(now).saturating_sub(at) < PEER_SILENCE.as_millis() as u64
    }
}

/// Whether a replica may take new flows (and keep its pinned ones).
pub(crate) fn healthy(route: &MemberRoute, now: Instant) -> bool {
    if route.local.is_some() {
        return true;
    }
    route
        .peer
        .as_ref()
        .is_some_and(|p| p.conn.load().is_some() && p.heard.recent(now))
}

/// The cost of sending a new flow to a replica: the path RTT (zero for a
/// local replica), in microseconds.
pub(crate) fn cost(route: &MemberRoute) -> u64 {
    if route.local.is_some() {
        return 0;
    }
    route
        .peer
        .as_ref()
        .and_then(|p| p.conn.load_full())
        .map_or(u64::MAX, |c| {
            u64::try_from(c.rtt().as_micros()).unwrap_or(u64::MAX)
        })
}

/// Samples every peer connection's received count every [`SAMPLE`] until
/// the task is cancelled.
pub(crate) async fn watch(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(SAMPLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        for slot in shared.tables.load().peers.values() {
            if let Some(c) = slot.conn.load_full() {
                // Counts restart with each connection; any change counts.
                slot.heard.sample(c.stats().udp_rx.datagrams, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_is_recent_until_it_stays_silent() {
        let h = Heard::default();
        let t0 = h.base;
        h.sample(5, t0 + Duration::from_millis(100));
        assert!(h.recent(t0 + Duration::from_millis(500)));
        // The same count later: silence grows from the last change.
        h.sample(5, t0 + Duration::from_millis(1000));
        assert!(!h.recent(t0 + Duration::from_millis(100) + PEER_SILENCE));
        h.sample(6, t0 + Duration::from_millis(2000));
        assert!(h.recent(t0 + Duration::from_millis(2100)));
    }
}
