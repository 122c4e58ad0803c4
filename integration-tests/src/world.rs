//! One end-to-end world: the localnet, a provider fleet in namespaces, one
//! `avpn-relayer` per started provider, lease namespaces, and the tenant's
//! networks (closed again when the world is dropped).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::cmd::run;
use crate::localnet::{Localnet, repo_root};
use crate::netns::Netns;
use crate::poll;
use crate::process::Proc;
use crate::topology::Fleet;

/// QUIC port every relayer listens on inside its provider namespace.
pub const OVERLAY_PORT: u16 = 7000;

/// Path of the relayer binary: `AVPN_RELAYER_BIN`, or a debug build made
/// once per test process.
pub fn relayer_bin() -> Result<PathBuf> {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    if let Some(b) = BIN.get() {
        return Ok(b.clone());
    }
    let bin = match std::env::var_os("AVPN_RELAYER_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let root = repo_root();
            run(
                "cargo",
                &[
                    "build",
                    "--quiet",
                    "-p",
                    "avpn-relayer",
                    "--manifest-path",
                    root.join("Cargo.toml").to_str().expect("utf-8"),
                ],
            )
            .context("build avpn-relayer")?;
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target"));
            target.join("debug/avpn-relayer")
        }
    };
    Ok(BIN.get_or_init(|| bin).clone())
}

/// A lease of a simulated provider: its full id on chain and its namespace.
pub struct Lease {
    /// Address of the tenant owning the lease (the account that binds it).
    pub owner: String,
    /// Deployment sequence.
    pub dseq: u64,
    /// Which provider (1-based) hosts it.
    pub provider: u8,
    /// The lease's network namespace (where workloads run).
    pub ns: Netns,
    attachment_file: PathBuf,
}

impl Lease {
    /// The full lease id `{owner, dseq, gseq, oseq, provider, bseq}` as the
    /// contract expects it (gseq = oseq = 1, bseq = 0).
    pub fn id(&self, net: &Localnet) -> Value {
        json!({
            "owner": self.owner,
            "dseq": self.dseq,
            "gseq": 1,
            "oseq": 1,
            "provider": net.var(&provider_var(self.provider)),
            "bseq": 0,
        })
    }

    /// The provider's attachment file for this lease.
    pub fn attachment_file(&self) -> &Path {
        &self.attachment_file
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.attachment_file);
    }
}

/// Address of a localnet account by its key name (`tenant` → `$TENANT`,
/// `tenant-b` → `$TENANT_B`, `provider-1` → `$PROVIDER_1`).
pub fn account_addr<'a>(net: &'a Localnet, account: &str) -> &'a str {
    net.var(&account.to_uppercase().replace('-', "_"))
}

/// Environment variable naming provider `i`'s address.
pub fn provider_var(i: u8) -> String {
    format!("PROVIDER_{i}")
}

/// The end-to-end world of one test.
pub struct World {
    /// The chain.
    pub net: &'static Localnet,
    tag: String,
    rpc: SocketAddr,
    relayers: Vec<Option<Proc>>,
    /// Extra `run` flags per relayer (kept for restarts).
    run_extra: Vec<Vec<String>>,
    networks: Vec<(String, u64)>,
    next_lease: u32,
    // Last: namespaces go after everything that runs inside them.
    fleet: Fleet,
}

impl World {
    /// Starts (or reuses) the localnet and builds `providers` provider
    /// namespaces named `<tag>-p<i>` on 198.18.`subnet`.0/24.
    pub fn new(tag: &str, subnet: u8, providers: u8) -> Result<Self> {
        let net = Localnet::get()?;
        let mut fleet = Fleet::new(tag, subnet, providers)?;
        let rpc = fleet.forward_host_port(net.rpc_port())?;
        let w = World {
            net,
            tag: tag.to_owned(),
            rpc,
            relayers: (0..providers).map(|_| None).collect(),
            run_extra: vec![Vec::new(); usize::from(providers)],
            networks: Vec::new(),
            next_lease: 0,
            fleet,
        };
        w.remove_stale_attachments(providers);
        Ok(w)
    }

    /// Namespace of provider `i`.
    pub fn provider_ns(&self, i: u8) -> &Netns {
        &self.fleet.providers[usize::from(i - 1)]
    }

    /// Underlay address of provider `i`.
    pub fn provider_addr(&self, i: u8) -> Ipv4Addr {
        self.fleet.addr(i)
    }

    /// Data directory of provider `i`'s relayer. It lives with the chain's
    /// state so the overlay identity registered on chain stays valid across
    /// tests and restarts.
    pub fn data_dir(&self, i: u8) -> PathBuf {
        let home = Path::new(self.net.var("NODE_HOME"))
            .parent()
            .expect("localnet home")
            .to_path_buf();
        home.join("e2e").join(format!("provider-{i}"))
    }

    /// Provider `i`'s attachments directory (one `*.toml` per local lease).
    pub fn attachments_dir(&self, i: u8) -> PathBuf {
        self.data_dir(i).join("attachments")
    }

    /// Common relayer flags for provider `i`.
    fn relayer_args(&self, i: u8) -> Vec<String> {
        let mnemonic = repo_root().join(format!("localnet/accounts/provider-{i}.mnemonic"));
        [
            "--chain-id",
            self.net.var("CHAIN_ID"),
            "--rpc-url",
            &format!("http://{}", self.rpc),
            "--registry",
            self.net.var("REGISTRY"),
            "--directory",
            self.net.var("DIRECTORY"),
            "--data-dir",
            self.data_dir(i).to_str().expect("utf-8"),
            "--mnemonic-file",
            mnemonic.to_str().expect("utf-8"),
            "--listen",
            &format!("{}:{OVERLAY_PORT}", self.provider_addr(i)),
            "--http-listen",
            "127.0.0.1:9100",
            "--lease-verification",
            "off",
            "--attachments-dir",
            self.attachments_dir(i).to_str().expect("utf-8"),
            "--resync-secs",
            "5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Runs a one-shot relayer subcommand for provider `i` inside its namespace.
    pub fn relayer_cmd(&self, i: u8, sub: &[&str]) -> Result<String> {
        let bin = relayer_bin()?;
        let mut args: Vec<String> = sub.iter().map(|s| s.to_string()).collect();
        args.extend(self.relayer_args(i));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.provider_ns(i)
            .exec(bin.to_str().expect("utf-8"), &args)
    }

    /// Registers provider `i` (its own tx, endpoint on the underlay) and
    /// starts its relayer.
    pub fn start_relayer(&mut self, i: u8) -> Result<()> {
        std::fs::create_dir_all(self.attachments_dir(i))?;
        let endpoint = format!("{}:{OVERLAY_PORT}", self.provider_addr(i));
        self.relayer_cmd(i, &["register", "--endpoint", &endpoint])
            .context("register provider")?;
        self.spawn_relayer(i)
    }

    /// Registers provider `i` with the relay capability and starts its
    /// relayer consenting to serve `tenant`'s networks that name it (as a
    /// relay operator would).
    pub fn start_relay(&mut self, i: u8, tenant: &str) -> Result<()> {
        std::fs::create_dir_all(self.attachments_dir(i))?;
        let endpoint = format!("{}:{OVERLAY_PORT}", self.provider_addr(i));
        self.relayer_cmd(i, &["register", "--endpoint", &endpoint, "--relay"])
            .context("register relay provider")?;
        let tenant = account_addr(self.net, tenant).to_owned();
        self.run_extra[usize::from(i - 1)] = vec!["--serve-tenant".into(), tenant];
        self.spawn_relayer(i)
    }

    /// Starts provider `i`'s relayer without registering (restart after a crash).
    pub fn spawn_relayer(&mut self, i: u8) -> Result<()> {
        let bin = relayer_bin()?;
        let log = self.log_path(i);
        let mut cmd = self.provider_ns(i).command(bin.to_str().expect("utf-8"));
        cmd.arg("run")
            .args(self.relayer_args(i))
            .args(&self.run_extra[usize::from(i - 1)])
            .env("RUST_LOG", "info,avpn=debug");
        let proc = Proc::spawn(&format!("relayer-{i}"), cmd, &log)?;
        self.relayers[usize::from(i - 1)] = Some(proc);
        poll::until(
            "relayer status endpoint",
            Duration::from_secs(60),
            Duration::from_millis(200),
            || self.status(i).ok(),
        )
        .with_context(|| format!("relayer {i} did not come up; log: {}", self.log_tail(i)))?;
        Ok(())
    }

    /// `kill -9` of provider `i`'s relayer.
    pub fn kill_relayer(&mut self, i: u8) {
        if let Some(mut r) = self.relayers[usize::from(i - 1)].take() {
            r.kill9();
        }
    }

    /// Log file of provider `i`'s relayer.
    fn log_path(&self, i: u8) -> PathBuf {
        std::env::temp_dir().join(format!("{}-relayer-{i}.log", self.tag))
    }

    /// Last lines of provider `i`'s relayer log (for failure messages).
    pub fn log_tail(&self, i: u8) -> String {
        let text = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// The relayer's `/status` JSON.
    pub fn status(&self, i: u8) -> Result<Value> {
        let out = self.relayer_cmd(i, &["status", "--json"])?;
        serde_json::from_str(&out).context("status is not JSON")
    }

    /// Creates a lease of account `owner` (`tenant`, `tenant-b`) on provider
    /// `i` with a fresh dseq: its namespace and the provider's attachment
    /// file in the given mode (`transparent`, or `userspace` with extra TOML
    /// lines).
    pub fn lease(&mut self, owner: &str, i: u8, mode_toml: &str) -> Result<Lease> {
        self.lease_with_dseq(owner, i, unique_dseq(), mode_toml)
    }

    /// Like [`World::lease`] with a given dseq (two tenants' leases may
    /// share dseq/gseq/oseq on one provider: the owner tells them apart).
    pub fn lease_with_dseq(
        &mut self,
        owner: &str,
        i: u8,
        dseq: u64,
        mode_toml: &str,
    ) -> Result<Lease> {
        self.next_lease += 1;
        let owner = account_addr(self.net, owner).to_owned();
        let ns = Netns::new(&format!("{}-l{}", self.tag, self.next_lease))?;
        std::fs::create_dir_all(self.attachments_dir(i))?;
        // Named after the namespace: unique in the world, and found by
        // `remove_stale_attachments` after a killed run.
        let file = self.attachments_dir(i).join(format!("{}.toml", ns.name()));
        let text = format!(
            "owner = \"{owner}\"\ndseq = {dseq}\ngseq = 1\noseq = 1\nbseq = 0\nnetns = \"{}\"\n{mode_toml}\n",
            ns.path().display()
        );
        // Written whole under a temporary name, then renamed: the relayer
        // re-reads the directory continuously and must never see half a file.
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &file)?;
        Ok(Lease {
            owner,
            dseq,
            provider: i,
            ns,
            attachment_file: file,
        })
    }

    /// Removes attachment files an earlier, killed run of this world left
    /// (their namespaces are gone; files are named `<tag>-l<n>.toml`).
    fn remove_stale_attachments(&self, providers: u8) {
        let prefix = format!("{}-l", self.tag);
        for i in 1..=providers {
            let Ok(entries) = std::fs::read_dir(self.attachments_dir(i)) else {
                continue;
            };
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// Sends a registry execute as `from` (`tenant`, `tenant-b`, …).
    pub fn exec(&self, from: &str, msg: Value) -> Result<Value> {
        self.net.execute(from, self.net.var("REGISTRY"), &msg)
    }

    /// Creates a network owned by `from`; it is closed when the world drops.
    pub fn create_network(
        &mut self,
        from: &str,
        name: &str,
        cidr: &str,
        tags: &[&str],
        default_allow: bool,
    ) -> Result<u64> {
        let name = format!("{}-{name}-{}", self.tag, unique_dseq());
        let action = if default_allow { "allow" } else { "deny" };
        let tx = self.exec(
            from,
            json!({"create_network": {"name": name, "cidr": cidr, "tags": tags, "default_action": action}}),
        )?;
        let id: u64 = event_attr(&tx, "wasm-create_network", "network_id")?.parse()?;
        self.networks.push((from.to_owned(), id));
        Ok(id)
    }

    /// Adds a member bound to `lease`, as `from`; returns its overlay IP.
    pub fn add_member(
        &self,
        from: &str,
        network: u64,
        name: &str,
        lease: &Lease,
        tags: &[&str],
    ) -> Result<Ipv4Addr> {
        self.exec(
            from,
            json!({"add_member": {"network_id": network, "name": name, "lease": lease.id(self.net), "tags": tags}}),
        )?;
        self.member_ip(network, name)
    }

    /// A member's IP as the registry reports it.
    pub fn member_ip(&self, network: u64, name: &str) -> Result<Ipv4Addr> {
        let m = self.net.query(
            self.net.var("REGISTRY"),
            &json!({"member": {"network_id": network, "name": name}}),
        )?;
        let ip = m
            .pointer("/member/ip")
            .or_else(|| m.get("ip"))
            .and_then(Value::as_str);
        ip.ok_or_else(|| anyhow!("no ip in member query: {m}"))?
            .parse()
            .context("member ip")
    }

    /// Sets a member's policy (JSON `{"ingress": [...], "egress": [...]}`);
    /// returns the height of the block that included the tx.
    pub fn set_policy(&self, from: &str, network: u64, name: &str, policy: Value) -> Result<u64> {
        let tx = self.exec(
            from,
            json!({"set_policy": {"network_id": network, "name": name, "policy": policy}}),
        )?;
        tx_height(&tx)
    }

    /// Waits until `lease`'s namespace has an interface holding `ip`.
    pub fn wait_attached(&self, lease: &Lease, ip: Ipv4Addr, within: Duration) -> Result<()> {
        poll::until(
            &format!("{ip} attached in {}", lease.ns.name()),
            within,
            Duration::from_millis(100),
            || has_addr(&lease.ns, ip).then_some(()),
        )
        .with_context(|| format!("relayer log:\n{}", self.log_tail(lease.provider)))
    }

    /// Closes every network this world created and purges its records
    /// (also done on drop).
    pub fn close_networks(&mut self) -> Result<()> {
        while let Some((owner, id)) = self.networks.pop() {
            self.close_and_purge(&owner, id)?;
        }
        Ok(())
    }

    /// `close_network` (the network stops at once), then `purge_network`
    /// until no record is left (bounded: a test network is small).
    fn close_and_purge(&self, owner: &str, id: u64) -> Result<()> {
        let tx = self.exec(owner, json!({"close_network": {"network_id": id}}))?;
        let mut remaining = event_attr(&tx, "wasm-close_network", "remaining")? == "true";
        for _ in 0..20 {
            if !remaining {
                return Ok(());
            }
            let tx = self.exec(owner, json!({"purge_network": {"network_id": id}}))?;
            remaining = event_attr(&tx, "wasm-purge_network", "remaining")? == "true";
        }
        bail!("network {id} still has records after 20 purges")
    }

    /// Moves member `name` to `lease`, keeping its IP.
    pub fn rebind(&self, from: &str, network: u64, name: &str, lease: &Lease) -> Result<()> {
        self.exec(from, json!({"rebind_member": {"network_id": network, "name": name, "lease": lease.id(self.net)}}))?;
        Ok(())
    }

    /// Removes member `name`.
    pub fn remove_member(&self, from: &str, network: u64, name: &str) -> Result<()> {
        self.exec(
            from,
            json!({"remove_member": {"network_id": network, "name": name}}),
        )?;
        Ok(())
    }

    /// Closes network `id` now.
    pub fn close_network(&mut self, from: &str, id: u64) -> Result<()> {
        self.close_and_purge(from, id)?;
        self.forget_network(id);
        Ok(())
    }

    /// Waits until `lease`'s namespace no longer holds `ip`.
    pub fn wait_detached(&self, lease: &Lease, ip: Ipv4Addr, within: Duration) -> Result<()> {
        poll::until(
            &format!("{ip} detached from {}", lease.ns.name()),
            within,
            Duration::from_millis(100),
            || (!has_addr(&lease.ns, ip)).then_some(()),
        )
        .with_context(|| format!("relayer log:\n{}", self.log_tail(lease.provider)))
    }

    /// Path of provider `i`'s overlay identity seed.
    pub fn identity_file(&self, i: u8) -> PathBuf {
        self.data_dir(i).join("identity.key")
    }

    /// Forgets a network closed by the test itself.
    pub fn forget_network(&mut self, id: u64) {
        self.networks.retain(|(_, n)| *n != id);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Err(e) = self.close_networks() {
            eprintln!("closing the test's networks failed: {e:#}");
        }
        // Each relayer is killed by its guard, before the namespaces go.
        self.relayers.clear();
    }
}

/// Whether `ns` has an interface holding `ip`.
pub fn has_addr(ns: &Netns, ip: Ipv4Addr) -> bool {
    ns.exec("ip", &["-4", "-o", "addr", "show"])
        .map(|out| out.contains(&format!("inet {ip}/")))
        .unwrap_or(false)
}

/// A dseq no earlier run of the suite used.
fn unique_dseq() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    secs * 1000 + N.fetch_add(1, Ordering::Relaxed) % 1000
}

/// Height of the block that included a tx result.
pub fn tx_height(tx: &Value) -> Result<u64> {
    let h = tx
        .get("height")
        .ok_or_else(|| anyhow!("tx result has no height: {tx}"))?;
    h.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| h.as_u64())
        .ok_or_else(|| anyhow!("bad tx height {h}"))
}

/// The value of attribute `key` of the first event of type `ty` in a tx result.
pub fn event_attr(tx: &Value, ty: &str, key: &str) -> Result<String> {
    let events = tx
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("tx has no events: {tx}"))?;
    for e in events.iter().filter(|e| e["type"] == ty) {
        for a in e["attributes"].as_array().into_iter().flatten() {
            if a["key"] == key {
                return a["value"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| anyhow!("attribute {key} not a string"));
            }
        }
    }
    bail!("no {ty}.{key} in tx events")
}
