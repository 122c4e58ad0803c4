//! One network's names: members and services by name, names by address.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use avpn_model::{MemberInfo, NetworkInfo, ServiceInfo};
use hickory_proto::rr::Name;
use ipnet::{Ipv4Net, Ipv6Net};
use rustc_hash::FxHashMap;

use crate::addr_map::AddrMap;

/// Longest domain name (RFC 1035 2.3.4).
const MAX_NAME: usize = 255;

/// The addresses a name resolves to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// IPv4 overlay address.
    pub ip: Ipv4Addr,
    /// IPv6 overlay address, in a network with an IPv6 prefix.
    pub ip6: Option<Ipv6Addr>,
}

/// What a (lowercase, dot-separated, no trailing dot) name is in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup<'z> {
    /// A host of the zone.
    Host(Host),
    /// The zone's apex (the network's name itself): exists, has no address.
    Apex,
    /// An address of the network: the name of its member or service, if any.
    Reverse(Option<&'z Name>),
    /// Inside the zone but no such name.
    NoName,
    /// Not this network's to answer.
    Foreign,
}

/// One network's names, rebuilt with its tables.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    /// The network's name, lowercase; empty when it has none usable as a
    /// DNS name (then only reverse names are answered).
    origin: String,
    /// Hosts by lowercase name relative to the origin.
    hosts: FxHashMap<Box<[u8]>, Host>,
    /// Fully qualified member or service name by address (PTR answers).
    names: AddrMap<Name>,
    cidr: Option<Ipv4Net>,
    cidr6: Option<Ipv6Net>,
}

impl Zone {
    /// The zone of network `info` with `members` (and no services, see
    /// [`Zone::with_services`]). Members whose name is not a valid DNS name
    /// are left out; of two names equal but for case the first wins.
    pub fn new<'m>(info: &NetworkInfo, members: impl IntoIterator<Item = &'m MemberInfo>) -> Self {
        let origin = info.name.to_ascii_lowercase();
        let usable = Name::from_ascii(format!("{origin}.")).is_ok();
        let mut zone = Zone {
            origin: if usable { origin } else { String::new() },
            cidr: Some(info.cidr),
            cidr6: info.cidr6,
            ..Zone::default()
        };
        if zone.origin.is_empty() {
            return zone;
        }
        for m in members {
            let name = m.name.to_ascii_lowercase();
            let Some(fqdn) = zone.qualify(&name) else {
                continue;
            };
            let host = Host {
                ip: m.ip,
                ip6: m.ip6,
            };
            zone.hosts.entry(name.into_bytes().into()).or_insert(host);
            for ip in m.addrs() {
                zone.names.insert(ip, fqdn.clone());
            }
        }
        zone
    }

    /// The zone of network `info` with `members` and `services` (what the
    /// tables are built with, so `SetServices` updates it):
    /// `<service>.<network>` answers the service's addresses, which answer
    /// that name back (PTR). A member and a service whose names are equal
    /// but for case (the contract refuses equal ones) share a DNS name:
    /// the member wins and the service gets no name at all (nor a PTR
    /// pointing at a name that resolves elsewhere), so a member's name
    /// always answers that member, whatever services others add; the
    /// service stays reachable by its address. Services whose name is not
    /// a valid DNS name are left out; of two equal but for case the first
    /// in name order wins.
    pub fn with_services<'m>(
        info: &NetworkInfo,
        members: impl IntoIterator<Item = &'m MemberInfo>,
        services: &BTreeMap<String, ServiceInfo>,
    ) -> Self {
        let mut zone = Zone::new(info, members);
        if zone.origin.is_empty() {
            return zone;
        }
        for (name, s) in services {
            let name = name.to_ascii_lowercase();
            if zone.hosts.contains_key(name.as_bytes()) {
                continue;
            }
            let Some(fqdn) = zone.qualify(&name) else {
                continue;
            };
            let host = Host {
                ip: s.ip,
                ip6: s.ip6,
            };
            zone.hosts.insert(name.into_bytes().into(), host);
            for ip in s.addrs() {
                zone.names.insert(ip, fqdn.clone());
            }
        }
        zone
    }

    /// The fully qualified name of `name` (lowercase) in this zone, if it
    /// is a valid DNS name.
    fn qualify(&self, name: &str) -> Option<Name> {
        Name::from_ascii(format!("{name}.{}.", self.origin)).ok()
    }

    /// What `name` (lowercase, labels joined by dots, no trailing dot) is.
    pub(crate) fn lookup(&self, name: &[u8]) -> Lookup<'_> {
        if let Some(ip) = reverse_addr(name) {
            let inside = match ip {
                IpAddr::V4(a) => self.cidr.is_some_and(|c| c.contains(&a)),
                IpAddr::V6(a) => self.cidr6.is_some_and(|c| c.contains(&a)),
            };
            return if inside {
                Lookup::Reverse(self.names.get(ip))
            } else {
                Lookup::Foreign
            };
        }
        if self.origin.is_empty() {
            return Lookup::Foreign;
        }
        let origin = self.origin.as_bytes();
        if name == origin {
            return Lookup::Apex;
        }
        let relative = name
            .strip_suffix(origin)
            .and_then(|n| n.strip_suffix(b"."))
            .filter(|n| !n.is_empty());
        match relative {
            Some(rel) => self.host(rel).map_or(Lookup::NoName, Lookup::Host),
            None => Lookup::Foreign,
        }
    }

    /// The host a domain name as a client sent it (any case, with or
    /// without the trailing dot) names, if it is one of this zone's
    /// (SOCKS5 CONNECT by name).
    pub fn resolve(&self, name: &[u8]) -> Option<Host> {
        if name.len() > MAX_NAME {
            return None;
        }
        let name = name.strip_suffix(b".").unwrap_or(name).to_ascii_lowercase();
        match self.lookup(&name) {
            Lookup::Host(h) => Some(h),
            _ => None,
        }
    }

    /// The host named `name` (lowercase, relative to the origin).
    fn host(&self, name: &[u8]) -> Option<Host> {
        self.hosts.get(name).copied()
    }
}

/// The address of a reverse name (`d.c.b.a.in-addr.arpa`, 32 nibbles
/// `.ip6.arpa`), if `name` is a complete one.
fn reverse_addr(name: &[u8]) -> Option<IpAddr> {
    let name = std::str::from_utf8(name).ok()?;
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let mut labels = rest.split('.');
        for o in octets.iter_mut().rev() {
            let label = labels.next()?;
            if label.len() > 1 && label.starts_with('0') {
                return None;
            }
            *o = label.parse().ok()?;
        }
        return labels
            .next()
            .is_none()
            .then(|| Ipv4Addr::from(octets).into());
    }
    let rest = name.strip_suffix(".ip6.arpa")?;
    let mut bits = 0u128;
    let mut count = 0;
    for (i, label) in rest.split('.').enumerate() {
        let [nibble] = label.as_bytes() else {
            return None;
        };
        if i >= 32 {
            return None;
        }
        bits |= u128::from(char::from(*nibble).to_digit(16)?) << (4 * i);
        count = i + 1;
    }
    (count == 32).then(|| Ipv6Addr::from(bits).into())
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use avpn_model::{LeaseId, Verdict};
    use hickory_proto::op::{Message, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, AAAA, PTR};
    use hickory_proto::rr::{RData, RecordType};

    use super::*;

    /// Network `prod` on 100.64.0.0/24 and fd00:1::/64.
    fn prod() -> NetworkInfo {
        NetworkInfo {
            id: 1,
            name: "prod".into(),
            owner: "o".into(),
            revision: 1,
            cidr: "100.64.0.0/24".parse().unwrap(),
            cidr6: Some("fd00:1::/64".parse().unwrap()),
            default_verdict: Verdict::Deny,
        }
    }

    /// Host `host` of both prefixes.
    fn host(host: u8) -> Host {
        Host {
            ip: Ipv4Addr::new(100, 64, 0, host),
            ip6: Some(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, host.into())),
        }
    }

    fn member(name: &str, at: u8) -> MemberInfo {
        let Host { ip, ip6 } = host(at);
        MemberInfo {
            name: name.into(),
            ip,
            ip6,
            lease: LeaseId {
                owner: "o".into(),
                dseq: at.into(),
                gseq: 1,
                oseq: 1,
                provider: "p".into(),
                bseq: 0,
            },
            tags: Default::default(),
            service: None,
            policy: Default::default(),
            weight: None,
        }
    }

    /// Services `(name, host)`.
    fn services(list: &[(&str, u8)]) -> BTreeMap<String, ServiceInfo> {
        list.iter()
            .map(|(name, at)| {
                let Host { ip, ip6 } = host(*at);
                (name.to_string(), ServiceInfo { ip, ip6 })
            })
            .collect()
    }

    /// The answer of `zone` to a query for `name` of type `rtype`.
    fn ask(zone: &Zone, name: &str, rtype: RecordType) -> Message {
        let mut m = Message::new();
        m.add_query(Query::query(Name::from_str(name).unwrap(), rtype));
        let reply = crate::dns::answer(zone, &m.to_vec().unwrap()).unwrap();
        Message::from_vec(&reply).unwrap()
    }

    fn rdata(m: &Message) -> Vec<RData> {
        m.answers().iter().map(|r| r.data().clone()).collect()
    }

    fn ptr(name: &str) -> Vec<RData> {
        vec![RData::PTR(PTR(Name::from_str(name).unwrap()))]
    }

    /// Reverse names of host 10: IPv4, IPv6.
    const REV4: &str = "10.0.64.100.in-addr.arpa.";
    const REV6: &str = "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa.";

    #[test]
    fn services_resolve_to_their_addresses_in_both_families() {
        let z = Zone::with_services(&prod(), &[member("a", 2)], &services(&[("web", 10)]));
        let m = ask(&z, "web.prod.", RecordType::A);
        assert_eq!(m.response_code(), ResponseCode::NoError);
        assert_eq!(rdata(&m), [RData::A(A::new(100, 64, 0, 10))]);
        let m = ask(&z, "WEB.Prod", RecordType::AAAA);
        assert_eq!(rdata(&m), [RData::AAAA(AAAA("fd00:1::a".parse().unwrap()))]);
        // SOCKS5 CONNECT by name reaches the service address too.
        assert_eq!(z.resolve(b"Web.prod."), Some(host(10)));
        // Members are unchanged.
        assert_eq!(z.resolve(b"a.prod"), Some(host(2)));
        // Same as `Zone::new` without services.
        let bare = Zone::with_services(&prod(), &[member("a", 2)], &BTreeMap::new());
        assert_eq!(bare.resolve(b"a.prod"), Some(host(2)));
        assert_eq!(bare.resolve(b"web.prod"), None);
    }

    #[test]
    fn service_addresses_answer_the_service_name() {
        let z = Zone::with_services(&prod(), &[member("a", 2)], &services(&[("web", 10)]));
        assert_eq!(rdata(&ask(&z, REV4, RecordType::PTR)), ptr("web.prod."));
        assert_eq!(rdata(&ask(&z, REV6, RecordType::PTR)), ptr("web.prod."));
        assert_eq!(
            rdata(&ask(&z, "2.0.64.100.in-addr.arpa.", RecordType::PTR)),
            ptr("a.prod.")
        );
    }

    #[test]
    fn a_removed_service_does_not_exist() {
        let before = Zone::with_services(&prod(), &[member("a", 2)], &services(&[("web", 10)]));
        assert_eq!(before.resolve(b"web.prod"), Some(host(10)));
        let after = Zone::with_services(&prod(), &[member("a", 2)], &BTreeMap::new());
        for (name, rtype) in [
            ("web.prod.", RecordType::A),
            ("web.prod.", RecordType::AAAA),
            (REV4, RecordType::PTR),
            (REV6, RecordType::PTR),
        ] {
            let m = ask(&after, name, rtype);
            assert_eq!(m.response_code(), ResponseCode::NXDomain, "{name} {rtype}");
            assert!(m.answers().is_empty());
        }
        assert_eq!(after.resolve(b"web.prod"), None);
    }

    #[test]
    fn a_member_wins_over_a_service_of_the_same_name() {
        // The contract refuses equal names; DNS names ignore case.
        let z = Zone::with_services(
            &prod(),
            &[member("Web", 2)],
            &services(&[("web", 10), ("api", 11), ("API", 12)]),
        );
        assert_eq!(z.resolve(b"web.prod"), Some(host(2)));
        assert_eq!(
            rdata(&ask(&z, "web.prod.", RecordType::A)),
            [RData::A(A::new(100, 64, 0, 2))]
        );
        // The shadowed service has no name: its address has no PTR.
        let m = ask(&z, REV4, RecordType::PTR);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
        // Of two services equal but for case the first in name order
        // ("API" < "api") wins.
        assert_eq!(z.resolve(b"api.prod"), Some(host(12)));
        let m = ask(&z, "11.0.64.100.in-addr.arpa.", RecordType::PTR);
        assert_eq!(m.response_code(), ResponseCode::NXDomain);
    }

    #[test]
    fn services_need_a_valid_name_and_a_named_network() {
        // A label over 63 bytes is not a DNS name.
        let long = "x".repeat(64);
        let z = Zone::with_services(&prod(), [], &services(&[(&long, 10), ("ok", 11)]));
        assert_eq!(z.resolve(b"ok.prod"), Some(host(11)));
        assert_eq!(z.lookup(b"10.0.64.100.in-addr.arpa"), Lookup::Reverse(None));
        let unnamed = NetworkInfo {
            name: String::new(),
            ..prod()
        };
        let z = Zone::with_services(&unnamed, [], &services(&[("web", 10)]));
        assert_eq!(z.resolve(b"web"), None);
        assert_eq!(z.lookup(b"10.0.64.100.in-addr.arpa"), Lookup::Reverse(None));
    }

    #[test]
    fn reverse_names_parse() {
        assert_eq!(
            reverse_addr(b"3.0.64.100.in-addr.arpa"),
            Some("100.64.0.3".parse().unwrap())
        );
        assert_eq!(reverse_addr(b"0.64.100.in-addr.arpa"), None);
        assert_eq!(reverse_addr(b"1.3.0.64.100.in-addr.arpa"), None);
        assert_eq!(reverse_addr(b"03.0.64.100.in-addr.arpa"), None);
        assert_eq!(reverse_addr(b"256.0.64.100.in-addr.arpa"), None);
        let v6: Ipv6Addr = "fd00:1::3".parse().unwrap();
        let nibbles: Vec<String> = (0..32)
            .map(|i| format!("{:x}", (u128::from(v6) >> (4 * i)) & 0xf))
            .collect();
        let name = format!("{}.ip6.arpa", nibbles.join("."));
        assert_eq!(reverse_addr(name.as_bytes()), Some(v6.into()));
        assert_eq!(reverse_addr(b"1.ip6.arpa"), None);
        let long = format!("0.{name}");
        assert_eq!(reverse_addr(long.as_bytes()), None);
    }
}
