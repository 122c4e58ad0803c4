//! `avpn plan/apply/export` against the localnet, through the real binary:
//! create from a YAML manifest, round-trip an export, then an edit (a
//! member added, a rule changed, a member removed) whose plan shows exactly
//! that and whose apply keeps the addresses of the members that stay.
//!
//! Needs the localnet env file at `$AVPN_LOCALNET_ENV` (default
//! `/root/.avpn-localnet/env`); skips with `SKIP:` when it is missing or its
//! node does not answer.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Output, Stdio};

use avpn_tenant_cli::chain::{Chain, KeyArgs};
use avpn_tenant_cli::config::ChainArgs;
use avpn_tenant_cli::manifest::file::{Document, Format, parse};
use common::{Scratch, localnet};
use network_registry::msg::ExecuteMsg;

/// Runs `avpn` with the chain settings as flags and the key as env.
fn avpn(env: &HashMap<String, String>, s: &Scratch, args: &[&str]) -> Output {
    let out = common::avpn(Path::new(common::BIN))
        .args(common::chain_flags(env))
        .args(args)
        .env("HOME", s.path())
        .env("AVPN_MNEMONIC_FILE", s.mnemonic("tenant"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    common::logged(args, out)
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
    service: api-svc
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
    s.add_mnemonics(&["tenant"]);
    let nanos = common::nanos();
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
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout(&out).contains("  api 100.64.0."), "{}", stdout(&out));
        let out = avpn(&env, &s, &["plan", "-f", v2]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
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
            mnemonic_file: Some(s.mnemonic("tenant")),
            ..KeyArgs::default()
        };
        chain
            .submit(&keys, &[ExecuteMsg::CloseNetwork { network_id }])
            .await
            .unwrap();
    });
}
