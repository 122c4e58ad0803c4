//! Byte budgets of the provider pairs a relay forwards for.

use std::time::Instant;

use rustc_hash::FxHashMap;

use super::frame::PeerId;
use crate::limits::MAX_RELAY_PAIRS;

/// One token bucket of bytes per unordered provider pair: `burst` bytes at
/// once, refilled at `rate` bytes per second; at most
/// [`MAX_RELAY_PAIRS`] pairs.
#[derive(Debug)]
pub struct PairBudgets {
    rate: f64,
    burst: f64,
    pairs: FxHashMap<(PeerId, PeerId), (f64, Instant)>,
}

impl PairBudgets {
    /// Budgets of `rate` bytes/s with `burst` bytes at once.
    pub fn new(rate: u64, burst: u64) -> Self {
        PairBudgets {
            rate: rate as f64,
            burst: burst as f64,
            pairs: FxHashMap::default(),
        }
    }

    /// Spends `len` bytes of the pair's budget at `now`; false (nothing
    /// spent) when the budget is short or the pair table is full.
    pub fn spend(&mut self, a: PeerId, b: PeerId, len: usize, now: Instant) -> bool {
        let key = (a.min(b), a.max(b));
        if !self.pairs.contains_key(&key) && self.pairs.len() >= MAX_RELAY_PAIRS {
            return false;
        }
        let (rate, burst) = (self.rate, self.burst);
        let (tokens, last) = self.pairs.entry(key).or_insert((burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *last = now;
        *tokens = (*tokens + elapsed * rate).min(burst);
        let len = len as f64;
        if *tokens >= len {
            *tokens -= len;
            true
        } else {
            false
        }
    }

    /// Forgets pairs for which `keep` is false (providers no longer peers).
    pub fn retain(&mut self, keep: impl Fn(PeerId) -> bool) {
        self.pairs.retain(|(a, b), _| keep(*a) && keep(*b));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_pair_gets_its_burst_then_its_rate_and_others_their_own() {
        let (a, b, c) = (PeerId(1), PeerId(2), PeerId(3));
        let mut budgets = PairBudgets::new(1000, 3000);
        let t0 = Instant::now();
        assert!(budgets.spend(a, b, 3000, t0));
        assert!(
            !budgets.spend(b, a, 1, t0),
            "both directions share the budget"
        );
        assert!(budgets.spend(a, c, 3000, t0), "another pair has its own");
        let t1 = t0 + Duration::from_millis(500);
        assert!(budgets.spend(a, b, 500, t1));
        assert!(!budgets.spend(a, b, 1, t1));
        budgets.retain(|p| p != c);
        assert_eq!(budgets.pairs.len(), 1);
    }
}
