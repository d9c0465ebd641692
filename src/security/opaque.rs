//! Opaque tokens (refresh tokens, and the tokens in password-recovery and verification
//! emails) and session ids: random strings. Only a token's SHA-256 is stored, so a copy of
//! the database holds nothing that can be presented. A plain hash suffices (no salt, no
//! stretching): the token is 256 random bits, not a password.
//!
//! A refresh token's successor is not random: it is derived from the token it replaces under
//! a key only the Worker holds, so a retry of a refresh is answered with the very token the
//! rotation issued, and a session never has more than one live refresh token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
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

/// The key refresh tokens' successors are derived with: HMAC-SHA256 of a fixed label under
/// `JWT_SECRET`, so it is never a value the access tokens' key gives for anything else.
pub struct SuccessorKey([u8; 32]);

impl SuccessorKey {
    pub fn derive(secret: &[u8]) -> SuccessorKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key size");
        mac.update(b"recipe-api refresh token successor");
        SuccessorKey(mac.finalize().into_bytes().into())
    }

    /// The refresh token that replaces `token`: the same every time, 256 bits that nobody
    /// without the key can compute from `token`.
    pub fn successor(&self, token: &str) -> OpaqueToken {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(token.as_bytes());
        let token = B64.encode(mac.finalize().into_bytes());
        let hash = hash_of(&token);
        OpaqueToken { token, hash }
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
    fn a_successor_is_the_same_each_time_a_token_of_ours_and_differs_by_key_and_token() {
        let key = SuccessorKey::derive(&[7; 32]);
        let token = OpaqueToken::generate().unwrap().token;
        let successor = key.successor(&token);
        assert_eq!(
            successor.token,
            key.successor(&token).token,
            "a retry gets the same"
        );
        assert_eq!(
            opaque_token_hash(&successor.token),
            Some(successor.hash.clone())
        );
        assert_ne!(successor.token, token);
        let other_token = OpaqueToken::generate().unwrap().token;
        assert_ne!(key.successor(&other_token).token, successor.token);
        let other_key = SuccessorKey::derive(&[8; 32]);
        assert_ne!(other_key.successor(&token).token, successor.token);
    }

    #[test]
    fn the_successor_key_is_not_the_secret_itself() {
        // HMAC-SHA256 under the derived key, not under the secret: a successor never equals
        // a MAC that the access tokens' key would give for the same input.
        let secret = [7u8; 32];
        let token = "A".repeat(43);
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
        mac.update(token.as_bytes());
        let direct = B64.encode(mac.finalize().into_bytes());
        assert_ne!(
            SuccessorKey::derive(&secret).successor(&token).token,
            direct
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
