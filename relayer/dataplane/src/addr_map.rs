//! Maps keyed by overlay address, IPv4 and IPv6 alike.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rustc_hash::FxHashMap;

/// A map keyed by overlay address: one hash map per address family, so a
/// lookup hashes the address as one integer (an IPv4 lookup costs what it
/// did before IPv6 was carried).
#[derive(Debug, Clone)]
pub struct AddrMap<V> {
    v4: FxHashMap<Ipv4Addr, V>,
    v6: FxHashMap<Ipv6Addr, V>,
}

impl<V> Default for AddrMap<V> {
    fn default() -> Self {
        AddrMap {
            v4: FxHashMap::default(),
            v6: FxHashMap::default(),
        }
    }
}

impl<V> AddrMap<V> {
    /// Inserts `value` under `ip`, replacing a previous one.
    pub fn insert(&mut self, ip: IpAddr, value: V) {
        match ip {
            IpAddr::V4(a) => self.v4.insert(a, value),
            IpAddr::V6(a) => self.v6.insert(a, value),
        };
    }

    /// The value under `ip`.
    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        match ip {
            IpAddr::V4(a) => self.v4.get(&a),
            IpAddr::V6(a) => self.v6.get(&a),
        }
    }

    /// Whether `ip` has a value.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.get(ip).is_some()
    }
}

impl<V> FromIterator<(IpAddr, V)> for AddrMap<V> {
    fn from_iter<I: IntoIterator<Item = (IpAddr, V)>>(iter: I) -> Self {
        let mut m = AddrMap::default();
        for (ip, v) in iter {
            m.insert(ip, v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_separate_keys() {
        let m: AddrMap<u8> = [
            (IpAddr::from([100, 64, 0, 2]), 1),
            ("fd00::2".parse().unwrap(), 2),
        ]
        .into_iter()
        .collect();
        assert_eq!(m.get([100, 64, 0, 2].into()), Some(&1));
        assert_eq!(m.get("fd00::2".parse().unwrap()), Some(&2));
        assert!(!m.contains("::ffff:100.64.0.2".parse().unwrap()));
        assert!(!AddrMap::<u8>::default().contains([100, 64, 0, 2].into()));
    }
}
