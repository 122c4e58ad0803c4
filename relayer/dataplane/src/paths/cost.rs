//! The measured cost of one path to a peer, and the choice among paths.
//!
//! Every path is probed every [`PROBE_INTERVAL`]. A path is usable while
//! its last answer is younger than [`DOWN_AFTER`]; its cost is the
//! smoothed probe RTT, inflated by the recent loss (`rtt × (1 + 4 × loss)`:
//! 25 % loss doubles it). The path in use is kept until it stops being
//! usable or another usable path, answering steadily for
//! [`STABLE_REPLIES`] probes, costs [`SWITCH_MARGIN`] less, or, being
//! preferred to it (a direct path to a relay), costs no more — so two
//! paths of about the same cost do not flap, and a direct path wins over
//! a relay of the same cost.

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
    /// Send times of the newest answered probes.
    answered_sent: [Option<Instant>; STABLE_REPLIES as usize],
    /// Send time of the newest probe that went unanswered.
    lost_sent: Option<Instant>,
    /// Bit i set: the i-th most recent resolved probe was lost.
    lost_bits: u16,
    resolved: u32,
}

impl PathStats {
    /// A path never probed.
    pub const EMPTY: PathStats = PathStats {
        srtt: None,
        last_reply: None,
        answered_sent: [None; STABLE_REPLIES as usize],
        lost_sent: None,
        lost_bits: 0,
        resolved: 0,
    };

    /// A probe was answered after `rtt` at `now`.
    pub fn answered(&mut self, rtt: Duration, now: Instant) {
        self.srtt = Some(match self.srtt {
            None => rtt,
            Some(s) => (s * 7 + rtt) / 8,
        });
        self.last_reply = Some(now);
        let sent = now.checked_sub(rtt).unwrap_or(now);
        // Keep the newest send times (answers may arrive out of order).
        let oldest = self
            .answered_sent
            .iter_mut()
            .min_by_key(|a| **a)
            .expect("not empty");
        if oldest.is_none_or(|o| o < sent) {
            *oldest = Some(sent);
        }
        self.push(false);
    }

    /// The probe sent at `sent` went unanswered (known a timeout later,
    /// after answers to probes sent since may have come).
    pub fn lost(&mut self, sent: Instant) {
        self.push(true);
        self.lost_sent = Some(self.lost_sent.map_or(sent, |l| l.max(sent)));
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

    /// Answered probes sent after the newest lost one, counting at most
    /// [`STABLE_REPLIES`]: consecutive answers in the order the probes
    /// were sent. (The timeouts of probes sent during an outage resolve a
    /// second after the path came back and do not end the answers since.)
    pub fn streak(&self) -> u32 {
        let after_loss = |a: &&Instant| self.lost_sent.is_none_or(|l| **a > l);
        self.answered_sent
            .iter()
            .flatten()
            .filter(after_loss)
            .count() as u32
    }
}

/// Picks the path to use among `candidates` (in order of preference,
/// direct paths first), given the one in use. Returns `None` when no path
/// is usable and none is in use.
///
/// Without a usable path in use, the cheapest usable one is taken (the
/// more preferred on equal cost). Otherwise a steady candidate replaces
/// it when it costs less than [`SWITCH_MARGIN`] of it, or, if it is
/// preferred to the path in use, when it costs no more: under CPU
/// contention a direct path and a relay measure about the same (the
/// RTTs are scheduling delays), and the direct path should win then.
/// The two conditions never both hold for a pair of paths, so a pair of
/// costs never makes the choice go back and forth.
pub fn choose<K: Clone + PartialEq>(
    current: Option<&K>,
    candidates: &[(K, &PathStats)],
    now: Instant,
) -> Option<K> {
    let rank = |k: &K| candidates.iter().position(|(c, _)| c == k);
    let in_use = current.and_then(|cur| {
        let r = rank(cur)?;
        Some((cur, r, candidates[r].1.cost(now)?))
    });
    let mut best: Option<(&K, Duration)> = None;
    for (i, (k, s)) in candidates.iter().enumerate() {
        let Some(cost) = s.cost(now) else { continue };
        if let Some((cur, cur_rank, cur_cost)) = in_use
            && k != cur
        {
            let cheaper = cost.as_secs_f64() < cur_cost.as_secs_f64() * SWITCH_MARGIN;
            let preferred = i < cur_rank && cost <= cur_cost;
            if s.streak() < STABLE_REPLIES || !(cheaper || preferred) {
                continue;
            }
        }
        if best.is_none_or(|(_, b)| cost < b) {
            best = Some((k, cost));
        }
    }
    // The path in use takes part unconditioned, so with one in use
    // `best` is never empty.
    best.map(|(k, _)| k.clone()).or_else(|| current.cloned())
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
        s.lost(now);
        assert_eq!(s.loss(), 0.25);
        assert_eq!(s.cost(now), Some(Duration::from_micros(2000)));
        assert_eq!(s.streak(), 0);
    }

    /// A path back from an outage replaces the relay after three answers,
    /// although the probes sent during the outage time out later.
    #[test]
    fn losses_from_an_outage_do_not_break_the_streak_after_it() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let rtt = Duration::from_micros(300);
        let relay = stats(900, 10, t0 + ms(1400));
        let mut direct = PathStats::default();
        // Probes at 0 and 200 ms go unanswered; the path is back for the
        // probes at 400, 600 and 800 ms.
        for sent in [ms(400), ms(600), ms(800)] {
            direct.answered(rtt, t0 + sent + rtt);
        }
        // The early probes time out a second after they were sent.
        direct.lost(t0);
        direct.lost(t0 + ms(200));
        assert_eq!(direct.streak(), 3);
        assert_eq!(direct.loss(), 0.4);
        let now = t0 + ms(1200);
        let c = [("direct", &direct), ("relay", &relay)];
        assert_eq!(choose(Some(&"relay"), &c, now), Some("direct"));
        // A probe sent after the newest answer and lost ends the streak.
        direct.lost(t0 + ms(1000));
        assert_eq!(direct.streak(), 0);
        // On a lossy path a loss ends the streak though it is known late:
        // only the answers to probes sent after it count.
        direct.answered(rtt, t0 + ms(1200) + rtt);
        direct.answered(rtt, t0 + ms(1400) + rtt);
        direct.lost(t0 + ms(1300));
        assert_eq!(direct.streak(), 1);
        let c = [("direct", &direct), ("relay", &relay)];
        assert_eq!(choose(Some(&"relay"), &c, now), Some("relay"));
    }

    /// Under CPU contention both paths measure about the same: the
    /// direct path replaces the relay once it costs no more; the relay
    /// replaces the direct path only when clearly cheaper.
    #[test]
    fn a_direct_path_costing_no_more_replaces_the_relay() {
        let now = Instant::now();
        let c = [
            ("direct", &stats(600, 3, now)),
            ("relay", &stats(600, 10, now)),
        ];
        assert_eq!(choose(Some(&"relay"), &c, now), Some("direct"));
        let c = [
            ("direct", &stats(650, 3, now)),
            ("relay", &stats(600, 10, now)),
        ];
        assert_eq!(choose(Some(&"relay"), &c, now), Some("relay"));
        // Not steady yet: stays.
        let c = [
            ("direct", &stats(300, 2, now)),
            ("relay", &stats(600, 10, now)),
        ];
        assert_eq!(choose(Some(&"relay"), &c, now), Some("relay"));
        // The other way round takes a clearly cheaper relay.
        let c = [
            ("direct", &stats(600, 10, now)),
            ("relay", &stats(560, 10, now)),
        ];
        assert_eq!(choose(Some(&"direct"), &c, now), Some("direct"));
        let c = [
            ("direct", &stats(600, 10, now)),
            ("relay", &stats(500, 10, now)),
        ];
        assert_eq!(choose(Some(&"direct"), &c, now), Some("relay"));
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
