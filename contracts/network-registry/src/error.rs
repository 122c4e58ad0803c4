//! Typed errors of the network registry.

use cosmwasm_std::{StdError, Timestamp};
use thiserror::Error;

/// Every way a message to the network registry can be rejected.
#[derive(Error, Debug)]
pub enum ContractError {
    #[error("{0}")]
    Std(#[from] StdError),

    #[error("unauthorized")]
    Unauthorized,

    #[error("invalid params: {0}")]
    InvalidParams(&'static str),

    #[error("cannot migrate from contract {name} version {version}")]
    CannotMigrate { name: String, version: String },

    #[error("network {0} not found")]
    NetworkNotFound(u64),

    #[error(
        "lease owner {lease_owner} is not the sender {sender}: a member's lease must belong to the account that adds or rebinds it"
    )]
    LeaseOwnerMismatch { lease_owner: String, sender: String },

    #[error("only {adder}, who added member {name:?}, may rebind it")]
    NotMemberAdder { name: String, adder: String },

    #[error("participants may not request static addresses")]
    ParticipantStaticIp,

    #[error("a participant's member needs at least one granted tag")]
    ParticipantMemberUntagged,

    #[error(
        "provider {0} is not authorized by the network owner; participants host members only on authorized providers"
    )]
    ProviderNotAllowed(String),

    #[error("participant {participant} already has its maximum of {max} members")]
    ParticipantQuota { participant: String, max: u32 },

    #[error("an invitation must grant at least one tag")]
    InvitationGrantsNothing,

    #[error("max_members {got} is outside 1..={max}")]
    InvalidMemberQuota { got: u32, max: u32 },

    #[error("{0} already claimed invitation {1}; a claim works once")]
    ClaimAlreadyUsed(String, u64),

    #[error(
        "member {0:?} belongs to a participant: a manifest may keep it unchanged or remove it, not change its lease, tags, service or weight"
    )]
    ParticipantMemberInManifest(String),

    #[error("network {0} is open; only closed networks are purged")]
    NotClosed(u64),

    #[error("network {0} is closed")]
    NetworkClosed(u64),

    #[error("network {id} has not started yet (starts at {start})")]
    NotStarted { id: u64, start: Timestamp },

    #[error("network {id} has ended (ended at {end})")]
    Ended { id: u64, end: Timestamp },

    #[error("start time must be before end time")]
    InvalidTimeWindow,

    #[error("end time {end} is not after now ({now})")]
    EndInPast { end: Timestamp, now: Timestamp },

    #[error("owner already has an open network named {0:?}")]
    DuplicateNetworkName(String),

    #[error("owner already has the maximum of {0} open networks")]
    TooManyNetworks(u32),

    #[error(
        "invalid {kind} {value:?}: 1..={max} characters of [a-z0-9._-], starting with a letter or digit"
    )]
    InvalidName {
        kind: &'static str,
        value: String,
        max: u32,
    },

    #[error("too many {kind}: {got} (max {max})")]
    TooMany {
        kind: &'static str,
        got: usize,
        max: u32,
    },

    #[error("duplicate {kind} {value:?}")]
    Duplicate { kind: &'static str, value: String },

    #[error("invalid CIDR {0:?}")]
    InvalidCidr(String),

    #[error("CIDR {0} has host bits set")]
    HostBitsSet(String),

    #[error("prefix length /{got} outside the allowed /{min}../{max}")]
    PrefixOutOfRange { got: u8, min: u8, max: u8 },

    #[error("IPv6 prefix {cidr6} has fewer host bits than the IPv4 network needs ({needed})")]
    Ipv6TooSmall { cidr6: String, needed: u8 },

    #[error("invalid IPv4 address {0:?}")]
    InvalidIp(String),

    #[error("address {ip} is outside the network {cidr}")]
    IpOutsideCidr { ip: String, cidr: String },

    #[error("address {0} is reserved (network, gateway or broadcast)")]
    IpReserved(String),

    #[error("address {0} is already taken")]
    IpTaken(String),

    #[error("address {requested} does not match member {name}'s address {current}")]
    IpMismatch {
        name: String,
        requested: String,
        current: String,
    },

    #[error("address pool of network {0} is exhausted")]
    PoolExhausted(u64),

    #[error("network {id} already has the maximum of {max} members")]
    TooManyMembers { id: u64, max: u32 },

    #[error("weight {got} is outside 0..={max} (milliseconds added to a replica's path RTT)")]
    InvalidWeight { got: u32, max: u32 },

    #[error("member {0:?} already exists")]
    MemberExists(String),

    #[error("name {0:?} is a service of this network")]
    NameIsService(String),

    #[error("service name {0:?} is a member of this network")]
    ServiceIsMember(String),

    #[error("service {service:?} belongs to {owner}: only its members may join it")]
    ServiceNotOwned { service: String, owner: String },

    #[error("service {0:?} not found")]
    ServiceNotFound(String),

    #[error("member {0:?} not found")]
    MemberNotFound(String),

    #[error("no member has address {0}")]
    IpNotAssigned(String),

    #[error("tag {0:?} is not in the network's vocabulary")]
    UnknownTag(String),

    #[error("tag {0:?} is not granted to this participant")]
    TagNotGranted(String),

    #[error("tag {0:?} is still in use")]
    TagInUse(String),

    #[error("rule peers list is empty")]
    EmptyPeers,

    #[error("port 0 is not a valid port")]
    PortZero,

    #[error("port range {start}-{end} is reversed")]
    ReversedPorts { start: u16, end: u16 },

    #[error("icmp rules take no ports")]
    IcmpWithPorts,

    #[error("invalid address {0:?}")]
    InvalidAddress(String),

    #[error("provider {0} is already authorized")]
    AlreadyAuthorized(String),

    #[error("provider {0} is not authorized")]
    NotAuthorized(String),

    #[error("network {id} already has the maximum of {max} invitations")]
    TooManyInvitations { id: u64, max: u32 },

    #[error("invitation {0} not found (never created or revoked)")]
    InvitationNotFound(u64),

    #[error("invitation {0} has expired")]
    InvitationExpired(u64),

    #[error("invitation {0} is used up")]
    InvitationUsedUp(u64),

    #[error("expiry {expires} is not after now ({now})")]
    ExpiryInPast { expires: Timestamp, now: Timestamp },

    #[error("max_uses must be at least 1")]
    ZeroUses,

    #[error("invalid {key_type} public key: {reason}")]
    InvalidPubkey {
        key_type: &'static str,
        reason: &'static str,
    },

    #[error("signature does not verify for this claimant")]
    InvalidSignature,

    #[error("the network owner cannot claim an invitation")]
    OwnerCannotClaim,

    #[error("{0} is already a participant")]
    AlreadyParticipant(String),

    #[error("{0} is not a participant")]
    NotParticipant(String),

    #[error("network {id} already has the maximum of {max} participants")]
    TooManyParticipants { id: u64, max: u32 },
}
