//! The subcommands: [`network`], [`member`], [`provider`] and
//! [`config_cmd`], plus what they share: the [`Ctx`] of global flags,
//! the [`CliError`] every command returns, network lookup by id or name,
//! and the report of a sent (or only generated) tx.

pub mod config_cmd;
pub mod member;
pub mod network;
pub mod provider;

use std::collections::BTreeMap;

use network_registry::msg::{ExecuteMsg, NetworkResponse, NetworkStatus, QueryMsg};
use serde::Serialize;

use avpn_control::tx::TxError;

use crate::chain::{Chain, ChainError, KeyArgs, Submitted, UnsignedTx};
use crate::config::{ChainArgs, ConfigError};
use crate::output::{self, OutputError, OutputFormat, Render};
use crate::parse::ParseError;

/// Global flags every command sees.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Chain settings (flags and environment).
    pub chain: ChainArgs,
    /// Key flags.
    pub keys: KeyArgs,
    /// `-o`.
    pub output: OutputFormat,
    /// Names of the chain settings whose value came from an environment
    /// variable rather than a flag.
    pub from_env: Vec<&'static str>,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Settings missing or config file bad.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Chain, query or tx failure.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// Input not understood.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Printing failed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// `avpn invite` failed.
    #[error(transparent)]
    Invite(#[from] crate::invite::InviteError),
    /// `avpn plan`, `apply` or `export` failed.
    #[error(transparent)]
    Manifest(#[from] crate::manifest::CommandError),
    /// `avpn console` failed.
    #[error(transparent)]
    Console(#[from] crate::console::ConsoleError),
    /// `avpn explain` failed.
    #[error(transparent)]
    Explain(#[from] crate::explain::ExplainError),
    /// No network of that owner has that name.
    #[error("{owner} has no network named {name:?}")]
    NoSuchNetwork {
        /// Owner searched.
        owner: String,
        /// Name asked for.
        name: String,
    },
    /// Several closed networks share the name and none is open.
    #[error("{owner} has several closed networks named {name:?} (ids {ids}); give the id")]
    AmbiguousName {
        /// Owner searched.
        owner: String,
        /// Name asked for.
        name: String,
        /// Candidate ids, comma-separated.
        ids: String,
    },
    /// A network name without an owner to look it up under.
    #[error(
        "a network name is looked up among its owner's networks: pass --owner <address>, a key (--mnemonic-file), or --from <address>; or give the network id"
    )]
    NoOwner,
    /// The registry refused the message (the contract's error).
    #[error("the registry refused the message: {reason}{hint}")]
    Refused {
        /// The contract's error text.
        reason: String,
        /// A hint for common refusals (or empty).
        hint: &'static str,
    },
    /// An update that changes nothing.
    #[error("nothing to update: give --default, --tags, --start, --end or --for")]
    NothingToUpdate,
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Ctx {
    /// Resolves the settings and connects to the node.
    pub async fn connect(&self) -> Result<Chain, CliError> {
        Ok(Chain::connect(self.chain.resolve()?).await?)
    }

    /// `owner`, or else the sender (`--from` or the key's address).
    pub fn owner_or_sender(&self, chain: &Chain, owner: Option<&str>) -> Result<String, CliError> {
        match owner {
            Some(o) => Ok(o.to_owned()),
            None => chain.sender(&self.keys).map_err(|e| match e {
                ChainError::NoKey => CliError::NoOwner,
                other => other.into(),
            }),
        }
    }

    /// A network named by id (all digits) or by name of `owner` (default:
    /// the sender). A name picks the owner's open network of that name,
    /// else the only closed one.
    pub async fn find_network(
        &self,
        chain: &Chain,
        reference: &str,
        owner: Option<&str>,
    ) -> Result<NetworkResponse, CliError> {
        if reference.bytes().all(|c| c.is_ascii_digit())
            && let Ok(network_id) = reference.parse()
        {
            return Ok(chain.query(&QueryMsg::Network { network_id }).await?);
        }
        let owner = self.owner_or_sender(chain, owner)?;
        by_name(chain, reference, &owner).await
    }

    /// Prints `value` in the chosen format.
    pub fn emit<R: Render + ?Sized>(&self, value: &R) -> Result<(), CliError> {
        Ok(output::emit(self.output, value)?)
    }

    /// Sends `msgs` (or only generates them) and prints what happened,
    /// with the attributes of the registry's `wasm-<action>` events.
    pub async fn send(&self, chain: &Chain, msgs: &[ExecuteMsg]) -> Result<(), CliError> {
        let submitted = chain.submit(&self.keys, msgs).await.map_err(refused)?;
        match submitted {
            Submitted::Included(outcome) => {
                let report = TxReport {
                    tx_hash: outcome.hash.clone(),
                    height: outcome.height,
                    gas_used: outcome.gas_used,
                    events: wasm_events(&outcome.events),
                };
                self.emit(&report)
            }
            Submitted::Generated {
                unsigned_tx,
                commands,
            } => self.emit(&Generated {
                commands,
                unsigned_tx,
            }),
        }
    }
}

/// A contract error as [`CliError::Refused`]; other errors unchanged.
fn refused(e: ChainError) -> CliError {
    match &e {
        ChainError::Tx(TxError::Rejected { log, .. }) => match contract_error(log) {
            Some(reason) => CliError::Refused {
                hint: if reason == "unauthorized" {
                    " (only the network's owner, or a participant for its own members, may do this)"
                } else {
                    ""
                },
                reason: reason.to_owned(),
            },
            None => e.into(),
        },
        _ => e.into(),
    }
}

/// The contract's own error in a wasm module log: the text between
/// `message index: N: ` and `: execute wasm contract failed`.
fn contract_error(log: &str) -> Option<&str> {
    let start = log.find("message index: ")? + "message index: ".len();
    let rest = &log[start..];
    let rest = &rest[rest.find(": ")? + 2..];
    let end = rest.find(": execute wasm contract failed")?;
    Some(&rest[..end])
}

/// The network of `owner` named `name`: the open one, else the only closed one.
async fn by_name(chain: &Chain, name: &str, owner: &str) -> Result<NetworkResponse, CliError> {
    let reference = name;
    let named: Vec<NetworkResponse> = chain
        .networks_by_owner(owner)
        .await?
        .into_iter()
        .filter(|n| n.name == reference)
        .collect();
    if let Some(open) = named.iter().find(|n| n.status == NetworkStatus::Open) {
        return Ok(open.clone());
    }
    match named.as_slice() {
        [] => Err(CliError::NoSuchNetwork {
            owner: owner.into(),
            name: reference.into(),
        }),
        [one] => Ok(one.clone()),
        many => Err(CliError::AmbiguousName {
            owner: owner.into(),
            name: reference.into(),
            ids: many
                .iter()
                .map(|n| n.id.to_string())
                .collect::<Vec<_>>()
                .join(","),
        }),
    }
}

/// A tx included in a block.
#[derive(Debug, Serialize)]
pub struct TxReport {
    /// Hash (hex).
    pub tx_hash: String,
    /// Block height.
    pub height: u64,
    /// Gas used.
    pub gas_used: i64,
    /// Attributes of each `wasm-<action>` event, by action.
    pub events: BTreeMap<String, BTreeMap<String, String>>,
}

impl Render for TxReport {
    fn human(&self) -> String {
        let mut out = format!("tx {} included at height {}", self.tx_hash, self.height);
        for (action, attrs) in &self.events {
            out.push_str(&format!("\n{action}:"));
            for (k, v) in attrs {
                out.push_str(&format!("\n  {k}: {v}"));
            }
        }
        out
    }
}

/// The attributes of `wasm-<action>` events (without the contract
/// address and message index the chain adds).
fn wasm_events(
    events: &[cosmrs::tendermint::abci::Event],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for e in events {
        let Some(action) = e.kind.strip_prefix("wasm-") else {
            continue;
        };
        let attrs = out.entry(action.to_owned()).or_default();
        for a in &e.attributes {
            let (Ok(k), Ok(v)) = (a.key_str(), a.value_str()) else {
                continue;
            };
            if k != "_contract_address" && k != "msg_index" {
                attrs.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    out
}

/// A tx only generated (`--generate-only`).
#[derive(Debug, Serialize)]
pub struct Generated {
    /// `akash tx wasm execute ...` command lines, one per message.
    pub commands: Vec<String>,
    /// The unsigned tx.
    pub unsigned_tx: Box<UnsignedTx>,
}

impl Generated {
    /// Prints the commands and the unsigned tx for people.
    pub fn print(&self) {
        println!("{}", self.human());
    }
}

impl Render for Generated {
    fn human(&self) -> String {
        let tx = serde_json::to_string(&self.unsigned_tx).unwrap_or_default();
        format!(
            "# Nothing was sent. Sign and broadcast with the Akash CLI (`akt` takes the same arguments):\n{}\n\n# The unsigned tx (as `akash tx ... --generate-only` prints it; gas_limit is the CLI default,\n# the commands above use --gas auto); sign it with `akash tx sign` and `akash tx broadcast`:\n{}",
            self.commands.join("\n"),
            tx
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cosmrs::tendermint::abci::{Event, EventAttributeIndexExt};

    #[test]
    fn wasm_events_keep_registry_attributes() {
        let events = vec![
            Event::new("message", [("action", "execute").no_index()]),
            Event::new(
                "wasm-add_member",
                [
                    ("_contract_address", "akash1reg").no_index(),
                    ("network_id", "4").no_index(),
                    ("ip", "100.64.0.2").no_index(),
                    ("msg_index", "0").no_index(),
                ],
            ),
        ];
        let got = wasm_events(&events);
        assert_eq!(got.len(), 1);
        let attrs = &got["add_member"];
        assert_eq!(attrs["ip"], "100.64.0.2");
        assert_eq!(attrs["network_id"], "4");
        assert!(!attrs.contains_key("_contract_address"));
        let report = TxReport {
            tx_hash: "AB".into(),
            height: 9,
            gas_used: 1,
            events: got,
        };
        let text = report.human();
        assert!(
            text.contains("height 9") && text.contains("ip: 100.64.0.2"),
            "{text}"
        );
    }

    #[test]
    fn contract_errors_are_extracted() {
        let log = "rpc error: code = Unknown desc = failed to execute message; message index: 0: unauthorized: execute wasm contract failed [keeper.go:452] with gas used: '104138': unknown request";
        assert_eq!(contract_error(log), Some("unauthorized"));
        let log = "failed to execute message; message index: 0: member \"a: b\" already exists: execute wasm contract failed";
        assert_eq!(contract_error(log), Some("member \"a: b\" already exists"));
        assert_eq!(contract_error("out of gas"), None);
        let e = refused(ChainError::Tx(TxError::Rejected {
            code: 5,
            log: "message index: 0: unauthorized: execute wasm contract failed".into(),
        }));
        assert!(
            e.to_string()
                .starts_with("the registry refused the message: unauthorized (only")
        );
        let e = refused(ChainError::NoKey);
        assert!(matches!(e, CliError::Chain(ChainError::NoKey)));
    }

    #[test]
    fn generated_shows_commands_and_json() {
        let price = "0.025uakt".parse().unwrap();
        let g = Generated {
            commands: vec!["akash tx wasm execute x '{}'".into()],
            unsigned_tx: Box::new(UnsignedTx::new("a", "b", &[], &price)),
        };
        let text = g.human();
        assert!(text.contains("akash tx wasm execute x '{}'"));
        assert!(
            text.lines()
                .any(|l| l.starts_with(r#"{"body":{"messages":[]"#)),
            "{text}"
        );
    }
}
