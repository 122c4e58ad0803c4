//! Limits against floods: every resource a peer provider or a local
//! member can make the relayer spend is capped here, and every cap that
//! bites is counted in `avpn_dataplane_drops_total{reason}` (reason in
//! parentheses below).
//!
//! | what | cap | who can hit it | reason label |
//! |---|---|---|---|
//! | concurrent QUIC streams per peer connection | [`MAX_STREAMS_PER_PEER`] (QUIC flow control: the peer's next `open` waits) | a peer provider | `stream_limit` (the peer reached the cap) |
//! | unidirectional streams per peer connection | [`MAX_UNI_STREAMS_PER_PEER`] (none are used) | a peer provider | (protocol violation, connection closed by QUIC) |
//! | concurrent SOCKS5 sessions per member (CONNECT and UDP ASSOCIATE together) | [`MAX_SOCKS_SESSIONS_PER_MEMBER`] (further clients are closed at accept) | a userspace member | `socks_limit` |
//! | a SOCKS5 UDP association without a datagram either way | [`SOCKS_UDP_IDLE`] (the association ends) | a userspace member | (none) |
//! | payload of a datagram relayed for a userspace member (SOCKS5 UDP, served UDP ports) | [`crate::tun`] MTU − 28 (one overlay packet, never fragmented; larger ones are dropped) | a userspace member, or any member allowed to reach it | `too_big` |
//! | datagrams waiting in a SOCKS5 UDP association or a served UDP flow | no queue of our own: the kernel's socket buffers; a datagram that does not fit is dropped | the same | (none) |
//! | datagrams handled per wake-up of a UDP association or served UDP port | [`UDP_BATCH`] (then it yields) | the same | (none) |
//! | concurrent forwards into one member (serve mappings, or its own address in transparent mode; TCP to a userspace member's served ports from members' packets) | [`MAX_FORWARDS_PER_MEMBER`] (further streams get the `busy` reply, further connections are closed) | any member allowed to reach it | `forward_limit` |
//! | concurrent UDP flows (peer address and port) into one userspace member's served UDP ports | [`MAX_UDP_FLOWS_PER_MEMBER`] (datagrams of further flows are dropped) | any member allowed to reach it | `udp_flow_limit` |
//! | a served UDP flow without a datagram either way | [`UDP_FLOW_IDLE`] (the flow and its socket end) | the same | (none) |
//! | handshakes in progress | [`MAX_PENDING_HANDSHAKES`] (further attempts are refused) | anyone who can send UDP | `handshake_limit` |
//! | unvalidated handshakes in progress | [`RETRY_THRESHOLD`] (beyond it a client must prove its address with a Retry round trip) | spoofed-source floods | `handshake_retry` |
//! | DNS queries to the gateway per member | [`DNS_QUERIES_PER_SEC`] sustained, [`DNS_BURST`] at once (token bucket; larger than [`DNS_MAX_QUERY`] is not parsed) | a transparent member | `dns_limit` (`dns_malformed` for unparsable queries) |
//! | bytes relayed per provider pair (both directions together; a pair has exactly one relayed flow, the two providers' QUIC connection and its sealed datagrams) | [`RELAY_PAIR_BYTES_PER_SEC`] sustained, [`RELAY_PAIR_BURST`] at once (token bucket; the operator may lower or raise it) | providers of a network this relayer relays for | `relay_pair_limit` |
//! | provider pairs with a relay budget | [`MAX_RELAY_PAIRS`] (packets of further pairs are dropped) | the same | `relay_pair_limit` |
//! | probes awaiting an answer | [`MAX_OUTSTANDING_PROBES`] (no new probes until answers or timeouts free room) | nobody: we send them | (none) |
//! | flow-cache entries per network | [`FLOW_BUDGET_PER_NETWORK`] (least recently used generation evicted) | members of that network only | `flow_evicted` (entries evicted) |
//!
//! Memory is allocated when it is used: copy buffers ([`COPY_BUF`] per
//! direction) at a forward's first read, freed when it ends; one datagram
//! buffer (the longest SOCKS5 UDP header plus one overlay payload, about
//! 1.7 KiB) per UDP association and per served UDP flow, freed when it
//! ends; QUIC receive windows and the datagram queue are ceilings, not
//! preallocations.

use std::time::Duration;

/// Concurrent bidirectional streams a peer may have open on its
/// connection (all networks together). Each is one forwarded TCP
/// connection; at a few thousand connections per second of a few
/// milliseconds each, 1,024 is far above honest use, while the worst-case
/// buffering stays bounded by the connection receive window (64 MiB).
pub const MAX_STREAMS_PER_PEER: u32 = 1024;

/// Unidirectional streams a peer may open: the protocol uses none.
pub const MAX_UNI_STREAMS_PER_PEER: u32 = 0;

/// Concurrent SOCKS5 sessions of one userspace member (from accept until
/// the forwarded connection or the UDP association ends). A member
/// flooding its own proxy only exhausts its own allowance.
pub const MAX_SOCKS_SESSIONS_PER_MEMBER: usize = 256;

/// A SOCKS5 UDP association ends when its control connection closes, or
/// after this long without a datagram in either direction (a client that
/// forgot it does not hold its sockets and session forever).
pub const SOCKS_UDP_IDLE: Duration = Duration::from_secs(300);

/// Datagrams a UDP association or served UDP port handles per wake-up
/// before yielding to other tasks.
pub const UDP_BATCH: usize = 64;

/// Concurrent UDP flows into one userspace member's served UDP ports (all
/// ports together). A flow is one peer address and port; it holds a
/// socket in the lease's namespace and a datagram buffer until it idles
/// out ([`UDP_FLOW_IDLE`]), so the cap bounds both.
pub const MAX_UDP_FLOWS_PER_MEMBER: usize = 256;

/// A served UDP flow ends after this long without a datagram in either
/// direction (as a NAT would time it out).
pub const UDP_FLOW_IDLE: Duration = Duration::from_secs(60);

/// Concurrent forwarded connections into one local member (from any peer
/// or local member, as streams or, for a userspace member's served TCP
/// ports, as packets). With [`COPY_BUF`] per direction this bounds the
/// copy buffers of one member at 512 × 2 × 64 KiB = 64 MiB.
pub const MAX_FORWARDS_PER_MEMBER: usize = 512;

/// Copy buffer per direction of a forwarded connection (the most one read
/// takes), allocated at its first read and freed when it ends. Bytes
/// handed to a QUIC stream stay allocated until the peer acknowledges
/// them, within the connection's send window
/// (the copy keeps what that pins within 4/3 of the bytes held).
pub const COPY_BUF: usize = 64 * 1024;

/// QUIC handshakes being processed at once (accepted, not yet finished or
/// refused). Also the endpoint's `max_incoming`: attempts beyond it are
/// refused before any TLS work. Honest load is one handshake per peer
/// (re)connecting; 256 covers every peer of a large provider
/// reconnecting at once.
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// Handshakes in progress from addresses QUIC has not validated, beyond
/// which a new one must first complete a Retry round trip (proving it
/// receives packets at its source address), so spoofed floods cost no TLS
/// work and no connection state.
pub const RETRY_THRESHOLD: usize = 16;

/// Bytes buffered for one connection attempt before it is accepted, and
/// for all of them together (0-RTT is not used, so little is needed).
pub const INCOMING_BUFFER: u64 = 64 * 1024;
/// See [`INCOMING_BUFFER`].
pub const INCOMING_BUFFER_TOTAL: u64 = 4 << 20;

/// Flow-cache entries kept per network (two generations of half each; a
/// network's flood evicts only its own least recently used flows).
/// About 1 MiB per network at most.
pub const FLOW_BUDGET_PER_NETWORK: usize = 32 * 1024;

/// DNS queries per second a transparent member may send to its
/// network's gateway (sustained). A resolver asks a few names per
/// connection it opens; 500/s is far above honest use while one member's
/// flood costs at most that many answers (a few microseconds each).
pub const DNS_QUERIES_PER_SEC: u32 = 500;

/// DNS queries a member may send at once before [`DNS_QUERIES_PER_SEC`]
/// applies (the token bucket's depth).
pub const DNS_BURST: u32 = 100;

/// Largest DNS query (UDP payload) answered: the classic 512 bytes, so
/// parsing one query allocates at most a few records of it. Answers are
/// capped at the same size unless the query's EDNS allows more (up to
/// [`DNS_MAX_ANSWER`]).
pub const DNS_MAX_QUERY: usize = 512;

/// Largest DNS answer (UDP payload) sent, whatever the query's EDNS
/// buffer size says (the DNS flag day 2020 value, fits any TUN MTU).
pub const DNS_MAX_ANSWER: usize = 1232;

/// Flows pinned to a service replica kept per network (the oldest pin is
/// evicted past it; its flow then picks a replica again). About 100 bytes
/// each with its reverse entry: under 2 MiB per network.
pub const SERVICE_PINS_PER_NETWORK: usize = 16 * 1024;

/// A pinned service flow idle this long is forgotten (its next packet
/// picks a replica again).
pub const SERVICE_PIN_IDLE: std::time::Duration = std::time::Duration::from_secs(300);

/// A peer provider not heard from (no QUIC packet at all, keep-alives
/// included) for this long gets no new service flows.
pub const PEER_SILENCE: std::time::Duration = std::time::Duration::from_millis(1000);

/// Default bytes per second a relay forwards for one provider pair, both
/// directions together (1 Gbit/s).
pub const RELAY_PAIR_BYTES_PER_SEC: u64 = 125_000_000;

/// Bytes a provider pair may relay at once before the rate applies.
pub const RELAY_PAIR_BURST: u64 = 4 << 20;

/// Provider pairs with a relay byte budget at once (about 64 bytes each).
pub const MAX_RELAY_PAIRS: usize = 64 * 1024;

/// Path probes awaiting an answer or their timeout.
pub const MAX_OUTSTANDING_PROBES: usize = 64 * 1024;

/// What to do with a connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Start the handshake.
    Accept,
    /// Ask the client to prove its address first (QUIC Retry).
    Retry,
    /// Refuse it (too many handshakes in progress).
    Refuse,
}

/// Admission of a new connection attempt given the handshakes in
/// progress (`pending`, of which `unvalidated` from unvalidated
/// addresses), whether this attempt's address is validated and whether a
/// Retry may be sent for it.
pub fn admit(pending: usize, unvalidated: usize, validated: bool, may_retry: bool) -> Admission {
    if pending >= MAX_PENDING_HANDSHAKES {
        Admission::Refuse
    } else if !validated && unvalidated >= RETRY_THRESHOLD {
        if may_retry {
            Admission::Retry
        } else {
            Admission::Refuse
        }
    } else {
        Admission::Accept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_from_an_attackers_flood() {
        // Below the threshold, anyone may start a handshake.
        assert_eq!(admit(0, 0, false, true), Admission::Accept);
        assert_eq!(
            admit(RETRY_THRESHOLD - 1, RETRY_THRESHOLD - 1, false, true),
            Admission::Accept
        );
        // A flood of unvalidated attempts: newcomers must prove their
        // address; a client that already did is still accepted.
        assert_eq!(
            admit(RETRY_THRESHOLD, RETRY_THRESHOLD, false, true),
            Admission::Retry
        );
        assert_eq!(
            admit(RETRY_THRESHOLD, RETRY_THRESHOLD, true, true),
            Admission::Accept
        );
        // An unvalidated attempt that cannot be retried (it already
        // carries a token that failed, or Retry is impossible) is refused.
        assert_eq!(
            admit(RETRY_THRESHOLD, RETRY_THRESHOLD, false, false),
            Admission::Refuse
        );
        // Past the hard cap, even validated attempts are refused.
        assert_eq!(
            admit(MAX_PENDING_HANDSHAKES, 0, true, true),
            Admission::Refuse
        );
    }
}
