//! `avpn explain` against the localnet (skips when it is not up): the
//! chain's records, the deciding rule of each side, the default, a service
//! rule, and a typed error for an unknown member.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::localnet;

/// Sends one registry message as `tenant` with the localnet's akash shim
/// (which waits for inclusion and fails when the tx fails).
fn tx(env: &HashMap<String, String>, msg: &str) {
    let shim = format!("{}/akash", env["AKASH_SHIM_DIR"]);
    let mut cmd = Command::new(shim);
    cmd.args([
        "tx",
        "wasm",
        "execute",
        &env["REGISTRY"],
        msg,
        "--from",
        "tenant",
    ])
    .args(env["TX_FLAGS"].split_whitespace());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("akash shim runs");
    assert!(
        out.status.success(),
        "{msg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn avpn(env: &HashMap<String, String>, args: &[&str]) -> (bool, String, String) {
    let out = common::avpn(Path::new(common::BIN))
        .args(common::chain_flags(env))
        .args(args)
        .output()
        .expect("avpn runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_names_the_deciding_rules_from_the_chain() {
    let Some(env) = localnet() else { return };
    let (tenant, provider) = (&env["TENANT"], &env["PROVIDER_1"]);
    let name = format!("explain-{}", std::process::id());
    tx(
        &env,
        &format!(
            r#"{{"create_network":{{"name":"{name}","cidr":"100.64.0.0/24","tags":["web","db"]}}}}"#
        ),
    );
    let id = owned_network_id(&env, tenant, &name);
    let dseq = u64::from(std::process::id()) * 10;
    for (i, (member, tag, service)) in [("web-1", "web", "null"), ("db-1", "db", r#""db""#)]
        .into_iter()
        .enumerate()
    {
        tx(
            &env,
            &format!(
                r#"{{"add_member":{{"network_id":{id},"name":"{member}","lease":{{"owner":"{tenant}","dseq":{},"gseq":1,"oseq":1,"provider":"{provider}","bseq":0}},"tags":["{tag}"],"service":{service}}}}}"#,
                dseq + i as u64
            ),
        );
    }
    tx(
        &env,
        &format!(
            r#"{{"set_policy":{{"network_id":{id},"name":"web-1","policy":{{"ingress":[],"egress":[{{"peers":{{"services":["db"]}},"protocol":"tcp","ports":{{"start":5432,"end":5432}},"action":"allow"}}]}}}}}}"#
        ),
    );
    tx(
        &env,
        &format!(
            r#"{{"set_policy":{{"network_id":{id},"name":"db-1","policy":{{"ingress":[{{"peers":"any","protocol":"tcp","ports":{{"start":22,"end":22}},"action":"deny"}},{{"peers":{{"tags":["web"]}},"protocol":"tcp","action":"allow"}}],"egress":[]}}}}}}"#
        ),
    );
    let id = id.to_string();

    let (ok, out, err) = avpn(&env, &["explain", &id, "web-1", "db-1", "tcp/5432"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ALLOW web-1 -> db-1 on tcp/5432"), "{out}");
    assert!(
        out.contains(r#"egress  of web-1: ALLOW  rule #1 {"peers":{"services":["db"]}"#),
        "{out}"
    );
    assert!(
        out.contains(r#"ingress of db-1: ALLOW  rule #2 {"peers":{"tags":["web"]}"#),
        "{out}"
    );

    // the sender's egress has no rule for 22, and the receiver denies it
    let (ok, out, _) = avpn(&env, &["explain", &id, "web-1", "db-1", "tcp/22"]);
    assert!(ok);
    assert!(out.starts_with("DENY"), "{out}");
    assert!(
        out.contains("egress  of web-1: DENY  no rule matched: network default"),
        "{out}"
    );
    assert!(out.contains("ingress of db-1: DENY  rule #1"), "{out}");

    // by address, the other way round: defaults on both sides
    let (ok, out, _) = avpn(&env, &["explain", &id, "100.64.0.3", "web-1", "icmp"]);
    assert!(ok);
    assert!(out.starts_with("DENY db-1 -> web-1 on icmp"), "{out}");

    let (ok, _, err) = avpn(&env, &["explain", &id, "web-1", "nope", "tcp/1"]);
    assert!(!ok);
    assert!(err.contains(r#"member "nope" not found"#), "{err}");
    let (ok, _, err) = avpn(&env, &["explain", &id, "web-1", "db-1", "tcp/99999"]);
    assert!(!ok);
    assert!(err.contains("invalid flow"), "{err}");

    tx(
        &env,
        &format!(r#"{{"close_network":{{"network_id":{id}}}}}"#),
    );
}

/// The id of `owner`'s network `name`, paging through its networks (the
/// localnet keeps the networks of earlier runs).
fn owned_network_id(env: &HashMap<String, String>, owner: &str, name: &str) -> u64 {
    let mut start_after = "null".to_owned();
    loop {
        let out = Command::new(format!("{}/akash", env["AKASH_SHIM_DIR"]))
            .args(["q", "wasm", "contract-state", "smart", &env["REGISTRY"]])
            .arg(format!(
                r#"{{"networks_by_owner":{{"owner":"{owner}","start_after":{start_after},"limit":100}}}}"#
            ))
            .args(env["Q_FLAGS"].split_whitespace())
            .envs(env)
            .output()
            .unwrap();
        let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let nets = page["data"]["networks"].as_array().expect("networks");
        if let Some(n) = nets.iter().find(|n| n["name"] == name) {
            return n["id"].as_u64().unwrap();
        }
        let last = nets.last().expect("network listed")["id"].as_u64().unwrap();
        start_after = last.to_string();
    }
}
