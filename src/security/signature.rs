//! Asymmetric signatures, described rather than computed: the pure code (passkeys, ID tokens,
//! access tokens) parses, checks every claim and says which signature over which bytes by
//! which key must hold; the worker asks Web Crypto (`crypto.subtle`, src/api/webcrypto.rs).
//! Native tests answer the same descriptions with the `p256`, `rsa` and `ed25519-compact`
//! crates (dev-dependencies), so the wasm links none of them.
//!
//! - [`SignatureCheck`]: an algorithm, a public key in a form `importKey` takes, a message
//!   and a signature in the form `verify` takes (ECDSA as IEEE P1363 `r‖s`).
//! - [`Unverified`]: a result that is only handed out with the verdict on its check.
//! - [`SigningKey`] and [`SigningInput`]: a private key as PKCS#8, and the JWS signing input
//!   that `crypto.subtle.sign` signs and [`SigningInput::token`] completes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

/// The three signature algorithms, each with its one key type and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Ed25519 (EdDSA): raw 32-byte public keys, 64-byte signatures.
    Ed25519,
    /// ECDSA on P-256 with SHA-256 (ES256): raw uncompressed public keys (65 bytes),
    /// signatures as `r‖s` (64 bytes).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RS256): public keys as a JWK's `n` and `e`.
    Rs256,
}

/// A public key, in the form Web Crypto's `importKey` reads for its algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// Ed25519: the 32-byte key (`"raw"`).
    Ed25519([u8; 32]),
    /// P-256: `0x04 ‖ x ‖ y` (`"raw"`), as SEC 1 writes an uncompressed point, on the curve
    /// ([`PublicKey::p256`] makes no other).
    P256(Vec<u8>),
    /// RSA: the modulus and the public exponent, big-endian (`"jwk"` with `n` and `e`).
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl PublicKey {
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
            PublicKey::P256(_) => Algorithm::Es256,
            PublicKey::Rsa { .. } => Algorithm::Rs256,
        }
    }

    /// A P-256 key from its coordinates, 32 bytes each; `None` for a point that is not on
    /// the curve.
    pub fn p256(x: &[u8], y: &[u8]) -> Option<PublicKey> {
        if !p256_on_curve(x.try_into().ok()?, y.try_into().ok()?) {
            return None;
        }
        let mut point = Vec::with_capacity(65);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Some(PublicKey::P256(point))
    }

    /// The RSA key as the JWK `importKey("jwk", ...)` takes.
    pub fn rsa_jwk(n: &[u8], e: &[u8]) -> serde_json::Value {
        serde_json::json!({"kty": "RSA", "n": B64.encode(n), "e": B64.encode(e)})
    }
}

/// One signature to verify: `signature` by `key` over `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureCheck {
    pub key: PublicKey,
    pub message: Vec<u8>,
    /// Ed25519 and ECDSA: 64 bytes (`r‖s` for ECDSA); RSA: as long as the modulus.
    pub signature: Vec<u8>,
}

/// The signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

/// A result that holds only if its signature does: the value comes out of
/// [`Unverified::verdict`], given whether [`Unverified::check`] held.
#[must_use = "the value is only good once its signature is verified"]
#[derive(Debug)]
pub struct Unverified<T> {
    value: T,
    /// `None`: verified already, by the pure code (an HS256 token's HMAC).
    check: Option<SignatureCheck>,
}

impl<T> Unverified<T> {
    pub(crate) fn new(value: T, check: SignatureCheck) -> Unverified<T> {
        Unverified {
            value,
            check: Some(check),
        }
    }

    /// A value whose signature the pure code verified itself.
    pub(crate) fn verified(value: T) -> Unverified<T> {
        Unverified { value, check: None }
    }

    /// What must verify; `None` when nothing is left to.
    pub fn check(&self) -> Option<&SignatureCheck> {
        self.check.as_ref()
    }

    /// The value if the check held.
    pub fn verdict(self, verified: bool) -> Result<T, BadSignature> {
        if verified {
            Ok(self.value)
        } else {
            Err(BadSignature)
        }
    }
}

/// P-256's prime and `b` (SEC 2 §2.4.2), as four 64-bit limbs, least significant first.
const P: [u64; 4] = [
    0xffff_ffff_ffff_ffff,
    0x0000_0000_ffff_ffff,
    0x0000_0000_0000_0000,
    0xffff_ffff_0000_0001,
];
const B: [u64; 4] = [
    0x3bce_3c3e_27d2_604b,
    0x651d_06b0_cc53_b0f6,
    0xb3eb_bd55_7698_86bc,
    0x5ac6_35d8_aa3a_93e7,
];

fn limbs(bytes: &[u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, chunk) in bytes.chunks_exact(8).enumerate() {
        out[3 - i] = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
    }
    out
}

fn below_p(a: &[u64; 4]) -> bool {
    (0..4)
        .rev()
        .find(|&i| a[i] != P[i])
        .is_some_and(|i| a[i] < P[i])
}

/// `a - b` and whether it borrowed.
fn sub(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], bool) {
    let mut out = [0u64; 4];
    let mut borrow = false;
    for i in 0..4 {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        out[i] = d;
        borrow = b1 || b2;
    }
    (out, borrow)
}

/// `a + b mod p`, for `a` and `b` below p.
fn add_mod(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let (mut out, carry) = add(a, b);
    if carry || !below_p(&out) {
        out = sub(&out, &P).0;
    }
    out
}

fn sub_mod(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    match sub(a, b) {
        (d, false) => d,
        // A difference that borrowed, plus p, modulo 2^256.
        (d, true) => add(&d, &P).0,
    }
}

/// `a + b` modulo 2^256, and whether it carried.
fn add(a: &[u64; 4], b: &[u64; 4]) -> ([u64; 4], bool) {
    let mut out = [0u64; 4];
    let mut carry = false;
    for i in 0..4 {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        out[i] = s;
        carry = c1 || c2;
    }
    (out, carry)
}

/// `a · b mod p` by doubling and adding: slow, small, and run only when a key is read.
fn mul_mod(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let mut acc = [0u64; 4];
    for bit in (0..256).rev() {
        acc = add_mod(&acc, &acc);
        if a[bit / 64] >> (bit % 64) & 1 == 1 {
            acc = add_mod(&acc, b);
        }
    }
    acc
}

/// Whether (x, y) is on P-256: both below p, and y² = x³ − 3x + b (mod p). A key that is not
/// would be refused by Web Crypto's import; refusing it here keeps it out of key sets and
/// out of the passkeys table.
pub fn p256_on_curve(x: &[u8; 32], y: &[u8; 32]) -> bool {
    let (x, y) = (limbs(x), limbs(y));
    if !below_p(&x) || !below_p(&y) {
        return false;
    }
    let three = [3, 0, 0, 0];
    let x_squared_minus_3 = sub_mod(&mul_mod(&x, &x), &three);
    let right = add_mod(&mul_mod(&x, &x_squared_minus_3), &B);
    mul_mod(&y, &y) == right
}

/// An ECDSA signature in DER (`SEQUENCE { INTEGER r, INTEGER s }`, as WebAuthn's ES256
/// signatures come, WebAuthn §6.5.5) as IEEE P1363 `r‖s`, each 32 bytes, which Web Crypto
/// verifies. Strict DER: minimal lengths and integers, positive, at most 32 bytes of value,
/// and nothing after the sequence; anything else is `None`.
pub fn der_to_p1363(der: &[u8]) -> Option<[u8; 64]> {
    let (&tag, rest) = der.split_first()?;
    let (&length, body) = rest.split_first()?;
    // r and s are at most 33 bytes each with their headers: the length fits in one byte.
    if tag != 0x30 || length >= 0x80 || body.len() != usize::from(length) {
        return None;
    }
    let mut out = [0u8; 64];
    let rest = der_integer(body, &mut out[..32])?;
    let rest = der_integer(rest, &mut out[32..])?;
    rest.is_empty().then_some(out)
}

/// Reads one positive DER INTEGER into `out` (right-aligned); returns what follows it.
fn der_integer<'a>(bytes: &'a [u8], out: &mut [u8]) -> Option<&'a [u8]> {
    let (&tag, rest) = bytes.split_first()?;
    let (&length, rest) = rest.split_first()?;
    let length = usize::from(length);
    if tag != 0x02 || length == 0 || length >= 0x80 || rest.len() < length {
        return None;
    }
    let (value, rest) = rest.split_at(length);
    // Negative, or a leading zero that is not needed: not DER.
    if value[0] & 0x80 != 0 || (value.len() > 1 && value[0] == 0 && value[1] & 0x80 == 0) {
        return None;
    }
    let value = if value[0] == 0 { &value[1..] } else { value };
    if value.len() > out.len() || value.iter().all(|&b| b == 0) {
        return None;
    }
    let start = out.len() - value.len();
    out[start..].copy_from_slice(value);
    Some(rest)
}

/// A private key to sign with, as Web Crypto's `importKey("pkcs8", ...)` reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub algorithm: Algorithm,
    /// PKCS#8 DER.
    pub pkcs8: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?}, …)", self.algorithm)
    }
}

/// A JWS's signing input (`header.payload`, RFC 7515 §5.1) and the key that must sign it;
/// [`SigningInput::token`] appends the signature Web Crypto made.
#[derive(Debug, Clone)]
pub struct SigningInput {
    pub input: String,
    pub key: SigningKey,
}

impl SigningInput {
    /// The compact JWS: the input, `.`, the signature in base64url.
    pub fn token(self, signature: &[u8]) -> String {
        let mut token = self.input;
        token.push('.');
        B64.encode_string(signature, &mut token);
        token
    }
}

/// The native verifier of native tests: what Web Crypto answers in the worker.
#[cfg(test)]
pub(crate) mod native {
    use super::{PublicKey, SignatureCheck};
    use sha2::Sha256;

    pub fn verify(check: &SignatureCheck) -> bool {
        let (message, signature) = (&check.message[..], &check.signature[..]);
        match &check.key {
            PublicKey::Ed25519(key) => {
                let key = ed25519_compact::PublicKey::new(*key);
                ed25519_compact::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok())
            }
            PublicKey::P256(point) => {
                use p256::ecdsa::signature::Verifier;
                let Ok(key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
                    return false;
                };
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok())
            }
            PublicKey::Rsa { n, e } => {
                use rsa::signature::Verifier;
                let Ok(key) = rsa::RsaPublicKey::new(
                    rsa::BigUint::from_bytes_be(n),
                    rsa::BigUint::from_bytes_be(e),
                ) else {
                    return false;
                };
                let key = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key);
                rsa::pkcs1v15::Signature::try_from(signature)
                    .is_ok_and(|signature| key.verify(message, &signature).is_ok())
            }
        }
    }

    /// The public key of a PKCS#8 key, as Web Crypto's export gives it; `None` for a key
    /// Web Crypto would not import.
    pub fn public_key(key: &super::SigningKey) -> Option<PublicKey> {
        let secret: [u8; 32] = key
            .pkcs8
            .get(key.pkcs8.len().checked_sub(32)?..)?
            .try_into()
            .ok()?;
        Some(match key.algorithm {
            super::Algorithm::Ed25519 => PublicKey::Ed25519(
                *ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(secret)).pk,
            ),
            super::Algorithm::Es256 => {
                let key = p256::ecdsa::SigningKey::from_slice(&secret).ok()?;
                PublicKey::P256(
                    key.verifying_key()
                        .to_encoded_point(false)
                        .as_bytes()
                        .to_vec(),
                )
            }
            super::Algorithm::Rs256 => return None,
        })
    }

    /// Signs as Web Crypto's `sign` does: Ed25519, or ECDSA P-256 SHA-256 as `r‖s`.
    pub fn sign(key: &super::SigningKey, message: &[u8]) -> Vec<u8> {
        let secret: [u8; 32] = key.pkcs8[key.pkcs8.len() - 32..].try_into().unwrap();
        match key.algorithm {
            super::Algorithm::Ed25519 => {
                let pair = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(secret));
                pair.sk.sign(message, None).to_vec()
            }
            super::Algorithm::Es256 => {
                use p256::ecdsa::signature::Signer;
                let key = p256::ecdsa::SigningKey::from_slice(&secret).unwrap();
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_bytes().to_vec()
            }
            super::Algorithm::Rs256 => unreachable!("no RSA signing key"),
        }
    }

    /// Verifies natively and hands out the value, as the worker does with Web Crypto.
    pub fn verdict<T>(unverified: super::Unverified<T>) -> Result<T, super::BadSignature> {
        let verified = unverified.check().is_none_or(verify);
        unverified.verdict(verified)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_signatures_become_r_and_s_of_32_bytes() {
        use p256::ecdsa::signature::Signer;
        let key = p256::ecdsa::SigningKey::from_bytes(&[3; 32].into()).unwrap();
        for message in [&b"one"[..], b"two", b"three", b"four", b"five", b"six"] {
            let signature: p256::ecdsa::Signature = key.sign(message);
            let der = signature.to_der();
            assert_eq!(
                der_to_p1363(der.as_bytes()).unwrap()[..],
                signature.to_bytes()[..]
            );
        }
        // Short r and s, padded on the left.
        assert_eq!(
            der_to_p1363(&[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07]).map(|b| (b[31], b[63])),
            Some((5, 7))
        );
    }

    #[test]
    fn points_on_p256_and_only_those_are_keys() {
        for seed in 1..=20u8 {
            let key = p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap();
            let point = key.verifying_key().to_encoded_point(false);
            let (x, y) = (point.x().unwrap(), point.y().unwrap());
            assert!(PublicKey::p256(x, y).is_some(), "seed {seed}");
            let mut off = <[u8; 32]>::from(*y);
            off[31] ^= 1;
            assert!(PublicKey::p256(x, &off).is_none(), "seed {seed}");
        }
        // The generator.
        let g_x = B64
            .decode("axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY")
            .unwrap();
        let g_y = B64
            .decode("T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU")
            .unwrap();
        assert!(PublicKey::p256(&g_x, &g_y).is_some());
        // Coordinates of p or more, and the wrong lengths.
        assert!(PublicKey::p256(&[0xff; 32], &g_y).is_none());
        assert!(PublicKey::p256(&g_x[..31], &g_y).is_none());
    }

    #[test]
    fn anything_but_strict_der_is_refused() {
        let good = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07];
        assert!(der_to_p1363(&good).is_some());
        let mut r33 = vec![0x30, 0x26, 0x02, 0x21];
        r33.extend([0x01; 33]);
        r33.extend([0x02, 0x01, 0x07]);
        for bad in [
            &[][..],
            &good[..7],                                              // cut short
            &[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07, 0],    // trailing byte
            &[0x31, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07],       // not a sequence
            &[0x30, 0x06, 0x02, 0x01, 0x85, 0x02, 0x01, 0x07],       // negative
            &[0x30, 0x07, 0x02, 0x02, 0x00, 0x05, 0x02, 0x01, 0x07], // needless zero
            &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x07],       // zero
            &[0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x07],             // empty
            &r33[..],                                                // 33 bytes of value
        ] {
            assert_eq!(der_to_p1363(bad), None, "{bad:02x?}");
        }
    }

    #[test]
    fn a_value_comes_out_only_with_a_good_verdict() {
        let check = SignatureCheck {
            key: PublicKey::Ed25519([0; 32]),
            message: b"m".to_vec(),
            signature: vec![0; 64],
        };
        assert_eq!(Unverified::new(5, check.clone()).verdict(true), Ok(5));
        assert_eq!(
            Unverified::new(5, check.clone()).verdict(false),
            Err(BadSignature)
        );
        assert!(!native::verify(&check));
    }
}
