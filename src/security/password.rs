//! PBKDF2-HMAC-SHA256 password hashes, stored as PHC strings:
//! `$pbkdf2-sha256$i=600000,l=32$<salt>$<hash>`. The iteration count travels with each hash,
//! so the configured count can rise and old hashes be upgraded at the next login.
//!
//! A hash is ~0.4 s of CPU in wasm, and a Worker isolate runs all its requests on one thread:
//! done in one piece, it holds up every other request of the isolate for that long. So each
//! derivation runs in slices of [`SLICE_ITERATIONS`], and between two slices awaits the
//! caller's [`Pacer`] (in the worker, a macrotask), which lets the isolate serve others.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use pbkdf2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use pbkdf2::{Algorithm, Params};

use super::pbkdf2_sha256::Pbkdf2Sha256;

/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;
const SALT_BYTES: usize = 16;
const HASH_BYTES: usize = 32;

/// Iterations run between two pauses: 0.5-1 ms of CPU in wasm (0.4-0.8 µs each). A request
/// that arrives while logins hash waits for the slices under way at each turn of the event
/// loop its path takes (under `wrangler dev`: the dev proxy, the worker, D1, and back), so
/// some ms rather than whole hashes (~0.4 s each): slices of 2 500 added about 16 ms to a
/// GET's median while two clients logged in, these about 7 (`scripts/bench.sh stall`, on two
/// shared cores). A 600 000-iteration hash pauses 479 times; a pause (a 0 ms timer through
/// `worker::Delay`) costs about 10 µs of workerd CPU, so under 2 % of a login in all. Counted
/// in iterations, not time: the Workers clock does not advance while code runs.
pub const SLICE_ITERATIONS: u64 = 1_250;

/// Where a derivation runs: it awaits [`pause`](Self::pause) between two slices of
/// [`SLICE_ITERATIONS`], and tells [`ran`](Self::ran) of every slice.
pub trait Pacer {
    /// Lets whatever else is waiting for the thread run before the next slice.
    fn pause(&self) -> impl Future<Output = ()>;
    /// `iterations` more PBKDF2 iterations have run.
    fn ran(&self, iterations: u64);
}

/// Runs `derivation` to its end in slices, pausing between them.
async fn derive(derivation: &mut Pbkdf2Sha256, pacer: &impl Pacer) {
    loop {
        pacer.ran(derivation.advance(SLICE_ITERATIONS));
        if derivation.is_done() {
            return;
        }
        pacer.pause().await;
    }
}

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

fn hash_error(error: impl std::fmt::Display) -> HashError {
    HashError(error.to_string())
}

/// Hashes with a fresh random 16-byte salt.
pub async fn hash_password(
    password: &str,
    iterations: u32,
    pacer: &impl Pacer,
) -> Result<String, HashError> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::getrandom(&mut salt).map_err(hash_error)?;
    hash_with_salt(password, iterations, &salt, pacer).await
}

async fn hash_with_salt(
    password: &str,
    iterations: u32,
    salt: &[u8],
    pacer: &impl Pacer,
) -> Result<String, HashError> {
    let salt_string = SaltString::encode_b64(salt).map_err(hash_error)?;
    let mut derivation = Pbkdf2Sha256::new(password.as_bytes(), salt, iterations, HASH_BYTES);
    derive(&mut derivation, pacer).await;
    let output = Output::new(derivation.output().unwrap_or_default()).map_err(hash_error)?;
    let params = Params {
        rounds: iterations,
        output_length: HASH_BYTES,
    };
    let hash = PasswordHash {
        algorithm: Algorithm::Pbkdf2Sha256.ident(),
        version: None,
        params: ParamsString::try_from(params).map_err(hash_error)?,
        salt: Some(salt_string.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Checks `password` against `stored` (in constant time), running at least `floor`
/// iterations in all: a stored hash with fewer is followed by a dummy run of the difference,
/// and with no stored hash (an unknown user) or an unreadable one, the dummy runs them all.
/// Login passes the most iterations of any stored hash, so that every login costs the same,
/// known email or not, whatever the count each hash was made with.
///
/// `iterations` is the configured count: a matching hash with fewer needs a rehash.
pub async fn verify_password(
    password: &str,
    stored: Option<&str>,
    iterations: u32,
    floor: u32,
    pacer: &impl Pacer,
) -> Verified {
    let parsed = stored.and_then(|phc| PasswordHash::new(phc).ok());
    let readable = parsed.as_ref().and_then(StoredHash::read);
    let mut ran = 0;
    let mut verified = Verified::No;
    if let (Some(hash), Some(stored)) = (readable, &parsed) {
        let mut derivation =
            Pbkdf2Sha256::new(password.as_bytes(), &hash.salt, hash.rounds, hash.length);
        ran = derivation.remaining();
        derive(&mut derivation, pacer).await;
        // `Output`'s equality is constant-time.
        let derived = derivation.output().and_then(|out| Output::new(out).ok());
        if derived.as_ref() == Some(&hash.expected) {
            verified = Verified::Yes {
                needs_rehash: iterations_of(stored).is_none_or(|stored| stored < iterations),
            };
        }
    }
    let rest = u64::from(floor).saturating_sub(ran);
    if rest > 0 {
        // The same work a real hash of `rest` iterations would be; its result is not used.
        let rest = u32::try_from(rest).unwrap_or(u32::MAX);
        let mut dummy = Pbkdf2Sha256::new(password.as_bytes(), DUMMY_SALT, rest, HASH_BYTES);
        derive(&mut dummy, pacer).await;
    }
    verified
}

const DUMMY_SALT: &[u8] = b"saltsaltsaltsalt";

/// What a stored PHC string gives the derivation: PBKDF2-HMAC-SHA256 only. Other variants
/// (`pbkdf2-sha512`, `pbkdf2`) are unreadable: this API never writes them, and deriving them
/// would put a second hash function (SHA-512, some 20 KB) into the worker.
struct StoredHash {
    salt: Vec<u8>,
    rounds: u32,
    length: usize,
    expected: Output,
}

impl StoredHash {
    fn read(hash: &PasswordHash<'_>) -> Option<StoredHash> {
        if Algorithm::try_from(hash.algorithm).ok()? != Algorithm::Pbkdf2Sha256 {
            return None;
        }
        // Refuses a version, unknown parameters, and an `l` that is not the hash's length.
        let params = Params::try_from(hash).ok()?;
        let mut buffer = [0u8; 64];
        let salt = hash.salt?.decode_b64(&mut buffer).ok()?.to_vec();
        Some(StoredHash {
            salt,
            rounds: params.rounds,
            length: params.output_length,
            expected: hash.hash?,
        })
    }
}

fn iterations_of(hash: &PasswordHash) -> Option<u32> {
    hash.params.get_decimal("i")
}

/// For native tools (the seed, the benchmark's yardstick): nothing else waits for the thread.
pub struct InOnePiece;

impl Pacer for InOnePiece {
    fn pause(&self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
    fn ran(&self, _: u64) {}
}

/// [`hash_password`] in one piece, for native tools; never in the worker.
pub fn hash_password_now(password: &str, iterations: u32) -> Result<String, HashError> {
    let hashing = pin!(hash_password(password, iterations, &InOnePiece));
    match hashing.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(hash) => hash,
        Poll::Pending => unreachable!("InOnePiece never waits"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pbkdf2::password_hash::PasswordHasher;
    use pbkdf2::Pbkdf2;
    use std::cell::Cell;

    /// Counts the iterations reported and the pauses taken; each pause is pending once, as
    /// a timer is, so a derivation really is suspended and resumed between slices.
    #[derive(Default)]
    struct Counting {
        iterations: Cell<u64>,
        pauses: Cell<u64>,
    }

    impl Pacer for Counting {
        fn pause(&self) -> impl Future<Output = ()> {
            self.pauses.set(self.pauses.get() + 1);
            let mut waited = false;
            std::future::poll_fn(move |_| {
                if std::mem::replace(&mut waited, true) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            })
        }
        fn ran(&self, iterations: u64) {
            self.iterations.set(self.iterations.get() + iterations);
        }
    }

    /// Polls `future` until it is done (each pause wants one more poll).
    fn run<F: Future>(future: F) -> F::Output {
        let mut future = pin!(future);
        let mut context = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
                return value;
            }
        }
    }

    fn hash(password: &str, iterations: u32) -> String {
        run(hash_password(password, iterations, &Counting::default())).unwrap()
    }

    fn verify(password: &str, stored: Option<&str>, iterations: u32) -> Verified {
        run(verify_password(
            password,
            stored,
            iterations,
            0,
            &Counting::default(),
        ))
    }

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
        let phc = run(hash_with_salt("passwd", 1, b"salt", &Counting::default())).unwrap();
        assert_eq!(
            output_hex(&phc),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    /// RFC 7914 §11, second vector (P="Password", S="NaCl", c=80000), first 32 bytes, in
    /// slices with a pause between each two.
    #[test]
    fn matches_the_rfc_7914_high_iteration_vector() {
        let pacer = Counting::default();
        let phc = run(hash_with_salt("Password", 80_000, b"NaCl", &pacer)).unwrap();
        assert_eq!(
            output_hex(&phc),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
        assert_eq!(pacer.iterations.get(), 80_000);
        assert_eq!(
            pacer.pauses.get(),
            80_000_u64.div_ceil(SLICE_ITERATIONS) - 1
        );
    }

    #[test]
    fn writes_the_same_phc_string_as_the_pbkdf2_crate() {
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params {
            rounds: 12_345,
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
        let ours = run(hash_with_salt(
            "correct horse",
            12_345,
            b"0123456789abcdef",
            &Counting::default(),
        ));
        assert_eq!(ours.unwrap(), theirs);
        assert_eq!(
            verify("correct horse", Some(&theirs), 12_345),
            Verified::Yes {
                needs_rehash: false
            }
        );
        assert_eq!(
            hash_password_now("correct horse", 1_000).unwrap().len(),
            theirs.len() - 1
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
        assert_eq!(verify("correct horse", Some(&sha512), 1_000), Verified::No);
    }

    #[test]
    fn stores_algorithm_iterations_salt_and_hash_in_phc_format() {
        let phc = hash("correct horse", 1_000);
        let parts: Vec<_> = phc.split('$').collect();
        assert_eq!(parts[1], "pbkdf2-sha256");
        assert_eq!(parts[2], "i=1000,l=32");
        assert_eq!(parts[3].len(), 22, "16-byte salt in unpadded base64");
        assert_eq!(parts[4].len(), 43, "32-byte hash in unpadded base64");
    }

    #[test]
    fn salts_are_random() {
        assert_ne!(hash("same", 1_000), hash("same", 1_000));
    }

    #[test]
    fn verifies_the_right_password_only() {
        let phc = hash("correct horse", 1_000);
        assert_eq!(
            verify("correct horse", Some(&phc), 1_000),
            Verified::Yes {
                needs_rehash: false
            }
        );
        assert_eq!(verify("correct horsf", Some(&phc), 1_000), Verified::No);
        assert_eq!(verify("", Some(&phc), 1_000), Verified::No);
    }

    #[test]
    fn a_hash_with_fewer_iterations_than_configured_needs_rehash() {
        let phc = hash("pw", 1_000);
        assert_eq!(
            verify("pw", Some(&phc), 2_000),
            Verified::Yes { needs_rehash: true }
        );
        assert_eq!(
            verify("pw", Some(&phc), 500),
            Verified::Yes {
                needs_rehash: false
            },
            "a stronger stored hash is kept"
        );
    }

    #[test]
    fn an_unknown_user_or_unreadable_hash_never_verifies() {
        assert_eq!(verify("anything", None, 1_000), Verified::No);
        assert_eq!(verify("", None, 1_000), Verified::No);
        assert_eq!(verify("pw", Some("not a phc string"), 1_000), Verified::No);
    }

    /// The iterations a check runs: what the log line counts, and what a login costs.
    fn iterations_of_check(password: &str, stored: Option<&str>, floor: u32) -> (Verified, u64) {
        let pacer = Counting::default();
        let verified = run(verify_password(password, stored, 1_000, floor, &pacer));
        (verified, pacer.iterations.get())
    }

    #[test]
    fn every_check_runs_the_floor_whoever_it_is_for() {
        let weak = hash("pw", 1_000);
        let strong = hash("pw", 12_000);
        let floor = 12_000;
        for (password, stored, verified) in [
            ("pw", Some(weak.as_str()), true),
            ("wrong", Some(weak.as_str()), false),
            ("pw", Some(strong.as_str()), true),
            ("wrong", Some(strong.as_str()), false),
            ("pw", None, false),
            ("pw", Some("not a phc string"), false),
        ] {
            let (result, ran) = iterations_of_check(password, stored, floor);
            assert_eq!(
                result != Verified::No,
                verified,
                "{password} against {stored:?}"
            );
            assert_eq!(ran, 12_000, "{password} against {stored:?} runs the floor");
        }
        let (_, ran) = iterations_of_check("pw", Some(&strong), 1_000);
        assert_eq!(ran, 12_000, "a hash above the floor runs its own count");
        let (_, ran) = iterations_of_check("pw", Some(&weak), 0);
        assert_eq!(ran, 1_000, "no floor: the stored count only");
    }
}
