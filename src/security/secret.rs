//! The signing keys, checked at the door: `JWT_SECRET` (HS256) and, for access tokens other
//! services verify, `JWT_PRIVATE_KEY` (ES256 or EdDSA).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine;
use jwt_compact::alg::Hs256Key;
use jwt_compact::jwk::JsonWebKey;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::signature::{Algorithm, PublicKey, SigningKey};

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

/// `JWT_ALGORITHM`: how access tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtAlgorithm {
    /// With `JWT_SECRET`, the default: only a holder of the secret can verify.
    Hs256,
    /// ECDSA on P-256 with `JWT_PRIVATE_KEY`; the public key is published.
    Es256,
    /// Ed25519 with `JWT_PRIVATE_KEY`; the public key is published.
    EdDsa,
}

impl JwtAlgorithm {
    /// Unset or empty is HS256; the names are JOSE's (RFC 7518, RFC 8037), exactly.
    pub fn parse(value: Option<&str>) -> Result<JwtAlgorithm, String> {
        match value.map(str::trim) {
            None | Some("") | Some("HS256") => Ok(JwtAlgorithm::Hs256),
            Some("ES256") => Ok(JwtAlgorithm::Es256),
            Some("EdDSA") => Ok(JwtAlgorithm::EdDsa),
            Some(other) => Err(format!(
                "JWT_ALGORITHM is {other:?}; it must be HS256 (the default), ES256 or EdDSA"
            )),
        }
    }

    /// The `alg` of tokens and JWKs.
    pub fn name(self) -> &'static str {
        match self {
            JwtAlgorithm::Hs256 => "HS256",
            JwtAlgorithm::Es256 => "ES256",
            JwtAlgorithm::EdDsa => "EdDSA",
        }
    }
}

/// The DER of an Ed25519 key in PKCS#8 (RFC 8410 §7) is this prefix and the 32-byte seed.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The DER of a P-256 key in PKCS#8 (RFC 5915 inside RFC 5208), as OpenSSL, Node and Web
/// Crypto write it, up to the 32-byte scalar; the public key follows it. Read by prefix, as
/// these are the only two forms of the two keys there are.
const P256_PKCS8_PREFIX: [u8; 36] = [
    0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02,
    0x01, 0x01, 0x04, 0x20,
];
/// What follows the scalar in the long form: `[1] BIT STRING` of an uncompressed point.
const P256_PKCS8_PUBLIC_PREFIX: [u8; 6] = [0xa1, 0x44, 0x03, 0x42, 0x00, 0x04];
/// The same without the optional public key.
const P256_PKCS8_SHORT_PREFIX: [u8; 35] = [
    0x30, 0x41, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x27, 0x30, 0x25, 0x02, 0x01,
    0x01, 0x04, 0x20,
];

/// The members of a private JWK read here.
#[derive(Deserialize)]
struct PrivateJwk {
    kty: String,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    d: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

/// A `JWT_PRIVATE_KEY` (or `JWT_PRIVATE_KEY_PREVIOUS`) as read: a P-256 or Ed25519 private
/// key, as a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`; its line breaks may be written `\n`)
/// or as a private JWK, held as PKCS#8 for Web Crypto. Its public key is what Web Crypto
/// derives from it (src/api/webcrypto.rs); [`PrivateKey::with_public_key`] then checks it
/// against the one the JWK or the PEM states, if any, and makes the [`KeyPair`].
pub struct PrivateKey {
    name: String,
    signing: SigningKey,
    /// The public key the value states (a JWK's `x` and `y`, a long PKCS#8's point).
    stated: Option<PublicKey>,
}

impl PrivateKey {
    /// Reads the key of the secret `name`; the message names it and never quotes the value.
    pub fn parse_named(name: &str, value: Option<&str>) -> Result<PrivateKey, String> {
        let value = value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                format!(
                    "{name} is not set: JWT_ALGORITHM is ES256 or EdDSA, which sign with it; add \
                 it to .dev.vars locally or run `wrangler secret put {name}` (a PKCS#8 PEM \
                 or a private JWK; see docs/deploying.md)"
                )
            })?;
        let malformed = |why: &str| malformed(name, why);
        let (algorithm, pkcs8, stated) = if value.starts_with('{') {
            let jwk: PrivateJwk =
                serde_json::from_str(value).map_err(|_| malformed("not a JWK"))?;
            let part = |part: &Option<String>, what: &str| {
                part.as_deref()
                    .and_then(|text| B64.decode(text.trim_end_matches('=')).ok())
                    .filter(|bytes| bytes.len() == 32)
                    .ok_or_else(|| malformed(what))
            };
            match (jwk.kty.as_str(), jwk.crv.as_deref()) {
                ("EC", Some("P-256")) => {
                    let d = part(&jwk.d, "not a private P-256 key")?;
                    let (x, y) = (
                        part(&jwk.x, "not a private P-256 key")?,
                        part(&jwk.y, "not a private P-256 key")?,
                    );
                    (
                        Algorithm::Es256,
                        [&P256_PKCS8_SHORT_PREFIX[..], &d].concat(),
                        PublicKey::p256(&x, &y),
                    )
                }
                ("OKP", Some("Ed25519")) => {
                    let d = part(&jwk.d, "not a private Ed25519 key")?;
                    let x = part(&jwk.x, "not a private Ed25519 key")?;
                    (
                        Algorithm::Ed25519,
                        [&ED25519_PKCS8_PREFIX[..], &d].concat(),
                        x.try_into().ok().map(PublicKey::Ed25519),
                    )
                }
                ("EC" | "OKP", _) => return Err(malformed("not a P-256 or Ed25519 key")),
                _ => return Err(malformed("neither an EC nor an OKP key")),
            }
        } else {
            let der = pkcs8_pem(value).ok_or_else(|| malformed("not a PKCS#8 PEM"))?;
            if der.len() == ED25519_PKCS8_PREFIX.len() + 32
                && der.starts_with(&ED25519_PKCS8_PREFIX)
            {
                (Algorithm::Ed25519, der, None)
            } else if der.len() == P256_PKCS8_SHORT_PREFIX.len() + 32
                && der.starts_with(&P256_PKCS8_SHORT_PREFIX)
            {
                (Algorithm::Es256, der, None)
            } else if let Some(rest) = der.strip_prefix(&P256_PKCS8_PREFIX[..]) {
                let (scalar, rest) = rest.split_at(rest.len().min(32));
                let point = rest
                    .strip_prefix(&P256_PKCS8_PUBLIC_PREFIX[..])
                    .filter(|point| point.len() == 64)
                    .ok_or_else(|| malformed("not a P-256 key"))?;
                let short = [&P256_PKCS8_SHORT_PREFIX[..], scalar].concat();
                (
                    Algorithm::Es256,
                    short,
                    PublicKey::p256(&point[..32], &point[32..]),
                )
            } else {
                return Err(malformed("not a P-256 or Ed25519 key"));
            }
        };
        Ok(PrivateKey {
            name: name.to_owned(),
            signing: SigningKey { algorithm, pkcs8 },
            stated,
        })
    }

    pub fn algorithm(&self) -> JwtAlgorithm {
        match self.signing.algorithm {
            Algorithm::Es256 => JwtAlgorithm::Es256,
            _ => JwtAlgorithm::EdDsa,
        }
    }

    /// The key as Web Crypto imports it to sign, and to derive its public key from.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The pair, given the public key Web Crypto derived from [`PrivateKey::signing_key`]:
    /// refused when the value stated another one (a JWK whose `x` is not its `d`'s).
    pub fn with_public_key(self, derived: PublicKey) -> Result<KeyPair, String> {
        if derived.algorithm() != self.signing.algorithm {
            return Err(malformed(&self.name, "not a P-256 or Ed25519 key"));
        }
        if self
            .stated
            .as_ref()
            .is_some_and(|stated| *stated != derived)
        {
            return Err(malformed(
                &self.name,
                "its public key is not its private key's",
            ));
        }
        let kid = B64.encode(jwk_of(&derived).thumbprint::<Sha256>());
        Ok(KeyPair {
            signing: self.signing,
            public: derived,
            kid,
        })
    }
}

fn malformed(name: &str, why: &str) -> String {
    format!(
        "{name} is malformed ({why}): it must be a P-256 or Ed25519 private key, as a \
         PKCS#8 PEM (`openssl genpkey -algorithm ed25519`) or a private JWK"
    )
}

/// An access tokens' key pair, complete: the private key to sign with, its public key, and
/// its `kid`, the RFC 7638 thumbprint of its public JWK.
#[derive(Debug, Clone)]
pub struct KeyPair {
    signing: SigningKey,
    public: PublicKey,
    kid: String,
}

impl KeyPair {
    pub fn algorithm(&self) -> JwtAlgorithm {
        match self.signing.algorithm {
            Algorithm::Es256 => JwtAlgorithm::Es256,
            _ => JwtAlgorithm::EdDsa,
        }
    }

    /// The RFC 7638 thumbprint (SHA-256, base64url) of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The public key as a JWKS lists it: with `kid`, `alg` and `use`, never `d`.
    pub fn public_jwk(&self) -> serde_json::Value {
        let mut jwk =
            serde_json::to_value(jwk_of(&self.public)).expect("a public key always serialises");
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = self.algorithm().name().into();
        jwk["use"] = "sig".into();
        jwk
    }
}

/// The public JWK of a P-256 or Ed25519 key (an RSA key is never an access tokens' key).
fn jwk_of(key: &PublicKey) -> JsonWebKey<'_> {
    match key {
        PublicKey::P256(point) => JsonWebKey::EllipticCurve {
            curve: "P-256".into(),
            x: point[1..33].into(),
            y: point[33..].into(),
            secret: None,
        },
        PublicKey::Ed25519(x) => JsonWebKey::KeyPair {
            curve: "Ed25519".into(),
            x: x[..].into(),
            secret: None,
        },
        PublicKey::Rsa { n, e } => JsonWebKey::Rsa {
            modulus: n[..].into(),
            public_exponent: e[..].into(),
            private_parts: None,
        },
    }
}

/// The DER inside `-----BEGIN PRIVATE KEY-----`, its line breaks real or written `\n`.
fn pkcs8_pem(value: &str) -> Option<Vec<u8>> {
    let body = value
        .strip_prefix("-----BEGIN PRIVATE KEY-----")?
        .trim_end()
        .strip_suffix("-----END PRIVATE KEY-----")?
        .replace("\\n", "")
        .replace(|c: char| c.is_ascii_whitespace(), "");
    STANDARD.decode(body).ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::security::signature::native;

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

    /// RFC 8037 A.1: an Ed25519 private key; A.3: its thumbprint.
    pub(crate) const RFC8037_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
    pub(crate) const RFC8037_KID: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
    /// The same key as PKCS#8 (written by Node's crypto).
    pub(crate) const RFC8037_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
    /// A P-256 key from `openssl genpkey`, its JWK and thumbprint computed by Node's crypto.
    pub(crate) const P256_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgK+tJy1Skuqot2ocS
Rr2qkWPNZV3fh3N5fEBoNHDAU2ihRANCAAQ4NWvr1+lIgwJ5CrZK82zvFcfSeyND
3ShEB+xo1OBkg++9EckHGuMji4m9XwcbL+EGclUCPiiJspQVphld5VFI
-----END PRIVATE KEY-----
";
    pub(crate) const P256_JWK: &str = r#"{"kty":"EC","x":"ODVr69fpSIMCeQq2SvNs7xXH0nsjQ90oRAfsaNTgZIM","y":"770RyQca4yOLib1fBxsv4QZyVQI-KImylBWmGV3lUUg","crv":"P-256","d":"K-tJy1Skuqot2ocSRr2qkWPNZV3fh3N5fEBoNHDAU2g"}"#;
    pub(crate) const P256_KID: &str = "CwME1_RQNbmu9zl3UOXcIxnA57aDXNWq2f9S6WtKmHY";

    /// The key pair, its public key derived natively as Web Crypto derives it in the worker.
    pub(crate) fn complete(key: PrivateKey) -> Result<KeyPair, String> {
        let derived = native::public_key(key.signing_key()).ok_or("not importable")?;
        key.with_public_key(derived)
    }

    fn key(value: &str) -> KeyPair {
        complete(PrivateKey::parse_named("JWT_PRIVATE_KEY", Some(value)).unwrap()).unwrap()
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s() {
        // RFC 7638 §3.1, the RSA key of its example: the hashing the kid of ours relies on.
        let rsa: JsonWebKey<'_> = serde_json::from_str(r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        assert_eq!(
            B64.encode(rsa.thumbprint::<Sha256>()),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(key(RFC8037_JWK).kid(), RFC8037_KID);
        assert_eq!(key(P256_JWK).kid(), P256_KID);
    }

    #[test]
    fn a_pkcs8_pem_and_a_private_jwk_are_the_same_key() {
        for (pem, jwk, kid, algorithm) in [
            (RFC8037_PEM, RFC8037_JWK, RFC8037_KID, JwtAlgorithm::EdDsa),
            (P256_PEM, P256_JWK, P256_KID, JwtAlgorithm::Es256),
        ] {
            let escaped = pem.trim_end().replace('\n', "\\n");
            for value in [pem, jwk, &escaped] {
                let key = key(value);
                assert_eq!(key.kid(), kid, "{value}");
                assert_eq!(key.algorithm(), algorithm);
            }
        }
    }

    #[test]
    fn a_p256_pkcs8_without_its_public_key_is_the_same_key() {
        let der = STANDARD
            .decode(
                P256_PEM
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<String>(),
            )
            .unwrap();
        let scalar = &der[P256_PKCS8_PREFIX.len()..][..32];
        assert_eq!(key(P256_PEM).signing_key().pkcs8[35..], scalar[..]);
        let short = [&P256_PKCS8_SHORT_PREFIX[..], scalar].concat();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
            STANDARD.encode(short)
        );
        assert_eq!(key(&pem).kid(), P256_KID);
    }

    #[test]
    fn the_public_jwk_has_no_private_part() {
        let jwk = key(P256_JWK).public_jwk();
        assert_eq!(
            jwk,
            serde_json::json!({"kty": "EC", "crv": "P-256",
                "x": "ODVr69fpSIMCeQq2SvNs7xXH0nsjQ90oRAfsaNTgZIM",
                "y": "770RyQca4yOLib1fBxsv4QZyVQI-KImylBWmGV3lUUg",
                "kid": P256_KID, "alg": "ES256", "use": "sig"})
        );
        assert_eq!(
            key(RFC8037_PEM).public_jwk(),
            serde_json::json!({"kty": "OKP", "crv": "Ed25519",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                "kid": RFC8037_KID, "alg": "EdDSA", "use": "sig"})
        );
    }

    #[test]
    fn a_missing_or_malformed_key_is_refused_and_named_without_its_value() {
        let hs256 = r#"{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}"#;
        let public_only =
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
        let mismatched = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"ODVr69fpSIMCeQq2SvNs7xXH0nsjQ90oRAfsaNTgZIM"}"#;
        let truncated = &RFC8037_PEM.replace("n9g", "");
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----";
        for value in [
            None,
            Some(""),
            Some("  "),
            Some("not a key"),
            Some("{not json"),
            Some(hs256),
            Some(public_only),
            Some(mismatched),
            Some(truncated),
            Some(sec1),
        ] {
            let error = PrivateKey::parse_named("JWT_PRIVATE_KEY_PREVIOUS", value)
                .and_then(complete)
                .err()
                .unwrap_or_else(|| panic!("{value:?} must be refused"));
            assert!(error.starts_with("JWT_PRIVATE_KEY_PREVIOUS is "), "{error}");
            assert!(!error.contains("nWGxne"), "never quotes the key: {error}");
        }
    }

    #[test]
    fn the_algorithm_is_hs256_unless_named_exactly() {
        assert_eq!(JwtAlgorithm::parse(None), Ok(JwtAlgorithm::Hs256));
        assert_eq!(JwtAlgorithm::parse(Some("")), Ok(JwtAlgorithm::Hs256));
        assert_eq!(JwtAlgorithm::parse(Some("ES256")), Ok(JwtAlgorithm::Es256));
        assert_eq!(JwtAlgorithm::parse(Some("EdDSA")), Ok(JwtAlgorithm::EdDsa));
        for bad in ["none", "es256", "RS256", "Ed25519"] {
            assert!(JwtAlgorithm::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}
