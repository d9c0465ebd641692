//! PBKDF2-HMAC-SHA256 password hashes, stored as PHC strings:
//! `$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>`. The iteration count travels with each hash,
//! so the configured count can rise and old hashes be upgraded at the next login.

use pbkdf2::password_hash::{
    self, Decimal, Ident, Output, PasswordHash, PasswordHasher, PasswordVerifier, Salt, SaltString,
};
use pbkdf2::{Algorithm, Params};

use super::pbkdf2_sha256::pbkdf2_hmac_sha256;

/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;

#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, unknown user or unreadable hash: all look the same to the caller.
    No,
    /// The password matches; `needs_rehash` when the hash has fewer iterations than configured.
    Yes { needs_rehash: bool },
}

#[derive(Debug)]
pub struct HashError(String);

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "password hashing failed: {}", self.0)
    }
}

/// Hashes with a fresh random 16-byte salt.
pub fn hash_password(password: &str, iterations: u32) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::getrandom(&mut salt).map_err(|e| HashError(e.to_string()))?;
    hash_with_salt(password, iterations, &salt)
}

fn hash_with_salt(password: &str, iterations: u32, salt: &[u8]) -> Result<String, HashError> {
    let salt = SaltString::encode_b64(salt).map_err(|e| HashError(e.to_string()))?;
    let params = Params {
        rounds: iterations,
        output_length: HASH_BYTES,
    };
    Hasher
        .hash_password_customized(
            password.as_bytes(),
            Some(Algorithm::Pbkdf2Sha256.ident()),
            None,
            params,
            &salt,
        )
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks `password` against `stored`, in constant time. With no stored hash (an unknown
/// user) it runs the same PBKDF2 against a dummy hash of the configured cost, so the answer
/// and its timing match a wrong password.
pub fn verify_password(password: &str, stored: Option<&str>, iterations: u32) -> Verified {
    let dummy;
    let phc = match stored {
        Some(phc) => phc,
        None => {
            dummy = dummy_hash(iterations);
            &dummy
        }
    };
    let Ok(hash) = PasswordHash::new(phc) else {
        return Verified::No;
    };
    let matches = Hasher.verify_password(password.as_bytes(), &hash).is_ok();
    if matches && stored.is_some() {
        Verified::Yes {
            needs_rehash: iterations_of(&hash).is_none_or(|stored| stored < iterations),
        }
    } else {
        Verified::No
    }
}

/// `pbkdf2::Pbkdf2` for PBKDF2-HMAC-SHA256 only, with the derivation replaced by
/// [`pbkdf2_hmac_sha256`]: the same output, about a tenth faster in wasm. Parsing and
/// formatting stay the crate's. Other variants (`pbkdf2-sha512`, `pbkdf2`) are refused: this
/// API never writes them, and handing them to `Pbkdf2` would put a second hash function
/// (SHA-512, some 20 KB) into the worker. Verification is `password_hash`'s own
/// `PasswordVerifier`: it derives again with the stored salt and parameters and compares
/// the two `Output`s, whose equality is constant-time.
struct Hasher;

impl PasswordHasher for Hasher {
    type Params = Params;

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        alg_id: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> password_hash::Result<PasswordHash<'a>> {
        let algorithm = Algorithm::try_from(alg_id.unwrap_or(Algorithm::Pbkdf2Sha256.ident()))?;
        if algorithm != Algorithm::Pbkdf2Sha256 {
            return Err(password_hash::Error::Algorithm);
        }
        if version.is_some() {
            return Err(password_hash::Error::Version);
        }
        let salt = salt.into();
        let mut salt_buffer = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buffer)?;
        let output = Output::init_with(params.output_length, |out| {
            pbkdf2_hmac_sha256(password, salt_bytes, params.rounds, out);
            Ok(())
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: None,
            params: params.try_into()?,
            salt: Some(salt),
            hash: Some(output),
        })
    }
}

fn iterations_of(hash: &PasswordHash) -> Option<u32> {
    hash.params.get_decimal("i")
}

/// A well-formed hash that no password matches (its output is all zeros).
fn dummy_hash(iterations: u32) -> String {
    format!(
        "$pbkdf2-sha256$i={iterations},l=32$c2FsdHNhbHRzYWx0c2FsdA${}",
        "A".repeat(43)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbkdf2::Pbkdf2;

    fn output_hex(phc: &str) -> String {
        let hash = PasswordHash::new(phc).unwrap();
        hash.hash
            .unwrap()
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// RFC 7914 §11: PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1), first 32 of 64 bytes.
    #[test]
    fn matches_the_rfc_7914_test_vector() {
        let phc = hash_with_salt("passwd", 1, b"salt").unwrap();
        assert_eq!(
            output_hex(&phc),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    /// RFC 7914 §11, second vector (P="Password", S="NaCl", c=80000), first 32 bytes.
    #[test]
    fn matches_the_rfc_7914_high_iteration_vector() {
        let phc = hash_with_salt("Password", 80_000, b"NaCl").unwrap();
        assert_eq!(
            output_hex(&phc),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
    }

    #[test]
    fn writes_the_same_phc_string_as_the_pbkdf2_crate() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params {
            rounds: 1_000,
            output_length: HASH_BYTES,
        };
        let theirs = Pbkdf2
            .hash_password_customized(
                b"correct horse",
                Some(Algorithm::Pbkdf2Sha256.ident()),
                None,
                params,
                &salt,
            )
            .unwrap()
            .to_string();
        assert_eq!(
            hash_with_salt("correct horse", 1_000, b"0123456789abcdef").unwrap(),
            theirs
        );
        assert_eq!(
            verify_password("correct horse", Some(&theirs), 1_000),
            Verified::Yes {
                needs_rehash: false
            }
        );
    }

    #[test]
    fn other_pbkdf2_variants_never_verify() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params {
            rounds: 1_000,
            output_length: HASH_BYTES,
        };
        let sha512 = Pbkdf2
            .hash_password_customized(
                b"correct horse",
                Some(Algorithm::Pbkdf2Sha512.ident()),
                None,
                params,
                &salt,
            )
            .unwrap()
            .to_string();
        assert!(sha512.starts_with("$pbkdf2-sha512$"), "{sha512}");
        assert_eq!(
            verify_password("correct horse", Some(&sha512), 1_000),
            Verified::No
        );
    }

    #[test]
    fn stores_algorithm_iterations_salt_and_hash_in_phc_format() {
        let phc = hash_password("correct horse", 1_000).unwrap();
        let parts: Vec<_> = phc.split('$').collect();
        assert_eq!(parts[1], "pbkdf2-sha256");
        assert_eq!(parts[2], "i=1000,l=32");
        assert_eq!(parts[3].len(), 22, "16-byte salt in unpadded base64");
        assert_eq!(parts[4].len(), 43, "32-byte hash in unpadded base64");
    }

    #[test]
    fn salts_are_random() {
        assert_ne!(
            hash_password("same", 1_000).unwrap(),
            hash_password("same", 1_000).unwrap()
        );
    }

    #[test]
    fn verifies_the_right_password_only() {
        let phc = hash_password("correct horse", 1_000).unwrap();
        assert_eq!(
            verify_password("correct horse", Some(&phc), 1_000),
            Verified::Yes {
                needs_rehash: false
            }
        );
        assert_eq!(
            verify_password("correct horsf", Some(&phc), 1_000),
            Verified::No
        );
        assert_eq!(verify_password("", Some(&phc), 1_000), Verified::No);
    }

    #[test]
    fn a_hash_with_fewer_iterations_than_configured_needs_rehash() {
        let phc = hash_password("pw", 1_000).unwrap();
        assert_eq!(
            verify_password("pw", Some(&phc), 2_000),
            Verified::Yes { needs_rehash: true }
        );
        assert_eq!(
            verify_password("pw", Some(&phc), 500),
            Verified::Yes {
                needs_rehash: false
            },
            "a stronger stored hash is kept"
        );
    }

    #[test]
    fn an_unknown_user_or_unreadable_hash_never_verifies() {
        assert_eq!(verify_password("anything", None, 1_000), Verified::No);
        assert_eq!(verify_password("", None, 1_000), Verified::No);
        assert_eq!(
            verify_password("pw", Some("not a phc string"), 1_000),
            Verified::No
        );
        assert!(
            PasswordHash::new(&dummy_hash(600_000)).is_ok(),
            "dummy hash must parse"
        );
    }
}
