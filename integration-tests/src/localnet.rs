//! The running localnet, driven the way tenants drive a real chain: with
//! the `akash` CLI (`localnet/bin/akash`, the shim over the node binary).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::cmd::{output, run};

/// Repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Endpoints, contracts and accounts of the running localnet (its env file).
#[derive(Debug, Clone)]
pub struct Localnet {
    vars: BTreeMap<String, String>,
}

impl Localnet {
    /// Starts the localnet if needed (`localnet/localnet up`, idempotent) and
    /// reads its env file. Called once per test process.
    pub fn get() -> Result<&'static Localnet> {
        static NET: OnceLock<Localnet> = OnceLock::new();
        if let Some(n) = NET.get() {
            return Ok(n);
        }
        let script = repo_root().join("localnet/localnet");
        run("bash", &[script.to_str().expect("utf-8 path"), "up"]).context("localnet up")?;
        let home =
            std::env::var("AVPN_LOCALNET_HOME").unwrap_or_else(|_| "/root/.avpn-localnet".into());
        let text = std::fs::read_to_string(Path::new(&home).join("env"))
            .context("read localnet env file")?;
        let net = Localnet {
            vars: parse_env(&text),
        };
        Ok(NET.get_or_init(|| net))
    }

    /// A variable of the env file (`REGISTRY`, `TENANT`, `RPC`, …).
    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("localnet env lacks {key}"))
    }

    /// Path of the `akash` CLI shim.
    pub fn akash(&self) -> PathBuf {
        repo_root().join("localnet/bin/akash")
    }

    /// `akash tx wasm execute <contract> <msg> --from <from>`; waits for the
    /// block and returns the tx result JSON. A rejected tx is an error
    /// carrying the chain's log.
    pub fn execute(&self, from: &str, contract: &str, msg: &Value) -> Result<Value> {
        let msg = msg.to_string();
        let mut args = vec!["tx", "wasm", "execute", contract, &msg, "--from", from];
        let flags = self.var("TX_FLAGS").to_owned();
        args.extend(flags.split_whitespace());
        let out = output(self.akash().to_str().expect("utf-8 path"), &args)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "tx rejected: {} {}",
                stdout.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        serde_json::from_str(stdout.trim())
            .map_err(|e| anyhow!("tx result is not JSON ({e}): {stdout}"))
    }

    /// `akash q wasm contract-state smart <contract> <msg>`; returns `.data`.
    pub fn query(&self, contract: &str, msg: &Value) -> Result<Value> {
        let msg = msg.to_string();
        let mut args = vec!["q", "wasm", "contract-state", "smart", contract, &msg];
        let flags = self.var("Q_FLAGS").to_owned();
        args.extend(flags.split_whitespace());
        let out = run(self.akash().to_str().expect("utf-8 path"), &args)?;
        let v: Value =
            serde_json::from_str(out.trim()).with_context(|| format!("query output: {out}"))?;
        Ok(v.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Current block height.
    pub fn height(&self) -> Result<u64> {
        let out = run(self.akash().to_str().expect("utf-8 path"), &["status"])?;
        let v: Value = serde_json::from_str(out.trim())?;
        let h = v
            .pointer("/sync_info/latest_block_height")
            .or_else(|| v.pointer("/SyncInfo/latest_block_height"));
        h.and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("no height in status: {out}"))
    }

    /// RPC port on 127.0.0.1.
    pub fn rpc_port(&self) -> u16 {
        self.var("RPC")
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("RPC has a port")
    }
}

/// Parses `KEY=value` / `KEY='value'` lines, skipping comments.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_owned(),
                v.trim().trim_matches('\'').trim_matches('"').to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_env;

    #[test]
    fn env_file_values_lose_their_quotes() {
        let m = parse_env("# c\nA=1\nB='x y'\nC=\"z\"\n");
        assert_eq!(m["A"], "1");
        assert_eq!(m["B"], "x y");
        assert_eq!(m["C"], "z");
        assert!(!m.contains_key("# c"));
    }
}
