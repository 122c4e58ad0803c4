//! Helpers of the integration tests: the localnet's env file (and whether
//! its node answers), scratch directories with 0600 copies of the localnet
//! accounts' mnemonics and a private copy of the `avpn` binary, and running
//! that binary with none of its environment variables inherited.

// Every test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The localnet's settings: the `KEY=value` lines of its env file.
pub type Env = HashMap<String, String>;

/// The env file when `$AVPN_LOCALNET_ENV` is not set.
pub const DEFAULT_ENV_FILE: &str = "/root/.avpn-localnet/env";

/// The `avpn` binary cargo built for the tests (a shared target directory
/// may replace it while tests run: see [`Scratch::add_binary`]).
pub const BIN: &str = env!("CARGO_BIN_EXE_avpn");

/// Environment variables `avpn` reads; [`avpn`] removes them all so the
/// caller's shell cannot leak into a test.
pub const AVPN_VARS: [&str; 10] = [
    "AVPN_CONFIG",
    "AVPN_CHAIN_ID",
    "AVPN_RPC",
    "AVPN_REGISTRY",
    "AVPN_DIRECTORY",
    "AVPN_GAS_PRICES",
    "AVPN_PREFIX",
    "AVPN_MNEMONIC",
    "AVPN_MNEMONIC_FILE",
    "AVPN_FROM",
];

/// The localnet env file's path: `$AVPN_LOCALNET_ENV`, else
/// [`DEFAULT_ENV_FILE`].
pub fn env_file() -> PathBuf {
    std::env::var_os("AVPN_LOCALNET_ENV").map_or_else(|| DEFAULT_ENV_FILE.into(), PathBuf::from)
}

/// The localnet's env file, or `None` (with a visible SKIP line) when it is
/// missing, has no contracts or its node does not answer.
pub fn localnet() -> Option<Env> {
    let file = env_file();
    let path = file.display();
    let Ok(text) = std::fs::read_to_string(&file) else {
        eprintln!("SKIP: localnet env {path} missing (start it with `localnet/localnet up`)");
        return None;
    };
    let env: Env = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect();
    if env.get("REGISTRY").is_none_or(|r| r.is_empty()) {
        eprintln!("SKIP: localnet env {path} has no contracts");
        return None;
    }
    if !node_answers(env.get("RPC").map_or("", String::as_str)) {
        eprintln!("SKIP: localnet env {path} exists but its node does not answer (localnet down?)");
        return None;
    }
    Some(env)
}

/// Whether something accepts TCP connections at the RPC URL's host:port.
pub fn node_answers(rpc: &str) -> bool {
    use std::net::ToSocketAddrs;
    let hostport = rpc.trim_start_matches("http://").trim_end_matches('/');
    hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

/// `--chain-id`, `--rpc` and `--registry` flags from the env file.
pub fn chain_flags(env: &Env) -> [&str; 6] {
    [
        "--chain-id",
        &env["CHAIN_ID"],
        "--rpc",
        &env["RPC"],
        "--registry",
        &env["REGISTRY"],
    ]
}

/// Nanoseconds since the Unix epoch.
pub fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `<pid>-<nanos within the second>`: unique among concurrent test runs.
pub fn unique() -> String {
    format!("{}-{}", std::process::id(), nanos() % 1_000_000_000)
}

/// A command running the `avpn` binary at `bin` with none of [`AVPN_VARS`]
/// set.
pub fn avpn(bin: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for var in AVPN_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Prints a finished `avpn args` (exit code and both streams) on stderr
/// for the test's log, and returns its output.
pub fn logged(args: &[&str], out: Output) -> Output {
    eprintln!(
        "$ avpn {}\n-> {:?}\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A scratch directory under the system's temp directory, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// An empty `avpn-<tag>-<unique>` directory.
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("avpn-{tag}-{}", unique()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Copies the localnet accounts' mnemonics (`localnet/accounts/<account>.mnemonic`)
    /// into the directory with mode 0600 (see [`Scratch::mnemonic`]).
    pub fn add_mnemonics(&self, accounts: &[&str]) {
        for account in accounts {
            let source = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../localnet/accounts")
                .join(format!("{account}.mnemonic"));
            let copy = self.mnemonic(account);
            std::fs::copy(&source, &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    /// The copy of `account`'s mnemonic file.
    pub fn mnemonic(&self, account: &str) -> PathBuf {
        self.0.join(format!("{account}.mnemonic"))
    }

    /// Copies [`BIN`] into the directory (see [`Scratch::binary`]): a shared
    /// `CARGO_TARGET_DIR` may get another build of `avpn` (from another
    /// checkout) while the test runs.
    pub fn add_binary(&self) {
        std::fs::copy(BIN, self.binary()).unwrap();
    }

    /// The private copy of the binary.
    pub fn binary(&self) -> PathBuf {
        self.0.join("avpn")
    }

    /// Writes `text` to the file `name` in the directory; returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
