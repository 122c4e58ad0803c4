//! A thread living inside another network namespace, where sockets and
//! TUN devices are created. A socket or TUN keeps the namespace it was
//! created in, so the file descriptor is then used from any thread of the
//! async runtime.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

type Job = Box<dyn FnOnce() + Send>;

/// Handle of a thread that has entered a network namespace; the thread
/// ends when the handle is dropped.
#[derive(Debug)]
pub struct NetnsWorker {
    path: PathBuf,
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl NetnsWorker {
    /// Starts a thread and moves it into the namespace at `path` (e.g.
    /// `/var/run/netns/lease-42`, or `/proc/self/ns/net`).
    pub fn spawn(path: &Path) -> io::Result<Self> {
        let ns = File::open(path)?;
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        std::thread::Builder::new()
            .name("avpn-netns".into())
            .spawn(move || {
                // SAFETY: setns on a valid namespace fd affects only this thread.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                let res = if rc == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                };
                let ok = res.is_ok();
                let _ = ready_tx.send(res);
                drop(ns);
                if ok {
                    for job in rx {
                        job();
                    }
                }
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("netns thread died"))??;
        Ok(NetnsWorker {
            path: path.to_owned(),
            jobs: Mutex::new(jobs),
        })
    }

    /// The namespace path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the namespace thread and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> io::Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| io::Error::other("netns thread gone"))?;
        rx.await.map_err(|_| io::Error::other("netns job dropped"))
    }

    /// Binds a TCP listener inside the namespace.
    pub async fn tcp_listener(
        &self,
        addr: std::net::SocketAddr,
    ) -> io::Result<tokio::net::TcpListener> {
        let std_listener = self
            .run(move || {
                let s = socket2::Socket::new(
                    socket2::Domain::for_address(addr),
                    socket2::Type::STREAM,
                    None,
                )?;
                s.set_reuse_address(true)?;
                s.bind(&addr.into())?;
                s.listen(1024)?;
                s.set_nonblocking(true)?;
                Ok::<_, io::Error>(std::net::TcpListener::from(s))
            })
            .await??;
        tokio::net::TcpListener::from_std(std_listener)
    }

    /// Connects a TCP socket created inside the namespace to `addr`.
    pub async fn tcp_connect(
        &self,
        addr: std::net::SocketAddr,
    ) -> io::Result<tokio::net::TcpStream> {
        let std_stream = self
            .run(move || {
                let s = socket2::Socket::new(
                    socket2::Domain::for_address(addr),
                    socket2::Type::STREAM,
                    None,
                )?;
                s.set_nonblocking(true)?;
                s.set_tcp_nodelay(true)?;
                Ok::<_, io::Error>(std::net::TcpStream::from(s))
            })
            .await??;
        tokio::net::TcpSocket::from_std_stream(std_stream)
            .connect(addr)
            .await
    }
}
