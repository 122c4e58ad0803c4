//! The chain as the CLI sees it: smart queries of the registry, and txs
//! that are either signed here (mnemonic file or environment variable) or
//! only generated for another signer (`--generate-only`).

use std::path::PathBuf;
use std::time::Duration;

use avpn_control::query::{PAGE_MEMBERS, PAGE_NETWORKS, PAGE_PROVIDERS, Querier, QueryError};
use avpn_control::rpc::{Endpoint, RpcError};
use avpn_control::tx::{GasPrice, Signer, TxClient, TxConfig, TxError, TxOutcome};
use clap::Args;
use cosmrs::proto::cosmos::base::node::v1beta1::{ConfigRequest, ConfigResponse};
use network_registry::msg::{
    ExecuteMsg, MemberResponse, MembersResponse, NetworkProviderResponse, NetworkProvidersResponse,
    NetworkResponse, NetworksResponse, QueryMsg,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Resolved;

/// How long one RPC request may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(15);
/// gRPC path of the node's own settings (minimum gas price).
const NODE_CONFIG_PATH: &str = "/cosmos.base.node.v1beta1.Service/Config";
/// What the wasm module appends to a contract's query error.
const CONTRACT_QUERY_FAILED: &str = ": query wasm contract failed";
/// Gas price used when neither the settings nor the node name one.
pub const FALLBACK_GAS_PRICE: &str = "0.025uakt";
/// Gas limit of generated txs (the Akash CLI's default without `--gas auto`).
pub const GENERATED_GAS_LIMIT: u64 = 200_000;
/// Multiplier on simulated gas, as in the printed `--gas-adjustment`.
pub const GAS_ADJUSTMENT: f64 = 1.5;

/// Who signs a tx, as flags.
#[derive(Args, Clone, Debug, Default)]
#[command(next_help_heading = "Signing")]
pub struct KeyArgs {
    /// File holding the sender's BIP-39 mnemonic (mode 0600).
    #[arg(long, global = true, env = "AVPN_MNEMONIC_FILE")]
    pub mnemonic_file: Option<PathBuf>,
    /// Print the unsigned tx and the `akash tx wasm execute` command instead
    /// of signing (for keys in the Akash CLI keyring or on a Ledger).
    #[arg(long, global = true)]
    pub generate_only: bool,
    /// Sender address (with --generate-only; otherwise the key's address).
    #[arg(long, global = true, env = "AVPN_FROM")]
    pub from: Option<String>,
}

/// Failure talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// Node unreachable or wrong chain.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A query failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A tx failed.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// No key to sign with.
    #[error(
        "no key: pass --mnemonic-file, set AVPN_MNEMONIC_FILE or AVPN_MNEMONIC, or use --generate-only --from <address>"
    )]
    NoKey,
    /// `--generate-only` without a sender.
    #[error("--generate-only needs --from <address>")]
    NoSender,
    /// The registry refused a query (its own error, e.g. an unknown network).
    #[error("the registry says: {0}")]
    QueryRefused(String),
    /// A message could not be encoded as JSON.
    #[error("cannot encode the message as JSON")]
    Encode(#[from] serde_json::Error),
}

/// A connected node and the registry contract.
#[derive(Debug)]
pub struct Chain {
    querier: Querier,
    settings: Resolved,
}

/// What became of a tx.
#[derive(Debug)]
pub enum Submitted {
    /// Signed here and included in a block.
    Included(TxOutcome),
    /// Only generated: the unsigned tx (JSON) and a command that signs and
    /// broadcasts it with the Akash CLI.
    Generated {
        /// Unsigned tx as `akash tx ... --generate-only` prints it.
        unsigned_tx: Box<UnsignedTx>,
        /// Shell commands for the Akash CLI, one per message.
        commands: Vec<String>,
    },
}

/// The gas price fees are paid at, and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Fees {
    /// Price text, e.g. `0.025uakt`.
    pub text: String,
    /// Parsed price.
    pub price: GasPrice,
}

impl Chain {
    /// Connects to the node in `settings` (checking its chain id).
    pub async fn connect(settings: Resolved) -> Result<Self, ChainError> {
        let endpoint = Endpoint::new(&settings.rpc, &settings.chain_id, RPC_TIMEOUT)?;
        let querier = Querier::new(endpoint)?;
        querier.endpoint().check(querier.client()).await?;
        Ok(Chain { querier, settings })
    }

    /// The resolved settings.
    pub fn settings(&self) -> &Resolved {
        &self.settings
    }

    /// The underlying querier (for other contracts and modules).
    pub fn querier(&self) -> &Querier {
        &self.querier
    }

    /// Smart query of the registry.
    /// The contract's own errors become [`ChainError::QueryRefused`].
    pub async fn query<R: DeserializeOwned>(&self, msg: &QueryMsg) -> Result<R, ChainError> {
        match self.querier.smart(&self.settings.registry, msg, None).await {
            Err(QueryError::Rejected { log, .. }) if log.contains(CONTRACT_QUERY_FAILED) => {
                let reason = log.split(CONTRACT_QUERY_FAILED).next().unwrap_or(&log);
                Err(ChainError::QueryRefused(reason.to_owned()))
            }
            other => Ok(other?),
        }
    }

    /// Every network of `owner` (open and closed), by id.
    pub async fn networks_by_owner(&self, owner: &str) -> Result<Vec<NetworkResponse>, ChainError> {
        self.all_networks(|start_after| QueryMsg::NetworksByOwner {
            owner: owner.to_owned(),
            start_after,
            limit: Some(PAGE_NETWORKS),
        })
        .await
    }

    /// Every open network `participant` joined with an invitation, by id.
    pub async fn networks_by_participant(
        &self,
        participant: &str,
    ) -> Result<Vec<NetworkResponse>, ChainError> {
        self.all_networks(|start_after| QueryMsg::NetworksByParticipant {
            participant: participant.to_owned(),
            start_after,
            limit: Some(PAGE_NETWORKS),
        })
        .await
    }

    /// Pages through a network listing until an empty page.
    async fn all_networks(
        &self,
        page_query: impl Fn(Option<u64>) -> QueryMsg,
    ) -> Result<Vec<NetworkResponse>, ChainError> {
        let mut all = Vec::new();
        loop {
            let page: NetworksResponse = self
                .query(&page_query(all.last().map(|n: &NetworkResponse| n.id)))
                .await?;
            if page.networks.is_empty() {
                return Ok(all);
            }
            all.extend(page.networks);
        }
    }

    /// Every member of a network, by name.
    pub async fn members(&self, network_id: u64) -> Result<Vec<MemberResponse>, ChainError> {
        let mut all = Vec::new();
        loop {
            let page: MembersResponse = self
                .query(&QueryMsg::Members {
                    network_id,
                    start_after: all.last().map(|m: &MemberResponse| m.name.clone()),
                    limit: Some(PAGE_MEMBERS),
                })
                .await?;
            if page.members.is_empty() {
                return Ok(all);
            }
            all.extend(page.members);
        }
    }

    /// Every provider authorized for or hosting members of a network.
    pub async fn providers(
        &self,
        network_id: u64,
    ) -> Result<Vec<NetworkProviderResponse>, ChainError> {
        let mut all = Vec::new();
        loop {
            let page: NetworkProvidersResponse = self
                .query(&QueryMsg::Providers {
                    network_id,
                    start_after: all
                        .last()
                        .map(|p: &NetworkProviderResponse| p.provider.to_string()),
                    limit: Some(PAGE_PROVIDERS),
                })
                .await?;
            if page.providers.is_empty() {
                return Ok(all);
            }
            all.extend(page.providers);
        }
    }

    /// The signer named by `keys` (mnemonic file, then `$AVPN_MNEMONIC`).
    /// The mnemonic is never printed: errors name the file, not its text.
    pub fn signer(&self, keys: &KeyArgs) -> Result<Signer, ChainError> {
        if let Some(path) = &keys.mnemonic_file {
            return Ok(Signer::from_file(path, &self.settings.prefix)?);
        }
        if let Ok(phrase) = std::env::var("AVPN_MNEMONIC") {
            return Ok(Signer::from_mnemonic(&phrase, &self.settings.prefix)?);
        }
        Err(ChainError::NoKey)
    }

    /// The sender's address: `--from`, or the key's.
    pub fn sender(&self, keys: &KeyArgs) -> Result<String, ChainError> {
        match &keys.from {
            Some(from) => Ok(from.clone()),
            None if keys.generate_only => Err(ChainError::NoSender),
            None => Ok(self.signer(keys)?.address().to_string()),
        }
    }

    /// The gas price: the settings' (`--gas-prices`, env, config file), else
    /// the node's minimum gas price, else [`FALLBACK_GAS_PRICE`] (with a
    /// note on standard error).
    pub async fn fees(&self) -> Result<Fees, ChainError> {
        let text = match &self.settings.gas_prices {
            Some(text) => text.clone(),
            None => {
                let answer: Result<ConfigResponse, _> = self
                    .querier
                    .grpc_typed(NODE_CONFIG_PATH, &ConfigRequest {}, None)
                    .await;
                match answer
                    .ok()
                    .and_then(|c| pick_gas_price(&c.minimum_gas_price))
                {
                    Some(text) => text,
                    None => {
                        eprintln!(
                            "note: the node does not say its minimum gas price; paying {FALLBACK_GAS_PRICE} (set --gas-prices to change)"
                        );
                        FALLBACK_GAS_PRICE.to_owned()
                    }
                }
            }
        };
        let price = text.parse().map_err(ChainError::Tx)?;
        Ok(Fees { text, price })
    }

    /// Sends `msgs` to the registry in one tx (gas simulated, fees at
    /// [`Chain::fees`]), or with `--generate-only` only prints what would
    /// be sent.
    pub async fn submit(
        &self,
        keys: &KeyArgs,
        msgs: &[ExecuteMsg],
    ) -> Result<Submitted, ChainError> {
        let fees = self.fees().await?;
        if keys.generate_only {
            let sender = keys.from.as_deref().ok_or(ChainError::NoSender)?;
            return self.generate(sender, msgs, &fees);
        }
        let signer = self.signer(keys)?;
        let cfg = TxConfig {
            gas_price: fees.price,
            gas_adjustment: GAS_ADJUSTMENT,
            ..TxConfig::default()
        };
        let mut tx = TxClient::new(self.querier.clone(), signer, cfg).await?;
        Ok(Submitted::Included(
            tx.execute(&self.settings.registry, msgs).await?,
        ))
    }

    /// The unsigned tx and the Akash CLI commands for `msgs`.
    fn generate(
        &self,
        sender: &str,
        msgs: &[ExecuteMsg],
        fees: &Fees,
    ) -> Result<Submitted, ChainError> {
        let s = &self.settings;
        let mut commands = Vec::with_capacity(msgs.len());
        for m in msgs {
            let words: [&str; 18] = [
                "akash",
                "tx",
                "wasm",
                "execute",
                &s.registry,
                &serde_json::to_string(m)?,
                "--from",
                sender,
                "--chain-id",
                &s.chain_id,
                "--node",
                &s.rpc,
                "--gas",
                "auto",
                "--gas-adjustment",
                "1.5",
                "--gas-prices",
                &fees.text,
            ];
            commands.push(words.map(shell_quote).join(" "));
        }
        Ok(Submitted::Generated {
            unsigned_tx: Box::new(UnsignedTx::new(sender, &s.registry, msgs, &fees.price)),
            commands,
        })
    }
}

/// The unsigned tx `akash tx wasm execute ... --generate-only` prints
/// (fields in the SDK's order): one `MsgExecuteContract` per message, no
/// signer infos and signatures, the CLI's default gas limit and the fee it
/// implies at the gas price.
#[derive(Clone, Debug, Serialize)]
pub struct UnsignedTx {
    /// Messages and memo.
    pub body: TxBody,
    /// Fee (no signers yet).
    pub auth_info: AuthInfo,
    /// Empty.
    pub signatures: Vec<String>,
}

/// `cosmos.tx.v1beta1.TxBody` as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct TxBody {
    /// The messages.
    pub messages: Vec<ExecuteContract>,
    /// Empty.
    pub memo: String,
    /// `"0"`.
    pub timeout_height: String,
    /// Empty.
    pub extension_options: Vec<Value>,
    /// Empty.
    pub non_critical_extension_options: Vec<Value>,
}

/// `cosmwasm.wasm.v1.MsgExecuteContract` as JSON (the contract message inline).
#[derive(Clone, Debug, Serialize)]
pub struct ExecuteContract {
    /// Type URL.
    #[serde(rename = "@type")]
    pub type_url: String,
    /// Sender address.
    pub sender: String,
    /// Registry address.
    pub contract: String,
    /// The registry message.
    pub msg: ExecuteMsg,
    /// Empty.
    pub funds: Vec<CoinJson>,
}

/// `cosmos.tx.v1beta1.AuthInfo` as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct AuthInfo {
    /// Empty until signed.
    pub signer_infos: Vec<Value>,
    /// The fee.
    pub fee: FeeJson,
    /// Always null.
    pub tip: Option<Value>,
}

/// `cosmos.tx.v1beta1.Fee` as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct FeeJson {
    /// Fee coins.
    pub amount: Vec<CoinJson>,
    /// Gas limit (decimal string).
    pub gas_limit: String,
    /// Empty.
    pub payer: String,
    /// Empty.
    pub granter: String,
}

/// A coin as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct CoinJson {
    /// Denomination.
    pub denom: String,
    /// Amount (decimal string).
    pub amount: String,
}

impl UnsignedTx {
    /// The tx executing `msgs` on `contract` from `sender`, fees at `price`.
    pub fn new(sender: &str, contract: &str, msgs: &[ExecuteMsg], price: &GasPrice) -> Self {
        let messages = msgs
            .iter()
            .map(|msg| ExecuteContract {
                type_url: "/cosmwasm.wasm.v1.MsgExecuteContract".into(),
                sender: sender.into(),
                contract: contract.into(),
                msg: msg.clone(),
                funds: vec![],
            })
            .collect();
        let fee = (GENERATED_GAS_LIMIT as f64 * price.amount).ceil() as u128;
        let amount = if fee == 0 {
            vec![]
        } else {
            vec![CoinJson {
                denom: price.denom.clone(),
                amount: fee.to_string(),
            }]
        };
        UnsignedTx {
            body: TxBody {
                messages,
                memo: String::new(),
                timeout_height: "0".into(),
                extension_options: vec![],
                non_critical_extension_options: vec![],
            },
            auth_info: AuthInfo {
                signer_infos: vec![],
                fee: FeeJson {
                    amount,
                    gas_limit: GENERATED_GAS_LIMIT.to_string(),
                    payer: String::new(),
                    granter: String::new(),
                },
                tip: None,
            },
            signatures: vec![],
        }
    }
}

/// Quotes a word for POSIX shells: unchanged when it is safe, otherwise in
/// single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    let safe = |c: u8| c.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&c);
    if !word.is_empty() && word.bytes().all(safe) {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The price to pay from a node's `minimum_gas_price` (decimal coins such
/// as `0.025000000000000000uakt,1.0uact`): the `uakt` one, else the first;
/// `None` when empty or zero.
pub fn pick_gas_price(minimum: &str) -> Option<String> {
    let coins: Vec<(&str, &str)> = minimum
        .split(',')
        .filter_map(|c| {
            let c = c.trim();
            let at = c.find(|ch: char| ch.is_ascii_alphabetic())?;
            Some(c.split_at(at))
        })
        .collect();
    let (amount, denom) = coins
        .iter()
        .find(|(_, d)| *d == "uakt")
        .or_else(|| coins.first())?;
    let amount = match amount.split_once('.') {
        Some((int, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                int.to_owned()
            } else {
                format!("{int}.{frac}")
            }
        }
        None => (*amount).to_owned(),
    };
    if amount.is_empty() || amount.bytes().all(|c| c == b'0' || c == b'.') {
        return None;
    }
    Some(format!("{amount}{denom}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_gas_price_is_normalized() {
        assert_eq!(
            pick_gas_price("0.025000000000000000uakt").as_deref(),
            Some("0.025uakt")
        );
        assert_eq!(
            pick_gas_price("1.000000000000000000uact,0.1uakt").as_deref(),
            Some("0.1uakt")
        );
        assert_eq!(pick_gas_price("2.50uact").as_deref(), Some("2.5uact"));
        assert_eq!(pick_gas_price("3uakt").as_deref(), Some("3uakt"));
        assert_eq!(pick_gas_price(""), None);
        assert_eq!(pick_gas_price("0.000000000000000000uakt"), None);
        assert_eq!(pick_gas_price("garbage"), None);
    }

    #[test]
    fn shell_quoting_survives_sh() {
        let words = [
            "plain",
            "akash1abc",
            "http://127.0.0.1:26657",
            r#"{"add_member":{"name":"it's"}}"#,
            "",
            "a b",
            "$HOME `x` \\ \"q\" !",
        ];
        for w in words {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(w)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), w);
        }
        assert_eq!(shell_quote("plain"), "plain");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn unsigned_tx_has_the_sdk_shape() {
        let price: GasPrice = "0.025uakt".parse().unwrap();
        let msg = ExecuteMsg::CloseNetwork { network_id: 7 };
        let tx = UnsignedTx::new("akash1sender", "akash1contract", &[msg], &price);
        let text = serde_json::to_string(&tx).unwrap();
        assert!(
            text.starts_with(r#"{"body":{"messages":[{"@type":"#),
            "{text}"
        );
        assert!(text.ends_with(r#""tip":null},"signatures":[]}"#), "{text}");
        let tx = serde_json::to_value(&tx).unwrap();
        let expected = json!({
            "body": {
                "messages": [{
                    "@type": "/cosmwasm.wasm.v1.MsgExecuteContract",
                    "sender": "akash1sender",
                    "contract": "akash1contract",
                    "msg": {"close_network": {"network_id": 7}},
                    "funds": [],
                }],
                "memo": "",
                "timeout_height": "0",
                "extension_options": [],
                "non_critical_extension_options": [],
            },
            "auth_info": {
                "signer_infos": [],
                "fee": {
                    "amount": [{"denom": "uakt", "amount": "5000"}],
                    "gas_limit": "200000",
                    "payer": "",
                    "granter": "",
                },
                "tip": null,
            },
            "signatures": [],
        });
        assert_eq!(tx, expected);
        let free: GasPrice = "0uakt".parse().unwrap();
        let tx = serde_json::to_value(UnsignedTx::new("a", "b", &[], &free)).unwrap();
        assert_eq!(tx["auth_info"]["fee"]["amount"], json!([]));
    }
}
