//! Transactions: build, simulate for gas, sign and broadcast with cosmrs,
//! keeping the account number and sequence; a sequence mismatch is
//! recovered by re-reading the account. Common failures (insufficient
//! funds, wrong chain id, unknown contract) become typed errors.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cosmrs::crypto::secp256k1::SigningKey;
use cosmrs::proto::cosmos::auth::v1beta1::{
    BaseAccount, QueryAccountRequest, QueryAccountResponse,
};
use cosmrs::proto::cosmos::tx::v1beta1::{SimulateRequest, SimulateResponse};
use cosmrs::tendermint::abci::Event;
use cosmrs::tx::{Body, Fee, SignDoc, SignerInfo};
use cosmrs::{AccountId, Any, Coin, Denom};
use prost::Message;
use serde::Serialize;
use tendermint_rpc::Client;
use zeroize::Zeroizing;

use crate::query::{Querier, QueryError};
use crate::rpc::RpcError;

const ACCOUNT_PATH: &str = "/cosmos.auth.v1beta1.Query/Account";
const SIMULATE_PATH: &str = "/cosmos.tx.v1beta1.Service/Simulate";
/// HD path of Cosmos accounts (coin type 118, used by Akash).
pub const HD_PATH: &str = "m/44'/118'/0'/0/0";
/// SDK error code of a wrong account sequence.
const CODE_WRONG_SEQUENCE: u32 = 32;
/// Attempts after a sequence mismatch before giving up.
const SEQUENCE_RETRIES: usize = 6;
/// Largest mnemonic file read (24 words take about 200 bytes).
const MNEMONIC_MAX_BYTES: usize = 4096;
/// Gas added to every simulated estimate (small txs vary by more than the
/// multiplier between simulation and delivery).
const GAS_MARGIN: u64 = 20_000;

/// Failure of a transaction.
#[derive(Debug, thiserror::Error)]
pub enum TxError {
    /// Transport or chain-id problem.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// A query failed (account, simulation transport).
    #[error(transparent)]
    Query(QueryError),
    /// The key file cannot be read or holds no valid mnemonic (content never shown).
    #[error("key file {0}: {1}")]
    Key(String, String),
    /// The mnemonic file is accessible by group or others (nothing was read
    /// from it). Same rule as the overlay identity file.
    #[error("mnemonic file {0} has mode {1:04o}; it must be 0600 (no access for group or others)")]
    KeyPermissions(PathBuf, u32),
    /// The account has never received funds, so it does not exist on chain.
    #[error("account {0} does not exist on chain (fund it first)")]
    UnknownAccount(String),
    /// Not enough funds for fees.
    #[error("insufficient funds: {0}")]
    InsufficientFunds(String),
    /// Signature rejected: the chain id or account number do not match.
    #[error("signature rejected (wrong chain id {chain_id}?): {log}")]
    WrongChainId {
        /// Chain id signed for.
        chain_id: String,
        /// Node's explanation.
        log: String,
    },
    /// No contract at the address.
    #[error("no contract at {0}")]
    UnknownContract(String),
    /// The sequence kept changing under us.
    #[error("account sequence mismatch persisted after {SEQUENCE_RETRIES} attempts: {0}")]
    Sequence(String),
    /// The chain rejected the tx (contract error, bad message, ...).
    #[error("tx rejected (code {code}): {log}")]
    Rejected {
        /// ABCI code.
        code: u32,
        /// Node's explanation.
        log: String,
    },
    /// The tx was accepted into the mempool but not seen in a block in time.
    #[error("tx {0} not included within {1:?}")]
    NotIncluded(String, Duration),
    /// Building or signing failed.
    #[error("building tx: {0}")]
    Build(String),
    /// Invalid gas price text.
    #[error("invalid gas price {0:?}: expected e.g. 0.025uakt")]
    GasPrice(String),
}

impl From<QueryError> for TxError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Rpc(r) => TxError::Rpc(r),
            QueryError::UnknownContract(c) => TxError::UnknownContract(c),
            other => TxError::Query(other),
        }
    }
}

/// Classifies an error log of the SDK / wasm module.
fn classify(code: u32, log: String, chain_id: &str) -> TxError {
    let l = log.to_ascii_lowercase();
    if code == CODE_WRONG_SEQUENCE || l.contains("account sequence mismatch") {
        TxError::Sequence(log)
    } else if l.contains("insufficient funds") || l.contains("insufficient fee") {
        TxError::InsufficientFunds(log)
    } else if l.contains("signature verification failed") {
        TxError::WrongChainId {
            chain_id: chain_id.to_owned(),
            log,
        }
    } else if l.contains("no such contract") || l.contains("contract: not found") {
        TxError::UnknownContract(log)
    } else {
        TxError::Rejected { code, log }
    }
}

/// The sequence a node expects, from "account sequence mismatch, expected 6, got 5".
fn expected_sequence(log: &str) -> Option<u64> {
    let rest = &log[log.find("expected ")? + "expected ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Failure to read a private file: the mnemonic here, the overlay identity
/// in the relayer (`avpn-relayer`'s `identity` module uses the same
/// [`read_private_file`]).
#[derive(Debug, thiserror::Error)]
pub enum PrivateFileError {
    /// Opening or reading failed.
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] std::io::Error),
    /// Group or others have some access (mode given); nothing was read.
    #[error("{0} has mode {1:04o}; it must be 0600 (no access for group or others)")]
    Permissions(PathBuf, u32),
    /// A directory, device, FIFO, ...
    #[error("{0} is not a regular file")]
    NotRegular(PathBuf),
    /// Longer than the caller allows (limit given); nothing is returned.
    #[error("{0} is longer than {1} bytes")]
    TooLarge(PathBuf, usize),
}

/// Checks the metadata of an opened private file: a regular file without
/// any access for group or others.
pub fn check_private(meta: &Metadata, path: &Path) -> Result<(), PrivateFileError> {
    if !meta.is_file() {
        return Err(PrivateFileError::NotRegular(path.into()));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(PrivateFileError::Permissions(path.into(), mode));
    }
    Ok(())
}

/// Opens `path` once and reads it with [`read_private`].
pub fn read_private_file(
    path: &Path,
    max_len: usize,
) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    let file = File::open(path).map_err(|e| PrivateFileError::Io(path.into(), e))?;
    read_private(file, path, max_len)
}

/// Reads a private file through its open handle: the permission check is
/// an fstat of the handle ([`File::metadata`]), never a second lookup of
/// `path`, so the bytes returned are those of the file that was checked
/// (a symlink or file swapped after the open cannot slip through). At most
/// `max_len` bytes; the buffer is wiped when dropped (also on errors).
pub fn read_private(
    mut file: File,
    path: &Path,
    max_len: usize,
) -> Result<Zeroizing<Vec<u8>>, PrivateFileError> {
    let io = |e| PrivateFileError::Io(path.into(), e);
    check_private(&file.metadata().map_err(io)?, path)?;
    // Allocated once at its final size: no reallocation leaves copies behind.
    let mut buf = Zeroizing::new(vec![0u8; max_len + 1]);
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    if n > max_len {
        return Err(PrivateFileError::TooLarge(path.into(), max_len));
    }
    buf.truncate(n);
    Ok(buf)
}

/// The provider's chain account key (secp256k1). `Debug` shows the address
/// and public key only; the key is wiped when dropped (k256 zeroizes its
/// secret scalar).
pub struct Signer {
    key: SigningKey,
    address: AccountId,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public: String = self
            .key
            .public_key()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_struct("Signer")
            .field("address", &self.address.to_string())
            .field("public_key", &public)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Signer {
    /// Derives the key of a BIP-39 mnemonic on [`HD_PATH`]. The parsed
    /// mnemonic and the BIP-39 seed are wiped when this returns.
    pub fn from_mnemonic(phrase: &str, prefix: &str) -> Result<Self, TxError> {
        let bad = |m: &str| TxError::Key("<mnemonic>".into(), m.to_owned());
        // `Mnemonic` zeroizes its word indices on drop (bip39 "zeroize").
        let mnemonic =
            bip39::Mnemonic::parse_in_normalized(bip39::Language::English, phrase.trim())
                .map_err(|_| bad("not a valid BIP-39 mnemonic"))?;
        let seed = Zeroizing::new(mnemonic.to_seed_normalized(""));
        drop(mnemonic);
        let path = HD_PATH.parse().map_err(|_| bad("bad derivation path"))?;
        let key = SigningKey::derive_from_path(seed.as_slice(), &path)
            .map_err(|_| bad("key derivation failed"))?;
        let address = key
            .public_key()
            .account_id(prefix)
            .map_err(|_| bad("invalid address prefix"))?;
        Ok(Signer { key, address })
    }

    /// Reads a mnemonic from a file, opened once: a file accessible by
    /// group or others is refused ([`TxError::KeyPermissions`]) before any
    /// of it is read, checked on the open handle like the overlay identity.
    /// The text read is wiped after use.
    pub fn from_file(path: &Path, prefix: &str) -> Result<Self, TxError> {
        let name = path.display().to_string();
        let text = read_private_file(path, MNEMONIC_MAX_BYTES).map_err(|e| match e {
            PrivateFileError::Permissions(p, mode) => TxError::KeyPermissions(p, mode),
            PrivateFileError::Io(_, e) => TxError::Key(name.clone(), e.to_string()),
            PrivateFileError::NotRegular(_) => {
                TxError::Key(name.clone(), "not a regular file".into())
            }
            PrivateFileError::TooLarge(_, max) => {
                TxError::Key(name.clone(), format!("longer than {max} bytes"))
            }
        })?;
        let phrase = std::str::from_utf8(&text)
            .map_err(|_| TxError::Key(name.clone(), "not valid UTF-8".into()))?;
        Self::from_mnemonic(phrase, prefix).map_err(|e| match e {
            TxError::Key(_, m) => TxError::Key(name, m),
            other => other,
        })
    }

    /// The account address.
    pub fn address(&self) -> &AccountId {
        &self.address
    }
}

/// Price of one unit of gas, e.g. `0.025uakt`.
#[derive(Clone, Debug, PartialEq)]
pub struct GasPrice {
    /// Amount per gas unit.
    pub amount: f64,
    /// Fee denomination.
    pub denom: String,
}

impl std::str::FromStr for GasPrice {
    type Err = TxError;
    fn from_str(s: &str) -> Result<Self, TxError> {
        let split = s
            .find(|c: char| c.is_ascii_alphabetic())
            .ok_or_else(|| TxError::GasPrice(s.into()))?;
        let (num, denom) = s.split_at(split);
        let amount: f64 = num.parse().map_err(|_| TxError::GasPrice(s.into()))?;
        if !amount.is_finite() || amount < 0.0 || denom.parse::<Denom>().is_err() {
            return Err(TxError::GasPrice(s.into()));
        }
        Ok(GasPrice {
            amount,
            denom: denom.to_owned(),
        })
    }
}

/// Settings of a [`TxClient`].
#[derive(Clone, Debug)]
pub struct TxConfig {
    /// Gas price for fees.
    pub gas_price: GasPrice,
    /// Multiplier on simulated gas.
    pub gas_adjustment: f64,
    /// How long to wait for inclusion in a block.
    pub inclusion_timeout: Duration,
}

impl Default for TxConfig {
    fn default() -> Self {
        TxConfig {
            gas_price: GasPrice {
                amount: 0.025,
                denom: "uakt".into(),
            },
            gas_adjustment: 1.4,
            inclusion_timeout: Duration::from_secs(30),
        }
    }
}

/// A tx included in a block.
#[derive(Clone, Debug)]
pub struct TxOutcome {
    /// Hash (hex).
    pub hash: String,
    /// Block height.
    pub height: u64,
    /// Gas used.
    pub gas_used: i64,
    /// Events the tx emitted.
    pub events: Vec<Event>,
}

impl TxOutcome {
    /// Values of attribute `key` in events of type `kind`.
    pub fn attribute(&self, kind: &str, key: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e.kind == kind)
            .flat_map(|e| e.attributes.iter())
            .filter(|a| a.key_bytes() == key.as_bytes())
            .filter_map(|a| a.value_str().ok().map(str::to_owned))
            .collect()
    }
}

/// Sends txs signed by one account.
#[derive(Debug)]
pub struct TxClient {
    querier: Querier,
    signer: Signer,
    cfg: TxConfig,
    account: Option<(u64, u64)>,
}

impl TxClient {
    /// Checks the node's chain id and returns a client.
    pub async fn new(querier: Querier, signer: Signer, cfg: TxConfig) -> Result<Self, TxError> {
        querier.endpoint().check(querier.client()).await?;
        Ok(TxClient {
            querier,
            signer,
            cfg,
            account: None,
        })
    }

    /// The sending account.
    pub fn address(&self) -> &AccountId {
        self.signer.address()
    }

    /// Executes JSON messages on one contract in a single tx; fails with
    /// [`TxError::UnknownContract`] when no contract lives there.
    pub async fn execute<M: Serialize>(
        &mut self,
        contract: &str,
        msgs: &[M],
    ) -> Result<TxOutcome, TxError> {
        self.querier.contract_exists(contract).await?;
        let contract_id: AccountId = contract
            .parse()
            .map_err(|_| TxError::UnknownContract(contract.to_owned()))?;
        let mut anys = Vec::with_capacity(msgs.len());
        for m in msgs {
            let msg = cosmrs::cosmwasm::MsgExecuteContract {
                sender: self.signer.address.clone(),
                contract: contract_id.clone(),
                msg: serde_json::to_vec(m).map_err(|e| TxError::Build(e.to_string()))?,
                funds: vec![],
            };
            anys.push(cosmrs::tx::Msg::to_any(&msg).map_err(|e| TxError::Build(e.to_string()))?);
        }
        self.send(anys).await
    }

    /// Simulates, signs and broadcasts `msgs`, then waits for inclusion.
    /// A sequence mismatch (at simulation, check or delivery) re-reads the
    /// account and retries.
    pub async fn send(&mut self, msgs: Vec<Any>) -> Result<TxOutcome, TxError> {
        let mut last = String::new();
        for _ in 0..SEQUENCE_RETRIES {
            match self.attempt(msgs.clone()).await {
                Err(TxError::Sequence(log)) => {
                    // The node says which sequence it expects (it counts
                    // txs still in the mempool, which the account query
                    // does not); otherwise re-read the account.
                    self.account = match (self.account, expected_sequence(&log)) {
                        (Some((number, _)), Some(seq)) => Some((number, seq)),
                        _ => None,
                    };
                    tracing::info!(%log, next = ?self.account, "account sequence mismatch, retrying");
                    last = log;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => {
                    self.account = None;
                    return Err(e);
                }
                ok => return ok,
            }
        }
        Err(TxError::Sequence(last))
    }

    async fn account(&mut self) -> Result<(u64, u64), TxError> {
        if let Some(a) = self.account {
            return Ok(a);
        }
        let req = QueryAccountRequest {
            address: self.signer.address.to_string(),
        };
        let resp: QueryAccountResponse =
            match self.querier.grpc_typed(ACCOUNT_PATH, &req, None).await {
                Err(QueryError::Rejected { log, .. }) if log.contains("not found") => {
                    return Err(TxError::UnknownAccount(self.signer.address.to_string()));
                }
                other => other?,
            };
        let any = resp
            .account
            .ok_or_else(|| TxError::UnknownAccount(self.signer.address.to_string()))?;
        let base = BaseAccount::decode(any.value.as_slice()).map_err(|source| {
            TxError::Query(QueryError::Protobuf {
                path: ACCOUNT_PATH.into(),
                source,
            })
        })?;
        let a = (base.account_number, base.sequence);
        self.account = Some(a);
        Ok(a)
    }

    fn sign(&self, msgs: &[Any], account: (u64, u64), gas: u64) -> Result<Vec<u8>, TxError> {
        let build = |e: cosmrs::ErrorReport| TxError::Build(e.to_string());
        let chain_id: cosmrs::tendermint::chain::Id = self
            .querier
            .endpoint()
            .chain_id
            .parse()
            .map_err(|e: cosmrs::tendermint::Error| TxError::Build(e.to_string()))?;
        let fee_amount = (gas as f64 * self.cfg.gas_price.amount).ceil() as u128;
        let denom: Denom = self.cfg.gas_price.denom.parse().map_err(build)?;
        let fee = Fee::from_amount_and_gas(
            Coin {
                denom,
                amount: fee_amount,
            },
            gas,
        );
        let body = Body::new(msgs.to_vec(), "", 0u32);
        let auth =
            SignerInfo::single_direct(Some(self.signer.key.public_key()), account.1).auth_info(fee);
        let doc = SignDoc::new(&body, &auth, &chain_id, account.0).map_err(build)?;
        doc.sign(&self.signer.key)
            .map_err(build)?
            .to_bytes()
            .map_err(build)
    }

    async fn attempt(&mut self, msgs: Vec<Any>) -> Result<TxOutcome, TxError> {
        let chain_id = self.querier.endpoint().chain_id.clone();
        let account = self.account().await?;
        let probe = self.sign(&msgs, account, 0)?;
        #[allow(deprecated)]
        let sim_req = SimulateRequest {
            tx: None,
            tx_bytes: probe,
        };
        let sim: SimulateResponse =
            match self.querier.grpc_typed(SIMULATE_PATH, &sim_req, None).await {
                Err(QueryError::Rejected { code, log, .. }) => {
                    return Err(classify(code, log, &chain_id));
                }
                other => other?,
            };
        let used = sim.gas_info.map_or(0, |g| g.gas_used);
        let gas = ((used as f64) * self.cfg.gas_adjustment).ceil() as u64 + GAS_MARGIN;
        let bytes = self.sign(&msgs, account, gas)?;
        let client = self.querier.client();
        let endpoint = self.querier.endpoint();
        let res = client
            .broadcast_tx_sync(bytes)
            .await
            .map_err(|e| endpoint.unreachable(e))?;
        if res.code.is_err() {
            return Err(classify(res.code.value(), res.log, &chain_id));
        }
        self.account = Some((account.0, account.1 + 1));
        let hash = res.hash;
        let deadline = tokio::time::Instant::now() + self.cfg.inclusion_timeout;
        loop {
            match client.tx(hash, false).await {
                Ok(r) => {
                    let result = r.tx_result;
                    if result.code.is_err() {
                        return Err(classify(result.code.value(), result.log, &chain_id));
                    }
                    return Ok(TxOutcome {
                        hash: hash.to_string(),
                        height: r.height.value(),
                        gas_used: result.gas_used,
                        events: result.events,
                    });
                }
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => {
                    return Err(TxError::NotIncluded(
                        hash.to_string(),
                        self.cfg.inclusion_timeout,
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_price_parses_and_rejects() {
        assert_eq!(
            "0.025uakt".parse::<GasPrice>().unwrap(),
            GasPrice {
                amount: 0.025,
                denom: "uakt".into()
            }
        );
        for bad in ["", "uakt", "0.025", "-1uakt", "abc1"] {
            assert!(bad.parse::<GasPrice>().is_err(), "{bad}");
        }
    }

    #[test]
    fn mnemonic_gives_akash_address_and_bad_ones_fail_without_echo() {
        let phrase = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        let s = Signer::from_mnemonic(phrase, "akash").unwrap();
        assert!(s.address().to_string().starts_with("akash1"));
        assert!(!format!("{s:?}").contains("abandon"));
        let err =
            Signer::from_mnemonic("secret words that are not a mnemonic", "akash").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

    /// A fresh directory, removed on drop.
    struct Tmp(PathBuf);
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn tmp(tag: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("avpn-tx-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Tmp(d)
    }
    fn write_mode(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Every representation of `secret` an attacker could grep a log for.
    fn encodings(secret: &[u8]) -> Vec<String> {
        use base64::Engine;
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        vec![
            hex.clone(),
            hex.to_uppercase(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            format!("{secret:?}"),
        ]
    }

    #[test]
    fn signer_debug_shows_address_and_public_key_but_no_secret() {
        let s = Signer::from_mnemonic(PHRASE, "akash").unwrap();
        let dbg = format!("{s:?}");
        let pretty = format!("{s:#?}");
        // the secrets, derived independently of `Signer`
        let m = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, PHRASE).unwrap();
        let seed = m.to_seed_normalized("");
        let xprv = cosmrs::bip32::XPrv::derive_from_path(seed, &HD_PATH.parse().unwrap()).unwrap();
        let private = xprv.private_key().to_bytes();
        for out in [&dbg, &pretty] {
            for enc in encodings(&private).iter().chain(&encodings(&seed)) {
                assert!(!out.contains(enc.as_str()), "secret in {out}");
            }
            for word in ["abandon", "about"] {
                assert!(!out.contains(word), "mnemonic word in {out}");
            }
            assert!(out.contains(&s.address().to_string()), "{out}");
            assert!(out.contains("<redacted>"), "{out}");
        }
        let public: String = s
            .key
            .public_key()
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(dbg.contains(&public), "{dbg}");
        // the client holding the signer prints it the same way
        assert!(!format!("{:?}", Some(&s)).contains(&encodings(&private)[0]));
    }

    #[test]
    fn group_or_world_accessible_mnemonic_file_is_refused_before_reading() {
        let dir = tmp("mode");
        let path = dir.0.join("provider.mnemonic");
        for mode in [
            0o644, 0o640, 0o604, 0o660, 0o606, 0o620, 0o602, 0o610, 0o601,
        ] {
            write_mode(&path, PHRASE, mode);
            // No signer is built, so nothing can be signed.
            let err = Signer::from_file(&path, "akash").unwrap_err();
            match &err {
                TxError::KeyPermissions(p, m) => {
                    assert_eq!(p, &path);
                    assert_eq!(*m, mode);
                }
                other => panic!("mode {mode:o}: {other:?}"),
            }
            let text = err.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains(&format!("{mode:04o}")), "{text}");
            assert!(!text.contains("abandon"), "{text}");
        }
        for mode in [0o600, 0o400] {
            write_mode(&path, PHRASE, mode);
            let s = Signer::from_file(&path, "akash").unwrap();
            assert_eq!(
                s.address(),
                Signer::from_mnemonic(PHRASE, "akash").unwrap().address()
            );
        }
        // a bad mnemonic in a private file: named by path, words never echoed
        write_mode(&path, "secret words that are not a mnemonic", 0o600);
        let err = Signer::from_file(&path, "akash").unwrap_err();
        assert!(matches!(&err, TxError::Key(p, _) if p == &path.display().to_string()));
        assert!(!err.to_string().contains("secret"), "{err}");
        // not a regular file, too long, missing
        assert!(matches!(
            Signer::from_file(&dir.0, "akash"),
            Err(TxError::Key(..))
        ));
        write_mode(&path, &"abandon ".repeat(1000), 0o600);
        assert!(matches!(
            Signer::from_file(&path, "akash"),
            Err(TxError::Key(..))
        ));
        assert!(matches!(
            Signer::from_file(&dir.0.join("missing"), "akash"),
            Err(TxError::Key(..))
        ));
    }

    #[test]
    fn the_permission_check_is_made_on_the_open_handle() {
        let dir = tmp("handle");
        let good = dir.0.join("good");
        let bad = dir.0.join("bad");
        let link = dir.0.join("link");
        write_mode(&good, "good", 0o600);
        write_mode(&bad, "bad", 0o644);
        let point = |to: &Path| {
            let tmp = dir.0.join("link.tmp");
            let _ = std::fs::remove_file(&tmp);
            std::os::unix::fs::symlink(to, &tmp).unwrap();
            std::fs::rename(&tmp, &link).unwrap();
        };
        // opened through the link to the private file, then the link is
        // swapped to a world-readable one: the opened file is checked and read
        point(&good);
        let f = File::open(&link).unwrap();
        point(&bad);
        assert_eq!(&read_private(f, &link, 64).unwrap()[..], b"good");
        // and the other way round: what was opened is refused, whatever
        // the path points to at check time
        let f = File::open(&link).unwrap();
        point(&good);
        assert!(matches!(
            read_private(f, &link, 64),
            Err(PrivateFileError::Permissions(_, 0o644))
        ));
        // a file made group-readable after the open is refused too (fstat
        // sees the file's mode at check time)
        let f = File::open(&good).unwrap();
        std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            read_private(f, &good, 64),
            Err(PrivateFileError::Permissions(_, 0o640))
        ));
        // limits: exactly max_len is fine, one more byte is refused
        write_mode(&good, "12345678", 0o600);
        assert_eq!(read_private_file(&good, 8).unwrap().len(), 8);
        assert!(matches!(
            read_private_file(&good, 7),
            Err(PrivateFileError::TooLarge(_, 7))
        ));
    }

    #[test]
    fn expected_sequence_is_read_from_the_log() {
        let log = "account sequence mismatch, expected 6, got 5: incorrect account sequence";
        assert_eq!(expected_sequence(log), Some(6));
        assert_eq!(expected_sequence("incorrect account sequence"), None);
        assert_eq!(expected_sequence("expected x"), None);
    }

    #[test]
    fn error_logs_are_classified() {
        let c = |code, log: &str| classify(code, log.into(), "c");
        assert!(matches!(
            c(32, "account sequence mismatch, expected 5, got 4"),
            TxError::Sequence(_)
        ));
        assert!(matches!(
            c(5, "0uakt is smaller than 10uakt: insufficient funds"),
            TxError::InsufficientFunds(_)
        ));
        assert!(matches!(
            c(
                4,
                "signature verification failed; please verify account number (7) and chain-id (x)"
            ),
            TxError::WrongChainId { .. }
        ));
        assert!(matches!(
            c(22, "no such contract: akash1x"),
            TxError::UnknownContract(_)
        ));
        assert!(matches!(
            c(5, "execute wasm contract failed: Unauthorized"),
            TxError::Rejected { code: 5, .. }
        ));
    }
}
