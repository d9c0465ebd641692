//! Recovery codes: single-use codes that stand in for a TOTP code when the authenticator is
//! lost. Each is 80 random bits, shown once as `xxxx-xxxx-xxxx-xxxx` in lower-case base32, and
//! stored only as its SHA-256: high-entropy, so a plain hash suffices (as for opaque tokens).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use data_encoding::BASE32_NOPAD;
use sha2::{Digest, Sha256};

/// How many a user gets when turning TOTP on.
pub const COUNT: usize = 10;
/// 80 bits: 16 base32 characters.
const CODE_BYTES: usize = 10;
const CODE_CHARS: usize = 16;
const GROUP_CHARS: usize = 4;

/// A new code as the user sees it, and the hash under which it is stored.
pub struct RecoveryCode {
    pub code: String,
    pub hash: String,
}

/// [`COUNT`] new codes.
pub fn generate() -> Result<Vec<RecoveryCode>, getrandom::Error> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0u8; CODE_BYTES];
            getrandom::getrandom(&mut bytes)?;
            let plain = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
            let hash = hash_of(&plain);
            let groups: Vec<&str> = (0..CODE_CHARS)
                .step_by(GROUP_CHARS)
                .map(|start| &plain[start..start + GROUP_CHARS])
                .collect();
            Ok(RecoveryCode {
                code: groups.join("-"),
                hash,
            })
        })
        .collect()
}

/// The code as typed, without its hyphens and spaces and in lower case, if it has the shape
/// of one of ours: 16 characters of the base32 alphabet.
pub fn normalise(typed: &str) -> Option<String> {
    let plain: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let shaped = plain.len() == CODE_CHARS
        && plain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    shaped.then_some(plain)
}

/// The stored hash of a code in its normal form ([`normalise`]).
pub fn hash_of(normalised: &str) -> String {
    B64.encode(Sha256::digest(normalised.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_grouped_codes_whose_hashes_are_of_their_normal_form() {
        let codes = generate().unwrap();
        assert_eq!(codes.len(), COUNT);
        for code in &codes {
            assert_eq!(code.code.len(), 19, "{}", code.code);
            assert_eq!(code.code.matches('-').count(), 3);
            let plain = normalise(&code.code).unwrap();
            assert_eq!(hash_of(&plain), code.hash);
            assert_ne!(code.hash, plain);
        }
        let mut hashes: Vec<&str> = codes.iter().map(|c| c.hash.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), COUNT);
    }

    #[test]
    fn typed_codes_are_read_in_any_case_with_or_without_separators() {
        let expected = Some("abcd2345efgh6723".to_owned());
        for typed in [
            "abcd-2345-efgh-6723",
            "ABCD-2345-EFGH-6723",
            "abcd2345efgh6723",
            "abcd 2345 efgh 6723",
        ] {
            assert_eq!(normalise(typed), expected, "{typed:?}");
        }
    }

    #[test]
    fn anything_else_is_not_a_recovery_code() {
        for typed in [
            "",
            "123456",
            "abcd-2345-efgh-672",
            "abcd-2345-efgh-67230",
            "abcd-2345-efgh-6781",
            "abcd-2345-efgh-672é",
        ] {
            assert_eq!(normalise(typed), None, "{typed:?}");
        }
    }
}
