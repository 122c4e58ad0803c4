//! The invitation key: a fresh ed25519 key whose public half goes on chain
//! with the invitation and whose private half travels in the token.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use zeroize::Zeroizing;

/// Length of an ed25519 seed (the private key) and of its public key.
pub const SEED_LEN: usize = 32;

/// An ed25519 invitation key. Wiped from memory when dropped; its `Debug`
/// output shows only the public key.
#[derive(PartialEq, Eq)]
pub struct InviteKey(SigningKey);

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("no randomness from the operating system: {0}")]
pub struct KeyError(getrandom::Error);

impl InviteKey {
    /// A new key from the operating system's randomness.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        getrandom::fill(seed.as_mut()).map_err(KeyError)?;
        Ok(Self::from_seed(&seed))
    }

    /// The key with this seed.
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        InviteKey(SigningKey::from_bytes(seed))
    }

    /// The seed (private key), for the token only.
    pub(super) fn seed(&self) -> &[u8; SEED_LEN] {
        self.0.as_bytes()
    }

    /// The public key as the contract stores it (32 bytes).
    pub fn public_key(&self) -> [u8; SEED_LEN] {
        self.0.verifying_key().to_bytes()
    }

    /// Signs the claim of `claimant` (see [`claim_bytes`]).
    pub fn sign_claim(&self, claim: &Claim<'_>) -> [u8; 64] {
        self.0.sign(&claim_bytes(claim)).to_bytes()
    }
}

impl fmt::Debug for InviteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let public: String = self
            .public_key()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        f.debug_struct("InviteKey")
            .field("public_key", &public)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// What a claim signature covers.
#[derive(Clone, Copy, Debug)]
pub struct Claim<'a> {
    /// Chain id.
    pub chain_id: &'a str,
    /// network-registry address.
    pub contract: &'a str,
    /// Network.
    pub network_id: u64,
    /// Invitation.
    pub invitation_id: u64,
    /// The account claiming (the tx sender).
    pub claimant: &'a str,
}

/// The bytes the contract verifies:
/// `avpn-claim/v1/{chain_id}/{contract}/{network_id}/{invitation_id}/{claimant}`
/// (the contract's `invitation::claim_bytes`).
pub fn claim_bytes(c: &Claim<'_>) -> Vec<u8> {
    format!(
        "avpn-claim/v1/{}/{}/{}/{}/{}",
        c.chain_id, c.contract, c.network_id, c.invitation_id, c.claimant
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    use super::*;

    #[test]
    fn fresh_keys_differ_and_sign_the_contract_bytes() {
        let a = InviteKey::generate().unwrap();
        let b = InviteKey::generate().unwrap();
        assert_ne!(a, b);
        let claim = Claim {
            chain_id: "avpn-localnet",
            contract: "akash1contract",
            network_id: 4,
            invitation_id: 9,
            claimant: "akash1claimant",
        };
        assert_eq!(
            claim_bytes(&claim),
            b"avpn-claim/v1/avpn-localnet/akash1contract/4/9/akash1claimant"
        );
        let sig = Signature::from_bytes(&a.sign_claim(&claim));
        let public = VerifyingKey::from_bytes(&a.public_key()).unwrap();
        public.verify(&claim_bytes(&claim), &sig).unwrap();
        let other = Claim {
            claimant: "akash1other",
            ..claim
        };
        assert!(public.verify(&claim_bytes(&other), &sig).is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let key = InviteKey::from_seed(&[7; SEED_LEN]);
        let debug = format!("{key:?}");
        assert!(debug.contains("<redacted>"));
        assert!(!debug.contains("0707"));
        assert!(!debug.contains("7, 7"));
    }
}
