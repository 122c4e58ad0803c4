//! A userspace member's served TCP ports on its shadow stack: a listener
//! on `member_ip:port` (and `member_ip6:port`) in the shadow namespace accepts connections that
//! other members' packets made (the packet path checked them), and each is
//! forwarded to the port's local address in the lease's namespace. The
//! forward is registered under its flow (peer member → member:port), so a
//! policy change or a removal cuts it like a stream forward.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::forward::{Flow, Hold, spawn_forward};
use super::pipe::End;
use super::{HANDSHAKE_TIMEOUT, UserspaceMember};
use crate::datapath::Shared;
use crate::metrics::{DropReason, Traffic};

/// Accepts connections on `listener` (a served port) until cancelled and forwards
/// each to `target`, within the member's cap of concurrent forwards
/// (`forwards`): a connection beyond it is closed.
pub(crate) async fn serve_tcp(
    shared: Arc<Shared>,
    me: UserspaceMember,
    listener: TcpListener,
    target: SocketAddr,
    forwards: Arc<Semaphore>,
) {
    let Ok(dst) = listener.local_addr() else {
        return;
    };
    loop {
        let (conn, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(%e, "served port accept");
                continue;
            }
        };
        let Ok(permit) = forwards.clone().try_acquire_owned() else {
            shared.metrics.drop(DropReason::ForwardLimit);
            continue;
        };
        me.tasks.spawn(forward_in(
            shared.clone(),
            me.clone(),
            conn,
            from,
            dst,
            target,
            permit,
        ));
    }
}

/// Connects to `target` in the lease's namespace and forwards `conn`
/// (from overlay address `from` to `dst`) to it.
async fn forward_in(
    shared: Arc<Shared>,
    me: UserspaceMember,
    conn: TcpStream,
    from: SocketAddr,
    dst: SocketAddr,
    target: SocketAddr,
    permit: OwnedSemaphorePermit,
) {
    let local = match tokio::time::timeout(HANDSHAKE_TIMEOUT, me.lease.tcp_connect(target)).await {
        Ok(Ok(s)) => s,
        // `conn` is closed: the peer sees its connection end.
        _ => return,
    };
    let _ = conn.set_nodelay(true);
    let flow = Flow {
        network: me.network,
        src: from.ip(),
        dst,
        // The packet path counts this traffic already.
        traffic: Traffic::default(),
        conn: None,
        cut: CancellationToken::new(),
    };
    let hold = Hold {
        permits: vec![permit],
        _inbound: None,
    };
    spawn_forward(
        &shared,
        &me.tasks,
        flow,
        hold,
        End::Tcp(conn),
        End::Tcp(local),
    );
}
