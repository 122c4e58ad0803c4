//! The hook of the TUN read path: DNS queries to the gateway address are
//! answered here instead of being routed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use avpn_model::NetworkInfo;

use super::{PORT, TokenBucket, Zone, answer};
use crate::metrics::DropReason;
use crate::packet::{Addrs, PacketInfo, proto, udp};

/// The network's gateway address of the family of `addrs`: the first
/// host of its IPv4 or IPv6 prefix (none for IPv6 without a prefix).
pub(crate) fn gateway(net: &NetworkInfo, addrs: &Addrs) -> Option<IpAddr> {
    match addrs {
        Addrs::V4 { .. } => {
            Some(Ipv4Addr::from(u32::from(net.cidr.network()).wrapping_add(1)).into())
        }
        Addrs::V6 { .. } => {
            Some(Ipv6Addr::from(u128::from(net.cidr6?.network()).wrapping_add(1)).into())
        }
    }
}

/// Whether `info` is a UDP datagram to the DNS port of the gateway.
pub(crate) fn is_query(net: &NetworkInfo, info: &PacketInfo) -> bool {
    info.proto == proto::UDP && info.dport == PORT && gateway(net, &info.addrs) == Some(info.dst())
}

/// The packet answering the query packet `pkt` (flow `info`) from `zone`,
/// or why there is none. `bucket` is the sending member's allowance.
pub(crate) fn serve(
    zone: &Zone,
    bucket: &mut TokenBucket,
    pkt: &[u8],
    info: &PacketInfo,
) -> Result<Vec<u8>, DropReason> {
    if !bucket.take(Instant::now()) {
        return Err(DropReason::DnsLimit);
    }
    let query = udp::payload(pkt).ok_or(DropReason::DnsMalformed)?;
    let reply = answer(zone, query).map_err(|_| DropReason::DnsMalformed)?;
    Ok(udp::datagram(
        info.addrs.reversed(),
        PORT,
        info.sport,
        &reply,
    ))
}
