//! Network namespaces and veth links as RAII guards.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Result;

use crate::cmd::run;

/// A named network namespace, deleted (with every process still in it
/// killed) when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `name` (removing a stale one left by a crashed run) and brings
    /// its loopback up.
    pub fn new(name: &str) -> Result<Self> {
        if Self::exists(name) {
            drop(Netns {
                name: name.to_owned(),
            });
        }
        run("ip", &["netns", "add", name])?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.exec("ip", &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    fn exists(name: &str) -> bool {
        PathBuf::from("/var/run/netns").join(name).exists()
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Path of the namespace's bind mount (what `setns` needs).
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/var/run/netns").join(&self.name)
    }

    /// Runs a command inside the namespace; fails on a non-zero exit.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut full = vec!["netns", "exec", &self.name, program];
        full.extend_from_slice(args);
        run("ip", &full)
    }

    /// A `Command` that will run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c.stdin(Stdio::null());
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Kill whatever still runs inside, then delete the namespace.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Connects `a` and `b` with a veth pair named `a_if`/`b_if`, assigns the
/// given CIDR addresses and brings both ends up. The pair disappears with
/// either namespace.
pub fn veth(
    a: &Netns,
    a_if: &str,
    a_addr: &str,
    b: &Netns,
    b_if: &str,
    b_addr: &str,
) -> Result<()> {
    run(
        "ip",
        &[
            "link",
            "add",
            a_if,
            "netns",
            a.name(),
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            b.name(),
        ],
    )?;
    for (ns, ifname, addr) in [(a, a_if, a_addr), (b, b_if, b_addr)] {
        ns.exec("ip", &["addr", "add", addr, "dev", ifname])?;
        ns.exec("ip", &["link", "set", ifname, "up"])?;
    }
    Ok(())
}
