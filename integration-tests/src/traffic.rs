//! Real traffic between lease namespaces: ping, iperf3, Redis.

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use crate::netns::Netns;
use crate::poll;
use crate::process::Proc;

/// Whether one ping from `from` to `ip` gets an answer within `secs`.
pub fn ping_ok(from: &Netns, ip: Ipv4Addr, secs: u32) -> bool {
    from.exec("ping", &["-c1", "-W", &secs.to_string(), &ip.to_string()])
        .is_ok()
}

/// Whether a TCP connection from `from` to `ip:port` succeeds within 2 s.
pub fn tcp_connect_ok(from: &Netns, ip: Ipv4Addr, port: u16) -> bool {
    let script = format!("exec 3<>/dev/tcp/{ip}/{port}");
    from.exec("timeout", &["2", "bash", "-c", &script]).is_ok()
}

/// Waits until something listens on TCP `port` inside `ns`.
pub fn wait_listening(ns: &Netns, port: u16) -> Result<()> {
    poll::until(
        &format!("listener on {port} in {}", ns.name()),
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            ns.exec("ss", &["-Hltn", &format!("sport = :{port}")])
                .ok()
                .filter(|o| !o.trim().is_empty())
        },
    )
    .map(|_| ())
}

/// Starts `iperf3 -s` for one test bound to `ip` in `ns`.
pub fn iperf_server(ns: &Netns, ip: Ipv4Addr, port: u16) -> Result<Proc> {
    let mut cmd = ns.command("iperf3");
    cmd.args(["-s", "-1", "-B", &ip.to_string(), "-p", &port.to_string()]);
    let log = std::env::temp_dir().join(format!("{}-iperf3-server.log", ns.name()));
    let p = Proc::spawn("iperf3 server", cmd, &log)?;
    wait_listening(ns, port)?;
    Ok(p)
}

/// Runs an iperf3 TCP client for `secs` seconds; returns bits per second
/// received by the server.
pub fn iperf_client(ns: &Netns, ip: Ipv4Addr, port: u16, secs: u32) -> Result<f64> {
    let out = ns.exec(
        "iperf3",
        &[
            "-c",
            &ip.to_string(),
            "-p",
            &port.to_string(),
            "-t",
            &secs.to_string(),
            "-J",
            "--connect-timeout",
            "3000",
        ],
    )?;
    let v: Value = serde_json::from_str(&out).context("iperf3 JSON")?;
    v.pointer("/end/sum_received/bits_per_second")
        .and_then(Value::as_f64)
        .ok_or_else(|| anyhow!("iperf3 reported no throughput: {out}"))
}

/// Starts a throwaway Redis server bound to `ip:port` in `ns`.
pub fn redis_server(ns: &Netns, ip: Ipv4Addr, port: u16) -> Result<Proc> {
    let mut cmd = ns.command("redis-server");
    cmd.args([
        "--bind",
        &ip.to_string(),
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
        "--daemonize",
        "no",
    ]);
    let log = std::env::temp_dir().join(format!("{}-redis.log", ns.name()));
    let p = Proc::spawn("redis-server", cmd, &log)?;
    wait_listening(ns, port)?;
    Ok(p)
}

/// `redis-cli -h ip -p port <args…>` from `ns`; returns the reply.
pub fn redis_cli(ns: &Netns, ip: Ipv4Addr, port: u16, args: &[&str]) -> Result<String> {
    let ip = ip.to_string();
    let port = port.to_string();
    let mut full = vec!["-h", ip.as_str(), "-p", port.as_str()];
    full.extend_from_slice(args);
    Ok(ns.exec("redis-cli", &full)?.trim().to_owned())
}

/// Sends a Redis `PING` from `ns` through the SOCKS5 proxy at `socks` to
/// `ip:port` (curl's telnet mode); true when `PONG` comes back.
pub fn redis_ping_via_socks(ns: &Netns, socks: &str, ip: Ipv4Addr, port: u16) -> bool {
    let script =
        format!("printf 'PING\\r\\n' | curl -s --max-time 2 --socks5 {socks} telnet://{ip}:{port}");
    ns.command("bash")
        .args(["-c", &script])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("PONG"))
}
