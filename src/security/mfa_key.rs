//! The key that seals TOTP secrets at rest (`MFA_ENCRYPTION_KEY`), checked at the door, and
//! the sealing: AES-256-GCM with a random 96-bit nonce, the user's id as associated data, so
//! a D1 dump alone yields no second factor and a sealed secret copied to another user's row
//! does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

/// 256 bits, written as 64 hex characters (`openssl rand -hex 32`).
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
/// The stored form's prefix: the scheme, so another can follow without guessing.
const PREFIX: &str = "v1.";

/// A usable `MFA_ENCRYPTION_KEY`. There is no way to build one from a missing, short or
/// malformed value, so no secret is ever sealed with a weak key.
pub struct MfaKey(Aes256Gcm);

/// Why a sealed secret did not open: another key sealed it (the key was changed), or the row
/// was altered or moved to another user.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsealable;

impl MfaKey {
    pub fn parse(value: Option<&str>) -> Result<MfaKey, String> {
        let value = value.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Err(
                "MFA_ENCRYPTION_KEY is not set: two-factor routes are off until it is. \
                        Add it to .dev.vars locally or run `wrangler secret put \
                        MFA_ENCRYPTION_KEY` (64 hex characters: `openssl rand -hex 32`)"
                    .into(),
            );
        }
        let bytes = (value.len() == KEY_BYTES * 2)
            .then(|| decode_hex(value))
            .flatten()
            .ok_or_else(|| {
                format!(
                    "MFA_ENCRYPTION_KEY must be 64 hex characters (`openssl rand -hex 32`); it \
                     is {} characters{}",
                    value.len(),
                    if value.len() == KEY_BYTES * 2 {
                        " that are not all hex"
                    } else {
                        ""
                    }
                )
            })?;
        Ok(MfaKey(Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes))))
    }

    /// `secret` sealed for user `user_id`: `v1.` and the nonce, ciphertext and tag in
    /// base64url.
    pub fn seal(&self, user_id: i64, secret: &[u8]) -> Result<String, getrandom::Error> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce)?;
        let aad = associated_data(user_id);
        let sealed = self
            .0
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .expect("AES-GCM encrypts any message under 64 GiB");
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", B64.encode(stored)))
    }

    /// The secret [`MfaKey::seal`] sealed for user `user_id`.
    pub fn open(&self, user_id: i64, stored: &str) -> Result<Vec<u8>, Unsealable> {
        let bytes = stored
            .strip_prefix(PREFIX)
            .and_then(|b64| B64.decode(b64).ok())
            .ok_or(Unsealable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(Unsealable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let aad = associated_data(user_id);
        self.0
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map_err(|_| Unsealable)
    }
}

fn associated_data(user_id: i64) -> Vec<u8> {
    format!("totp-secret:user:{user_id}").into_bytes()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn key() -> MfaKey {
        MfaKey::parse(Some(KEY)).unwrap()
    }

    #[test]
    fn refuses_a_missing_short_or_non_hex_key_and_names_the_setting() {
        for value in [
            None,
            Some(""),
            Some("   "),
            Some("00112233"),
            Some(&KEY[..63]),
            Some("zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
            Some("an-hs256-test-secret-of-at-least-32-bytes-but-not-hex-at-all!!!"),
        ] {
            let error = MfaKey::parse(value).err().expect("must be refused");
            assert!(error.contains("MFA_ENCRYPTION_KEY"), "{error}");
        }
        assert!(MfaKey::parse(Some(&KEY.to_uppercase())).is_ok());
    }

    #[test]
    fn a_sealed_secret_opens_for_its_user_only_and_holds_no_plaintext() {
        let secret = b"12345678901234567890";
        let sealed = key().seal(7, secret).unwrap();
        assert!(sealed.starts_with("v1."));
        assert!(!sealed.contains("MTIzNDU2Nzg5"), "not the secret in base64");
        assert_eq!(key().open(7, &sealed).unwrap(), secret);
        assert_eq!(
            key().open(8, &sealed),
            Err(Unsealable),
            "another user's row"
        );
        let other = MfaKey::parse(Some(&KEY.replace("1f", "ff"))).unwrap();
        assert_eq!(other.open(7, &sealed), Err(Unsealable), "another key");
    }

    #[test]
    fn each_sealing_has_its_own_nonce() {
        let secret = b"12345678901234567890";
        assert_ne!(
            key().seal(1, secret).unwrap(),
            key().seal(1, secret).unwrap()
        );
    }

    #[test]
    fn an_altered_or_malformed_row_does_not_open() {
        let sealed = key().seal(1, b"secret").unwrap();
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        for stored in [
            altered.as_str(),
            "",
            "v1.",
            "v1.AAAA",
            "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &sealed[3..],
        ] {
            assert_eq!(key().open(1, stored), Err(Unsealable), "{stored:?}");
        }
    }
}
