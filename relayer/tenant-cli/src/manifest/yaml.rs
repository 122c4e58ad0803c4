//! Writes a [`Document`] as readable YAML: block style for the document and
//! its members, one flow-style line per rule and per short list, so a
//! manifest diffs well in git. Scalars stay plain only when YAML reads them
//! back as the same string; others are double-quoted (JSON quoting is valid
//! YAML). JSON output is plain `serde_json` of the same document.

use std::fmt::Write;

use super::file::{Document, Format, Member, Rule};
use crate::parse::format_lease;

/// The document in `format`, ending with a newline.
pub fn to_string(doc: &Document, format: Format) -> Result<String, serde_json::Error> {
    match format {
        Format::Json => serde_json::to_string_pretty(doc).map(|s| s + "\n"),
        Format::Yaml => Ok(yaml(doc)),
    }
}

fn yaml(doc: &Document) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    if let Some(n) = &doc.network {
        line(format!("network: {}", scalar(n)));
    }
    if let Some(id) = doc.id {
        line(format!("id: {id}"));
    }
    if let Some(c) = &doc.cidr {
        line(format!("cidr: {}", scalar(c)));
    }
    if let Some(c) = &doc.cidr6 {
        line(format!("cidr6: {}", scalar(c)));
    }
    line(format!("default: {}", action(doc.default)));
    line(format!("tags: {}", list(&doc.tags)));
    if doc.providers.is_empty() {
        line("providers: []".into());
    } else {
        line("providers:".into());
        for p in &doc.providers {
            line(format!("  - {}", scalar(p)));
        }
    }
    if doc.members.is_empty() {
        line("members: []".into());
    } else {
        line("members:".into());
        for m in &doc.members {
            member(m, &mut line);
        }
    }
    out
}

fn member(m: &Member, line: &mut impl FnMut(String)) {
    line(format!("  - name: {}", scalar(&m.name)));
    line(format!("    lease: {}", scalar(&format_lease(&m.lease))));
    line(format!("    tags: {}", list(&m.tags)));
    if let Some(s) = &m.service {
        line(format!("    service: {}", scalar(s)));
    }
    if let Some(w) = m.weight {
        line(format!("    weight: {w}"));
    }
    if let Some(ip) = &m.ip {
        line(format!("    ip: {}", scalar(ip)));
    }
    line("    policy:".into());
    for (key, rules) in [("ingress", &m.policy.ingress), ("egress", &m.policy.egress)] {
        if rules.is_empty() {
            line(format!("      {key}: []"));
        } else {
            line(format!("      {key}:"));
            for r in rules {
                line(format!("        - {}", rule(r)));
            }
        }
    }
}

/// One rule in flow style, e.g. `{from: {tags: [web]}, tcp: 5432, action: allow}`.
pub fn rule(r: &Rule) -> String {
    let mut s = String::from("{");
    for (key, peers) in [("from", &r.from), ("to", &r.to)] {
        if let Some(p) = peers {
            let p = match p {
                super::file::Peers::Any => "any".to_owned(),
                other => format!("{{{}: {}}}", other.key(), list(other.values())),
            };
            let _ = write!(s, "{key}: {p}, ");
        }
    }
    for (key, ports) in [("tcp", &r.tcp), ("udp", &r.udp), ("any", &r.any)] {
        if let Some(p) = ports {
            // `all`, `5432` and `8000-8080` all read back as ports.
            let _ = write!(s, "{key}: {p}, ");
        }
    }
    if let Some(icmp) = r.icmp {
        let _ = write!(s, "icmp: {icmp}, ");
    }
    let _ = write!(s, "action: {}}}", action(r.action));
    s
}

fn action(a: network_registry::msg::Action) -> &'static str {
    match a {
        network_registry::msg::Action::Allow => "allow",
        network_registry::msg::Action::Deny => "deny",
    }
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| scalar(i)).collect();
    format!("[{}]", items.join(", "))
}

/// A plain scalar when that reads back as the same string, else quoted.
fn scalar(s: &str) -> String {
    let simple = s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
    let reads_back = || {
        matches!(serde_norway::from_str::<serde_norway::Value>(s),
            Ok(serde_norway::Value::String(v)) if v == s)
    };
    if simple && reads_back() {
        s.to_owned()
    } else {
        serde_json::Value::String(s.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::file::parse;

    #[test]
    fn quotes_only_what_yaml_would_misread() {
        assert_eq!(scalar("web-1"), "web-1");
        assert_eq!(scalar("100.64.0.0/24"), "100.64.0.0/24");
        assert_eq!(scalar("1001"), "\"1001\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("1e3"), "\"1e3\"");
        assert_eq!(scalar("null"), "\"null\"");
        assert_eq!(scalar("fd00::/64"), "\"fd00::/64\"");
        assert_eq!(scalar("8000-8080"), "8000-8080");
    }

    #[test]
    fn reads_back_what_it_writes() {
        let text = "network: \"1\"\ncidr: 100.64.0.0/24\ncidr6: \"fd00::/64\"\ndefault: allow\ntags: [web, \"no\"]\nproviders: [p1]\nmembers:\n  - name: \"0\"\n    lease: o/1/2/3/p/4\n    tags: [\"no\"]\n    service: web\n    ip: 100.64.0.9\n    policy:\n      ingress:\n        - {from: {tags: [web]}, tcp: 8000-8080, action: allow}\n        - {from: any, icmp: true, action: deny}\n      egress:\n        - {to: {cidrs: [100.64.0.0/26]}, any: 53, action: allow}\n        - {to: any, action: deny}\n";
        let doc = parse(text, Format::Yaml).unwrap();
        let yaml = to_string(&doc, Format::Yaml).unwrap();
        assert_eq!(parse(&yaml, Format::Yaml).unwrap(), doc);
        let json = to_string(&doc, Format::Json).unwrap();
        assert_eq!(parse(&json, Format::Json).unwrap(), doc);
        assert!(
            yaml.contains("        - {from: {tags: [web]}, tcp: 8000-8080, action: allow}\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("        - {to: any, action: deny}\n"),
            "{yaml}"
        );
    }
}
