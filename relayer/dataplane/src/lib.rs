//! avpn overlay data plane: QUIC connections between providers' relayers,
//! the wire protocol, TUN and userspace attachments of leases, and the
//! two-sided firewall.
//!
//! Entry point: [`Overlay::start`], then feed it [`avpn_model::Change`]s
//! through [`avpn_model::DataPlane`]; [`Overlay::status`] reports what it
//! serves. Module docs describe the wire protocol ([`wire`]), the firewall
//! semantics ([`policy`]), MTU handling ([`tun`]) and the limits against
//! floods ([`limits`]), direct and relayed paths to peers ([`paths`]).

mod addr_map;
mod datapath;
pub mod dns;
pub mod identity;
mod io_runtime;
pub mod limits;
pub mod metrics;
pub mod netns;
mod overlay;
pub mod packet;
pub mod paths;
mod peers;
pub mod policy;
mod receive;
pub mod sealed;
mod service;
mod shadow;
pub mod socks;
mod streams;
mod tasks;
pub mod tun;
pub mod wire;

pub use overlay::{
    AttachmentStatus, Congestion, MemberStatus, NetworkStatus, Overlay, OverlayConfig,
    OverlayError, OverlayStatus, PeerState, PeerStatus, UnknownCongestion,
};
pub use peers::HANDOVER_MARGIN;
pub use tasks::TaskCounts;
