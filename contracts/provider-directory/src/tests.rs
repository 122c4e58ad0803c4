//! Unit tests of every message and rejection, against mock storage. Each
//! rejection is checked to leave the whole storage byte-for-byte unchanged
//! (mock storage has no transaction rollback, so this tests the handlers).

use cosmwasm_std::testing::{
    MockApi, MockQuerier, MockStorage, message_info, mock_dependencies, mock_env,
};
use cosmwasm_std::{
    Addr, Binary, Empty, Env, Event, Order, OwnedDeps, Response, Storage, Timestamp, from_json,
};

use crate::contract::{CONTRACT_NAME, execute, instantiate, migrate, query};
use crate::error::ContractError;
use crate::msg::{
    AdminResponse, ExecuteMsg, InstantiateMsg, MigrateMsg, Params, ProviderRecord,
    ProvidersResponse, QueryMsg,
};

type Deps = OwnedDeps<MockStorage, MockApi, MockQuerier, Empty>;
type ErrorCheck = fn(&ContractError) -> bool;

const T0: u64 = 1_700_000_000;

fn key(b: u8) -> Binary {
    Binary::new(vec![b; 32])
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
        self.exec(&who, T0, register_msg(key(k)))
    }
}

fn register_msg(overlay_key: Binary) -> ExecuteMsg {
    ExecuteMsg::Register {
        overlay_key,
        endpoints: vec!["198.18.0.1:4433".into(), "[2001:db8::1]:4433".into()],
        region: Some("eu-central".into()),
        relay: true,
    }
}

fn rotate(k: u8, until: u64) -> ExecuteMsg {
    ExecuteMsg::RotateKey {
        new_key: key(k),
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
            endpoints: vec!["198.18.0.1:4433".into(), "[2001:db8::1]:4433".into()],
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
    let err = s.reject(&alice, T0 + 1, register_msg(key(2)));
    assert!(matches!(err, ContractError::AlreadyRegistered(a) if a == alice.as_str()));
}

#[test]
fn register_rejects_wrong_key_lengths() {
    let mut s = setup();
    let alice = s.alice.clone();
    for len in [0usize, 31, 33, 64] {
        let err = s.reject(&alice, T0, register_msg(Binary::new(vec![7; len])));
        assert!(
            matches!(err, ContractError::InvalidKeyLength { expected: 32, got } if got == len),
            "{err}"
        );
    }
}

#[test]
fn attacker_cannot_register_someone_elses_key() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    let err = s.reject(&mallory, T0, register_msg(key(1)));
    assert!(matches!(err, ContractError::KeyInUse(owner) if owner == alice.as_str()));
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
        endpoints: endpoints.into_iter().map(String::from).collect(),
        region: region.map(String::from),
        relay: false,
    };
    let cases: Vec<(ExecuteMsg, ErrorCheck)> = vec![
        (msg(vec![], None), |e| {
            matches!(e, ContractError::NoEndpoints)
        }),
        (
            msg(vec!["1.2.3.4:1", "1.2.3.4:2", "1.2.3.4:3"], None),
            |e| matches!(e, ContractError::TooManyEndpoints { got: 3, max: 2 }),
        ),
        (msg(vec!["relay.example:443"], None), |e| {
            matches!(e, ContractError::InvalidEndpoint(_))
        }),
        (msg(vec!["198.18.0.1:0"], None), |e| {
            matches!(e, ContractError::UnusableEndpoint(_))
        }),
        (msg(vec!["198.18.0.1:1", "198.18.0.1:1"], None), |e| {
            matches!(e, ContractError::DuplicateEndpoint(_))
        }),
        (msg(vec!["198.18.0.1:1"], Some("europe")), |e| {
            matches!(e, ContractError::InvalidRegion { .. })
        }),
        (msg(vec!["198.18.0.1:1"], Some("e u")), |e| {
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
            endpoints: vec!["198.18.0.1:1".into()],
            region: Some(String::new()),
            relay: false,
        },
    )
    .unwrap();
    assert_eq!(s.record(&alice, T0).region, None);
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
                endpoints: Some(vec!["198.19.0.9:443".into()]),
                region: None,
                relay: None,
            },
        )
        .unwrap();
    assert_provider_event(&res, "update_provider", &alice);
    let r = s.record(&alice, T0 + 10);
    assert_eq!(r.endpoints, vec!["198.19.0.9:443".to_string()]);
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
    assert_eq!(r.endpoints, vec!["198.19.0.9:443".to_string()]);
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
    assert!(matches!(err, ContractError::UnusableEndpoint(_)));
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
    let res = s.exec(&alice, T0 + 100, rotate(2, T0 + 3700)).unwrap();
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
    let err = s.reject(&alice, now, rotate(2, now));
    assert!(matches!(err, ContractError::OverlapInPast { .. }));
    let err = s.reject(&alice, now, rotate(2, now - 1));
    assert!(matches!(err, ContractError::OverlapInPast { .. }));
    let err = s.reject(&alice, now, rotate(2, now + 601));
    assert!(matches!(err, ContractError::OverlapTooLong { .. }));
    // Exactly the maximum is allowed.
    s.exec(&alice, now, rotate(2, now + 600)).unwrap();
    assert_eq!(s.record(&alice, now).overlay_key, key(2));
}

#[test]
fn rotation_key_rejections() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    let err = s.reject(&alice, T0, rotate(2, T0 + 10));
    assert!(matches!(err, ContractError::NotRegistered(_)));
    s.register(&alice, 1).unwrap();
    s.register(&mallory, 9).unwrap();
    let err = s.reject(&alice, T0, rotate(1, T0 + 10));
    assert!(matches!(err, ContractError::KeyUnchanged));
    let err = s.reject(
        &alice,
        T0,
        ExecuteMsg::RotateKey {
            new_key: Binary::new(vec![1; 16]),
            overlap_until: Timestamp::from_seconds(T0 + 10),
        },
    );
    assert!(matches!(
        err,
        ContractError::InvalidKeyLength { got: 16, .. }
    ));
    // The attacker cannot take over alice's key by rotating to it.
    let err = s.reject(&mallory, T0, rotate(1, T0 + 10));
    assert!(matches!(err, ContractError::KeyInUse(o) if o == alice.as_str()));
    // Nor the key alice retired and that is still in its overlap.
    s.exec(&alice, T0, rotate(2, T0 + 10)).unwrap();
    let err = s.reject(&mallory, T0 + 1, rotate(1, T0 + 10));
    assert!(matches!(err, ContractError::KeyInUse(o) if o == alice.as_str()));
    // Alice cannot swap back to her retired key either.
    let err = s.reject(&alice, T0 + 1, rotate(1, T0 + 10));
    assert!(matches!(err, ContractError::KeyInUse(_)));
}

#[test]
fn second_rotation_drops_and_frees_the_older_key() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    s.exec(&alice, T0, rotate(2, T0 + 1000)).unwrap();
    s.exec(&alice, T0 + 10, rotate(3, T0 + 500)).unwrap();
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
    s.exec(&mallory, T0 + 10, register_msg(key(1))).unwrap();
}

#[test]
fn attacker_cannot_rotate_someone_elses_key() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    let err = s.reject(&mallory, T0, rotate(5, T0 + 10));
    assert!(matches!(err, ContractError::NotRegistered(a) if a == mallory.as_str()));
    assert_eq!(s.record(&alice, T0).overlay_key, key(1));
}

// ---- deregister ----

#[test]
fn deregister_removes_record_and_frees_keys() {
    let mut s = setup();
    let (alice, mallory) = (s.alice.clone(), s.mallory.clone());
    s.register(&alice, 1).unwrap();
    s.exec(&alice, T0, rotate(2, T0 + 100)).unwrap();
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
    s.exec(&mallory, T0 + 1, register_msg(key(2))).unwrap();
    s.exec(&alice, T0 + 1, register_msg(key(1))).unwrap();
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
    s.exec(&alice, T0, rotate(2, T0 + 100)).unwrap();
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
    let err = s.reject(&alice, T0, register_msg(key(1)));
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
