//! Helper binary of `bench/run.sh`.
//!
//! - `node <a|b> <transparent|userspace> <lease-netns>`: runs one relayer
//!   of the two-provider bench topology (run it inside the provider's
//!   namespace) until killed; prints `ready` once its peer is connected.
//! - `echo <listen>`: TCP echo server.
//! - `connrate <socks|direct> <target> <seconds> <parallel>`: SOCKS5
//!   connections per second (connect, 1-byte echo, close); `direct`
//!   connects to the target itself (the baseline).
//! - `tcprtt <socks> <target> <count> [interval-ms]`: 1-byte echo round
//!   trips over one SOCKS5 connection, one every `interval-ms` (default 0,
//!   back to back); prints the p50 and p99 in microseconds (nearest rank).
//! - `wakeup <rounds> <cpu> <cpu>`: the machine's wake-up latency: two
//!   threads, pinned to the two CPUs given (the same one twice: both on
//!   it), pass a byte back and forth over two pipes (each blocks until
//!   woken); prints microseconds per round trip (two wake-ups).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use avpn_dataplane::socks::{Command, Greeting, Reply, Request, Target};
use avpn_dataplane::{Overlay, OverlayConfig, PeerState};
use avpn_model::{
    Attachment, AttachmentMode, Change, DataPlane, LeaseId, MemberInfo, NetworkInfo, OverlayKey,
    PeerInfo, PeerSelector, Policy, PortRange, Protocol, Rule, Verdict,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn arg(args: &[String], i: usize) -> Res<&str> {
    args.get(i)
        .map(String::as_str)
        .ok_or_else(|| format!("missing argument {i}; see the module docs").into())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    match arg(&args, 1)? {
        "node" => node(arg(&args, 2)?, arg(&args, 3)?, arg(&args, 4)?).await,
        "echo" => echo(arg(&args, 2)?.parse()?).await,
        "connrate" => {
            let via = match arg(&args, 2)? {
                "direct" => None,
                socks => Some(socks.parse()?),
            };
            connrate(
                via,
                arg(&args, 3)?.parse()?,
                arg(&args, 4)?.parse()?,
                arg(&args, 5)?.parse()?,
            )
            .await
        }
        "tcprtt" => {
            tcprtt(
                arg(&args, 2)?.parse()?,
                arg(&args, 3)?.parse()?,
                arg(&args, 4)?.parse()?,
                args.get(5).map(|s| s.parse()).transpose()?.unwrap_or(0),
            )
            .await
        }
        "wakeup" => wakeup(
            arg(&args, 2)?.parse()?,
            arg(&args, 3)?.parse()?,
            arg(&args, 4)?.parse()?,
        ),
        other => Err(format!("unknown command {other}").into()),
    }
}

fn open() -> Policy {
    let any = Rule {
        peers: PeerSelector::Any,
        protocol: Protocol::Any,
        ports: PortRange::ALL,
        verdict: Verdict::Allow,
    };
    Policy {
        ingress: vec![any.clone()],
        egress: vec![any],
    }
}

async fn node(side: &str, mode: &str, lease: &str) -> Res<()> {
    let sides = [
        (
            "a",
            "akash1benchprova",
            [1u8; 32],
            "198.18.0.1:7400",
            "100.64.0.2",
        ),
        (
            "b",
            "akash1benchprovb",
            [2u8; 32],
            "198.18.0.2:7400",
            "100.64.0.3",
        ),
    ];
    let me = sides
        .iter()
        .find(|s| s.0 == side)
        .ok_or("side must be a or b")?;
    let other = sides.iter().find(|s| s.0 != side).ok_or("no other side")?;
    let mut registry = prometheus_client::registry::Registry::default();
    let mut cfg = OverlayConfig::new(me.3.parse()?, me.2, me.1.into(), &mut registry);
    // The benchmark compares congestion controllers with AVPN_CONGESTION.
    if let Ok(cc) = std::env::var("AVPN_CONGESTION") {
        cfg.congestion = cc.parse()?;
    }
    let mut overlay = Overlay::start(cfg)?;
    let key = avpn_dataplane::identity::Identity::from_seed(&other.2)?.public_key();
    let mut changes = vec![
        Change::SetPeer(PeerInfo {
            provider: other.1.into(),
            keys: vec![OverlayKey {
                key,
                valid_until: None,
            }],
            endpoints: vec![other.3.parse()?],
        }),
        Change::SetNetwork(NetworkInfo {
            id: 1,
            name: "bench".into(),
            owner: "akash1tenant".into(),
            revision: 1,
            cidr: "100.64.0.0/24".parse()?,
            cidr6: None,
            default_verdict: Verdict::Deny,
        }),
    ];
    for s in sides {
        changes.push(Change::SetMember(
            1,
            MemberInfo {
                name: s.0.into(),
                ip: s.4.parse()?,
                ip6: None,
                lease: LeaseId {
                    owner: "akash1tenant".into(),
                    dseq: 1,
                    gseq: 1,
                    oseq: 1,
                    provider: s.1.into(),
                    bseq: 1,
                },
                tags: Default::default(),
                service: None,
                policy: open(),
                weight: None,
            },
        ));
    }
    let mode = match mode {
        "transparent" => AttachmentMode::Transparent,
        "userspace" => AttachmentMode::Userspace {
            socks: "127.0.0.1:1080".parse()?,
            serve: BTreeMap::from([
                (5201, "127.0.0.1:5201".parse()?),
                (9000, "127.0.0.1:9000".parse()?),
            ]),
            serve_udp: BTreeMap::new(),
        },
        _ => return Err("mode must be transparent or userspace".into()),
    };
    changes.push(Change::Attach(
        1,
        side.into(),
        Attachment {
            netns: PathBuf::from(lease),
            mode,
        },
    ));
    for c in changes {
        overlay.apply(c).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while overlay
        .status()
        .peers
        .iter()
        .any(|p| p.state != PeerState::Connected)
    {
        if Instant::now() > deadline {
            return Err("peer did not connect".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("ready");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn socks(proxy: SocketAddr, target: SocketAddr) -> Res<TcpStream> {
    let SocketAddr::V4(t) = target else {
        return Err("IPv4 target only".into());
    };
    let mut s = TcpStream::connect(proxy).await?;
    s.set_nodelay(true)?;
    s.write_all(&Greeting { methods: vec![0] }.encode()).await?;
    let mut m = [0u8; 2];
    s.read_exact(&mut m).await?;
    s.write_all(
        &Request {
            command: Command::Connect,
            target: Target::V4(t),
        }
        .encode(),
    )
    .await?;
    let mut r = [0u8; 10];
    s.read_exact(&mut r).await?;
    match Reply::decode(&r)? {
        0 => Ok(s),
        code => Err(format!("socks reply {code}").into()),
    }
}

async fn echo(listen: SocketAddr) -> Res<()> {
    let l = TcpListener::bind(listen).await?;
    println!("ready");
    loop {
        let (mut c, _) = l.accept().await?;
        c.set_nodelay(true)?;
        tokio::spawn(async move {
            let (mut r, mut w) = c.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
    }
}

async fn connrate(
    proxy: Option<SocketAddr>,
    target: SocketAddr,
    seconds: u64,
    parallel: usize,
) -> Res<()> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..parallel)
        .map(|_| {
            let (done, failed) = (done.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    let one = async {
                        let mut s = match proxy {
                            Some(proxy) => socks(proxy, target).await?,
                            None => {
                                let s = TcpStream::connect(target).await?;
                                s.set_nodelay(true)?;
                                s
                            }
                        };
                        s.write_all(b"x").await?;
                        let mut b = [0u8; 1];
                        s.read_exact(&mut b).await?;
                        Res::Ok(())
                    };
                    match one.await {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:.0} {}",
        done.load(Ordering::Relaxed) as f64 / secs,
        failed.load(Ordering::Relaxed)
    );
    Ok(())
}

/// Pins the calling thread to `cpu`.
fn pin(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET writes within it, and
    // sched_setaffinity reads `size_of` bytes of it for this thread (0).
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn wakeup(rounds: u32, cpu_a: usize, cpu_b: usize) -> Res<()> {
    use std::io::{Read, Write};
    let (mut ping_rx, mut ping_tx) = std::io::pipe()?;
    let (mut pong_rx, mut pong_tx) = std::io::pipe()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        pin(cpu_b)?;
        let mut b = [0u8; 1];
        for _ in 0..rounds {
            ping_rx.read_exact(&mut b)?;
            pong_tx.write_all(&b)?;
        }
        Ok(())
    });
    pin(cpu_a)?;
    let mut b = [0u8; 1];
    let t = Instant::now();
    for _ in 0..rounds {
        ping_tx.write_all(&b)?;
        pong_rx.read_exact(&mut b)?;
    }
    let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    echo.join().map_err(|_| "echo thread panicked")??;
    println!("{per:.1}");
    Ok(())
}

async fn tcprtt(proxy: SocketAddr, target: SocketAddr, count: usize, interval_ms: u64) -> Res<()> {
    let mut s = socks(proxy, target).await?;
    let mut samples = Vec::with_capacity(count);
    let mut b = [0u8; 1];
    let mut next = Instant::now();
    for _ in 0..count.max(1) {
        tokio::time::sleep_until(next.into()).await;
        next += Duration::from_millis(interval_ms);
        let t = Instant::now();
        s.write_all(b"x").await?;
        s.read_exact(&mut b).await?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);
    let rank =
        |p: f64| samples[((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    println!("{:.1} {:.1}", rank(0.50), rank(0.99));
    Ok(())
}
