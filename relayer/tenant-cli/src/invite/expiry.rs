//! `--expires` durations such as `72h`, `30m`, `7d` or `1h 30m`.
//!
//! Private to `invite` for now; meant to be replaced by the CLI's shared
//! duration parser.

use std::time::Duration;

/// A duration that is not usable as an invitation lifetime.
#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    /// Not a duration.
    #[error("--expires {0:?}: {1} (expected e.g. 30m, 72h, 7d)")]
    Invalid(String, String),
    /// Zero.
    #[error("--expires must be longer than zero")]
    Zero,
}

/// Parses a lifetime (humantime syntax; units s, m, h, d, w, ...).
pub fn parse(text: &str) -> Result<Duration, ExpiryError> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| ExpiryError::Invalid(text.to_owned(), e.to_string()))?;
    if d.is_zero() {
        return Err(ExpiryError::Zero);
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("72h").unwrap(), Duration::from_secs(72 * 3600));
        assert_eq!(parse("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse("7d").unwrap(), Duration::from_secs(7 * 86400));
        assert_eq!(parse("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse("1h 30m").unwrap(), Duration::from_secs(5400));
        assert!(matches!(parse("0s"), Err(ExpiryError::Zero)));
        assert!(matches!(parse("soon"), Err(ExpiryError::Invalid(..))));
        assert!(matches!(parse("72"), Err(ExpiryError::Invalid(..))));
    }
}
