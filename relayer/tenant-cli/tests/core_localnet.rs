//! The `avpn` binary against the localnet: networks, members, providers,
//! `--generate-only` and another tenant's refused write. Skips (with a
//! `SKIP:` line) when the localnet env file (`$AVPN_LOCALNET_ENV`, default
//! `/root/.avpn-localnet/env`) is missing or its node does not answer.

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{Scratch, localnet};
use serde_json::Value;

/// The binary, the localnet and the keys.
struct Cli {
    env: HashMap<String, String>,
    dir: Scratch,
}

/// Who runs a command.
#[derive(Clone, Copy)]
enum As {
    /// `--mnemonic-file` of the `tenant` account.
    Tenant,
    /// `$AVPN_MNEMONIC` of the `tenant-b` account.
    TenantB,
    /// No key at all.
    Nobody,
}

impl Cli {
    fn new(env: HashMap<String, String>, tag: &str) -> Cli {
        let dir = Scratch::new(&format!("core-{tag}"));
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        dir.add_mnemonics(&["tenant", "tenant-b"]);
        dir.add_binary();
        Cli { env, dir }
    }

    fn mnemonic(&self, account: &str) -> String {
        std::fs::read_to_string(self.dir.mnemonic(account))
            .unwrap()
            .trim()
            .to_owned()
    }

    fn command(&self, who: As, args: &[&str]) -> Command {
        let mut c = common::avpn(&self.dir.binary());
        c.env("HOME", self.dir.path().join("home"))
            .env("AVPN_CHAIN_ID", &self.env["CHAIN_ID"])
            .env("AVPN_RPC", &self.env["RPC"])
            .env("AVPN_REGISTRY", &self.env["REGISTRY"])
            .env("AVPN_GAS_PRICES", &self.env["GAS_PRICES"]);
        match who {
            As::Tenant => {
                c.env("AVPN_MNEMONIC_FILE", self.dir.mnemonic("tenant"));
            }
            As::TenantB => {
                c.env("AVPN_MNEMONIC", self.mnemonic("tenant-b"));
            }
            As::Nobody => {}
        }
        c.args(args);
        c
    }

    /// Runs `avpn args` and returns its output, whatever the exit code.
    fn run(&self, who: As, args: &[&str]) -> Output {
        common::logged(args, self.command(who, args).output().unwrap())
    }

    /// Runs `avpn args`, which must succeed; returns standard output.
    fn ok(&self, who: As, args: &[&str]) -> String {
        let out = self.run(who, args);
        assert!(out.status.success(), "avpn {args:?} failed");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `avpn -o json args`, which must succeed; returns the JSON.
    fn json(&self, who: As, args: &[&str]) -> Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let text = self.ok(who, &all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    /// The network as the registry reports it.
    fn network(&self, id: u64) -> Value {
        self.json(As::Nobody, &["network", "show", &id.to_string()])
    }

    /// Polls `check` until it holds, failing after a deadline.
    fn eventually(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !check() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The value after `key: ` on a line of human output.
fn field(text: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}:");
    text.lines()
        .find_map(|l| l.trim().strip_prefix(&prefix).map(|v| v.trim().to_owned()))
}

#[test]
fn tenant_manages_a_network_end_to_end() {
    let Some(env) = localnet() else { return };
    let cli = Cli::new(env, "e2e");
    let (tenant, tenant_b) = (cli.env["TENANT"].clone(), cli.env["TENANT_B"].clone());
    let (p1, p2, p3) = (
        cli.env["PROVIDER_1"].clone(),
        cli.env["PROVIDER_2"].clone(),
        cli.env["PROVIDER_3"].clone(),
    );
    let nanos = common::nanos() % 1_000_000_000;
    let name = format!("cli-{}-{nanos}", std::process::id());
    let dseq = nanos as u64;

    // Create (human output names the new network id).
    let out = cli.ok(
        As::Tenant,
        &[
            "network",
            "create",
            &name,
            "--cidr",
            "100.64.0.0/24",
            "--cidr6",
            "fd00:1::/64",
            "--tags",
            "web,db",
            "--for",
            "72h",
        ],
    );
    assert!(out.starts_with("tx "), "{out}");
    let id: u64 = field(&out, "network_id")
        .expect("network_id in the output")
        .parse()
        .unwrap();

    // Show by name and by id.
    let by_name = cli.json(As::Tenant, &["network", "show", &name]);
    assert_eq!(by_name["id"], id);
    assert_eq!(by_name["tags"], serde_json::json!(["web", "db"]));
    assert!(by_name["end_time"].is_string(), "{by_name}");
    let text = cli.ok(As::Nobody, &["network", "show", &id.to_string()]);
    assert_eq!(field(&text, "name").as_deref(), Some(name.as_str()));
    assert_eq!(field(&text, "status").as_deref(), Some("open"));
    assert!(
        field(&text, "end").is_some_and(|t| t.ends_with('Z')),
        "{text}"
    );
    let list = cli.json(As::Tenant, &["network", "list"]);
    assert!(list.as_array().unwrap().iter().any(|n| n["id"] == id));
    let other = cli.json(As::Nobody, &["network", "list", "--owner", &tenant]);
    assert_eq!(list, other);

    // Update.
    cli.ok(
        As::Tenant,
        &[
            "network",
            "update",
            &name,
            "--tags",
            "web,db,cache",
            "--default",
            "allow",
        ],
    );
    let net = cli.network(id);
    assert_eq!(net["tags"], serde_json::json!(["web", "db", "cache"]));
    assert_eq!(net["default_action"], "allow");

    // Add a member with a lease string: the IP is in the output.
    let lease = format!("{tenant}/{dseq}/1/1/{p1}");
    let out = cli.ok(
        As::Tenant,
        &[
            "member",
            "add",
            &name,
            "web-1",
            &lease,
            "--tags",
            "web",
            "--service",
            "web",
            "--weight",
            "250",
        ],
    );
    let ip = field(&out, "ip").expect("ip in the output");
    assert!(ip.starts_with("100.64.0."), "{ip}");
    let table = cli.ok(As::Tenant, &["member", "list", &name]);
    assert!(
        table.lines().any(|l| l.starts_with("web-1 ")
            && l.contains(&ip)
            && l.contains("250 ms")
            && l.contains(&lease)),
        "{table}"
    );
    let members = cli.json(As::Nobody, &["member", "list", &id.to_string()]);
    assert_eq!(members[0]["name"], "web-1");
    assert_eq!(members[0]["ip"], ip.as_str());
    assert_eq!(members[0]["weight"], 250);

    // Rebind with flags (owner defaults to the sender): same IP.
    let report = cli.json(
        As::Tenant,
        &[
            "member",
            "rebind",
            &id.to_string(),
            "web-1",
            "--dseq",
            &(dseq + 1).to_string(),
            "--gseq",
            "1",
            "--oseq",
            "1",
            "--provider",
            &p2,
        ],
    );
    assert_eq!(report["events"]["rebind_member"]["ip"], ip.as_str());
    let members = cli.json(As::Nobody, &["member", "list", &id.to_string()]);
    assert_eq!(members[0]["ip"], ip.as_str());
    assert_eq!(members[0]["lease"]["provider"], p2.as_str());
    assert_eq!(members[0]["lease"]["owner"], tenant.as_str());

    // Providers.
    cli.ok(As::Tenant, &["provider", "authorize", &name, &p3]);
    let providers = cli.json(As::Nobody, &["provider", "list", &id.to_string()]);
    let entry = |ps: &Value, p: &str| {
        ps.as_array()
            .unwrap()
            .iter()
            .find(|e| e["provider"] == p)
            .cloned()
    };
    assert_eq!(entry(&providers, &p3).unwrap()["authorized"], true);
    cli.ok(As::Tenant, &["provider", "revoke", &name, &p3]);
    let providers = cli.json(As::Nobody, &["provider", "list", &id.to_string()]);
    assert!(entry(&providers, &p3).is_none_or(|e| e["authorized"] == false));

    // --generate-only prints commands and the unsigned tx, and sends nothing.
    let before = cli.network(id)["revision"].clone();
    let gen_lease = format!("{tenant}/{}/1/1/{p1}", dseq + 2);
    let gen_args = [
        "--generate-only",
        "--from",
        &tenant,
        "member",
        "add",
        &id.to_string(),
        "gen-1",
        &gen_lease,
        "--tags",
        "web",
    ];
    let text = cli.ok(As::Nobody, &gen_args);
    let command = text
        .lines()
        .find(|l| l.starts_with("akash tx wasm execute "))
        .expect("an akash command");
    assert!(command.contains(&format!("--from {tenant}")), "{command}");
    assert!(
        command.contains("--gas auto --gas-adjustment 1.5 --gas-prices"),
        "{command}"
    );
    let tx: Value = text
        .lines()
        .find(|l| l.starts_with("{\"body\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .expect("the unsigned tx");
    let msg = &tx["body"]["messages"][0];
    assert_eq!(msg["@type"], "/cosmwasm.wasm.v1.MsgExecuteContract");
    assert_eq!(msg["sender"], tenant.as_str());
    assert_eq!(msg["msg"]["add_member"]["name"], "gen-1");
    // The command's quoting survives a shell: a fake `akash` echoes its arguments.
    let fake = cli.dir.path().join("bin");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("akash"), "#!/bin/sh\nprintf '%s\\n' \"$@\"\n").unwrap();
    std::fs::set_permissions(fake.join("akash"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let echoed = Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("PATH", path)
        .output()
        .unwrap();
    let echoed = String::from_utf8(echoed.stdout).unwrap();
    let words: Vec<&str> = echoed.lines().collect();
    assert_eq!(words[..3], ["tx", "wasm", "execute"]);
    assert_eq!(words[3], cli.env["REGISTRY"]);
    assert_eq!(serde_json::from_str::<Value>(words[4]).unwrap(), msg["msg"]);
    let json = cli.json(As::Nobody, &gen_args);
    assert_eq!(json["unsigned_tx"], tx);
    assert_eq!(json["commands"][0], command);
    assert_eq!(cli.network(id)["revision"], before);
    let members = cli.json(As::Nobody, &["member", "list", &id.to_string()]);
    assert_eq!(members.as_array().unwrap().len(), 1);

    // Another tenant cannot add to this network; nothing changes, and its
    // mnemonic (from $AVPN_MNEMONIC) appears nowhere.
    let intruder = format!("{tenant_b}/{dseq}/1/1/{p1}");
    let out = cli.run(
        As::TenantB,
        &[
            "member",
            "add",
            &id.to_string(),
            "intruder",
            &intruder,
            "--tags",
            "web",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: the registry refused the message: unauthorized"),
        "{stderr}"
    );
    let phrase = cli.mnemonic("tenant-b");
    let first_words: String = phrase
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(&first_words));
    }
    assert_eq!(cli.network(id)["revision"], before);
    // By name, tenant-b only sees its own networks.
    let out = cli.run(As::TenantB, &["network", "show", &name]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no network named"));

    // Remove, then close.
    cli.ok(As::Tenant, &["member", "remove", &name, "web-1"]);
    let members = cli.json(As::Nobody, &["member", "list", &id.to_string()]);
    assert_eq!(members, serde_json::json!([]));
    cli.ok(As::Tenant, &["network", "close", &name]);
    cli.eventually("the network to be closed", || {
        cli.network(id)["status"] == "closed"
    });
    // The closed network is still found by name.
    let closed = cli.json(As::Tenant, &["network", "show", &name]);
    assert_eq!(closed["id"], id);
}

#[test]
fn errors_are_typed_and_exit_with_one() {
    let Some(env) = localnet() else { return };
    let cli = Cli::new(env, "errors");
    let out = cli.run(As::Nobody, &["member", "add", "1", "x", "not-a-lease"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no key"), "{stderr}");
    let out = cli.run(As::Tenant, &["member", "add", "1", "x", "a/b/c"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: invalid lease \"a/b/c\": 3 parts"),
        "{stderr}"
    );
    let out = cli.run(
        As::Tenant,
        &[
            "network",
            "create",
            "x",
            "--cidr",
            "1.2.3.0/24",
            "--end",
            "soon",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid time \"soon\""));
}
