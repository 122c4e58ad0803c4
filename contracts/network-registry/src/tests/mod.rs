//! Unit tests against mock storage with bech32 `akash` addresses. Every
//! rejection is checked to leave the whole storage byte-for-byte unchanged
//! (mock storage has no transaction rollback, so this tests the handlers).

mod admin;
mod cost;
mod invitations;
mod manifest;
mod members;
mod networks;
mod policies;
mod props;
mod providers;

use cosmwasm_std::testing::{MockApi, MockQuerier, MockStorage, message_info, mock_env};
use cosmwasm_std::{
    Addr, Binary, Empty, Env, Event, Order, OwnedDeps, Response, Storage, Timestamp, from_json,
};
use ed25519_dalek::Signer as _;

use crate::contract::{execute, instantiate, query};
use crate::error::ContractError;
use crate::msg::{
    ExecuteMsg, InstantiateMsg, KeyType, LeaseId, MemberResponse, MembersResponse, NetworkResponse,
    Params, Policy, ProviderViewResponse, QueryMsg,
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

pub fn lease(dseq: u64, provider: &Addr) -> LeaseId {
    LeaseId {
        dseq,
        gseq: 1,
        oseq: 1,
        provider: provider.to_string(),
    }
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

pub fn add_msg(id: u64, name: &str, dseq: u64, provider: &Addr, tags: &[&str]) -> ExecuteMsg {
    ExecuteMsg::AddMember {
        network_id: id,
        name: name.into(),
        lease: lease(dseq, provider),
        tags: strings(tags),
        service: None,
        ip: None,
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
}

/// Asserts an error matches a pattern.
#[macro_export]
macro_rules! assert_err {
    ($err:expr, $pat:pat $(if $guard:expr)?) => {{
        let e = $err;
        assert!(matches!(&e, $pat $(if $guard)?), "unexpected error: {e:?}");
    }};
}
