//! What the CLI prints: tables (and key/value lists) for people, pretty
//! JSON for programs (`-o json`). Times are shown as RFC 3339 in UTC.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use clap::ValueEnum;
use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};
use cosmwasm_std::Timestamp;
use serde::Serialize;

/// The `-o` flag.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// Tables and lines for people.
    #[default]
    Table,
    /// Pretty JSON for programs.
    Json,
}

/// Failure to print.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The value cannot be serialized.
    #[error("cannot encode the output as JSON")]
    Json(#[from] serde_json::Error),
    /// Standard output is closed or full.
    #[error("cannot write to standard output")]
    Io(#[from] std::io::Error),
}

/// Something printable both ways.
pub trait Render: Serialize {
    /// The text for people (ends without a newline).
    fn human(&self) -> String;
}

/// Prints `value` in `format` to standard output.
pub fn emit<R: Render + ?Sized>(format: OutputFormat, value: &R) -> Result<(), OutputError> {
    let text = render(format, value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    Ok(out.flush()?)
}

/// The text [`emit`] prints.
pub fn render<R: Render + ?Sized>(format: OutputFormat, value: &R) -> Result<String, OutputError> {
    Ok(match format {
        OutputFormat::Table => value.human(),
        OutputFormat::Json => serde_json::to_string_pretty(value)?,
    })
}

/// A borderless table with a header row, columns two spaces apart (like
/// `kubectl get`), so lines stay easy to grep and cut.
pub fn table<S: AsRef<str>>(header: &[&str], rows: impl IntoIterator<Item = Vec<S>>) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().copied());
    for row in rows {
        t.add_row(row.iter().map(AsRef::as_ref));
    }
    for column in t.column_iter_mut() {
        column.set_padding((0, 2));
    }
    t.lines()
        .map(|l| l.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `key: value` lines, keys aligned; empty values are left out.
pub fn fields<S: AsRef<str>>(pairs: &[(&str, S)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .filter(|(_, v)| !v.as_ref().is_empty())
        .map(|(k, v)| {
            format!(
                "{:width$}  {}",
                format!("{k}:"),
                v.as_ref(),
                width = width + 1
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A registry time as RFC 3339 (UTC, fractions only when present).
pub fn time(t: &Timestamp) -> String {
    humantime::format_rfc3339(UNIX_EPOCH + Duration::from_nanos(t.nanos())).to_string()
}

/// An optional time, `-` when absent.
pub fn opt_time(t: Option<&Timestamp>) -> String {
    t.map_or_else(|| "-".into(), time)
}

/// A list joined with commas, `-` when empty.
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        return "-".into();
    }
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Thing {
        name: &'static str,
        at: Timestamp,
    }

    impl Render for Thing {
        fn human(&self) -> String {
            fields(&[("name", self.name.to_string()), ("at", time(&self.at))])
        }
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(
            time(&Timestamp::from_seconds(1_798_135_200)),
            "2026-12-24T18:00:00Z"
        );
        assert_eq!(
            time(&Timestamp::from_nanos(1_798_135_200_500_000_000)),
            "2026-12-24T18:00:00.500000000Z"
        );
        assert_eq!(opt_time(None), "-");
    }

    #[test]
    fn json_and_table() {
        let thing = Thing {
            name: "demo",
            at: Timestamp::from_seconds(0),
        };
        let json = render(OutputFormat::Json, &thing).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["name"], "demo");
        assert_eq!(v["at"], "0");
        assert!(json.contains('\n'), "pretty");
        let text = render(OutputFormat::Table, &thing).unwrap();
        assert_eq!(text, "name:  demo\nat:    1970-01-01T00:00:00Z");
    }

    #[test]
    fn tables_have_header_and_rows() {
        let t = table(
            &["ID", "NAME"],
            vec![vec!["1", "demo"], vec!["22", "other"]],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines.iter().any(|l| l.contains("ID") && l.contains("NAME")),
            "{t}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("22") && l.contains("other")),
            "{t}"
        );
        assert_eq!(list::<&str>(&[]), "-");
        assert_eq!(list(&["web", "db"]), "web,db");
    }

    #[test]
    fn fields_skip_empty_values() {
        assert_eq!(fields(&[("a", ""), ("bb", "x")]), "bb:  x");
    }
}
