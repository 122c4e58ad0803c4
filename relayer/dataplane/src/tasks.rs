//! Ownership of background tasks. Every task the data plane spawns
//! belongs to a [`TaskScope`] held by the thing whose lifetime bounds it:
//! the overlay (accept and maintenance loops, handshakes), a peer (dialer,
//! connection receive loops, inbound stream handshakes) or a member's
//! attachment (TUN loop, SOCKS5 server and sessions, forwards). Scopes of
//! peers and attachments are children of the overlay's: dropping a scope
//! cancels its tasks (and its children's), [`TaskScope::shutdown`] also
//! waits for them to end, so a removed member, peer or network leaves no
//! task behind.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long [`TaskScope::shutdown`] waits for cancelled tasks to end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What owns a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Overlay,
    Peer,
    Member,
}

/// Live tasks of one overlay by owner kind, counted from their start to
/// the end of their future (cancelled or not), whether or not their scope
/// still exists.
#[derive(Debug, Default)]
pub(crate) struct LiveTasks([AtomicUsize; 3]);

impl LiveTasks {
    /// Current counts.
    pub fn counts(&self) -> TaskCounts {
        let n = |o: Owner| self.0[o as usize].load(Ordering::Relaxed);
        TaskCounts {
            overlay: n(Owner::Overlay),
            peers: n(Owner::Peer),
            members: n(Owner::Member),
        }
    }
}

/// Background tasks running, by owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskCounts {
    /// Owned by the overlay itself: accept and maintenance loops,
    /// handshakes in progress.
    pub overlay: usize,
    /// Owned by peers: dialers, connection receive loops, inbound stream
    /// handshakes, key handovers.
    pub peers: usize,
    /// Owned by members' attachments: TUN loops, SOCKS5 servers and
    /// sessions, forwarded connections.
    pub members: usize,
}

/// Decrements an owner's live count when a task's future is dropped.
struct Counted(Arc<LiveTasks>, Owner);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.0[self.1 as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Handle that spawns tasks into a scope; tasks clone it to spawn their
/// own sub-tasks. It does not keep the scope's tasks alive.
#[derive(Debug, Clone)]
pub(crate) struct Spawner {
    owner: Owner,
    /// The runtime tasks run on (the data plane's, [`crate::io_runtime`]).
    runtime: Handle,
    tracker: TaskTracker,
    cancel: CancellationToken,
    live: Arc<LiveTasks>,
}

impl Spawner {
    /// Runs `task` until it ends or the scope is cancelled.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.live.0[self.owner as usize].fetch_add(1, Ordering::Relaxed);
        let counted = Counted(self.live.clone(), self.owner);
        let cancel = self.cancel.clone();
        self.tracker.spawn_on(
            async move {
                let _counted = counted;
                cancel.run_until_cancelled_owned(task).await;
            },
            &self.runtime,
        );
    }

    /// Cancelled when the scope is.
    pub fn token(&self) -> &CancellationToken {
        &self.cancel
    }
}

/// Owns the tasks spawned through its [`Spawner`]: cancels them when
/// dropped.
#[derive(Debug)]
pub(crate) struct TaskScope(Spawner);

impl TaskScope {
    /// The overlay's scope, counting into `live`, its tasks (and its
    /// children's) running on `runtime`.
    pub fn root(live: Arc<LiveTasks>, runtime: Handle) -> TaskScope {
        TaskScope(Spawner {
            owner: Owner::Overlay,
            runtime,
            tracker: TaskTracker::new(),
            cancel: CancellationToken::new(),
            live,
        })
    }

    /// A scope cancelled with this one (or on its own).
    pub fn child(&self, owner: Owner) -> TaskScope {
        TaskScope(Spawner {
            owner,
            runtime: self.0.runtime.clone(),
            tracker: TaskTracker::new(),
            cancel: self.0.cancel.child_token(),
            live: self.0.live.clone(),
        })
    }

    /// Live tasks of the whole overlay this scope belongs to.
    pub fn counts(&self) -> TaskCounts {
        self.0.live.counts()
    }

    /// The handle tasks of this scope are spawned with.
    pub fn spawner(&self) -> &Spawner {
        &self.0
    }

    /// Cancels the tasks and waits (bounded) until they have ended.
    pub async fn shutdown(&self) {
        self.0.cancel.cancel();
        self.0.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.0.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(left = self.0.tracker.len(), "cancelled tasks still running");
        }
    }
}

impl Drop for TaskScope {
    fn drop(&mut self) {
        self.0.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn counts(overlay: usize, peers: usize, members: usize) -> TaskCounts {
        TaskCounts {
            overlay,
            peers,
            members,
        }
    }

    /// Lets the runtime run until `live` shows `want`, within a deadline.
    async fn settle(live: &LiveTasks, want: TaskCounts) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while live.counts() != want {
            assert!(
                Instant::now() < deadline,
                "{:?}, not {want:?}",
                live.counts()
            );
            tokio::task::yield_now().await;
        }
    }

    /// A scope's shutdown ends its tasks before it returns, including the
    /// sub-tasks they spawned; dropping the root cancels every scope.
    #[tokio::test]
    async fn scopes_end_their_tasks() {
        let live = Arc::new(LiveTasks::default());
        let root = TaskScope::root(live.clone(), Handle::current());
        let peer = root.child(Owner::Peer);
        let member = root.child(Owner::Member);
        root.spawner().spawn(std::future::pending());
        let spawner = peer.spawner().clone();
        peer.spawner().spawn(async move {
            spawner.spawn(std::future::pending());
            std::future::pending().await
        });
        member.spawner().spawn(std::future::pending());
        settle(&live, counts(1, 2, 1)).await;

        peer.shutdown().await;
        assert_eq!(live.counts(), counts(1, 0, 1));

        drop(root);
        member.shutdown().await;
        assert_eq!(live.counts().members, 0);
        settle(&live, counts(0, 0, 0)).await;
    }
}
