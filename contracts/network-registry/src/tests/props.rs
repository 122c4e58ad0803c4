//! Property tests: random sequences of network and member operations
//! against a naive reference model (lowest free offset found by scanning).
//! After every step: members and addresses equal the model's (so the
//! lowest-free rule holds and IP ↔ member is a bijection), every address
//! lies in its CIDR and is not reserved, `member_by_ip` inverts the
//! allocation, the IPAM indexes are consistent, and networks sharing a CIDR
//! never affect each other. Export → apply must leave storage unchanged.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use cosmwasm_std::Order;
use ipnet::Ipv4Net;
use proptest::prelude::*;

use super::*;
use crate::msg::Manifest;
use crate::state::{IPS, NETWORKS, RELEASED};

/// Slot → CIDR; slots 0 and 1 share one on purpose.
const CIDRS: [&str; 3] = ["100.64.0.0/28", "100.64.0.0/28", "10.0.0.0/29"];
const NAMES: usize = 16;

#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Add {
        slot: usize,
        name: usize,
        ip: Option<u32>,
        provider: usize,
    },
    Remove(usize, usize),
    Rebind(usize, usize, usize),
    Close(usize),
    ExportApply(usize),
    ApplySubset {
        slot: usize,
        keep: u16,
        fresh: Option<usize>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..CIDRS.len();
    prop_oneof![
        1 => slot.clone().prop_map(Op::Create),
        6 => (slot.clone(), 0..NAMES, proptest::option::of(0u32..18), 0..3usize)
            .prop_map(|(slot, name, ip, provider)| Op::Add { slot, name, ip, provider }),
        3 => (slot.clone(), 0..NAMES).prop_map(|(s, n)| Op::Remove(s, n)),
        2 => (slot.clone(), 0..NAMES, 0..3usize).prop_map(|(s, n, p)| Op::Rebind(s, n, p)),
        1 => slot.clone().prop_map(Op::Close),
        1 => slot.clone().prop_map(Op::ExportApply),
        1 => (slot, any::<u16>(), proptest::option::of(0..NAMES))
            .prop_map(|(slot, keep, fresh)| Op::ApplySubset { slot, keep, fresh }),
    ]
}

/// The reference: per open slot, the network id and name → offset.
struct Model {
    id: u64,
    cidr: Ipv4Net,
    members: BTreeMap<String, u32>,
}

impl Model {
    fn size(&self) -> u32 {
        1 << (32 - self.cidr.prefix_len())
    }

    /// Naive lowest free host offset.
    fn lowest_free(&self) -> Option<u32> {
        (2..self.size() - 1).find(|o| !self.members.values().any(|v| v == o))
    }
}

fn name(i: usize) -> String {
    format!("m{i}")
}

fn check(s: &Setup, models: &[Option<Model>]) {
    for m in models.iter().flatten() {
        let got: BTreeMap<String, u32> = s
            .members(m.id)
            .into_iter()
            .map(|r| {
                let ip: Ipv4Addr = r.ip.parse().unwrap();
                assert!(m.cidr.contains(&ip), "{ip} outside {}", m.cidr);
                let off = u32::from(ip) - u32::from(m.cidr.network());
                assert!(off >= 2 && off < m.size() - 1, "reserved {ip} allocated");
                let back: MemberResponse = s
                    .q(QueryMsg::MemberByIp {
                        network_id: m.id,
                        ip: r.ip.clone(),
                    })
                    .unwrap();
                assert_eq!(back.name, r.name);
                (r.name, off)
            })
            .collect();
        assert_eq!(got, m.members, "network {}", m.id);
        // IPAM indexes: taken set = members' offsets; released ⊂ below cursor, disjoint.
        let store = &s.deps.storage;
        let net = NETWORKS.load(store, m.id).unwrap();
        let taken: BTreeMap<u32, String> = IPS
            .prefix(m.id)
            .range(store, None, None, Order::Ascending)
            .map(|r| r.unwrap())
            .collect();
        let expect: BTreeMap<u32, String> =
            m.members.iter().map(|(n, o)| (*o, n.clone())).collect();
        assert_eq!(taken, expect);
        for r in RELEASED
            .prefix(m.id)
            .keys(store, None, None, Order::Ascending)
        {
            let o = r.unwrap();
            assert!(o < net.ipam_cursor && !taken.contains_key(&o));
        }
        for o in 2..net.ipam_cursor {
            assert!(
                taken.contains_key(&o) || RELEASED.has(store, (m.id, o)),
                "offset {o} below cursor lost"
            );
        }
        assert_eq!(net.member_count as usize, m.members.len());
    }
}

fn run(ops: Vec<Op>) {
    let mut s = setup();
    let owner = s.owner.clone();
    let providers = [s.p1.clone(), s.p2.clone(), s.p3.clone()];
    let mut models: Vec<Option<Model>> = (0..CIDRS.len()).map(|_| None).collect();
    let mut created = 0;
    for op in ops {
        match op {
            Op::Create(slot) => {
                if models[slot].is_none() {
                    created += 1;
                    let id = s.create(&owner, create_msg(&format!("n{created}"), CIDRS[slot]));
                    models[slot] = Some(Model {
                        id,
                        cidr: CIDRS[slot].parse().unwrap(),
                        members: BTreeMap::new(),
                    });
                }
            }
            Op::Add {
                slot,
                name: n,
                ip,
                provider,
            } => {
                let Some(m) = models[slot].as_mut() else {
                    continue;
                };
                let ip_str =
                    ip.map(|o| Ipv4Addr::from(u32::from(m.cidr.network()) + o).to_string());
                let msg = ExecuteMsg::AddMember {
                    network_id: m.id,
                    name: name(n),
                    lease: lease(n as u64, &providers[provider]),
                    tags: vec![],
                    service: None,
                    ip: ip_str,
                    // Some weighted (0 among them), so export → apply
                    // covers weights.
                    weight: (n % 2 == 0).then_some(n as u32 * 1000),
                };
                let expected: Result<u32, fn(&ContractError) -> bool> =
                    if m.members.contains_key(&name(n)) {
                        Err(|e| matches!(e, ContractError::MemberExists(_)))
                    } else {
                        match ip {
                            Some(o) if o >= m.size() => {
                                Err(|e| matches!(e, ContractError::IpOutsideCidr { .. }))
                            }
                            Some(o) if o < 2 || o == m.size() - 1 => {
                                Err(|e| matches!(e, ContractError::IpReserved(_)))
                            }
                            Some(o) if m.members.values().any(|v| *v == o) => {
                                Err(|e| matches!(e, ContractError::IpTaken(_)))
                            }
                            Some(o) => Ok(o),
                            None => m
                                .lowest_free()
                                .ok_or(|e| matches!(e, ContractError::PoolExhausted(_))),
                        }
                    };
                match expected {
                    Ok(o) => {
                        let res = s.ok(&owner, msg);
                        let got: Ipv4Addr = attr(event(&res), "ip").parse().unwrap();
                        assert_eq!(u32::from(got) - u32::from(m.cidr.network()), o);
                        m.members.insert(name(n), o);
                    }
                    Err(pred) => {
                        let e = s.reject(&owner, msg);
                        assert!(pred(&e), "{e:?}");
                    }
                }
            }
            Op::Remove(slot, n) => {
                let Some(m) = models[slot].as_mut() else {
                    continue;
                };
                let msg = ExecuteMsg::RemoveMember {
                    network_id: m.id,
                    name: name(n),
                };
                if m.members.remove(&name(n)).is_some() {
                    s.ok(&owner, msg);
                } else {
                    let e = s.reject(&owner, msg);
                    assert!(matches!(e, ContractError::MemberNotFound(_)));
                }
            }
            Op::Rebind(slot, n, p) => {
                let Some(m) = models[slot].as_ref() else {
                    continue;
                };
                let msg = ExecuteMsg::RebindMember {
                    network_id: m.id,
                    name: name(n),
                    lease: lease(100 + n as u64, &providers[p]),
                };
                if m.members.contains_key(&name(n)) {
                    s.ok(&owner, msg);
                } else {
                    s.reject(&owner, msg);
                }
            }
            Op::Close(slot) => {
                let Some(m) = models[slot].take() else {
                    continue;
                };
                s.ok(&owner, ExecuteMsg::CloseNetwork { network_id: m.id });
                assert!(s.members(m.id).is_empty());
            }
            Op::ExportApply(slot) => {
                let Some(m) = models[slot].as_ref() else {
                    continue;
                };
                let before = snapshot(&s.deps.storage);
                let manifest: Manifest = s.manifest(m.id);
                s.ok(
                    &owner,
                    ExecuteMsg::ApplyManifest {
                        network_id: m.id,
                        manifest,
                    },
                );
                assert_eq!(
                    before,
                    snapshot(&s.deps.storage),
                    "export → apply changed state"
                );
            }
            Op::ApplySubset { slot, keep, fresh } => {
                let Some(m) = models[slot].as_mut() else {
                    continue;
                };
                let mut manifest: Manifest = s.manifest(m.id);
                let mut i = 0;
                manifest.members.retain(|_| {
                    i += 1;
                    keep & (1 << (i - 1)) != 0
                });
                let mut next = Model {
                    id: m.id,
                    cidr: m.cidr,
                    members: manifest
                        .members
                        .iter()
                        .map(|mm| (mm.name.clone(), m.members[&mm.name]))
                        .collect(),
                };
                let mut fits = true;
                // A name the network already has would be an update (keeping
                // its address), so fresh names are new ones only.
                if let Some(f) = fresh
                    && !m.members.contains_key(&name(f))
                {
                    manifest.members.push(crate::msg::ManifestMember {
                        name: name(f),
                        lease: lease(500, &providers[0]),
                        tags: vec![],
                        service: None,
                        ip: None,
                        policy: Policy::default(),
                        weight: None,
                    });
                    match next.lowest_free() {
                        Some(o) => {
                            next.members.insert(name(f), o);
                        }
                        None => fits = false,
                    }
                }
                let msg = ExecuteMsg::ApplyManifest {
                    network_id: m.id,
                    manifest,
                };
                if fits {
                    s.ok(&owner, msg);
                    *m = next;
                } else {
                    s.reject(&owner, msg);
                }
            }
        }
        check(&s, &models);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn ipam_and_manifest_invariants(
        ops in proptest::collection::vec(op(), 1..80)
            .prop_map(|mut v| { v.insert(0, Op::Create(0)); v.insert(1, Op::Create(1)); v })
    ) {
        run(ops);
    }
}
