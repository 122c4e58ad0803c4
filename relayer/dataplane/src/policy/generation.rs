//! One generation of the flow cache: remembered verdicts keyed by flow,
//! one map per address family, each key packed into as few words as the
//! family needs (an IPv4 entry stays as small as before IPv6 was carried:
//! a full cache under a flood touches less memory).

use std::hash::{Hash, Hasher};

use avpn_model::Verdict;
use rustc_hash::FxHashMap;

use super::FlowKey;
use crate::addr_map::fold_v6;
use crate::packet::Addrs;

/// Protocol, reply flag and ports in one word.
fn rest(k: &FlowKey) -> u64 {
    u64::from(k.proto) << 40
        | u64::from(k.icmp_reply) << 32
        | u64::from(k.sport) << 16
        | u64::from(k.dport)
}

/// The fields of a flow other than its addresses, back from [`rest`].
fn unpack_rest(addrs: Addrs, rest: u64) -> FlowKey {
    FlowKey {
        addrs,
        proto: (rest >> 40) as u8,
        icmp_reply: (rest >> 32) & 1 == 1,
        sport: (rest >> 16) as u16,
        dport: rest as u16,
    }
}

/// An IPv4 flow: addresses in one word, the rest in another (two hashing
/// rounds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key4 {
    addrs: u64,
    rest: u64,
}

/// An IPv6 flow, hashed as three words (each address's halves folded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key6 {
    src: u128,
    dst: u128,
    rest: u64,
}

impl Hash for Key6 {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(fold_v6(self.src));
        state.write_u64(fold_v6(self.dst));
        state.write_u64(self.rest);
    }
}

/// A flow packed for its family's map.
enum Packed {
    V4(Key4),
    V6(Key6),
}

fn pack(k: &FlowKey) -> Packed {
    match k.addrs {
        Addrs::V4 { src, dst } => Packed::V4(Key4 {
            addrs: u64::from(src.to_bits()) << 32 | u64::from(dst.to_bits()),
            rest: rest(k),
        }),
        Addrs::V6 { src, dst } => Packed::V6(Key6 {
            src: src.to_bits(),
            dst: dst.to_bits(),
            rest: rest(k),
        }),
    }
}

/// Verdicts of the flows of one generation.
#[derive(Debug, Default)]
pub(super) struct Generation {
    v4: FxHashMap<Key4, Verdict>,
    v6: FxHashMap<Key6, Verdict>,
}

impl Generation {
    pub fn get(&self, k: &FlowKey) -> Option<Verdict> {
        match pack(k) {
            Packed::V4(p) => self.v4.get(&p).copied(),
            Packed::V6(p) => self.v6.get(&p).copied(),
        }
    }

    pub fn remove(&mut self, k: &FlowKey) -> Option<Verdict> {
        match pack(k) {
            Packed::V4(p) => self.v4.remove(&p),
            Packed::V6(p) => self.v6.remove(&p),
        }
    }

    pub fn insert(&mut self, k: &FlowKey, v: Verdict) {
        match pack(k) {
            Packed::V4(p) => self.v4.insert(p, v),
            Packed::V6(p) => self.v6.insert(p, v),
        };
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Forgets every flow; keeps the allocations (no reallocation in the
    /// steady state of a flood).
    pub fn clear(&mut self) {
        self.v4.clear();
        self.v6.clear();
    }

    /// Replaces every verdict with `decide(flow)`.
    pub fn redecide(&mut self, mut decide: impl FnMut(&FlowKey) -> Verdict) {
        for (k, v) in &mut self.v4 {
            let addrs = Addrs::V4 {
                src: ((k.addrs >> 32) as u32).into(),
                dst: (k.addrs as u32).into(),
            };
            *v = decide(&unpack_rest(addrs, k.rest));
        }
        for (k, v) in &mut self.v6 {
            let addrs = Addrs::V6 {
                src: k.src.into(),
                dst: k.dst.into(),
            };
            *v = decide(&unpack_rest(addrs, k.rest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packing_round_trips(src in any::<u128>(), dst in any::<u128>(), v6 in any::<bool>(), proto in any::<u8>(), sport in any::<u16>(), dport in any::<u16>(), icmp_reply in any::<bool>()) {
            let addrs = if v6 {
                Addrs::V6 { src: src.into(), dst: dst.into() }
            } else {
                Addrs::V4 { src: (src as u32).into(), dst: (dst as u32).into() }
            };
            let key = FlowKey { addrs, proto, sport, dport, icmp_reply };
            let mut g = Generation::default();
            g.insert(&key, Verdict::Allow);
            prop_assert_eq!(g.get(&key), Some(Verdict::Allow));
            let mut seen = Vec::new();
            g.redecide(|k| { seen.push(*k); Verdict::Deny });
            prop_assert_eq!(seen, vec![key]);
            prop_assert_eq!(g.remove(&key), Some(Verdict::Deny));
            prop_assert!(g.is_empty());
        }
    }
}
