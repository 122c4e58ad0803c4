//! Storage layout.
//!
//! Everything of a network is keyed by its id first, so networks are
//! independent (two may use the same CIDR) and closing one removes a prefix.
//!
//! | key | value | purpose |
//! |---|---|---|
//! | `admin`, `params`, `network_seq` | items | governance, id counter |
//! | `networks: id` | [`Network`] | the record, IPAM cursor, counters |
//! | `owner_networks: (owner, id)` | `()` | networks by owner (open and closed) |
//! | `open_names: (owner, name)` | id | name uniqueness among open networks |
//! | `open_count: owner` | u32 | open networks per owner |
//! | `members: (id, name)` | [`Member`] | members by name |
//! | `policies: (id, name)` | [`Policy`] | non-empty policies only |
//! | `ips: (id, offset)` | name | IP → member or service (IPAM "taken" set) |
//! | `services: (id, name)` | [`Service`] | services (members sharing a `service`) |
//! | `released: (id, offset)` | `()` | IPAM released offsets below the cursor |
//! | `by_adder: (id, adder, name)` | `()` | members a participant (or owner) added (the lease owner) |
//! | `lease_members: (lease key, id, name)` | `()` | members by their full lease id ([`Lease::key`]) |
//! | `net_providers: (id, provider)` | [`ProviderEntry`] | authorized / hosting providers |
//! | `authorized: (id, provider)` | `()` | the authorized subset, for listing |
//! | `provider_view: (provider, id)` | `()` | networks that name a provider |
//! | `invitations: (id, invitation)` | [`Invitation`] | outstanding invitations |
//! | `participants: (id, addr)` | [`Participant`] | claimed invitations |
//! | `claims: (id, invitation, addr)` | `()` | every claim ever accepted (a claim works once) |
//! | `tag_refs: (id, tag)` | u32 | uses by member tags and policy rules |
//! | `tag_grants: (id, tag)` | u32 | uses by invitations and participants |
//!
//! Counters are deleted when they reach zero and empty policies are not
//! stored, so equal networks have byte-equal storage.

use cosmwasm_std::{Addr, Binary, Timestamp};
use cw_storage_plus::{Item, Map};
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::msg::{Action, KeyType, LeaseId, NetworkStatus, Params, Policy};

pub const ADMIN: Item<Addr> = Item::new("admin");
pub const PARAMS: Item<Params> = Item::new("params");
/// Last network id handed out (ids start at 1).
pub const NETWORK_SEQ: Item<u64> = Item::new("network_seq");
pub const NETWORKS: Map<u64, Network> = Map::new("networks");
pub const OWNER_NETWORKS: Map<(&Addr, u64), ()> = Map::new("owner_networks");
pub const OPEN_NAMES: Map<(&Addr, &str), u64> = Map::new("open_names");
pub const OPEN_COUNT: Map<&Addr, u32> = Map::new("open_count");
pub const MEMBERS: Map<(u64, &str), Member> = Map::new("members");
pub const POLICIES: Map<(u64, &str), Policy> = Map::new("policies");
/// Host offset (from the network address) → member name.
pub const IPS: Map<(u64, u32), String> = Map::new("ips");
/// Services by name: the address of members sharing a `service` name,
/// stored while at least one replica exists.
pub const SERVICES: Map<(u64, &str), Service> = Map::new("services");
/// Released host offsets below the IPAM cursor, ordered (lowest first).
pub const RELEASED: Map<(u64, u32), ()> = Map::new("released");
pub const BY_ADDER: Map<(u64, &Addr, &str), ()> = Map::new("by_adder");
pub const LEASE_MEMBERS: Map<(&str, u64, &str), ()> = Map::new("lease_members");
pub const CLAIMS: Map<(u64, u64, &Addr), ()> = Map::new("claims");
pub const NET_PROVIDERS: Map<(u64, &Addr), ProviderEntry> = Map::new("net_providers");
/// The authorized subset of `net_providers` (at most `max_list_len`).
pub const AUTHORIZED: Map<(u64, &Addr), ()> = Map::new("authorized");
pub const PROVIDER_VIEW: Map<(&Addr, u64), ()> = Map::new("provider_view");
pub const INVITATIONS: Map<(u64, u64), Invitation> = Map::new("invitations");
pub const PARTICIPANTS: Map<(u64, &Addr), Participant> = Map::new("participants");
/// The networks an account joined as a participant: the reverse of
/// `participants`, kept in step with it.
pub const PARTICIPANT_NETWORKS: Map<(&Addr, u64), ()> = Map::new("participant_networks");
pub const TAG_REFS: Map<(u64, &str), u32> = Map::new("tag_refs");
pub const TAG_GRANTS: Map<(u64, &str), u32> = Map::new("tag_grants");

/// A network record (validated types).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Network {
    pub id: u64,
    pub owner: Addr,
    pub name: String,
    pub cidr: Ipv4Net,
    pub cidr6: Option<Ipv6Net>,
    pub default_action: Action,
    pub tags: Vec<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub status: NetworkStatus,
    pub revision: u64,
    pub member_count: u32,
    pub created_at: Timestamp,
    /// IPAM cursor: lowest host offset never handed out automatically.
    pub ipam_cursor: u32,
    pub next_invitation_id: u64,
    pub invitation_count: u32,
    pub participant_count: u32,
    pub authorized_count: u32,
}

/// The full Akash lease id a member is bound to, with validated addresses.
/// `owner` is also the account that added the member.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub owner: Addr,
    pub dseq: u64,
    pub gseq: u32,
    pub oseq: u32,
    pub provider: Addr,
    pub bseq: u32,
}

impl Lease {
    pub fn to_msg(&self) -> LeaseId {
        LeaseId {
            owner: self.owner.to_string(),
            dseq: self.dseq,
            gseq: self.gseq,
            oseq: self.oseq,
            provider: self.provider.to_string(),
            bseq: self.bseq,
        }
    }

    /// Index key `provider/owner/dseq/gseq/oseq/bseq`: every field, so two
    /// leases that differ in any of them never share a key.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}/{}",
            self.provider, self.owner, self.dseq, self.gseq, self.oseq, self.bseq
        )
    }
}

/// A member record; its IPv4 is `cidr.network() + offset`; the account that
/// added it is `lease.owner`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub offset: u32,
    pub lease: Lease,
    pub tags: Vec<String>,
    pub service: Option<String>,
    /// Replica weight in milliseconds, never `Some(0)`. Absent from the
    /// JSON when none, so records written before weights (0.4) load as
    /// they are and a member without one is stored byte for byte as then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// A service: its IPv4 is `cidr.network() + offset` (IPv6 like members');
/// `owner` is the account that added its first replica, and only members
/// that account adds may join it (no one borrows another tenant's service).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub offset: u32,
    pub owner: Addr,
    pub replicas: u32,
}

/// A provider's relation to one network; stored only while it is
/// authorized or hosts a member (exactly then it is in `provider_view`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
pub struct ProviderEntry {
    pub authorized: bool,
    pub hosted_members: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub pubkey: Binary,
    pub key_type: KeyType,
    pub expires: Timestamp,
    pub max_uses: u32,
    pub uses: u32,
    pub tags: Vec<String>,
    /// Members each claimant may add.
    pub max_members: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    pub invitation_id: u64,
    pub tags: Vec<String>,
    pub joined_at: Timestamp,
    pub member_count: u32,
    pub max_members: u32,
}
