//! Attaching local members (a TUN device, or a SOCKS5 server and served
//! ports in the lease's namespace with a shadow stack) and detaching
//! them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use avpn_model::{Attachment, AttachmentMode, DataPlaneError, NetworkId, NetworkInfo};
use tokio::sync::Semaphore;

use super::Overlay;
use super::state::AttachRuntime;
use crate::datapath::{LocalKind, LocalPort, OwnAddrs, tun_loop};
use crate::limits::{
    MAX_FORWARDS_PER_MEMBER, MAX_SOCKS_SESSIONS_PER_MEMBER, MAX_UDP_FLOWS_PER_MEMBER,
};
use crate::netns::NetnsWorker;
use crate::shadow::Shadow;
use crate::streams::{UserspaceMember, serve_tcp, serve_udp, socks_loop};
use crate::tasks::Owner;
use crate::tun::Tun;

/// An attachment failure of member `member`.
fn attach_error(
    network: NetworkId,
    member: &str,
    reason: impl std::fmt::Display,
) -> DataPlaneError {
    DataPlaneError::Attachment {
        network,
        member: member.to_owned(),
        reason: reason.to_string(),
    }
}

/// TUN name for a network: `avpn-<id>`, or a kernel-chosen `avpnN` when
/// the id is too long for an interface name.
fn interface_name(network: NetworkId) -> String {
    let n = format!("avpn-{network}");
    if n.len() < libc::IFNAMSIZ {
        n
    } else {
        "avpn%d".to_owned()
    }
}

impl Overlay {
    /// Attaches local member `name` as `spec`, replacing a different
    /// attachment it has.
    pub(super) async fn attach(
        &mut self,
        network: NetworkId,
        name: &str,
        spec: Attachment,
    ) -> Result<(), DataPlaneError> {
        let net = self
            .networks
            .get(&network)
            .ok_or(DataPlaneError::UnknownNetwork(network))?;
        let member = net
            .members
            .get(name)
            .ok_or_else(|| DataPlaneError::UnknownMember(network, name.to_owned()))?;
        if member.lease.provider != self.shared.local {
            return Err(attach_error(
                network,
                name,
                "lease is not hosted by this provider",
            ));
        }
        if net
            .attachments
            .get(name)
            .is_some_and(|a| a.spec == spec && a.addrs == OwnAddrs::of(member))
        {
            return Ok(());
        }
        let addrs = OwnAddrs::of(member);
        let info = net.info.clone();
        // Tear down a previous attachment first (it may own the same
        // interface name or listening port).
        self.detach(network, name).await;
        let runtime = self.create_attachment(name, addrs, &info, spec).await?;
        if let Some(net) = self.networks.get_mut(&network) {
            net.attachments.insert(name.to_owned(), runtime);
        }
        Ok(())
    }

    /// Creates the attachment of member `name` (addresses `addrs`) in
    /// network `info` and starts its tasks.
    async fn create_attachment(
        &self,
        name: &str,
        addrs: OwnAddrs,
        info: &NetworkInfo,
        spec: Attachment,
    ) -> Result<AttachRuntime, DataPlaneError> {
        let network = info.id;
        let worker =
            Arc::new(NetnsWorker::spawn(&spec.netns).map_err(|e| attach_error(network, name, e))?);
        let tasks = self.tasks.child(Owner::Member);
        let spawner = tasks.spawner();
        let forwards = Arc::new(Semaphore::new(MAX_FORWARDS_PER_MEMBER));
        let (kind, interface) = match &spec.mode {
            AttachmentMode::Transparent => {
                let ip6 = addrs.ip6.zip(info.cidr6.map(|c| c.prefix_len()));
                let tun = Tun::create(
                    &worker,
                    &interface_name(network),
                    addrs.ip,
                    info.cidr.prefix_len(),
                    ip6,
                    self.shared.tun_mtu,
                )
                .await
                .map_err(|e| attach_error(network, name, format!("tun: {e}")))?;
                let tun = Arc::new(tun);
                let interface = tun.name().to_owned();
                spawner.spawn(tun_loop(self.shared.clone(), network, addrs, tun.clone()));
                (LocalKind::Tun(tun), Some(interface))
            }
            AttachmentMode::Userspace {
                socks,
                serve,
                serve_udp,
            } => {
                let ip6 = addrs.ip6.zip(info.cidr6.map(|c| c.prefix_len()));
                let shadow = Shadow::create(
                    &interface_name(network),
                    addrs.ip,
                    info.cidr.prefix_len(),
                    ip6,
                    self.shared.tun_mtu,
                )
                .await
                .map_err(|e| attach_error(network, name, format!("shadow stack: {e}")))?;
                let shadow = Arc::new(shadow);
                let listener = worker.tcp_listener(*socks).await.map_err(|e| {
                    attach_error(network, name, format!("socks listener {socks}: {e}"))
                })?;
                let me = UserspaceMember {
                    network,
                    ip: addrs.ip,
                    ip6: addrs.ip6,
                    lease: worker.clone(),
                    shadow: shadow.clone(),
                    tasks: spawner.clone(),
                };
                self.serve_shadow(&me, serve, serve_udp, &forwards)
                    .await
                    .map_err(|e| attach_error(network, name, e))?;
                let sessions = Arc::new(Semaphore::new(MAX_SOCKS_SESSIONS_PER_MEMBER));
                spawner.spawn(socks_loop(self.shared.clone(), me, listener, sessions));
                let tun = shadow.tun().clone();
                spawner.spawn(tun_loop(self.shared.clone(), network, addrs, tun.clone()));
                let serve = serve.clone();
                (LocalKind::Userspace { serve, shadow: tun }, None)
            }
        };
        let port = Arc::new(LocalPort {
            worker,
            kind,
            forwards,
            tasks: spawner.clone(),
        });
        Ok(AttachRuntime {
            spec,
            addrs,
            port,
            interface,
            tasks,
        })
    }

    /// Binds a userspace member's served ports on its shadow stack and
    /// starts their tasks; TCP forwards take permits of `forwards`.
    async fn serve_shadow(
        &self,
        me: &UserspaceMember,
        serve: &BTreeMap<u16, SocketAddr>,
        udp: &BTreeMap<u16, SocketAddr>,
        forwards: &Arc<Semaphore>,
    ) -> Result<(), String> {
        for (&port, &target) in serve {
            let listeners = me
                .shadow
                .tcp_listeners(port)
                .await
                .map_err(|e| format!("served tcp port {port}: {e}"))?;
            for listener in listeners {
                let task = serve_tcp(
                    self.shared.clone(),
                    me.clone(),
                    listener,
                    target,
                    forwards.clone(),
                );
                me.tasks.spawn(task);
            }
        }
        let flows = Arc::new(Semaphore::new(MAX_UDP_FLOWS_PER_MEMBER));
        for (&port, &target) in udp {
            let sockets = me
                .shadow
                .udp_binds(port)
                .await
                .map_err(|e| format!("served udp port {port}: {e}"))?;
            for socket in sockets {
                let task = serve_udp(
                    self.shared.clone(),
                    me.clone(),
                    socket,
                    target,
                    flows.clone(),
                );
                me.tasks.spawn(task);
            }
        }
        Ok(())
    }

    /// Detaches member `name` if it is attached: its tasks are cancelled
    /// and awaited.
    pub(super) async fn detach(&mut self, network: NetworkId, name: &str) {
        let runtime = self
            .networks
            .get_mut(&network)
            .and_then(|n| n.attachments.remove(name));
        if let Some(runtime) = runtime {
            runtime.close().await;
        }
    }
}
