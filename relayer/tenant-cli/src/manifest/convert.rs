//! Between the file's [`Document`] and the contract's [`Manifest`]: every
//! value validated on the way in (names, tags against the vocabulary,
//! addresses, IPs, CIDRs, rule shape), values normalized the way the
//! contract stores them, and the reverse mapping for export.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};
use network_registry::msg::{
    self as msg, Manifest, ManifestMember, NetworkResponse, PortRange, Protocol,
};

use super::error::{ManifestError, Problem};
use super::file::{self, Document, Peers, Ports};

/// The network a document describes, as the contract takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Network name.
    pub name: Option<String>,
    /// Network id.
    pub id: Option<u64>,
    /// IPv4 network (needed to create).
    pub cidr: Option<String>,
    /// IPv6 network.
    pub cidr6: Option<String>,
    /// Everything `apply_manifest` carries.
    pub manifest: Manifest,
}

impl Document {
    /// Validates the document and maps it to the contract's manifest.
    pub fn to_desired(&self) -> Result<Desired, ManifestError> {
        if self.network.is_none() && self.id.is_none() {
            return Err(ManifestError::at("network", Problem::NoNetwork));
        }
        if let Some(n) = &self.network {
            name("network", "network name", n)?;
        }
        let cidr = self
            .cidr
            .as_deref()
            .map(|c| match parse_cidr("cidr", c)? {
                IpNet::V4(net) => Ok(net),
                IpNet::V6(_) => Err(cidr_family("cidr", "IPv4", c)),
            })
            .transpose()?;
        let cidr6 = self
            .cidr6
            .as_deref()
            .map(|c| match parse_cidr("cidr6", c)? {
                IpNet::V6(net) => Ok(net.to_string()),
                IpNet::V4(_) => Err(cidr_family("cidr6", "IPv6", c)),
            })
            .transpose()?;
        names_list("tags", "tag", &self.tags)?;
        let mut providers = BTreeSet::new();
        for (i, p) in self.providers.iter().enumerate() {
            let at = format!("providers[{i}]");
            address(&at, p)?;
            if !providers.insert(p) {
                return Err(duplicate(at, "provider", p));
            }
        }
        let mut members = Vec::with_capacity(self.members.len());
        let mut seen = BTreeSet::new();
        let mut ips = BTreeSet::new();
        for (i, m) in self.members.iter().enumerate() {
            let at = format!("members[{i}] {:?}", m.name);
            name(&at, "member name", &m.name)?;
            if !seen.insert(&m.name) {
                return Err(duplicate(at, "member", &m.name));
            }
            let member = member(&at, m, &self.tags, cidr.as_ref())?;
            if let Some(ip) = &member.ip
                && !ips.insert(ip.clone())
            {
                return Err(ManifestError::at(
                    format!("{at}: ip"),
                    Problem::IpTwice(ip.clone()),
                ));
            }
            members.push(member);
        }
        Ok(Desired {
            name: self.network.clone(),
            id: self.id,
            cidr: cidr.map(|c| c.to_string()),
            cidr6,
            manifest: Manifest {
                default_action: self.default,
                tags: self.tags.clone(),
                providers: self.providers.clone(),
                members,
            },
        })
    }

    /// The document of a network read from chain: members by name,
    /// providers sorted, every member with its address (deterministic).
    pub fn from_chain(network: &NetworkResponse, manifest: &Manifest) -> Document {
        let mut providers = manifest.providers.clone();
        providers.sort();
        let mut members: Vec<file::Member> = manifest
            .members
            .iter()
            .map(|m| file::Member {
                name: m.name.clone(),
                lease: m.lease.clone(),
                tags: m.tags.clone(),
                service: m.service.clone(),
                weight: m.weight,
                ip: m.ip.clone(),
                policy: file::Policy {
                    ingress: m.policy.ingress.iter().map(|r| rule_out(r, true)).collect(),
                    egress: m.policy.egress.iter().map(|r| rule_out(r, false)).collect(),
                },
            })
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        Document {
            network: Some(network.name.clone()),
            id: None,
            cidr: Some(network.cidr.clone()),
            cidr6: network.cidr6.clone(),
            default: manifest.default_action,
            tags: manifest.tags.clone(),
            providers,
            members,
        }
    }
}

fn member(
    at: &str,
    m: &file::Member,
    vocabulary: &[String],
    cidr: Option<&Ipv4Net>,
) -> Result<ManifestMember, ManifestError> {
    address(&format!("{at}: lease owner"), &m.lease.owner)?;
    address(&format!("{at}: lease provider"), &m.lease.provider)?;
    tags_in(&format!("{at}: tags"), &m.tags, vocabulary)?;
    if let Some(s) = &m.service {
        name(&format!("{at}: service"), "service", s)?;
    }
    let weight = match m.weight {
        Some(w) if w > msg::MAX_WEIGHT => {
            return Err(ManifestError::at(
                format!("{at}: weight"),
                Problem::Weight(w),
            ));
        }
        // The contract stores 0 as no weight.
        Some(0) | None => None,
        w => w,
    };
    let ip =
        m.ip.as_deref()
            .map(|ip| {
                let at = format!("{at}: ip");
                let addr = Ipv4Addr::from_str(ip)
                    .map_err(|_| ManifestError::at(&at, Problem::Ip(ip.to_owned())))?;
                match cidr {
                    Some(net) if !net.contains(&addr) => Err(ManifestError::at(
                        &at,
                        Problem::IpOutside {
                            ip: ip.to_owned(),
                            cidr: net.to_string(),
                        },
                    )),
                    _ => Ok(addr.to_string()),
                }
            })
            .transpose()?;
    let rules = |list: &[file::Rule], ingress: bool| {
        let kind = if ingress { "ingress" } else { "egress" };
        list.iter()
            .enumerate()
            .map(|(i, r)| rule_in(&format!("{at}: policy.{kind}[{i}]"), r, ingress, vocabulary))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(ManifestMember {
        name: m.name.clone(),
        lease: m.lease.clone(),
        tags: m.tags.clone(),
        service: m.service.clone(),
        ip,
        policy: msg::Policy {
            ingress: rules(&m.policy.ingress, true)?,
            egress: rules(&m.policy.egress, false)?,
        },
        weight,
    })
}

fn rule_in(
    at: &str,
    r: &file::Rule,
    ingress: bool,
    vocabulary: &[String],
) -> Result<msg::Rule, ManifestError> {
    let (list, want, peers, wrong) = if ingress {
        ("ingress", "from", &r.from, &r.to)
    } else {
        ("egress", "to", &r.to, &r.from)
    };
    let (Some(peers), None) = (peers, wrong) else {
        return Err(ManifestError::at(at, Problem::PeersKey { list, want }));
    };
    let keys: Vec<&str> = [
        ("tcp", r.tcp.is_some()),
        ("udp", r.udp.is_some()),
        ("icmp", r.icmp.is_some()),
        ("any", r.any.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    if keys.len() > 1 {
        return Err(ManifestError::at(at, Problem::Protocols(keys.join(", "))));
    }
    let range = |p: &Ports| match *p {
        Ports::All => None,
        Ports::Range(start, end) => Some(PortRange { start, end }),
    };
    let (protocol, ports) = match (&r.tcp, &r.udp, r.icmp, &r.any) {
        (Some(p), ..) => (Protocol::Tcp, range(p)),
        (_, Some(p), ..) => (Protocol::Udp, range(p)),
        (_, _, Some(true), _) => (Protocol::Icmp, None),
        (_, _, Some(false), _) => return Err(ManifestError::at(at, Problem::IcmpFalse)),
        (_, _, _, Some(p)) => (Protocol::Any, range(p)),
        _ => (Protocol::Any, None),
    };
    Ok(msg::Rule {
        peers: peers_in(&format!("{at}: {want}"), peers, vocabulary)?,
        protocol,
        ports,
        action: r.action,
    })
}

fn peers_in(at: &str, p: &Peers, vocabulary: &[String]) -> Result<msg::Peers, ManifestError> {
    if !matches!(p, Peers::Any) && p.values().is_empty() {
        return Err(ManifestError::at(at, Problem::EmptyPeers));
    }
    let at = format!("{at}.{}", p.key());
    Ok(match p {
        Peers::Any => msg::Peers::Any,
        Peers::Members(v) => {
            names_list(&at, "member name", v)?;
            msg::Peers::Members(v.clone())
        }
        Peers::Tags(v) => {
            tags_in(&at, v, vocabulary)?;
            msg::Peers::Tags(v.clone())
        }
        Peers::Cidrs(v) => {
            let mut out = Vec::with_capacity(v.len());
            for c in v {
                let c = parse_cidr(&at, c)?.to_string();
                if out.contains(&c) {
                    return Err(duplicate(at, "cidr", &c));
                }
                out.push(c);
            }
            msg::Peers::Cidrs(out)
        }
        Peers::Services(v) => {
            names_list(&at, "service", v)?;
            msg::Peers::Services(v.clone())
        }
    })
}

pub(crate) fn rule_out(r: &msg::Rule, ingress: bool) -> file::Rule {
    let peers = match &r.peers {
        msg::Peers::Any => Peers::Any,
        msg::Peers::Members(v) => Peers::Members(v.clone()),
        msg::Peers::Tags(v) => Peers::Tags(v.clone()),
        msg::Peers::Cidrs(v) => Peers::Cidrs(v.clone()),
        msg::Peers::Services(v) => Peers::Services(v.clone()),
    };
    let ports = r.ports.map_or(Ports::All, |p| Ports::Range(p.start, p.end));
    let mut out = file::Rule {
        from: None,
        to: None,
        tcp: None,
        udp: None,
        icmp: None,
        any: None,
        action: r.action,
    };
    if ingress {
        out.from = Some(peers);
    } else {
        out.to = Some(peers);
    }
    match r.protocol {
        Protocol::Tcp => out.tcp = Some(ports),
        Protocol::Udp => out.udp = Some(ports),
        Protocol::Icmp => out.icmp = Some(true),
        Protocol::Any if r.ports.is_some() => out.any = Some(ports),
        Protocol::Any => {}
    }
    out
}

/// Checks the contract's name alphabet.
fn name(at: &str, kind: &'static str, value: &str) -> Result<(), ManifestError> {
    if network_registry::msg::is_name(value) {
        Ok(())
    } else {
        Err(ManifestError::at(
            at,
            Problem::Name {
                kind,
                value: value.to_owned(),
            },
        ))
    }
}

/// Distinct valid names.
fn names_list(at: &str, kind: &'static str, list: &[String]) -> Result<(), ManifestError> {
    for (i, n) in list.iter().enumerate() {
        name(at, kind, n)?;
        if list[..i].contains(n) {
            return Err(duplicate(at, kind, n));
        }
    }
    Ok(())
}

/// Distinct valid tags, all in the vocabulary.
fn tags_in(at: &str, list: &[String], vocabulary: &[String]) -> Result<(), ManifestError> {
    names_list(at, "tag", list)?;
    match list.iter().find(|t| !vocabulary.contains(t)) {
        Some(t) => Err(ManifestError::at(at, Problem::UnknownTag(t.clone()))),
        None => Ok(()),
    }
}

/// A bech32 account address.
fn address(at: &str, value: &str) -> Result<(), ManifestError> {
    cosmrs::AccountId::from_str(value)
        .map(|_| ())
        .map_err(|_| ManifestError::at(at, Problem::Address(value.to_owned())))
}

/// A CIDR without host bits.
fn parse_cidr(at: &str, value: &str) -> Result<IpNet, ManifestError> {
    let net: IpNet = value.parse().map_err(|_| cidr_family(at, "IP", value))?;
    if net.network() != net.addr() {
        return Err(ManifestError::at(
            at,
            Problem::HostBits {
                value: value.to_owned(),
                network: net.trunc().to_string(),
            },
        ));
    }
    Ok(net)
}

fn cidr_family(at: &str, family: &'static str, value: &str) -> ManifestError {
    ManifestError::at(
        at,
        Problem::Cidr {
            family,
            value: value.to_owned(),
        },
    )
}

fn duplicate(at: impl Into<String>, kind: &'static str, value: &str) -> ManifestError {
    ManifestError::at(
        at,
        Problem::Duplicate {
            kind,
            value: value.to_owned(),
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::manifest::file::{Format, parse};

    /// A valid account address from a seed byte.
    pub(crate) fn addr(seed: u8) -> String {
        cosmrs::AccountId::new("akash", &[seed; 20])
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    /// An open network `id` named `name` on 100.64.0.0/24, owned by `addr(1)`.
    pub(crate) fn network(id: u64, name: &str) -> NetworkResponse {
        NetworkResponse {
            id,
            owner: cosmwasm_std::Addr::unchecked(addr(1)),
            name: name.into(),
            cidr: "100.64.0.0/24".into(),
            cidr6: None,
            default_action: msg::Action::Deny,
            tags: vec![],
            start_time: None,
            end_time: None,
            status: msg::NetworkStatus::Open,
            revision: 1,
            member_count: 0,
            created_at: cosmwasm_std::Timestamp::from_nanos(0),
        }
    }

    fn doc(members: &str) -> String {
        format!(
            "network: demo\ncidr: 100.64.0.0/24\ntags: [web, db]\nproviders: [{p}]\nmembers:\n{members}",
            p = addr(9)
        )
    }

    fn member(extra: &str) -> String {
        format!(
            "  - name: web-1\n    lease: {o}/1001/1/1/{p}/0\n    tags: [web]\n{extra}",
            o = addr(1),
            p = addr(2)
        )
    }

    fn problem(text: &str) -> (String, Problem) {
        match parse(text, Format::Yaml).unwrap().to_desired().unwrap_err() {
            ManifestError::Invalid { at, problem } => (at, problem),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn maps_rules_to_the_contract() {
        let text = doc(&member(
            "    service: web\n    weight: 250\n    ip: 100.64.0.5\n    policy:\n      ingress:\n        - {from: {tags: [web]}, tcp: 5432, action: allow}\n        - {from: {cidrs: [100.64.0.0/26]}, any: 1-1024, action: deny}\n        - {from: any, icmp: true, action: allow}\n      egress:\n        - {to: {members: [db]}, udp: all, action: allow}\n        - {to: any, action: deny}\n",
        ));
        let d = parse(&text, Format::Yaml).unwrap().to_desired().unwrap();
        let m = &d.manifest.members[0];
        assert_eq!(m.ip.as_deref(), Some("100.64.0.5"));
        assert_eq!(m.service.as_deref(), Some("web"));
        assert_eq!(m.weight, Some(250));
        let i = &m.policy.ingress;
        assert_eq!(i[0].peers, msg::Peers::Tags(vec!["web".into()]));
        assert_eq!(i[0].protocol, Protocol::Tcp);
        assert_eq!(
            i[0].ports,
            Some(PortRange {
                start: 5432,
                end: 5432
            })
        );
        assert_eq!(i[1].protocol, Protocol::Any);
        assert_eq!(
            i[1].ports,
            Some(PortRange {
                start: 1,
                end: 1024
            })
        );
        assert_eq!(i[1].action, msg::Action::Deny);
        assert_eq!(i[2].protocol, Protocol::Icmp);
        let e = &m.policy.egress;
        assert_eq!((e[0].protocol, e[0].ports), (Protocol::Udp, None));
        assert_eq!(
            (e[1].protocol, e[1].ports, &e[1].peers),
            (Protocol::Any, None, &msg::Peers::Any)
        );
        assert_eq!(d.cidr.as_deref(), Some("100.64.0.0/24"));
    }

    #[test]
    fn errors_point_at_the_member_and_rule() {
        let rule = |r: &str| {
            doc(&member(&format!(
                "    policy:\n      ingress:\n        - {r}\n"
            )))
        };
        let cases: Vec<(String, &str, Problem)> = vec![
            (
                rule("{from: {tags: [cache]}, action: allow}"),
                "members[0] \"web-1\": policy.ingress[0]: from.tags",
                Problem::UnknownTag("cache".into()),
            ),
            (
                rule("{to: any, action: allow}"),
                "members[0] \"web-1\": policy.ingress[0]",
                Problem::PeersKey {
                    list: "ingress",
                    want: "from",
                },
            ),
            (
                rule("{from: any, tcp: 1, udp: 2, action: allow}"),
                "members[0] \"web-1\": policy.ingress[0]",
                Problem::Protocols("tcp, udp".into()),
            ),
            (
                rule("{from: {members: []}, action: allow}"),
                "members[0] \"web-1\": policy.ingress[0]: from",
                Problem::EmptyPeers,
            ),
            (
                rule("{from: {cidrs: [100.64.0.1/24]}, action: allow}"),
                "members[0] \"web-1\": policy.ingress[0]: from.cidrs",
                Problem::HostBits {
                    value: "100.64.0.1/24".into(),
                    network: "100.64.0.0/24".into(),
                },
            ),
            (
                rule("{from: {members: [Web]}, action: allow}"),
                "members[0] \"web-1\": policy.ingress[0]: from.members",
                Problem::Name {
                    kind: "member name",
                    value: "Web".into(),
                },
            ),
            (
                rule("{from: any, icmp: false, action: allow}"),
                "members[0] \"web-1\": policy.ingress[0]",
                Problem::IcmpFalse,
            ),
            (
                doc(&member("    ip: 100.65.0.1\n")),
                "members[0] \"web-1\": ip",
                Problem::IpOutside {
                    ip: "100.65.0.1".into(),
                    cidr: "100.64.0.0/24".into(),
                },
            ),
            (
                doc(&member("    ip: 100.64.0.300\n")),
                "members[0] \"web-1\": ip",
                Problem::Ip("100.64.0.300".into()),
            ),
            (
                doc(&format!("{}{}", member(""), member(""))),
                "members[1] \"web-1\"",
                Problem::Duplicate {
                    kind: "member",
                    value: "web-1".into(),
                },
            ),
            (
                doc(&member("    weight: 60001\n")),
                "members[0] \"web-1\": weight",
                Problem::Weight(60_001),
            ),
            (
                doc(&member("    service: Web\n")),
                "members[0] \"web-1\": service",
                Problem::Name {
                    kind: "service",
                    value: "Web".into(),
                },
            ),
            (
                doc(&member("")).replace("tags: [web]", "tags: [db, db]"),
                "members[0] \"web-1\": tags",
                Problem::Duplicate {
                    kind: "tag",
                    value: "db".into(),
                },
            ),
            (
                doc(&member("")).replace(&addr(1), "akash1nope"),
                "members[0] \"web-1\": lease owner",
                Problem::Address("akash1nope".into()),
            ),
            (
                doc(&member("")).replace("network: demo\n", ""),
                "network",
                Problem::NoNetwork,
            ),
            (
                doc(&member("")).replace("100.64.0.0/24", "fd00::/64"),
                "cidr",
                Problem::Cidr {
                    family: "IPv4",
                    value: "fd00::/64".into(),
                },
            ),
        ];
        for (text, at, want) in cases {
            let (got_at, got) = problem(&text);
            assert_eq!((got_at.as_str(), &got), (at, &want), "{text}");
        }
    }

    /// A weight round-trips through export; 0 is no weight, as on chain.
    #[test]
    fn weights_map_both_ways() {
        let desired = |extra: &str| {
            parse(&doc(&member(extra)), Format::Yaml)
                .unwrap()
                .to_desired()
                .unwrap()
        };
        assert_eq!(desired("    weight: 0\n").manifest.members[0].weight, None);
        assert_eq!(desired("").manifest.members[0].weight, None);
        let d = desired("    weight: 60000\n");
        assert_eq!(d.manifest.members[0].weight, Some(60_000));
        let doc = Document::from_chain(&network(1, "demo"), &d.manifest);
        assert_eq!(doc.members[0].weight, Some(60_000));
        let text = crate::manifest::yaml::to_string(&doc, Format::Yaml).unwrap();
        assert!(text.contains("\n    weight: 60000\n"), "{text}");
        assert!(
            parse(
                "members:\n  - name: a\n    lease: o/1/1/1/p/0\n    weight: -1\n",
                Format::Yaml
            )
            .is_err()
        );
    }

    #[test]
    fn error_messages_read_well() {
        let text = doc(&member("    tags: [cache]\n")).replace("    tags: [web]\n", "");
        let e = parse(&text, Format::Yaml)
            .unwrap()
            .to_desired()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "members[0] \"web-1\": tags: tag \"cache\" is not in the network's `tags`"
        );
    }
}
