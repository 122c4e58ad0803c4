//! Gas of `add_member` in the real network-registry wasm (cosmwasm-vm) with
//! 10, 1,000 and 10,000 existing members, and the 10,000/10 ratio. IPAM must
//! not scan members, so the ratio should stay ≤ 1.1; exits non-zero if not.
//!
//! Run: `cargo bench -p avpn-vm-tests --bench add_member_gas` (or
//! `cargo test -p avpn-vm-tests --bench add_member_gas` for a debug build).

use avpn_vm_tests::{Gas, VmInstance, artifact, instance, metered};
use cosmwasm_std::{Empty, Response};
use cosmwasm_vm::testing::{MockApi, execute, instantiate, mock_env, mock_info};
use network_registry::msg::{ExecuteMsg, InstantiateMsg, LeaseId};

const CHECKPOINTS: [u32; 3] = [10, 1_000, 10_000];
const MAX_RATIO: f64 = 1.1;

struct Bench {
    vm: VmInstance,
    tenant: String,
    providers: Vec<String>,
    network_id: u64,
    members: u32,
}

impl Bench {
    /// Adds the next member (fixed-width names and lease numbers so every
    /// message has the same size) and returns its gas.
    fn add(&mut self) -> Gas {
        let i = self.members;
        let msg = ExecuteMsg::AddMember {
            network_id: self.network_id,
            name: format!("member-{i:06}"),
            lease: LeaseId {
                owner: self.tenant.clone(),
                dseq: 1_000_000 + u64::from(i),
                gseq: 1,
                oseq: 1,
                provider: self.providers[i as usize % self.providers.len()].clone(),
                bseq: 0,
            },
            tags: vec!["app".into()],
            service: Some("svc".into()),
            ip: None,
            weight: None,
        };
        let info = mock_info(&self.tenant, &[]);
        let (res, gas) = metered(&mut self.vm, |vm| {
            execute::<_, _, _, _, Empty>(vm, mock_env(), info, msg)
        });
        res.into_result()
            .unwrap_or_else(|e| panic!("add_member #{i} failed: {e}"));
        self.members += 1;
        gas
    }
}

fn main() {
    let wasm = artifact("network_registry");
    let api = MockApi::default();
    let mut bench = Bench {
        vm: instance(&wasm),
        tenant: api.addr_make("tenant"),
        providers: (0..4)
            .map(|i| api.addr_make(&format!("provider-{i}")))
            .collect(),
        network_id: 0,
        members: 0,
    };
    let gov = api.addr_make("gov");
    instantiate::<_, _, _, _, Empty>(
        &mut bench.vm,
        mock_env(),
        mock_info(&gov, &[]),
        InstantiateMsg {
            admin: None,
            params: None,
        },
    )
    .into_result()
    .expect("instantiate");
    let res: Response<Empty> = execute(
        &mut bench.vm,
        mock_env(),
        mock_info(&bench.tenant, &[]),
        ExecuteMsg::CreateNetwork {
            name: "bench".into(),
            cidr: "100.64.0.0/16".into(),
            cidr6: None,
            default_action: None,
            tags: vec!["app".into()],
            start_time: None,
            end_time: None,
        },
    )
    .into_result()
    .expect("create_network");
    bench.network_id = res
        .events
        .iter()
        .flat_map(|e| &e.attributes)
        .find(|a| a.key == "network_id")
        .expect("network_id attribute")
        .value
        .parse()
        .expect("numeric network_id");

    let mut figures = Vec::new();
    for n in CHECKPOINTS {
        while bench.members < n {
            bench.add();
        }
        let gas = bench.add();
        println!("add_member with {n:>6} existing members: gas {gas}");
        figures.push(gas);
    }
    let (first, last) = (figures[0], figures[figures.len() - 1]);
    let ratio = last.total() as f64 / first.total() as f64;
    let vm_ratio = last.internal as f64 / first.internal as f64;
    println!(
        "ratio {}/{}: {ratio:.4} (vm only {vm_ratio:.4}; target <= {MAX_RATIO})",
        CHECKPOINTS[2], CHECKPOINTS[0]
    );
    if ratio > MAX_RATIO {
        eprintln!("add_member gas grows with the member count: ratio {ratio:.4} > {MAX_RATIO}");
        std::process::exit(1);
    }
}
