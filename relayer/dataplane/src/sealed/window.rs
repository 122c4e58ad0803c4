//! Replay window of a sealed channel's receiving half: which counters
//! were already accepted, for the newest [`WINDOW`] of them.
//!
//! Hand-written (RFC 6479's word ring): a few lines, and no maintained
//! crate offers it apart from a whole WireGuard implementation.

const WORDS: usize = 16;

/// Counters this far behind the newest accepted one may still arrive
/// (reordering) once; older ones are refused.
pub const WINDOW: u64 = ((WORDS - 1) * 64) as u64;

/// Accepted counters near the newest one.
#[derive(Debug, Default)]
pub struct ReplayWindow {
    /// The newest accepted counter, if any.
    top: Option<u64>,
    /// Bit `c % 64` of word `(c / 64) % WORDS`: counter `c` was accepted.
    bits: [u64; WORDS],
}

impl ReplayWindow {
    /// The newest accepted counter.
    pub fn top(&self) -> Option<u64> {
        self.top
    }

    /// Whether `c` may be accepted: newer than any so far, or within the
    /// window and not seen.
    pub fn fresh(&self, c: u64) -> bool {
        match self.top {
            None => true,
            Some(top) if c > top => true,
            Some(top) if top - c >= WINDOW => false,
            Some(_) => self.bits[word(c)] & bit(c) == 0,
        }
    }

    /// Records `c` as accepted (call after [`Self::fresh`] said yes and
    /// the frame authenticated).
    pub fn accept(&mut self, c: u64) {
        match self.top {
            Some(top) if c <= top => {}
            _ => {
                // Words that now cover newer counters start empty.
                // (Empty when `c` is in the newest one's word.)
                let first = self.top.map_or(c / 64, |t| t / 64 + 1);
                let last = c / 64;
                if last.saturating_sub(first) >= WORDS as u64 {
                    self.bits = [0; WORDS];
                } else {
                    for w in first..=last {
                        self.bits[(w % WORDS as u64) as usize] = 0;
                    }
                }
                self.top = Some(c);
            }
        }
        self.bits[word(c)] |= bit(c);
    }
}

fn word(c: u64) -> usize {
    ((c / 64) % WORDS as u64) as usize
}

fn bit(c: u64) -> u64 {
    1 << (c % 64)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_counter_once_within_the_window() {
        let mut w = ReplayWindow::default();
        assert!(w.fresh(5));
        w.accept(5);
        assert!(!w.fresh(5), "replay");
        assert!(w.fresh(3), "late but new");
        w.accept(3);
        assert!(!w.fresh(3));
        w.accept(5000);
        assert!(!w.fresh(5000));
        assert!(w.fresh(5000 - WINDOW + 1));
        assert!(!w.fresh(5000 - WINDOW), "behind the window");
        assert!(!w.fresh(5), "long gone");
        assert!(w.fresh(u64::MAX));
        // A newer counter in the newest one's word keeps that word.
        let mut w = ReplayWindow::default();
        w.accept(2874);
        w.accept(2875);
        assert!(!w.fresh(2874));
    }

    proptest! {
        /// Against a set of every accepted counter: never accepts one
        /// twice, never refuses a new one within the window.
        #[test]
        fn matches_a_set(steps in proptest::collection::vec(0u64..3000, 1..400)) {
            let mut w = ReplayWindow::default();
            let mut seen = std::collections::BTreeSet::new();
            for c in steps {
                let top = seen.last().copied();
                let expect = !seen.contains(&c)
                    && top.is_none_or(|t| c > t || t - c < WINDOW);
                prop_assert_eq!(w.fresh(c), expect, "counter {}", c);
                if expect {
                    w.accept(c);
                    seen.insert(c);
                }
                prop_assert_eq!(w.top(), seen.last().copied());
            }
        }
    }
}
