//! The diff between the network on chain and a manifest, as a pure
//! function: what `apply_manifest` will do, and what the contract would
//! refuse (found before sending anything). Comparisons follow the contract:
//! tag lists and rule lists compare in order, providers as a set; a member
//! that stays keeps its address.

use std::collections::{BTreeMap, BTreeSet};

use network_registry::msg::{Action, LeaseId, Manifest, ManifestMember, NetworkResponse, Policy};

use super::convert::Desired;

/// What applying a manifest changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The network does not exist yet and is created first.
    pub create: bool,
    /// Default action (before, after).
    pub default_action: Option<(Action, Action)>,
    /// Tag vocabulary (before, after).
    pub tags: Option<(Vec<String>, Vec<String>)>,
    /// Providers to authorize, sorted.
    pub providers_added: Vec<String>,
    /// Providers whose authorization is revoked, sorted.
    pub providers_removed: Vec<String>,
    /// Changed members, by name.
    pub members: Vec<MemberPlan>,
    /// Members listed unchanged.
    pub unchanged: usize,
    /// Participants' members listed unchanged (name, participant): kept.
    pub participants_kept: Vec<(String, String)>,
}

/// One member's change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberPlan {
    /// A new member (its `ip` requested, or `None`: allocated at apply).
    Add(ManifestMember),
    /// A member left out of the manifest (its address is released).
    Remove {
        /// The member as on chain.
        member: ManifestMember,
        /// The participant who added it, when not the network owner.
        participant: Option<String>,
    },
    /// A member that stays, keeping `ip`.
    Change {
        /// Member name.
        name: String,
        /// Its address, kept.
        ip: Option<String>,
        /// The participant who added it, when not the network owner.
        participant: Option<String>,
        /// What changes.
        fields: Vec<FieldChange>,
    },
}

/// A changed field of a member (before, after).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldChange {
    /// Rebind to another lease (same owner).
    Lease(LeaseId, LeaseId),
    /// Tags.
    Tags(Vec<String>, Vec<String>),
    /// Service.
    Service(Option<String>, Option<String>),
    /// Replica weight in milliseconds (`None`: none).
    Weight(Option<u32>, Option<u32>),
    /// Firewall policy.
    Policy(Policy, Policy),
}

impl FieldChange {
    /// The field's name.
    pub fn name(&self) -> &'static str {
        match self {
            FieldChange::Lease(..) => "lease",
            FieldChange::Tags(..) => "tags",
            FieldChange::Service(..) => "service",
            FieldChange::Weight(..) => "weight",
            FieldChange::Policy(..) => "policy",
        }
    }
}

/// Something the contract would refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// A new member on a lease not owned by the network owner.
    #[error(
        "member {name:?}: a new member's lease must be owned by the network owner {owner}, not {lease_owner}"
    )]
    NewMemberOwner {
        /// Member.
        name: String,
        /// Its lease owner.
        lease_owner: String,
        /// The network owner.
        owner: String,
    },
    /// A member moved to a lease of another owner.
    #[error(
        "member {name:?}: its lease owner cannot change ({from} → {to}); remove it and add a new member"
    )]
    LeaseOwner {
        /// Member.
        name: String,
        /// Current lease owner.
        from: String,
        /// Manifest's lease owner.
        to: String,
    },
    /// A participant's member with changed lease, tags, service or weight.
    #[error(
        "member {name:?} belongs to participant {participant}: list it unchanged ({fields} differ) or leave it out to remove it"
    )]
    ParticipantMember {
        /// Member.
        name: String,
        /// Its participant.
        participant: String,
        /// The differing fields.
        fields: String,
    },
    /// A member that stays asks for another address.
    #[error(
        "member {name:?} has ip {current}; a member keeps its address (manifest asks {requested})"
    )]
    IpMismatch {
        /// Member.
        name: String,
        /// Manifest's address.
        requested: String,
        /// Current address.
        current: String,
    },
    /// A new member asks for the address of a member that stays.
    #[error("member {name:?} asks for ip {ip}, which member {holder:?} keeps")]
    IpTaken {
        /// Member.
        name: String,
        /// Address.
        ip: String,
        /// The member holding it.
        holder: String,
    },
    /// The network's CIDR differs.
    #[error(
        "{field} is fixed at creation: the network has {current}, the manifest says {requested}"
    )]
    Cidr {
        /// `cidr` or `cidr6`.
        field: &'static str,
        /// On chain.
        current: String,
        /// In the manifest.
        requested: String,
    },
    /// A new network needs a CIDR.
    #[error("network {0:?} does not exist: give `cidr:` (e.g. 100.64.0.0/24) to create it")]
    NoCidr(String),
    /// Named by name and id, which disagree.
    #[error("network {id} is named {actual:?}, the manifest says {named:?}")]
    Name {
        /// Id.
        id: u64,
        /// Name on chain.
        actual: String,
        /// Name in the manifest.
        named: String,
    },
}

/// The conflicts of a plan, one a line.
#[derive(Debug, thiserror::Error)]
#[error("the contract would refuse this manifest:\n{}", .0.iter().map(|c| format!("  - {c}")).collect::<Vec<_>>().join("\n"))]
pub struct Conflicts(pub Vec<Conflict>);

/// Checks the network-level fields the manifest cannot change.
pub fn check_network(
    existing: Option<&NetworkResponse>,
    desired: &Desired,
) -> Result<(), Conflicts> {
    let mut out = Vec::new();
    match existing {
        Some(net) => {
            if let Some(named) = &desired.name
                && *named != net.name
            {
                out.push(Conflict::Name {
                    id: net.id,
                    actual: net.name.clone(),
                    named: named.clone(),
                });
            }
            for (field, current, requested) in [
                ("cidr", Some(&net.cidr), &desired.cidr),
                ("cidr6", net.cidr6.as_ref(), &desired.cidr6),
            ] {
                if let Some(r) = requested
                    && Some(r) != current
                {
                    out.push(Conflict::Cidr {
                        field,
                        current: current.cloned().unwrap_or_else(|| "none".into()),
                        requested: r.clone(),
                    });
                }
            }
        }
        None if desired.cidr.is_none() => {
            out.push(Conflict::NoCidr(desired.name.clone().unwrap_or_default()))
        }
        None => {}
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(Conflicts(out))
    }
}

/// The plan that makes `current` (the chain's export, `None` when the
/// network does not exist) equal to `desired`, for a network owned by `owner`.
pub fn plan(
    current: Option<&Manifest>,
    desired: &Manifest,
    owner: &str,
) -> Result<Plan, Conflicts> {
    let empty = Manifest {
        default_action: Action::Deny,
        tags: vec![],
        providers: vec![],
        members: vec![],
    };
    let mut plan = Plan {
        create: current.is_none(),
        ..Plan::default()
    };
    let current = current.unwrap_or(&empty);
    if current.default_action != desired.default_action {
        plan.default_action = Some((current.default_action, desired.default_action));
    }
    if current.tags != desired.tags {
        plan.tags = Some((current.tags.clone(), desired.tags.clone()));
    }
    let have: BTreeSet<&String> = current.providers.iter().collect();
    let want: BTreeSet<&String> = desired.providers.iter().collect();
    plan.providers_added = want.difference(&have).map(|p| (*p).clone()).collect();
    plan.providers_removed = have.difference(&want).map(|p| (*p).clone()).collect();

    let now: BTreeMap<&str, &ManifestMember> = current
        .members
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();
    let next: BTreeMap<&str, &ManifestMember> = desired
        .members
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();
    let participant = |m: &ManifestMember| (m.lease.owner != owner).then(|| m.lease.owner.clone());
    // Addresses held after apply by members that stay.
    let kept_ips: BTreeMap<&str, &str> = now
        .values()
        .filter(|m| next.contains_key(m.name.as_str()))
        .filter_map(|m| Some((m.ip.as_deref()?, m.name.as_str())))
        .collect();
    let mut conflicts = Vec::new();
    let names: BTreeSet<&str> = now.keys().chain(next.keys()).copied().collect();
    for name in names {
        match (now.get(name), next.get(name)) {
            (Some(m), None) => plan.members.push(MemberPlan::Remove {
                member: (*m).clone(),
                participant: participant(m),
            }),
            (None, Some(m)) => {
                if m.lease.owner != owner {
                    conflicts.push(Conflict::NewMemberOwner {
                        name: name.to_owned(),
                        lease_owner: m.lease.owner.clone(),
                        owner: owner.to_owned(),
                    });
                }
                if let Some(ip) = &m.ip
                    && let Some(holder) = kept_ips.get(ip.as_str())
                {
                    conflicts.push(Conflict::IpTaken {
                        name: name.to_owned(),
                        ip: ip.clone(),
                        holder: (*holder).to_owned(),
                    });
                }
                plan.members.push(MemberPlan::Add((*m).clone()));
            }
            (Some(old), Some(new)) => {
                let fields = member_changes(old, new);
                conflicts.extend(member_conflicts(old, new, participant(old), &fields));
                if fields.is_empty() {
                    plan.unchanged += 1;
                    if let Some(p) = participant(old) {
                        plan.participants_kept.push((name.to_owned(), p));
                    }
                } else {
                    plan.members.push(MemberPlan::Change {
                        name: name.to_owned(),
                        ip: old.ip.clone(),
                        participant: participant(old),
                        fields,
                    });
                }
            }
            (None, None) => {}
        }
    }
    if conflicts.is_empty() {
        Ok(plan)
    } else {
        Err(Conflicts(conflicts))
    }
}

fn member_changes(old: &ManifestMember, new: &ManifestMember) -> Vec<FieldChange> {
    let mut fields = Vec::new();
    if old.lease != new.lease {
        fields.push(FieldChange::Lease(old.lease.clone(), new.lease.clone()));
    }
    if old.tags != new.tags {
        fields.push(FieldChange::Tags(old.tags.clone(), new.tags.clone()));
    }
    if old.service != new.service {
        fields.push(FieldChange::Service(
            old.service.clone(),
            new.service.clone(),
        ));
    }
    if old.weight != new.weight {
        fields.push(FieldChange::Weight(old.weight, new.weight));
    }
    if old.policy != new.policy {
        fields.push(FieldChange::Policy(old.policy.clone(), new.policy.clone()));
    }
    fields
}

fn member_conflicts(
    old: &ManifestMember,
    new: &ManifestMember,
    participant: Option<String>,
    fields: &[FieldChange],
) -> Vec<Conflict> {
    let mut out = Vec::new();
    if let (Some(requested), Some(current)) = (&new.ip, &old.ip)
        && requested != current
    {
        out.push(Conflict::IpMismatch {
            name: new.name.clone(),
            requested: requested.clone(),
            current: current.clone(),
        });
    }
    if old.lease.owner != new.lease.owner {
        out.push(Conflict::LeaseOwner {
            name: new.name.clone(),
            from: old.lease.owner.clone(),
            to: new.lease.owner.clone(),
        });
    } else if let Some(participant) = participant {
        let fixed: Vec<&str> = fields
            .iter()
            .filter(|f| !matches!(f, FieldChange::Policy(..)))
            .map(FieldChange::name)
            .collect();
        if !fixed.is_empty() {
            out.push(Conflict::ParticipantMember {
                name: new.name.clone(),
                participant,
                fields: fixed.join(", "),
            });
        }
    }
    out
}

impl Plan {
    /// True when applying changes nothing.
    pub fn is_empty(&self) -> bool {
        !self.create
            && self.default_action.is_none()
            && self.tags.is_none()
            && self.providers_added.is_empty()
            && self.providers_removed.is_empty()
            && self.members.is_empty()
    }

    /// `current` with the plan's changes made (members by name, providers
    /// sorted; a new member's `ip` is what it requested).
    pub fn apply_to(&self, current: &Manifest) -> Manifest {
        let mut out = current.clone();
        if let Some((_, after)) = self.default_action {
            out.default_action = after;
        }
        if let Some((_, after)) = &self.tags {
            out.tags = after.clone();
        }
        let mut providers: BTreeSet<String> = out.providers.into_iter().collect();
        providers.retain(|p| !self.providers_removed.contains(p));
        providers.extend(self.providers_added.iter().cloned());
        out.providers = providers.into_iter().collect();
        let mut members: BTreeMap<String, ManifestMember> = out
            .members
            .into_iter()
            .map(|m| (m.name.clone(), m))
            .collect();
        for change in &self.members {
            match change {
                MemberPlan::Add(m) => {
                    members.insert(m.name.clone(), m.clone());
                }
                MemberPlan::Remove { member, .. } => {
                    members.remove(&member.name);
                }
                MemberPlan::Change { name, fields, .. } => {
                    if let Some(m) = members.get_mut(name) {
                        for f in fields {
                            match f {
                                FieldChange::Lease(_, l) => m.lease = l.clone(),
                                FieldChange::Tags(_, t) => m.tags = t.clone(),
                                FieldChange::Service(_, s) => m.service = s.clone(),
                                FieldChange::Weight(_, w) => m.weight = *w,
                                FieldChange::Policy(_, p) => m.policy = p.clone(),
                            }
                        }
                    }
                }
            }
        }
        out.members = members.into_values().collect();
        out
    }

    /// Counts of added, changed and removed members.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for m in &self.members {
            match m {
                MemberPlan::Add(_) => c.0 += 1,
                MemberPlan::Change { .. } => c.1 += 1,
                MemberPlan::Remove { .. } => c.2 += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use network_registry::msg::{Peers, PortRange, Protocol, Rule};

    use super::*;
    use crate::manifest::convert::tests::{addr, network};
    use crate::manifest::render::{Heading, render};

    fn member(name: &str, owner: u8, ip: Option<&str>) -> ManifestMember {
        ManifestMember {
            name: name.into(),
            lease: LeaseId {
                owner: addr(owner),
                dseq: 1,
                gseq: 1,
                oseq: 1,
                provider: addr(9),
                bseq: 0,
            },
            tags: vec!["web".into()],
            service: None,
            ip: ip.map(String::from),
            policy: Policy::default(),
            weight: None,
        }
    }

    fn allow_tcp(port: u16) -> Rule {
        Rule {
            peers: Peers::Tags(vec!["web".into()]),
            protocol: Protocol::Tcp,
            ports: Some(PortRange {
                start: port,
                end: port,
            }),
            action: Action::Allow,
        }
    }

    fn net(members: Vec<ManifestMember>) -> Manifest {
        Manifest {
            default_action: Action::Deny,
            tags: vec!["web".into()],
            providers: vec![addr(9)],
            members,
        }
    }

    const HEAD: Heading = Heading {
        name: "demo",
        id: Some(7),
        cidr: "100.64.0.0/24",
    };

    #[test]
    fn lists_each_kind_of_change() {
        let owner = addr(1);
        let mut db = member("db", 1, Some("100.64.0.10"));
        let current = net(vec![
            member("web-1", 1, Some("100.64.0.2")),
            db.clone(),
            member("old", 1, Some("100.64.0.3")),
            member("partner", 3, Some("100.64.0.4")),
            member("friend", 3, Some("100.64.0.5")),
        ]);
        db.ip = None;
        db.tags = vec![];
        db.service = Some("pg".into());
        db.policy.ingress = vec![allow_tcp(5432)];
        let mut desired = net(vec![
            member("web-1", 1, None),
            db,
            member("new", 1, None),
            member("friend", 3, Some("100.64.0.5")),
        ]);
        desired.default_action = Action::Allow;
        desired.tags = vec!["web".into(), "db".into()];
        desired.providers = vec![addr(8)];
        let p = plan(Some(&current), &desired, &owner).unwrap();
        assert!(!p.create && !p.is_empty());
        assert_eq!(p.counts(), (1, 1, 2));
        assert_eq!(p.unchanged, 2);
        assert_eq!(p.participants_kept, vec![("friend".into(), addr(3))]);
        let text = render(&p, &HEAD);
        for want in [
            "Network \"demo\" (id 7, 100.64.0.0/24)",
            "~ default: deny → allow",
            "~ tags: [web] → [web, db] (+db)",
            &format!("+ provider {} authorized", addr(8)),
            &format!("- provider {} revoked", addr(9)),
            "+ member new (ip allocated at apply)",
            "- member old (ip 100.64.0.3 released)",
            &format!(
                "- member partner (ip 100.64.0.4 released): participant {}'s member, left out of the manifest: the contract removes it",
                addr(3)
            ),
            "~ member db (tags, service, policy, keeps ip 100.64.0.10)",
            "    tags: [web] → []",
            "    service: none → pg",
            "    ingress + {from: {tags: [web]}, tcp: 5432, action: allow}",
            &format!(
                "= member friend: participant {}'s member, listed unchanged: kept",
                addr(3)
            ),
            "Plan: 1 member(s) to add, 1 to change, 2 to remove, 2 unchanged.",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn same_state_is_no_change_and_a_new_network_is_created() {
        let m = net(vec![member("a", 1, Some("100.64.0.2"))]);
        let p = plan(Some(&m), &m, &addr(1)).unwrap();
        assert!(p.is_empty());
        assert!(
            render(&p, &HEAD).contains("No changes: the network equals the manifest (1 members).")
        );
        let p = plan(None, &m, &addr(1)).unwrap();
        assert!(p.create);
        let text = render(&p, &Heading { id: None, ..HEAD });
        assert!(
            text.contains("will be created by a first tx (create_network)"),
            "{text}"
        );
        assert!(
            text.contains("+ member a (ip 100.64.0.2 requested)"),
            "{text}"
        );
    }

    #[test]
    fn rule_changes_are_added_and_removed_lines() {
        let mut a = member("a", 1, Some("100.64.0.2"));
        a.policy.egress = vec![allow_tcp(1), allow_tcp(2)];
        let mut b = a.clone();
        b.policy.egress = vec![allow_tcp(2), allow_tcp(3)];
        let p = plan(Some(&net(vec![a.clone()])), &net(vec![b]), &addr(1)).unwrap();
        let text = render(&p, &HEAD);
        assert!(
            text.contains("    egress - {to: {tags: [web]}, tcp: 1, action: allow}"),
            "{text}"
        );
        assert!(
            text.contains("    egress + {to: {tags: [web]}, tcp: 3, action: allow}"),
            "{text}"
        );
        assert!(!text.contains("tcp: 2,"), "{text}");
        let mut c = a.clone();
        c.policy.egress.reverse();
        let p = plan(Some(&net(vec![a])), &net(vec![c]), &addr(1)).unwrap();
        assert!(render(&p, &HEAD).contains("    egress: rules reordered"));
    }

    #[test]
    fn a_weight_change_is_planned_and_shown() {
        let light = member("a", 1, Some("100.64.0.2"));
        let mut heavy = light.clone();
        heavy.weight = Some(250);
        let p = plan(
            Some(&net(vec![light.clone()])),
            &net(vec![heavy.clone()]),
            &addr(1),
        )
        .unwrap();
        assert_eq!(
            p.members,
            vec![MemberPlan::Change {
                name: "a".into(),
                ip: Some("100.64.0.2".into()),
                participant: None,
                fields: vec![FieldChange::Weight(None, Some(250))],
            }]
        );
        assert_eq!(
            p.apply_to(&net(vec![light.clone()])),
            net(vec![heavy.clone()])
        );
        let text = render(&p, &HEAD);
        for want in [
            "~ member a (weight, keeps ip 100.64.0.2)",
            "    weight: none → 250 ms",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        let p = plan(Some(&net(vec![heavy])), &net(vec![light]), &addr(1)).unwrap();
        assert!(render(&p, &HEAD).contains("    weight: 250 ms → none"));
        // A new member shows its weight.
        let mut new = member("new", 1, None);
        new.weight = Some(40);
        let p = plan(Some(&net(vec![])), &net(vec![new]), &addr(1)).unwrap();
        let text = render(&p, &HEAD);
        assert!(text.contains("    tags [web], weight 40 ms"), "{text}");
        // A participant's member keeps its weight.
        let theirs = member("theirs", 3, Some("100.64.0.3"));
        let mut lighter = theirs.clone();
        lighter.weight = Some(1);
        let Conflicts(found) =
            plan(Some(&net(vec![theirs])), &net(vec![lighter]), &addr(1)).unwrap_err();
        assert_eq!(
            found,
            vec![Conflict::ParticipantMember {
                name: "theirs".into(),
                participant: addr(3),
                fields: "weight".into()
            }]
        );
    }

    #[test]
    fn finds_what_the_contract_refuses() {
        let current = net(vec![
            member("own", 1, Some("100.64.0.2")),
            member("theirs", 3, Some("100.64.0.3")),
        ]);
        let mut theirs = member("theirs", 3, None);
        theirs.tags = vec![];
        let mut own = member("own", 1, Some("100.64.0.9"));
        own.lease.owner = addr(4);
        let desired = net(vec![
            own,
            theirs,
            member("stranger", 5, None),
            member("squatter", 1, Some("100.64.0.3")),
        ]);
        let Conflicts(found) = plan(Some(&current), &desired, &addr(1)).unwrap_err();
        assert_eq!(
            found,
            vec![
                Conflict::IpMismatch {
                    name: "own".into(),
                    requested: "100.64.0.9".into(),
                    current: "100.64.0.2".into()
                },
                Conflict::LeaseOwner {
                    name: "own".into(),
                    from: addr(1),
                    to: addr(4)
                },
                Conflict::IpTaken {
                    name: "squatter".into(),
                    ip: "100.64.0.3".into(),
                    holder: "theirs".into()
                },
                Conflict::NewMemberOwner {
                    name: "stranger".into(),
                    lease_owner: addr(5),
                    owner: addr(1)
                },
                Conflict::ParticipantMember {
                    name: "theirs".into(),
                    participant: addr(3),
                    fields: "tags".into()
                },
            ]
        );
        // A participant's member may get a new policy from the owner.
        let mut repolicied = member("theirs", 3, None);
        repolicied.policy.ingress = vec![allow_tcp(80)];
        let ok = plan(
            Some(&current),
            &net(vec![member("own", 1, None), repolicied]),
            &addr(1),
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn network_fields_the_manifest_cannot_change() {
        let desired = Desired {
            name: Some("demo".into()),
            id: None,
            cidr: Some("100.64.1.0/24".into()),
            cidr6: None,
            manifest: net(vec![]),
        };
        let network = network(7, "other");
        let Conflicts(found) = check_network(Some(&network), &desired).unwrap_err();
        assert_eq!(found.len(), 2);
        assert!(check_network(None, &desired).is_ok());
        let no_cidr = Desired {
            cidr: None,
            ..desired
        };
        let e = check_network(None, &no_cidr).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the contract would refuse this manifest:\n  - network \"demo\" does not exist: give `cidr:` (e.g. 100.64.0.0/24) to create it"
        );
    }
}
