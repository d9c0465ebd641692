//! The keys that seal TOTP secrets at rest (`MFA_ENCRYPTION_KEY`, and during a rotation
//! `MFA_ENCRYPTION_KEY_PREVIOUS`), checked at the door, and the sealing: AES-256-GCM with a
//! random 96-bit nonce, the user's id as associated data, so a D1 dump alone yields no second
//! factor and a sealed secret copied to another user's row does not open.
//!
//! The stored form names the key that sealed it: `v2.<kid>.<base64url(nonce ‖ ciphertext ‖
//! tag)>`, the kid a short fingerprint of the key (never the key). Rows sealed before keys
//! had ids are `v1.<base64url(…)>`: they are tried with the current key, then the previous.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

use super::secret::key_id;

/// 256 bits, written as 64 hex characters (`openssl rand -hex 32`).
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
/// The stored form's scheme before keys had ids: no kid, the rest as `v2.`.
const V1: &str = "v1.";
/// The stored form's scheme: the kid of the key that sealed it, then a dot.
const V2: &str = "v2.";
/// The fingerprint's label, apart from the one of the JWT keys (src/security/secret.rs).
const KID_LABEL: &[u8] = b"recipe-api mfa kid\0";

/// A usable `MFA_ENCRYPTION_KEY` (or `MFA_ENCRYPTION_KEY_PREVIOUS`). There is no way to build
/// one from a missing, short or malformed value, so no secret is ever sealed with a weak key.
pub struct MfaKey {
    cipher: Aes256Gcm,
    kid: String,
}

/// Why a sealed secret did not open: a key that is not configured sealed it (the key was
/// changed), or the row was altered or moved to another user.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsealable;

impl MfaKey {
    pub fn parse(value: Option<&str>) -> Result<MfaKey, String> {
        MfaKey::parse_named("MFA_ENCRYPTION_KEY", value)
    }

    /// As [`MfaKey::parse`], for the secret called `name`, which the message names.
    pub fn parse_named(name: &str, value: Option<&str>) -> Result<MfaKey, String> {
        let value = value.map(str::trim).unwrap_or_default();
        if value.is_empty() {
            return Err(format!(
                "{name} is not set: two-factor routes are off until it is. Add it to \
                 .dev.vars locally or run `wrangler secret put {name}` (64 hex characters: \
                 `openssl rand -hex 32`)"
            ));
        }
        let bytes = (value.len() == KEY_BYTES * 2)
            .then(|| decode_hex(value))
            .flatten()
            .ok_or_else(|| {
                format!(
                    "{name} must be 64 hex characters (`openssl rand -hex 32`); it is {} \
                     characters{}",
                    value.len(),
                    if value.len() == KEY_BYTES * 2 {
                        " that are not all hex"
                    } else {
                        ""
                    }
                )
            })?;
        Ok(MfaKey {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&bytes)),
            kid: key_id(KID_LABEL, &bytes),
        })
    }

    /// The key's id in the stored form: a short fingerprint, never the key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `secret` sealed for user `user_id`: `v2.`, the kid, a dot, and the nonce, ciphertext
    /// and tag in base64url.
    fn seal(&self, user_id: i64, secret: &[u8]) -> Result<String, getrandom::Error> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::getrandom(&mut nonce)?;
        let aad = associated_data(user_id);
        let sealed = self
            .cipher
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
        Ok(format!("{V2}{}.{}", self.kid, B64.encode(stored)))
    }

    /// The secret in `body` (the base64url after the stored form's prefix), sealed with this
    /// key for user `user_id`.
    fn open_body(&self, user_id: i64, body: &str) -> Result<Vec<u8>, Unsealable> {
        let bytes = B64.decode(body).map_err(|_| Unsealable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(Unsealable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let aad = associated_data(user_id);
        self.cipher
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

/// What seals and opens TOTP secrets: `MFA_ENCRYPTION_KEY`, which seals and opens;
/// `MFA_ENCRYPTION_KEY_PREVIOUS`, which only opens (the key before a rotation, kept until
/// the scheduled cleanup has sealed every row afresh with the current one).
pub struct MfaKeys {
    current: MfaKey,
    previous: Option<MfaKey>,
}

impl MfaKeys {
    pub fn new(current: MfaKey, previous: Option<MfaKey>) -> MfaKeys {
        // The same key set twice is one key.
        let previous = previous.filter(|previous| previous.kid != current.kid);
        MfaKeys { current, previous }
    }

    /// `secret` sealed for user `user_id` with the current key.
    pub fn seal(&self, user_id: i64, secret: &[u8]) -> Result<String, getrandom::Error> {
        self.current.seal(user_id, secret)
    }

    /// The secret [`MfaKeys::seal`] sealed for user `user_id`, with this key or the previous
    /// one: a `v2.` row with the key its kid names, a `v1.` row with whichever opens it.
    pub fn open(&self, user_id: i64, stored: &str) -> Result<Vec<u8>, Unsealable> {
        if let Some(rest) = stored.strip_prefix(V2) {
            let (kid, body) = rest.split_once('.').ok_or(Unsealable)?;
            let key = self.keys().find(|key| key.kid == kid).ok_or(Unsealable)?;
            key.open_body(user_id, body)
        } else if let Some(body) = stored.strip_prefix(V1) {
            self.keys()
                .find_map(|key| key.open_body(user_id, body).ok())
                .ok_or(Unsealable)
        } else {
            Err(Unsealable)
        }
    }

    /// The start of every secret the current key sealed (`v2.<kid>.`): a row without it is
    /// one to seal afresh.
    pub fn current_prefix(&self) -> String {
        format!("{V2}{}.", self.current.kid)
    }

    /// `stored`, a secret of user `user_id` that the current key did not seal, sealed afresh
    /// with it. `Ok(None)` when the current key sealed it already.
    pub fn reseal(&self, user_id: i64, stored: &str) -> Result<Option<String>, Reseal> {
        if stored.starts_with(&self.current_prefix()) {
            return Ok(None);
        }
        let secret = self.open(user_id, stored).map_err(|_| Reseal::Unsealable)?;
        self.seal(user_id, &secret)
            .map(Some)
            .map_err(|e| Reseal::Random(e.to_string()))
    }

    /// The current key, then the previous one if set.
    fn keys(&self) -> impl Iterator<Item = &MfaKey> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

/// Why a secret was not sealed afresh: neither key opens it, or there was no randomness for
/// the nonce.
#[derive(Debug, PartialEq, Eq)]
pub enum Reseal {
    Unsealable,
    Random(String),
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
    const OTHER: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f";
    const THIRD: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

    fn key_of(hex: &str) -> MfaKey {
        MfaKey::parse(Some(hex)).unwrap()
    }

    fn keys(current: &str, previous: Option<&str>) -> MfaKeys {
        MfaKeys::new(key_of(current), previous.map(key_of))
    }

    fn key() -> MfaKeys {
        keys(KEY, None)
    }

    /// A row as sealed before keys had ids: `v1.` and base64url(nonce ‖ ciphertext ‖ tag),
    /// the user's id as associated data.
    fn sealed_v1(hex: &str, user_id: i64, secret: &[u8]) -> String {
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&decode_hex(hex).unwrap()));
        let nonce = [7u8; NONCE_BYTES];
        let aad = format!("totp-secret:user:{user_id}");
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        format!("v1.{}", B64.encode([&nonce[..], &sealed].concat()))
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
            let error = MfaKey::parse_named("MFA_ENCRYPTION_KEY_PREVIOUS", value)
                .err()
                .expect("must be refused");
            assert!(error.contains("MFA_ENCRYPTION_KEY_PREVIOUS"), "{error}");
        }
        assert!(MfaKey::parse(Some(&KEY.to_uppercase())).is_ok());
    }

    #[test]
    fn the_key_id_is_a_short_stable_fingerprint_of_the_key_bytes() {
        assert_eq!(key_of(KEY).kid(), key_of(&KEY.to_uppercase()).kid());
        assert_ne!(key_of(KEY).kid(), key_of(OTHER).kid());
        assert_eq!(key_of(KEY).kid().len(), 11);
        assert!(!key_of(KEY).kid().contains('.'), "base64url has no dot");
    }

    #[test]
    fn a_sealed_secret_names_its_key_opens_for_its_user_only_and_holds_no_plaintext() {
        let secret = b"12345678901234567890";
        let sealed = key().seal(7, secret).unwrap();
        assert!(
            sealed.starts_with(&format!("v2.{}.", key_of(KEY).kid())),
            "{sealed}"
        );
        assert_eq!(key().current_prefix(), format!("v2.{}.", key_of(KEY).kid()));
        assert!(!sealed.contains("MTIzNDU2Nzg5"), "not the secret in base64");
        assert_eq!(key().open(7, &sealed).unwrap(), secret);
        assert_eq!(
            key().open(8, &sealed),
            Err(Unsealable),
            "another user's row"
        );
        assert_eq!(
            keys(OTHER, None).open(7, &sealed),
            Err(Unsealable),
            "another key"
        );
    }

    #[test]
    fn rows_sealed_before_keys_had_ids_open_with_the_current_or_the_previous_key() {
        let secret = b"12345678901234567890";
        let old = sealed_v1(KEY, 7, secret);
        assert_eq!(key().open(7, &old).unwrap(), secret);
        assert_eq!(keys(OTHER, Some(KEY)).open(7, &old).unwrap(), secret);
        assert_eq!(keys(KEY, Some(OTHER)).open(7, &old).unwrap(), secret);
        assert_eq!(keys(OTHER, None).open(7, &old), Err(Unsealable));
        assert_eq!(keys(OTHER, Some(THIRD)).open(7, &old), Err(Unsealable));
        assert_eq!(
            key().open(8, &old),
            Err(Unsealable),
            "moved to another user"
        );
    }

    #[test]
    fn the_previous_key_opens_its_rows_by_kid_and_never_seals() {
        let secret = b"secret";
        let by_a = key().seal(3, secret).unwrap();
        let rotated = keys(OTHER, Some(KEY));
        assert_eq!(rotated.open(3, &by_a).unwrap(), secret);
        let by_b = rotated.seal(3, secret).unwrap();
        assert!(
            by_b.starts_with(&format!("v2.{}.", key_of(OTHER).kid())),
            "{by_b}"
        );
        assert_eq!(
            key().open(3, &by_b),
            Err(Unsealable),
            "A alone cannot open B's"
        );
        assert_eq!(keys(OTHER, None).open(3, &by_b).unwrap(), secret);
        assert_eq!(
            rotated.open(4, &by_a),
            Err(Unsealable),
            "moved to another user"
        );
    }

    #[test]
    fn a_kid_of_no_configured_key_does_not_open_even_if_a_configured_key_would() {
        let sealed = key().seal(1, b"secret").unwrap();
        let body = sealed.rsplit_once('.').unwrap().1;
        let third = key_of(THIRD).kid().to_owned();
        for stored in [
            format!("v2.{third}.{body}"),
            format!("v2..{body}"),
            format!("v2.{body}"),
        ] {
            assert_eq!(key().open(1, &stored), Err(Unsealable), "{stored:?}");
            assert_eq!(keys(OTHER, Some(KEY)).open(1, &stored), Err(Unsealable));
        }
        // Named as another configured key's: that key does not open it.
        let other = key_of(OTHER).kid().to_owned();
        let relabelled = format!("v2.{other}.{body}");
        assert_eq!(keys(KEY, Some(OTHER)).open(1, &relabelled), Err(Unsealable));
        assert_eq!(key().open(1, &format!("v1.{body}")).unwrap(), b"secret");
    }

    #[test]
    fn resealing_moves_old_rows_to_the_current_key_and_leaves_current_ones() {
        let secret = b"12345678901234567890";
        let rotated = keys(OTHER, Some(KEY));
        for old in [sealed_v1(KEY, 5, secret), key().seal(5, secret).unwrap()] {
            let new = rotated.reseal(5, &old).unwrap().expect("sealed afresh");
            assert!(new.starts_with(&rotated.current_prefix()), "{new}");
            assert_eq!(keys(OTHER, None).open(5, &new).unwrap(), secret);
            assert_eq!(rotated.reseal(5, &new), Ok(None), "already current");
        }
        let upgraded = key()
            .reseal(5, &sealed_v1(KEY, 5, secret))
            .unwrap()
            .unwrap();
        assert!(
            upgraded.starts_with(&key().current_prefix()),
            "v1 under the same key"
        );
        let unrelated = keys(THIRD, None).seal(5, secret).unwrap();
        assert_eq!(rotated.reseal(5, &unrelated), Err(Reseal::Unsealable));
        assert_eq!(rotated.reseal(5, "off.marker"), Err(Reseal::Unsealable));
    }

    #[test]
    fn the_same_key_twice_is_one_key() {
        let same = keys(KEY, Some(&KEY.to_uppercase()));
        assert!(same.previous.is_none());
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
        let kid = key_of(KEY).kid().to_owned();
        for stored in [
            altered.as_str(),
            "",
            "v1.",
            "v1.AAAA",
            "v2.",
            &format!("v2.{kid}."),
            &format!("v2.{kid}.AAAA"),
            "v2.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "v3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &sealed[3..],
        ] {
            assert_eq!(key().open(1, stored), Err(Unsealable), "{stored:?}");
        }
    }
}
