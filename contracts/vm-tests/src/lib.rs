//! Runs the real contract artifacts (`contracts/artifacts/*.wasm`, built by
//! `contracts/scripts/build-wasm.sh`) in-process in `cosmwasm-vm`, with the
//! capabilities Akash offers, and measures gas: CosmWasm gas as the VM
//! meters it ([`metered`]) and, with [`SdkStorage`], an estimate of the
//! Cosmos SDK gas a transaction or smart query would use on chain
//! ([`sdk_metered`], constants in [`sdk_gas`]).

use std::cell::Cell;
use std::collections::HashSet;
use std::path::PathBuf;

use cosmwasm_std::{Event, Order, Record};
use cosmwasm_vm::internals::{Logger, check_wasm};
use cosmwasm_vm::testing::{
    MockApi, MockInstanceOptions, MockQuerier, MockStorage, mock_instance_with_options,
};
use cosmwasm_vm::{
    Backend, BackendResult, GasInfo, Instance, InstanceOptions, Storage, WasmLimits,
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

/// How a chain charges a contract call, in Cosmos SDK gas: wasmd's gas
/// register (`x/wasm/types/gas_register.go`, wasmd 0.5x–0.61 with wasmvm
/// 2/3, the generation Akash runs) and the SDK's KV store costs
/// (`store/types/gas.go`, `KVGasConfig`), which the SDK charges for every
/// storage access of the contract.
pub mod sdk_gas {
    /// CosmWasm gas per SDK gas (`DefaultGasMultiplier`).
    pub const GAS_MULTIPLIER: u64 = 140_000;
    /// Loading the contract instance (`DefaultInstanceCost`; pinned code
    /// is cheaper, so this is the worst case).
    pub const INSTANCE_COST: u64 = 60_000;
    /// Per custom event (`DefaultPerCustomEventCost`).
    pub const PER_CUSTOM_EVENT_COST: u64 = 20;
    /// Per event attribute (`DefaultPerAttributeCost`).
    pub const PER_ATTRIBUTE_COST: u64 = 10;
    /// Per byte of attribute keys and values beyond the free tier
    /// (`DefaultEventAttributeDataCost`, `DefaultEventAttributeDataFreeTier`).
    pub const ATTRIBUTE_DATA_COST: u64 = 1;
    pub const ATTRIBUTE_DATA_FREE_TIER: u64 = 100;
    /// KV store: `HasCost`, `DeleteCost`, `ReadCostFlat`, `ReadCostPerByte`,
    /// `WriteCostFlat`, `WriteCostPerByte`, `IterNextCostFlat`.
    pub const HAS_COST: u64 = 1_000;
    pub const DELETE_COST: u64 = 1_000;
    pub const READ_COST_FLAT: u64 = 1_000;
    pub const READ_COST_PER_BYTE: u64 = 3;
    pub const WRITE_COST_FLAT: u64 = 2_000;
    pub const WRITE_COST_PER_BYTE: u64 = 30;
    pub const ITER_NEXT_COST_FLAT: u64 = 30;
    /// Bytes wasmd puts before every contract key (0x03 and the 32-byte
    /// contract address); the KV gas meter sees them.
    pub const CONTRACT_KEY_PREFIX: u64 = 33;

    /// Budget this project asserts for one execute: 10M SDK gas. The block
    /// gas limit is not a useful bound (wasmd's default, which the localnet
    /// keeps, is unlimited), so the bound is what a tenant can pay and a
    /// validator will include: 10M gas at the 0.025uakt minimum gas price
    /// is 0.25 AKT, and is far above any single message of this contract
    /// except the bounded batch operations measured against it.
    pub const TX_BUDGET: u64 = 10_000_000;
    /// wasmd's default gas limit of a smart query (`query_gas_limit` in
    /// app.toml, `DefaultSmartQueryGasLimit`), which Akash nodes keep and
    /// the relayer's page sizes are chosen for.
    pub const QUERY_LIMIT: u64 = 3_000_000;
}

/// Mock storage that also meters what the Cosmos SDK's KV gas meter would
/// charge (keys seen with wasmd's contract prefix) and reports it to the VM
/// as externally used gas, in CosmWasm gas. Iteration is charged per
/// returned record (flat plus key and value bytes), like the SDK's gas
/// iterator charges each step.
#[derive(Default)]
pub struct SdkStorage {
    inner: MockStorage,
    kv_gas: Cell<u64>,
}

impl SdkStorage {
    /// SDK gas charged so far.
    pub fn kv_gas(&self) -> u64 {
        self.kv_gas.get()
    }

    /// Writes records without charging gas (to load a prepared state).
    pub fn load(&mut self, records: impl IntoIterator<Item = Record>) {
        for (k, v) in records {
            self.inner.set(&k, &v).0.expect("mock storage write");
        }
    }

    /// Every record, in key order, without charging gas.
    pub fn records(&mut self) -> Vec<Record> {
        let id = self.inner.scan(None, None, Order::Ascending).0.unwrap();
        self.inner.all(id).0.unwrap()
    }

    fn charge<T>(&self, out: BackendResult<T>, sdk: u64) -> BackendResult<T> {
        self.kv_gas.set(self.kv_gas.get() + sdk);
        (
            out.0,
            GasInfo::with_externally_used(sdk * sdk_gas::GAS_MULTIPLIER),
        )
    }
}

fn key_len(key: &[u8]) -> u64 {
    key.len() as u64 + sdk_gas::CONTRACT_KEY_PREFIX
}

impl Storage for SdkStorage {
    fn get(&self, key: &[u8]) -> BackendResult<Option<Vec<u8>>> {
        let out = self.inner.get(key);
        let value_len = match &out.0 {
            Ok(Some(v)) => v.len() as u64,
            _ => 0,
        };
        let sdk =
            sdk_gas::READ_COST_FLAT + sdk_gas::READ_COST_PER_BYTE * (key_len(key) + value_len);
        self.charge(out, sdk)
    }

    fn scan(
        &mut self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        order: Order,
    ) -> BackendResult<u32> {
        let out = self.inner.scan(start, end, order);
        self.charge(out, sdk_gas::ITER_NEXT_COST_FLAT)
    }

    fn next(&mut self, iterator_id: u32) -> BackendResult<Option<Record>> {
        let out = self.inner.next(iterator_id);
        let sdk = match &out.0 {
            Ok(Some((k, v))) => {
                sdk_gas::ITER_NEXT_COST_FLAT
                    + sdk_gas::READ_COST_PER_BYTE * (key_len(k) + v.len() as u64)
            }
            _ => 0,
        };
        self.charge(out, sdk)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> BackendResult<()> {
        let out = self.inner.set(key, value);
        let sdk = sdk_gas::WRITE_COST_FLAT
            + sdk_gas::WRITE_COST_PER_BYTE * (key_len(key) + value.len() as u64);
        self.charge(out, sdk)
    }

    fn remove(&mut self, key: &[u8]) -> BackendResult<()> {
        let out = self.inner.remove(key);
        self.charge(out, sdk_gas::DELETE_COST)
    }
}

/// A VM instance over [`SdkStorage`].
pub type SdkInstance = Instance<MockApi, SdkStorage, MockQuerier>;

/// Like [`instance`], with [`SdkStorage`].
pub fn sdk_instance(wasm: &[u8]) -> SdkInstance {
    let capabilities: HashSet<String> = AKASH_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    check_wasm(wasm, &capabilities, &WasmLimits::default(), Logger::Off)
        .expect("artifact fails the chain's checks");
    let backend = Backend {
        api: MockApi::default(),
        storage: SdkStorage::default(),
        querier: MockQuerier::new(&[]),
    };
    let options = InstanceOptions {
        gas_limit: INSTANCE_GAS_LIMIT,
    };
    let memory_limit = MockInstanceOptions::default().memory_limit;
    Instance::from_code(wasm, backend, options, memory_limit).expect("instance")
}

/// What one call costs on chain, in SDK gas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkGas {
    /// CosmWasm gas of the Wasm execution and host calls.
    pub vm: u64,
    /// KV store gas.
    pub kv: u64,
    /// Event gas (executes only).
    pub events: u64,
    /// Instance loading (executes and queries alike).
    pub instance: u64,
}

impl SdkGas {
    /// Execution in SDK gas (rounded up).
    pub fn vm_sdk(&self) -> u64 {
        self.vm.div_ceil(sdk_gas::GAS_MULTIPLIER)
    }

    /// Everything the call adds to the transaction's (or query's) gas meter.
    pub fn total(&self) -> u64 {
        self.vm_sdk() + self.kv + self.events + self.instance
    }
}

impl std::fmt::Display for SdkGas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} SDK gas (kv {} + vm {} [{} CosmWasm gas] + events {} + instance {})",
            self.total(),
            self.kv,
            self.vm_sdk(),
            self.vm,
            self.events,
            self.instance
        )
    }
}

/// wasmd's charge for the events (and top-level attributes) of a response.
pub fn event_gas(attributes: &[cosmwasm_std::Attribute], events: &[Event]) -> u64 {
    fn attrs(list: &[cosmwasm_std::Attribute]) -> u64 {
        let bytes: u64 = list
            .iter()
            .map(|a| (a.key.len() + a.value.len()) as u64)
            .sum();
        bytes.saturating_sub(sdk_gas::ATTRIBUTE_DATA_FREE_TIER) * sdk_gas::ATTRIBUTE_DATA_COST
            + list.len() as u64 * sdk_gas::PER_ATTRIBUTE_COST
    }
    attrs(attributes)
        + events
            .iter()
            .map(|e| sdk_gas::PER_CUSTOM_EVENT_COST + attrs(&e.attributes))
            .sum::<u64>()
}

/// Runs `call` on `inst`; returns its result and its SDK gas without the
/// event part (add [`event_gas`] of an execute's response).
pub fn sdk_metered<T>(
    inst: &mut SdkInstance,
    call: impl FnOnce(&mut SdkInstance) -> T,
) -> (T, SdkGas) {
    let before = inst.create_gas_report();
    let kv_before = inst
        .with_storage(|s| Ok(s.kv_gas()))
        .expect("storage access");
    let out = call(inst);
    let after = inst.create_gas_report();
    let kv_after = inst
        .with_storage(|s| Ok(s.kv_gas()))
        .expect("storage access");
    let gas = SdkGas {
        vm: after.used_internally - before.used_internally,
        kv: kv_after - kv_before,
        events: 0,
        instance: sdk_gas::INSTANCE_COST,
    };
    (out, gas)
}
