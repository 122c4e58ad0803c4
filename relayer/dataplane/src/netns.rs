//! A thread living inside another network namespace (an existing one, or
//! a new private one), where sockets and TUN devices are created. A
//! socket or TUN keeps the namespace it was created in, so the file
//! descriptor is then used from any thread of the async runtime.

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
        Self::start(path.to_owned(), move || {
            // SAFETY: setns on a valid namespace fd affects only this thread.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            drop(ns);
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    }

    /// Starts a thread in a new network namespace of its own, private to
    /// this process: no name under `/var/run/netns`, only a loopback
    /// device (down). It exists while the thread runs or a socket or
    /// device created in it is open; [`NetnsWorker::path`] names it
    /// through the thread (`/proc/<pid>/task/<tid>/ns/net`).
    pub fn spawn_private() -> io::Result<Self> {
        let (path_tx, path_rx) = mpsc::channel();
        let worker = Self::start(PathBuf::new(), move || {
            // SAFETY: unsharing the network namespace affects only this
            // thread.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            let _ = path_tx.send(PathBuf::from(format!(
                "/proc/{}/task/{tid}/ns/net",
                std::process::id()
            )));
            Ok(())
        })?;
        let path = path_rx
            .recv()
            .map_err(|_| io::Error::other("netns thread died"))?;
        Ok(NetnsWorker { path, ..worker })
    }

    /// Starts the thread, runs `enter` on it, then serves jobs.
    fn start(
        path: PathBuf,
        enter: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel::<io::Result<()>>();
        std::thread::Builder::new()
            .name("avpn-netns".into())
            .spawn(move || {
                let res = enter();
                let ok = res.is_ok();
                let _ = ready_tx.send(res);
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
            path,
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

    /// Connects a TCP socket created inside the namespace to `addr`
    /// (non-blocking, `TCP_NODELAY` set).
    pub async fn tcp_connect(
        &self,
        addr: std::net::SocketAddr,
    ) -> io::Result<tokio::net::TcpStream> {
        let std_stream = self
            .run(move || {
                // Non-blocking from the start: no fcntl calls.
                let s = socket2::Socket::new(
                    socket2::Domain::for_address(addr),
                    socket2::Type::STREAM.nonblocking(),
                    None,
                )?;
                s.set_tcp_nodelay(true)?;
                Ok::<_, io::Error>(std::net::TcpStream::from(s))
            })
            .await??;
        tokio::net::TcpSocket::from_std_stream(std_stream)
            .connect(addr)
            .await
    }

    /// Binds a UDP socket inside the namespace.
    pub async fn udp_bind(&self, addr: std::net::SocketAddr) -> io::Result<tokio::net::UdpSocket> {
        let std_socket = self
            .run(move || {
                let s = std::net::UdpSocket::bind(addr)?;
                s.set_nonblocking(true)?;
                Ok::<_, io::Error>(s)
            })
            .await??;
        tokio::net::UdpSocket::from_std(std_socket)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    /// A private namespace is a new one, named through its thread.
    #[tokio::test]
    async fn private_namespace_is_its_own() {
        // SAFETY: getuid has no preconditions.
        if unsafe { libc::getuid() } != 0 {
            eprintln!("SKIPPED: needs root");
            return;
        }
        let w = NetnsWorker::spawn_private().unwrap();
        let ns = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_ne!(ns(w.path()), ns(Path::new("/proc/self/ns/net")));
        let inside = w
            .run(move || ns(Path::new("/proc/thread-self/ns/net")))
            .await;
        assert_eq!(inside.unwrap(), ns(w.path()));
    }
}
