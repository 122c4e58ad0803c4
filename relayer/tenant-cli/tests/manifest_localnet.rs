//! `avpn plan/apply/export` against the localnet, through the real binary:
//! create from a YAML manifest, round-trip an export, then an edit (a
//! member added, a rule changed, a member removed) whose plan shows exactly
//! that and whose apply keeps the addresses of the members that stay.
//!
//! Needs the localnet env file at `$AVPN_LOCALNET_ENV` (default
//! `/root/.avpn-localnet/env`); skips with `SKIP:` when it is missing or its
//! node does not answer.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use avpn_tenant_cli::chain::{Chain, KeyArgs};
use avpn_tenant_cli::config::ChainArgs;
use avpn_tenant_cli::manifest::file::{Document, Format, parse};
use network_registry::msg::ExecuteMsg;

/// The localnet's env file, or `None` (with a visible SKIP line) when it is not up.
fn localnet() -> Option<HashMap<String, String>> {
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
    let rpc = env.get("RPC").map_or("", String::as_str);
    let hostport = rpc.trim_start_matches("http://").trim_end_matches('/');
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

/// A scratch directory with a 0600 copy of the tenant's mnemonic.
struct Scratch {
    dir: PathBuf,
    mnemonic: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("avpn-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mnemonic = dir.join("tenant.mnemonic");
        let src =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../localnet/accounts/tenant.mnemonic");
        std::fs::copy(&src, &mnemonic).unwrap();
        std::fs::set_permissions(&mnemonic, std::fs::Permissions::from_mode(0o600)).unwrap();
        Scratch { dir, mnemonic }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `avpn` with the chain settings as flags and the key as env.
fn avpn(env: &HashMap<String, String>, s: &Scratch, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_avpn"))
        .args(["--chain-id", &env["CHAIN_ID"], "--rpc", &env["RPC"]])
        .args(["--registry", &env["REGISTRY"]])
        .args(args)
        .env("HOME", &s.dir)
        .env("AVPN_MNEMONIC_FILE", &s.mnemonic)
        .env_remove("AVPN_MNEMONIC")
        .env_remove("AVPN_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    eprintln!(
        "$ avpn {}\n-> {:?}\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn manifest(name: &str, env: &HashMap<String, String>, dseq: u64, members: &str) -> String {
    format!(
        "network: {name}\ncidr: 100.64.0.0/24\ndefault: deny\ntags: [web, db, cache]\nproviders: [{p3}]\nmembers:\n{}",
        members
            .replace("OWNER", &env["TENANT"])
            .replace("P1", &env["PROVIDER_1"])
            .replace("P2", &env["PROVIDER_2"])
            .replace("DSEQ", &dseq.to_string()),
        p3 = env["PROVIDER_3"],
    )
}

const WEB: &str = "  - name: web-1
    lease: OWNER/DSEQ/1/1/P1/0
    tags: [web]
    service: web
    policy:
      ingress:
        - {from: any, icmp: true, action: allow}
      egress:
        - {to: {members: [db]}, tcp: 5432, action: allow}
";
const DB_V1: &str = "  - name: db
    lease: OWNER/DSEQ/1/2/P2/0
    tags: [db]
    ip: 100.64.0.10
    policy:
      ingress:
        - {from: {tags: [web]}, tcp: 5432, action: allow}
";
const DB_V2: &str = "  - name: db
    lease: OWNER/DSEQ/1/2/P2/0
    tags: [db]
    ip: 100.64.0.10
    policy:
      ingress:
        - {from: {tags: [web]}, tcp: 5432-5433, action: allow}
";
const CACHE: &str = "  - name: cache
    lease: OWNER/DSEQ/1/3/P1/0
    tags: [cache]
";
const API: &str = "  - name: api
    lease: OWNER/DSEQ/1/4/P2/0
    tags: [web]
    service: api
    policy:
      ingress:
        - {from: {services: [web]}, tcp: 8080, action: allow}
";

/// Member name → ip in an export.
fn ips(yaml: &str) -> HashMap<String, String> {
    let doc: Document = parse(yaml, Format::Yaml).unwrap();
    doc.members
        .into_iter()
        .map(|m| (m.name, m.ip.unwrap_or_default()))
        .collect()
}

fn lines_starting(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn plan_apply_export_round_trip() {
    let Some(env) = localnet() else { return };
    let s = Scratch::new("manifest");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let name = format!("mf-{}", nanos % 1_000_000_000_000);
    let dseq = (nanos % 1_000_000_000) as u64;
    let v1 = s.write(
        "network.yaml",
        &manifest(&name, &env, dseq, &[WEB, DB_V1, CACHE].concat()),
    );
    let v1 = v1.to_str().unwrap();

    // A new network: plan shows creation and exits 2.
    let out = avpn(&env, &s, &["plan", "-f", v1]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("will be created"), "{}", stdout(&out));

    // Apply refuses without a terminal and without --yes.
    let out = avpn(&env, &s, &["apply", "-f", v1]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a terminal"));

    let out = avpn(&env, &s, &["apply", "-f", v1, "--yes"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("Created network") && text.contains("Applied the manifest"),
        "{text}"
    );
    let network_id = env_network_id(&text);

    let result = std::panic::catch_unwind(|| {
        let out = avpn(&env, &s, &["plan", "-f", v1]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("No changes"));

        // The export round-trips, by name in YAML and by id in JSON.
        let out = avpn(&env, &s, &["export", &name]);
        assert_eq!(out.status.code(), Some(0));
        let exported = stdout(&out);
        let before = ips(&exported);
        assert_eq!(before["db"], "100.64.0.10");
        let e = s.write("export.yaml", &exported);
        let out = avpn(&env, &s, &["plan", "-f", e.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{exported}");
        let out = avpn(
            &env,
            &s,
            &["export", &network_id.to_string(), "--format", "json"],
        );
        let j = s.write("export.json", &stdout(&out));
        let out = avpn(&env, &s, &["plan", "-f", j.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0));
        // Deterministic.
        assert_eq!(stdout(&avpn(&env, &s, &["export", &name])), exported);

        // Edit: add api, change db's rule, remove cache.
        let v2 = s.write(
            "network.yaml",
            &manifest(&name, &env, dseq, &[WEB, DB_V2, API].concat()),
        );
        let v2 = v2.to_str().unwrap();
        let out = avpn(&env, &s, &["plan", "-f", v2]);
        assert_eq!(out.status.code(), Some(2));
        let plan = stdout(&out);
        assert_eq!(
            lines_starting(&plan, "+ "),
            ["+ member api (ip allocated at apply)"]
        );
        assert_eq!(
            lines_starting(&plan, "- "),
            [format!("- member cache (ip {} released)", before["cache"])]
        );
        assert_eq!(
            lines_starting(&plan, "~ "),
            ["~ member db (policy, keeps ip 100.64.0.10)"]
        );
        assert!(
            plan.contains("    ingress - {from: {tags: [web]}, tcp: 5432, action: allow}"),
            "{plan}"
        );
        assert!(
            plan.contains("    ingress + {from: {tags: [web]}, tcp: 5432-5433, action: allow}"),
            "{plan}"
        );
        assert!(
            plan.contains("    ingress + {from: {services: [web]}, tcp: 8080, action: allow}"),
            "{plan}"
        );
        assert!(
            plan.contains("Plan: 1 member(s) to add, 1 to change, 1 to remove, 1 unchanged."),
            "{plan}"
        );

        let out = avpn(&env, &s, &["apply", "-f", v2, "--yes"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("  api 100.64.0."), "{}", stdout(&out));
        let out = avpn(&env, &s, &["plan", "-f", v2]);
        assert_eq!(out.status.code(), Some(0));
        let after = ips(&stdout(&avpn(&env, &s, &["export", &name])));
        assert_eq!(after["web-1"], before["web-1"]);
        assert_eq!(after["db"], before["db"]);
        assert!(!after.contains_key("cache"));
        assert!(after.contains_key("api"));
    });
    close(&env, &s, network_id);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The id printed by `Created network <id>:`.
fn env_network_id(text: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix("Created network "))
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| id.parse().ok())
        .unwrap()
}

/// Closes the test's network (networks per owner are limited).
fn close(env: &HashMap<String, String>, s: &Scratch, network_id: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let args = ChainArgs {
            config: Some(s.write("config.toml", "")),
            chain_id: Some(env["CHAIN_ID"].clone()),
            rpc: Some(env["RPC"].clone()),
            registry: Some(env["REGISTRY"].clone()),
            ..ChainArgs::default()
        };
        let chain = Chain::connect(args.resolve().unwrap()).await.unwrap();
        let keys = KeyArgs {
            mnemonic_file: Some(s.mnemonic.clone()),
            ..KeyArgs::default()
        };
        chain
            .submit(&keys, &[ExecuteMsg::CloseNetwork { network_id }])
            .await
            .unwrap();
    });
}
