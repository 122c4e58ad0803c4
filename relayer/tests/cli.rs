//! The `avpn-relayer` binary: help, keys, and against the localnet (skips
//! with a message when it is not up) register → run → status / metrics.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_avpn-relayer");

fn relayer(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Kills the child on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh temporary directory, removed on drop (also when the test fails).
struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl AsRef<Path> for TmpDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl std::ops::Deref for TmpDir {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

fn tmpdir(tag: &str) -> TmpDir {
    let d = std::env::temp_dir().join(format!("avpn-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    TmpDir(d)
}

#[test]
fn help_explains_every_option_and_subcommand() {
    let out = relayer(&["--help"]);
    assert!(out.status.success());
    let help = text(&out);
    for opt in [
        "--config",
        "--chain-id",
        "--rpc-url",
        "--registry",
        "--directory",
        "--data-dir",
        "--mnemonic-file",
        "--listen",
        "--http-listen",
        "--lease-verification",
        "--serve-tenant",
        "--serve-network",
        "--attachments-dir",
        "--gas-price",
        "--log-format",
    ] {
        let line = help
            .lines()
            .find(|l| l.trim_start().trim_start_matches("-c, ").starts_with(opt))
            .unwrap_or_else(|| panic!("{opt} missing"));
        let idx = help.find(line).unwrap();
        let after: String = help[idx + line.len()..]
            .lines()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        assert!(!after.trim().is_empty(), "{opt} has no explanation");
    }
    for cmd in [
        "run",
        "register",
        "rotate-key",
        "deregister",
        "status",
        "keys",
    ] {
        let out = relayer(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd} --help");
    }
}

#[test]
fn keys_are_created_once_private_and_shown() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmpdir("keys");
    let d = dir.to_str().unwrap();
    let out = relayer(&["keys", "show", "--data-dir", d]);
    assert!(!out.status.success() && text(&out).contains("no identity"));
    let created = relayer(&["keys", "create", "--data-dir", d]);
    assert!(created.status.success(), "{}", text(&created));
    let key = String::from_utf8_lossy(&created.stdout).trim().to_owned();
    assert_eq!(key.len(), 64);
    assert!(
        !relayer(&["keys", "create", "--data-dir", d])
            .status
            .success(),
        "must not overwrite"
    );
    assert!(text(&relayer(&["keys", "show", "--data-dir", d])).contains(&key));
    let mode = std::fs::metadata(dir.join("identity.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn bad_config_and_missing_settings_are_clear() {
    let dir = tmpdir("cfg");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, "rpc-url = 1\n").unwrap();
    let out = relayer(&["--config", cfg.to_str().unwrap(), "run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("c.toml"), "{}", text(&out));
    let out = relayer(&["run", "--data-dir", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("missing setting rpc_url"),
        "{}",
        text(&out)
    );
}

fn localnet() -> Option<HashMap<String, String>> {
    let path =
        std::env::var("AVPN_LOCALNET_ENV").unwrap_or_else(|_| "/root/.avpn-localnet/env".into());
    let Ok(t) = std::fs::read_to_string(&path) else {
        eprintln!("SKIP: localnet env {path} missing (start it with `localnet/localnet up`)");
        return None;
    };
    let env: HashMap<String, String> = t
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect();
    let hostport = env.get("RPC").map_or("", |r| {
        r.trim_start_matches("http://").trim_end_matches('/')
    });
    let up = std::net::ToSocketAddrs::to_socket_addrs(hostport)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if !up {
        eprintln!("SKIP: localnet env {path} exists but its node does not answer (localnet down?)");
        return None;
    }
    Some(env)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// Writes a fresh mnemonic to `dir/account.mnemonic` and funds its account
/// from the localnet validator (so the shared provider accounts stay untouched).
fn fresh_account(env: &HashMap<String, String>, dir: &Path) -> PathBuf {
    use avpn_control::query::Querier;
    use avpn_control::rpc::Endpoint;
    use avpn_control::tx::{Signer, TxClient};
    let mut entropy = [0u8; 32];
    getrandom::fill(&mut entropy).unwrap();
    let phrase = bip39::Mnemonic::from_entropy(&entropy).unwrap().to_string();
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("account.mnemonic");
    std::fs::write(&path, &phrase).unwrap();
    // Key files must be private: the relayer refuses a readable one.
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let to = Signer::from_mnemonic(&phrase, "akash")
        .unwrap()
        .address()
        .clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ep = Endpoint::new(&env["RPC"], &env["CHAIN_ID"], Duration::from_secs(10)).unwrap();
        let validator =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../localnet/accounts/validator.mnemonic");
        let signer = Signer::from_file(&validator, "akash").unwrap();
        let mut c = TxClient::new(Querier::new(ep).unwrap(), signer, Default::default())
            .await
            .unwrap();
        let send = cosmrs::bank::MsgSend {
            from_address: c.address().clone(),
            to_address: to,
            amount: vec![cosmrs::Coin {
                denom: "uakt".parse().unwrap(),
                amount: 100_000_000,
            }],
        };
        c.send(vec![cosmrs::tx::Msg::to_any(&send).unwrap()])
            .await
            .unwrap();
    });
    path
}

#[test]
fn register_rotate_run_status_deregister_against_the_localnet() {
    let Some(env) = localnet() else { return };
    let dir = tmpdir("run");
    let mnemonic = fresh_account(&env, &dir);
    let http = format!("127.0.0.1:{}", free_port());
    let common = [
        "--chain-id",
        &env["CHAIN_ID"],
        "--rpc-url",
        &env["RPC"],
        "--registry",
        &env["REGISTRY"],
        "--directory",
        &env["DIRECTORY"],
        "--data-dir",
        dir.to_str().unwrap(),
        "--mnemonic-file",
        mnemonic.to_str().unwrap(),
        "--http-listen",
        &http,
    ];
    // register, register again (update), then with a new identity (replaces the key)
    let mut args: Vec<&str> = vec![
        "register",
        "--endpoint",
        "198.18.0.3:7000",
        "--region",
        "test",
    ];
    args.extend(common);
    let out = relayer(&args);
    let t = text(&out);
    assert!(out.status.success(), "register: {t}");
    let out = relayer(&args);
    assert!(out.status.success(), "re-register: {}", text(&out));
    let key_path = dir.join("identity.key");
    std::fs::rename(&key_path, dir.join("identity.key.lost")).unwrap();
    let out = relayer(&args);
    assert!(
        out.status.success(),
        "register with a new identity: {}",
        text(&out)
    );
    let key_before = std::fs::read(&key_path).unwrap();
    // rotate: new identity, old one kept aside
    let mut rot: Vec<&str> = vec!["rotate-key", "--overlap-secs", "120"];
    rot.extend(common);
    let out = relayer(&rot);
    assert!(out.status.success(), "rotate-key: {}", text(&out));
    assert_ne!(std::fs::read(&key_path).unwrap(), key_before);
    assert!(
        std::fs::read_dir(&dir).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".old"))
    );
    let phrase = std::fs::read_to_string(&mnemonic).unwrap();
    let words: Vec<&str> = phrase.split_whitespace().take(3).collect();
    assert!(!t.contains(&words.join(" ")), "mnemonic leaked: {t}");

    // lease verification against a chain without the market module is refused clearly
    let mut args: Vec<&str> = vec![
        "run",
        "--listen",
        "127.0.0.1:0",
        "--lease-verification",
        "akash-market",
    ];
    args.extend(common);
    let out = relayer(&args);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no Akash market module"),
        "{}",
        text(&out)
    );

    let mut args: Vec<&str> = vec![
        "run",
        "--listen",
        "127.0.0.1:0",
        "--lease-verification",
        "off",
    ];
    args.extend(common);
    let _child = Running(
        Command::new(BIN)
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(b) = http_get(&http, "/status")
            .filter(|b| b.contains("\"synced_height\":") && !b.contains("\"synced_height\":0"))
        {
            break b;
        }
        assert!(Instant::now() < deadline, "relayer did not sync");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        status.contains("\"lease_verification\":\"off\""),
        "{status}"
    );
    let metrics = http_get(&http, "/metrics").unwrap();
    assert!(metrics.contains("avpn_control_chain_height"), "{metrics}");
    assert!(
        metrics.contains("avpn_control_resyncs_total{reason=\"start\"} 1"),
        "{metrics}"
    );
    let out = relayer(&["status", "--http-listen", &http]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("verification off") && t.contains("NETWORK") && t.contains("PEER"),
        "{t}"
    );
    let mut dereg: Vec<&str> = vec!["deregister"];
    dereg.extend(common);
    let out = relayer(&dereg);
    assert!(out.status.success(), "deregister: {}", text(&out));
    let out = relayer(&dereg);
    assert!(
        !out.status.success() && text(&out).contains("not registered"),
        "{}",
        text(&out)
    );
}
