//! Messages of the network registry (JSON, snake_case field and variant
//! names). Integers (`network_id`, `dseq`, `revision`, ...) are JSON numbers;
//! times are [`Timestamp`]s (nanoseconds as a decimal string); addresses and
//! CIDRs are strings, validated and parsed by the contract.

use cosmwasm_schema::{QueryResponses, cw_serde};
use cosmwasm_std::{Addr, Binary, Timestamp};

/// Governance-set limits that bound state growth.
#[cw_serde]
pub struct Params {
    /// Open networks one owner may have at a time.
    pub max_networks_per_owner: u32,
    /// Members per network.
    pub max_members_per_network: u32,
    /// Rules per policy list (ingress and egress each).
    pub max_rules_per_policy: u32,
    /// Length of every name: network, member, tag, service.
    pub max_name_len: u32,
    /// Tags per member, per network vocabulary, per invitation.
    pub max_tags: u32,
    /// Peers per rule and authorized providers per network.
    pub max_list_len: u32,
    /// Outstanding invitations per network.
    pub max_invitations_per_network: u32,
    /// Participants per network.
    pub max_participants_per_network: u32,
    /// Members one participant may add (an invitation may grant fewer);
    /// bounds what `remove_participant` and `leave_network` delete.
    #[serde(default = "default_max_members_per_participant")]
    pub max_members_per_participant: u32,
    /// Shortest IPv4 prefix (largest network) allowed.
    pub min_ipv4_prefix: u8,
    /// Longest IPv4 prefix (smallest network) allowed; at most 30.
    pub max_ipv4_prefix: u8,
    /// Shortest IPv6 prefix allowed.
    pub min_ipv6_prefix: u8,
    /// Longest IPv6 prefix allowed.
    pub max_ipv6_prefix: u8,
    /// Cap on `limit` in paginated queries.
    pub max_query_limit: u32,
    /// `limit` used when a paginated query gives none.
    pub default_query_limit: u32,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            max_networks_per_owner: 100,
            max_members_per_network: 16_384,
            max_rules_per_policy: 64,
            max_name_len: 64,
            max_tags: 16,
            max_list_len: 32,
            max_invitations_per_network: 64,
            max_participants_per_network: 64,
            max_members_per_participant: default_max_members_per_participant(),
            min_ipv4_prefix: 8,
            max_ipv4_prefix: 30,
            min_ipv6_prefix: 32,
            max_ipv6_prefix: 120,
            max_query_limit: 100,
            default_query_limit: 30,
        }
    }
}

fn default_max_members_per_participant() -> u32 {
    128
}

/// Largest member `weight`: milliseconds added to the measured path RTT
/// when the replicas of a service are compared (one minute).
pub const MAX_WEIGHT: u32 = 60_000;

/// Whether `value` is in the alphabet of every name (network, member, tag,
/// service): non-empty `[a-z0-9._-]`, starting with a letter or digit. The
/// length limit is a param (`max_name_len`). Clients may pre-check with it.
pub fn is_name(value: &str) -> bool {
    value
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

#[cw_serde]
pub struct InstantiateMsg {
    /// Who may change params and the admin; defaults to the sender
    /// (on chain: the gov module account).
    pub admin: Option<String>,
    /// Defaults to [`Params::default`].
    pub params: Option<Params>,
}

#[cw_serde]
pub struct MigrateMsg {}

/// Firewall verdict.
#[cw_serde]
#[derive(Copy, Eq, Default)]
pub enum Action {
    Allow,
    #[default]
    Deny,
}

/// Transport protocol a rule matches.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    Any,
}

/// Inclusive port range, `1 <= start <= end`.
#[cw_serde]
#[derive(Copy, Eq)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

/// The other side of a flow a rule matches.
#[cw_serde]
#[derive(Eq)]
pub enum Peers {
    /// Every member of the network.
    Any,
    /// Members by name (names need not exist yet). Matches only members
    /// added by the network owner or by the account that added the member
    /// whose policy holds the rule, so a participant cannot capture the
    /// rule by taking a name it names.
    Members(Vec<String>),
    /// Members carrying any of these tags (from the network vocabulary).
    Tags(Vec<String>),
    /// Overlay addresses, e.g. `"100.64.0.0/26"` (no host bits). Like
    /// member names, matches only members of the network owner or of the
    /// rule's own adder.
    Cidrs(Vec<String>),
    /// Replicas of these services (members whose `service` is listed; the
    /// names need not exist yet). Like member names, matches only members
    /// of the network owner or of the rule's own adder.
    Services(Vec<String>),
}

/// One firewall rule. Within a list deny beats allow; no match → the
/// network's default action. A flow A→B is allowed iff A's egress and B's
/// ingress both allow it.
#[cw_serde]
#[derive(Eq)]
pub struct Rule {
    pub peers: Peers,
    pub protocol: Protocol,
    /// `None` = all ports; must be `None` for icmp.
    pub ports: Option<PortRange>,
    pub action: Action,
}

/// A member's firewall policy.
#[cw_serde]
#[derive(Eq, Default)]
pub struct Policy {
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

/// The full id of the Akash lease a member is bound to (the fields of
/// `akash.market.v1.LeaseID`). `owner` must be the account that adds or
/// rebinds the member: the network owner or a participant, never anyone else.
#[cw_serde]
#[derive(Eq)]
pub struct LeaseId {
    /// Tenant account that owns the lease.
    pub owner: String,
    /// Deployment sequence.
    pub dseq: u64,
    /// Group sequence.
    pub gseq: u32,
    /// Order sequence.
    pub oseq: u32,
    /// Provider address hosting the lease.
    pub provider: String,
    /// Bid sequence.
    pub bseq: u32,
}

/// Key algorithm of an invitation.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum KeyType {
    /// 32-byte public key; signature over the claim bytes.
    Ed25519,
    /// 33-byte compressed public key; 64-byte compact signature over
    /// sha256(claim bytes).
    Secp256k1,
}

/// Lifecycle of a network.
#[cw_serde]
#[derive(Copy, Eq)]
pub enum NetworkStatus {
    Open,
    Closed,
}

/// One member of a manifest.
#[cw_serde]
#[derive(Eq)]
pub struct ManifestMember {
    pub name: String,
    pub lease: LeaseId,
    pub tags: Vec<String>,
    pub service: Option<String>,
    /// Requested IPv4; for an existing member it must equal its address.
    pub ip: Option<String>,
    pub policy: Policy,
    /// Extra cost of the member as a service replica, in milliseconds
    /// (0..=60000, [`MAX_WEIGHT`]; absent and 0 are the same: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// A declarative description of a whole network.
#[cw_serde]
#[derive(Eq)]
pub struct Manifest {
    pub default_action: Action,
    pub tags: Vec<String>,
    /// Authorized providers (providers hosting a member are implied).
    pub providers: Vec<String>,
    pub members: Vec<ManifestMember>,
}

#[cw_serde]
pub enum ExecuteMsg {
    /// Creates a network owned by the sender; emits `network_id`.
    CreateNetwork {
        name: String,
        /// IPv4 network, e.g. `"100.64.0.0/24"` (no host bits).
        cidr: String,
        /// Optional IPv6 network; a member's IPv6 is this prefix plus its
        /// IPv4 host offset.
        cidr6: Option<String>,
        /// Defaults to deny.
        default_action: Option<Action>,
        /// The tag vocabulary (site classes) of the network.
        tags: Vec<String>,
        start_time: Option<Timestamp>,
        end_time: Option<Timestamp>,
    },
    /// Owner only. Changes the given fields; a tag still in use cannot be removed.
    UpdateNetwork {
        network_id: u64,
        default_action: Option<Action>,
        tags: Option<Vec<String>>,
        start_time: Option<Timestamp>,
        end_time: Option<Timestamp>,
    },
    /// Owner only. Closes the network at once (relayers stop serving it,
    /// its name is free again) and deletes a first bounded batch of its
    /// records; `purge_network` deletes the rest.
    CloseNetwork { network_id: u64 },
    /// Anyone. Deletes up to `limit` records (default and maximum 500) of a
    /// closed network; emits `remaining` (`true` while records are left).
    PurgeNetwork { network_id: u64, limit: Option<u32> },
    /// Owner, or a participant: at least one tag, all granted, no static
    /// `ip`, on a provider the owner authorized, within its member quota.
    /// `lease.owner` must be the sender.
    AddMember {
        network_id: u64,
        name: String,
        lease: LeaseId,
        tags: Vec<String>,
        service: Option<String>,
        /// Requested static IPv4 inside the CIDR.
        ip: Option<String>,
        /// Extra cost of the member as a service replica, in milliseconds
        /// added to the measured path RTT when relayers choose a replica
        /// for a new flow (0..=60000, [`MAX_WEIGHT`]; absent = 0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        weight: Option<u32>,
    },
    /// Moves a member to another lease of the same owner, keeping its IP.
    /// Only the account that added the member; `lease.owner` must be it.
    RebindMember {
        network_id: u64,
        name: String,
        lease: LeaseId,
    },
    /// Removes a member and releases its IP.
    RemoveMember { network_id: u64, name: String },
    /// Replaces a member's policy (the owner: any member; a participant:
    /// its own, referencing only granted tags).
    SetPolicy {
        network_id: u64,
        name: String,
        policy: Policy,
    },
    /// Owner only. Makes the network equal to the manifest. New members are
    /// the owner's (`lease.owner` = owner); a participant's member may stay
    /// listed unchanged in lease, tags, service and weight, or be left out
    /// (removed).
    ApplyManifest { network_id: u64, manifest: Manifest },
    /// Owner only.
    AuthorizeProvider { network_id: u64, provider: String },
    /// Owner only.
    RevokeProvider { network_id: u64, provider: String },
    /// Owner only; emits `invitation_id`. `tags` must not be empty (an
    /// invitation grants only tags). `max_members` caps the members each
    /// claimant may add (default and maximum: the param).
    CreateInvitation {
        network_id: u64,
        pubkey: Binary,
        key_type: KeyType,
        expires: Timestamp,
        max_uses: u32,
        tags: Vec<String>,
        max_members: Option<u32>,
    },
    /// Owner only.
    RevokeInvitation { network_id: u64, invitation_id: u64 },
    /// Makes the sender a participant. `signature` signs the UTF-8 bytes
    /// `avpn-claim/v1/{chain_id}/{contract_addr}/{network_id}/{invitation_id}/{claimant_addr}`.
    /// Each account can claim an invitation once: after `remove_participant`
    /// or `leave_network` the same claim is refused.
    ClaimInvitation {
        network_id: u64,
        invitation_id: u64,
        signature: Binary,
    },
    /// Owner only; the participant's members are removed too.
    RemoveParticipant {
        network_id: u64,
        participant: String,
    },
    /// A participant leaves; its members are removed.
    LeaveNetwork { network_id: u64 },
    /// Admin only.
    UpdateParams { params: Params },
    /// Admin only.
    UpdateAdmin { admin: String },
}

#[cw_serde]
#[derive(QueryResponses)]
pub enum QueryMsg {
    #[returns(Params)]
    Params {},
    #[returns(AdminResponse)]
    Admin {},
    #[returns(NetworkResponse)]
    Network { network_id: u64 },
    /// Open and closed networks of `owner`, by id.
    #[returns(NetworksResponse)]
    NetworksByOwner {
        owner: String,
        start_after: Option<u64>,
        limit: Option<u32>,
    },
    /// Open networks `participant` joined with an invitation, by id.
    #[returns(NetworksResponse)]
    NetworksByParticipant {
        participant: String,
        start_after: Option<u64>,
        limit: Option<u32>,
    },
    /// By name.
    #[returns(MembersResponse)]
    Members {
        network_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    #[returns(MemberResponse)]
    Member { network_id: u64, name: String },
    #[returns(MemberResponse)]
    MemberByIp { network_id: u64, ip: String },
    #[returns(Policy)]
    Policy { network_id: u64, name: String },
    /// A service: the address of the members sharing a `service` name.
    #[returns(ServiceResponse)]
    Service { network_id: u64, name: String },
    /// Services, by name.
    #[returns(ServicesResponse)]
    Services {
        network_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// One page of the network as a manifest (members by name).
    #[returns(ManifestResponse)]
    Manifest {
        network_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// By id.
    #[returns(InvitationsResponse)]
    Invitations {
        network_id: u64,
        start_after: Option<u64>,
        limit: Option<u32>,
    },
    /// By address.
    #[returns(ParticipantsResponse)]
    Participants {
        network_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// Providers authorized for or hosting members of the network, by address.
    #[returns(NetworkProvidersResponse)]
    Providers {
        network_id: u64,
        start_after: Option<String>,
        limit: Option<u32>,
    },
    /// Members bound to exactly this lease, in any network, by
    /// (network id, name): how a provider finds the networks of the leases
    /// it runs, without reading networks that only name it.
    #[returns(LeaseMembersResponse)]
    MembersByLease {
        lease: LeaseId,
        start_after: Option<LeaseMember>,
        limit: Option<u32>,
    },
    /// Every network that names `provider` (authorized or hosting), by id.
    /// Naming a provider does not make it serve a network: relayers serve
    /// networks they consented to or that bind a lease they run.
    #[returns(ProviderViewResponse)]
    ProviderView {
        provider: String,
        start_after: Option<u64>,
        limit: Option<u32>,
    },
}

#[cw_serde]
pub struct AdminResponse {
    pub admin: Addr,
}

#[cw_serde]
pub struct NetworkResponse {
    pub id: u64,
    pub owner: Addr,
    pub name: String,
    pub cidr: String,
    pub cidr6: Option<String>,
    pub default_action: Action,
    pub tags: Vec<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub status: NetworkStatus,
    /// Bumped on every change of the network.
    pub revision: u64,
    pub member_count: u32,
    pub created_at: Timestamp,
}

#[cw_serde]
pub struct NetworksResponse {
    pub networks: Vec<NetworkResponse>,
}

#[cw_serde]
pub struct MemberResponse {
    pub name: String,
    pub ip: String,
    pub ip6: Option<String>,
    /// The lease; its owner added the member (the network owner or a participant).
    pub lease: LeaseId,
    pub tags: Vec<String>,
    pub service: Option<String>,
    /// Extra cost as a service replica, in milliseconds (absent = 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// A service: allocated by the IPAM when its first replica joined, held
/// while at least one replica exists.
#[cw_serde]
pub struct ServiceResponse {
    pub name: String,
    pub ip: String,
    /// In a network with an IPv6 prefix: the prefix plus the IPv4 offset.
    pub ip6: Option<String>,
    /// The account that added the first replica; only its members join.
    pub owner: Addr,
    /// Members naming this service.
    pub replicas: u32,
}

#[cw_serde]
pub struct ServicesResponse {
    pub services: Vec<ServiceResponse>,
}

#[cw_serde]
pub struct MembersResponse {
    pub members: Vec<MemberResponse>,
}

/// A page of the manifest export.
#[cw_serde]
pub struct ManifestResponse {
    pub manifest: Manifest,
    /// Pass as `start_after` for the next page; `None` on the last page.
    pub next_start_after: Option<String>,
}

/// A member located by its lease.
#[cw_serde]
pub struct LeaseMember {
    pub network_id: u64,
    pub name: String,
}

#[cw_serde]
pub struct LeaseMembersResponse {
    pub members: Vec<LeaseMember>,
}

#[cw_serde]
pub struct InvitationResponse {
    pub id: u64,
    pub pubkey: Binary,
    pub key_type: KeyType,
    pub expires: Timestamp,
    pub max_uses: u32,
    pub uses: u32,
    pub tags: Vec<String>,
    pub max_members: u32,
}

#[cw_serde]
pub struct InvitationsResponse {
    pub invitations: Vec<InvitationResponse>,
}

#[cw_serde]
pub struct ParticipantResponse {
    pub address: Addr,
    pub invitation_id: u64,
    /// Tags the participant may give its members.
    pub tags: Vec<String>,
    pub joined_at: Timestamp,
    /// Members it has and may have.
    pub member_count: u32,
    pub max_members: u32,
}

#[cw_serde]
pub struct ParticipantsResponse {
    pub participants: Vec<ParticipantResponse>,
}

#[cw_serde]
pub struct NetworkProviderResponse {
    pub provider: Addr,
    pub authorized: bool,
    pub hosted_members: u32,
}

#[cw_serde]
pub struct NetworkProvidersResponse {
    pub providers: Vec<NetworkProviderResponse>,
}

#[cw_serde]
pub struct ProviderNetwork {
    pub network_id: u64,
    pub revision: u64,
}

#[cw_serde]
pub struct ProviderViewResponse {
    pub networks: Vec<ProviderNetwork>,
}
