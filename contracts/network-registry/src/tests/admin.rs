//! instantiate, update_params, update_admin, migrate.

use cosmwasm_std::testing::message_info;

use super::*;
use crate::assert_err;
use crate::contract::{CONTRACT_NAME, CONTRACT_VERSION, migrate};
use crate::msg::{AdminResponse, MigrateMsg};

#[test]
fn instantiate_defaults() {
    let s = setup();
    let admin: AdminResponse = s.q(QueryMsg::Admin {}).unwrap();
    assert_eq!(admin.admin, s.gov);
    let params: Params = s.q(QueryMsg::Params {}).unwrap();
    assert_eq!(params, Params::default());
    let v = cw2::get_contract_version(&s.deps.storage).unwrap();
    assert_eq!(v.contract, CONTRACT_NAME);
    assert_eq!(v.version, CONTRACT_VERSION);
}

#[test]
fn instantiate_rejects_bad_params_and_admin() {
    let mut deps = fresh_deps();
    let sender = deps.api.addr_make("deployer");
    for (admin, params) in [
        (Some("nope".to_string()), None),
        (
            None,
            Some(Params {
                max_ipv4_prefix: 31,
                ..Params::default()
            }),
        ),
    ] {
        let mut fresh = fresh_deps();
        let res = instantiate(
            fresh.as_mut(),
            env_at(T0),
            message_info(&sender, &[]),
            InstantiateMsg { admin, params },
        );
        assert!(res.is_err());
        assert!(snapshot(&fresh.storage).is_empty());
    }
    // Explicit admin.
    let gov2 = deps.api.addr_make("gov2");
    instantiate(
        deps.as_mut(),
        env_at(T0),
        message_info(&sender, &[]),
        InstantiateMsg {
            admin: Some(gov2.to_string()),
            params: None,
        },
    )
    .unwrap();
    let admin: AdminResponse =
        from_json(query(deps.as_ref(), env_at(T0), QueryMsg::Admin {}).unwrap()).unwrap();
    assert_eq!(admin.admin, gov2);
}

#[test]
fn params_and_admin_updates_are_admin_only_and_validated() {
    let mut s = setup();
    let (gov, owner, mallory) = (s.gov.clone(), s.owner.clone(), s.mallory.clone());
    let tight = Params {
        max_networks_per_owner: 1,
        ..Params::default()
    };
    assert_err!(
        s.reject(
            &mallory,
            ExecuteMsg::UpdateParams {
                params: tight.clone()
            }
        ),
        ContractError::Unauthorized
    );
    let invalid = [
        Params {
            max_query_limit: 0,
            ..Params::default()
        },
        Params {
            default_query_limit: 101,
            ..Params::default()
        },
        Params {
            min_ipv4_prefix: 24,
            max_ipv4_prefix: 20,
            ..Params::default()
        },
        Params {
            max_ipv6_prefix: 127,
            ..Params::default()
        },
        Params {
            max_name_len: 0,
            ..Params::default()
        },
        Params {
            max_members_per_network: 0,
            ..Params::default()
        },
    ];
    for params in invalid {
        assert_err!(
            s.reject(&gov, ExecuteMsg::UpdateParams { params }),
            ContractError::InvalidParams(_)
        );
    }
    let res = s.ok(
        &gov,
        ExecuteMsg::UpdateParams {
            params: tight.clone(),
        },
    );
    assert_eq!(event(&res).ty, "update_params");
    assert_eq!(s.q::<Params>(QueryMsg::Params {}).unwrap(), tight);
    s.net();
    assert_err!(
        s.reject(&owner, create_msg("second", "100.64.0.0/24")),
        ContractError::TooManyNetworks(1)
    );
    // Admin handover.
    assert_err!(
        s.reject(
            &mallory,
            ExecuteMsg::UpdateAdmin {
                admin: mallory.to_string()
            }
        ),
        ContractError::Unauthorized
    );
    assert_err!(
        s.reject(
            &gov,
            ExecuteMsg::UpdateAdmin {
                admin: "bad".into()
            }
        ),
        ContractError::InvalidAddress(_)
    );
    s.ok(
        &gov,
        ExecuteMsg::UpdateAdmin {
            admin: owner.to_string(),
        },
    );
    assert_err!(
        s.reject(
            &gov,
            ExecuteMsg::UpdateParams {
                params: Params::default()
            }
        ),
        ContractError::Unauthorized
    );
    s.ok(
        &owner,
        ExecuteMsg::UpdateParams {
            params: Params::default(),
        },
    );
}

#[test]
fn migrate_checks_name_and_version() {
    let mut s = setup();
    s.net();
    let res = migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    assert_eq!(res.events[0].ty, "migrate");
    // Data survives.
    assert_eq!(s.network(1).name, "demo");
    cw2::set_contract_version(&mut s.deps.storage, "crates.io:other", "0.0.1").unwrap();
    assert_err!(
        migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap_err(),
        ContractError::CannotMigrate { .. }
    );
    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "99.0.0").unwrap();
    assert_err!(
        migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap_err(),
        ContractError::CannotMigrate { .. }
    );
    cw2::set_contract_version(&mut s.deps.storage, CONTRACT_NAME, "0.0.1").unwrap();
    migrate(s.deps.as_mut(), env_at(T0), MigrateMsg {}).unwrap();
    let v = cw2::get_contract_version(&s.deps.storage).unwrap();
    assert_eq!(v.version, CONTRACT_VERSION);
}
