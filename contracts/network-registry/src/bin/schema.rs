//! Writes the contract's JSON Schema (IDL) to `schema/network-registry/`
//! at the workspace root, or to the directory given as the only argument.

use std::fs;
use std::path::PathBuf;

use cosmwasm_schema::generate_api;
use network_registry::msg::{ExecuteMsg, InstantiateMsg, MigrateMsg, QueryMsg};

fn main() {
    let out: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schema/network-registry")
        });
    let api = generate_api! {
        instantiate: InstantiateMsg,
        execute: ExecuteMsg,
        query: QueryMsg,
        migrate: MigrateMsg,
    }
    .render();
    if out.exists() {
        fs::remove_dir_all(&out).expect("remove old schema");
    }
    fs::create_dir_all(out.join("raw")).expect("create schema dir");
    let out = out.canonicalize().expect("schema dir path");
    let raw = out.join("raw");
    let full = out.join("network-registry.json");
    fs::write(&full, api.to_string().expect("render schema") + "\n").expect("write schema");
    println!("wrote {}", full.display());
    for (name, json) in api.to_schema_files().expect("render schema files") {
        fs::write(raw.join(&name), json + "\n").expect("write schema file");
        println!("wrote {}", raw.join(name).display());
    }
}
