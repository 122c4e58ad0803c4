//! Token bucket limiting one member's DNS queries.

use std::time::Instant;

use crate::limits::{DNS_BURST, DNS_QUERIES_PER_SEC};

/// A token bucket: [`DNS_BURST`] queries at once, refilled at
/// [`DNS_QUERIES_PER_SEC`]. Owned by the member's TUN read loop, so it
/// needs no lock.
#[derive(Debug)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl Default for TokenBucket {
    fn default() -> Self {
        TokenBucket {
            tokens: f64::from(DNS_BURST),
            last: Instant::now(),
        }
    }
}

impl TokenBucket {
    /// Takes one token at time `now`; false when the bucket is empty.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens =
            (self.tokens + elapsed * f64::from(DNS_QUERIES_PER_SEC)).min(f64::from(DNS_BURST));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_flood_gets_the_burst_then_the_rate() {
        let mut b = TokenBucket::default();
        let t0 = Instant::now();
        let granted = (0..1000).filter(|_| b.take(t0)).count();
        assert_eq!(granted, DNS_BURST as usize);
        // One second later: the rate's worth again (capped by the burst).
        let later = t0 + Duration::from_secs(1);
        let granted = (0..1000).filter(|_| b.take(later)).count();
        assert_eq!(granted, DNS_BURST.min(DNS_QUERIES_PER_SEC) as usize);
        let soon = later + Duration::from_millis(10);
        assert_eq!((0..1000).filter(|_| b.take(soon)).count(), 5);
    }
}
