//! avpn overlay data plane: QUIC connections between providers' relayers,
//! the wire protocol, TUN and userspace attachments of leases, and the
//! two-sided firewall.

pub mod identity;
pub mod packet;
pub mod policy;
pub mod socks;
pub mod wire;
