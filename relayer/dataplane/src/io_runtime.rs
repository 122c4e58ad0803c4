//! The data plane's own tokio runtime on dedicated threads.
//!
//! Packets cross two tasks, the TUN reader on the way out and quinn's
//! endpoint driver on the way in (its socket receive call opens and
//! delivers sealed datagrams, [`crate::receive`]); QUIC's own traffic
//! also crosses the connection drivers. On a work-stealing runtime each
//! of those wake-ups may hand the work to another core, with a futex
//! wake and a cold cache; measured on a 2-core VM (A/B runs of
//! `relayer/dataplane/bench`'s transparent path), running the data plane
//! on one thread of its own moved 9 % more per second with 7 % less CPU
//! per GB than sharing the relayer's multi-threaded runtime. With one
//! thread (the default) the runtime is a current-thread runtime; providers
//! with more cores and many busy tenants can give it more
//! ([`OverlayConfig::io_threads`]).
//!
//! The overlay's control side (applying changes, compiling tables) keeps
//! running on the caller's runtime, so a large recompilation does not
//! stall packets. Tasks are spawned here through [`crate::tasks`], and
//! I/O objects (sockets, TUN devices) are registered with this runtime's
//! reactor by running the code that creates them inside [`InContext`].
//!
//! [`OverlayConfig::io_threads`]: crate::OverlayConfig::io_threads

use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::OverlayError;

/// Most threads the data plane may be given.
pub const MAX_IO_THREADS: usize = 64;

/// A runtime driven by threads of its own; stopped (its tasks dropped)
/// when this is dropped.
#[derive(Debug)]
pub(crate) struct IoRuntime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl IoRuntime {
    /// Starts a runtime with `threads` worker threads (1: current-thread;
    /// more than [`MAX_IO_THREADS`] is refused).
    pub fn start(threads: NonZeroUsize) -> Result<IoRuntime, OverlayError> {
        let threads = threads.get();
        if threads > MAX_IO_THREADS {
            return Err(OverlayError::IoThreads(threads));
        }
        let rt = if threads == 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("avpn-io")
                .enable_all()
                .build()?
        };
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("avpn-io".into())
            .spawn(move || {
                // A current-thread runtime runs its tasks only while this
                // thread is inside `block_on`.
                let _ = rt.block_on(stopped);
                rt.shutdown_background();
            })?;
        Ok(IoRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Handle to spawn onto the runtime.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Joining from the runtime's own thread would wait for itself.
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// A future polled with `handle` as the current runtime: what it
/// spawns, its timers and the I/O objects it creates belong to that
/// runtime, wherever the future itself is polled.
pub(crate) struct InContext<F> {
    handle: Handle,
    fut: Pin<Box<F>>,
}

impl<F> InContext<F> {
    pub fn new(handle: Handle, fut: F) -> Self {
        InContext {
            handle,
            fut: Box::pin(fut),
        }
    }
}

impl<F: Future> Future for InContext<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let _entered = this.handle.enter();
        this.fut.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Work spawned from inside `InContext` runs on the I/O runtime's
    /// thread, not the caller's; dropping the runtime ends its thread.
    #[tokio::test]
    async fn context_spawns_onto_the_io_thread() {
        let io = IoRuntime::start(NonZeroUsize::MIN).unwrap();
        let caller = std::thread::current().id();
        let ran_on = InContext::new(io.handle().clone(), async {
            tokio::spawn(async { std::thread::current().id() }).await
        })
        .await
        .unwrap();
        assert_ne!(ran_on, caller);
        assert_eq!(
            std::thread::current().id(),
            caller,
            "the caller stays on its thread"
        );
        let thread = io.thread.as_ref().unwrap().thread().id();
        assert_eq!(ran_on, thread);
        drop(io);
    }

    /// More than one thread gives a multi-threaded runtime.
    #[test]
    fn thread_count_picks_the_flavor() {
        let one = IoRuntime::start(NonZeroUsize::MIN).unwrap();
        assert_eq!(
            one.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let two = IoRuntime::start(NonZeroUsize::new(2).unwrap()).unwrap();
        assert_eq!(
            two.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
    }
}
