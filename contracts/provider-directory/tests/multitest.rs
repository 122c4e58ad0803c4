//! cw-multi-test scenarios: the contract behind a bank/wasm app with real
//! bech32 `akash` addresses, driven the way a provider's relayer and the
//! governance admin would, including attacks from other accounts. Overlay
//! key `k` is the ed25519 key with seed `[k; 32]`; only its holder can sign.

use cosmwasm_std::{Addr, Binary, Empty, Timestamp};
use cw_multi_test::{App, AppBuilder, Contract, ContractWrapper, Executor, MockApiBech32, no_init};
use ed25519_dalek::{Signer, SigningKey};
use provider_directory::contract::{execute, instantiate, migrate, query};
use provider_directory::key_proof_bytes;
use provider_directory::msg::{
    ExecuteMsg, InstantiateMsg, MigrateMsg, Params, ProviderRecord, ProvidersResponse, QueryMsg,
};

type TestApp = App<cw_multi_test::BankKeeper, MockApiBech32>;

fn contract() -> Box<dyn Contract<Empty>> {
    Box::new(ContractWrapper::new(execute, instantiate, query).with_migrate(migrate))
}

struct World {
    app: TestApp,
    addr: Addr,
    gov: Addr,
    code_id: u64,
}

fn world() -> World {
    world_with(None)
}

fn world_with(params: Option<Params>) -> World {
    let mut app = AppBuilder::default()
        .with_api(MockApiBech32::new("akash"))
        .build(no_init);
    let gov = app.api().addr_make("gov");
    let code_id = app.store_code(contract());
    let addr = app
        .instantiate_contract(
            code_id,
            gov.clone(),
            &InstantiateMsg {
                admin: None,
                params,
            },
            &[],
            "provider-directory",
            Some(gov.to_string()),
        )
        .unwrap();
    World {
        app,
        addr,
        gov,
        code_id,
    }
}

fn signing_key(k: u8) -> SigningKey {
    SigningKey::from_bytes(&[k; 32])
}

/// The public overlay key `k`.
fn key(k: u8) -> Binary {
    Binary::new(signing_key(k).verifying_key().to_bytes().to_vec())
}

/// Key `signer`'s signature over the proof text of key `k` for `sender`
/// at `contract` on `chain_id`.
fn sign_proof(signer: u8, k: u8, chain_id: &str, contract: &Addr, sender: &Addr) -> Binary {
    let msg = key_proof_bytes(chain_id, contract.as_str(), sender.as_str(), &key(k));
    Binary::new(signing_key(signer).sign(&msg).to_bytes().to_vec())
}

fn register_with(k: u8, signature: Binary, endpoint: &str) -> ExecuteMsg {
    ExecuteMsg::Register {
        overlay_key: key(k),
        signature,
        endpoints: vec![endpoint.to_string()],
        region: Some("us-west".into()),
        relay: false,
    }
}

fn rotate_with(k: u8, signature: Binary, until: Timestamp) -> ExecuteMsg {
    ExecuteMsg::RotateKey {
        new_key: key(k),
        signature,
        overlap_until: until,
    }
}

impl World {
    fn user(&self, name: &str) -> Addr {
        self.app.api().addr_make(name)
    }

    fn exec(
        &mut self,
        sender: &Addr,
        msg: &ExecuteMsg,
    ) -> cosmwasm_std::StdResult<cw_multi_test::AppResponse> {
        self.app
            .execute_contract(sender.clone(), self.addr.clone(), msg, &[])
    }

    fn record(&self, who: &Addr) -> ProviderRecord {
        self.app
            .wrap()
            .query_wasm_smart(
                &self.addr,
                &QueryMsg::Provider {
                    address: who.to_string(),
                },
            )
            .unwrap()
    }

    fn all(&self) -> Vec<ProviderRecord> {
        let r: ProvidersResponse = self
            .app
            .wrap()
            .query_wasm_smart(
                &self.addr,
                &QueryMsg::Providers {
                    start_after: None,
                    limit: None,
                },
            )
            .unwrap();
        r.providers
    }

    /// The record `ProviderByKey` returns for key `k`, if any.
    fn by_key(&self, k: u8) -> Option<ProviderRecord> {
        self.app
            .wrap()
            .query_wasm_smart(&self.addr, &QueryMsg::ProviderByKey { key: key(k) })
            .ok()
    }

    /// Everything the queries show: all records and who holds keys 1..=9.
    fn observe(&self) -> (Vec<ProviderRecord>, Vec<Option<ProviderRecord>>) {
        (self.all(), (1..=9).map(|k| self.by_key(k)).collect())
    }

    fn now(&self) -> Timestamp {
        self.app.block_info().time
    }

    fn chain_id(&self) -> String {
        self.app.block_info().chain_id
    }

    /// Key `k`'s valid proof for `sender` at this contract.
    fn proof(&self, k: u8, sender: &Addr) -> Binary {
        sign_proof(k, k, &self.chain_id(), &self.addr, sender)
    }

    /// `sender` registers key `k` with a valid proof.
    fn register(&self, sender: &Addr, k: u8, endpoint: &str) -> ExecuteMsg {
        register_with(k, self.proof(k, sender), endpoint)
    }

    /// `sender` rotates to key `k` with a valid proof.
    fn rotate(&self, sender: &Addr, k: u8, until: Timestamp) -> ExecuteMsg {
        rotate_with(k, self.proof(k, sender), until)
    }

    /// Runs `msg`, expects an error mentioning `needle` and no visible change.
    fn refused(&mut self, sender: &Addr, msg: &ExecuteMsg, needle: &str) {
        let before = self.observe();
        let err = format!("{:#}", self.exec(sender, msg).unwrap_err());
        assert!(err.contains(needle), "{msg:?}: {err}");
        assert_eq!(self.observe(), before, "{msg:?} changed state");
    }
}

fn has_wasm_event(res: &cw_multi_test::AppResponse, kind: &str, provider: &Addr) -> bool {
    res.events.iter().any(|e| {
        e.ty == format!("wasm-{kind}")
            && e.attributes
                .iter()
                .any(|a| a.key == "provider" && a.value == provider.as_str())
    })
}

#[test]
fn provider_lifecycle_with_events() {
    let mut w = world();
    let p = w.user("provider-a");
    let res = w.exec(&p, &w.register(&p, 1, "203.0.113.1:4433")).unwrap();
    assert!(
        has_wasm_event(&res, "register_provider", &p),
        "{:?}",
        res.events
    );
    assert!(p.as_str().starts_with("akash1"));
    assert_eq!(w.record(&p).endpoints, vec!["203.0.113.1:4433".to_string()]);

    let res = w
        .exec(
            &p,
            &ExecuteMsg::Update {
                endpoints: None,
                region: None,
                relay: Some(true),
            },
        )
        .unwrap();
    assert!(has_wasm_event(&res, "update_provider", &p));
    assert!(w.record(&p).relay);

    let until = w.now().plus_seconds(3600);
    let res = w.exec(&p, &w.rotate(&p, 2, until)).unwrap();
    assert!(has_wasm_event(&res, "rotate_key", &p));
    let r = w.record(&p);
    assert_eq!(r.overlay_key, key(2));
    assert_eq!(r.previous_key.as_ref().map(|k| k.valid_until), Some(until));

    // Once the chain passes the deadline, the old key disappears from queries.
    w.app.update_block(|b| b.time = b.time.plus_seconds(3600));
    assert_eq!(w.record(&p).previous_key, None);

    let res = w.exec(&p, &ExecuteMsg::Deregister {}).unwrap();
    assert!(has_wasm_event(&res, "deregister_provider", &p));
    assert!(w.all().is_empty());
}

#[test]
fn another_account_cannot_touch_a_providers_record() {
    let mut w = world();
    let victim = w.user("provider-victim");
    let attacker = w.user("attacker");
    w.exec(&victim, &w.register(&victim, 1, "203.0.113.1:4433"))
        .unwrap();
    let victims_proof = w.proof(1, &victim);

    let until = w.now().plus_seconds(60);
    let attacks = [
        ExecuteMsg::Update {
            endpoints: Some(vec!["203.0.113.66:4433".into()]),
            region: None,
            relay: None,
        },
        w.rotate(&attacker, 66, until),
        ExecuteMsg::Deregister {},
        // Claiming the victim's key as its own identity, with the victim's proof.
        register_with(1, victims_proof.clone(), "203.0.113.66:4433"),
    ];
    for attack in &attacks {
        let before = w.observe();
        let msg = format!("{:#}", w.exec(&attacker, attack).unwrap_err());
        assert!(
            msg.contains("not registered") || msg.contains("invalid key proof"),
            "{attack:?}: {msg}"
        );
        assert_eq!(w.observe(), before);
    }

    // Registered under its own key, the attacker still only changes itself
    // and cannot rotate to the victim's key.
    w.exec(&attacker, &w.register(&attacker, 66, "203.0.113.66:4433"))
        .unwrap();
    let before = w.record(&victim);
    w.refused(
        &attacker,
        &rotate_with(1, victims_proof, until),
        "invalid key proof",
    );
    // Even holding the key (a leaked seed), a key in use stays with its owner.
    let leaked = w.rotate(&attacker, 1, until);
    w.refused(&attacker, &leaked, "already used by provider");
    assert_eq!(w.record(&victim), before);
}

// ---- proof of possession: attacks ----

#[test]
fn squatting_a_key_before_its_owner_registers_fails_and_changes_nothing() {
    let mut w = world();
    let owner = w.user("provider-owner");
    let squatter = w.user("squatter");
    let (chain, contract) = (w.chain_id(), w.addr.clone());
    w.exec(&squatter, &w.register(&squatter, 9, "203.0.113.9:4433"))
        .unwrap();
    // The squatter knows the owner's public key but not its private key.
    let forgeries = [
        Binary::default(),
        Binary::new(vec![7; 64]),
        sign_proof(9, 1, &chain, &contract, &squatter),
        sign_proof(9, 1, &chain, &contract, &owner),
    ];
    let other = w.user("squatter-2");
    for sig in forgeries {
        w.refused(
            &other,
            &register_with(1, sig.clone(), "203.0.113.66:4433"),
            "invalid key proof",
        );
        // Nor by rotating its own record to the owner's key.
        let until = w.now().plus_seconds(60);
        w.refused(&squatter, &rotate_with(1, sig, until), "invalid key proof");
    }
    assert_eq!(w.by_key(1), None);
    w.exec(&owner, &w.register(&owner, 1, "203.0.113.1:4433"))
        .unwrap();
    assert_eq!(w.by_key(1).map(|r| r.address), Some(owner));
}

#[test]
fn replaying_a_registration_from_another_sender_fails() {
    let mut w = world();
    let owner = w.user("provider-owner");
    let attacker = w.user("attacker");
    // The attacker copies the owner's message (seen in the mempool) verbatim.
    let owners_msg = w.register(&owner, 1, "203.0.113.1:4433");
    w.refused(&attacker, &owners_msg, "invalid key proof");
    w.exec(&owner, &owners_msg).unwrap();
    // After the owner leaves, the freed key still needs a proof for the new sender.
    w.exec(&owner, &ExecuteMsg::Deregister {}).unwrap();
    w.refused(&attacker, &owners_msg, "invalid key proof");
    w.exec(&owner, &owners_msg).unwrap();
}

#[test]
fn a_proof_for_another_contract_or_chain_fails() {
    let mut w = world();
    let p = w.user("provider-a");
    // A second directory in the same app: a proof made for it is useless here.
    let gov = w.gov.clone();
    let other = w
        .app
        .instantiate_contract(
            w.code_id,
            gov,
            &InstantiateMsg {
                admin: None,
                params: None,
            },
            &[],
            "other-directory",
            None,
        )
        .unwrap();
    let chain = w.chain_id();
    let for_other = sign_proof(1, 1, &chain, &other, &p);
    w.refused(
        &p,
        &register_with(1, for_other.clone(), "203.0.113.1:4433"),
        "invalid key proof",
    );
    w.app
        .execute_contract(
            p.clone(),
            other,
            &register_with(1, for_other, "203.0.113.1:4433"),
            &[],
        )
        .unwrap();
    let for_mainnet = sign_proof(1, 1, "akashnet-2", &w.addr.clone(), &p);
    w.refused(
        &p,
        &register_with(1, for_mainnet, "203.0.113.1:4433"),
        "invalid key proof",
    );
    w.exec(&p, &w.register(&p, 1, "203.0.113.1:4433")).unwrap();
}

#[test]
fn rotate_key_requires_proof_of_the_new_key() {
    let mut w = world();
    let p = w.user("provider-a");
    let attacker = w.user("attacker");
    w.exec(&p, &w.register(&p, 1, "203.0.113.1:4433")).unwrap();
    let (chain, contract) = (w.chain_id(), w.addr.clone());
    let until = w.now().plus_seconds(600);
    for sig in [
        Binary::default(),
        // The current key cannot vouch for a new one.
        sign_proof(1, 2, &chain, &contract, &p),
        sign_proof(2, 2, &chain, &contract, &attacker),
        sign_proof(2, 2, "akashnet-2", &contract, &p),
    ] {
        w.refused(&p, &rotate_with(2, sig, until), "invalid key proof");
    }
    w.exec(&p, &w.rotate(&p, 2, until)).unwrap();
    assert_eq!(w.record(&p).overlay_key, key(2));
}

// ---- endpoints ----

#[test]
fn unusable_endpoints_are_refused_with_their_reason() {
    let mut w = world_with(Some(Params {
        allow_private_endpoints: true,
        ..Params::default()
    }));
    let p = w.user("provider-a");
    for (endpoint, reason) in [
        ("127.0.0.1:4433", "loopback address"),
        ("[::1]:4433", "loopback address"),
        ("169.254.169.254:4433", "link-local address"),
        ("[fe80::1]:4433", "link-local address"),
        ("0.0.0.0:4433", "unspecified address"),
        ("[::]:4433", "unspecified address"),
        ("239.1.2.3:4433", "multicast address"),
        ("[ff05::2]:4433", "multicast address"),
        ("255.255.255.255:4433", "broadcast address"),
        ("203.0.113.1:0", "port 0"),
    ] {
        let msg = w.register(&p, 1, endpoint);
        w.refused(
            &p,
            &msg,
            &format!("endpoint {endpoint} is not usable: {reason}"),
        );
    }
}

#[test]
fn private_endpoints_need_the_governance_param() {
    let mut w = world();
    let p = w.user("provider-a");
    for endpoint in [
        "10.0.0.1:4433",
        "172.16.5.4:4433",
        "192.168.1.1:4433",
        "100.100.0.1:4433",
        "198.18.0.1:4433",
        "[fd00::1]:4433",
    ] {
        let msg = w.register(&p, 1, endpoint);
        w.refused(&p, &msg, &format!("endpoint {endpoint} is in the "));
    }
    let gov = w.gov.clone();
    w.exec(
        &gov,
        &ExecuteMsg::UpdateParams {
            params: Params {
                allow_private_endpoints: true,
                ..Params::default()
            },
        },
    )
    .unwrap();
    w.exec(&p, &w.register(&p, 1, "198.18.0.1:4433")).unwrap();
    assert_eq!(w.record(&p).endpoints, vec!["198.18.0.1:4433".to_string()]);

    // A test chain sets it at instantiation (as the localnet does).
    let mut test_chain = world_with(Some(Params {
        allow_private_endpoints: true,
        ..Params::default()
    }));
    let msg = test_chain.register(&p, 1, "[fd00::1]:4433");
    test_chain.exec(&p, &msg).unwrap();
}

#[test]
fn params_are_admin_only() {
    let mut w = world();
    let attacker = w.user("attacker");
    let tight = Params {
        max_endpoints: 1,
        ..Params::default()
    };
    let err = w
        .exec(
            &attacker,
            &ExecuteMsg::UpdateParams {
                params: tight.clone(),
            },
        )
        .unwrap_err();
    assert!(format!("{err:#}").contains("unauthorized"));
    let err = w
        .exec(
            &attacker,
            &ExecuteMsg::UpdateAdmin {
                admin: attacker.to_string(),
            },
        )
        .unwrap_err();
    assert!(format!("{err:#}").contains("unauthorized"));
    let params: Params = w
        .app
        .wrap()
        .query_wasm_smart(&w.addr, &QueryMsg::Params {})
        .unwrap();
    assert_eq!(params, Params::default());

    let gov = w.gov.clone();
    w.exec(
        &gov,
        &ExecuteMsg::UpdateParams {
            params: tight.clone(),
        },
    )
    .unwrap();
    let params: Params = w
        .app
        .wrap()
        .query_wasm_smart(&w.addr, &QueryMsg::Params {})
        .unwrap();
    assert_eq!(params, tight);
}

#[test]
fn migrate_keeps_records() {
    let mut w = world();
    let p = w.user("provider-a");
    w.exec(&p, &w.register(&p, 1, "203.0.113.1:4433")).unwrap();
    let before = w.all();
    let (gov, addr, code_id) = (w.gov.clone(), w.addr.clone(), w.code_id);
    w.app
        .migrate_contract(gov, addr, &MigrateMsg {}, code_id)
        .unwrap();
    assert_eq!(w.all(), before);
}
