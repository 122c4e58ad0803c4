//! The few IP header fields the data path needs (addresses, protocol,
//! ports), read without copying, and the ICMP errors a relayer sends back
//! to a local workload (IPv4 "fragmentation needed", ICMPv6 "packet too
//! big").
//!
//! IPv4 (`v4`) and IPv6 (`v6`) are carried. Fragments other than the
//! first IPv4 one carry no ports and cannot be checked by the firewall;
//! they are refused with [`PacketError::Fragment`] (workloads see the TUN
//! MTU, so TCP never fragments and UDP applications larger than the MTU
//! must use PMTU). IPv6 link-scope control traffic (neighbour discovery,
//! MLD, link-local and multicast addresses) is never forwarded: it is
//! reported as [`PacketError::Ipv6Control`], not as malformed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod checksum;
pub mod nat;
pub mod udp;
mod v4;
mod v6;

pub use v4::frag_needed;
pub use v6::{Ipv6Control, packet_too_big};

/// IP protocol numbers the firewall distinguishes.
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6 (IPv6 next header).
    pub const ICMPV6: u8 = 58;
}

/// ICMP types the data path distinguishes.
pub mod icmp {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
}

/// ICMPv6 types the data path distinguishes (RFC 4443, 4861, 2710, 3810).
pub mod icmpv6 {
    /// Packet too big (an error message).
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Multicast listener query (MLDv1 and v2).
    pub const MLD_QUERY: u8 = 130;
    /// MLDv1 report.
    pub const MLD_REPORT: u8 = 131;
    /// MLDv1 done.
    pub const MLD_DONE: u8 = 132;
    /// Router solicitation.
    pub const ROUTER_SOLICITATION: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERTISEMENT: u8 = 134;
    /// Neighbour solicitation.
    pub const NEIGHBOR_SOLICITATION: u8 = 135;
    /// Neighbour advertisement.
    pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;
    /// Redirect.
    pub const REDIRECT: u8 = 137;
    /// MLDv2 report.
    pub const MLD2_REPORT: u8 = 143;
}

/// Source and destination of a packet; both of one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addrs {
    /// IPv4 packet.
    V4 {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
    /// IPv6 packet.
    V6 {
        /// Source address.
        src: Ipv6Addr,
        /// Destination address.
        dst: Ipv6Addr,
    },
}

impl Addrs {
    /// The pair, when both addresses are of one family.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<Self> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Some(Addrs::V4 { src, dst }),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Some(Addrs::V6 { src, dst }),
            _ => None,
        }
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        match *self {
            Addrs::V4 { src, .. } => src.into(),
            Addrs::V6 { src, .. } => src.into(),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        match *self {
            Addrs::V4 { dst, .. } => dst.into(),
            Addrs::V6 { dst, .. } => dst.into(),
        }
    }

    /// The pair of the answering direction.
    pub fn reversed(&self) -> Self {
        match *self {
            Addrs::V4 { src, dst } => Addrs::V4 { src: dst, dst: src },
            Addrs::V6 { src, dst } => Addrs::V6 { src: dst, dst: src },
        }
    }

    /// The ICMP protocol number of this family (ICMP or ICMPv6).
    pub fn icmp_proto(&self) -> u8 {
        match self {
            Addrs::V4 { .. } => proto::ICMP,
            Addrs::V6 { .. } => proto::ICMPV6,
        }
    }
}

/// Parsed view of an IP packet's flow identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacketInfo {
    /// Source and destination.
    pub addrs: Addrs,
    /// IP protocol number (IPv6: the upper-layer header after any
    /// extension headers).
    pub proto: u8,
    /// Source port (TCP/UDP); ICMP echo identifier; otherwise 0.
    pub sport: u16,
    /// Destination port (TCP/UDP); ICMP echo identifier; otherwise 0.
    pub dport: u16,
    /// An ICMP or ICMPv6 echo reply. The firewall lets it pass only as the
    /// answer to an echo request it allowed, and never lets a request
    /// through on the state of a reply (see [`crate::policy::FlowKey`]).
    pub icmp_reply: bool,
}

impl PacketInfo {
    /// Source address.
    pub fn src(&self) -> IpAddr {
        self.addrs.src()
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        self.addrs.dst()
    }
}

/// Why a packet is not a well-formed, checkable, forwardable IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than its headers.
    #[error("truncated packet")]
    Truncated,
    /// Neither IPv4 nor IPv6.
    #[error("IP version {0} is not carried")]
    UnknownVersion(u8),
    /// IPv4 header length field below 20 bytes or past the packet.
    #[error("bad IPv4 header length")]
    BadHeaderLength,
    /// Total (IPv4) or payload (IPv6) length field disagrees with the packet.
    #[error("bad IP total length")]
    BadTotalLength,
    /// More IPv6 extension headers than the data path reads
    /// (8, `v6::MAX_EXTENSION_HEADERS`).
    #[error("too many IPv6 extension headers")]
    TooManyExtensionHeaders,
    /// A fragment that cannot be checked (IPv4: non-first; IPv6: any
    /// fragment of a fragmented packet).
    #[error("fragment")]
    Fragment,
    /// IPv6 link-scope control traffic, never forwarded.
    #[error("IPv6 link-scope control traffic: {0:?}")]
    Ipv6Control(Ipv6Control),
}

/// Reads the flow identity of an IPv4 or IPv6 packet.
pub fn parse(p: &[u8]) -> Result<PacketInfo, PacketError> {
    match p.first().map(|b| b >> 4) {
        None => Err(PacketError::Truncated),
        Some(4) => v4::parse(p),
        Some(6) => v6::parse(p),
        Some(version) => Err(PacketError::UnknownVersion(version)),
    }
}

/// Test helpers building packets.
#[cfg(test)]
pub(crate) mod build {
    pub use super::v4::build::*;
    pub use super::v6::build::*;
}
