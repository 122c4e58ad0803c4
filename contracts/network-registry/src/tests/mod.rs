//! Unit tests against mock storage with bech32 `akash` addresses. Every
//! rejection is checked to leave the whole storage byte-for-byte unchanged
//! (mock storage has no transaction rollback, so this tests the handlers).

mod admin;
mod attacks;
mod cost;
mod invitations;
mod manifest;
mod members;
mod migration;
mod networks;
mod policies;
mod props;
mod providers;
mod services;

use cosmwasm_std::testing::{MockApi, MockQuerier, MockStorage, message_info, mock_env};
use cosmwasm_std::{
    Addr, Binary, Empty, Env, Event, Order, OwnedDeps, Response, Storage, Timestamp, from_json,
};
use ed25519_dalek::Signer as _;

use crate::contract::{execute, instantiate, query};
use crate::error::ContractError;
use crate::msg::{
    ExecuteMsg, InstantiateMsg, InvitationResponse, InvitationsResponse, KeyType, LeaseId,
    LeaseMember, LeaseMembersResponse, Manifest, ManifestResponse, MemberResponse, MembersResponse,
    NetworkProviderResponse, NetworkProvidersResponse, NetworkResponse, Params,
    ParticipantResponse, ParticipantsResponse, Policy, ProviderNetwork, ProviderViewResponse,
    QueryMsg,
};

pub type Deps = OwnedDeps<MockStorage, MockApi, MockQuerier, Empty>;
/// Recognises an expected error.
pub type ErrorCheck = fn(&ContractError) -> bool;

/// Block time of the tests (seconds).
pub const T0: u64 = 1_700_000_000;

pub fn env_at(secs: u64) -> Env {
    let mut env = mock_env();
    env.block.time = Timestamp::from_seconds(secs);
    env
}

pub fn snapshot(storage: &dyn Storage) -> Vec<(Vec<u8>, Vec<u8>)> {
    storage.range(None, None, Order::Ascending).collect()
}

/// A contract with an admin, a tenant (owner), two other tenants and three providers.
pub struct Setup {
    pub deps: Deps,
    pub now: u64,
    pub gov: Addr,
    pub owner: Addr,
    pub bob: Addr,
    pub mallory: Addr,
    pub p1: Addr,
    pub p2: Addr,
    pub p3: Addr,
}

/// Empty mock dependencies with bech32 `akash` addresses.
pub fn fresh_deps() -> Deps {
    OwnedDeps {
        storage: MockStorage::default(),
        api: MockApi::default().with_prefix("akash"),
        querier: MockQuerier::default(),
        custom_query_type: std::marker::PhantomData,
    }
}

pub fn setup_with(params: Option<Params>) -> Setup {
    let mut deps = fresh_deps();
    let gov = deps.api.addr_make("gov");
    instantiate(
        deps.as_mut(),
        env_at(T0),
        message_info(&gov, &[]),
        InstantiateMsg {
            admin: None,
            params,
        },
    )
    .unwrap();
    let a = |n: &str| deps.api.addr_make(n);
    Setup {
        now: T0,
        owner: a("tenant"),
        bob: a("bob"),
        mallory: a("mallory"),
        p1: a("provider-1"),
        p2: a("provider-2"),
        p3: a("provider-3"),
        gov,
        deps,
    }
}

pub fn setup() -> Setup {
    setup_with(None)
}

/// The address `addr_make(name)` gives in the tests (`akash` prefix).
pub fn account(name: &str) -> Addr {
    MockApi::default().with_prefix("akash").addr_make(name)
}

/// A lease (gseq 1, oseq 1, bseq 0) of `owner` on `provider`.
pub fn lease_of(owner: &Addr, dseq: u64, provider: &Addr) -> LeaseId {
    LeaseId {
        owner: owner.to_string(),
        dseq,
        gseq: 1,
        oseq: 1,
        provider: provider.to_string(),
        bseq: 0,
    }
}

/// A lease of the network owner of [`setup`] (`tenant`).
pub fn lease(dseq: u64, provider: &Addr) -> LeaseId {
    lease_of(&account("tenant"), dseq, provider)
}

pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn create_msg(name: &str, cidr: &str) -> ExecuteMsg {
    ExecuteMsg::CreateNetwork {
        name: name.into(),
        cidr: cidr.into(),
        cidr6: None,
        default_action: None,
        tags: strings(&["web", "db"]),
        start_time: None,
        end_time: None,
    }
}

/// `add_member` of a lease of the network owner of [`setup`].
pub fn add_msg(id: u64, name: &str, dseq: u64, provider: &Addr, tags: &[&str]) -> ExecuteMsg {
    add_msg_by(&account("tenant"), id, name, dseq, provider, tags)
}

/// `add_member` of a lease of `adder` (who must send it).
pub fn add_msg_by(
    adder: &Addr,
    id: u64,
    name: &str,
    dseq: u64,
    provider: &Addr,
    tags: &[&str],
) -> ExecuteMsg {
    ExecuteMsg::AddMember {
        network_id: id,
        name: name.into(),
        lease: lease_of(adder, dseq, provider),
        tags: strings(tags),
        service: None,
        ip: None,
        weight: None,
    }
}

pub fn add_ip_msg(id: u64, name: &str, provider: &Addr, ip: &str) -> ExecuteMsg {
    ExecuteMsg::AddMember {
        network_id: id,
        name: name.into(),
        lease: lease(1, provider),
        tags: vec![],
        service: None,
        ip: Some(ip.into()),
        weight: None,
    }
}

pub fn attr<'a>(ev: &'a Event, key: &str) -> &'a str {
    ev.attributes
        .iter()
        .find(|a| a.key == key)
        .unwrap_or_else(|| panic!("no attribute {key} in {ev:?}"))
        .value
        .as_str()
}

/// The single event of a response.
pub fn event(res: &Response) -> &Event {
    assert_eq!(res.events.len(), 1, "{:?}", res.events);
    &res.events[0]
}

/// ed25519 key from a fixed seed.
pub fn ed_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

/// secp256k1 key from a fixed seed.
pub fn k1_key(seed: u8) -> k256::ecdsa::SigningKey {
    k256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap()
}

pub fn ed_pub(k: &ed25519_dalek::SigningKey) -> Binary {
    Binary::new(k.verifying_key().to_bytes().to_vec())
}

pub fn k1_pub(k: &k256::ecdsa::SigningKey) -> Binary {
    Binary::new(k.verifying_key().to_encoded_point(true).as_bytes().to_vec())
}

/// A signing key of either type.
pub enum Key {
    Ed(ed25519_dalek::SigningKey),
    K1(k256::ecdsa::SigningKey),
}

impl Key {
    pub fn public(&self) -> Binary {
        match self {
            Key::Ed(k) => ed_pub(k),
            Key::K1(k) => k1_pub(k),
        }
    }

    pub fn key_type(&self) -> KeyType {
        match self {
            Key::Ed(_) => KeyType::Ed25519,
            Key::K1(_) => KeyType::Secp256k1,
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Binary {
        match self {
            Key::Ed(k) => Binary::new(k.sign(msg).to_bytes().to_vec()),
            Key::K1(k) => {
                let sig: k256::ecdsa::Signature = k256::ecdsa::signature::Signer::sign(k, msg);
                Binary::new(sig.to_bytes().to_vec())
            }
        }
    }
}

impl Setup {
    pub fn exec(&mut self, sender: &Addr, msg: ExecuteMsg) -> Result<Response, ContractError> {
        execute(
            self.deps.as_mut(),
            env_at(self.now),
            message_info(sender, &[]),
            msg,
        )
    }

    /// Runs `msg` expecting success.
    pub fn ok(&mut self, sender: &Addr, msg: ExecuteMsg) -> Response {
        let sender = sender.clone();
        self.exec(&sender, msg).expect("message rejected")
    }

    /// Runs `msg`, expects an error and no storage change; returns the error.
    pub fn reject(&mut self, sender: &Addr, msg: ExecuteMsg) -> ContractError {
        let before = snapshot(&self.deps.storage);
        let sender = sender.clone();
        let err = self.exec(&sender, msg).expect_err("message accepted");
        assert_eq!(
            before,
            snapshot(&self.deps.storage),
            "rejected message changed state: {err}"
        );
        err
    }

    pub fn q<T: serde::de::DeserializeOwned>(&self, msg: QueryMsg) -> Result<T, ContractError> {
        query(self.deps.as_ref(), env_at(self.now), msg).map(|b| from_json(b).unwrap())
    }

    /// Creates the owner's network `demo` on 100.64.0.0/24 with tags web, db.
    pub fn net(&mut self) -> u64 {
        let owner = self.owner.clone();
        self.create(&owner, create_msg("demo", "100.64.0.0/24"))
    }

    pub fn create(&mut self, sender: &Addr, msg: ExecuteMsg) -> u64 {
        let res = self.ok(sender, msg);
        attr(event(&res), "network_id").parse().unwrap()
    }

    /// Owner adds a member on `provider`; returns its IP.
    pub fn add(&mut self, id: u64, name: &str, provider: &Addr) -> String {
        let owner = self.owner.clone();
        let provider = provider.clone();
        let res = self.ok(&owner, add_msg(id, name, 1, &provider, &[]));
        attr(event(&res), "ip").to_string()
    }

    pub fn network(&self, id: u64) -> NetworkResponse {
        self.q(QueryMsg::Network { network_id: id }).unwrap()
    }

    pub fn member(&self, id: u64, name: &str) -> Result<MemberResponse, ContractError> {
        self.q(QueryMsg::Member {
            network_id: id,
            name: name.into(),
        })
    }

    pub fn members(&self, id: u64) -> Vec<MemberResponse> {
        let r: MembersResponse = self
            .q(QueryMsg::Members {
                network_id: id,
                start_after: None,
                limit: Some(100),
            })
            .unwrap();
        r.members
    }

    pub fn view(&self, provider: &Addr) -> Vec<u64> {
        let r: ProviderViewResponse = self
            .q(QueryMsg::ProviderView {
                provider: provider.to_string(),
                start_after: None,
                limit: None,
            })
            .unwrap();
        r.networks.into_iter().map(|n| n.network_id).collect()
    }

    pub fn policy(&self, id: u64, name: &str) -> Policy {
        self.q(QueryMsg::Policy {
            network_id: id,
            name: name.into(),
        })
        .unwrap()
    }

    /// Creates an invitation for `key` granting `tags`; returns its id.
    pub fn invite(&mut self, id: u64, key: &Key, max_uses: u32, tags: &[&str]) -> u64 {
        self.invite_with(id, key, max_uses, tags, None)
    }

    /// [`Setup::invite`] with a member quota.
    pub fn invite_with(
        &mut self,
        id: u64,
        key: &Key,
        max_uses: u32,
        tags: &[&str],
        max_members: Option<u32>,
    ) -> u64 {
        let owner = self.owner.clone();
        let res = self.ok(
            &owner,
            ExecuteMsg::CreateInvitation {
                network_id: id,
                pubkey: key.public(),
                key_type: key.key_type(),
                expires: Timestamp::from_seconds(self.now + 3600),
                max_uses,
                tags: strings(tags),
                max_members,
            },
        );
        attr(event(&res), "invitation_id").parse().unwrap()
    }

    /// The claim message `claimant` would send, signed with `key`.
    pub fn claim_msg(&self, id: u64, inv: u64, key: &Key, claimant: &Addr) -> ExecuteMsg {
        let env = env_at(self.now);
        let bytes = crate::claim_bytes(
            &env.block.chain_id,
            &env.contract.address,
            id,
            inv,
            claimant,
        );
        ExecuteMsg::ClaimInvitation {
            network_id: id,
            invitation_id: inv,
            signature: key.sign(&bytes),
        }
    }

    /// Makes `who` a participant granted `tags`.
    pub fn join(&mut self, id: u64, who: &Addr, tags: &[&str]) {
        let key = Key::Ed(ed_key(9));
        let inv = self.invite(id, &key, 1, tags);
        let msg = self.claim_msg(id, inv, &key, who);
        let who = who.clone();
        self.ok(&who, msg);
    }

    /// The owner authorizes `provider` on network `id`.
    pub fn authorize(&mut self, id: u64, provider: &Addr) {
        let owner = self.owner.clone();
        self.ok(
            &owner,
            ExecuteMsg::AuthorizeProvider {
                network_id: id,
                provider: provider.to_string(),
            },
        );
    }

    /// The whole manifest of a network, read page by page (100 members).
    pub fn manifest(&self, id: u64) -> Manifest {
        let mut start_after = None;
        let mut out: Option<Manifest> = None;
        loop {
            let page: ManifestResponse = self
                .q(QueryMsg::Manifest {
                    network_id: id,
                    start_after: start_after.clone(),
                    limit: Some(100),
                })
                .unwrap();
            match &mut out {
                None => out = Some(page.manifest),
                Some(m) => m.members.extend(page.manifest.members),
            }
            match page.next_start_after {
                Some(next) => start_after = Some(next),
                None => return out.unwrap(),
            }
        }
    }

    /// Every member of a network, read page by page.
    pub fn all_members(&self, id: u64) -> Vec<MemberResponse> {
        let mut out: Vec<MemberResponse> = Vec::new();
        loop {
            let page: MembersResponse = self
                .q(QueryMsg::Members {
                    network_id: id,
                    start_after: out.last().map(|m| m.name.clone()),
                    limit: Some(100),
                })
                .unwrap();
            if page.members.is_empty() {
                return out;
            }
            out.extend(page.members);
        }
    }

    /// Every member bound to exactly `lease`, in any network.
    pub fn by_lease(&self, lease: &LeaseId) -> Vec<LeaseMember> {
        let mut out: Vec<LeaseMember> = Vec::new();
        loop {
            let page: LeaseMembersResponse = self
                .q(QueryMsg::MembersByLease {
                    lease: lease.clone(),
                    start_after: out.last().cloned(),
                    limit: Some(100),
                })
                .unwrap();
            if page.members.is_empty() {
                return out;
            }
            out.extend(page.members);
        }
    }

    /// Every answer the queries give about network `id`: the record, services, members
    /// (with their policies and the by-IP lookup), the manifest,
    /// invitations, participants, providers, the provider view of every
    /// provider it names and of the test accounts, and `members_by_lease` of
    /// every member's lease and of the `probes` (leases an attacker tried).
    pub fn dump(&self, id: u64, probes: &[LeaseId]) -> Dump {
        let network = self.network(id);
        let members = self.all_members(id);
        let policies = members
            .iter()
            .map(|m| (m.name.clone(), self.policy(id, &m.name)))
            .collect();
        let by_ip = members
            .iter()
            .map(|m| {
                self.q::<MemberResponse>(QueryMsg::MemberByIp {
                    network_id: id,
                    ip: m.ip.clone(),
                })
                .unwrap()
            })
            .collect();
        let invitations: InvitationsResponse = self
            .q(QueryMsg::Invitations {
                network_id: id,
                start_after: None,
                limit: Some(100),
            })
            .unwrap();
        let participants: ParticipantsResponse = self
            .q(QueryMsg::Participants {
                network_id: id,
                start_after: None,
                limit: Some(100),
            })
            .unwrap();
        let providers: NetworkProvidersResponse = self
            .q(QueryMsg::Providers {
                network_id: id,
                start_after: None,
                limit: Some(100),
            })
            .unwrap();
        let mut watched: Vec<Addr> = vec![
            self.p1.clone(),
            self.p2.clone(),
            self.p3.clone(),
            self.owner.clone(),
            self.bob.clone(),
            self.mallory.clone(),
        ];
        watched.extend(providers.providers.iter().map(|p| p.provider.clone()));
        watched.sort();
        watched.dedup();
        let provider_views = watched
            .into_iter()
            .map(|p| {
                let v: ProviderViewResponse = self
                    .q(QueryMsg::ProviderView {
                        provider: p.to_string(),
                        start_after: None,
                        limit: Some(100),
                    })
                    .unwrap();
                (p, v.networks)
            })
            .collect();
        let by_lease = members
            .iter()
            .map(|m| m.lease.clone())
            .chain(probes.iter().cloned())
            .map(|l| {
                let found = self.by_lease(&l);
                (l, found)
            })
            .collect();
        let services: crate::msg::ServicesResponse = self
            .q(QueryMsg::Services {
                network_id: id,
                start_after: None,
                limit: Some(100),
            })
            .unwrap();
        Dump {
            network,
            services: services.services,
            members,
            policies,
            by_ip,
            manifest: self.manifest(id),
            invitations: invitations.invitations,
            participants: participants.participants,
            providers: providers.providers,
            provider_views,
            by_lease,
        }
    }
}

/// Everything the queries show about one network (see [`Setup::dump`]).
#[derive(Debug, PartialEq)]
pub struct Dump {
    pub network: NetworkResponse,
    pub services: Vec<crate::msg::ServiceResponse>,
    pub members: Vec<MemberResponse>,
    pub policies: Vec<(String, Policy)>,
    pub by_ip: Vec<MemberResponse>,
    pub manifest: Manifest,
    pub invitations: Vec<InvitationResponse>,
    pub participants: Vec<ParticipantResponse>,
    pub providers: Vec<NetworkProviderResponse>,
    pub provider_views: Vec<(Addr, Vec<ProviderNetwork>)>,
    pub by_lease: Vec<(LeaseId, Vec<LeaseMember>)>,
}

/// Asserts an error matches a pattern.
#[macro_export]
macro_rules! assert_err {
    ($err:expr, $pat:pat $(if $guard:expr)?) => {{
        let e = $err;
        assert!(matches!(&e, $pat $(if $guard)?), "unexpected error: {e:?}");
    }};
}
