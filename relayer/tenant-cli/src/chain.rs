//! The chain as the CLI sees it: smart queries of the registry, and txs
//! that are either signed here (mnemonic file or environment variable) or
//! only generated for another signer (`--generate-only`).

use std::path::PathBuf;
use std::time::Duration;

use avpn_control::query::{Querier, QueryError};
use avpn_control::rpc::{Endpoint, RpcError};
use avpn_control::tx::{GasPrice, Signer, TxClient, TxConfig, TxError, TxOutcome};
use clap::Args;
use network_registry::msg::{ExecuteMsg, QueryMsg};
use serde::de::DeserializeOwned;

use crate::config::Resolved;

/// How long one RPC request may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(15);

/// Who signs a tx, as flags.
#[derive(Args, Clone, Debug, Default)]
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
        unsigned_tx: serde_json::Value,
        /// Shell commands for the Akash CLI.
        commands: Vec<String>,
    },
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
    pub async fn query<R: DeserializeOwned>(&self, msg: &QueryMsg) -> Result<R, ChainError> {
        Ok(self
            .querier
            .smart(&self.settings.registry, msg, None)
            .await?)
    }

    /// The signer named by `keys` (mnemonic file, then `$AVPN_MNEMONIC`).
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

    /// Sends `msgs` to the registry in one tx, or only generates it.
    pub async fn submit(
        &self,
        keys: &KeyArgs,
        msgs: &[ExecuteMsg],
    ) -> Result<Submitted, ChainError> {
        if keys.generate_only {
            return Err(ChainError::NoSender);
        }
        let signer = self.signer(keys)?;
        let gas_price: GasPrice = self
            .settings
            .gas_prices
            .as_deref()
            .unwrap_or("0.025uakt")
            .parse()?;
        let cfg = TxConfig {
            gas_price,
            ..TxConfig::default()
        };
        let mut tx = TxClient::new(self.querier.clone(), signer, cfg).await?;
        Ok(Submitted::Included(
            tx.execute(&self.settings.registry, msgs).await?,
        ))
    }
}
