//! Helpers of the tests: the localnet's env file, accounts, a controller with
//! a recording data plane, attachment files, a TCP proxy that can cut the
//! WebSocket, and (in [`fake`]) an in-process fake node with a scripted chain.

#![allow(dead_code)]

pub mod fake;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use avpn_control::controller::{Applied, Controller, ControllerConfig};
use avpn_control::lease::Verification;
use avpn_control::metrics::Metrics;
use avpn_control::query::Querier;
use avpn_control::rpc::Endpoint;
use avpn_control::tx::{Signer, TxClient, TxConfig};
use avpn_control::view::{Consent, Source};
use avpn_control::watcher::{WatchConfig, watch};
use avpn_model::{Change, DataPlane, DataPlaneError};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, watch as tokio_watch};

/// The localnet's env file, or `None` (with a visible SKIP line) when it is not up.
pub fn localnet() -> Option<HashMap<String, String>> {
    let path =
        std::env::var("AVPN_LOCALNET_ENV").unwrap_or_else(|_| "/root/.avpn-localnet/env".into());
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("SKIP: localnet env {path} missing (start it with `localnet/localnet up`)");
        return None;
    };
    let env: HashMap<String, String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect();
    if env.get("REGISTRY").is_none_or(|r| r.is_empty()) {
        eprintln!("SKIP: localnet env {path} has no contracts");
        return None;
    }
    if !node_answers(env.get("RPC").map_or("", String::as_str)) {
        eprintln!("SKIP: localnet env {path} exists but its node does not answer (localnet down?)");
        return None;
    }
    Some(env)
}

/// Whether something accepts TCP connections at the RPC URL's host:port.
pub fn node_answers(rpc: &str) -> bool {
    use std::net::ToSocketAddrs;
    let hostport = rpc.trim_start_matches("http://").trim_end_matches('/');
    hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

pub fn endpoint(env: &HashMap<String, String>) -> Endpoint {
    Endpoint::new(&env["RPC"], &env["CHAIN_ID"], Duration::from_secs(10)).unwrap()
}

pub fn mnemonic_path(account: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../localnet/accounts")
        .join(format!("{account}.mnemonic"))
}

/// A tx client for a localnet account (e.g. `tenant`, `provider-1`).
pub async fn account(env: &HashMap<String, String>, name: &str) -> TxClient {
    let signer = Signer::from_file(&mnemonic_path(name), "akash").unwrap();
    let q = Querier::new(endpoint(env)).unwrap();
    TxClient::new(q, signer, TxConfig::default()).await.unwrap()
}

/// Records changes.
#[derive(Default)]
pub struct Recorder(pub Vec<Change>);

impl DataPlane for Recorder {
    async fn apply(&mut self, change: Change) -> Result<(), DataPlaneError> {
        self.0.push(change);
        Ok(())
    }
}

/// A TCP proxy to the node whose connections can be cut and refused.
pub struct Proxy {
    pub url: String,
    open: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

impl Proxy {
    pub async fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Default::default();
        let (o, c) = (open.clone(), conns.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !o.load(std::sync::atomic::Ordering::SeqCst) {
                    continue; // dropped: connection refused-ish
                }
                let up = upstream.clone();
                c.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(&up).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                }));
            }
        });
        Proxy {
            url,
            open,
            conns,
            task,
        }
    }

    /// Closes every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Accepts connections again.
    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A running controller + watcher.
pub struct Relayer {
    pub applied: tokio_watch::Receiver<Applied>,
    pub dataplane: Arc<Mutex<Recorder>>,
    pub metrics: Metrics,
    pub status: Arc<std::sync::Mutex<avpn_control::status::ControlStatus>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Relayer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Optional settings of [`start_relayer`].
#[derive(Clone, Debug, Default)]
pub struct Opts {
    /// Attachment files (the local leases, which decide what is served).
    pub attachments_dir: Option<PathBuf>,
    /// Data dir for the checkpoint.
    pub data_dir: Option<PathBuf>,
    /// Networks served without a local lease.
    pub consent: Consent,
}

impl Opts {
    /// Local leases from `dir`.
    pub fn attachments(dir: &std::path::Path) -> Opts {
        Opts {
            attachments_dir: Some(dir.to_owned()),
            ..Opts::default()
        }
    }

    /// Consent to serve network `id`.
    pub fn serve_network(id: u64) -> Opts {
        Opts {
            consent: Consent {
                networks: [id].into(),
                ..Consent::default()
            },
            ..Opts::default()
        }
    }
}

/// A running controller + watcher for `provider`, the WebSocket going
/// through `ws_url`.
pub fn start_relayer(
    env: &HashMap<String, String>,
    provider: &str,
    ws_url: &str,
    resync_every: Duration,
    opts: Opts,
) -> Relayer {
    let Opts {
        attachments_dir,
        data_dir,
        consent,
    } = opts;
    let ep = endpoint(env);
    let source = Source {
        querier: Querier::new(ep.clone()).unwrap(),
        registry: env["REGISTRY"].clone(),
        directory: env["DIRECTORY"].clone(),
        provider: provider.to_owned(),
    };
    let dataplane = Arc::new(Mutex::new(Recorder::default()));
    let metrics = Metrics::default();
    let cfg = ControllerConfig {
        attachments_dir,
        data_dir,
        attachments_poll: Duration::from_millis(200),
        retry_after: Duration::from_millis(200),
        consent,
    };
    let ctl = Controller::new(
        source,
        Verification::Off,
        dataplane.clone(),
        cfg,
        metrics.clone(),
    );
    let applied = ctl.applied();
    let status = ctl.status();
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let wcfg = WatchConfig {
        endpoint: Endpoint::new(ws_url, &env["CHAIN_ID"], Duration::from_secs(10)).unwrap(),
        registry: env["REGISTRY"].clone(),
        directory: env["DIRECTORY"].clone(),
        resync_every,
        stall_timeout: Duration::from_secs(10),
        backoff_min: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
    };
    let tasks = vec![
        tokio::spawn(watch(wcfg, tx, metrics.clone())),
        tokio::spawn(ctl.run(rx)),
    ];
    Relayer {
        applied,
        dataplane,
        metrics,
        status,
        tasks,
    }
}

impl Relayer {
    /// Waits until `network` is applied at `revision` or later (or, with
    /// `None`, is gone); returns the applied snapshot.
    pub async fn wait_for(
        &mut self,
        network: u64,
        revision: Option<u64>,
        within: Duration,
    ) -> Applied {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            {
                let a = self.applied.borrow_and_update();
                let ok = match revision {
                    Some(r) => a.revisions.get(&network).is_some_and(|have| *have >= r),
                    None => a.ready && !a.revisions.contains_key(&network),
                };
                if ok {
                    return a.clone();
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "network {network} not at revision {revision:?} within {within:?}"
            );
            let _ = tokio::time::timeout(left, self.applied.changed()).await;
        }
    }
}

/// `n` new accounts with random keys, funded by the validator in one tx
/// (tests never touch the shared provider accounts' directory records).
pub async fn fresh_accounts(env: &HashMap<String, String>, n: usize) -> Vec<TxClient> {
    let signers: Vec<Signer> = (0..n)
        .map(|_| {
            let mut entropy = [0u8; 32];
            getrandom::fill(&mut entropy).unwrap();
            let phrase = bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string();
            Signer::from_mnemonic(&phrase, "akash").unwrap()
        })
        .collect();
    let mut validator = account(env, "validator").await;
    let sends = signers
        .iter()
        .map(|s| {
            cosmrs::tx::Msg::to_any(&cosmrs::bank::MsgSend {
                from_address: validator.address().clone(),
                to_address: s.address().clone(),
                amount: vec![cosmrs::Coin {
                    denom: "uakt".parse().unwrap(),
                    amount: 2_000_000_000,
                }],
            })
            .unwrap()
        })
        .collect();
    validator.send(sends).await.unwrap();
    let mut out = Vec::new();
    for s in signers {
        let q = Querier::new(endpoint(env)).unwrap();
        out.push(TxClient::new(q, s, TxConfig::default()).await.unwrap());
    }
    out
}

/// A random overlay key for `client`'s account: the public key and its proof
/// of possession for the localnet's directory.
pub fn new_overlay_key(
    env: &HashMap<String, String>,
    client: &TxClient,
) -> ([u8; 32], cosmwasm_std::Binary) {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    let msg = provider_directory::key_proof_bytes(
        &env["CHAIN_ID"],
        &env["DIRECTORY"],
        client.address().as_ref(),
        &public,
    );
    let signature = ed25519_dalek::Signer::sign(&key, &msg);
    (
        public,
        cosmwasm_std::Binary::from(signature.to_bytes().to_vec()),
    )
}

/// Registers `client`'s account in the directory with a random overlay key.
pub async fn register(env: &HashMap<String, String>, client: &mut TxClient, endpoint: &str) {
    let (key, signature) = new_overlay_key(env, client);
    let msg = provider_directory::msg::ExecuteMsg::Register {
        overlay_key: cosmwasm_std::Binary::from(key.to_vec()),
        signature,
        endpoints: vec![endpoint.to_owned()],
        region: Some("test".into()),
        relay: false,
    };
    client.execute(&env["DIRECTORY"], &[msg]).await.unwrap();
}

/// A temporary directory removed on drop (also when the test fails).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("{tag}-{}", unique()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Unique suffix for names.
pub fn unique() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000_000
    )
}

/// The text of an attachment file for lease `owner/dseq/gseq/oseq/<this
/// provider>/bseq`, transparent mode in `netns`.
pub fn attachment_text(
    owner: &str,
    dseq: u64,
    gseq: u32,
    oseq: u32,
    bseq: u32,
    netns: &str,
) -> String {
    format!(
        "owner = \"{owner}\"\ndseq = {dseq}\ngseq = {gseq}\noseq = {oseq}\nbseq = {bseq}\nnetns = \"{netns}\"\nmode = \"transparent\"\n"
    )
}

/// Writes `file` in `dir` as an attachment of lease `owner/dseq/1/1/<this
/// provider>/bseq` in `netns` (atomically: written aside, then renamed, so
/// a poll never reads half a file).
pub fn write_attachment(
    dir: &std::path::Path,
    file: &str,
    owner: &str,
    dseq: u64,
    bseq: u32,
    netns: &str,
) {
    let tmp = dir.join(format!(".{file}.tmp"));
    std::fs::write(&tmp, attachment_text(owner, dseq, 1, 1, bseq, netns)).unwrap();
    std::fs::rename(&tmp, dir.join(file)).unwrap();
}
