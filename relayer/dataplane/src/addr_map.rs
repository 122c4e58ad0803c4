//! Maps keyed by overlay address, IPv4 and IPv6 alike.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;

use rustc_hash::FxHashMap;

/// A map keyed by overlay address: one hash map per address family, each
/// address hashed as one integer word (one FxHash round, where hashing the
/// address type hashes its bytes).
#[derive(Debug, Clone)]
pub struct AddrMap<V> {
    v4: FxHashMap<u32, V>,
    v6: FxHashMap<V6Key, V>,
}

/// An IPv6 address hashed as one word, its halves xor-ed (addresses of one
/// prefix differ in the low half).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct V6Key(u128);

impl Hash for V6Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(fold_v6(self.0));
    }
}

/// The two halves of an IPv6 address xor-ed into one word.
pub(crate) fn fold_v6(bits: u128) -> u64 {
    (bits as u64) ^ ((bits >> 64) as u64)
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
            IpAddr::V4(a) => self.v4.insert(a.to_bits(), value),
            IpAddr::V6(a) => self.v6.insert(V6Key(a.to_bits()), value),
        };
    }

    /// The value under `ip`.
    pub fn get(&self, ip: IpAddr) -> Option<&V> {
        match ip {
            IpAddr::V4(a) => self.v4.get(&a.to_bits()),
            IpAddr::V6(a) => self.v6.get(&V6Key(a.to_bits())),
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
