//! `avpn invite` end to end: the real binary against the localnet
//! (`$AVPN_LOCALNET_ENV`, default `/root/.avpn-localnet/env`; skipped with a
//! `SKIP:` line when it is missing or its node is down). `tenant` owns the
//! networks, `tenant-b` claims.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use avpn_control::query::Querier;
use avpn_control::rpc::Endpoint;
use avpn_control::tx::{Signer, TxClient, TxConfig};
use avpn_tenant_cli::invite::token::Token;
use common::{Scratch, localnet, unique};
use serde_json::{Value, json};
use tendermint_rpc::Client;

/// A scratch directory (HOME of the binary) with a private copy of the
/// binary and 0600 copies of the accounts' mnemonics.
fn scratch() -> Scratch {
    let scratch = Scratch::new("invite-test");
    scratch.add_binary();
    let help = Command::new(scratch.binary())
        .args(["invite", "--help"])
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "{} has no `invite` command (replaced by another checkout's build in a shared CARGO_TARGET_DIR?)",
        common::BIN
    );
    scratch.add_mnemonics(&["tenant", "tenant-b"]);
    scratch
}

/// Runs the binary as `account`; `chain` flags are added by the caller.
struct Avpn<'a> {
    env: &'a HashMap<String, String>,
    scratch: &'a Scratch,
}

impl Avpn<'_> {
    fn command(&self, account: &str, args: &[&str]) -> Command {
        let mut cmd = common::avpn(&self.scratch.binary());
        cmd.env("HOME", self.scratch.path())
            .arg("--rpc")
            .arg(&self.env["RPC"])
            .arg("--mnemonic-file")
            .arg(self.scratch.mnemonic(account))
            .args(args);
        cmd
    }

    /// Runs with `--chain-id` and `--registry` from the env file.
    fn run(&self, account: &str, args: &[&str]) -> Output {
        let mut full = vec![
            "--chain-id",
            self.env["CHAIN_ID"].as_str(),
            "--registry",
            self.env["REGISTRY"].as_str(),
        ];
        full.extend_from_slice(args);
        self.command(account, &full).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, account: &str, args: &[&str]) -> String {
        let out = self.run(account, args);
        assert!(
            out.status.success(),
            "avpn {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs and expects failure that sent nothing; returns stderr.
    fn refused(&self, out: Output, token: &str) -> String {
        let stderr = String::from_utf8(out.stderr).unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(!out.status.success(), "unexpected success: {stdout}");
        assert!(!stderr.contains("tx rejected"), "{stderr}");
        let data = &token["avpn-invite1".len()..];
        assert!(!stderr.contains(&data[..16]), "token leaked: {stderr}");
        assert!(!stdout.contains(&data[..16]), "token leaked: {stdout}");
        stderr
    }

    fn create(&self, network: u64, args: &[&str]) -> String {
        let net = network.to_string();
        let mut full = vec!["invite", "create", net.as_str()];
        full.extend_from_slice(args);
        let stdout = self.ok("tenant", &full);
        let token = stdout.lines().next().unwrap().trim().to_owned();
        assert!(token.starts_with("avpn-invite1"), "{stdout}");
        token
    }

    fn list(&self, network: u64) -> Vec<Value> {
        let net = network.to_string();
        let stdout = self.ok("tenant", &["invite", "list", &net, "--json"]);
        serde_json::from_str(&stdout).unwrap()
    }
}

/// The owner's tx client (networks are made directly, not by the CLI).
async fn owner(env: &HashMap<String, String>, scratch: &Scratch) -> (Querier, TxClient) {
    let endpoint = Endpoint::new(&env["RPC"], &env["CHAIN_ID"], Duration::from_secs(10)).unwrap();
    let querier = Querier::new(endpoint).unwrap();
    let signer = Signer::from_file(&scratch.mnemonic("tenant"), "akash").unwrap();
    let tx = TxClient::new(querier.clone(), signer, TxConfig::default())
        .await
        .unwrap();
    (querier, tx)
}

async fn create_network(tx: &mut TxClient, registry: &str, name: &str, tags: &[&str]) -> u64 {
    let msg = json!({"create_network": {"name": name, "cidr": "100.64.0.0/24", "tags": tags}});
    let outcome = tx.execute(registry, &[msg]).await.unwrap();
    outcome.attribute("wasm-create_network", "network_id")[0]
        .parse()
        .unwrap()
}

async fn chain_nanos(querier: &Querier) -> u128 {
    let block = querier.client().latest_block().await.unwrap();
    u128::try_from(block.block.header.time.unix_timestamp_nanos()).unwrap()
}

fn invitation_id(token: &str) -> u64 {
    Token::decode(token).unwrap().invitation_id.unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn invite_create_claim_list_revoke() {
    let Some(env) = localnet() else { return };
    let scratch = scratch();
    let avpn = Avpn {
        env: &env,
        scratch: &scratch,
    };
    let registry = env["REGISTRY"].as_str();
    let (querier, mut tx) = owner(&env, &scratch).await;
    let id = unique();
    let a = create_network(&mut tx, registry, &format!("inv-a-{id}"), &["web", "db"]).await;
    let b = create_network(&mut tx, registry, &format!("inv-b-{id}"), &["web"]).await;

    // Create: one line on stdout (plus the QR code with --qr).
    let net_a = a.to_string();
    let stdout = avpn.ok(
        "tenant",
        &[
            "invite",
            "create",
            &net_a,
            "--tags",
            "web",
            "--expires",
            "1h",
            "--uses",
            "1",
            "--max-members",
            "3",
            "--qr",
        ],
    );
    let token = stdout.lines().next().unwrap().trim().to_owned();
    assert!(token.starts_with("avpn-invite1"), "{stdout}");
    assert!(
        stdout.lines().count() > 10 && stdout.contains('█'),
        "{stdout}"
    );
    let parsed = Token::decode(&token).unwrap();
    assert_eq!(
        (
            parsed.chain_id.as_str(),
            parsed.registry.as_str(),
            parsed.network_id
        ),
        (env["CHAIN_ID"].as_str(), registry, a)
    );
    let first = invitation_id(&token);

    // A tampered token and a token for another chain are refused up front.
    let last = token.len() - 1;
    let flipped = if token.ends_with('q') { "p" } else { "q" };
    let tampered = format!("{}{flipped}", &token[..last]);
    let err = avpn.refused(
        avpn.run("tenant-b", &["invite", "claim", &tampered]),
        &token,
    );
    assert!(err.contains("checksum"), "{err}");
    let other_chain = avpn
        .command(
            "tenant-b",
            &["--chain-id", "other-chain", "invite", "claim", &token],
        )
        .output()
        .unwrap();
    let err = avpn.refused(other_chain, &token);
    assert!(err.contains("the token is for chain"), "{err}");

    // Claim with only --rpc configured: the token supplies chain and registry.
    let out = avpn
        .command("tenant-b", &["invite", "claim", &token])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "claim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&env["TENANT_B"]), "{stdout}");
    assert!(stdout.contains("tags web"), "{stdout}");
    assert!(stdout.contains("up to 3 member"), "{stdout}");
    let participants: Value = querier
        .smart(registry, &json!({"participants": {"network_id": a}}), None)
        .await
        .unwrap();
    let joined = participants["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == env["TENANT_B"].as_str())
        .unwrap_or_else(|| panic!("tenant-b not a participant: {participants}"));
    assert_eq!(joined["tags"], json!(["web"]));
    assert_eq!(joined["invitation_id"], json!(first));
    assert_eq!(joined["max_members"], json!(3));
    // the participant finds the network among those it joined
    let listed: Value =
        serde_json::from_str(&avpn.ok("tenant-b", &["-o", "json", "network", "list", "--joined"]))
            .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == json!(a)),
        "{listed}"
    );

    // Claiming again: used up, nothing sent.
    let err = avpn.refused(avpn.run("tenant-b", &["invite", "claim", &token]), &token);
    assert!(
        err.contains("used up") && err.contains("nothing was sent"),
        "{err}"
    );

    // A second invitation: tenant-b is already a participant (token on
    // stdin), the owner cannot claim its own.
    let second = avpn.create(a, &["--tags", "web,db", "--uses", "2"]);
    let err = avpn.refused(avpn.claim_stdin("tenant-b", &second), &second);
    assert!(err.contains("already a participant"), "{err}");
    let err = avpn.refused(avpn.run("tenant", &["invite", "claim", &second]), &second);
    assert!(err.contains("owns network"), "{err}");

    // List: uses and status.
    let rows = avpn.list(a);
    let row = |id: u64| rows.iter().find(|r| r["id"] == json!(id)).unwrap().clone();
    assert_eq!(row(first)["uses"], json!(1));
    assert_eq!(row(first)["max_uses"], json!(1));
    assert_eq!(row(first)["max_members"], json!(3));
    assert_eq!(row(first)["status"], json!("used up"));
    assert_eq!(row(invitation_id(&second))["tags"], json!(["web", "db"]));
    assert_eq!(row(invitation_id(&second))["status"], json!("open"));
    let table = avpn.ok("tenant", &["invite", "list", &net_a]);
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains("1/1") && table.contains("0/2"), "{table}");

    // Expired (by the chain's clock): refused before sending.
    let short = avpn.create(b, &["--tags", "web", "--expires", "8s"]);
    let rows = avpn.list(b);
    let expires: u128 = rows
        .iter()
        .find(|r| r["id"] == json!(invitation_id(&short)))
        .unwrap()["expires_ns"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while chain_nanos(&querier).await < expires {
        assert!(
            Instant::now() < deadline,
            "chain time never passed the expiry"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let err = avpn.refused(avpn.run("tenant-b", &["invite", "claim", &short]), &short);
    assert!(
        err.contains("expired") && err.contains("nothing was sent"),
        "{err}"
    );

    // Revoked: refused before sending.
    let revoked = avpn.create(b, &["--tags", "web"]);
    let net_b = b.to_string();
    let rid = invitation_id(&revoked).to_string();
    let stdout = avpn.ok("tenant", &["invite", "revoke", &net_b, &rid]);
    assert!(stdout.contains("revoked invitation"), "{stdout}");
    assert!(
        avpn.list(b)
            .iter()
            .all(|r| r["id"] != json!(invitation_id(&revoked)))
    );
    let err = avpn.refused(
        avpn.run("tenant-b", &["invite", "claim", &revoked]),
        &revoked,
    );
    assert!(
        err.contains("does not exist") && err.contains("nothing was sent"),
        "{err}"
    );
    // a network may be named instead of numbered
    assert_eq!(
        avpn.ok(
            "tenant",
            &["invite", "list", &format!("inv-b-{id}"), "--json"]
        ),
        avpn.ok("tenant", &["invite", "list", &net_b, "--json"])
    );
    // the networks go (an owner may hold only so many open ones)
    for n in [a, b] {
        let close = json!({"close_network": {"network_id": n}});
        tx.execute(registry, &[close]).await.expect("close");
    }
}

impl Avpn<'_> {
    /// `avpn invite claim -` with the token on stdin.
    fn claim_stdin(&self, account: &str, token: &str) -> Output {
        let chain_id = self.env["CHAIN_ID"].as_str();
        let registry = self.env["REGISTRY"].as_str();
        let mut child = self
            .command(
                account,
                &[
                    "--chain-id",
                    chain_id,
                    "--registry",
                    registry,
                    "invite",
                    "claim",
                    "-",
                ],
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{token}").unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }
}
