//! The HS256 signing keys, checked at the door.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jwt_compact::alg::Hs256Key;
use sha2::{Digest, Sha256};

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
pub const MIN_SECRET_BYTES: usize = 32;
/// Bytes of the key's fingerprint in a token's `kid`: enough to tell two keys apart, far too
/// few to say anything about a key of 256 bits or more.
const KID_BYTES: usize = 8;

/// A `JWT_SECRET` (or `JWT_SECRET_PREVIOUS`) long enough to sign with. There is no way to
/// build one from a short or empty string, so no token is ever signed with a weak key.
pub struct JwtSecret {
    key: Hs256Key,
    kid: String,
}

impl JwtSecret {
    pub fn parse(value: Option<&str>) -> Result<JwtSecret, String> {
        JwtSecret::parse_named("JWT_SECRET", value)
    }

    /// As [`JwtSecret::parse`], for the secret called `name`, which the message names.
    pub fn parse_named(name: &str, value: Option<&str>) -> Result<JwtSecret, String> {
        match value {
            None | Some("") => Err(format!(
                "{name} is not set: add it to .dev.vars locally or run \
                 `wrangler secret put {name}` (at least {MIN_SECRET_BYTES} random bytes, \
                 e.g. `openssl rand -hex 32`)"
            )),
            Some(value) if value.len() < MIN_SECRET_BYTES => Err(format!(
                "{name} is {} bytes long; it must be at least {MIN_SECRET_BYTES} \
                 (e.g. `openssl rand -hex 32`)",
                value.len()
            )),
            Some(value) => Ok(JwtSecret {
                key: Hs256Key::new(value.as_bytes()),
                kid: key_id(b"recipe-api kid\0", value.as_bytes()),
            }),
        }
    }

    pub(crate) fn key(&self) -> &Hs256Key {
        &self.key
    }

    /// The key's id in a token's header: a short fingerprint, never the key.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// The first bytes of SHA-256 over a fixed label and the key, in base64url: 11 characters.
/// The label keeps the fingerprint apart from any other hash of the key, and each kind of
/// key has its own.
pub(crate) fn key_id(label: &[u8], key: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(label)
        .chain_update(key)
        .finalize();
    B64.encode(&digest[..KID_BYTES])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_missing_empty_or_short_secret_and_says_what_to_set() {
        for value in [None, Some(""), Some("too-short-secret")] {
            let error = JwtSecret::parse(value).err().expect("must be refused");
            assert!(error.contains("JWT_SECRET"), "{error}");
            let error = JwtSecret::parse_named("JWT_SECRET_PREVIOUS", value)
                .err()
                .expect("must be refused");
            assert!(error.contains("JWT_SECRET_PREVIOUS"), "{error}");
        }
    }

    #[test]
    fn accepts_32_bytes_or_more() {
        assert!(JwtSecret::parse(Some(&"k".repeat(32))).is_ok());
    }

    #[test]
    fn the_key_id_is_a_short_stable_fingerprint_that_differs_between_keys() {
        let a = JwtSecret::parse(Some(&"a".repeat(64))).unwrap();
        let again = JwtSecret::parse(Some(&"a".repeat(64))).unwrap();
        let b = JwtSecret::parse(Some(&"b".repeat(64))).unwrap();
        assert_eq!(a.kid(), again.kid());
        assert_ne!(a.kid(), b.kid());
        assert_eq!(a.kid().len(), 11);
        assert!(!"a".repeat(64).contains(a.kid()));
    }
}
