//! Builds the desired state from a [`ChainView`]: converts the contracts'
//! strings into parsed types, rejects bad records with typed errors (the
//! rest still applies), verifies local leases and attaches them as the
//! attachments directory says.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use avpn_model::{
    self as model, Attachment, DesiredState, LeaseId, MemberInfo, Network, NetworkInfo, OverlayKey,
    PeerInfo, PeerSelector, PortRange, ServiceInfo, Verdict,
};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use network_registry::msg as reg;
use provider_directory::msg as dir;

use crate::lease::{LeaseError, LeaseVerdict, LeaseVerifier, Refusal};
use crate::view::{ChainView, NetworkSnapshot};

/// A chain record the relayer cannot use. The record is skipped; everything
/// else still applies.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The network's CIDR is not an IPv4 network, or its IPv6 prefix is
    /// not an IPv6 network.
    #[error("network {network}: invalid cidr {value:?}")]
    Cidr {
        /// Network id.
        network: u64,
        /// Value found.
        value: String,
    },
    /// A member's IP (IPv4, or IPv6 when the network has a prefix) is
    /// invalid, outside the network or not the one its IPv4 implies.
    #[error("network {network} member {member}: invalid ip {value:?}")]
    MemberIp {
        /// Network id.
        network: u64,
        /// Member name.
        member: String,
        /// Value found.
        value: String,
    },
    /// A service's IP is invalid or outside the network.
    #[error("network {network} service {service}: invalid ip {value:?}")]
    ServiceIp {
        /// Network id.
        network: u64,
        /// Service name.
        service: String,
        /// Value found.
        value: String,
    },
    /// Two members (or a member and a service) share an IP.
    #[error("network {network}: ip {ip} used by {first} and {second}")]
    DuplicateIp {
        /// Network id.
        network: u64,
        /// The address.
        ip: IpAddr,
        /// Member kept.
        first: String,
        /// Member skipped.
        second: String,
    },
    /// A rule cannot be converted.
    #[error("network {network} member {member}: invalid rule: {reason}")]
    Rule {
        /// Network id.
        network: u64,
        /// Member name.
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// A directory record cannot be used.
    #[error("provider {provider}: {reason}")]
    Provider {
        /// Provider address.
        provider: String,
        /// What is wrong.
        reason: String,
    },
}

/// A local member that is not served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedMember {
    /// Network id.
    pub network: u64,
    /// Member name.
    pub member: String,
    /// Why.
    pub reason: Refusal,
}

/// Result of [`build`].
#[derive(Clone, Debug, Default)]
pub struct Built {
    /// The desired state.
    pub state: DesiredState,
    /// Records skipped as unusable.
    pub rejected: Vec<RecordError>,
    /// Local members refused by lease verification.
    pub refused: Vec<RefusedMember>,
    /// Local members served but without an attachment file.
    pub unattached: Vec<(u64, String)>,
}

/// Verdicts already obtained, keyed by the full lease id.
pub type VerdictCache = HashMap<LeaseId, LeaseVerdict>;

/// One network's share of a build.
#[derive(Clone, Debug, Default)]
pub struct NetworkBuild {
    /// The network to serve; `None` outside its time window or when its
    /// record is unusable.
    pub network: Option<Network>,
    /// Records of this network skipped as unusable.
    pub rejected: Vec<RecordError>,
    /// Local members refused by lease verification.
    pub refused: Vec<RefusedMember>,
    /// Local members served without an attachment file.
    pub unattached: Vec<(u64, String)>,
}

/// Builds the desired state of provider `local` from `view`.
pub async fn build<V: LeaseVerifier>(
    view: &ChainView,
    local: &str,
    verifier: &V,
    cache: &mut VerdictCache,
    attachments: &HashMap<LeaseId, Attachment>,
) -> Result<Built, LeaseError> {
    let mut out = Built::default();
    for (id, snap) in &view.networks {
        let nb = build_network(*id, snap, view.time, local, verifier, cache, attachments).await?;
        if let Some(n) = nb.network {
            out.state.networks.insert(*id, n);
        }
        out.rejected.extend(nb.rejected);
        out.refused.extend(nb.refused);
        out.unattached.extend(nb.unattached);
    }
    set_relays(&mut out.state, view);
    let (peers, rejected) = peers(&out.state, view, local);
    out.state.peers = peers;
    out.rejected.extend(rejected);
    Ok(out)
}

/// Builds one network of the desired state (`time`: block time, unix seconds).
pub async fn build_network<V: LeaseVerifier>(
    id: u64,
    snap: &NetworkSnapshot,
    time: u64,
    local: &str,
    verifier: &V,
    cache: &mut VerdictCache,
    attachments: &HashMap<LeaseId, Attachment>,
) -> Result<NetworkBuild, LeaseError> {
    let mut out = NetworkBuild::default();
    if !in_time_window(&snap.network, time) {
        return Ok(out);
    }
    let info = match network_info(&snap.network) {
        Ok(i) => i,
        Err(e) => {
            out.rejected.push(e);
            return Ok(out);
        }
    };
    let mut net = Network {
        info,
        members: BTreeMap::new(),
        attachments: BTreeMap::new(),
        services: BTreeMap::new(),
        // From the directory records, by `set_relays`.
        relays: BTreeSet::new(),
    };
    let mut by_ip: HashMap<IpAddr, String> = HashMap::new();
    for (m, policy) in &snap.members {
        let member = match member_info(id, net.info.cidr, net.info.cidr6, m, policy) {
            Ok(mi) => mi,
            Err(e) => {
                out.rejected.push(e);
                continue;
            }
        };
        if let Some((ip, first)) = member
            .addrs()
            .find_map(|ip| by_ip.get(&ip).map(|first| (ip, first)))
        {
            out.rejected.push(RecordError::DuplicateIp {
                network: id,
                ip,
                first: first.clone(),
                second: member.name.clone(),
            });
            continue;
        }
        if member.lease.provider == local {
            let verdict = if verifier.checks() {
                match cache.get(&member.lease) {
                    Some(v) => v.clone(),
                    None => {
                        let v = verifier.verify(&member.lease, local).await?;
                        cache.insert(member.lease.clone(), v.clone());
                        v
                    }
                }
            } else {
                LeaseVerdict::Unchecked
            };
            if let LeaseVerdict::Refused(reason) = verdict {
                out.refused.push(RefusedMember {
                    network: id,
                    member: member.name.clone(),
                    reason,
                });
                continue;
            }
            match attachments.get(&member.lease) {
                Some(a) => {
                    net.attachments.insert(member.name.clone(), a.clone());
                }
                None => out.unattached.push((id, member.name.clone())),
            }
        }
        for ip in member.addrs() {
            by_ip.insert(ip, member.name.clone());
        }
        net.members.insert(member.name.clone(), member);
    }
    for svc in &snap.services {
        let info = match service_info(id, net.info.cidr, net.info.cidr6, svc) {
            Ok(i) => i,
            Err(e) => {
                out.rejected.push(e);
                continue;
            }
        };
        if let Some((ip, first)) = info
            .addrs()
            .find_map(|ip| by_ip.get(&ip).map(|first| (ip, first)))
        {
            out.rejected.push(RecordError::DuplicateIp {
                network: id,
                ip,
                first: first.clone(),
                second: svc.name.clone(),
            });
            continue;
        }
        for ip in info.addrs() {
            by_ip.insert(ip, svc.name.clone());
        }
        net.services.insert(svc.name.clone(), info);
    }
    out.network = Some(net);
    Ok(out)
}

/// The relays of network `snap`: the providers its owner authorized whose
/// directory record is usable (a peer with at least one endpoint to dial)
/// and announces `relay: true`. Registering as a relay never makes a
/// provider one of a network: the owner must authorize it too; and an
/// authorized provider without the relay capability stays just authorized.
pub fn relays(
    snap: &NetworkSnapshot,
    providers: &BTreeMap<String, Option<dir::ProviderRecord>>,
) -> BTreeSet<String> {
    snap.providers
        .iter()
        .filter(|p| match providers.get(*p) {
            Some(Some(rec)) => rec.relay && peer_info(rec).is_ok_and(|pi| !pi.endpoints.is_empty()),
            _ => false,
        })
        .cloned()
        .collect()
}

/// Sets the relays of every network of `state` from `view`. Directory
/// records change without the network's revision moving, so this runs over
/// all networks at every rebuild (a few lookups per network: the registry
/// caps authorized providers).
pub fn set_relays(state: &mut DesiredState, view: &ChainView) {
    for (id, net) in &mut state.networks {
        net.relays = view
            .networks
            .get(id)
            .map(|snap| relays(snap, &view.providers))
            .unwrap_or_default();
    }
}

/// The peers of `state`: every other provider hosting a member or relaying
/// for a served network, with its directory record; providers without a
/// usable record are reported. `state`'s relays must be set
/// ([`set_relays`]).
pub fn peers(
    state: &DesiredState,
    view: &ChainView,
    local: &str,
) -> (BTreeMap<String, PeerInfo>, Vec<RecordError>) {
    let wanted: BTreeSet<&String> = state
        .networks
        .values()
        .flat_map(|n| {
            n.members
                .values()
                .map(|m| &m.lease.provider)
                .chain(&n.relays)
        })
        .filter(|p| p.as_str() != local)
        .collect();
    let mut peers = BTreeMap::new();
    let mut rejected = Vec::new();
    for p in wanted {
        match view.providers.get(p) {
            Some(Some(rec)) => match peer_info(rec) {
                Ok(pi) => {
                    peers.insert(p.clone(), pi);
                }
                Err(e) => rejected.push(e),
            },
            _ => rejected.push(RecordError::Provider {
                provider: p.clone(),
                reason: "hosts members but has no directory record".into(),
            }),
        }
    }
    (peers, rejected)
}

/// Whether a time-boxed network is live at `now` (unix seconds).
fn in_time_window(n: &reg::NetworkResponse, now: u64) -> bool {
    n.start_time.is_none_or(|t| t.seconds() <= now) && n.end_time.is_none_or(|t| now < t.seconds())
}

/// Converts a network record.
pub fn network_info(n: &reg::NetworkResponse) -> Result<NetworkInfo, RecordError> {
    let cidr: Ipv4Net = n
        .cidr
        .parse()
        .ok()
        .filter(|c: &Ipv4Net| c.trunc() == *c)
        .ok_or_else(|| RecordError::Cidr {
            network: n.id,
            value: n.cidr.clone(),
        })?;
    let cidr6 = match &n.cidr6 {
        None => None,
        Some(value) => Some(
            value
                .parse()
                .ok()
                .filter(|c: &Ipv6Net| c.trunc() == *c)
                .ok_or_else(|| RecordError::Cidr {
                    network: n.id,
                    value: value.clone(),
                })?,
        ),
    };
    Ok(NetworkInfo {
        id: n.id,
        name: n.name.clone(),
        owner: n.owner.to_string(),
        revision: n.revision,
        cidr,
        cidr6,
        default_verdict: verdict(n.default_action),
    })
}

/// Converts the contract's action into a verdict.
pub fn verdict(a: reg::Action) -> Verdict {
    match a {
        reg::Action::Allow => Verdict::Allow,
        reg::Action::Deny => Verdict::Deny,
    }
}

/// The IPv6 address the contract gives the member at `ip`: the network's
/// IPv6 prefix plus the IPv4 host offset (`None` without a prefix, or when
/// the offset does not fit the prefix).
pub fn derived_ip6(cidr: Ipv4Net, cidr6: Option<Ipv6Net>, ip: Ipv4Addr) -> Option<Ipv6Addr> {
    let net = cidr6?;
    let offset = u128::from(u32::from(ip).checked_sub(u32::from(cidr.network()))?);
    let addr = Ipv6Addr::from(u128::from(net.network()).checked_add(offset)?);
    net.contains(&addr).then_some(addr)
}

/// Converts a service record; its IPv6 is derived from its IPv4 like a
/// member's, and an `ip6` in the record must equal it.
pub fn service_info(
    network: u64,
    cidr: Ipv4Net,
    cidr6: Option<Ipv6Net>,
    s: &reg::ServiceResponse,
) -> Result<ServiceInfo, RecordError> {
    let bad_ip = |value: &str| RecordError::ServiceIp {
        network,
        service: s.name.clone(),
        value: value.to_owned(),
    };
    let ip: Ipv4Addr =
        s.ip.parse()
            .ok()
            .filter(|ip| cidr.contains(ip) && *ip != cidr.network() && *ip != cidr.broadcast())
            .ok_or_else(|| bad_ip(&s.ip))?;
    let ip6 = derived_ip6(cidr, cidr6, ip);
    if cidr6.is_some() && ip6.is_none() {
        return Err(bad_ip(&s.ip));
    }
    if let Some(given) = &s.ip6
        && given.parse::<Ipv6Addr>().ok() != ip6
    {
        return Err(bad_ip(given));
    }
    Ok(ServiceInfo { ip, ip6 })
}

/// Converts a member record and its policy. The member's IPv6 is derived
/// from its IPv4 (the contract's rule); an `ip6` in the record must equal it.
pub fn member_info(
    network: u64,
    cidr: Ipv4Net,
    cidr6: Option<Ipv6Net>,
    m: &reg::MemberResponse,
    p: &reg::Policy,
) -> Result<MemberInfo, RecordError> {
    let bad_ip = |value: &str| RecordError::MemberIp {
        network,
        member: m.name.clone(),
        value: value.to_owned(),
    };
    let ip: Ipv4Addr =
        m.ip.parse()
            .ok()
            .filter(|ip| cidr.contains(ip) && *ip != cidr.network() && *ip != cidr.broadcast())
            .ok_or_else(|| bad_ip(&m.ip))?;
    let ip6 = derived_ip6(cidr, cidr6, ip);
    if cidr6.is_some() && ip6.is_none() {
        return Err(bad_ip(&m.ip));
    }
    if let Some(given) = &m.ip6
        && given.parse::<Ipv6Addr>().ok() != ip6
    {
        return Err(bad_ip(given));
    }
    let rule_err = |reason: String| RecordError::Rule {
        network,
        member: m.name.clone(),
        reason,
    };
    let rules = |list: &[reg::Rule]| list.iter().map(rule).collect::<Result<Vec<_>, String>>();
    let policy = model::Policy {
        ingress: rules(&p.ingress).map_err(rule_err)?,
        egress: rules(&p.egress).map_err(rule_err)?,
    };
    Ok(MemberInfo {
        name: m.name.clone(),
        ip,
        ip6,
        lease: LeaseId {
            owner: m.lease.owner.clone(),
            dseq: m.lease.dseq,
            gseq: m.lease.gseq,
            oseq: m.lease.oseq,
            provider: m.lease.provider.clone(),
            bseq: m.lease.bseq,
        },
        tags: m.tags.iter().cloned().collect(),
        service: m.service.clone(),
        policy,
        weight: m.weight,
    })
}

fn rule(r: &reg::Rule) -> Result<model::Rule, String> {
    let peers = match &r.peers {
        reg::Peers::Any => PeerSelector::Any,
        reg::Peers::Members(v) => PeerSelector::Members(v.iter().cloned().collect()),
        reg::Peers::Tags(v) => PeerSelector::Tags(v.iter().cloned().collect()),
        reg::Peers::Services(v) => PeerSelector::Services(v.iter().cloned().collect()),
        reg::Peers::Cidrs(v) => PeerSelector::Cidrs(
            v.iter()
                .map(|c| {
                    c.parse::<IpNet>()
                        .ok()
                        .filter(|n| n.trunc() == *n)
                        .ok_or_else(|| format!("invalid peer cidr {c:?}"))
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let protocol = match r.protocol {
        reg::Protocol::Tcp => model::Protocol::Tcp,
        reg::Protocol::Udp => model::Protocol::Udp,
        reg::Protocol::Icmp => model::Protocol::Icmp,
        reg::Protocol::Any => model::Protocol::Any,
    };
    let ports = match r.ports {
        None => PortRange::ALL,
        Some(pr) => PortRange::new(pr.start, pr.end)
            .filter(|_| pr.start != 0)
            .ok_or_else(|| format!("invalid port range {}-{}", pr.start, pr.end))?,
    };
    Ok(model::Rule {
        peers,
        protocol,
        ports,
        verdict: verdict(r.action),
    })
}

/// Converts a directory record (current key first, then a rotated-out key
/// still in its overlap).
pub fn peer_info(rec: &dir::ProviderRecord) -> Result<PeerInfo, RecordError> {
    let provider = rec.address.to_string();
    let bad = |reason: String| RecordError::Provider {
        provider: provider.clone(),
        reason,
    };
    let key = |b: &cosmwasm_std::Binary| -> Result<[u8; 32], RecordError> {
        b.as_slice()
            .try_into()
            .map_err(|_| bad(format!("overlay key has {} bytes, expected 32", b.len())))
    };
    let mut keys = vec![OverlayKey {
        key: key(&rec.overlay_key)?,
        valid_until: None,
    }];
    if let Some(prev) = &rec.previous_key {
        keys.push(OverlayKey {
            key: key(&prev.key)?,
            valid_until: Some(prev.valid_until.seconds()),
        });
    }
    let endpoints = rec
        .endpoints
        .iter()
        .map(|e| {
            e.parse::<SocketAddr>()
                .map_err(|_| bad(format!("invalid endpoint {e:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PeerInfo {
        provider,
        keys,
        endpoints,
    })
}

#[cfg(test)]
mod tests {
    use cosmwasm_std::{Addr, Timestamp};

    use super::*;

    fn net(cidr6: Option<&str>) -> reg::NetworkResponse {
        reg::NetworkResponse {
            id: 1,
            owner: Addr::unchecked("akash1owner"),
            name: "n".into(),
            cidr: "100.64.0.0/24".into(),
            cidr6: cidr6.map(str::to_owned),
            default_action: reg::Action::Deny,
            tags: vec![],
            start_time: None,
            end_time: None,
            status: reg::NetworkStatus::Open,
            revision: 1,
            member_count: 1,
            created_at: Timestamp::from_seconds(1),
        }
    }

    fn member(ip: &str, ip6: Option<&str>) -> reg::MemberResponse {
        reg::MemberResponse {
            name: "m".into(),
            ip: ip.into(),
            ip6: ip6.map(str::to_owned),
            lease: reg::LeaseId {
                owner: "akash1owner".into(),
                dseq: 1,
                gseq: 1,
                oseq: 1,
                provider: "akash1p".into(),
                bseq: 0,
            },
            tags: vec![],
            service: None,
            weight: None,
        }
    }

    fn cidr_rule(c: &str) -> reg::Policy {
        reg::Policy {
            ingress: vec![reg::Rule {
                peers: reg::Peers::Cidrs(vec![c.into()]),
                protocol: reg::Protocol::Any,
                ports: None,
                action: reg::Action::Allow,
            }],
            egress: vec![],
        }
    }

    #[test]
    fn members_of_a_dual_stack_network_get_their_ipv6() {
        let info = network_info(&net(Some("fd00:64::/64"))).unwrap();
        assert_eq!(info.cidr6, Some("fd00:64::/64".parse().unwrap()));
        // The name the data plane answers DNS names under.
        assert_eq!(info.name, "n");
        let p = cidr_rule("fd00:64::/120");
        let m = member_info(1, info.cidr, info.cidr6, &member("100.64.0.7", None), &p).unwrap();
        assert_eq!(m.ip6, Some("fd00:64::7".parse().unwrap()));
        assert_eq!(
            m.policy.ingress[0].peers,
            PeerSelector::Cidrs(vec!["fd00:64::/120".parse().unwrap()])
        );
        // A record carrying the address the contract computed is accepted;
        // any other is refused.
        let given = member("100.64.0.7", Some("fd00:64::7"));
        assert!(member_info(1, info.cidr, info.cidr6, &given, &p).is_ok());
        let wrong = member("100.64.0.7", Some("fd00:64::8"));
        assert!(matches!(
            member_info(1, info.cidr, info.cidr6, &wrong, &p),
            Err(RecordError::MemberIp { .. })
        ));
        // Without a prefix there is no IPv6 (and a record claiming one is
        // refused).
        let v4 = network_info(&net(None)).unwrap();
        let m = member_info(1, v4.cidr, None, &member("100.64.0.7", None), &p).unwrap();
        assert_eq!(m.ip6, None);
        assert!(member_info(1, v4.cidr, None, &given, &p).is_err());
        // A prefix with host bits, or an IPv4 one, is not a cidr6.
        for bad in ["fd00:64::1/64", "100.64.0.0/24", "x"] {
            assert!(matches!(
                network_info(&net(Some(bad))),
                Err(RecordError::Cidr { .. })
            ));
        }
        // An IPv6 peer CIDR with host bits is an invalid rule.
        let bad_rule = cidr_rule("fd00:64::1/120");
        assert!(matches!(
            member_info(
                1,
                info.cidr,
                info.cidr6,
                &member("100.64.0.7", None),
                &bad_rule
            ),
            Err(RecordError::Rule { .. })
        ));
    }

    #[test]
    fn derived_ip6_is_prefix_plus_offset_within_the_prefix() {
        let cidr: Ipv4Net = "10.1.0.0/16".parse().unwrap();
        let six =
            |p: &str, ip: &str| derived_ip6(cidr, Some(p.parse().unwrap()), ip.parse().unwrap());
        assert_eq!(
            six("fd00::/64", "10.1.2.3"),
            Some("fd00::203".parse().unwrap())
        );
        // The offset must fit the prefix's host part.
        assert_eq!(six("fd00::/120", "10.1.2.3"), None);
        assert_eq!(derived_ip6(cidr, None, "10.1.2.3".parse().unwrap()), None);
    }

    /// A directory record of `addr` (relay-capable or not).
    fn dir_record(addr: &str, relay: bool) -> dir::ProviderRecord {
        dir::ProviderRecord {
            address: Addr::unchecked(addr),
            overlay_key: cosmwasm_std::Binary::from(vec![7; 32]),
            previous_key: None,
            endpoints: vec!["198.18.0.9:7000".into()],
            region: None,
            relay,
            registered_at: Timestamp::from_seconds(1),
            updated_at: Timestamp::from_seconds(1),
        }
    }

    /// Network 1 with member `m` on `akash1p`, authorizing `authorized`.
    fn snapshot(authorized: &[&str]) -> NetworkSnapshot {
        NetworkSnapshot {
            network: net(None),
            members: vec![(member("100.64.0.7", None), reg::Policy::default())],
            services: vec![],
            providers: authorized.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn relays_are_the_authorized_relay_capable_usable_providers() {
        let mut providers = BTreeMap::new();
        for (addr, relay) in [
            ("akash1relay", true),
            ("akash1plain", false),
            ("akash1uninvited", true),
        ] {
            providers.insert(addr.to_string(), Some(dir_record(addr, relay)));
        }
        let bad_key = dir::ProviderRecord {
            overlay_key: cosmwasm_std::Binary::from(vec![7; 5]),
            ..dir_record("akash1badkey", true)
        };
        let unreachable = dir::ProviderRecord {
            endpoints: vec![],
            ..dir_record("akash1unreachable", true)
        };
        providers.insert("akash1badkey".into(), Some(bad_key));
        providers.insert("akash1unreachable".into(), Some(unreachable));
        providers.insert("akash1gone".into(), None);
        let snap = snapshot(&[
            "akash1relay",
            "akash1plain",
            "akash1badkey",
            "akash1unreachable",
            "akash1gone",
            "akash1unknown",
        ]);
        // Only the authorized, relay-capable provider with a usable,
        // dialable record; `akash1uninvited` announces the capability but
        // the owner never authorized it.
        assert_eq!(relays(&snap, &providers), names(&["akash1relay"]));
        assert!(relays(&snapshot(&[]), &providers).is_empty());
    }

    #[tokio::test]
    async fn relays_are_peers_and_this_provider_never_is() {
        let local = "akash1local";
        let mut view = ChainView::default();
        view.networks
            .insert(1, snapshot(&["akash1relay", local, "akash1plain"]));
        for (addr, relay) in [
            ("akash1p", false),
            ("akash1relay", true),
            (local, true),
            ("akash1plain", false),
            ("akash1uninvited", true),
        ] {
            view.providers
                .insert(addr.to_string(), Some(dir_record(addr, relay)));
        }
        let built = build(
            &view,
            local,
            &crate::lease::Verification::Off,
            &mut VerdictCache::new(),
            &HashMap::new(),
        )
        .await
        .unwrap();
        assert!(built.rejected.is_empty(), "{:?}", built.rejected);
        // This provider relays for the network (it serves it by consent)
        // and peers with the hosting provider and the other relay.
        assert_eq!(
            built.state.networks[&1].relays,
            names(&["akash1relay", local])
        );
        assert_eq!(
            built.state.peers.keys().cloned().collect::<BTreeSet<_>>(),
            names(&["akash1p", "akash1relay"])
        );
    }
}
