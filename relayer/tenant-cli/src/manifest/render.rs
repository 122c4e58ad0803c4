//! The plan for people: one line per change (`+` add, `-` remove, `~`
//! change), member fields that change, policy rules added and removed in
//! the manifest's own rule syntax, and what happens to addresses.

use network_registry::msg::{Action, Rule};

use crate::parse::format_lease;

use super::convert::rule_out;
use super::plan::{FieldChange, MemberPlan, Plan};
use super::yaml;

/// What the plan is about: the network's name, id (when it exists) and cidr.
#[derive(Clone, Debug)]
pub struct Heading<'a> {
    /// Network name.
    pub name: &'a str,
    /// Network id, when it exists.
    pub id: Option<u64>,
    /// IPv4 network.
    pub cidr: &'a str,
}

/// The plan as text, ending with a summary line.
pub fn render(plan: &Plan, head: &Heading) -> String {
    let mut out = Vec::new();
    match head.id {
        Some(id) => out.push(format!("Network {:?} (id {id}, {})", head.name, head.cidr)),
        None => {
            out.push(format!(
                "+ network {:?} ({}) will be created by a first tx (create_network);",
                head.name, head.cidr
            ));
            out.push(
                "  the manifest is applied by a second tx (apply_manifest), since the network id is known only after creation"
                    .into(),
            );
        }
    }
    if let Some((before, after)) = plan.default_action {
        out.push(format!("~ default: {} → {}", action(before), action(after)));
    }
    if let Some((before, after)) = &plan.tags {
        let mut what: Vec<String> = after
            .iter()
            .filter(|t| !before.contains(t))
            .map(|t| format!("+{t}"))
            .chain(
                before
                    .iter()
                    .filter(|t| !after.contains(t))
                    .map(|t| format!("-{t}")),
            )
            .collect();
        if what.is_empty() {
            what.push("reordered".into());
        }
        out.push(format!(
            "~ tags: [{}] → [{}] ({})",
            join(before),
            join(after),
            what.join(", ")
        ));
    }
    for p in &plan.providers_added {
        out.push(format!("+ provider {p} authorized"));
    }
    for p in &plan.providers_removed {
        out.push(format!(
            "- provider {p} revoked (it keeps serving members it hosts)"
        ));
    }
    for m in &plan.members {
        member(m, &mut out);
    }
    for (name, participant) in &plan.participants_kept {
        out.push(format!(
            "= member {name}: participant {participant}'s member, listed unchanged: kept"
        ));
    }
    let (add, change, remove) = plan.counts();
    if plan.is_empty() {
        out.push(format!(
            "No changes: the network equals the manifest ({} members).",
            plan.unchanged
        ));
    } else {
        out.push(format!(
            "Plan: {add} member(s) to add, {change} to change, {remove} to remove, {} unchanged.",
            plan.unchanged
        ));
    }
    out.join("\n") + "\n"
}

fn member(m: &MemberPlan, out: &mut Vec<String>) {
    match m {
        MemberPlan::Add(m) => {
            let ip = match &m.ip {
                Some(ip) => format!("ip {ip} requested"),
                None => "ip allocated at apply".into(),
            };
            out.push(format!("+ member {} ({ip})", m.name));
            out.push(format!("    lease {}", format_lease(&m.lease)));
            out.push(format!(
                "    tags [{}]{}{}",
                join(&m.tags),
                m.service
                    .as_ref()
                    .map(|s| format!(", service {s}"))
                    .unwrap_or_default(),
                m.weight
                    .map(|w| format!(", weight {}", weight(Some(w))))
                    .unwrap_or_default()
            ));
            rules("ingress", &[], &m.policy.ingress, true, out);
            rules("egress", &[], &m.policy.egress, false, out);
        }
        MemberPlan::Remove {
            member,
            participant,
        } => {
            let ip = member
                .ip
                .as_ref()
                .map(|ip| format!(" (ip {ip} released)"))
                .unwrap_or_default();
            match participant {
                None => out.push(format!("- member {}{ip}", member.name)),
                Some(p) => out.push(format!(
                    "- member {}{ip}: participant {p}'s member, left out of the manifest: the contract removes it",
                    member.name
                )),
            }
        }
        MemberPlan::Change {
            name,
            ip,
            participant,
            fields,
        } => {
            let names: Vec<&str> = fields.iter().map(FieldChange::name).collect();
            let ip = ip
                .as_ref()
                .map(|ip| format!(", keeps ip {ip}"))
                .unwrap_or_default();
            let whose = participant
                .as_ref()
                .map(|p| format!(", participant {p}'s member"))
                .unwrap_or_default();
            out.push(format!("~ member {name} ({}{ip}{whose})", names.join(", ")));
            for f in fields {
                field(f, out);
            }
        }
    }
}

fn field(f: &FieldChange, out: &mut Vec<String>) {
    match f {
        FieldChange::Lease(a, b) => out.push(format!(
            "    lease: {} → {}",
            format_lease(a),
            format_lease(b)
        )),
        FieldChange::Tags(a, b) => out.push(format!("    tags: [{}] → [{}]", join(a), join(b))),
        FieldChange::Service(a, b) => out.push(format!(
            "    service: {} → {}",
            a.as_deref().unwrap_or("none"),
            b.as_deref().unwrap_or("none")
        )),
        FieldChange::Weight(a, b) => {
            out.push(format!("    weight: {} → {}", weight(*a), weight(*b)))
        }
        FieldChange::Policy(a, b) => {
            rules("ingress", &a.ingress, &b.ingress, true, out);
            rules("egress", &a.egress, &b.egress, false, out);
        }
    }
}

/// Rules removed (`-`) and added (`+`); only reordered: one line saying so.
fn rules(list: &str, before: &[Rule], after: &[Rule], ingress: bool, out: &mut Vec<String>) {
    let mut left: Vec<&Rule> = after.iter().collect();
    let mut removed = Vec::new();
    for r in before {
        match left.iter().position(|x| *x == r) {
            Some(i) => {
                left.remove(i);
            }
            None => removed.push(r),
        }
    }
    let show = |r: &Rule| yaml::rule(&rule_out(r, ingress));
    for r in &removed {
        out.push(format!("    {list} - {}", show(r)));
    }
    for r in &left {
        out.push(format!("    {list} + {}", show(r)));
    }
    if removed.is_empty() && left.is_empty() && before != after {
        out.push(format!("    {list}: rules reordered"));
    }
}

/// A replica weight: `250 ms`, or `none`.
fn weight(w: Option<u32>) -> String {
    w.map_or_else(|| "none".into(), |w| format!("{w} ms"))
}

fn action(a: Action) -> &'static str {
    match a {
        Action::Allow => "allow",
        Action::Deny => "deny",
    }
}

fn join<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| s.as_ref())
        .collect::<Vec<_>>()
        .join(", ")
}
