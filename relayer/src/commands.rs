//! The subcommands.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use avpn_control::controller::{Controller, ControllerConfig};
use avpn_control::lease::{self, Verification};
use avpn_control::metrics::Metrics;
use avpn_control::query::{Querier, QueryError};
use avpn_control::rpc::{Endpoint, RpcError};
use avpn_control::status::ControlStatus;
use avpn_control::tx::{GasPrice, Signer, TxClient, TxConfig, TxError};
use avpn_control::view::Source;
use avpn_control::watcher::{WatchConfig, watch};
use avpn_dataplane::{Overlay, OverlayConfig, OverlayError};
use base64::Engine;
use cosmwasm_std::{Binary, Timestamp};
use ed25519_dalek::Signer as _;
use prometheus_client::registry::Registry;
use provider_directory::msg::ExecuteMsg as DirMsg;

use crate::config::{ConfigError, LeaseMode, Settings};
use crate::identity::{self, IdentityError, hex};

/// Failure of a subcommand.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Identity key.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Node connection.
    #[error(transparent)]
    Rpc(#[from] RpcError),
    /// Query.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Transaction.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// Congestion controller setting.
    #[error("congestion: {0}")]
    Congestion(#[from] avpn_dataplane::UnknownCongestion),
    /// Data plane start.
    #[error("overlay: {0}")]
    Overlay(#[from] OverlayError),
    /// Local I/O.
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    /// Status endpoint.
    #[error("status endpoint {0}: {1}")]
    Status(String, String),
    /// Anything else worth stopping for.
    #[error("{0}")]
    Other(String),
}

fn endpoint(s: &Settings) -> Result<Endpoint, CliError> {
    let url = Settings::need(&s.rpc_url, "rpc_url", "rpc-url")?;
    let chain = Settings::need(&s.chain_id, "chain_id", "chain-id")?;
    Ok(Endpoint::new(url, chain, Duration::from_secs(10))?)
}

/// Waits for the node (backoff on unreachable/malformed); a wrong chain id stops.
async fn wait_for_node(ep: &Endpoint, q: &Querier) -> Result<u64, CliError> {
    let mut delay = Duration::from_millis(500);
    loop {
        match ep.check(q.client()).await {
            Ok(h) => return Ok(h),
            Err(e @ RpcError::WrongChainId { .. }) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(%e, retry_in = ?delay, "node not ready");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    }
}

fn tx_config(s: &Settings) -> Result<TxConfig, CliError> {
    let mut cfg = TxConfig::default();
    if let Some(p) = &s.gas_price {
        cfg.gas_price = p.parse::<GasPrice>()?;
    }
    if let Some(a) = s.gas_adjustment {
        cfg.gas_adjustment = a;
    }
    Ok(cfg)
}

async fn tx_client(s: &Settings) -> Result<TxClient, CliError> {
    let file = s
        .mnemonic_file
        .as_ref()
        .ok_or(ConfigError::Missing("mnemonic_file", "mnemonic-file"))?;
    let signer = Signer::from_file(file, s.prefix())?;
    let q = Querier::new(endpoint(s)?)?;
    Ok(TxClient::new(q, signer, tx_config(s)?).await?)
}

fn directory(s: &Settings) -> Result<String, CliError> {
    Ok(Settings::need(&s.directory, "directory", "directory")?.to_owned())
}

/// `run`.
pub async fn run(s: Settings) -> Result<(), CliError> {
    let ep = endpoint(&s)?;
    let registry_addr = Settings::need(&s.registry, "registry", "registry")?.to_owned();
    let directory_addr = directory(&s)?;
    let data_dir = s.data_dir();
    identity::create_private_dir(&data_dir)
        .map_err(|e| CliError::Io(data_dir.display().to_string(), e))?;
    let key = identity::load_or_create(&data_dir)?;
    identity::remove_expired_now(&data_dir);
    let provider = match (&s.provider, &s.mnemonic_file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => Signer::from_file(f, s.prefix())?.address().to_string(),
        (None, None) => {
            return Err(ConfigError::Missing("provider or mnemonic_file", "provider").into());
        }
    };
    let querier = Querier::new(ep.clone())?;
    let height = wait_for_node(&ep, &querier).await?;
    querier.contract_exists(&registry_addr).await?;
    querier.contract_exists(&directory_addr).await?;
    let source = Source {
        querier: querier.clone(),
        registry: registry_addr.clone(),
        directory: directory_addr.clone(),
        provider: provider.clone(),
    };
    match source.provider(&provider, height).await? {
        Some(rec) if rec.overlay_key.as_slice() != key.public => tracing::warn!(
            local = %hex(&key.public),
            "the directory holds another overlay key for this provider; peers will refuse this relayer (run register or rotate-key)"
        ),
        Some(_) => {}
        None => {
            tracing::warn!(%provider, "provider not registered in the directory; peers will refuse this relayer")
        }
    }
    let verification = match s.lease_verification.unwrap_or(LeaseMode::AkashMarket) {
        LeaseMode::Off => {
            tracing::warn!(
                "lease verification is OFF: members are served without asking the Akash market"
            );
            Verification::Off
        }
        LeaseMode::AkashMarket => {
            probe_market(&querier).await?;
            Verification::Market(Box::new(querier.clone()))
        }
    };
    let mut registry = Registry::default();
    let mut ocfg = OverlayConfig::new(
        s.listen.unwrap_or(([0, 0, 0, 0], 7000).into()),
        key.seed,
        provider.clone(),
        &mut registry,
    );
    if let Some(mtu) = s.underlay_mtu {
        ocfg.underlay_mtu = mtu;
    }
    if let Some(cc) = &s.congestion {
        ocfg.congestion = cc.parse()?;
    }
    if let Some(threads) = s.dataplane_threads {
        ocfg.io_threads = threads;
    }
    let overlay = Overlay::start(ocfg)?;
    tracing::info!(listen = %overlay.local_addr(), public_key = %hex(&key.public), %provider, "overlay started");
    let metrics = Metrics::new(&mut registry);
    let overlay = Arc::new(tokio::sync::Mutex::new(overlay));
    let controller = Controller::new(
        source,
        verification,
        overlay.clone(),
        ControllerConfig {
            attachments_dir: s.attachments_dir.clone(),
            data_dir: Some(data_dir),
            attachments_poll: Duration::from_secs(2),
            retry_after: Duration::from_secs(3),
            consent: avpn_control::view::Consent {
                tenants: s.serve_tenants.iter().flatten().cloned().collect(),
                networks: s.serve_networks.iter().flatten().copied().collect(),
            },
        },
        metrics.clone(),
    );
    let shared = crate::http::Shared {
        registry: Arc::new(registry),
        control: controller.status(),
        overlay,
    };
    let addr = s.http_listen();
    let http = crate::http::serve(addr, shared)
        .await
        .map_err(|e| CliError::Io(addr.to_string(), e))?;
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let watcher = tokio::spawn(watch(
        WatchConfig {
            endpoint: ep,
            registry: registry_addr,
            directory: directory_addr,
            resync_every: s.resync_every(),
            stall_timeout: Duration::from_secs(30),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
        },
        tx,
        metrics,
    ));
    let mut ctl = tokio::spawn(controller.run(rx));
    let outcome = tokio::select! {
        r = tokio::signal::ctrl_c() => {
            r.map_err(|e| CliError::Io("signal".into(), e))?;
            tracing::info!("shutting down");
            Ok(())
        }
        _ = &mut ctl => Err(CliError::Other("controller stopped".into())),
    };
    watcher.abort();
    ctl.abort();
    http.abort();
    outcome
}

/// Fails clearly when the node has no Akash market module.
async fn probe_market(q: &Querier) -> Result<(), CliError> {
    let req = lease::proto::QueryLeaseRequest {
        id: Some(lease::proto::LeaseId::default()),
    };
    match q.grpc(lease::LEASE_PATH, &req, None).await {
        Err(QueryError::Rejected { log, .. })
            if log.contains("unknown query path") || log.contains("no route") =>
        {
            Err(CliError::Other(format!(
                "the chain has no Akash market module ({log}); lease verification cannot work: \
                 use --lease-verification off only if this is intended"
            )))
        }
        Err(QueryError::Rpc(e)) => Err(e.into()),
        _ => Ok(()),
    }
}

/// `key`'s proof of possession for `sender` at the directory `contract`:
/// its ed25519 signature over [`provider_directory::key_proof_bytes`].
fn key_proof(key: &identity::Key, chain_id: &str, contract: &str, sender: &str) -> Binary {
    let msg = provider_directory::key_proof_bytes(chain_id, contract, sender, &key.public);
    let signature = ed25519_dalek::SigningKey::from_bytes(&key.seed).sign(&msg);
    Binary::from(signature.to_bytes().to_vec())
}

/// `register`: makes the directory record match the local identity and the
/// given endpoints. Not registered → `register`; registered with this key →
/// `update`; registered with another key → `deregister` + `register` in one
/// tx (the old key stops being valid at once; use `rotate-key` for an overlap).
pub async fn register(
    s: Settings,
    endpoints: Vec<String>,
    region: Option<String>,
    relay: bool,
) -> Result<(), CliError> {
    let key = identity::load_or_create(&s.data_dir())?;
    let dir = directory(&s)?;
    let mut tx = tx_client(&s).await?;
    let querier = Querier::new(endpoint(&s)?)?;
    let record: Option<provider_directory::msg::ProviderRecord> = match querier
        .smart(
            &dir,
            &provider_directory::msg::QueryMsg::Provider {
                address: tx.address().to_string(),
            },
            None,
        )
        .await
    {
        Ok(r) => Some(r),
        Err(QueryError::Rejected { log, .. }) if log.contains("is not registered") => None,
        Err(e) => return Err(e.into()),
    };
    let chain_id = Settings::need(&s.chain_id, "chain_id", "chain-id")?;
    let register = DirMsg::Register {
        overlay_key: Binary::from(key.public.to_vec()),
        signature: key_proof(&key, chain_id, &dir, tx.address().as_ref()),
        endpoints: endpoints.clone(),
        region: region.clone(),
        relay,
    };
    let msgs = match record {
        None => vec![register],
        Some(r) if r.overlay_key.as_slice() == key.public => vec![DirMsg::Update {
            endpoints: Some(endpoints),
            region: Some(region.unwrap_or_default()),
            relay: Some(relay),
        }],
        Some(r) => {
            tracing::warn!(
                old = %hex(r.overlay_key.as_slice()),
                new = %hex(&key.public),
                "the directory holds another overlay key; replacing the record (no overlap)"
            );
            vec![DirMsg::Deregister {}, register]
        }
    };
    let out = tx.execute(&dir, &msgs).await?;
    println!(
        "registered {} with overlay key {} (tx {} at height {})",
        tx.address(),
        hex(&key.public),
        out.hash,
        out.height
    );
    Ok(())
}

/// `rotate-key`.
pub async fn rotate_key(s: Settings, overlap_secs: u64) -> Result<(), CliError> {
    let data_dir = s.data_dir();
    let current = identity::path(&data_dir);
    if identity::load(&current)?.is_none() {
        return Err(CliError::Other(format!(
            "no identity at {}; run `keys create` or `register` first",
            current.display()
        )));
    }
    let next_path = data_dir.join("identity.key.next");
    let next = match identity::load(&next_path)? {
        Some(k) => k,
        None => identity::create(&next_path)?,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let dir = directory(&s)?;
    let chain_id = Settings::need(&s.chain_id, "chain_id", "chain-id")?;
    let mut tx = tx_client(&s).await?;
    let msg = DirMsg::RotateKey {
        new_key: Binary::from(next.public.to_vec()),
        signature: key_proof(&next, chain_id, &dir, tx.address().as_ref()),
        overlap_until: Timestamp::from_seconds(now + overlap_secs),
    };
    let out = tx.execute(&dir, &[msg]).await?;
    let old = identity::old_path(&data_dir, now.saturating_add(overlap_secs));
    std::fs::rename(&current, &old).map_err(|e| CliError::Io(old.display().to_string(), e))?;
    std::fs::rename(&next_path, &current)
        .map_err(|e| CliError::Io(current.display().to_string(), e))?;
    identity::remove_expired(&data_dir, now);
    println!(
        "rotated to {} (old key valid {overlap_secs}s more; tx {} at height {}); restart `run` to use it",
        hex(&next.public),
        out.hash,
        out.height
    );
    Ok(())
}

/// `deregister`.
pub async fn deregister(s: Settings) -> Result<(), CliError> {
    let mut tx = tx_client(&s).await?;
    let out = tx
        .execute(&directory(&s)?, &[DirMsg::Deregister {}])
        .await?;
    println!(
        "deregistered {} (tx {} at height {})",
        tx.address(),
        out.hash,
        out.height
    );
    Ok(())
}

/// `status`.
pub async fn status(s: Settings, url: Option<String>, json: bool) -> Result<(), CliError> {
    let base = url.unwrap_or_else(|| format!("http://{}", s.http_listen()));
    let url = format!("{}/status", base.trim_end_matches('/'));
    let err = |e: String| CliError::Status(url.clone(), e);
    let body = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| err(e.to_string()))?
        .get(&url)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?
        .text()
        .await
        .map_err(|e| err(e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| err(format!("not JSON: {e}")))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or(body));
        return Ok(());
    }
    let control: ControlStatus = serde_json::from_value(v["control"].clone())
        .map_err(|e| err(format!("unexpected shape: {e}")))?;
    print!("{}", control.render());
    println!(
        "\n{:<48} {:<11} {:<40} {:>9} {:>12} {:>12}",
        "PEER", "STATE", "PATH", "RTT(ms)", "TX", "RX"
    );
    for p in v["dataplane"]["peers"].as_array().into_iter().flatten() {
        let rtt = p["rtt_us"]
            .as_u64()
            .map_or("-".into(), |u| format!("{:.1}", u as f64 / 1000.0));
        let paths = &p["paths"];
        println!(
            "{:<48} {:<11} {:<40} {:>9} {:>12} {:>12}",
            p["provider"].as_str().unwrap_or("?"),
            p["state"].as_str().unwrap_or("?"),
            paths["in_use"].as_str().unwrap_or("-"),
            rtt,
            p["tx_bytes"],
            p["rx_bytes"]
        );
        // Every measured path, the one in use included, with its cost.
        for alt in paths["paths"].as_array().into_iter().flatten() {
            let ms = |k: &str| alt[k].as_f64().map_or("-".into(), |x| format!("{x:.2}"));
            println!(
                "  {:<46} rtt {:>7} ms  loss {:>4.0}%  cost {:>7} ms",
                alt["path"].as_str().unwrap_or("?"),
                ms("rtt_ms"),
                alt["loss"].as_f64().unwrap_or(0.0) * 100.0,
                ms("cost_ms"),
            );
        }
    }
    if let Some(drops) = v["dataplane"]["drops"]
        .as_object()
        .filter(|d| !d.is_empty())
    {
        println!(
            "\ndrops: {}",
            drops
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    Ok(())
}

/// `keys create`.
pub fn keys_create(s: Settings) -> Result<(), CliError> {
    let k = identity::create(&identity::path(&s.data_dir()))?;
    println!("{}", hex(&k.public));
    Ok(())
}

/// `keys show`.
pub fn keys_show(s: Settings) -> Result<(), CliError> {
    let path = identity::path(&s.data_dir());
    let k = identity::load(&path)?
        .ok_or_else(|| CliError::Other(format!("no identity at {}", path.display())))?;
    println!("hex:    {}", hex(&k.public));
    println!(
        "base64: {}",
        base64::engine::general_purpose::STANDARD.encode(k.public)
    );
    Ok(())
}
