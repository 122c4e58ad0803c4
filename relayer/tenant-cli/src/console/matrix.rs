//! One cell of the policy matrix: everything the sender may send the
//! receiver, as port segments of constant outcome, each with the rules
//! that decide it.
//!
//! A cell is computed from the point-wise [`avpn_model::explain`] (the
//! semantics the data plane is tested against): the only ports
//! where an outcome can change are the bounds of the two lists' rules, so
//! probing the first port of every elementary interval between those bounds
//! covers all 65,535 ports of TCP and UDP exactly.

use avpn_model::{
    Decider, Explanation, Flow, MemberInfo, PortRange, Protocol, Rule, Verdict, explain,
};
use serde::Serialize;

/// The IP protocol number probed for "other protocols" (GRE): rules tell
/// other protocols apart from nothing but TCP, UDP and ICMP, so one number
/// stands for all of them.
const OTHER_PROTOCOL: u8 = 47;

/// Overall outcome of a cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    /// Every protocol and port is allowed.
    Allow,
    /// Nothing is allowed.
    Deny,
    /// Some protocols or ports are allowed.
    Partial,
}

/// A protocol (and for TCP/UDP a port range) with one outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// `tcp`, `udp`, `icmp` or `other`.
    pub protocol: &'static str,
    /// Inclusive destination port range (TCP and UDP only).
    pub ports: Option<(u16, u16)>,
    /// The outcome and the deciding rules.
    pub explanation: Explanation,
    /// The sender's deciding egress rule as text (`None`: the default).
    pub egress_rule: Option<String>,
    /// The receiver's deciding ingress rule as text (`None`: the default).
    pub ingress_rule: Option<String>,
}

/// One sender → receiver cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// Overall outcome.
    pub state: CellState,
    /// What is allowed, e.g. `tcp 5432, icmp`; `nothing` or `everything`.
    pub summary: String,
    /// Every protocol and port, in segments of constant outcome.
    pub segments: Vec<Segment>,
}

/// The network facts a cell needs.
#[derive(Clone, Copy, Debug)]
pub struct NetworkPolicy<'a> {
    /// Owner of the network.
    pub owner: &'a str,
    /// Its default verdict.
    pub default: Verdict,
}

/// Port bounds where the outcome for protocol `p` may change.
fn bounds(lists: [&[Rule]; 2], p: Protocol) -> Vec<u32> {
    let mut points = vec![1u32];
    for r in lists.iter().flat_map(|l| l.iter()) {
        if r.protocol == p || r.protocol == Protocol::Any {
            points.push(u32::from(r.ports.start()).max(1));
            points.push(u32::from(r.ports.end()) + 1);
        }
    }
    points.retain(|&x| x <= u32::from(u16::MAX));
    points.sort_unstable();
    points.dedup();
    points
}

fn ported(
    net: NetworkPolicy<'_>,
    from: &MemberInfo,
    to: &MemberInfo,
    name: &'static str,
    p: Protocol,
    probe: fn(u16) -> Flow,
    out: &mut Vec<Segment>,
) {
    let points = bounds([&from.policy.egress, &to.policy.ingress], p);
    let first = out.len();
    for (i, &start) in points.iter().enumerate() {
        let end = points
            .get(i + 1)
            .map_or(u16::MAX, |&next| (next - 1) as u16);
        let start = start as u16;
        let explanation = explain(net.owner, net.default, from, to, probe(start));
        match out[first..].last_mut() {
            Some(prev) if prev.explanation == explanation => {
                if let Some(ports) = prev.ports.as_mut() {
                    ports.1 = end;
                }
            }
            _ => out.push(Segment {
                protocol: name,
                ports: Some((start, end)),
                explanation,
                egress_rule: None,
                ingress_rule: None,
            }),
        }
    }
}

fn ports_text(ports: Option<(u16, u16)>) -> String {
    match ports {
        Some((1, u16::MAX)) | None => String::new(),
        Some((a, b)) if a == b => format!(" {a}"),
        Some((a, b)) => format!(" {a}-{b}"),
    }
}

/// Computes the cell `from` → `to`.
pub fn cell(net: NetworkPolicy<'_>, from: &MemberInfo, to: &MemberInfo) -> Cell {
    let mut segments = Vec::new();
    ported(
        net,
        from,
        to,
        "tcp",
        Protocol::Tcp,
        Flow::Tcp,
        &mut segments,
    );
    ported(
        net,
        from,
        to,
        "udp",
        Protocol::Udp,
        Flow::Udp,
        &mut segments,
    );
    for (name, probe) in [("icmp", Flow::Icmp), ("other", Flow::Other(OTHER_PROTOCOL))] {
        segments.push(Segment {
            protocol: name,
            ports: None,
            explanation: explain(net.owner, net.default, from, to, probe),
            egress_rule: None,
            ingress_rule: None,
        });
    }
    let text = |list: &[Rule], d: Decider, ingress: bool| match d {
        Decider::Rule { index, .. } => list.get(index).map(|r| rule_text(r, ingress)),
        Decider::Default(_) => None,
    };
    for s in &mut segments {
        s.egress_rule = text(&from.policy.egress, s.explanation.egress, false);
        s.ingress_rule = text(&to.policy.ingress, s.explanation.ingress, true);
    }
    let allowed: Vec<&Segment> = segments
        .iter()
        .filter(|s| s.explanation.verdict == Verdict::Allow)
        .collect();
    let (state, summary) = if allowed.is_empty() {
        (CellState::Deny, "nothing".to_string())
    } else if allowed.len() == segments.len() {
        (CellState::Allow, "everything".to_string())
    } else {
        let parts: Vec<String> = allowed
            .iter()
            .map(|s| format!("{}{}", s.protocol, ports_text(s.ports)))
            .collect();
        (CellState::Partial, parts.join(", "))
    };
    Cell {
        state,
        summary,
        segments,
    }
}

/// A rule as one line, e.g. `allow tcp 5432 from tags web`.
pub fn rule_text(rule: &Rule, ingress: bool) -> String {
    use avpn_model::PeerSelector as P;
    let verdict = match rule.verdict {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
    };
    let protocol = match rule.protocol {
        Protocol::Any => "any",
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Icmp => "icmp",
    };
    let ports = if rule.ports == PortRange::ALL {
        String::new()
    } else {
        ports_text(Some((rule.ports.start(), rule.ports.end())))
    };
    let join = |v: Vec<String>| v.join(",");
    let peers = match &rule.peers {
        P::Any => "any member".to_string(),
        P::Members(names) => format!("members {}", join(names.iter().cloned().collect())),
        P::Tags(tags) => format!("tags {}", join(tags.iter().cloned().collect())),
        P::Services(names) => format!("services {}", join(names.iter().cloned().collect())),
        P::Cidrs(nets) => format!(
            "cidrs {}",
            join(nets.iter().map(|n| n.to_string()).collect())
        ),
    };
    let dir = if ingress { "from" } else { "to" };
    format!("{verdict} {protocol}{ports} {dir} {peers}")
}
