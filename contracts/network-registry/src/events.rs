//! The event every network-scoped execute emits: type `<action>` (the chain
//! shows `wasm-<action>`) with `network_id`, the new `revision` and
//! `providers`, the comma-separated sorted addresses of the providers whose
//! hosted members or authorization the message touched (every provider of
//! the network on close). Relayers of the network also react to any event
//! carrying its `network_id`.

use cosmwasm_std::Event;

use crate::providers::Touched;
use crate::state::Network;

/// Builds the event of `action` on `net` (after the change).
pub fn network(action: &str, net: &Network, providers: &Touched) -> Event {
    let providers: Vec<&str> = providers.iter().map(|a| a.as_str()).collect();
    Event::new(action)
        .add_attribute("network_id", net.id.to_string())
        .add_attribute("revision", net.revision.to_string())
        .add_attribute("providers", providers.join(","))
}
