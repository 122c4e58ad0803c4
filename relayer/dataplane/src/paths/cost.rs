//! The measured cost of one path to a peer, and the choice among paths.
//!
//! Every path is probed every [`PROBE_INTERVAL`]. A path is usable while
//! its last answer is younger than [`DOWN_AFTER`]; its cost is the
//! smoothed probe RTT, inflated by the recent loss (`rtt × (1 + 4 × loss)`:
//! 25 % loss doubles it). The path in use is kept until it stops being
//! usable or another usable path, answering steadily for
//! [`STABLE_REPLIES`] probes, costs [`SWITCH_MARGIN`] less — so two paths
//! of about the same cost do not flap.

use std::time::{Duration, Instant};

/// How often each path is probed.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(200);
/// A probe not answered within this is lost.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// A path whose last answer is older than this is down (four probes
/// missed): with the tick that notices it, traffic moves within about a
/// second.
pub const DOWN_AFTER: Duration = Duration::from_millis(800);
/// Consecutive answers before a path may replace the path in use.
pub const STABLE_REPLIES: u32 = 3;
/// A candidate must cost less than this share of the current path's cost.
pub const SWITCH_MARGIN: f64 = 0.9;
/// Probe outcomes remembered per path for the loss rate (a recovered
/// path's loss falls below 20 % after seven answers, about 1.4 s).
const WINDOW: u32 = 8;

/// Probe history of one path.
#[derive(Clone, Debug, Default)]
pub struct PathStats {
    srtt: Option<Duration>,
    last_reply: Option<Instant>,
    /// Bit i set: the i-th most recent resolved probe was lost.
    lost_bits: u16,
    resolved: u32,
    streak: u32,
}

impl PathStats {
    /// A path never probed.
    pub const EMPTY: PathStats = PathStats {
        srtt: None,
        last_reply: None,
        lost_bits: 0,
        resolved: 0,
        streak: 0,
    };

    /// A probe was answered after `rtt` at `now`.
    pub fn answered(&mut self, rtt: Duration, now: Instant) {
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
        self.last_reply = Some(now);
        self.push(false);
        self.streak += 1;
    }

    /// A probe went unanswered.
    pub fn lost(&mut self) {
        self.push(true);
        self.streak = 0;
    }

    fn push(&mut self, lost: bool) {
        self.lost_bits = (self.lost_bits << 1) | u16::from(lost);
        self.resolved = (self.resolved + 1).min(WINDOW);
    }

    /// Share of the recent probes that were lost.
    pub fn loss(&self) -> f64 {
        if self.resolved == 0 {
            return 0.0;
        }
        let mask = (1u16 << self.resolved) - 1;
        f64::from((self.lost_bits & mask).count_ones()) / f64::from(self.resolved)
    }

    /// Smoothed probe RTT, once a probe was answered.
    pub fn rtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The path's cost at `now`; `None` while it is not usable.
    pub fn cost(&self, now: Instant) -> Option<Duration> {
        let fresh = self
            .last_reply
            .is_some_and(|t| now.saturating_duration_since(t) < DOWN_AFTER);
        if !fresh {
            return None;
        }
        Some(self.srtt?.mul_f64(1.0 + 4.0 * self.loss()))
    }

    /// Consecutive answered probes.
    pub fn streak(&self) -> u32 {
        self.streak
    }
}

/// Picks the path to use among `candidates` (in order of preference on
/// equal cost, direct paths first), given the one in use. Returns `None`
/// when no path is usable and none is in use.
pub fn choose<K: Clone + PartialEq>(
    current: Option<&K>,
    candidates: &[(K, &PathStats)],
    now: Instant,
) -> Option<K> {
    let cost_of = |k: &K| {
        candidates
            .iter()
            .find(|(c, _)| c == k)
            .and_then(|(_, s)| s.cost(now))
    };
    let current_cost = current.and_then(cost_of);
    let mut best: Option<(&K, Duration)> = None;
    for (k, s) in candidates {
        let Some(cost) = s.cost(now) else { continue };
        // Replacing a usable path takes a steady candidate.
        if current_cost.is_some() && Some(k) != current && s.streak() < STABLE_REPLIES {
            continue;
        }
        if best.is_none_or(|(_, b)| cost < b) {
            best = Some((k, cost));
        }
    }
    match (current, current_cost, best) {
        (Some(cur), Some(cc), Some((k, cost))) => {
            if k != cur && cost.as_secs_f64() < cc.as_secs_f64() * SWITCH_MARGIN {
                Some(k.clone())
            } else {
                Some(cur.clone())
            }
        }
        (_, _, Some((k, _))) => Some(k.clone()),
        (cur, _, None) => cur.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(rtt_us: u64, replies: u32, now: Instant) -> PathStats {
        let mut s = PathStats::default();
        for _ in 0..replies {
            s.answered(Duration::from_micros(rtt_us), now);
        }
        s
    }

    #[test]
    fn a_dead_path_is_left_for_a_live_one() {
        let t0 = Instant::now();
        let direct = stats(300, 5, t0);
        let relay = stats(900, 5, t0 + Duration::from_secs(1));
        let later = t0 + Duration::from_secs(1);
        let c = [("direct", &direct), ("relay", &relay)];
        assert_eq!(choose(Some(&"direct"), &c, later), Some("relay"));
        // Still fresh: the cheaper direct path stays.
        assert_eq!(
            choose(Some(&"direct"), &c, t0 + Duration::from_millis(100)),
            Some("direct")
        );
    }

    #[test]
    fn a_recovered_cheaper_path_wins_once_steady() {
        let now = Instant::now();
        let relay = stats(900, 10, now);
        let c = [("direct", &stats(300, 1, now)), ("relay", &relay)];
        assert_eq!(
            choose(Some(&"relay"), &c, now),
            Some("relay"),
            "one reply is not steady"
        );
        let c = [("direct", &stats(300, 3, now)), ("relay", &relay)];
        assert_eq!(choose(Some(&"relay"), &c, now), Some("direct"));
    }

    #[test]
    fn near_equal_paths_do_not_flap() {
        let now = Instant::now();
        let (a, b) = (stats(1000, 10, now), stats(950, 10, now));
        let c = [("a", &a), ("b", &b)];
        assert_eq!(choose(Some(&"a"), &c, now), Some("a"));
        assert_eq!(choose(None, &c, now), Some("b"));
    }

    #[test]
    fn loss_raises_the_cost() {
        let now = Instant::now();
        let mut s = stats(1000, 3, now);
        s.lost();
        assert_eq!(s.loss(), 0.25);
        assert_eq!(s.cost(now), Some(Duration::from_micros(2000)));
        assert_eq!(s.streak(), 0);
    }

    #[test]
    fn nothing_usable_keeps_what_is_in_use() {
        let now = Instant::now();
        let never = PathStats::default();
        let c = [("direct", &never)];
        assert_eq!(choose(Some(&"direct"), &c, now), Some("direct"));
        assert_eq!(choose::<&str>(None, &c, now), None);
    }
}
