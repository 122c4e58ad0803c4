//! Human input: durations (`72h`, `30m`, `1d`, `90s`), times
//! (`2026-12-24T18:00Z`, full RFC 3339, `now+72h`) and lease ids
//! (`owner/dseq/gseq/oseq/provider[/bseq]`, or one flag per field).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;
use cosmwasm_std::Timestamp;
use network_registry::msg::LeaseId;

/// Input that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a duration.
    #[error("invalid duration {input:?}: {reason} (examples: 72h, 30m, 1d, 90s, 1h30m)")]
    Duration {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// Not a time.
    #[error(
        "invalid time {input:?}: {reason} (examples: 2026-12-24T18:00Z, 2026-12-24T18:00:00+01:00, now+72h)"
    )]
    Time {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A time the registry cannot store (before 1970 or after 2554).
    #[error("time {0:?} is out of range (1970 to 2554)")]
    TimeRange(String),
    /// Not a lease id.
    #[error("invalid lease {input:?}: {reason}; expected owner/dseq/gseq/oseq/provider[/bseq]")]
    Lease {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A lease field flag is missing (and no lease string was given).
    #[error(
        "no lease: give it as owner/dseq/gseq/oseq/provider[/bseq] or with --dseq, --gseq, --oseq and --provider (missing --{0})"
    )]
    LeaseFlag(&'static str),
}

/// Parses a duration such as `72h`, `30m`, `1d`, `90s` or `1h30m`.
pub fn duration(input: &str) -> Result<Duration, ParseError> {
    humantime::parse_duration(input.trim()).map_err(|e| ParseError::Duration {
        input: input.into(),
        reason: e.to_string(),
    })
}

/// `d` after `t`, or `None` past what a timestamp holds.
pub fn later(t: Timestamp, d: Duration) -> Option<Timestamp> {
    u64::try_from(d.as_nanos())
        .ok()
        .and_then(|n| t.nanos().checked_add(n))
        .map(Timestamp::from_nanos)
}

/// Parses a time: `now`, `now+<duration>`, `now-<duration>`, a date
/// (`2026-12-24`, midnight UTC), or RFC 3339 with or without seconds
/// (`2026-12-24T18:00Z`, `2026-12-24T18:00:00.5+01:00`). A zone (`Z` or an
/// offset) is required so nobody time-boxes a network in the wrong zone.
pub fn time(input: &str, now: SystemTime) -> Result<Timestamp, ParseError> {
    let s = input.trim();
    let at = match s.strip_prefix("now") {
        Some(rest) => relative(input, rest, now)?,
        None => absolute(input, s)?,
    };
    let nanos = at
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .ok_or_else(|| ParseError::TimeRange(input.into()))?;
    Ok(Timestamp::from_nanos(nanos))
}

/// `now`, `now+72h`, `now-1h` (`rest` is what follows `now`).
fn relative(input: &str, rest: &str, now: SystemTime) -> Result<SystemTime, ParseError> {
    let bad = |reason: &str| ParseError::Time {
        input: input.into(),
        reason: reason.into(),
    };
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok(now);
    }
    let mut chars = rest.chars();
    let sign = chars.next();
    let d = duration(chars.as_str()).map_err(|e| match e {
        ParseError::Duration { reason, .. } => bad(&reason),
        other => other,
    })?;
    let at = match sign {
        Some('+') => now.checked_add(d),
        Some('-') => now.checked_sub(d),
        _ => return Err(bad("expected now, now+<duration> or now-<duration>")),
    };
    at.ok_or_else(|| ParseError::TimeRange(input.into()))
}

/// A date or an RFC 3339 time with a zone.
fn absolute(input: &str, s: &str) -> Result<SystemTime, ParseError> {
    let bad = |reason: &str| ParseError::Time {
        input: input.into(),
        reason: reason.into(),
    };
    if !s.is_ascii() {
        return Err(bad("unexpected characters"));
    }
    if s.len() == "2026-12-24".len() {
        return parse_utc(input, &format!("{s}T00:00:00"));
    }
    let (body, offset_secs) = split_zone(s)
        .ok_or_else(|| bad("no time zone: end it with Z (UTC) or an offset such as +01:00"))?;
    let mut body = body.to_owned();
    if matches!(body.as_bytes().get(10), Some(b't' | b' ')) {
        // RFC 3339 allows `t` (and a space) for `T`.
        body.replace_range(10..11, "T");
    }
    if body.len() == "2026-12-24T18:00".len() {
        body.push_str(":00");
    }
    let utc = parse_utc(input, &body)?;
    let shift = Duration::from_secs(offset_secs.unsigned_abs());
    let at = if offset_secs >= 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    };
    at.ok_or_else(|| ParseError::TimeRange(input.into()))
}

/// Splits `...Z` or `...+HH:MM` into the local part and the offset in seconds.
fn split_zone(s: &str) -> Option<(&str, i64)> {
    if let Some(body) = s.strip_suffix(['Z', 'z']) {
        return Some((body, 0));
    }
    let n = s.len();
    if n < 6 {
        return None;
    }
    let (body, zone) = s.split_at(n - 6);
    let b = zone.as_bytes();
    let sign = match b[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if b[3] != b':' {
        return None;
    }
    let hours: i64 = zone[1..3].parse().ok()?;
    let minutes: i64 = zone[4..6].parse().ok()?;
    if hours > 23 || minutes > 59 || !zone[1..3].bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((body, sign * (hours * 3600 + minutes * 60)))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac]` as UTC.
fn parse_utc(input: &str, body: &str) -> Result<SystemTime, ParseError> {
    humantime::parse_rfc3339(&format!("{body}Z")).map_err(|e| ParseError::Time {
        input: input.into(),
        reason: e.to_string(),
    })
}

/// Parses `owner/dseq/gseq/oseq/provider[/bseq]` (bseq defaults to 0).
pub fn lease(input: &str) -> Result<LeaseId, ParseError> {
    let bad = |reason: String| ParseError::Lease {
        input: input.into(),
        reason,
    };
    let parts: Vec<&str> = input.trim().split('/').collect();
    if !(5..=6).contains(&parts.len()) {
        return Err(bad(format!("{} parts instead of 5 or 6", parts.len())));
    }
    let owner = address(parts[0], "owner").map_err(&bad)?;
    let provider = address(parts[4], "provider").map_err(&bad)?;
    Ok(LeaseId {
        owner,
        dseq: number(parts[1], "dseq").map_err(&bad)?,
        gseq: number(parts[2], "gseq").map_err(&bad)?,
        oseq: number(parts[3], "oseq").map_err(&bad)?,
        provider,
        bseq: match parts.get(5) {
            Some(b) => number(b, "bseq").map_err(&bad)?,
            None => 0,
        },
    })
}

/// Formats a lease id as `owner/dseq/gseq/oseq/provider/bseq` ([`lease`]
/// reads it back).
pub fn format_lease(l: &LeaseId) -> String {
    format!(
        "{}/{}/{}/{}/{}/{}",
        l.owner, l.dseq, l.gseq, l.oseq, l.provider, l.bseq
    )
}

/// An account address: non-empty, letters and digits only (bech32).
fn address(s: &str, field: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err(format!("{field} is empty"));
    }
    if !s.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Err(format!("{field} {s:?} is not an account address"));
    }
    Ok(s.to_owned())
}

/// A decimal sequence number.
fn number<N: std::str::FromStr>(s: &str, field: &str) -> Result<N, String> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("{field} {s:?} is not a number"));
    }
    s.parse()
        .map_err(|_| format!("{field} {s:?} is out of range"))
}

/// A lease as one string or as one flag per field.
#[derive(Args, Clone, Debug, Default)]
pub struct LeaseArgs {
    /// Lease as owner/dseq/gseq/oseq/provider[/bseq] (bseq defaults to 0).
    #[arg(value_name = "LEASE", conflicts_with_all = ["lease_owner", "dseq", "gseq", "oseq", "provider", "bseq"])]
    pub lease: Option<String>,
    /// Lease owner [default: the sender].
    #[arg(long)]
    pub lease_owner: Option<String>,
    /// Deployment sequence of the lease.
    #[arg(long)]
    pub dseq: Option<u64>,
    /// Group sequence of the lease.
    #[arg(long)]
    pub gseq: Option<u32>,
    /// Order sequence of the lease.
    #[arg(long)]
    pub oseq: Option<u32>,
    /// Provider address of the lease.
    #[arg(long)]
    pub provider: Option<String>,
    /// Bid sequence of the lease [default: 0].
    #[arg(long)]
    pub bseq: Option<u32>,
}

impl LeaseArgs {
    /// The lease id; `sender` is the owner when none is given.
    pub fn lease_id(&self, sender: &str) -> Result<LeaseId, ParseError> {
        if let Some(s) = &self.lease {
            return lease(s);
        }
        let flag_err = |flag: &str, reason: String| ParseError::Lease {
            input: format!("--{flag}"),
            reason,
        };
        let owner = self.lease_owner.as_deref().unwrap_or(sender);
        let owner = address(owner, "owner").map_err(|r| flag_err("lease-owner", r))?;
        let provider = self
            .provider
            .as_deref()
            .ok_or(ParseError::LeaseFlag("provider"))?;
        let provider = address(provider, "provider").map_err(|r| flag_err("provider", r))?;
        Ok(LeaseId {
            owner,
            dseq: self.dseq.ok_or(ParseError::LeaseFlag("dseq"))?,
            gseq: self.gseq.ok_or(ParseError::LeaseFlag("gseq"))?,
            oseq: self.oseq.ok_or(ParseError::LeaseFlag("oseq"))?,
            provider,
            bseq: self.bseq.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn durations() {
        assert_eq!(duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(duration(" 90s "), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "72", "h", "3 parsecs", "-1h"] {
            assert!(
                matches!(duration(bad), Err(ParseError::Duration { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn later_times() {
        let t = Timestamp::from_seconds(10);
        assert_eq!(
            later(t, Duration::from_secs(5)),
            Some(Timestamp::from_seconds(15))
        );
        assert_eq!(later(t, Duration::from_secs(u64::MAX)), None);
        assert_eq!(
            later(Timestamp::from_nanos(u64::MAX), Duration::from_nanos(1)),
            None
        );
    }

    #[test]
    fn absolute_times() {
        let now = at(0);
        let t = |s| time(s, now).map(|t| t.seconds());
        // 2026-12-24T18:00:00Z
        let base = 1_798_135_200;
        assert_eq!(t("2026-12-24T18:00Z"), Ok(base));
        assert_eq!(t("2026-12-24T18:00:00Z"), Ok(base));
        assert_eq!(t("2026-12-24t18:00:00z"), Ok(base));
        assert_eq!(t("2026-12-24 18:00:00Z"), Ok(base));
        assert_eq!(t("2026-12-24T19:00:00+01:00"), Ok(base));
        assert_eq!(t("2026-12-24T13:30-04:30"), Ok(base));
        assert_eq!(t("2026-12-24"), Ok(base - 18 * 3600));
        assert_eq!(
            time("2026-12-24T18:00:00.5Z", now).map(|t| t.nanos()),
            Ok(base * 1_000_000_000 + 500_000_000)
        );
    }

    #[test]
    fn relative_times() {
        let now = at(1_000_000);
        let t = |s| time(s, now).map(|t| t.seconds());
        assert_eq!(t("now"), Ok(1_000_000));
        assert_eq!(t("now+72h"), Ok(1_000_000 + 72 * 3600));
        assert_eq!(t("now-1d"), Ok(1_000_000 - 86400));
        assert!(matches!(t("now*2h"), Err(ParseError::Time { .. })));
        assert!(matches!(t("now+forever"), Err(ParseError::Time { .. })));
        assert_eq!(
            t("now-10000d"),
            Err(ParseError::TimeRange("now-10000d".into()))
        );
    }

    #[test]
    fn bad_times() {
        for bad in [
            "",
            "tomorrow",
            "2026-12-24T18:00",
            "2026-12-24T18:00:00",
            "2026-13-24T18:00Z",
            "2026-12-24T25:00Z",
            "2026-12-24T18:00+1:00",
            "2026-12-24T18:00+24:00",
            "2026-12-24T18:00:00é",
        ] {
            assert!(
                matches!(time(bad, at(0)), Err(ParseError::Time { .. })),
                "{bad}: {:?}",
                time(bad, at(0))
            );
        }
        assert_eq!(
            time("1970-01-01T00:30+01:00", at(0)),
            Err(ParseError::TimeRange("1970-01-01T00:30+01:00".into()))
        );
    }

    #[test]
    fn lease_errors() {
        let reason = |s: &str| match lease(s) {
            Err(ParseError::Lease { reason, .. }) => reason,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(reason("akash1a/1/1/1"), "4 parts instead of 5 or 6");
        assert_eq!(
            reason("akash1a/1/1/1/akash1p/0/9"),
            "7 parts instead of 5 or 6"
        );
        assert_eq!(reason("/1/1/1/akash1p"), "owner is empty");
        assert_eq!(reason("akash1a/1/1/1/"), "provider is empty");
        assert_eq!(
            reason("akash1a/x/1/1/akash1p"),
            "dseq \"x\" is not a number"
        );
        assert_eq!(
            reason("akash1a/1/-1/1/akash1p"),
            "gseq \"-1\" is not a number"
        );
        assert_eq!(
            reason("akash1a/1/1/4294967296/akash1p"),
            "oseq \"4294967296\" is out of range"
        );
        assert_eq!(
            reason("akash1a/1/1/1/akash1p/"),
            "bseq \"\" is not a number"
        );
        assert_eq!(
            reason("akash 1a/1/1/1/akash1p"),
            "owner \"akash 1a\" is not an account address"
        );
        let msg = lease("x").unwrap_err().to_string();
        assert!(
            msg.contains("owner/dseq/gseq/oseq/provider[/bseq]"),
            "{msg}"
        );
    }

    #[test]
    fn lease_bseq_defaults_to_zero() {
        let l = lease("akash1own/1001/1/2/akash1prov").unwrap();
        assert_eq!(
            l,
            LeaseId {
                owner: "akash1own".into(),
                dseq: 1001,
                gseq: 1,
                oseq: 2,
                provider: "akash1prov".into(),
                bseq: 0
            }
        );
    }

    #[test]
    fn lease_flags() {
        let mut a = LeaseArgs {
            dseq: Some(7),
            gseq: Some(1),
            oseq: Some(1),
            ..Default::default()
        };
        assert_eq!(
            a.lease_id("akash1me"),
            Err(ParseError::LeaseFlag("provider"))
        );
        a.provider = Some("akash1prov".into());
        let l = a.lease_id("akash1me").unwrap();
        assert_eq!((l.owner.as_str(), l.dseq, l.bseq), ("akash1me", 7, 0));
        a.lease_owner = Some("akash1other".into());
        a.bseq = Some(3);
        let l = a.lease_id("akash1me").unwrap();
        assert_eq!((l.owner.as_str(), l.bseq), ("akash1other", 3));
        a.gseq = None;
        assert_eq!(a.lease_id("akash1me"), Err(ParseError::LeaseFlag("gseq")));
    }

    proptest! {
        #[test]
        fn lease_round_trip(
            owner in "[a-z][a-z0-9]{0,60}",
            provider in "[a-z][a-z0-9]{0,60}",
            dseq: u64, gseq: u32, oseq: u32, bseq: u32,
        ) {
            let l = LeaseId { owner, dseq, gseq, oseq, provider, bseq };
            prop_assert_eq!(lease(&format_lease(&l)), Ok(l.clone()));
            if bseq == 0 {
                let short = format!("{}/{}/{}/{}/{}", l.owner, dseq, gseq, oseq, l.provider);
                prop_assert_eq!(lease(&short), Ok(l));
            }
        }

        #[test]
        fn lease_never_panics(s in "\\PC{0,80}") {
            let _ = lease(&s);
        }

        #[test]
        fn time_never_panics(s in "\\PC{0,40}") {
            let _ = time(&s, UNIX_EPOCH);
        }

        #[test]
        fn rfc3339_round_trip(secs in 0u64..16_000_000_000) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            let text = humantime::format_rfc3339(t).to_string();
            prop_assert_eq!(time(&text, UNIX_EPOCH).map(|t| t.seconds()), Ok(secs));
        }
    }
}
