//! `avpn explain <network> <from> <to> [tcp/5432|udp/53|icmp|proto/47]`:
//! allow or deny, with the deciding rule on each side. The answer comes
//! from [`avpn_model::explain`], the semantics the relayer's compiled
//! firewall is property-tested against, applied to the members and
//! policies read from the chain.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use avpn_control::desired::{RecordError, member_info, network_info, verdict};
use avpn_model::{Decider, Explanation, Flow, MemberInfo, Verdict};
use clap::Args;
use network_registry::msg::{MemberResponse, NetworkResponse, Policy, QueryMsg, Rule};
use serde::Serialize;

use crate::chain::{Chain, ChainError};
use crate::output::Render;

/// `avpn explain` arguments.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Network id or name.
    pub network: String,
    /// Owner of a network given by name [default: the sender].
    #[arg(long)]
    pub owner: Option<String>,
    /// Sending member (name or overlay IPv4 address).
    #[arg(id = "sender", value_name = "FROM")]
    pub sender: String,
    /// Receiving member (name or overlay IPv4 address).
    #[arg(id = "receiver", value_name = "TO")]
    pub receiver: String,
    /// What flows: `tcp/5432`, `udp/53`, `icmp`, or `proto/47`.
    #[arg(default_value = "icmp")]
    pub flow: FlowArg,
}

/// A flow as written on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowArg(pub Flow);

/// A flow that cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid flow {0:?}: expected tcp/PORT, udp/PORT, icmp or proto/NUMBER")]
pub struct FlowParseError(String);

impl FromStr for FlowArg {
    type Err = FlowParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || FlowParseError(s.to_owned());
        let lower = s.to_ascii_lowercase();
        if lower == "icmp" {
            return Ok(FlowArg(Flow::Icmp));
        }
        let (kind, value) = lower.split_once('/').ok_or_else(bad)?;
        let flow = match kind {
            "tcp" => Flow::Tcp(value.parse().map_err(|_| bad())?),
            "udp" => Flow::Udp(value.parse().map_err(|_| bad())?),
            "proto" => match value.parse::<u8>().map_err(|_| bad())? {
                6 | 17 | 1 => return Err(bad()),
                n => Flow::Other(n),
            },
            _ => return Err(bad()),
        };
        Ok(FlowArg(flow))
    }
}

impl fmt::Display for FlowArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Flow::Tcp(p) => write!(f, "tcp/{p}"),
            Flow::Udp(p) => write!(f, "udp/{p}"),
            Flow::Icmp => write!(f, "icmp"),
            Flow::Other(n) => write!(f, "proto/{n}"),
        }
    }
}

/// Failure of `avpn explain`.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// Chain access failed (includes unknown networks and members).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The chain holds a record the relayer could not use either
    /// (including a network CIDR that is not IPv4).
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// One side of the answer, with the rule that decided it.
#[derive(Debug, Serialize)]
pub struct Side {
    /// `egress` or `ingress`.
    pub list: &'static str,
    /// Member holding the list.
    pub member: String,
    /// Verdict of this side.
    pub verdict: Verdict,
    /// The deciding rule's index in the list, when a rule decided.
    pub rule_index: Option<usize>,
    /// The deciding rule as stored on chain, when a rule decided.
    pub rule: Option<Rule>,
}

/// The whole answer.
#[derive(Debug, Serialize)]
pub struct Answer {
    /// Network id.
    pub network: u64,
    /// Sender name.
    pub from: String,
    /// Receiver name.
    pub to: String,
    /// The flow explained.
    pub flow: String,
    /// Allow iff both sides allow.
    pub verdict: Verdict,
    /// Sender's egress.
    pub egress: Side,
    /// Receiver's ingress.
    pub ingress: Side,
}

/// Builds the answer from the chain records of both members.
pub fn answer(
    network: &NetworkResponse,
    from: (&MemberResponse, &Policy),
    to: (&MemberResponse, &Policy),
    flow: FlowArg,
) -> Result<Answer, ExplainError> {
    let info = network_info(network)?;
    let (cidr, cidr6) = (info.cidr, info.cidr6);
    let a: MemberInfo = member_info(network.id, cidr, cidr6, from.0, from.1)?;
    let b: MemberInfo = member_info(network.id, cidr, cidr6, to.0, to.1)?;
    let e: Explanation = avpn_model::explain(
        network.owner.as_str(),
        verdict(network.default_action),
        &a,
        &b,
        flow.0,
    );
    let side = |list: &'static str, member: &str, d: Decider, rules: &[Rule]| match d {
        Decider::Rule { index, verdict } => Side {
            list,
            member: member.to_owned(),
            verdict,
            rule_index: Some(index),
            rule: rules.get(index).cloned(),
        },
        Decider::Default(verdict) => Side {
            list,
            member: member.to_owned(),
            verdict,
            rule_index: None,
            rule: None,
        },
    };
    Ok(Answer {
        network: network.id,
        from: a.name.clone(),
        to: b.name.clone(),
        flow: flow.to_string(),
        verdict: e.verdict,
        egress: side("egress", &a.name, e.egress, &from.1.egress),
        ingress: side("ingress", &b.name, e.ingress, &to.1.ingress),
    })
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = |v: Verdict| match v {
            Verdict::Allow => "ALLOW",
            Verdict::Deny => "DENY",
        };
        writeln!(
            f,
            "{} {} -> {} on {} (network {})",
            word(self.verdict),
            self.from,
            self.to,
            self.flow,
            self.network
        )?;
        for s in [&self.egress, &self.ingress] {
            write!(f, "  {:<7} of {}: {}  ", s.list, s.member, word(s.verdict))?;
            match (&s.rule_index, &s.rule) {
                (Some(i), Some(rule)) => {
                    let json = serde_json::to_string(rule).map_err(|_| fmt::Error)?;
                    writeln!(f, "rule #{} {json}", i + 1)?;
                }
                _ => writeln!(f, "no rule matched: network default")?,
            }
        }
        Ok(())
    }
}

/// Reads a member by name or overlay address, with its policy.
async fn member(
    chain: &Chain,
    network_id: u64,
    who: &str,
) -> Result<(MemberResponse, Policy), ChainError> {
    let m: MemberResponse = match who.parse::<Ipv4Addr>() {
        Ok(ip) => {
            chain
                .query(&QueryMsg::MemberByIp {
                    network_id,
                    ip: ip.to_string(),
                })
                .await?
        }
        Err(_) => {
            chain
                .query(&QueryMsg::Member {
                    network_id,
                    name: who.to_owned(),
                })
                .await?
        }
    };
    let p: Policy = chain
        .query(&QueryMsg::Policy {
            network_id,
            name: m.name.clone(),
        })
        .await?;
    Ok((m, p))
}

/// Runs `avpn explain` in `network` against the chain.
pub async fn run(
    chain: &Chain,
    network: &NetworkResponse,
    args: &ExplainArgs,
) -> Result<Answer, ExplainError> {
    let from = member(chain, network.id, &args.sender).await?;
    let to = member(chain, network.id, &args.receiver).await?;
    answer(network, (&from.0, &from.1), (&to.0, &to.1), args.flow)
}

impl Render for Answer {
    fn human(&self) -> String {
        self.to_string().trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use cosmwasm_std::{Addr, Timestamp};
    use network_registry::msg::{Action, LeaseId, NetworkStatus, Peers, PortRange, Protocol};

    use super::*;

    #[test]
    fn flows_parse_and_bad_ones_are_typed_errors() {
        assert_eq!("tcp/5432".parse(), Ok(FlowArg(Flow::Tcp(5432))));
        assert_eq!("UDP/53".parse(), Ok(FlowArg(Flow::Udp(53))));
        assert_eq!("icmp".parse(), Ok(FlowArg(Flow::Icmp)));
        assert_eq!("proto/47".parse(), Ok(FlowArg(Flow::Other(47))));
        for bad in [
            "tcp",
            "tcp/",
            "tcp/70000",
            "sctp/1",
            "proto/6",
            "proto/x",
            "",
        ] {
            assert!(bad.parse::<FlowArg>().is_err(), "{bad}");
        }
        for s in ["tcp/5432", "udp/53", "icmp", "proto/47"] {
            assert_eq!(s.parse::<FlowArg>().unwrap().to_string(), s);
        }
    }

    fn network(default_action: Action) -> NetworkResponse {
        NetworkResponse {
            id: 7,
            owner: Addr::unchecked("owner"),
            name: "demo".into(),
            cidr: "100.64.0.0/24".into(),
            cidr6: None,
            default_action,
            tags: vec!["web".into(), "db".into()],
            start_time: None,
            end_time: None,
            status: NetworkStatus::Open,
            revision: 1,
            member_count: 2,
            created_at: Timestamp::from_seconds(0),
        }
    }

    fn member(name: &str, ip: &str, tags: &[&str]) -> MemberResponse {
        MemberResponse {
            name: name.into(),
            ip: ip.into(),
            ip6: None,
            lease: LeaseId {
                owner: "owner".into(),
                dseq: 1,
                gseq: 1,
                oseq: 1,
                provider: "p".into(),
                bseq: 0,
            },
            tags: tags.iter().map(|t| t.to_string()).collect(),
            service: None,
            weight: None,
        }
    }

    fn rule(peers: Peers, ports: Option<(u16, u16)>, action: Action) -> Rule {
        Rule {
            peers,
            protocol: Protocol::Tcp,
            ports: ports.map(|(start, end)| PortRange { start, end }),
            action,
        }
    }

    #[test]
    fn names_the_deciding_rules_and_the_default() {
        let web = member("web-1", "100.64.0.2", &["web"]);
        let db = member("db-1", "100.64.0.3", &["db"]);
        let web_p = Policy {
            ingress: vec![],
            egress: vec![rule(Peers::Tags(vec!["db".into()]), None, Action::Allow)],
        };
        let db_p = Policy {
            ingress: vec![
                rule(Peers::Any, Some((22, 22)), Action::Deny),
                rule(
                    Peers::Tags(vec!["web".into()]),
                    Some((5432, 5432)),
                    Action::Allow,
                ),
            ],
            egress: vec![],
        };
        let net = network(Action::Deny);
        let a = answer(
            &net,
            (&web, &web_p),
            (&db, &db_p),
            "tcp/5432".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(a.verdict, Verdict::Allow);
        assert_eq!(a.egress.rule_index, Some(0));
        assert_eq!(a.ingress.rule_index, Some(1));
        assert_eq!(a.ingress.rule.as_ref(), Some(&db_p.ingress[1]));
        let text = a.to_string();
        assert!(
            text.starts_with("ALLOW web-1 -> db-1 on tcp/5432"),
            "{text}"
        );
        assert!(text.contains("rule #2"), "{text}");
        // port 22: the ingress deny decides
        let a = answer(
            &net,
            (&web, &web_p),
            (&db, &db_p),
            "tcp/22".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(a.verdict, Verdict::Deny);
        assert_eq!(a.ingress.rule_index, Some(0));
        assert_eq!(a.ingress.verdict, Verdict::Deny);
        // the other way: no rules, the network default on both sides
        let a = answer(
            &net,
            (&db, &db_p),
            (&web, &web_p),
            "tcp/80".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(a.verdict, Verdict::Deny);
        assert!(a.egress.rule.is_none() && a.ingress.rule.is_none());
        assert!(a.to_string().contains("no rule matched: network default"));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(json["egress"]["verdict"], "Deny");
    }

    #[test]
    fn a_bad_record_is_a_typed_error() {
        let web = member("web-1", "10.0.0.1", &["web"]);
        let db = member("db-1", "100.64.0.3", &["db"]);
        let p = Policy::default();
        let err = answer(
            &network(Action::Allow),
            (&web, &p),
            (&db, &p),
            FlowArg(Flow::Icmp),
        )
        .unwrap_err();
        assert!(
            matches!(err, ExplainError::Record(RecordError::MemberIp { .. })),
            "{err}"
        );
    }
}
