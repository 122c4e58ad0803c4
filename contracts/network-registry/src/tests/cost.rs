//! The cost of `add_member` does not grow with the network: the number of
//! storage operations (reads, writes, deletes, range steps) is counted at 10,
//! 1,000 and 10,000 members and must be identical.

use std::cell::Cell;

use cosmwasm_std::testing::{MockApi, MockQuerier, MockStorage, message_info};
use cosmwasm_std::{Order, OwnedDeps, Record, Storage};

use super::*;

/// Storage that counts every operation.
#[derive(Default)]
struct Counting {
    inner: MockStorage,
    ops: Cell<u64>,
}

impl Storage for Counting {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.ops.set(self.ops.get() + 1);
        self.inner.get(key)
    }

    fn range<'a>(
        &'a self,
        start: Option<&[u8]>,
        end: Option<&[u8]>,
        order: Order,
    ) -> Box<dyn Iterator<Item = Record> + 'a> {
        self.ops.set(self.ops.get() + 1);
        Box::new(self.inner.range(start, end, order).inspect(|_| {
            self.ops.set(self.ops.get() + 1);
        }))
    }

    fn set(&mut self, key: &[u8], value: &[u8]) {
        self.ops.set(self.ops.get() + 1);
        self.inner.set(key, value)
    }

    fn remove(&mut self, key: &[u8]) {
        self.ops.set(self.ops.get() + 1);
        self.inner.remove(key)
    }
}

/// Storage operations of adding one more member (a released address
/// waiting or not) to a network of `n` members, with names of equal length.
fn ops_at(n: u32, with_released: bool) -> u64 {
    let mut deps = OwnedDeps {
        storage: Counting::default(),
        api: MockApi::default().with_prefix("akash"),
        querier: MockQuerier::default(),
        custom_query_type: std::marker::PhantomData::<Empty>,
    };
    let owner = deps.api.addr_make("tenant");
    let p1 = deps.api.addr_make("provider-1");
    let gov = deps.api.addr_make("gov");
    let env = env_at(T0);
    instantiate(
        deps.as_mut(),
        env.clone(),
        message_info(&gov, &[]),
        InstantiateMsg {
            admin: None,
            params: None,
        },
    )
    .unwrap();
    let run = |deps: &mut OwnedDeps<Counting, MockApi, MockQuerier>, msg| {
        execute(deps.as_mut(), env.clone(), message_info(&owner, &[]), msg).unwrap();
    };
    run(&mut deps, create_msg("big", "100.64.0.0/16"));
    for i in 0..n {
        run(&mut deps, add_msg(1, &format!("m{i:06}"), 1, &p1, &["web"]));
    }
    if with_released {
        run(
            &mut deps,
            ExecuteMsg::RemoveMember {
                network_id: 1,
                name: format!("m{:06}", n / 2),
            },
        );
    }
    deps.storage.ops.set(0);
    run(&mut deps, add_msg(1, "zzzzzzz", 1, &p1, &["web"]));
    deps.storage.ops.get()
}

#[test]
fn add_member_cost_is_independent_of_network_size() {
    for with_released in [false, true] {
        let small = ops_at(10, with_released);
        assert!(small > 5, "counted {small}");
        eprintln!(
            "add_member storage operations (released address waiting: {with_released}): {small}"
        );
        assert_eq!(small, ops_at(1_000, with_released), "1,000 vs 10");
        assert_eq!(small, ops_at(10_000, with_released), "10,000 vs 10");
    }
}
