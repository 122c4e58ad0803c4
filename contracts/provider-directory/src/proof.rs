//! Proof of possession of an overlay key: the key signs (ed25519) a message
//! naming the chain, this contract and the sender, so nobody can publish a
//! key whose private half it does not hold, and a proof copied from another
//! sender, contract or chain does not verify.

use cosmwasm_std::{Addr, Api, Binary, Env};

use crate::error::ContractError;
use crate::state::OverlayKey;

/// The bytes an overlay key signs to be registered or rotated in by `sender`:
/// the UTF-8 of `avpn-provider-key/v1/{chain_id}/{contract}/{sender}/{hex(key)}`
/// (lower-case hex).
pub fn key_proof_bytes(chain_id: &str, contract: &str, sender: &str, key: &[u8]) -> Vec<u8> {
    let mut msg = format!("avpn-provider-key/v1/{chain_id}/{contract}/{sender}/");
    msg.extend(key.iter().map(|b| format!("{b:02x}")));
    msg.into_bytes()
}

/// Checks that `signature` is `key`'s proof for `sender` on this chain and contract.
pub fn verify_key_proof(
    api: &dyn Api,
    env: &Env,
    sender: &Addr,
    key: &OverlayKey,
    signature: &Binary,
) -> Result<(), ContractError> {
    let msg = key_proof_bytes(
        &env.block.chain_id,
        env.contract.address.as_str(),
        sender.as_str(),
        key.as_slice(),
    );
    // A malformed signature is as invalid as a wrong one.
    if api
        .ed25519_verify(&msg, signature, key.as_slice())
        .unwrap_or(false)
    {
        Ok(())
    } else {
        Err(ContractError::InvalidKeyProof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_bytes_layout() {
        let got = key_proof_bytes(
            "akash-1",
            "akash1contract",
            "akash1sender",
            &[0, 0xab, 0x0f],
        );
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "avpn-provider-key/v1/akash-1/akash1contract/akash1sender/00ab0f"
        );
    }
}
