//! cw-multi-test scenarios: the contract behind a bank/wasm app with real
//! bech32 `akash` addresses, driven the way a provider's relayer and the
//! governance admin would, including attacks from other accounts.

use cosmwasm_std::{Addr, Binary, Empty, Timestamp};
use cw_multi_test::{App, AppBuilder, Contract, ContractWrapper, Executor, MockApiBech32, no_init};
use provider_directory::contract::{execute, instantiate, migrate, query};
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
                params: None,
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

    fn now(&self) -> Timestamp {
        self.app.block_info().time
    }
}

fn register(k: u8, endpoint: &str) -> ExecuteMsg {
    ExecuteMsg::Register {
        overlay_key: Binary::new(vec![k; 32]),
        endpoints: vec![endpoint.to_string()],
        region: Some("us-west".into()),
        relay: false,
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
    let res = w.exec(&p, &register(1, "198.18.1.1:4433")).unwrap();
    assert!(
        has_wasm_event(&res, "register_provider", &p),
        "{:?}",
        res.events
    );
    assert!(p.as_str().starts_with("akash1"));
    assert_eq!(w.record(&p).endpoints, vec!["198.18.1.1:4433".to_string()]);

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
    let res = w
        .exec(
            &p,
            &ExecuteMsg::RotateKey {
                new_key: Binary::new(vec![2; 32]),
                overlap_until: until,
            },
        )
        .unwrap();
    assert!(has_wasm_event(&res, "rotate_key", &p));
    let r = w.record(&p);
    assert_eq!(r.overlay_key, Binary::new(vec![2; 32]));
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
    w.exec(&victim, &register(1, "198.18.1.1:4433")).unwrap();
    let before = w.all();

    let until = w.now().plus_seconds(60);
    let attacks = [
        ExecuteMsg::Update {
            endpoints: Some(vec!["203.0.113.66:4433".into()]),
            region: None,
            relay: None,
        },
        ExecuteMsg::RotateKey {
            new_key: Binary::new(vec![66; 32]),
            overlap_until: until,
        },
        ExecuteMsg::Deregister {},
        // Claiming the victim's key as its own identity.
        register(1, "203.0.113.66:4433"),
    ];
    for attack in &attacks {
        let err = w.exec(&attacker, attack).unwrap_err();
        let msg = format!("{:#}", err);
        assert!(
            msg.contains("not registered") || msg.contains("already used"),
            "{attack:?}: {msg}"
        );
    }
    assert_eq!(w.all(), before);

    // Registered under its own key, the attacker still only changes itself.
    w.exec(&attacker, &register(66, "203.0.113.66:4433"))
        .unwrap();
    let err = w
        .exec(
            &attacker,
            &ExecuteMsg::RotateKey {
                new_key: Binary::new(vec![1; 32]),
                overlap_until: until,
            },
        )
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("already used by provider"),
        "{err:#}"
    );
    assert_eq!(w.record(&victim), before[0]);
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
    w.exec(&p, &register(1, "198.18.1.1:4433")).unwrap();
    let before = w.all();
    let (gov, addr, code_id) = (w.gov.clone(), w.addr.clone(), w.code_id);
    w.app
        .migrate_contract(gov, addr, &MigrateMsg {}, code_id)
        .unwrap();
    assert_eq!(w.all(), before);
}
