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
            min_ipv4_prefix: 8,
            max_ipv4_prefix: 30,
            min_ipv6_prefix: 32,
            max_ipv6_prefix: 120,
            max_query_limit: 100,
            default_query_limit: 30,
        }
    }
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
    /// Members by name (names need not exist yet).
    Members(Vec<String>),
    /// Members carrying any of these tags (from the network vocabulary).
    Tags(Vec<String>),
    /// Overlay addresses, e.g. `"100.64.0.0/26"` (no host bits).
    Cidrs(Vec<String>),
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

/// The Akash lease a member is bound to. Its owner is the account that
/// added the member (the network owner or a participant).
#[cw_serde]
#[derive(Eq)]
pub struct LeaseId {
    pub dseq: u64,
    pub gseq: u32,
    pub oseq: u32,
    /// Provider address hosting the lease.
    pub provider: String,
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
    /// Owner only. Removes everything in the network and frees its name.
    CloseNetwork { network_id: u64 },
    /// Owner, or a participant within its granted tags.
    AddMember {
        network_id: u64,
        name: String,
        lease: LeaseId,
        tags: Vec<String>,
        service: Option<String>,
        /// Requested static IPv4 inside the CIDR.
        ip: Option<String>,
    },
    /// Moves a member to another lease, keeping its IP.
    RebindMember {
        network_id: u64,
        name: String,
        lease: LeaseId,
    },
    /// Removes a member and releases its IP.
    RemoveMember { network_id: u64, name: String },
    /// Replaces a member's policy.
    SetPolicy {
        network_id: u64,
        name: String,
        policy: Policy,
    },
    /// Owner only. Makes the network equal to the manifest.
    ApplyManifest { network_id: u64, manifest: Manifest },
    /// Owner only.
    AuthorizeProvider { network_id: u64, provider: String },
    /// Owner only.
    RevokeProvider { network_id: u64, provider: String },
    /// Owner only; emits `invitation_id`.
    CreateInvitation {
        network_id: u64,
        pubkey: Binary,
        key_type: KeyType,
        expires: Timestamp,
        max_uses: u32,
        tags: Vec<String>,
    },
    /// Owner only.
    RevokeInvitation { network_id: u64, invitation_id: u64 },
    /// Makes the sender a participant. `signature` signs the UTF-8 bytes
    /// `avpn-claim/v1/{chain_id}/{contract_addr}/{network_id}/{invitation_id}/{claimant_addr}`.
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
    #[returns(Manifest)]
    Manifest { network_id: u64 },
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
    /// Every open network `provider` must serve, by id.
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
    pub lease: LeaseId,
    /// The network owner or the participant that added it (the lease owner).
    pub added_by: Addr,
    pub tags: Vec<String>,
    pub service: Option<String>,
}

#[cw_serde]
pub struct MembersResponse {
    pub members: Vec<MemberResponse>,
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
