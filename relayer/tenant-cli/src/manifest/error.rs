//! Errors of manifests: reading the file, and what is wrong where.

use std::path::PathBuf;

/// A manifest that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The file is not a well-formed manifest (with line and column).
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value is invalid; `at` names the place, e.g.
    /// `members[1] "web-1": policy.ingress[0]`.
    #[error("{at}: {problem}")]
    Invalid {
        /// Where in the document.
        at: String,
        /// What is wrong.
        problem: Problem,
    },
}

/// What is wrong with a value.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Neither `network` nor `id`.
    #[error("name the network with `network: <name>` or `id: <number>`")]
    NoNetwork,
    /// A name, tag or service outside the contract's alphabet.
    #[error(
        "invalid {kind} {value:?}: use characters of [a-z0-9._-], starting with a letter or digit"
    )]
    Name {
        /// What the value names.
        kind: &'static str,
        /// The value.
        value: String,
    },
    /// A value listed twice.
    #[error("{kind} {value:?} is listed twice")]
    Duplicate {
        /// What the list holds.
        kind: &'static str,
        /// The value.
        value: String,
    },
    /// A tag outside the network's `tags`.
    #[error("tag {0:?} is not in the network's `tags`")]
    UnknownTag(String),
    /// Not a bech32 account address.
    #[error("invalid address {0:?}")]
    Address(String),
    /// Not an IPv4 address.
    #[error("invalid IPv4 address {0:?}")]
    Ip(String),
    /// An address outside the network.
    #[error("{ip} is outside the network's cidr {cidr}")]
    IpOutside {
        /// The address.
        ip: String,
        /// The network.
        cidr: String,
    },
    /// Two members request one address.
    #[error("ip {0} is requested by two members")]
    IpTwice(String),
    /// Not a CIDR of the right family.
    #[error("invalid {family} CIDR {value:?}")]
    Cidr {
        /// `IPv4`, `IPv6` or `IP`.
        family: &'static str,
        /// The value.
        value: String,
    },
    /// A CIDR with host bits set.
    #[error("CIDR {value:?} has host bits set (did you mean {network}?)")]
    HostBits {
        /// The value.
        value: String,
        /// Its network.
        network: String,
    },
    /// A peer list with no entries.
    #[error("the peer list is empty")]
    EmptyPeers,
    /// Peers under the wrong key.
    #[error("{list} rules name their peers with `{want}:`")]
    PeersKey {
        /// `ingress` or `egress`.
        list: &'static str,
        /// `from` or `to`.
        want: &'static str,
    },
    /// More than one of tcp/udp/icmp/any.
    #[error("a rule has at most one of `tcp`, `udp`, `icmp`, `any` (found {0})")]
    Protocols(String),
    /// `icmp: false`.
    #[error("`icmp: false` is not a protocol: leave the key out")]
    IcmpFalse,
    /// A weight above the contract's maximum.
    #[error("weight {0} ms is above the maximum of {max} ms", max = network_registry::msg::MAX_WEIGHT)]
    Weight(u32),
}

impl ManifestError {
    /// An invalid value at `at`.
    pub fn at(at: impl Into<String>, problem: Problem) -> Self {
        ManifestError::Invalid {
            at: at.into(),
            problem,
        }
    }
}
