//! Names inside a network: the DNS responder each transparent attachment
//! reaches on its network's gateway address (the first host of the
//! network's prefixes), and the name lookup SOCKS5 CONNECT by name uses.
//!
//! A network named `prod` answers `<member>.prod` and `<service>.prod`
//! (A, AAAA) and the reverse names of their addresses (PTR),
//! case-insensitively.
//! Other names inside the zone get NXDOMAIN; everything outside it
//! (other networks' names, the Internet, reverse names outside the
//! network's prefixes) gets REFUSED, so a lookup never leaves the
//! sender's own network table. Queries are bounded in size
//! ([`crate::limits::DNS_MAX_QUERY`]) and rate
//! ([`crate::limits::DNS_QUERIES_PER_SEC`], see [`TokenBucket`]).

mod answer;
mod limit;
pub(crate) mod serve;
mod zone;

pub use answer::{DnsError, answer};
pub use limit::TokenBucket;
pub use zone::{Host, Zone};

/// DNS port.
pub const PORT: u16 = 53;

/// TTL of every answer, in seconds: short, since members come and go
/// with the chain.
pub const TTL: u32 = 5;
