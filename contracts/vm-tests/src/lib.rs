//! Runs the real contract artifacts (`contracts/artifacts/*.wasm`, built by
//! `contracts/scripts/build-wasm.sh`) in-process in `cosmwasm-vm`, with the
//! capabilities Akash offers, and measures gas.

use std::collections::HashSet;
use std::path::PathBuf;

use cosmwasm_vm::Instance;
use cosmwasm_vm::testing::{
    MockApi, MockInstanceOptions, MockQuerier, MockStorage, mock_instance_with_options,
};

/// What an Akash node offers (wasmd with CosmWasm 2.2; no `cosmwasm_3_0`).
pub const AKASH_CAPABILITIES: &[&str] = &[
    "iterator",
    "staking",
    "stargate",
    "cosmwasm_1_1",
    "cosmwasm_1_2",
    "cosmwasm_1_3",
    "cosmwasm_1_4",
    "cosmwasm_2_0",
    "cosmwasm_2_1",
    "cosmwasm_2_2",
];

/// Gas budget of one instance across all its calls (CosmWasm gas); far above
/// what the tests use so populating thousands of records never runs out.
pub const INSTANCE_GAS_LIMIT: u64 = u64::MAX / 4;

/// The VM instance type the helpers build.
pub type VmInstance = Instance<MockApi, MockStorage, MockQuerier>;

/// Reads `contracts/artifacts/<name>.wasm`; panics with the command to run
/// when it is missing.
pub fn artifact(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../artifacts")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run contracts/scripts/build-wasm.sh first",
            path.display()
        )
    })
}

/// A fresh instance of `wasm` (checked against [`AKASH_CAPABILITIES`]) with
/// mock storage, API (`cosmwasm` bech32 prefix) and querier.
pub fn instance(wasm: &[u8]) -> VmInstance {
    mock_instance_with_options(
        wasm,
        MockInstanceOptions {
            available_capabilities: AKASH_CAPABILITIES
                .iter()
                .map(|c| c.to_string())
                .collect::<HashSet<_>>(),
            gas_limit: INSTANCE_GAS_LIMIT,
            ..MockInstanceOptions::default()
        },
    )
}

/// Gas of one call, in CosmWasm gas units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gas {
    /// Wasm execution and host API calls, metered by the VM.
    pub internal: u64,
    /// Storage access as metered by the (mock) backend; on chain the SDK's
    /// KV store charges this instead.
    pub external: u64,
}

impl Gas {
    pub fn total(&self) -> u64 {
        self.internal + self.external
    }
}

impl std::fmt::Display for Gas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (vm {} + storage {})",
            self.total(),
            self.internal,
            self.external
        )
    }
}

/// Runs `call` on `inst` and returns its result and the gas it used.
pub fn metered<T>(inst: &mut VmInstance, call: impl FnOnce(&mut VmInstance) -> T) -> (T, Gas) {
    let before = inst.create_gas_report();
    let out = call(inst);
    let after = inst.create_gas_report();
    let gas = Gas {
        internal: after.used_internally - before.used_internally,
        external: after.used_externally - before.used_externally,
    };
    (out, gas)
}
