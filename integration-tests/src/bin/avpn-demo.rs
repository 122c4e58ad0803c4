//! The README's main command: the whole system on the localnet.
//!
//! Starts (or reuses) the localnet with both contracts, runs two providers'
//! relayers in network namespaces, creates a demo network with two members
//! as the tenant, shows allowed traffic (ping, Redis) and a port the policy
//! blocks, and prints how to look around. With a terminal it keeps
//! everything running until Enter is pressed; otherwise it tears down.

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use anyhow::{Context, Result};
use integration_tests::poll;
use integration_tests::traffic::{ping_ok, redis_cli, redis_server, tcp_connect_ok};
use integration_tests::world::World;
use serde_json::json;

fn main() -> Result<()> {
    if !integration_tests::require_root("avpn-demo") {
        std::process::exit(1);
    }
    say("starting the localnet (real chain node, contracts stored by governance)");
    let mut w = World::new("demo", 30, 2)?;
    say(
        "registering provider-1 and provider-2 in the directory and starting their relayers (namespaces demo-p1, demo-p2)",
    );
    w.start_relayer(1)?;
    w.start_relayer(2)?;

    let net = w.create_network("tenant", "demo", "100.64.30.0/24", &["web", "db"], false)?;
    say(&format!(
        "tenant created network {net} (100.64.30.0/24, default deny)"
    ));
    let web = w.lease("tenant", 1, "mode = \"transparent\"")?;
    let db = w.lease("tenant", 2, "mode = \"transparent\"")?;
    let ip_web = w.add_member("tenant", net, "web", &web, &["web"])?;
    let ip_db = w.add_member("tenant", net, "db", &db, &["db"])?;
    say(&format!(
        "members: web = {ip_web} on provider-1, db = {ip_db} on provider-2; each bound to a lease of the tenant by its full id {{owner, dseq, gseq, oseq, provider, bseq}}:"
    ));
    for (name, lease) in [("web", &web), ("db", &db)] {
        println!("    {name}: {}", lease.id(w.net));
    }
    say(&format!(
        "provider-1's attachment file for web's lease ({}):",
        web.attachment_file().display()
    ));
    let attachment = std::fs::read_to_string(web.attachment_file())?;
    for line in attachment.lines() {
        println!("    {line}");
    }
    w.set_policy(
        "tenant",
        net,
        "db",
        json!({
            "ingress": [
                {"peers": {"tags": ["web"]}, "protocol": "tcp", "ports": {"start": 6379, "end": 6379}, "action": "allow"},
                {"peers": {"tags": ["web"]}, "protocol": "icmp", "action": "allow"}
            ],
            "egress": []
        }),
    )?;
    w.set_policy(
        "tenant",
        net,
        "web",
        json!({"ingress": [], "egress": [{"peers": "any", "protocol": "any", "action": "allow"}]}),
    )?;
    say("policy: db admits tcp/6379 and icmp from tag `web`; everything else is denied");
    w.wait_attached(&web, ip_web, Duration::from_secs(60))?;
    w.wait_attached(&db, ip_db, Duration::from_secs(60))?;

    poll::until(
        "ping web → db over the overlay",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || ping_ok(&web.ns, ip_db, 1).then_some(()),
    )?;
    say(&format!("ping {ip_db} from web: ok"));
    let _redis = redis_server(&db.ns, ip_db, 6379)?;
    let set = redis_cli(
        &web.ns,
        ip_db,
        6379,
        &["set", "hello", "from-web-over-avpn"],
    )?;
    let get = redis_cli(&web.ns, ip_db, 6379, &["get", "hello"])?;
    say(&format!(
        "redis-cli -h {ip_db} set/get from web: {set} / {get}"
    ));
    let _blocked = redis_server(&db.ns, ip_db, 5432)?;
    let open = tcp_connect_ok(&web.ns, ip_db, 5432);
    say(&format!(
        "tcp {ip_db}:5432 from web (not allowed by db's policy): {}",
        if open {
            "OPEN (unexpected!)"
        } else {
            "blocked"
        }
    ));
    println!(
        "\n{}",
        w.relayer_cmd(1, &["status"]).context("relayer status")?
    );
    let chain = [
        "--chain-id",
        w.net.var("CHAIN_ID"),
        "--rpc",
        w.net.var("RPC"),
        "--registry",
        w.net.var("REGISTRY"),
    ];
    let net_id = net.to_string();
    say(
        "the tenant's own tool, avpn: the members, and why web may reach db on 6379 but not on 5432",
    );
    for args in [
        &["member", "list", net_id.as_str()][..],
        &["explain", net_id.as_str(), "web", "db", "tcp/6379"][..],
        &["explain", net_id.as_str(), "web", "db", "tcp/5432"][..],
    ] {
        println!("$ avpn {}", args.join(" "));
        print!("{}", avpn_cli(&chain, args)?);
    }

    let r = w.net.var("REGISTRY");
    println!(
        "Look around (as root, in another shell):
  ip netns exec {web_ns} ping {ip_db}                   # a workload's view: interface avpn-{net}
  ip netns exec demo-p1 curl -s 127.0.0.1:9100/metrics # relayer metrics (provider-1)
  ip netns exec demo-p1 curl -s 127.0.0.1:9100/status  # relayer status JSON
  export PATH=$PWD/localnet/bin:$PATH; set -a; . /root/.avpn-localnet/env; set +a
  avpn --chain-id $CHAIN_ID --rpc $RPC --registry $REGISTRY network show {net}   # target/release/avpn
  akash q wasm contract-state smart {r} '{{\"members\":{{\"network_id\":{net}}}}}' $Q_FLAGS
  akash q wasm contract-state smart {r} '{{\"provider_view\":{{\"provider\":\"'$PROVIDER_1'\"}}}}' $Q_FLAGS
  akash q wasm contract-state smart {r} '{{\"members_by_lease\":{{\"lease\":{web_lease}}}}}' $Q_FLAGS
Relayer logs: {log1}, {log2}",
        web_ns = web.ns.name(),
        web_lease = web.id(w.net),
        log1 = std::env::temp_dir().join("demo-relayer-1.log").display(),
        log2 = std::env::temp_dir().join("demo-relayer-2.log").display(),
    );
    if std::io::stdin().is_terminal() {
        say("running; press Enter to stop and clean up");
        let _ = std::io::stdin().lock().lines().next();
    }
    say("closing the network and removing namespaces");
    say(
        "the localnet's chain node keeps running (the queries above work against it); `localnet/localnet down` stops it",
    );
    Ok(())
}

/// Runs the tenant CLI (`$AVPN_CLI_BIN`, built by demo.sh) and returns its output.
fn avpn_cli(chain: &[&str], args: &[&str]) -> Result<String> {
    let bin =
        std::env::var("AVPN_CLI_BIN").context("AVPN_CLI_BIN is not set (run localnet/demo.sh)")?;
    let out = std::process::Command::new(&bin)
        .args(chain)
        .args(args)
        .output()
        .with_context(|| format!("running {bin}"))?;
    anyhow::ensure!(
        out.status.success(),
        "avpn {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn say(s: &str) {
    println!("==> {s}");
}
