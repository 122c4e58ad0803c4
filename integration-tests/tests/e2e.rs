//! End to end on the real localnet: tenants' transactions become enforced
//! traffic between leases on simulated providers (network namespaces).
//!
//! Needs root; run one scenario with `cargo test -p integration-tests --test e2e <name>`.

use std::time::Duration;

use integration_tests::require_root;
use integration_tests::traffic::{iperf_client, iperf_server, ping_ok, redis_cli, redis_server};
use integration_tests::world::World;

const ATTACH: Duration = Duration::from_secs(30);

/// The world of scenario `name` with `providers` relayers running, or
/// `None` (after a visible skip message) when not root.
fn world(name: &str, subnet: u8, providers: u8) -> Option<World> {
    if !require_root(name) {
        return None;
    }
    let mut w = World::new(&format!("e2e{}", &name[1..]), subnet, providers).unwrap();
    for i in 1..=providers {
        w.start_relayer(i).unwrap();
    }
    Some(w)
}

#[test]
fn s1_members_on_two_providers_exchange_ping_iperf_and_redis() {
    let Some(mut w) = world("s1", 11, 2) else {
        return;
    };
    let net = w
        .create_network("tenant", "s1", "100.64.1.0/24", &["app"], true)
        .unwrap();
    let a = w.lease("tenant", 1, "mode = \"transparent\"").unwrap();
    let b = w.lease("tenant", 2, "mode = \"transparent\"").unwrap();
    let ip_a = w.add_member("tenant", net, "web", &a, &["app"]).unwrap();
    let ip_b = w.add_member("tenant", net, "redis", &b, &["app"]).unwrap();
    assert_ne!(ip_a, ip_b);
    w.wait_attached(&a, ip_a, ATTACH).unwrap();
    w.wait_attached(&b, ip_b, ATTACH).unwrap();

    wait_ping_via(&w, &a, ip_b, Duration::from_secs(20), &[1, 2]);
    assert!(ping_ok(&b.ns, ip_a, 2), "ping redis → web");

    let _srv = iperf_server(&b.ns, ip_b, 5201).unwrap();
    let bps = iperf_client(&a.ns, ip_b, 5201, 2).unwrap();
    println!(
        "s1: iperf3 web → redis over the overlay: {:.2} Gbit/s",
        bps / 1e9
    );
    assert!(bps > 1e6, "iperf3 throughput {bps} bit/s");

    let _redis = redis_server(&b.ns, ip_b, 6379).unwrap();
    assert_eq!(
        redis_cli(&a.ns, ip_b, 6379, &["set", "greeting", "hello-over-avpn"]).unwrap(),
        "OK"
    );
    assert_eq!(
        redis_cli(&a.ns, ip_b, 6379, &["get", "greeting"]).unwrap(),
        "hello-over-avpn"
    );
}

use std::net::Ipv4Addr;

use integration_tests::poll;
use integration_tests::traffic::{redis_ping_via_socks, tcp_connect_ok, wait_listening};
use integration_tests::world::{Lease, has_addr};
use serde_json::json;

const TRANSPARENT: &str = "mode = \"transparent\"";

/// Asserts that a transaction was refused by the contract with `needle` in
/// the error (the chain's log as the CLI prints it); returns the error text.
#[track_caller]
fn refused<T: std::fmt::Debug>(r: anyhow::Result<T>, needle: &str) -> String {
    match r {
        Ok(v) => panic!("tx accepted, expected a refusal with {needle:?}: {v:?}"),
        Err(e) => {
            let text = format!("{e:#}");
            assert!(
                text.contains(needle),
                "refused, but not with {needle:?}: {text}"
            );
            text
        }
    }
}

/// Polls until `from` can ping `ip` (the overlay path is up end to end).
fn wait_ping(w: &World, from: &Lease, ip: Ipv4Addr) {
    wait_ping_via(w, from, ip, Duration::from_secs(30), &[1, 2]);
}

/// [`wait_ping`] within `within`; on failure shows the logs of the
/// `relayers` on the path.
fn wait_ping_via(w: &World, from: &Lease, ip: Ipv4Addr, within: Duration, relayers: &[u8]) {
    poll::until(
        &format!("ping {ip} from {}", from.ns.name()),
        within,
        Duration::from_millis(200),
        || ping_ok(&from.ns, ip, 1).then_some(()),
    )
    .unwrap_or_else(|e| {
        let logs: String = relayers
            .iter()
            .map(|&i| format!("\nrelayer {i}:\n{}", w.log_tail(i)))
            .collect();
        panic!("{e:#}{logs}")
    });
}

/// Two transparent members `a` (provider 1) and `b` (provider 2) of a new
/// network, attached and reachable.
fn pair(
    w: &mut World,
    name: &str,
    cidr: &str,
    default_allow: bool,
) -> (u64, Lease, Ipv4Addr, Lease, Ipv4Addr) {
    let net = w
        .create_network("tenant", name, cidr, &["app"], default_allow)
        .unwrap();
    let (a, ip_a, b, ip_b) = members_pair(w, net);
    (net, a, ip_a, b, ip_b)
}

/// Transparent members `a` (provider 1) and `b` (provider 2) of network
/// `net`, attached.
fn members_pair(w: &mut World, net: u64) -> (Lease, Ipv4Addr, Lease, Ipv4Addr) {
    let a = w.lease("tenant", 1, TRANSPARENT).unwrap();
    let b = w.lease("tenant", 2, TRANSPARENT).unwrap();
    let ip_a = w.add_member("tenant", net, "a", &a, &["app"]).unwrap();
    let ip_b = w.add_member("tenant", net, "b", &b, &["app"]).unwrap();
    w.wait_attached(&a, ip_a, ATTACH).unwrap();
    w.wait_attached(&b, ip_b, ATTACH).unwrap();
    (a, ip_a, b, ip_b)
}

#[test]
fn s2_denying_a_port_stops_it_within_two_blocks_and_allowing_restores_it() {
    let Some(mut w) = world("s2", 12, 2) else {
        return;
    };
    let (net, a, _ip_a, b, ip_b) = pair(&mut w, "s2", "100.64.2.0/24", true);
    wait_ping(&w, &a, ip_b);
    let _redis = redis_server(&b.ns, ip_b, 6379).unwrap();
    assert!(
        tcp_connect_ok(&a.ns, ip_b, 6379),
        "redis reachable before the deny"
    );

    let deny = json!({"ingress": [{"peers": "any", "protocol": "tcp", "ports": {"start": 6379, "end": 6379}, "action": "deny"}], "egress": []});
    let committed = w.set_policy("tenant", net, "b", deny).unwrap();
    let stopped_at = poll::until(
        "redis port blocked",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let h = w.net.height().ok()?;
            (!tcp_connect_ok_fast(&a.ns, ip_b, 6379)).then_some(h)
        },
    )
    .unwrap();
    println!("s2: deny committed at height {committed}, traffic stopped by height {stopped_at}");
    assert!(
        stopped_at <= committed + 2,
        "deny took effect at {stopped_at}, tx committed at {committed}"
    );
    assert!(
        ping_ok(&a.ns, ip_b, 2),
        "ICMP (still allowed) continues during the deny"
    );

    w.set_policy("tenant", net, "b", json!({"ingress": [], "egress": []}))
        .unwrap();
    poll::until(
        "redis port restored",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || tcp_connect_ok(&a.ns, ip_b, 6379).then_some(()),
    )
    .unwrap();
    assert_eq!(redis_cli(&a.ns, ip_b, 6379, &["ping"]).unwrap(), "PONG");
}

/// Connect attempt with a short timeout, for measuring when a port closes.
fn tcp_connect_ok_fast(from: &integration_tests::netns::Netns, ip: Ipv4Addr, port: u16) -> bool {
    let script = format!("exec 3<>/dev/tcp/{ip}/{port}");
    from.exec("timeout", &["0.3", "bash", "-c", &script])
        .is_ok()
}

#[test]
fn s3_rebind_moves_the_member_to_provider_3_with_the_same_ip() {
    let Some(mut w) = world("s3", 13, 3) else {
        return;
    };
    let (net, a, ip_a, b, ip_b) = pair(&mut w, "s3", "100.64.3.0/24", true);
    wait_ping(&w, &b, ip_a);
    let c = w.lease("tenant", 3, TRANSPARENT).unwrap();
    w.rebind("tenant", net, "a", &c).unwrap();
    assert_eq!(w.member_ip(net, "a").unwrap(), ip_a, "rebind keeps the IP");
    w.wait_attached(&c, ip_a, ATTACH).unwrap();
    w.wait_detached(&a, ip_a, ATTACH).unwrap();
    // The address now answers from provider 3's lease: a server there is reached.
    let _redis = redis_server(&c.ns, ip_a, 6379).unwrap();
    poll::until(
        "b reaches a on provider 3",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            redis_cli(&b.ns, ip_a, 6379, &["ping"])
                .ok()
                .filter(|r| r == "PONG")
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\nrelayer 3:\n{}", w.log_tail(3)));
    assert!(
        !has_addr(&a.ns, ip_a),
        "old lease on provider 1 no longer holds the IP"
    );
    let _ = ip_b;
}

#[test]
fn s4_two_tenants_with_the_same_cidr_stay_isolated() {
    let Some(mut w) = world("s4", 14, 2) else {
        return;
    };
    let cidr = "100.64.4.0/24";
    let (_net_a, a1, ip_a1, _a2, ip_a2) = pair(&mut w, "s4a", cidr, true);
    let net_b = w
        .create_network("tenant-b", "s4b", cidr, &["app"], true)
        .unwrap();
    let b1 = w.lease("tenant-b", 1, TRANSPARENT).unwrap();
    let b2 = w.lease("tenant-b", 2, TRANSPARENT).unwrap();
    let ip_b1 = w
        .add_member("tenant-b", net_b, "b1", &b1, &["app"])
        .unwrap();
    // b2 takes an address that exists only in tenant-b's network.
    w.exec("tenant-b", json!({"add_member": {"network_id": net_b, "name": "b2", "lease": b2.id(w.net), "tags": ["app"], "ip": "100.64.4.40"}})).unwrap();
    let ip_b2: Ipv4Addr = "100.64.4.40".parse().unwrap();
    assert_eq!(
        ip_a1, ip_b1,
        "both networks allocate the same first address"
    );
    w.wait_attached(&b1, ip_b1, ATTACH).unwrap();
    w.wait_attached(&b2, ip_b2, ATTACH).unwrap();
    wait_ping(&w, &a1, ip_a2);
    wait_ping(&w, &b1, ip_b2);
    // 100.64.4.40 lives only in tenant-b's network: tenant A's member never reaches it.
    let _srv = redis_server(&b2.ns, ip_b2, 6379).unwrap();
    assert!(
        !ping_ok(&a1.ns, ip_b2, 2),
        "tenant A reached tenant B's address"
    );
    assert!(
        !tcp_connect_ok(&a1.ns, ip_b2, 6379),
        "tenant A connected into tenant B's network"
    );
    assert_eq!(redis_cli(&b1.ns, ip_b2, 6379, &["ping"]).unwrap(), "PONG");
}

#[test]
fn s5_a_provider_sharing_no_network_cannot_join_the_overlay() {
    let Some(mut w) = world("s5", 15, 3) else {
        return;
    };
    let (_net, a, _ip_a, _b, ip_b) = pair(&mut w, "s5", "100.64.5.0/24", true);
    wait_ping(&w, &a, ip_b);
    let key_1 = overlay_key_hex(&w, 1);
    let target = format!(
        "{}:{}",
        w.provider_addr(1),
        integration_tests::world::OVERLAY_PORT
    );
    let probe = |i: u8| {
        let id = w.identity_file(i);
        w.provider_ns(i)
            .command(env!("CARGO_BIN_EXE_quic-probe"))
            .args([id.to_str().unwrap(), &target, &key_1])
            .output()
            .unwrap()
    };
    let intruder = probe(3);
    let text = String::from_utf8_lossy(&intruder.stdout);
    assert!(
        !intruder.status.success() && text.starts_with("refused"),
        "provider 3 was let in: {text}"
    );
    // Control: the same probe with provider 2's registered key is accepted.
    let member = probe(2);
    assert!(
        member.status.success(),
        "provider 2 refused: {}",
        String::from_utf8_lossy(&member.stdout)
    );
    let peers = w.status(1).unwrap();
    assert!(
        !peers.to_string().contains(w.net.var("PROVIDER_3")),
        "provider 3 appears in provider 1's status"
    );
}

/// Provider `i`'s overlay key as registered in the directory (hex).
fn overlay_key_hex(w: &World, i: u8) -> String {
    use base64::Engine;
    let rec = w
        .net
        .query(
            w.net.var("DIRECTORY"),
            &json!({"provider": {"address": w.net.var(&format!("PROVIDER_{i}"))}}),
        )
        .unwrap();
    let b64 = rec
        .pointer("/overlay_key")
        .or_else(|| rec.pointer("/provider/overlay_key"))
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no key: {rec}"));
    hex::encode(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
}

#[test]
fn s6_closing_the_network_stops_traffic_and_removes_interfaces() {
    let Some(mut w) = world("s6", 16, 2) else {
        return;
    };
    let (net, a, ip_a, b, ip_b) = pair(&mut w, "s6", "100.64.6.0/24", true);
    wait_ping(&w, &a, ip_b);
    w.close_network("tenant", net).unwrap();
    w.wait_detached(&a, ip_a, ATTACH).unwrap();
    w.wait_detached(&b, ip_b, ATTACH).unwrap();
    assert!(!ping_ok(&a.ns, ip_b, 1));
    let links = a.ns.exec("ip", &["-o", "link", "show"]).unwrap();
    assert!(
        !links.contains("avpn"),
        "an avpn interface is left in the lease: {links}"
    );
}

#[test]
fn s7_relayer_killed_mid_transfer_rebuilds_from_chain() {
    let Some(mut w) = world("s7", 17, 2) else {
        return;
    };
    let (net, a, ip_a, b, _ip_b) = pair(&mut w, "s7", "100.64.7.0/24", true);
    let c = w.lease("tenant", 1, TRANSPARENT).unwrap();
    let ip_c = w.add_member("tenant", net, "c", &c, &["app"]).unwrap();
    w.wait_attached(&c, ip_c, ATTACH).unwrap();
    wait_ping(&w, &b, ip_a);
    wait_ping(&w, &b, ip_c);

    let _srv = iperf_server(&a.ns, ip_a, 5201).unwrap();
    let mut client = b.ns.command("iperf3");
    client.args([
        "-c",
        &ip_a.to_string(),
        "-t",
        "20",
        "-p",
        "5201",
        "--forceflush",
    ]);
    let log = std::env::temp_dir().join("e2e7-iperf-client.log");
    let mut transfer =
        integration_tests::process::Proc::spawn("iperf3 client", client, &log).unwrap();
    poll::until(
        "transfer running",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || {
            std::fs::read_to_string(&log)
                .ok()
                .filter(|l| l.contains("bits/sec"))
                .map(|_| ())
        },
    )
    .unwrap();
    w.kill_relayer(1);
    // While provider 1 is down the tenant removes c.
    w.remove_member("tenant", net, "c").unwrap();
    transfer.kill9();
    w.spawn_relayer(1).unwrap();
    w.wait_attached(&a, ip_a, ATTACH).unwrap();
    wait_ping(&w, &b, ip_a);
    let bps = {
        let _srv2 = iperf_server(&a.ns, ip_a, 5202).unwrap();
        iperf_client(&b.ns, ip_a, 5202, 2).unwrap()
    };
    assert!(bps > 1e6, "traffic resumed at only {bps} bit/s");
    assert!(
        !has_addr(&c.ns, ip_c),
        "removed member c was re-attached after restart"
    );
    assert!(
        !ping_ok(&b.ns, ip_c, 2),
        "removed member c is still reachable"
    );
}

#[test]
fn s8_invitee_joins_with_granted_tags_and_reaches_only_what_policies_allow() {
    use ed25519_dalek::{Signer, SigningKey};
    let Some(mut w) = world("s8", 18, 2) else {
        return;
    };
    let net = w
        .create_network("tenant", "s8", "100.64.8.0/24", &["app", "partner"], false)
        .unwrap();
    let a = w.lease("tenant", 1, TRANSPARENT).unwrap();
    let ip_a = w.add_member("tenant", net, "api", &a, &["app"]).unwrap();
    let allow_partner_redis = json!({
        "ingress": [{"peers": {"tags": ["partner"]}, "protocol": "tcp", "ports": {"start": 6379, "end": 6379}, "action": "allow"}],
        "egress": [{"peers": "any", "protocol": "any", "action": "allow"}]
    });
    w.set_policy("tenant", net, "api", allow_partner_redis)
        .unwrap();

    let key = SigningKey::from_bytes(&[42; 32]);
    let pubkey = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes())
    };
    let expires = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600)
        * 1_000_000_000;
    let tx = w
        .exec("tenant", json!({"create_invitation": {"network_id": net, "pubkey": pubkey, "key_type": "ed25519", "expires": expires.to_string(), "max_uses": 1, "tags": ["partner"]}}))
        .unwrap();
    let inv: u64 =
        integration_tests::world::event_attr(&tx, "wasm-create_invitation", "invitation_id")
            .unwrap()
            .parse()
            .unwrap();
    let claimant = w.net.var("TENANT_B");
    let bytes = format!(
        "avpn-claim/v1/{}/{}/{net}/{inv}/{claimant}",
        w.net.var("CHAIN_ID"),
        w.net.var("REGISTRY")
    );
    let sig = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(key.sign(bytes.as_bytes()).to_bytes())
    };
    w.exec(
        "tenant-b",
        json!({"claim_invitation": {"network_id": net, "invitation_id": inv, "signature": sig}}),
    )
    .unwrap();

    let b = w.lease("tenant-b", 2, TRANSPARENT).unwrap();
    // Participants host members only on providers the owner authorized.
    refused(
        w.add_member("tenant-b", net, "partner-svc", &b, &["partner"]),
        "is not authorized by the network owner",
    );
    w.exec(
        "tenant",
        json!({"authorize_provider": {"network_id": net, "provider": w.net.var("PROVIDER_2")}}),
    )
    .unwrap();
    // A tag the invitation did not grant is refused, and so is a static IP.
    refused(
        w.add_member("tenant-b", net, "sneaky", &b, &["app"]),
        "is not granted to this participant",
    );
    refused(
        w.exec("tenant-b", json!({"add_member": {"network_id": net, "name": "sneaky", "lease": b.id(w.net), "tags": ["partner"], "ip": "100.64.8.9"}})),
        "participants may not request static addresses",
    );
    let ip_b = w
        .add_member("tenant-b", net, "partner-svc", &b, &["partner"])
        .unwrap();
    w.set_policy(
        "tenant-b",
        net,
        "partner-svc",
        json!({"ingress": [], "egress": [{"peers": "any", "protocol": "any", "action": "allow"}]}),
    )
    .unwrap();
    w.wait_attached(&a, ip_a, ATTACH).unwrap();
    w.wait_attached(&b, ip_b, ATTACH).unwrap();

    let _redis = redis_server(&a.ns, ip_a, 6379).unwrap();
    let _other = iperf_server(&a.ns, ip_a, 5201).unwrap();
    poll::until(
        "partner reaches api:6379",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || {
            redis_cli(&b.ns, ip_a, 6379, &["ping"])
                .ok()
                .filter(|r| r == "PONG")
        },
    )
    .unwrap_or_else(|e| panic!("{e:#}\nrelayer 2:\n{}", w.log_tail(2)));
    assert!(
        !tcp_connect_ok(&b.ns, ip_a, 5201),
        "partner reached a port api does not allow"
    );
    assert!(
        !ping_ok(&b.ns, ip_a, 1),
        "partner pinged api though icmp is not allowed"
    );
    assert!(
        !ping_ok(&a.ns, ip_b, 1),
        "api reached partner-svc whose ingress allows nothing"
    );
}

#[test]
fn s9_userspace_lease_uses_socks5_and_serves_a_port() {
    let Some(mut w) = world("s9", 19, 2) else {
        return;
    };
    let net = w
        .create_network("tenant", "s9", "100.64.9.0/24", &["app"], true)
        .unwrap();
    let a = w.lease("tenant", 1, TRANSPARENT).unwrap();
    let u = w.lease("tenant", 2, "mode = \"userspace\"\nsocks = \"127.0.0.1:1080\"\n[serve]\n\"8080\" = \"127.0.0.1:8081\"").unwrap();
    let ip_a = w.add_member("tenant", net, "web", &a, &["app"]).unwrap();
    let ip_u = w.add_member("tenant", net, "nouser", &u, &["app"]).unwrap();
    w.wait_attached(&a, ip_a, ATTACH).unwrap();
    wait_listening(&u.ns, 1080).unwrap_or_else(|e| panic!("{e:#}\nrelayer 2:\n{}", w.log_tail(2)));

    // Outbound from the userspace lease through SOCKS5 to a member's server.
    let _web = redis_server(&a.ns, ip_a, 6379).unwrap();
    poll::until(
        "SOCKS5 CONNECT to web",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || redis_ping_via_socks(&u.ns, "127.0.0.1:1080", ip_a, 6379).then_some(()),
    )
    .unwrap();

    // Inbound: the userspace lease serves its local 127.0.0.1:8081 as overlay
    // port 8080; another userspace lease (on provider 1) reaches it through
    // its own SOCKS5 proxy, and the transparent lease with a plain socket
    // (through the userspace member's shadow stack).
    let v = w
        .lease(
            "tenant",
            1,
            "mode = \"userspace\"\nsocks = \"127.0.0.1:1080\"",
        )
        .unwrap();
    w.add_member("tenant", net, "client", &v, &["app"]).unwrap();
    wait_listening(&v.ns, 1080).unwrap_or_else(|e| panic!("{e:#}\nrelayer 1:\n{}", w.log_tail(1)));
    let _local = redis_server(&u.ns, Ipv4Addr::LOCALHOST, 8081).unwrap();
    poll::until(
        "client reaches the served port",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || redis_ping_via_socks(&v.ns, "127.0.0.1:1080", ip_u, 8080).then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e:#}\nrelayer 2:\n{}", w.log_tail(2)));
    poll::until(
        "web reaches the served port",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || (redis_cli(&a.ns, ip_u, 8080, &["ping"]).ok()? == "PONG").then_some(()),
    )
    .unwrap_or_else(|e| panic!("{e:#}\nrelayer 2:\n{}", w.log_tail(2)));
}

/// Interface names in `ns` (`ip -o link show`).
fn link_names(ns: &integration_tests::netns::Netns) -> Vec<String> {
    ns.exec("ip", &["-o", "link", "show"])
        .unwrap()
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect()
}

/// What a lease namespace looks like to its workload: interfaces, IPv4
/// addresses and IPv4 routes.
fn ns_snapshot(ns: &integration_tests::netns::Netns) -> String {
    format!(
        "links: {:?}\naddrs:\n{}routes:\n{}",
        link_names(ns),
        ns.exec("ip", &["-4", "-o", "addr", "show"]).unwrap(),
        ns.exec("ip", &["-4", "route", "show"]).unwrap()
    )
}

/// The `lease` and `state` of member `name` of network `net` in provider
/// `i`'s relayer status.
fn status_member(w: &World, i: u8, net: u64, name: &str) -> Option<(String, String)> {
    let st = w.status(i).ok()?;
    let members = st.pointer(&format!("/control/networks/{net}/members"))?;
    let m = members.as_array()?.iter().find(|m| m["name"] == name)?;
    Some((
        m["lease"].as_str()?.to_owned(),
        m["state"].as_str()?.to_owned(),
    ))
}

#[test]
fn s10_a_tenant_cannot_bind_another_tenants_lease_with_the_same_dseq_on_the_same_provider() {
    let Some(mut w) = world("s10", 20, 2) else {
        return;
    };
    let tenant = w.net.var("TENANT").to_owned();
    let tenant_b = w.net.var("TENANT_B").to_owned();
    let p1 = w.net.var("PROVIDER_1").to_owned();
    // The same CIDR in both networks; distinct addresses so that each one
    // can be looked for in the wrong namespace.
    let cidr = "100.64.10.0/24";
    let net_a = w
        .create_network("tenant", "s10a", cidr, &["app"], true)
        .unwrap();
    let net_b = w
        .create_network("tenant-b", "s10b", cidr, &["app"], true)
        .unwrap();
    // Two leases on provider-1 that share dseq/gseq/oseq (and bseq): only
    // the owner differs. Each has its own namespace and attachment file.
    let a1 = w.lease("tenant", 1, TRANSPARENT).unwrap();
    let b1 = w
        .lease_with_dseq("tenant-b", 1, a1.dseq, TRANSPARENT)
        .unwrap();
    assert_ne!(a1.attachment_file(), b1.attachment_file());
    let a2 = w.lease("tenant", 2, TRANSPARENT).unwrap();
    let b2 = w.lease("tenant-b", 2, TRANSPARENT).unwrap();

    // The victim: tenant's member on its lease on provider-1, reaching its
    // other member on provider-2.
    let ip_a1: Ipv4Addr = "100.64.10.10".parse().unwrap();
    w.exec("tenant", json!({"add_member": {"network_id": net_a, "name": "a1", "lease": a1.id(w.net), "tags": ["app"], "ip": ip_a1.to_string()}})).unwrap();
    let ip_a2 = w.add_member("tenant", net_a, "a2", &a2, &["app"]).unwrap();
    w.wait_attached(&a1, ip_a1, ATTACH).unwrap();
    w.wait_attached(&a2, ip_a2, ATTACH).unwrap();
    wait_ping(&w, &a1, ip_a2);
    let before = ns_snapshot(&a1.ns);
    let tun_a = format!("avpn-{net_a}");
    let tun_b = format!("avpn-{net_b}");
    assert!(link_names(&a1.ns).contains(&tun_a), "{before}");

    // The attack: tenant-b binds tenant's lease (owner = tenant) into its
    // own network, by add_member, by rebind_member and by a manifest; and
    // joins tenant's network uninvited with its own lease. All refused.
    let mismatch = format!("lease owner {tenant} is not the sender {tenant_b}");
    let text = refused(
        w.exec("tenant-b", json!({"add_member": {"network_id": net_b, "name": "stolen", "lease": a1.id(w.net), "tags": ["app"]}})),
        &mismatch,
    );
    println!("s10: tenant-b binding tenant's lease: {text}");
    refused(
        w.add_member("tenant-b", net_a, "intruder", &b1, &["app"]),
        "unauthorized",
    );
    // tenant-b's own members: b1 on its lease with tenant's dseq on
    // provider-1, b2 on provider-2.
    let ip_b1: Ipv4Addr = "100.64.10.20".parse().unwrap();
    let ip_b2: Ipv4Addr = "100.64.10.30".parse().unwrap();
    for (name, lease, ip) in [("b1", &b1, ip_b1), ("b2", &b2, ip_b2)] {
        w.exec("tenant-b", json!({"add_member": {"network_id": net_b, "name": name, "lease": lease.id(w.net), "tags": ["app"], "ip": ip.to_string()}})).unwrap();
    }
    refused(w.rebind("tenant-b", net_b, "b1", &a1), &mismatch);
    let keep = |name: &str, lease: &integration_tests::world::Lease, ip: Ipv4Addr| json!({"name": name, "lease": lease.id(w.net), "tags": ["app"], "ip": ip.to_string(), "policy": {"ingress": [], "egress": []}});
    let manifest = json!({
        "default_action": "allow",
        "tags": ["app"],
        "providers": [],
        "members": [
            keep("b1", &b1, ip_b1),
            keep("b2", &b2, ip_b2),
            keep("stolen", &a1, "100.64.10.40".parse().unwrap()),
        ],
    });
    refused(
        w.exec(
            "tenant-b",
            json!({"apply_manifest": {"network_id": net_b, "manifest": manifest}}),
        ),
        &mismatch,
    );
    // Nothing on chain binds tenant's lease but tenant's own member.
    let bound = w
        .net
        .query(
            w.net.var("REGISTRY"),
            &json!({"members_by_lease": {"lease": a1.id(w.net)}}),
        )
        .unwrap();
    let bound: Vec<(u64, String)> = bound["members"]
        .as_array()
        .unwrap_or_else(|| panic!("members_by_lease: {bound}"))
        .iter()
        .map(|m| {
            (
                m["network_id"].as_u64().unwrap(),
                m["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        bound,
        vec![(net_a, "a1".to_owned())],
        "members_by_lease of tenant's lease"
    );

    // Each member is attached in its own lease's namespace only.
    w.wait_attached(&b1, ip_b1, ATTACH).unwrap();
    w.wait_attached(&b2, ip_b2, ATTACH).unwrap();
    let (links_a, links_b) = (link_names(&a1.ns), link_names(&b1.ns));
    assert!(
        links_a.contains(&tun_a) && !links_a.contains(&tun_b),
        "tenant's lease: {links_a:?}"
    );
    assert!(
        links_b.contains(&tun_b) && !links_b.contains(&tun_a),
        "tenant-b's lease: {links_b:?}"
    );
    assert!(has_addr(&a1.ns, ip_a1) && !has_addr(&a1.ns, ip_b1));
    assert!(has_addr(&b1.ns, ip_b1) && !has_addr(&b1.ns, ip_a1));
    // Relayer-1 has applied tenant-b's later changes (b1 is attached):
    // tenant's namespace is as it was before the attack.
    assert_eq!(
        ns_snapshot(&a1.ns),
        before,
        "tenant's lease namespace changed"
    );
    // Provider-1's relayer tells the two leases apart by their owner.
    let lease_of = |owner: &str| format!("{owner}/{}/1/1/{p1}/0", a1.dseq);
    for (net, name, owner) in [(net_a, "a1", &tenant), (net_b, "b1", &tenant_b)] {
        poll::until(
            &format!("{name} attached in relayer-1's status"),
            Duration::from_secs(10),
            Duration::from_millis(200),
            || {
                status_member(&w, 1, net, name)
                    .filter(|(l, s)| *l == lease_of(owner) && s == "attached")
            },
        )
        .unwrap_or_else(|e| panic!("{e:#}\nstatus: {:?}", w.status(1).ok()));
    }

    // Each reaches its own member on provider-2, never the other tenant's
    // addresses (ping and TCP to a listening server).
    wait_ping(&w, &b1, ip_b2);
    wait_ping(&w, &a1, ip_a2);
    let _srv_a1 = redis_server(&a1.ns, ip_a1, 6379).unwrap();
    let _srv_a2 = redis_server(&a2.ns, ip_a2, 6379).unwrap();
    let _srv_b1 = redis_server(&b1.ns, ip_b1, 6379).unwrap();
    let _srv_b2 = redis_server(&b2.ns, ip_b2, 6379).unwrap();
    assert_eq!(redis_cli(&a1.ns, ip_a2, 6379, &["ping"]).unwrap(), "PONG");
    assert_eq!(redis_cli(&b1.ns, ip_b2, 6379, &["ping"]).unwrap(), "PONG");
    for (from, who, targets) in [
        (&a1, "tenant", [ip_b1, ip_b2]),
        (&b1, "tenant-b", [ip_a1, ip_a2]),
    ] {
        for ip in targets {
            assert!(
                !ping_ok(&from.ns, ip, 1),
                "{who} pinged the other tenant's {ip}"
            );
            assert!(
                !tcp_connect_ok(&from.ns, ip, 6379),
                "{who} connected to the other tenant's {ip}:6379"
            );
        }
    }
    assert_eq!(
        ns_snapshot(&a1.ns),
        before,
        "tenant's lease namespace changed"
    );
}

/// The paths of provider `i`'s relayer to provider `j` (status JSON).
fn peer_paths(w: &World, i: u8, j: u8) -> Option<serde_json::Value> {
    let st = w.status(i).ok()?;
    let peer = w.net.var(&integration_tests::world::provider_var(j));
    st["dataplane"]["peers"]
        .as_array()?
        .iter()
        .find(|p| p["provider"] == peer)
        .map(|p| p["paths"].clone())
}

/// The path provider `i`'s relayer uses to provider `j`.
fn path_in_use(w: &World, i: u8, j: u8) -> Option<String> {
    peer_paths(w, i, j)?["in_use"].as_str().map(str::to_owned)
}

/// Drops every packet between provider `i` and address `other` inside
/// `i`'s namespace (nftables), or lifts that.
fn cut(w: &World, i: u8, other: std::net::Ipv4Addr, on: bool) {
    let ns = w.provider_ns(i);
    if on {
        let rules = format!(
            "table inet avpn_cut {{\n\
             chain o {{ type filter hook output priority 0; ip daddr {other} drop; }}\n\
             chain i {{ type filter hook input priority 0; ip saddr {other} drop; }}\n\
             }}\n"
        );
        let file = std::env::temp_dir().join(format!("avpn-cut-{}-{i}.nft", std::process::id()));
        std::fs::write(&file, rules).unwrap();
        let applied = ns.exec("nft", &["-f", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        applied.expect("nft rules");
    } else {
        ns.exec("nft", &["delete", "table", "inet", "avpn_cut"])
            .unwrap();
    }
}

#[test]
fn s11_providers_that_cannot_reach_each_other_talk_through_the_networks_relay() {
    if !require_root("s11") {
        return;
    }
    let mut w = World::new("e2e11", 21, 3).unwrap();
    w.start_relayer(1).unwrap();
    w.start_relayer(2).unwrap();
    w.start_relay(3, "tenant").unwrap();
    let (addr_1, addr_2) = (w.provider_addr(1), w.provider_addr(2));
    // Providers 1 and 2 cannot reach each other at all.
    cut(&w, 1, addr_2, true);
    cut(&w, 2, addr_1, true);
    let net = w
        .create_network("tenant", "s11", "100.64.21.0/24", &["app"], true)
        .unwrap();
    let relay = w
        .net
        .var(&integration_tests::world::provider_var(3))
        .to_owned();
    w.exec(
        "tenant",
        serde_json::json!({"authorize_provider": {"network_id": net, "provider": relay}}),
    )
    .unwrap();
    let (a, _, b, ip_b) = members_pair(&mut w, net);
    // Through the relay (provider 3).
    wait_ping_via(&w, &a, ip_b, Duration::from_secs(40), &[1, 3]);
    assert_eq!(path_in_use(&w, 1, 2), Some(format!("relay {relay}")));
    let _srv = iperf_server(&b.ns, ip_b, 5201).unwrap();
    let bps = iperf_client(&a.ns, ip_b, 5201, 2).unwrap();
    println!("s11 relayed iperf3: {:.1} Mbit/s", bps / 1e6);
    assert!(bps > 0.0);
    // The direct path comes up: traffic moves to it.
    cut(&w, 1, addr_2, false);
    cut(&w, 2, addr_1, false);
    let direct = format!("direct {addr_2}:{}", integration_tests::world::OVERLAY_PORT);
    integration_tests::poll::until(
        "provider 1 uses the direct path to provider 2",
        Duration::from_secs(10),
        Duration::from_millis(100),
        || (path_in_use(&w, 1, 2).as_deref() == Some(direct.as_str())).then_some(()),
    )
    .unwrap();
    assert!(ping_ok(&a.ns, ip_b, 2));
    // Revoking the relay ends it: the relay is no longer a path.
    w.exec(
        "tenant",
        serde_json::json!({"revoke_provider": {"network_id": net, "provider": relay}}),
    )
    .unwrap();
    integration_tests::poll::until(
        "the relay is no longer among provider 1's paths to provider 2",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || (!peer_paths(&w, 1, 2)?.to_string().contains("relay")).then_some(()),
    )
    .unwrap();
}
