//! One network's names: members by name, names by address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use avpn_model::{MemberInfo, NetworkInfo};
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
    /// An address of the network: the name of its member, if any.
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
    /// Fully qualified member name by address (PTR answers).
    names: AddrMap<Name>,
    cidr: Option<Ipv4Net>,
    cidr6: Option<Ipv6Net>,
}

impl Zone {
    /// The zone of network `info` with `members`. Members whose name is
    /// not a valid DNS name are left out; of two names equal but for case
    /// the first wins.
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
        // Members are added in name order; services (once the model has
        // them) are one more loop adding their name and service address.
        for m in members {
            let name = m.name.to_ascii_lowercase();
            let Ok(fqdn) = Name::from_ascii(format!("{name}.{}.", zone.origin)) else {
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
    use super::*;

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
