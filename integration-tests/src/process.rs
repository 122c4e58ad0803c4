//! Child processes that die with the test.

use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// A running child process, killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    /// Spawns `cmd` with stdout/stderr appended to `log` (a file path).
    pub fn spawn(name: &str, mut cmd: Command, log: &std::path::Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("open log {}", log.display()))?;
        cmd.stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file));
        let child = cmd.spawn().with_context(|| format!("spawn {name}"))?;
        Ok(Proc {
            name: name.to_owned(),
            child: Some(child),
        })
    }

    /// Process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGKILL now (as `kill -9` would) and reaps the process.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}
