//! The manifest file a tenant keeps in git: the document's shape, its
//! compact notations (lease ids as one string, ports as `5432` or
//! `8000-8080`, peers as `any` or `{tags: [...]}`) and reading it from YAML
//! or JSON. Structural mistakes (unknown keys, wrong types, bad ports) are
//! reported by the parser with their line and column; meaning (names, tags,
//! addresses) is checked by [`super::convert`].

use std::fmt;
use std::path::Path;

use network_registry::msg::{Action, LeaseId};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::error::ManifestError;
use crate::parse::format_lease;

/// A network manifest as written by the tenant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Network name (unique per owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Network id (instead of, or as well as, the name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// IPv4 network, needed to create the network; fixed afterwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    /// Optional IPv6 network, only at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr6: Option<String>,
    /// Firewall verdict when no rule matches (`deny` when omitted).
    #[serde(default)]
    pub default: Action,
    /// The tag vocabulary.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Authorized providers (providers hosting a member are implied).
    #[serde(default)]
    pub providers: Vec<String>,
    /// Members, each bound to a lease.
    #[serde(default)]
    pub members: Vec<Member>,
}

/// One member of the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Member name, stable across rebinds.
    pub name: String,
    /// The lease: `owner/dseq/gseq/oseq/provider/bseq` or a map of those keys.
    #[serde(
        serialize_with = "serialize_lease",
        deserialize_with = "deserialize_lease"
    )]
    pub lease: LeaseId,
    /// Tags from the network vocabulary.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Service name shared by replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Extra cost as a replica of its service, in milliseconds added to
    /// the path RTT when relayers choose a replica (0..=60000; none = 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Requested IPv4 (a member that exists keeps its address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Firewall policy.
    #[serde(default)]
    pub policy: Policy,
}

/// A member's firewall rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Rules on flows towards the member (peers named by `from`).
    #[serde(default)]
    pub ingress: Vec<Rule>,
    /// Rules on flows from the member (peers named by `to`).
    #[serde(default)]
    pub egress: Vec<Rule>,
}

/// One rule: peers (`from` in ingress, `to` in egress), at most one
/// protocol key (none: every protocol and port) and the action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Peers of an ingress rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Peers>,
    /// Peers of an egress rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Peers>,
    /// TCP on these ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Ports>,
    /// UDP on these ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<Ports>,
    /// ICMP (`icmp: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<bool>,
    /// Any protocol on these ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub any: Option<Ports>,
    /// `allow` or `deny`.
    pub action: Action,
}

/// The other side of a flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peers {
    /// Every member (`any`).
    Any,
    /// Members by name.
    Members(Vec<String>),
    /// Members carrying any of these tags.
    Tags(Vec<String>),
    /// Overlay addresses.
    Cidrs(Vec<String>),
    /// Members whose service is one of these.
    Services(Vec<String>),
}

/// Ports of a rule: every port, or an inclusive range (one port: start = end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// `all` (or `true`).
    All,
    /// `5432` or `8000-8080`.
    Range(u16, u16),
}

/// How the document is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// By extension (`.json`, `.yaml`, `.yml`), else by content (JSON
    /// starts with `{`).
    pub fn detect(path: &Path, text: &str) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            _ if text.trim_start().starts_with('{') => Format::Json,
            _ => Format::Yaml,
        }
    }
}

/// Reads a document from a file (`-` = standard input).
pub fn read(path: &Path) -> Result<Document, ManifestError> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|e| ManifestError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    parse(&text, Format::detect(path, &text)).map_err(|message| ManifestError::Parse {
        path: path.to_owned(),
        message,
    })
}

/// Parses a document; the error names the line and column.
pub fn parse(text: &str, format: Format) -> Result<Document, String> {
    match format {
        Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
        Format::Yaml => serde_norway::from_str(text).map_err(|e| e.to_string()),
    }
}

impl Ports {
    fn parse(text: &str) -> Result<Ports, String> {
        let port = |s: &str| -> Result<u16, String> {
            match s.trim().parse::<u16>() {
                Ok(0) | Err(_) => Err(format!(
                    "invalid port {s:?}: expected 1-65535, a range like 8000-8080, or `all`"
                )),
                Ok(p) => Ok(p),
            }
        };
        if text == "all" {
            return Ok(Ports::All);
        }
        let (start, end) = match text.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => {
                let p = port(text)?;
                (p, p)
            }
        };
        if start > end {
            return Err(format!("reversed port range {start}-{end}"));
        }
        Ok(Ports::Range(start, end))
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ports::All => f.write_str("all"),
            Ports::Range(a, b) if a == b => write!(f, "{a}"),
            Ports::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

impl Serialize for Ports {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Ports::Range(a, b) if a == b => s.serialize_u16(*a),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ports;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port (5432), a range (\"8000-8080\") or `all`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ports, E> {
                Ports::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ports, E> {
                Ports::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ports, E> {
                Ports::parse(v).map_err(E::custom)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Ports, E> {
                if v {
                    Ok(Ports::All)
                } else {
                    Err(E::custom("`false` is not a port: leave the key out"))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Peers {
    /// The notation's key (`any`, `members`, `tags`, `cidrs`, `services`).
    pub fn key(&self) -> &'static str {
        match self {
            Peers::Any => "any",
            Peers::Members(_) => "members",
            Peers::Tags(_) => "tags",
            Peers::Cidrs(_) => "cidrs",
            Peers::Services(_) => "services",
        }
    }

    /// The listed values (empty for `any`).
    pub fn values(&self) -> &[String] {
        match self {
            Peers::Any => &[],
            Peers::Members(v) | Peers::Tags(v) | Peers::Cidrs(v) | Peers::Services(v) => v,
        }
    }
}

impl Serialize for Peers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if let Peers::Any = self {
            return s.serialize_str("any");
        }
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.key(), self.values())?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for Peers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Peers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`any` or one of {members: [...]}, {tags: [...]}, {cidrs: [...]}, {services: [...]}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Peers, E> {
                if v == "any" {
                    Ok(Peers::Any)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Peers, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::invalid_length(0, &self));
                };
                let list: Vec<String> = map.next_value()?;
                let peers = match key.as_str() {
                    "members" => Peers::Members(list),
                    "tags" => Peers::Tags(list),
                    "cidrs" => Peers::Cidrs(list),
                    "services" => Peers::Services(list),
                    other => {
                        return Err(de::Error::unknown_field(
                            other,
                            &["members", "tags", "cidrs", "services"],
                        ));
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "a rule names one kind of peers; write one rule per kind",
                    ));
                }
                Ok(peers)
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses `owner/dseq/gseq/oseq/provider/bseq`.
pub fn lease_from_str(s: &str) -> Result<LeaseId, String> {
    let bad = || format!("invalid lease {s:?}: expected owner/dseq/gseq/oseq/provider/bseq");
    let parts: Vec<&str> = s.split('/').collect();
    let [owner, dseq, gseq, oseq, provider, bseq] = parts[..] else {
        return Err(bad());
    };
    if owner.is_empty() || provider.is_empty() {
        return Err(bad());
    }
    Ok(LeaseId {
        owner: owner.to_owned(),
        dseq: dseq.parse().map_err(|_| bad())?,
        gseq: gseq.parse().map_err(|_| bad())?,
        oseq: oseq.parse().map_err(|_| bad())?,
        provider: provider.to_owned(),
        bseq: bseq.parse().map_err(|_| bad())?,
    })
}

fn serialize_lease<S: Serializer>(l: &LeaseId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_lease(l))
}

fn deserialize_lease<'de, D: Deserializer<'de>>(d: D) -> Result<LeaseId, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = LeaseId;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(
                "owner/dseq/gseq/oseq/provider/bseq or {owner, dseq, gseq, oseq, provider, bseq}",
            )
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<LeaseId, E> {
            lease_from_str(v).map_err(E::custom)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LeaseId, A::Error> {
            LeaseId::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_compact_notations() {
        let doc = parse(
            r#"
network: demo
cidr: 100.64.0.0/24
default: allow
tags: [web, db]
members:
  - name: web-1
    lease: akash1o/1001/1/2/akash1p/3
    tags: [web]
    policy:
      ingress:
        - {from: {tags: [web]}, tcp: 5432, action: allow}
        - {from: any, udp: 8000-8080, action: deny}
        - {from: {services: [api]}, icmp: true, action: allow}
        - {from: {cidrs: [100.64.0.0/26]}, tcp: all, action: allow}
      egress:
        - {to: {members: [db]}, action: allow}
  - name: db
    lease: {owner: akash1o, dseq: 1, gseq: 1, oseq: 1, provider: akash1p, bseq: 0}
"#,
            Format::Yaml,
        )
        .unwrap();
        assert_eq!(doc.default, Action::Allow);
        let web = &doc.members[0];
        assert_eq!(web.lease.dseq, 1001);
        assert_eq!(web.lease.oseq, 2);
        assert_eq!(web.lease.bseq, 3);
        let r = &web.policy.ingress;
        assert_eq!(r[0].tcp, Some(Ports::Range(5432, 5432)));
        assert_eq!(r[1].from, Some(Peers::Any));
        assert_eq!(r[1].udp, Some(Ports::Range(8000, 8080)));
        assert_eq!(r[2].from, Some(Peers::Services(vec!["api".into()])));
        assert_eq!(r[3].tcp, Some(Ports::All));
        assert_eq!(
            web.policy.egress[0].to,
            Some(Peers::Members(vec!["db".into()]))
        );
        assert_eq!(doc.members[1].lease.provider, "akash1p");
    }

    #[test]
    fn structural_errors_name_the_place() {
        let e = parse(
            "network: x\nmembers:\n  - name: a\n    lease: nope\n",
            Format::Yaml,
        )
        .unwrap_err();
        assert!(e.contains("invalid lease") && e.contains("line 4"), "{e}");
        let e = parse("network: x\nfoo: 1\n", Format::Yaml).unwrap_err();
        assert!(e.contains("unknown field `foo`"), "{e}");
        for (ports, want) in [
            ("0", "invalid port"),
            ("9-1", "reversed"),
            ("70000", "invalid port"),
        ] {
            let text = format!(
                "members:\n  - name: a\n    lease: o/1/1/1/p/0\n    policy:\n      ingress:\n        - {{from: any, tcp: {ports}, action: allow}}\n"
            );
            let e = parse(&text, Format::Yaml).unwrap_err();
            assert!(e.contains(want), "{ports}: {e}");
        }
        let e = parse(
            "members:\n  - name: a\n    lease: o/1/1/1/p/0\n    policy:\n      ingress:\n        - {from: {tags: [a], members: [b]}, action: allow}\n",
            Format::Yaml,
        )
        .unwrap_err();
        assert!(e.contains("one kind of peers"), "{e}");
    }

    #[test]
    fn json_by_extension_or_content() {
        assert_eq!(Format::detect(Path::new("n.json"), ""), Format::Json);
        assert_eq!(Format::detect(Path::new("n.yml"), "{"), Format::Yaml);
        assert_eq!(
            Format::detect(Path::new("-"), " {\"network\":1}"),
            Format::Json
        );
        let doc = parse(
            r#"{"network":"demo","members":[{"name":"a","lease":"o/1/1/1/p/0","policy":{"ingress":[{"from":"any","tcp":"80-81","action":"allow"}]}}]}"#,
            Format::Json,
        )
        .unwrap();
        assert_eq!(
            doc.members[0].policy.ingress[0].tcp,
            Some(Ports::Range(80, 81))
        );
    }
}
