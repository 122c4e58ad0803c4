//! `avpn console` in headless Chromium against the localnet: runs
//! `integration-tests/console/console.test.mjs` (Playwright, system
//! Chromium). Skips with `SKIP:` when node, npm, Chromium or the localnet
//! env file (`$AVPN_LOCALNET_ENV`, default `/root/.avpn-localnet/env`) is
//! missing. The node script and everything it starts run in their own
//! process group, killed when the test ends however it ends.

mod common;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The whole browser scenario (about a dozen txs) must finish within this.
const DEADLINE: Duration = Duration::from_secs(600);
const CHROMIUM: &str = "/usr/bin/chromium";

/// Kills the process group of the child when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(std::process::Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

fn found(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn console_in_headless_chromium() {
    use std::os::unix::process::CommandExt;

    // the same skip as every localnet test: no env file, no contracts, or
    // a node that does not answer
    if common::localnet().is_none() {
        return;
    }
    let env_file = common::env_file();
    if !found("node") || !found("npm") {
        println!("SKIP: node/npm not installed");
        return;
    }
    if !Path::new(CHROMIUM).exists() {
        println!("SKIP: {CHROMIUM} missing (apt-get install chromium)");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = repo.join("integration-tests/console");
    let ci = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .current_dir(&dir)
        .status()
        .expect("run npm ci");
    assert!(ci.success(), "npm ci failed in {}", dir.display());

    let child = Command::new("node")
        .arg("console.test.mjs")
        .current_dir(&dir)
        .env("AVPN_BIN", env!("CARGO_BIN_EXE_avpn"))
        .env("AVPN_LOCALNET_ENV", &env_file)
        .env("AVPN_REPO", &repo)
        .process_group(0)
        .spawn()
        .expect("start node");
    let mut group = Group(child);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = group.0.try_wait().expect("wait for node") {
            break status;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "browser test did not finish within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "browser test failed: {status}");
}
