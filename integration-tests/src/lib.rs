//! Harness for avpn's end-to-end tests.
//!
//! Every test builds its own world out of RAII guards — network namespaces,
//! veth links, child processes — that are torn down in `Drop`, so a failing
//! assertion still leaves the machine clean. Nothing here routes traffic off
//! the machine: underlay addresses come from 198.18.0.0/15 and live only on
//! links between namespaces the test created.

pub mod cmd;
pub mod localnet;
pub mod netns;
pub mod poll;
pub mod process;
pub mod topology;
pub mod traffic;
pub mod world;

/// True when running as root; tests that need namespaces print a visible
/// message and return early otherwise.
pub fn require_root(test: &str) -> bool {
    // SAFETY-free check through the proc filesystem instead of libc.
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    if uid == "0" {
        true
    } else {
        eprintln!("SKIPPED {test}: needs root (network namespaces, TUN); run as root");
        false
    }
}
