//! Runs the README's tenant examples (the `sh akash-example` blocks between
//! the tenant-examples markers) in order against the contract in
//! cw-multi-test: each `akash tx wasm execute` must succeed from the account
//! named by `--from`, each query must answer. The localnet test runs the
//! same blocks against a real chain; this one catches a broken example
//! without a chain.

use std::collections::HashMap;

use cosmwasm_std::{Addr, Empty, QueryRequest, WasmQuery, to_json_binary};
use cw_multi_test::{AppBuilder, ContractWrapper, Executor, MockApiBech32, no_init};
use network_registry::contract::{execute, instantiate, query};
use network_registry::msg::{
    ExecuteMsg, InstantiateMsg, MembersResponse, NetworkResponse, NetworkStatus, QueryMsg,
};

const README: &str = include_str!("../../../README.md");

/// One `akash` command of an example.
#[derive(Debug)]
enum Command {
    Tx { from: String, json: String },
    Query { json: String },
}

fn region() -> &'static str {
    let start = README
        .find("<!-- tenant-examples:begin -->")
        .expect("begin marker");
    let end = README
        .find("<!-- tenant-examples:end -->")
        .expect("end marker");
    &README[start..end]
}

/// The bodies of the fenced blocks with exactly this info string.
fn blocks(info: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in region().lines() {
        match &mut current {
            None if line.trim_end() == format!("```{info}") => current = Some(String::new()),
            Some(body) if line.starts_with("```") => {
                out.push(std::mem::take(body));
                current = None;
            }
            Some(body) => {
                body.push_str(line);
                body.push('\n');
            }
            None => {}
        }
    }
    out
}

/// Splits a block into commands and resolves `'"$VAR"'` splices.
fn commands(block: &str, vars: &HashMap<&str, String>) -> Vec<Command> {
    let mut out = Vec::new();
    for cmd in block
        .split("\nakash ")
        .map(|c| c.trim_start_matches("akash "))
    {
        let cmd = cmd.trim();
        if cmd.is_empty() {
            continue;
        }
        let open = cmd.find(" '").expect("JSON argument") + 2;
        let (tail, is_tx) = if let Some(i) = cmd.rfind("' --from ") {
            (i, true)
        } else {
            (cmd.rfind("' $Q_FLAGS").expect("$Q_FLAGS"), false)
        };
        let mut json = cmd[open..tail].to_string();
        for (name, value) in vars {
            json = json.replace(&format!("'\"${name}\"'"), value);
        }
        assert!(!json.contains('\''), "unresolved splice in {json}");
        assert!(cmd.contains("\"$REGISTRY\""), "{cmd}");
        if is_tx {
            assert!(cmd.starts_with("tx wasm execute"), "{cmd}");
            assert!(cmd.trim_end().ends_with("$TX_FLAGS"), "{cmd}");
            let from = cmd[tail + 9..].split_whitespace().next().unwrap();
            out.push(Command::Tx {
                from: from.to_string(),
                json,
            });
        } else {
            assert!(cmd.starts_with("q wasm contract-state smart"), "{cmd}");
            out.push(Command::Query { json });
        }
    }
    out
}

#[test]
fn readme_examples_run_in_order() {
    let mut app = AppBuilder::default()
        .with_api(MockApiBech32::new("akash"))
        .build(no_init);
    let code = app.store_code(Box::new(ContractWrapper::<_, _, _, _, _, _, Empty>::new(
        execute,
        instantiate,
        query,
    )));
    let gov = app.api().addr_make("gov");
    let registry = app
        .instantiate_contract(
            code,
            gov,
            &InstantiateMsg {
                admin: None,
                params: None,
            },
            &[],
            "registry",
            None,
        )
        .unwrap();
    let accounts: HashMap<&str, Addr> = [
        "tenant",
        "tenant-b",
        "provider-1",
        "provider-2",
        "provider-3",
    ]
    .into_iter()
    .map(|n| (n, app.api().addr_make(n)))
    .collect();
    let vars: HashMap<&str, String> = [
        ("TENANT", "tenant"),
        ("TENANT_B", "tenant-b"),
        ("PROVIDER_1", "provider-1"),
        ("PROVIDER_2", "provider-2"),
        ("PROVIDER_3", "provider-3"),
    ]
    .into_iter()
    .map(|(v, n)| (v, accounts[n].to_string()))
    .collect();

    let examples = blocks("sh akash-example");
    assert!(examples.len() >= 15, "only {} examples", examples.len());
    let mut seen = std::collections::BTreeSet::new();
    for (i, block) in examples.iter().enumerate() {
        for cmd in commands(block, &vars) {
            match cmd {
                Command::Tx { from, json } => {
                    let msg: ExecuteMsg = cosmwasm_std::from_json(json.as_bytes())
                        .unwrap_or_else(|e| panic!("example {}: {e}: {json}", i + 1));
                    let action = json[2..].split('"').next().unwrap().to_string();
                    seen.insert(action);
                    app.execute_contract(
                        accounts[from.as_str()].clone(),
                        registry.clone(),
                        &msg,
                        &[],
                    )
                    .unwrap_or_else(|e| panic!("example {}: {e:#}: {json}", i + 1));
                }
                Command::Query { json } => {
                    let msg: QueryMsg = cosmwasm_std::from_json(json.as_bytes())
                        .unwrap_or_else(|e| panic!("example {}: {e}: {json}", i + 1));
                    let _: serde_json::Value = app
                        .wrap()
                        .query(&QueryRequest::Wasm(WasmQuery::Smart {
                            contract_addr: registry.to_string(),
                            msg: to_json_binary(&msg).unwrap(),
                        }))
                        .unwrap_or_else(|e| panic!("example {}: {e:#}: {json}", i + 1));
                }
            }
            // Check the state the prose promises just before closing.
            if seen.contains("remove_member") && !seen.contains("close_network") {
                let members: MembersResponse = app
                    .wrap()
                    .query_wasm_smart(
                        &registry,
                        &QueryMsg::Members {
                            network_id: 1,
                            start_after: None,
                            limit: None,
                        },
                    )
                    .unwrap();
                let ips: Vec<(String, String)> = members
                    .members
                    .into_iter()
                    .map(|m| (m.name, m.ip))
                    .collect();
                assert_eq!(
                    ips,
                    vec![
                        ("db-primary".to_string(), "100.64.0.10".to_string()),
                        ("web-1".into(), "100.64.0.2".into())
                    ]
                );
            }
        }
    }
    // Every tenant message is documented (claim, remove_participant and
    // leave_network in the manual block).
    for action in [
        "create_network",
        "update_network",
        "close_network",
        "purge_network",
        "add_member",
        "rebind_member",
        "remove_member",
        "set_policy",
        "apply_manifest",
        "authorize_provider",
        "revoke_provider",
        "create_invitation",
        "revoke_invitation",
    ] {
        assert!(seen.contains(action), "no example of {action}");
    }
    let manual = blocks("sh akash-example-manual").join("\n");
    for action in ["claim_invitation", "remove_participant", "leave_network"] {
        assert!(manual.contains(action), "no manual example of {action}");
    }
    let net: NetworkResponse = app
        .wrap()
        .query_wasm_smart(&registry, &QueryMsg::Network { network_id: 1 })
        .unwrap();
    assert_eq!(net.status, NetworkStatus::Closed);
}
