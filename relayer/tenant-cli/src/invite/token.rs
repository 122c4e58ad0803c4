//! The invitation token: one line carrying everything an invitee needs to
//! claim an invitation, including its private key.
//!
//! # Format (version 1)
//!
//! A token is a [bech32m] string (BIP-350) with human-readable part
//! `avpn-invite`, so it always starts with `avpn-invite1`. bech32m's
//! 30-bit checksum covers the prefix and the whole payload: any single
//! changed character is always detected, truncation and other damage with
//! probability 1 − 2⁻³⁰. The token is lowercase; its all-uppercase form is
//! accepted too (QR codes encode it in the denser alphanumeric mode), mixed
//! case is not.
//!
//! The payload (bytes, before the 5-bit regrouping of bech32) is:
//!
//! | field           | encoding                                              |
//! |-----------------|-------------------------------------------------------|
//! | version         | 1 byte, `1`                                           |
//! | chain id        | 1 length byte, then that many bytes (printable ASCII) |
//! | registry        | 1 length byte, then the contract address (ASCII)      |
//! | network id      | unsigned LEB128 (minimal)                             |
//! | invitation id   | unsigned LEB128 (minimal); `0` = not yet known        |
//! | key             | 32 bytes: the ed25519 seed (version 1 is ed25519 only)|
//!
//! Nothing may follow the key. Invitation id `0` (ids on chain start at 1)
//! marks a token made with `--generate-only`, before the invitation existed:
//! the claimant then finds the invitation by the key's public half.
//!
//! [bech32m]: https://github.com/bitcoin/bips/blob/master/bip-0350.mediawiki

use bech32::primitives::decode::{
    CharError, CheckedHrpstring, CheckedHrpstringError, UncheckedHrpstring, UncheckedHrpstringError,
};
use bech32::{Bech32m, Hrp};
use zeroize::Zeroizing;

use super::keys::{InviteKey, SEED_LEN};

/// Human-readable part of every token (tokens start with `avpn-invite1`).
pub const HRP: &str = "avpn-invite";
/// The version this build writes and reads.
pub const VERSION: u8 = 1;
/// Longest chain id or registry address a token holds.
const MAX_FIELD: usize = u8::MAX as usize;

/// An invitation token, decoded. Its `Debug` output never shows the key.
#[derive(Debug, PartialEq, Eq)]
pub struct Token {
    /// Chain the invitation lives on.
    pub chain_id: String,
    /// Address of the network-registry contract.
    pub registry: String,
    /// Network the invitation admits to.
    pub network_id: u64,
    /// The invitation, when known (`None` for a generate-only token).
    pub invitation_id: Option<u64>,
    /// The invitation's private key.
    pub key: InviteKey,
}

/// Why a string is not a usable token. No variant carries any part of the
/// token, so errors can be shown and logged.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a bech32m string at all (no separator, bad characters, mixed case).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Another kind of bech32 string.
    #[error("not an avpn invitation token (it must start with {HRP}1)")]
    NotAnInvitation,
    /// The checksum does not match: the token was changed or cut short.
    #[error("the token's checksum does not match: it was mistyped, changed or truncated")]
    Checksum,
    /// A version this build does not read.
    #[error("unknown token version {0} (this avpn reads version {VERSION}; upgrade avpn?)")]
    UnknownVersion(u8),
    /// The checksum matched but the payload does not parse.
    #[error("invalid token payload: {0}")]
    Payload(&'static str),
    /// A field is too long to fit into a token (when encoding).
    #[error("{0} is longer than {MAX_FIELD} bytes")]
    FieldTooLong(&'static str),
}

impl Token {
    /// The token as one line (lowercase bech32m). The string holds the
    /// private key and is wiped from memory when dropped.
    pub fn encode(&self) -> Result<Zeroizing<String>, TokenError> {
        let mut payload = Zeroizing::new(Vec::with_capacity(128));
        payload.push(VERSION);
        put_field(&mut payload, &self.chain_id, "chain id")?;
        put_field(&mut payload, &self.registry, "registry address")?;
        put_varint(&mut payload, self.network_id);
        put_varint(&mut payload, self.invitation_id.unwrap_or(0));
        payload.extend_from_slice(self.key.seed());
        let hrp = Hrp::parse_unchecked(HRP);
        // Only fails beyond 1023 characters; two 255-byte fields stay below.
        bech32::encode::<Bech32m>(hrp, &payload)
            .map(Zeroizing::new)
            .map_err(|_| TokenError::FieldTooLong("token"))
    }

    /// Parses and verifies a token (surrounding whitespace is ignored).
    pub fn decode(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        let unchecked = UncheckedHrpstring::new(text).map_err(malformed)?;
        if !unchecked.hrp().as_str().eq_ignore_ascii_case(HRP) {
            return Err(TokenError::NotAnInvitation);
        }
        let checked = CheckedHrpstring::new::<Bech32m>(text).map_err(|e| match e {
            CheckedHrpstringError::Parse(e) => malformed(e),
            _ => TokenError::Checksum,
        })?;
        let payload = Zeroizing::new(checked.byte_iter().collect::<Vec<u8>>());
        let mut r = Reader(&payload);
        let version = r.byte()?;
        if version != VERSION {
            return Err(TokenError::UnknownVersion(version));
        }
        let chain_id = r.field("chain id is empty or not printable ASCII")?;
        let registry = r.field("registry address is empty or not printable ASCII")?;
        let network_id = r.varint()?;
        let invitation_id = Some(r.varint()?).filter(|&id| id != 0);
        let seed: &[u8; SEED_LEN] = r
            .take(SEED_LEN)?
            .try_into()
            .map_err(|_| TokenError::Payload("key is not 32 bytes"))?;
        if !r.0.is_empty() {
            return Err(TokenError::Payload("unexpected bytes after the key"));
        }
        Ok(Token {
            chain_id,
            registry,
            network_id,
            invitation_id,
            key: InviteKey::from_seed(seed),
        })
    }
}

/// Maps a bech32 parse error without echoing any character of the token.
fn malformed(e: UncheckedHrpstringError) -> TokenError {
    TokenError::Malformed(match e {
        UncheckedHrpstringError::Char(CharError::MissingSeparator) => "no `1` separator",
        UncheckedHrpstringError::Char(CharError::NothingAfterSeparator) => {
            "nothing after the prefix"
        }
        UncheckedHrpstringError::Char(CharError::MixedCase) => "mixed upper and lower case",
        UncheckedHrpstringError::Char(_) => "a character outside the bech32 alphabet",
        _ => "invalid prefix",
    })
}

fn put_field(out: &mut Vec<u8>, value: &str, what: &'static str) -> Result<(), TokenError> {
    let len = u8::try_from(value.len()).map_err(|_| TokenError::FieldTooLong(what))?;
    out.push(len);
    out.extend_from_slice(value.as_bytes());
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        // Truncation intended: the low seven bits, with the continuation bit.
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads the payload front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TokenError> {
        if self.0.len() < n {
            return Err(TokenError::Payload("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, TokenError> {
        Ok(self.take(1)?[0])
    }

    fn field(&mut self, invalid: &'static str) -> Result<String, TokenError> {
        let len = usize::from(self.byte()?);
        let bytes = self.take(len)?;
        if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_graphic) {
            return Err(TokenError::Payload(invalid));
        }
        // Printable ASCII is UTF-8.
        Ok(bytes.iter().map(|&b| char::from(b)).collect())
    }

    fn varint(&mut self) -> Result<u64, TokenError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(TokenError::Payload("number too large"));
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(TokenError::Payload("number not minimally encoded"));
                }
                return Ok(n);
            }
        }
        Err(TokenError::Payload("number too large"))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

    fn sample(invitation_id: Option<u64>) -> Token {
        Token {
            chain_id: "avpn-localnet".into(),
            registry: "akash14hj2tavq8fpesdwxxcu44rty3hh90vhujrvcmstl4zr3txmfvw9s3p6c8w".into(),
            network_id: 7,
            invitation_id,
            key: InviteKey::from_seed(&[0x42; SEED_LEN]),
        }
    }

    #[test]
    fn round_trip() {
        for id in [Some(1), Some(300), Some(u64::MAX), None] {
            let token = sample(id);
            let text = token.encode().unwrap();
            assert!(text.starts_with("avpn-invite1"), "{}", *text);
            assert!(!text.contains(char::is_whitespace));
            assert_eq!(Token::decode(&text).unwrap(), token);
            assert_eq!(Token::decode(&format!("  {}\n", *text)).unwrap(), token);
            assert_eq!(Token::decode(&text.to_ascii_uppercase()).unwrap(), token);
        }
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let text = sample(Some(3)).encode().unwrap();
        let alphabet: Vec<char> = CHARSET
            .chars()
            .chain(CHARSET.to_ascii_uppercase().chars())
            .chain("1-bio_ ".chars())
            .collect();
        let mut tried = 0;
        for (i, original) in text.char_indices() {
            for &c in &alphabet {
                if c == original {
                    continue;
                }
                let mut changed = text.to_string();
                changed.replace_range(i..i + 1, c.encode_utf8(&mut [0; 4]));
                assert!(
                    Token::decode(&changed).is_err(),
                    "change at {i} to {c:?} accepted"
                );
                tried += 1;
            }
        }
        assert!(tried > 1000);
    }

    #[test]
    fn every_truncation_and_deletion_is_rejected() {
        let text = sample(Some(3)).encode().unwrap();
        for len in 0..text.len() {
            assert!(
                Token::decode(&text[..len]).is_err(),
                "prefix of {len} accepted"
            );
        }
        for i in 0..text.len() {
            let mut cut = text.to_string();
            cut.remove(i);
            assert!(Token::decode(&cut).is_err(), "deletion at {i} accepted");
        }
    }

    #[test]
    fn typed_errors() {
        let text = sample(Some(3)).encode().unwrap();
        let last = text.len() - 1;
        let flipped = if text.ends_with('q') { "p" } else { "q" };
        let tampered = format!("{}{flipped}", &text[..last]);
        assert_eq!(Token::decode(&tampered), Err(TokenError::Checksum));
        assert!(matches!(
            Token::decode("hello"),
            Err(TokenError::Malformed(_))
        ));
        assert!(matches!(
            Token::decode(&text.replacen('q', "Q", 1)),
            Err(TokenError::Malformed(_))
        ));
        let other = bech32::encode::<Bech32m>(Hrp::parse_unchecked("other"), b"x").unwrap();
        assert_eq!(Token::decode(&other), Err(TokenError::NotAnInvitation));
        let v2 = bech32::encode::<Bech32m>(Hrp::parse_unchecked(HRP), &[2, 0]).unwrap();
        assert_eq!(Token::decode(&v2), Err(TokenError::UnknownVersion(2)));
        let short = bech32::encode::<Bech32m>(Hrp::parse_unchecked(HRP), &[1, 1, b'x']).unwrap();
        assert!(matches!(Token::decode(&short), Err(TokenError::Payload(_))));
        let bech32 = bech32::encode::<bech32::Bech32>(Hrp::parse_unchecked(HRP), &[1]).unwrap();
        assert_eq!(Token::decode(&bech32), Err(TokenError::Checksum));
    }

    #[test]
    fn trailing_bytes_and_long_varints_are_rejected() {
        let mut payload = vec![1, 1, b'c', 1, b'r', 0x80, 0x00, 1];
        payload.extend_from_slice(&[0; SEED_LEN]);
        let text = bech32::encode::<Bech32m>(Hrp::parse_unchecked(HRP), &payload).unwrap();
        assert!(matches!(Token::decode(&text), Err(TokenError::Payload(_))));
        let mut payload = vec![1, 1, b'c', 1, b'r', 1, 1];
        payload.extend_from_slice(&[0; SEED_LEN + 1]);
        let text = bech32::encode::<Bech32m>(Hrp::parse_unchecked(HRP), &payload).unwrap();
        assert!(matches!(Token::decode(&text), Err(TokenError::Payload(_))));
    }

    #[test]
    fn neither_debug_nor_errors_show_the_key() {
        let token = sample(Some(3));
        let text = token.encode().unwrap();
        let seed_hex: String = token
            .key
            .seed()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let debug = format!("{token:?}");
        assert!(!debug.contains(&seed_hex), "{debug}");
        assert!(!debug.contains("66, 66"), "{debug}");
        assert!(debug.contains("redacted"), "{debug}");
        let data = &text[HRP.len() + 1..];
        let tampered = format!("{}x", &text[..text.len() - 1]);
        let err = Token::decode(&tampered).unwrap_err();
        for shown in [err.to_string(), format!("{err:?}")] {
            assert!(!shown.contains(&data[..12]), "{shown}");
        }
    }

    fn token_strategy() -> impl Strategy<Value = Token> {
        (
            "[a-z][a-z0-9-]{0,40}",
            "akash1[a-z0-9]{38,58}",
            any::<u64>(),
            any::<u64>(),
            any::<[u8; SEED_LEN]>(),
        )
            .prop_map(|(chain_id, registry, network_id, inv, seed)| Token {
                chain_id,
                registry,
                network_id,
                invitation_id: Some(inv).filter(|&i| i != 0),
                key: InviteKey::from_seed(&seed),
            })
    }

    proptest! {
        #[test]
        fn prop_round_trip(token in token_strategy()) {
            let text = token.encode().unwrap();
            prop_assert_eq!(Token::decode(&text).unwrap(), token);
        }

        #[test]
        fn prop_single_change_rejected(
            token in token_strategy(),
            pos in any::<prop::sample::Index>(),
            replacement in prop::sample::select(CHARSET.chars().collect::<Vec<_>>()),
        ) {
            let text = token.encode().unwrap();
            let i = pos.index(text.len());
            prop_assume!(text.as_bytes()[i] as char != replacement);
            let mut changed = text.to_string();
            changed.replace_range(i..i + 1, replacement.encode_utf8(&mut [0; 4]));
            prop_assert!(Token::decode(&changed).is_err());
        }

        #[test]
        fn prop_truncation_rejected(token in token_strategy(), cut in 1usize..200) {
            let text = token.encode().unwrap();
            let len = text.len().saturating_sub(cut);
            prop_assert!(Token::decode(&text[..len]).is_err());
        }
    }
}
