//! Opaque tokens (refresh tokens, and the tokens in password-recovery and verification
//! emails) and session ids: random strings. Only a token's SHA-256 is stored, so a copy of
//! the database holds nothing that can be presented. A plain hash suffices (no salt, no
//! stretching): the token is 256 random bits, not a password.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// 256 bits: beyond guessing, and as long as the hash that stands for it.
const TOKEN_BYTES: usize = 32;
/// 128 bits: a session id is a database key, not a credential.
const SESSION_ID_BYTES: usize = 16;

/// A new token, and the hash under which it is stored.
pub struct OpaqueToken {
    pub token: String,
    pub hash: String,
}

impl OpaqueToken {
    pub fn generate() -> Result<OpaqueToken, getrandom::Error> {
        let token = random_text::<TOKEN_BYTES>()?;
        let hash = hash_of(&token);
        Ok(OpaqueToken { token, hash })
    }
}

/// A new session id.
pub fn new_session_id() -> Result<String, getrandom::Error> {
    random_text::<SESSION_ID_BYTES>()
}

/// The stored hash of a presented token; `None` when it cannot be one of ours
/// (wrong length or alphabet), which saves a lookup.
pub fn opaque_token_hash(token: &str) -> Option<String> {
    let decoded = B64.decode(token).ok()?;
    (decoded.len() == TOKEN_BYTES && B64.encode(&decoded) == token).then(|| hash_of(token))
}

fn hash_of(token: &str) -> String {
    B64.encode(Sha256::digest(token.as_bytes()))
}

fn random_text<const N: usize>() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes)?;
    Ok(B64.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_hashes_to_its_stored_hash() {
        let issued = OpaqueToken::generate().unwrap();
        assert_eq!(issued.token.len(), 43);
        assert_eq!(opaque_token_hash(&issued.token), Some(issued.hash.clone()));
        assert_ne!(issued.hash, issued.token);
    }

    #[test]
    fn tokens_and_session_ids_are_random() {
        let a = OpaqueToken::generate().unwrap();
        let b = OpaqueToken::generate().unwrap();
        assert_ne!(a.token, b.token);
        assert_ne!(new_session_id().unwrap(), new_session_id().unwrap());
        assert_eq!(new_session_id().unwrap().len(), 22);
    }

    #[test]
    fn the_hash_is_sha256_of_the_token_text() {
        // From `openssl dgst -sha256 -binary`, written in base64url without padding.
        assert_eq!(
            opaque_token_hash(&"A".repeat(43)).unwrap(),
            "DwBzhbb51LfusnSGBa_hqYSgo7-j8BTQnip4TOnlzRo"
        );
    }

    #[test]
    fn anything_that_cannot_be_ours_is_refused_without_hashing() {
        let good = OpaqueToken::generate().unwrap().token;
        for bad in [
            String::new(),
            "short".into(),
            format!("{good}A"),
            good[..42].to_owned(),
            format!("{}=", &good[..42]),
            format!("{}+", &good[..42]),
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl".into(),
        ] {
            assert_eq!(opaque_token_hash(&bad), None, "{bad:?}");
        }
    }
}
