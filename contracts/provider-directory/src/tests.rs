//! Unit tests of every message and rejection, against mock storage. Each
//! rejection is checked to leave the whole storage byte-for-byte unchanged
//! (mock storage has no transaction rollback, so this tests the handlers).
//! Overlay key `k` is the ed25519 key with seed `[k; 32]`.

use cosmwasm_std::testing::{
    MockApi, MockQuerier, MockStorage, message_info, mock_dependencies, mock_env,
};
use cosmwasm_std::{
    Addr, Binary, Empty, Env, Event, Order, OwnedDeps, Response, Storage, Timestamp, from_json,
};
use ed25519_dalek::{Signer, SigningKey};

use crate::contract::{CONTRACT_NAME, execute, instantiate, migrate, query};
use crate::error::{ContractError, PrivateRange, UnusableReason};
use crate::key_proof_bytes;
use crate::msg::{
    AdminResponse, ExecuteMsg, InstantiateMsg, MigrateMsg, Params, ProviderRecord,
    ProvidersResponse, QueryMsg,
};

type Deps = OwnedDeps<MockStorage, MockApi, MockQuerier, Empty>;
type ErrorCheck = fn(&ContractError) -> bool;

const T0: u64 = 1_700_000_000;

fn signing_key(k: u8) -> SigningKey {
    SigningKey::from_bytes(&[k; 32])
}

/// The public overlay key `k`.
fn key(k: u8) -> Binary {
    Binary::new(signing_key(k).verifying_key().to_bytes().to_vec())
}

/// Key `signer`'s signature over the proof bytes of key `k` for `sender`
/// on `chain_id` and `contract`.
fn sign_proof(signer: u8, k: u8, chain_id: &str, contract: &str, sender: &Addr) -> Binary {
    let msg = key_proof_bytes(chain_id, contract, sender.as_str(), &key(k));
    Binary::new(signing_key(signer).sign(&msg).to_bytes().to_vec())
}

/// Key `k`'s valid proof for `sender` on the mock chain and contract.
fn proof(k: u8, sender: &Addr) -> Binary {
    let env = mock_env();
    sign_proof(
        k,
        k,
        &env.block.chain_id,
        env.contract.address.as_str(),
        sender,
    )
}

fn env_at(secs: u64) -> Env {
    let mut env = mock_env();
    env.block.time = Timestamp::from_seconds(secs);
    env
}

struct Setup {
    deps: Deps,
    admin: Addr,
    alice: Addr,
    mallory: Addr,
}

fn setup_with(params: Option<Params>) -> Setup {
    let mut deps = mock_dependencies();
    deps.api = MockApi::default().with_prefix("akash");
    let admin = deps.api.addr_make("gov");
    let alice = deps.api.addr_make("alice");
    let mallory = deps.api.addr_make("mallory");
    instantiate(
        deps.as_mut(),
        env_at(T0),
        message_info(&admin, &[]),
        InstantiateMsg {
            admin: None,
            params,
        },
    )
    .unwrap();
    Setup {
        deps,
        admin,
        alice,
        mallory,
    }
}

fn setup() -> Setup {
    setup_with(None)
}

fn snapshot(storage: &dyn Storage) -> Vec<(Vec<u8>, Vec<u8>)> {
    storage.range(None, None, Order::Ascending).collect()
}

impl Setup {
    fn exec(
        &mut self,
        sender: &Addr,
        secs: u64,
        msg: ExecuteMsg,
    ) -> Result<Response, ContractError> {
        execute(
            self.deps.as_mut(),
            env_at(secs),
            message_info(sender, &[]),
            msg,
        )
    }

    /// Runs `msg`, expects an error and no storage change; returns the error.
    fn reject(&mut self, sender: &Addr, secs: u64, msg: ExecuteMsg) -> ContractError {
        let before = snapshot(&self.deps.storage);
        let err = self
            .exec(&sender.clone(), secs, msg)
            .expect_err("message accepted");
        assert_eq!(
            before,
            snapshot(&self.deps.storage),
            "rejected message changed state: {err}"
        );
        err
    }

    fn query<T: serde::de::DeserializeOwned>(
        &self,
        secs: u64,
        msg: QueryMsg,
    ) -> Result<T, ContractError> {
        query(self.deps.as_ref(), env_at(secs), msg).map(|b| from_json(b).unwrap())
    }

    fn record(&self, who: &Addr, secs: u64) -> ProviderRecord {
        self.query(
            secs,
            QueryMsg::Provider {
                address: who.to_string(),
            },
        )
        .unwrap()
    }

    fn register(&mut self, who: &Addr, k: u8) -> Result<Response, ContractError> {
        let who = who.clone();
        self.exec(&who, T0, register_msg(&who, k))
    }
}

/// `sender` registers key `k` with a valid proof.
fn register_msg(sender: &Addr, k: u8) -> ExecuteMsg {
    register_with(key(k), proof(k, sender))
}

fn register_with(overlay_key: Binary, signature: Binary) -> ExecuteMsg {
    ExecuteMsg::Register {
        overlay_key,
        signature,
        endpoints: vec!["203.0.113.1:4433".into(), "[2001:db8::1]:4433".into()],
        region: Some("eu-central".into()),
        relay: true,
    }
}

/// `sender` rotates to key `k` with a valid proof.
fn rotate(sender: &Addr, k: u8, until: u64) -> ExecuteMsg {
    ExecuteMsg::RotateKey {
        new_key: key(k),
        signature: proof(k, sender),
        overlap_until: Timestamp::from_seconds(until),
    }
}

fn only_event(res: &Response) -> &Event {
    assert_eq!(res.events.len(), 1, "{:?}", res.events);
    &res.events[0]
}

fn assert_provider_event(res: &Response, kind: &str, who: &Addr) {
    let ev = only_event(res);
    assert_eq!(ev.ty, kind);
    assert!(
        ev.attributes
            .iter()
            .any(|a| a.key == "provider" && a.value == who.as_str()),
        "{ev:?}"
    );
}

// ---- instantiate ----

#[test]
fn instantiate_defaults_admin_to_sender_and_default_params() {
    let s = setup();
    let admin: AdminResponse = s.query(T0, QueryMsg::Admin {}).unwrap();
    assert_eq!(admin.admin, s.admin);
    let params: Params = s.query(T0, QueryMsg::Params {}).unwrap();
    assert_eq!(params, Params::default());
    let v = cw2::get_contract_version(&s.deps.storage).unwrap();
    assert_eq!(v.contract, CONTRACT_NAME);
}

#[test]
fn instantiate_with_explicit_admin_and_params() {
    let mut deps = mock_dependencies();
    deps.api = MockApi::default().with_prefix("akash");
    let sender = deps.api.addr_make("deployer");
    let gov = deps.api.addr_make("gov");
    let params = Params {
        max_endpoints: 2,
        ..Params::default()
    };
    instantiate(
        deps.as_mut(),
        env_at(T0),
        message_info(&sender, &[]),
        InstantiateMsg {
            admin: Some(gov.to_string()),
            params: Some(params.clone()),
        },
    )
    .unwrap();
    let admin: AdminResponse =
        from_json(query(deps.as_ref(), env_at(T0), QueryMsg::Admin {}).unwrap()).unwrap();
    assert_eq!(admin.admin, gov);
    let got: Params =
        from_json(query(deps.as_ref(), env_at(T0), QueryMsg::Params {}).unwrap()).unwrap();
    assert_eq!(got, params);
}

#[test]
fn instantiate_rejects_bad_admin_and_params() {
    let mut deps = mock_dependencies();
    deps.api = MockApi::default().with_prefix("akash");
    let sender = deps.api.addr_make("deployer");
    let bad_admin = InstantiateMsg {
        admin: Some("cosmos1notakash".into()),
        params: None,
    };
    assert!(matches!(
        instantiate(
            deps.as_mut(),
            env_at(T0),
            message_info(&sender, &[]),
            bad_admin
        ),
        Err(ContractError::Std(_))
    ));
    let bad_params = InstantiateMsg {
        admin: None,
        params: Some(Params {
            max_query_limit: 0,
            ..Params::default()
        }),
    };
    assert!(matches!(
        instantiate(
            deps.as_mut(),
            env_at(T0),
            message_info(&sender, &[]),
            bad_params
        ),
        Err(ContractError::InvalidParams(_))
    ));
    assert!(snapshot(&deps.storage).is_empty());
}

// ---- register ----

#[test]
fn register_stores_a_record_and_emits_event() {
    let mut s = setup();
    let alice = s.alice.clone();
    let res = s.register(&alice, 1).unwrap();
    assert_provider_event(&res, "register_provider", &alice);
    let r = s.record(&alice, T0);
    assert_eq!(
        r,
        ProviderRecord {
            address: alice.clone(),
            overlay_key: key(1),
            previous_key: None,
            endpoints: vec!["203.0.113.1:4433".into(), "[2001:db8::1]:4433".into()],
            region: Some("eu-central".into()),
            relay: true,
            registered_at: Timestamp::from_seconds(T0),
            updated_at: Timestamp::from_seconds(T0),
        }
    );
    let by_key: ProviderRecord = s
        .query(T0, QueryMsg::ProviderByKey { key: key(1) })
        .unwrap();
    assert_eq!(by_key, r);
}

#[test]
fn register_twice_is_rejected() {
    let mut s = setup();
    let alice = s.alice.clone();
    s.register(&alice, 1).unwrap();
    let err = s.reject(&alice, T0 + 1, register_msg(&alice, 2));
    assert!(matches!(err, ContractError::AlreadyRegistered(a) if a == alice.as_str()));
}

#[test]
fn register_rejects_wrong_key_lengths() {
    let mut s = setup();
    let alice = s.alice.clone();
    for len in [0usize, 31, 33, 64] {
        let err = s.reject(
            &alice,
            T0,
            register_with(Binary::new(vec![7; len]), proof(7, &alice)),
        );
        assert!(
            matches!(err, ContractError::InvalidKeyLength { expected: 32, got } if got == len),
            "{err}"
        );
    }
}

#[test]
fn a_key_in_use_cannot_be_registered_again_even_with_its_proof() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    let err = s.reject(&mallory, T0, register_msg(&mallory, 1));
    assert!(matches!(err, ContractError::KeyInUse(owner) if owner == alice.as_str()));
}

// ---- proof of possession (attacks) ----

#[test]
fn attacker_cannot_squat_a_key_without_its_private_key() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    let env = mock_env();
    let (chain, contract) = (env.block.chain_id.as_str(), env.contract.address.as_str());
    // Mallory front-runs alice with alice's public key (known from her node
    // or config) before alice registers it.
    let forgeries = [
        ("no signature", Binary::default()),
        ("garbage", Binary::new(vec![0xab; 64])),
        ("too long", Binary::new(vec![0; 65])),
        (
            "signed by mallory's own key",
            sign_proof(9, 1, chain, contract, &mallory),
        ),
        (
            "alice's proof text signed by mallory's key",
            sign_proof(9, 1, chain, contract, &alice),
        ),
    ];
    for (what, signature) in forgeries {
        let err = s.reject(&mallory, T0, register_with(key(1), signature));
        assert!(
            matches!(err, ContractError::InvalidKeyProof),
            "{what}: {err}"
        );
    }
    // Alice's own registration is unaffected.
    s.register(&alice, 1).unwrap();
    assert_eq!(s.record(&alice, T0).overlay_key, key(1));
}

#[test]
fn replayed_proof_from_another_sender_fails() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    // Mallory copies alice's pending Register message, signature included.
    let alices_msg = register_msg(&alice, 1);
    let err = s.reject(&mallory, T0, alices_msg.clone());
    assert!(matches!(err, ContractError::InvalidKeyProof), "{err}");
    s.exec(&alice, T0, alices_msg.clone()).unwrap();
    // Once alice deregisters, the key is free but still only alice can prove it.
    s.exec(&alice, T0 + 1, ExecuteMsg::Deregister {}).unwrap();
    let err = s.reject(&mallory, T0 + 2, alices_msg.clone());
    assert!(matches!(err, ContractError::InvalidKeyProof), "{err}");
    // A replay of alice's rotation proof is no better.
    s.exec(&alice, T0 + 3, alices_msg).unwrap();
    s.register(&mallory, 9).unwrap();
    let alices_rotation = rotate(&alice, 2, T0 + 100);
    let err = s.reject(&mallory, T0 + 3, alices_rotation.clone());
    assert!(matches!(err, ContractError::InvalidKeyProof), "{err}");
    s.exec(&alice, T0 + 3, alices_rotation).unwrap();
}

#[test]
fn proof_for_another_chain_or_contract_fails() {
    let mut s = setup();
    let alice = s.alice.clone();
    let env = mock_env();
    let (chain, contract) = (env.block.chain_id.as_str(), env.contract.address.as_str());
    let other_contract = s.deps.api.addr_make("other-directory");
    let copied = [
        (
            "another chain",
            sign_proof(1, 1, "akashnet-2", contract, &alice),
        ),
        (
            "another contract",
            sign_proof(1, 1, chain, other_contract.as_str(), &alice),
        ),
        ("another key", sign_proof(1, 2, chain, contract, &alice)),
    ];
    for (what, signature) in copied {
        let err = s.reject(&alice, T0, register_with(key(1), signature));
        assert!(
            matches!(err, ContractError::InvalidKeyProof),
            "{what}: {err}"
        );
    }
    s.exec(
        &alice,
        T0,
        register_with(key(1), sign_proof(1, 1, chain, contract, &alice)),
    )
    .unwrap();
}

#[test]
fn rotate_key_requires_proof_of_the_new_key() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    let env = mock_env();
    let (chain, contract) = (env.block.chain_id.as_str(), env.contract.address.as_str());
    let rotate_with = |signature: Binary| ExecuteMsg::RotateKey {
        new_key: key(2),
        signature,
        overlap_until: Timestamp::from_seconds(T0 + 100),
    };
    let bad = [
        ("no signature", Binary::default()),
        // The account's current key vouching for a key it does not hold.
        (
            "signed by the old key",
            sign_proof(1, 2, chain, contract, &alice),
        ),
        (
            "signed for mallory",
            sign_proof(2, 2, chain, contract, &mallory),
        ),
        (
            "another chain",
            sign_proof(2, 2, "akashnet-2", contract, &alice),
        ),
    ];
    for (what, signature) in bad {
        let err = s.reject(&alice, T0, rotate_with(signature));
        assert!(
            matches!(err, ContractError::InvalidKeyProof),
            "{what}: {err}"
        );
    }
    s.exec(
        &alice,
        T0,
        rotate_with(sign_proof(2, 2, chain, contract, &alice)),
    )
    .unwrap();
    assert_eq!(s.record(&alice, T0).overlay_key, key(2));
}

#[test]
fn invalid_key_proof_message_names_the_signed_text() {
    let err = ContractError::InvalidKeyProof.to_string();
    assert!(
        err.contains("avpn-provider-key/v1/{chain_id}/{contract}/{sender}/{hex key}"),
        "{err}"
    );
}

#[test]
fn register_rejects_bad_endpoints_and_region() {
    let mut s = setup_with(Some(Params {
        max_endpoints: 2,
        max_region_len: 4,
        ..Params::default()
    }));
    let alice = s.alice.clone();
    let msg = |endpoints: Vec<&str>, region: Option<&str>| ExecuteMsg::Register {
        overlay_key: key(1),
        signature: proof(1, &alice),
        endpoints: endpoints.into_iter().map(String::from).collect(),
        region: region.map(String::from),
        relay: false,
    };
    let cases: Vec<(ExecuteMsg, ErrorCheck)> = vec![
        (msg(vec![], None), |e| {
            matches!(e, ContractError::NoEndpoints)
        }),
        (
            msg(
                vec!["203.0.113.4:1", "203.0.113.4:2", "203.0.113.4:3"],
                None,
            ),
            |e| matches!(e, ContractError::TooManyEndpoints { got: 3, max: 2 }),
        ),
        (msg(vec!["relay.example:443"], None), |e| {
            matches!(e, ContractError::InvalidEndpoint(_))
        }),
        (msg(vec!["203.0.113.1:0"], None), |e| {
            matches!(e, ContractError::UnusableEndpoint { .. })
        }),
        (msg(vec!["203.0.113.1:1", "203.0.113.1:1"], None), |e| {
            matches!(e, ContractError::DuplicateEndpoint(_))
        }),
        (msg(vec!["203.0.113.1:1"], Some("europe")), |e| {
            matches!(e, ContractError::InvalidRegion { .. })
        }),
        (msg(vec!["203.0.113.1:1"], Some("e u")), |e| {
            matches!(e, ContractError::InvalidRegion { .. })
        }),
    ];
    for (m, expected) in cases {
        let err = s.reject(&alice, T0, m);
        assert!(expected(&err), "unexpected error {err}");
    }
}

#[test]
fn register_with_empty_region_stores_none() {
    let mut s = setup();
    let alice = s.alice.clone();
    s.exec(
        &alice,
        T0,
        ExecuteMsg::Register {
            overlay_key: key(1),
            signature: proof(1, &alice),
            endpoints: vec!["203.0.113.1:1".into()],
            region: Some(String::new()),
            relay: false,
        },
    )
    .unwrap();
    assert_eq!(s.record(&alice, T0).region, None);
}

#[test]
fn every_unusable_endpoint_class_is_refused_by_register_and_update() {
    use UnusableReason::*;
    // Refused even on a chain that allows private endpoints.
    let mut s = setup_with(Some(Params {
        allow_private_endpoints: true,
        ..Params::default()
    }));
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&mallory, 9).unwrap();
    for (endpoint, why) in [
        ("127.0.0.1:4433", Loopback),
        ("[::1]:4433", Loopback),
        ("169.254.169.254:4433", LinkLocal),
        ("[fe80::1]:4433", LinkLocal),
        ("0.0.0.0:4433", Unspecified),
        ("[::]:4433", Unspecified),
        ("224.0.0.251:4433", Multicast),
        ("[ff02::1]:4433", Multicast),
        ("255.255.255.255:4433", Broadcast),
        ("203.0.113.1:0", PortZero),
    ] {
        let check = |err: ContractError| match err {
            ContractError::UnusableEndpoint {
                endpoint: e,
                reason,
            } => {
                assert_eq!((e.as_str(), reason), (endpoint, why))
            }
            other => panic!("{endpoint}: {other}"),
        };
        let register = ExecuteMsg::Register {
            overlay_key: key(1),
            signature: proof(1, &alice),
            endpoints: vec!["203.0.113.1:4433".into(), endpoint.into()],
            region: None,
            relay: false,
        };
        check(s.reject(&alice, T0, register));
        let update = ExecuteMsg::Update {
            endpoints: Some(vec![endpoint.into()]),
            region: None,
            relay: None,
        };
        check(s.reject(&mallory, T0, update));
    }
}

#[test]
fn private_endpoints_are_refused_by_default_and_accepted_with_the_param() {
    use PrivateRange::*;
    let mut s = setup();
    let (admin, alice) = (s.admin.clone(), s.alice.clone());
    let private = [
        ("10.1.2.3:4433", Rfc1918),
        ("172.20.0.1:4433", Rfc1918),
        ("192.168.0.10:4433", Rfc1918),
        ("100.64.1.1:4433", CarrierGradeNat),
        ("198.18.0.1:4433", Benchmarking),
        ("[fd00::1]:4433", UniqueLocal),
    ];
    let register = |endpoint: &str| ExecuteMsg::Register {
        overlay_key: key(1),
        signature: proof(1, &alice),
        endpoints: vec![endpoint.into()],
        region: None,
        relay: false,
    };
    for (endpoint, range) in private {
        let err = s.reject(&alice, T0, register(endpoint));
        assert!(
            matches!(&err, ContractError::PrivateEndpoint { endpoint: e, range: r }
                if e == endpoint && *r == range),
            "{endpoint}: {err}"
        );
    }
    let test_chain = Params {
        allow_private_endpoints: true,
        ..Params::default()
    };
    s.exec(&admin, T0, ExecuteMsg::UpdateParams { params: test_chain })
        .unwrap();
    s.exec(&alice, T0, register("198.18.0.1:4433")).unwrap();
    for (endpoint, _) in private {
        s.exec(
            &alice,
            T0,
            ExecuteMsg::Update {
                endpoints: Some(vec![endpoint.into()]),
                region: None,
                relay: None,
            },
        )
        .unwrap();
        assert_eq!(s.record(&alice, T0).endpoints, vec![endpoint.to_string()]);
    }
}

// ---- update ----

#[test]
fn update_changes_only_given_fields() {
    let mut s = setup();
    let alice = s.alice.clone();
    s.register(&alice, 1).unwrap();
    let res = s
        .exec(
            &alice,
            T0 + 10,
            ExecuteMsg::Update {
                endpoints: Some(vec!["203.0.113.99:443".into()]),
                region: None,
                relay: None,
            },
        )
        .unwrap();
    assert_provider_event(&res, "update_provider", &alice);
    let r = s.record(&alice, T0 + 10);
    assert_eq!(r.endpoints, vec!["203.0.113.99:443".to_string()]);
    assert_eq!(r.region.as_deref(), Some("eu-central"));
    assert!(r.relay);
    assert_eq!(r.registered_at, Timestamp::from_seconds(T0));
    assert_eq!(r.updated_at, Timestamp::from_seconds(T0 + 10));

    s.exec(
        &alice,
        T0 + 20,
        ExecuteMsg::Update {
            endpoints: None,
            region: Some(String::new()),
            relay: Some(false),
        },
    )
    .unwrap();
    let r = s.record(&alice, T0 + 20);
    assert_eq!(r.region, None);
    assert!(!r.relay);
    assert_eq!(r.endpoints, vec!["203.0.113.99:443".to_string()]);
    assert_eq!(r.overlay_key, key(1));
}

#[test]
fn update_rejections() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    let err = s.reject(
        &alice,
        T0,
        ExecuteMsg::Update {
            endpoints: None,
            region: None,
            relay: Some(true),
        },
    );
    assert!(matches!(err, ContractError::NotRegistered(_)));
    s.register(&alice, 1).unwrap();
    let err = s.reject(
        &alice,
        T0,
        ExecuteMsg::Update {
            endpoints: None,
            region: None,
            relay: None,
        },
    );
    assert!(matches!(err, ContractError::EmptyUpdate));
    let err = s.reject(
        &alice,
        T0,
        ExecuteMsg::Update {
            endpoints: Some(vec!["0.0.0.0:1".into()]),
            region: None,
            relay: Some(false),
        },
    );
    assert!(matches!(err, ContractError::UnusableEndpoint { .. }));
    let err = s.reject(
        &alice,
        T0,
        ExecuteMsg::Update {
            endpoints: None,
            region: Some("bad region".into()),
            relay: Some(false),
        },
    );
    assert!(matches!(err, ContractError::InvalidRegion { .. }));
    // An unregistered attacker has no record to update and cannot reach alice's.
    let err = s.reject(
        &mallory,
        T0,
        ExecuteMsg::Update {
            endpoints: Some(vec!["203.0.113.66:1".into()]),
            region: None,
            relay: None,
        },
    );
    assert!(matches!(err, ContractError::NotRegistered(a) if a == mallory.as_str()));
}

#[test]
fn attackers_update_touches_only_its_own_record() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    s.register(&mallory, 2).unwrap();
    let alice_before = s.record(&alice, T0);
    s.exec(
        &mallory,
        T0 + 5,
        ExecuteMsg::Update {
            endpoints: Some(vec!["203.0.113.66:1".into()]),
            region: None,
            relay: None,
        },
    )
    .unwrap();
    assert_eq!(s.record(&alice, T0 + 5), alice_before);
    assert_eq!(
        s.record(&mallory, T0 + 5).endpoints,
        vec!["203.0.113.66:1".to_string()]
    );
}

// ---- rotate_key ----

#[test]
fn rotation_keeps_old_key_valid_until_deadline() {
    let mut s = setup();
    let alice = s.alice.clone();
    s.register(&alice, 1).unwrap();
    let res = s
        .exec(&alice, T0 + 100, rotate(&alice, 2, T0 + 3700))
        .unwrap();
    assert_provider_event(&res, "rotate_key", &alice);

    let r = s.record(&alice, T0 + 100);
    assert_eq!(r.overlay_key, key(2));
    let prev = r.previous_key.expect("old key listed during overlap");
    assert_eq!(prev.key, key(1));
    assert_eq!(prev.valid_until, Timestamp::from_seconds(T0 + 3700));
    assert_eq!(r.updated_at, Timestamp::from_seconds(T0 + 100));

    // Both keys name alice during the overlap.
    for k in [1, 2] {
        let by: ProviderRecord = s
            .query(T0 + 3699, QueryMsg::ProviderByKey { key: key(k) })
            .unwrap();
        assert_eq!(by.address, alice);
    }
    // At the deadline the old key is no longer valid.
    assert_eq!(s.record(&alice, T0 + 3700).previous_key, None);
    assert!(matches!(
        s.query::<ProviderRecord>(T0 + 3700, QueryMsg::ProviderByKey { key: key(1) }),
        Err(ContractError::UnknownKey)
    ));
    let by: ProviderRecord = s
        .query(T0 + 3700, QueryMsg::ProviderByKey { key: key(2) })
        .unwrap();
    assert_eq!(by.address, alice);
}

#[test]
fn rotation_overlap_bounds() {
    let mut s = setup_with(Some(Params {
        max_rotation_overlap_secs: 600,
        ..Params::default()
    }));
    let alice = s.alice.clone();
    s.register(&alice, 1).unwrap();
    let now = T0 + 50;
    let err = s.reject(&alice, now, rotate(&alice, 2, now));
    assert!(matches!(err, ContractError::OverlapInPast { .. }));
    let err = s.reject(&alice, now, rotate(&alice, 2, now - 1));
    assert!(matches!(err, ContractError::OverlapInPast { .. }));
    let err = s.reject(&alice, now, rotate(&alice, 2, now + 601));
    assert!(matches!(err, ContractError::OverlapTooLong { .. }));
    // Exactly the maximum is allowed.
    s.exec(&alice, now, rotate(&alice, 2, now + 600)).unwrap();
    assert_eq!(s.record(&alice, now).overlay_key, key(2));
}

#[test]
fn rotation_key_rejections() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    let err = s.reject(&alice, T0, rotate(&alice, 2, T0 + 10));
    assert!(matches!(err, ContractError::NotRegistered(_)));
    s.register(&alice, 1).unwrap();
    s.register(&mallory, 9).unwrap();
    let err = s.reject(&alice, T0, rotate(&alice, 1, T0 + 10));
    assert!(matches!(err, ContractError::KeyUnchanged));
    let err = s.reject(
        &alice,
        T0,
        ExecuteMsg::RotateKey {
            new_key: Binary::new(vec![1; 16]),
            signature: proof(1, &alice),
            overlap_until: Timestamp::from_seconds(T0 + 10),
        },
    );
    assert!(matches!(
        err,
        ContractError::InvalidKeyLength { got: 16, .. }
    ));
    // The attacker cannot take over alice's key by rotating to it.
    let err = s.reject(&mallory, T0, rotate(&mallory, 1, T0 + 10));
    assert!(matches!(err, ContractError::KeyInUse(o) if o == alice.as_str()));
    // Nor the key alice retired and that is still in its overlap.
    s.exec(&alice, T0, rotate(&alice, 2, T0 + 10)).unwrap();
    let err = s.reject(&mallory, T0 + 1, rotate(&mallory, 1, T0 + 10));
    assert!(matches!(err, ContractError::KeyInUse(o) if o == alice.as_str()));
    // Alice cannot swap back to her retired key either.
    let err = s.reject(&alice, T0 + 1, rotate(&alice, 1, T0 + 10));
    assert!(matches!(err, ContractError::KeyInUse(_)));
}

#[test]
fn second_rotation_drops_and_frees_the_older_key() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    s.exec(&alice, T0, rotate(&alice, 2, T0 + 1000)).unwrap();
    s.exec(&alice, T0 + 10, rotate(&alice, 3, T0 + 500))
        .unwrap();
    let r = s.record(&alice, T0 + 10);
    assert_eq!(r.overlay_key, key(3));
    let prev = r.previous_key.unwrap();
    assert_eq!(
        (prev.key, prev.valid_until),
        (key(2), Timestamp::from_seconds(T0 + 500))
    );
    assert!(matches!(
        s.query::<ProviderRecord>(T0 + 10, QueryMsg::ProviderByKey { key: key(1) }),
        Err(ContractError::UnknownKey)
    ));
    // Key 1 is free again.
    s.exec(&mallory, T0 + 10, register_msg(&mallory, 1))
        .unwrap();
}

#[test]
fn attacker_cannot_rotate_someone_elses_key() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    let err = s.reject(&mallory, T0, rotate(&mallory, 5, T0 + 10));
    assert!(matches!(err, ContractError::NotRegistered(a) if a == mallory.as_str()));
    assert_eq!(s.record(&alice, T0).overlay_key, key(1));
}

// ---- deregister ----

#[test]
fn deregister_removes_record_and_frees_keys() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    s.exec(&alice, T0, rotate(&alice, 2, T0 + 100)).unwrap();
    let res = s.exec(&alice, T0 + 1, ExecuteMsg::Deregister {}).unwrap();
    assert_provider_event(&res, "deregister_provider", &alice);
    assert!(matches!(
        s.query::<ProviderRecord>(
            T0 + 1,
            QueryMsg::Provider {
                address: alice.to_string()
            }
        ),
        Err(ContractError::NotRegistered(_))
    ));
    for k in [1, 2] {
        assert!(matches!(
            s.query::<ProviderRecord>(T0 + 1, QueryMsg::ProviderByKey { key: key(k) }),
            Err(ContractError::UnknownKey)
        ));
    }
    s.exec(&mallory, T0 + 1, register_msg(&mallory, 2)).unwrap();
    s.exec(&alice, T0 + 1, register_msg(&alice, 1)).unwrap();
}

#[test]
fn deregister_rejections_and_attacker() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    let err = s.reject(&alice, T0, ExecuteMsg::Deregister {});
    assert!(matches!(err, ContractError::NotRegistered(_)));
    s.register(&alice, 1).unwrap();
    let err = s.reject(&mallory, T0, ExecuteMsg::Deregister {});
    assert!(matches!(err, ContractError::NotRegistered(a) if a == mallory.as_str()));
    assert_eq!(s.record(&alice, T0).overlay_key, key(1));
}

#[test]
fn deregister_then_state_is_as_before_register() {
    let mut s = setup();
    let alice = s.alice.clone();
    let before = snapshot(&s.deps.storage);
    s.register(&alice, 1).unwrap();
    s.exec(&alice, T0, rotate(&alice, 2, T0 + 100)).unwrap();
    s.exec(&alice, T0, ExecuteMsg::Deregister {}).unwrap();
    assert_eq!(before, snapshot(&s.deps.storage));
}

// ---- admin ----

#[test]
fn admin_updates_params_and_they_apply() {
    let mut s = setup();
    let (admin, alice) = (s.admin.clone(), s.alice.clone());
    let params = Params {
        max_endpoints: 1,
        ..Params::default()
    };
    let res = s
        .exec(
            &admin,
            T0,
            ExecuteMsg::UpdateParams {
                params: params.clone(),
            },
        )
        .unwrap();
    assert_eq!(only_event(&res).ty, "update_params");
    assert_eq!(s.query::<Params>(T0, QueryMsg::Params {}).unwrap(), params);
    let err = s.reject(&alice, T0, register_msg(&alice, 1));
    assert!(matches!(
        err,
        ContractError::TooManyEndpoints { got: 2, max: 1 }
    ));
}

#[test]
fn params_and_admin_are_admin_only() {
    let mut s = setup();
    let (admin, mallory) = (s.admin.clone(), s.mallory.clone());
    let err = s.reject(
        &mallory,
        T0,
        ExecuteMsg::UpdateParams {
            params: Params::default(),
        },
    );
    assert!(matches!(err, ContractError::Unauthorized));
    let err = s.reject(
        &mallory,
        T0,
        ExecuteMsg::UpdateAdmin {
            admin: mallory.to_string(),
        },
    );
    assert!(matches!(err, ContractError::Unauthorized));
    let err = s.reject(
        &admin,
        T0,
        ExecuteMsg::UpdateParams {
            params: Params {
                max_endpoints: 0,
                ..Params::default()
            },
        },
    );
    assert!(matches!(err, ContractError::InvalidParams(_)));
    let err = s.reject(
        &admin,
        T0,
        ExecuteMsg::UpdateAdmin {
            admin: "not-an-address".into(),
        },
    );
    assert!(matches!(err, ContractError::Std(_)));
}

#[test]
fn update_admin_hands_over_control() {
    let mut s = setup();
    let (admin, alice) = (s.admin.clone(), s.alice.clone());
    let res = s
        .exec(
            &admin,
            T0,
            ExecuteMsg::UpdateAdmin {
                admin: alice.to_string(),
            },
        )
        .unwrap();
    assert_eq!(only_event(&res).ty, "update_admin");
    assert_eq!(
        s.query::<AdminResponse>(T0, QueryMsg::Admin {})
            .unwrap()
            .admin,
        alice
    );
    let err = s.reject(
        &admin,
        T0,
        ExecuteMsg::UpdateParams {
            params: Params::default(),
        },
    );
    assert!(matches!(err, ContractError::Unauthorized));
    s.exec(
        &alice,
        T0,
        ExecuteMsg::UpdateParams {
            params: Params::default(),
        },
    )
    .unwrap();
}

// ---- queries ----

#[test]
fn providers_are_paginated_in_address_order() {
    let mut s = setup_with(Some(Params {
        max_query_limit: 3,
        ..Params::default()
    }));
    let mut addrs: Vec<Addr> = (0..7u8)
        .map(|i| s.deps.api.addr_make(&format!("p{i}")))
        .collect();
    for (i, a) in addrs.iter().enumerate() {
        let a = a.clone();
        s.register(&a, i as u8 + 1).unwrap();
    }
    addrs.sort();
    let page = |s: &Setup, start_after: Option<&Addr>, limit: Option<u32>| -> Vec<Addr> {
        s.query::<ProvidersResponse>(
            T0,
            QueryMsg::Providers {
                start_after: start_after.map(|a| a.to_string()),
                limit,
            },
        )
        .unwrap()
        .providers
        .into_iter()
        .map(|p| p.address)
        .collect()
    };
    // Limit capped at max_query_limit, default also capped.
    assert_eq!(page(&s, None, Some(100)), addrs[..3]);
    assert_eq!(page(&s, None, None), addrs[..3]);
    assert_eq!(page(&s, None, Some(2)), addrs[..2]);
    assert_eq!(page(&s, Some(&addrs[2]), None), addrs[3..6]);
    assert_eq!(page(&s, Some(&addrs[5]), None), addrs[6..]);
    assert!(page(&s, Some(&addrs[6]), None).is_empty());
}

#[test]
fn query_rejections() {
    let s = setup();
    assert!(matches!(
        s.query::<ProviderRecord>(
            T0,
            QueryMsg::Provider {
                address: s.alice.to_string()
            }
        ),
        Err(ContractError::NotRegistered(_))
    ));
    assert!(matches!(
        s.query::<ProviderRecord>(
            T0,
            QueryMsg::Provider {
                address: "bogus".into()
            }
        ),
        Err(ContractError::Std(_))
    ));
    assert!(matches!(
        s.query::<ProviderRecord>(T0, QueryMsg::ProviderByKey { key: key(4) }),
        Err(ContractError::UnknownKey)
    ));
    assert!(matches!(
        s.query::<ProvidersResponse>(
            T0,
            QueryMsg::Providers {
                start_after: Some("bogus".into()),
                limit: None
            }
        ),
        Err(ContractError::Std(_))
    ));
}

// ---- migrate ----

#[test]
fn migrate_from_0_1_0_loads_params_stored_without_the_new_field() {
    let mut s = setup();
    let alice = s.alice.clone();
    s.register(&alice, 1).unwrap();
    let before = s.record(&alice, T0);
    // What 0.1.0 stored: params without `allow_private_endpoints`.
    s.deps.storage.set(
        b"params",
        br#"{"max_endpoints":3,"max_region_len":10,"max_rotation_overlap_secs":60,"max_query_limit":5}"#,
    );
    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "0.1.0").unwrap();
    migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    assert_eq!(
        cw2::get_contract_version(&s.deps.storage).unwrap().version,
        "0.2.0"
    );
    assert_eq!(
        s.query::<Params>(T0, QueryMsg::Params {}).unwrap(),
        Params {
            max_endpoints: 3,
            max_region_len: 10,
            max_rotation_overlap_secs: 60,
            max_query_limit: 5,
            allow_private_endpoints: false,
        }
    );
    assert_eq!(s.record(&alice, T0), before);
}

#[test]
fn migrate_same_or_older_version_only_for_this_contract() {
    let mut s = setup();
    let res = migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    assert_eq!(only_event(&res).ty, "migrate");

    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "0.0.1").unwrap();
    migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    let v = cw2::get_contract_version(&s.deps.storage).unwrap();
    assert_eq!(v.version, env!("CARGO_PKG_VERSION"));

    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "99.0.0").unwrap();
    let before = snapshot(&s.deps.storage);
    assert!(matches!(
        migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}),
        Err(ContractError::CannotMigrate { version, .. }) if version == "99.0.0"
    ));
    assert_eq!(before, snapshot(&s.deps.storage));

    cw2::set_contract_version(&mut s.deps.storage, "crates.io:other", "0.0.1").unwrap();
    assert!(matches!(
        migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}),
        Err(ContractError::CannotMigrate { name, .. }) if name == "crates.io:other"
    ));
}
