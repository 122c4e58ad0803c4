//! Polling with a deadline: the only way tests wait for something.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Calls `check` every `every` until it returns `Some`, or fails after
/// `within` with the last state `describe` gives.
pub fn until<T>(
    what: &str,
    within: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {within:?} waiting for {what}");
        }
        std::thread::sleep(every);
    }
}
