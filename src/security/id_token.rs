//! OpenID Connect ID tokens (OpenID Connect Core §3.1.3.7), verified against the provider's
//! signing keys, its JWKS (RFC 7517). RS256 and ES256 only: every provider signs with one of
//! them, and a token naming any other algorithm (`none`, or HS256 signed with the client
//! secret, which the provider shares with us) is refused before any key is looked at.
//! Pure Rust: fetching the JWKS, and fetching it again for an unknown `kid`, is the caller's.

use jwt_compact::{Claims, UntrustedToken};
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;

use super::signature::{PublicKey, SignatureCheck, Unverified};
use super::token::{Audience, LEEWAY_SECONDS};

/// An ID token with a few profile claims is 1-2 KB; anything past this is refused unparsed.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Google's JWKS is under 2 KB and Microsoft's, certificates and all, under 20 KB.
pub const MAX_KEY_SET_BYTES: usize = 128 * 1024;
/// Keys past this many in one document are ignored: a provider publishes a handful.
const MAX_KEYS: usize = 32;
/// RFC 7518 §3.3: RSA keys of at least 2048 bits; more than 4096 are not used by providers.
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 4096;

/// The two algorithms an ID token may be signed with, by their `alg` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Alg {
    Rs256,
    Es256,
}

impl Alg {
    fn named(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// The one algorithm each kind of key is kept for (only RSA and P-256 keys are kept).
fn alg_of(key: &PublicKey) -> Alg {
    match key {
        PublicKey::Rsa { .. } => Alg::Rs256,
        _ => Alg::Es256,
    }
}

struct Key {
    kid: Option<String>,
    public: PublicKey,
}

/// A provider's signing keys, parsed from its JWKS document (RFC 7517); keys of types/algs
/// we don't verify (e.g. "enc" keys, EdDSA, RSA < 2048 bits) are skipped, not an error.
pub struct KeySet {
    keys: Vec<Key>,
}

/// The members of a JWK this module reads; the key material is decoded by [`public_key`].
#[derive(Deserialize)]
struct JwkFields {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    key_use: Option<String>,
    #[serde(default)]
    key_ops: Option<Vec<String>>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Deserialize)]
struct KeySetDocument {
    keys: Vec<Value>,
}

impl KeySet {
    /// Reads a JWKS document. Only a document that is not a JWKS at all (not JSON, no `keys`
    /// list, or larger than [`MAX_KEY_SET_BYTES`]) is an error; a key this module cannot or
    /// will not verify with is left out, so that a provider adding, say, an EdDSA key does
    /// not stop sign-in with the keys it already had.
    pub fn parse(json: &str) -> Result<KeySet, String> {
        if json.len() > MAX_KEY_SET_BYTES {
            return Err(format!(
                "the key set is {} bytes, more than the {MAX_KEY_SET_BYTES} accepted",
                json.len()
            ));
        }
        let document: KeySetDocument = serde_json::from_str(json)
            .map_err(|err| format!("not a JWKS document (an object with a `keys` list): {err}"))?;
        let keys = document
            .keys
            .into_iter()
            .take(MAX_KEYS)
            .filter_map(|entry| serde_json::from_value::<JwkFields>(entry).ok())
            .filter_map(|fields| {
                let public = public_key(&fields)?;
                Some(Key {
                    kid: fields.kid,
                    public,
                })
            })
            .collect();
        Ok(KeySet { keys })
    }

    /// Whether [`verify`] could find a key for this `kid`: for the caller to decide whether to
    /// fetch the key set again. Without a `kid` the token's algorithm picks the key, so this
    /// only says that some kind of key is there exactly once.
    pub fn knows(&self, kid: Option<&str>) -> bool {
        match kid {
            Some(kid) => self.keys.iter().any(|key| key.kid.as_deref() == Some(kid)),
            None => [Alg::Rs256, Alg::Es256]
                .into_iter()
                .any(|alg| self.of_alg(alg).count() == 1),
        }
    }

    fn of_alg(&self, alg: Alg) -> impl Iterator<Item = &Key> {
        self.keys
            .iter()
            .filter(move |key| alg_of(&key.public) == alg)
    }

    /// The key a token with this `kid` and algorithm is verified with. A `kid` that names
    /// only keys of another kind is an algorithm error, not an unknown key: refetching the
    /// key set would not help, and it is what a token forged for algorithm confusion looks like.
    fn find(&self, kid: Option<&str>, alg: Alg) -> Result<&PublicKey, IdTokenError> {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|key| key.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Err(IdTokenError::UnknownKey);
                }
                named
                    .find(|key| alg_of(&key.public) == alg)
                    .map(|key| &key.public)
                    .ok_or(IdTokenError::Algorithm)
            }
            None => {
                let mut candidates = self.of_alg(alg);
                match (candidates.next(), candidates.next()) {
                    (Some(only), None) => Ok(&only.public),
                    _ => Err(IdTokenError::UnknownKey),
                }
            }
        }
    }
}

/// The verifying key of a JWK, or `None` for one not to verify ID tokens with: an encryption
/// key, an `alg` other than RS256 for RSA and ES256 for P-256, another curve or key type, an
/// RSA modulus under [`MIN_RSA_BITS`], or material that does not decode.
fn public_key(jwk: &JwkFields) -> Option<PublicKey> {
    if jwk
        .key_use
        .as_deref()
        .is_some_and(|key_use| key_use != "sig")
    {
        return None;
    }
    if jwk
        .key_ops
        .as_ref()
        .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
    {
        return None;
    }
    let public = match jwk.kty.as_str() {
        "RSA" => {
            let n = base64url(jwk.n.as_deref()?)?;
            let e = base64url(jwk.e.as_deref()?)?;
            let (n, e) = (without_leading_zeros(&n), without_leading_zeros(&e));
            // Web Crypto imports odd exponents up to 2^32 + 1 (65537 in practice).
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bit_length(n))
                || !(2..=33).contains(&bit_length(e))
                || e.last().is_some_and(|last| last & 1 == 0)
            {
                return None;
            }
            PublicKey::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
            }
        }
        // Any curve but P-256 is refused; a point that is not on it, when it is imported.
        "EC" if jwk.crv.as_deref() == Some("P-256") => PublicKey::p256(
            &base64url(jwk.x.as_deref()?)?,
            &base64url(jwk.y.as_deref()?)?,
        )?,
        _ => return None,
    };
    match &jwk.alg {
        Some(alg) if alg != alg_of(&public).name() => None,
        _ => Some(public),
    }
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// RFC 7515 §2: base64url without padding; padding is tolerated, as some providers add it.
fn base64url(text: &str) -> Option<Vec<u8>> {
    B64.decode(text.trim_end_matches('=')).ok()
}

fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.iter().position(|&byte| byte != 0) {
        Some(first) => (big_endian.len() - first) * 8 - big_endian[first].leading_zeros() as usize,
        None => 0,
    }
}

/// Why an ID token was refused. The browser sees one `invalid_id_token`; this is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTokenError {
    /// Not a JWT, claims that are not JSON of the expected types, a `crit` header, or no `sub`.
    Malformed,
    /// An algorithm other than RS256 and ES256, or one that the key its `kid` names is not for.
    Algorithm,
    /// No key in the key set for the token's `kid` (or, without one, no single key to use).
    UnknownKey,
    Signature,
    Issuer,
    Audience,
    /// No `exp`, or one more than the leeway in the past.
    Expired,
    /// No `iat`, or an `iat` or `nbf` more than the leeway in the future.
    IssuedAt,
    Nonce,
}

impl IdTokenError {
    /// The name logged for this refusal.
    pub fn reason(self) -> &'static str {
        match self {
            IdTokenError::Malformed => "malformed",
            IdTokenError::Algorithm => "algorithm",
            IdTokenError::UnknownKey => "unknown_key",
            IdTokenError::Signature => "signature",
            IdTokenError::Issuer => "issuer",
            IdTokenError::Audience => "audience",
            IdTokenError::Expired => "expired",
            IdTokenError::IssuedAt => "issued_at",
            IdTokenError::Nonce => "nonce",
        }
    }
}

/// What the token must say: who issued it, for whom, the flow's nonce, and the time now
/// (from the Worker: chrono's clock does not run on wasm).
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
}

/// Whom a verified ID token speaks for, with the profile claims it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's stable id for the account (`sub`), never empty.
    pub subject: String,
    /// As the provider gave it; the caller normalises it.
    pub email: Option<String>,
    /// Whether the provider says it verified `email`.
    pub email_verified: bool,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    /// Google's `hd`: the Google Workspace domain of the account, present only for Workspace
    /// accounts, whose email addresses Google is the authority for.
    pub hosted_domain: Option<String>,
}

/// The header members beyond `alg` and `kid` that matter here.
#[derive(Debug, Clone, Deserialize)]
struct HeaderExtensions {
    /// RFC 7515 §4.1.11: extensions the token must not be accepted without understanding;
    /// this module understands none.
    #[serde(default)]
    crit: Option<Value>,
}

#[derive(Deserialize)]
struct IdClaims {
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// A boolean by the spec; some providers send the string "true".
    #[serde(default)]
    email_verified: Option<Value>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    hd: Option<String>,
}

fn untrusted(token: &str) -> Result<UntrustedToken<'_, HeaderExtensions>, IdTokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(IdTokenError::Malformed);
    }
    UntrustedToken::try_from(token).map_err(|_| IdTokenError::Malformed)
}

/// The kid in an ID token's header (None when absent); Err(IdTokenError::Malformed) when it
/// is not a JWT.
pub fn key_id(token: &str) -> Result<Option<String>, IdTokenError> {
    Ok(untrusted(token)?.header().key_id.clone())
}

/// Verifies an ID token and returns the identity it asserts, once its signature is verified.
/// In this order: the algorithm (RS256 or ES256), the key (by `kid`; without one, the key
/// set's only key of that kind), `iss`, `aud` (and `azp` when there are several audiences),
/// `exp`, `iat` (and `nbf`), `nonce` and `sub`; the signature over the JWS signing input is
/// the [`Unverified`]'s check, for Web Crypto. `exp` and `iat` are required; both allow
/// [`LEEWAY_SECONDS`] of clock difference.
pub fn verify(
    token: &str,
    keys: &KeySet,
    expected: &Expected<'_>,
) -> Result<Unverified<Identity>, IdTokenError> {
    let untrusted = untrusted(token)?;
    let alg = Alg::named(untrusted.algorithm()).ok_or(IdTokenError::Algorithm)?;
    if untrusted.header().other_fields.crit.is_some() {
        return Err(IdTokenError::Malformed);
    }
    let key = keys.find(untrusted.header().key_id.as_deref(), alg)?;
    let claims = untrusted
        .deserialize_claims_unchecked::<IdClaims>()
        .map_err(|_| IdTokenError::Malformed)?;
    check_claims(&claims, expected)?;
    let custom = claims.custom;
    let subject = custom
        .sub
        .filter(|sub| !sub.is_empty())
        .ok_or(IdTokenError::Malformed)?;
    // The token parsed, so it has three parts; the signing input is all before the last dot.
    let (input, _) = token.rsplit_once('.').ok_or(IdTokenError::Malformed)?;
    let check = SignatureCheck {
        key: key.clone(),
        message: input.as_bytes().to_vec(),
        signature: untrusted.signature_bytes().to_vec(),
    };
    Ok(Unverified::new(
        Identity {
            subject,
            email: custom.email,
            email_verified: is_true(custom.email_verified.as_ref()),
            given_name: custom.given_name,
            family_name: custom.family_name,
            name: custom.name,
            hosted_domain: custom.hd.filter(|hd| !hd.is_empty()),
        },
        check,
    ))
}

/// `email_verified`: the boolean true, or the string "true" that some providers send.
fn is_true(flag: Option<&Value>) -> bool {
    match flag {
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) => text == "true",
        _ => false,
    }
}

fn check_claims(claims: &Claims<IdClaims>, expected: &Expected<'_>) -> Result<(), IdTokenError> {
    let custom = &claims.custom;
    if custom.iss.as_deref() != Some(expected.issuer) {
        return Err(IdTokenError::Issuer);
    }
    let audience_ok = match &custom.aud {
        Some(Audience::One(one)) => one == expected.client_id,
        // OpenID Connect Core §3.1.3.7: with several audiences, the party the token was
        // issued to (`azp`) must be us.
        Some(Audience::Many(many)) => {
            many.iter().any(|one| one == expected.client_id)
                && (many.len() == 1 || custom.azp.as_deref() == Some(expected.client_id))
        }
        None => false,
    };
    if !audience_ok {
        return Err(IdTokenError::Audience);
    }
    match claims.expiration {
        Some(exp) if exp.timestamp() > expected.now - LEEWAY_SECONDS => {}
        _ => return Err(IdTokenError::Expired),
    }
    match claims.issued_at {
        Some(iat) if iat.timestamp() <= expected.now + LEEWAY_SECONDS => {}
        _ => return Err(IdTokenError::IssuedAt),
    }
    if claims
        .not_before
        .is_some_and(|nbf| nbf.timestamp() > expected.now + LEEWAY_SECONDS)
    {
        return Err(IdTokenError::IssuedAt);
    }
    // Constant time: the nonce binds the token to this browser's flow. An empty expected
    // nonce matches nothing, so a flow that lost its nonce cannot accept a token without one.
    let nonce_ok = match &custom.nonce {
        Some(nonce) if !expected.nonce.is_empty() => {
            bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes()))
        }
        _ => false,
    };
    if !nonce_ok {
        return Err(IdTokenError::Nonce);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::signature::native;
    use jwt_compact::alg::{Es256, Hs256, Hs256Key, Rsa, RsaPrivateKey};
    use jwt_compact::jwk::JsonWebKey;
    use jwt_compact::{Algorithm, AlgorithmExt, Header};

    /// As the worker verifies: the claims here, the signature as Web Crypto would (natively).
    fn verify(
        token: &str,
        keys: &KeySet,
        expected: &Expected<'_>,
    ) -> Result<Identity, IdTokenError> {
        native::verdict(super::verify(token, keys, expected)?).map_err(|_| IdTokenError::Signature)
    }
    use serde_json::{json, Map};

    const NOW: i64 = 1_795_000_000;
    const ISSUER: &str = "https://id.example.com";
    const CLIENT_ID: &str = "recipe-web";
    const CLIENT_SECRET: &str = "the-client-secret-the-provider-and-we-share";
    const NONCE: &str = "n-0S6_WzA2Mj";

    // A 2048-bit RSA key made once for these tests (node's generateKeyPairSync, as JWK).
    const RSA_N: &str =
        "q1yKAKAnYFdHBRlj6ybH8Ml0No1wxuFNoYKYmI5-IVsMkDR3hDc86odV971UOq_ZXDiSqTTNEzlkz6ip\
        QM6IAnvvgoCS7IY33M-VWTMmshNIbM5VdPo9nfHwUv8_t-5hMu4YZWgVThaS7zCzoZM91Jf21KLSmHDo\
        TrWmDqzmDo4pBimaa8ovbXrCZnW9foqpQYPOa29NYxiB3xhWOjgneXbv1MbH0-anbztK88liW02A6jBh\
        PHPNCgJE0FRox74L88I6Ir8TrOTldemwJ4G1ncOl7DbxjrUMS_iDaHLPmYb4XqQK2_zZreqBx5AyQ95_\
        3pc-2walYy5S2WvsY6M5Pw";
    const RSA_E: &str = "AQAB";
    const RSA_D: &str =
        "FfFbmojngearKXP-33Wv1J13TCUAc_cVwcC_WYmljQ_jo_OT-lI4cq-xym9sAbfS1YRJA3HHcNbAmfa2\
        9Z18vRSxrrxYFAF71cKfFTT_l33woD4rozcH_NmmNHqK5jqYJ7VlWlbho4YweoB6AA6itD5hVQkkfnC2\
        zp1kDi0FqIdF_6otrltg5oYslLRKl0heBZ6b_ideXTFKHmQM6WkBEgfZ96hEYhEPjU3H0ADr4bR-3bmv\
        FjirlsBlVTQgbJrmPKKsPD7oZdXU2-yNs3AgZEpQBeWDuRnyYc2kIjPOQBmDVRV5-2mT-GivuBXA9Fza\
        _0mq9-cSA6HTNxeyxNmIAQ";
    const RSA_P: &str =
        "17Kng-8cSn39RyBj-i5zczQwva5crH02aF06ilKoNkNA3E1RnAu08spdXVzKpc5MrbG5HY0AN_9QsvfS\
        NIsa_PMC_Q7b4_Ph6z-e6ds8m38iCFxnbE4YxXIMSvDiy4nC2sSbREf2Bmy3rusJ9yNbfATJf4zUMryE\
        PWcBlSTgU4E";
    const RSA_Q: &str =
        "y2ErSjUkhXUCY8IEHjtBwbSYkXKJlUnzcpekWIzXnWmtC_qTzAvfK4rV9nFj5TnF_lkmlXE6a9D6aeVl\
        97EwBzUwNBTEih4ZWNjH6yYFiMerfVeDFgLwXW7JoSpyeRUkaFJC4twni7CVaafjbFvhepKlKuFKyyfj\
        tnyThvBK7L8";
    /// The modulus of a 1024-bit RSA key: too weak to verify with.
    const WEAK_RSA_N: &str =
        "vrgdSAIwjXU0ieGWl4GT8gLVhGYhI8tUCjvdpyfTmddS_CqTBJMCQL-j223dA_m0zYXK01w1H-jltW8I\
        JfoHzt5A3xjyqrL-c2PbJ2GlsTLfeQQKndXIE0F2XcHozPdEwxQTPZiuvnn3p_z79ZI1ikoG3aRNu93r\
        9scaosIunKs";

    type P256SigningKey = <Es256 as Algorithm>::SigningKey;

    fn rsa_key() -> RsaPrivateKey {
        let jwk: JsonWebKey<'_> = serde_json::from_value(json!({
            "kty": "RSA", "n": RSA_N, "e": RSA_E, "d": RSA_D, "p": RSA_P, "q": RSA_Q
        }))
        .unwrap();
        RsaPrivateKey::try_from(&jwk).unwrap()
    }

    /// P-256 keys from fixed bytes: the provider's, and one it never published.
    fn ec_key() -> P256SigningKey {
        P256SigningKey::from_slice(&[0x11; 32]).unwrap()
    }

    fn other_ec_key() -> P256SigningKey {
        P256SigningKey::from_slice(&[0x22; 32]).unwrap()
    }

    /// A public JWK as providers publish it, with `kid`, `alg` and `use`.
    fn published(jwk: JsonWebKey<'_>, kid: &str, alg: &str) -> Value {
        let mut value = serde_json::to_value(&jwk).unwrap();
        value["kid"] = json!(kid);
        value["alg"] = json!(alg);
        value["use"] = json!("sig");
        value
    }

    fn rsa_jwk(kid: &str) -> Value {
        published(JsonWebKey::from(&rsa_key().to_public_key()), kid, "RS256")
    }

    fn ec_jwk(key: &P256SigningKey, kid: &str) -> Value {
        published(JsonWebKey::from(key.verifying_key()), kid, "ES256")
    }

    fn key_set(keys: Vec<Value>) -> KeySet {
        KeySet::parse(&json!({ "keys": keys }).to_string()).unwrap()
    }

    /// The provider's key set: one RSA and one P-256 key.
    fn provider_keys() -> KeySet {
        key_set(vec![rsa_jwk("rsa-1"), ec_jwk(&ec_key(), "ec-1")])
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISSUER,
            client_id: CLIENT_ID,
            nonce: NONCE,
            now: NOW,
        }
    }

    fn good_claims() -> Value {
        json!({"iss": ISSUER, "aud": CLIENT_ID, "sub": "248289761001", "nonce": NONCE,
               "iat": NOW, "exp": NOW + 3600, "email": "Jane.Doe@Example.com",
               "email_verified": true, "given_name": "Jane", "family_name": "Doe",
               "name": "Jane Doe"})
    }

    /// The good claims with one changed; `Value::Null` removes it.
    fn with_claim(name: &str, value: Value) -> Value {
        let mut claims = good_claims();
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value;
        }
        claims
    }

    fn claims_of(claims: Value) -> Claims<Map<String, Value>> {
        let Value::Object(map) = claims else {
            panic!("claims are an object")
        };
        Claims::new(map)
    }

    fn header(kid: Option<&str>) -> Header {
        match kid {
            Some(kid) => Header::empty().with_key_id(kid),
            None => Header::empty(),
        }
    }

    fn sign_rs256(kid: Option<&str>, claims: Value) -> String {
        Rsa::rs256()
            .token(&header(kid), &claims_of(claims), &rsa_key())
            .unwrap()
    }

    fn sign_es256_with(key: &P256SigningKey, kid: Option<&str>, claims: Value) -> String {
        Es256.token(&header(kid), &claims_of(claims), key).unwrap()
    }

    fn sign_es256(claims: Value) -> String {
        sign_es256_with(&ec_key(), Some("ec-1"), claims)
    }

    fn base64_json(value: &Value) -> String {
        B64.encode(value.to_string())
    }

    fn jane() -> Identity {
        Identity {
            subject: "248289761001".into(),
            email: Some("Jane.Doe@Example.com".into()),
            email_verified: true,
            given_name: Some("Jane".into()),
            family_name: Some("Doe".into()),
            name: Some("Jane Doe".into()),
            hosted_domain: None,
        }
    }

    #[test]
    fn a_good_rs256_token_verifies_to_its_identity() {
        let token = sign_rs256(Some("rsa-1"), good_claims());
        assert_eq!(verify(&token, &provider_keys(), &expected()), Ok(jane()));
    }

    #[test]
    fn a_good_es256_token_verifies_to_its_identity() {
        let token = sign_es256(good_claims());
        assert_eq!(verify(&token, &provider_keys(), &expected()), Ok(jane()));
    }

    #[test]
    fn the_profile_claims_are_optional_and_the_email_is_returned_as_given() {
        let token = sign_es256(json!({"iss": ISSUER, "aud": CLIENT_ID, "sub": "x",
                                      "nonce": NONCE, "iat": NOW, "exp": NOW + 60}));
        assert_eq!(
            verify(&token, &provider_keys(), &expected()),
            Ok(Identity {
                subject: "x".into(),
                email: None,
                email_verified: false,
                given_name: None,
                family_name: None,
                name: None,
                hosted_domain: None,
            })
        );
    }

    #[test]
    fn googles_hd_claim_is_the_hosted_domain_and_an_empty_one_is_none() {
        let token = sign_rs256(Some("rsa-1"), with_claim("hd", json!("example.com")));
        let identity = verify(&token, &provider_keys(), &expected()).unwrap();
        assert_eq!(identity.hosted_domain.as_deref(), Some("example.com"));
        let token = sign_rs256(Some("rsa-1"), with_claim("hd", json!("")));
        let identity = verify(&token, &provider_keys(), &expected()).unwrap();
        assert_eq!(identity.hosted_domain, None);
    }

    #[test]
    fn email_verified_is_true_only_as_true_or_the_string_true() {
        let cases = [
            (json!(true), true),
            (json!("true"), true),
            (json!(false), false),
            (json!("false"), false),
            (json!("TRUE"), false),
            (json!(1), false),
            (Value::Null, false),
        ];
        for (flag, verified) in cases {
            let token = sign_es256(with_claim("email_verified", flag.clone()));
            let identity = verify(&token, &provider_keys(), &expected()).unwrap();
            assert_eq!(identity.email_verified, verified, "email_verified {flag}");
        }
    }

    #[test]
    fn refuses_every_bad_token() {
        let good_rsa = sign_rs256(Some("rsa-1"), good_claims());
        let (rsa_head, _, rsa_signature) = {
            let mut parts = good_rsa.split('.');
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        };
        let claims = base64_json(&good_claims());
        let es = |claims: Value| sign_es256(claims);
        let hs256 = |kid: &str| {
            Hs256
                .token(
                    &header(Some(kid)),
                    &claims_of(good_claims()),
                    &Hs256Key::new(CLIENT_SECRET),
                )
                .unwrap()
        };

        let cases: Vec<(&str, String, IdTokenError)> = vec![
            ("empty", String::new(), IdTokenError::Malformed),
            ("not a JWT", "not-a-jwt".into(), IdTokenError::Malformed),
            (
                "oversized",
                format!("{rsa_head}.{}.{rsa_signature}", "a".repeat(MAX_TOKEN_BYTES)),
                IdTokenError::Malformed,
            ),
            (
                "alg none, no signature",
                format!("{}.{claims}.", base64_json(&json!({"alg": "none"}))),
                IdTokenError::Algorithm,
            ),
            (
                "alg none naming a known key",
                format!(
                    "{}.{claims}.",
                    base64_json(&json!({"alg": "none", "kid": "rsa-1"}))
                ),
                IdTokenError::Algorithm,
            ),
            (
                "HS256 signed with the client secret",
                hs256("rsa-1"),
                IdTokenError::Algorithm,
            ),
            (
                "HS256 with an unknown kid",
                hs256("no-such-key"),
                IdTokenError::Algorithm,
            ),
            (
                "RS384 header on an RS256 signature",
                format!(
                    "{}.{claims}.{rsa_signature}",
                    base64_json(&json!({"alg": "RS384", "kid": "rsa-1"}))
                ),
                IdTokenError::Algorithm,
            ),
            (
                "PS256 header",
                format!(
                    "{}.{claims}.{rsa_signature}",
                    base64_json(&json!({"alg": "PS256", "kid": "rsa-1"}))
                ),
                IdTokenError::Algorithm,
            ),
            (
                "EdDSA header",
                format!(
                    "{}.{claims}.{rsa_signature}",
                    base64_json(&json!({"alg": "EdDSA", "kid": "rsa-1"}))
                ),
                IdTokenError::Algorithm,
            ),
            (
                "ES256 naming the RSA key",
                sign_es256_with(&ec_key(), Some("rsa-1"), good_claims()),
                IdTokenError::Algorithm,
            ),
            (
                "an unknown kid",
                sign_es256_with(&ec_key(), Some("ec-2"), good_claims()),
                IdTokenError::UnknownKey,
            ),
            (
                "the provider's kid, signed with a key it never published",
                sign_es256_with(&other_ec_key(), Some("ec-1"), good_claims()),
                IdTokenError::Signature,
            ),
            (
                "altered claims under an RS256 signature",
                format!(
                    "{rsa_head}.{}.{rsa_signature}",
                    base64_json(&with_claim("sub", json!("someone-else")))
                ),
                IdTokenError::Signature,
            ),
            (
                "stripped signature",
                format!("{rsa_head}.{claims}."),
                IdTokenError::Signature,
            ),
            (
                "a critical header extension",
                format!(
                    "{}.{claims}.{rsa_signature}",
                    base64_json(&json!({"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}))
                ),
                IdTokenError::Malformed,
            ),
            (
                "a sub that is not a string",
                sign_es256_with(&ec_key(), Some("ec-1"), json!({"sub": 42})),
                IdTokenError::Malformed,
            ),
            (
                "another issuer",
                es(with_claim("iss", json!("https://evil.example.com"))),
                IdTokenError::Issuer,
            ),
            (
                "the issuer with a trailing slash",
                es(with_claim("iss", json!(format!("{ISSUER}/")))),
                IdTokenError::Issuer,
            ),
            (
                "no issuer",
                es(with_claim("iss", Value::Null)),
                IdTokenError::Issuer,
            ),
            (
                "another audience",
                es(with_claim("aud", json!("another-client"))),
                IdTokenError::Audience,
            ),
            (
                "no audience",
                es(with_claim("aud", Value::Null)),
                IdTokenError::Audience,
            ),
            (
                "an audience list without the client id",
                es(with_claim("aud", json!(["a", "b"]))),
                IdTokenError::Audience,
            ),
            (
                "several audiences, no azp",
                es(with_claim("aud", json!([CLIENT_ID, "another-client"]))),
                IdTokenError::Audience,
            ),
            (
                "several audiences, azp another client",
                es({
                    let mut claims = with_claim("aud", json!([CLIENT_ID, "another-client"]));
                    claims["azp"] = json!("another-client");
                    claims
                }),
                IdTokenError::Audience,
            ),
            (
                "expired beyond the leeway",
                es(with_claim("exp", json!(NOW - LEEWAY_SECONDS))),
                IdTokenError::Expired,
            ),
            (
                "no exp",
                es(with_claim("exp", Value::Null)),
                IdTokenError::Expired,
            ),
            (
                "issued beyond the leeway in the future",
                es(with_claim("iat", json!(NOW + LEEWAY_SECONDS + 1))),
                IdTokenError::IssuedAt,
            ),
            (
                "no iat",
                es(with_claim("iat", Value::Null)),
                IdTokenError::IssuedAt,
            ),
            (
                "not valid before a time beyond the leeway",
                es(with_claim("nbf", json!(NOW + LEEWAY_SECONDS + 1))),
                IdTokenError::IssuedAt,
            ),
            (
                "another nonce",
                es(with_claim("nonce", json!("n-another-flow"))),
                IdTokenError::Nonce,
            ),
            (
                "the nonce as a prefix",
                es(with_claim("nonce", json!(&NONCE[..4]))),
                IdTokenError::Nonce,
            ),
            (
                "no nonce",
                es(with_claim("nonce", Value::Null)),
                IdTokenError::Nonce,
            ),
            (
                "no sub",
                es(with_claim("sub", Value::Null)),
                IdTokenError::Malformed,
            ),
            (
                "an empty sub",
                es(with_claim("sub", json!(""))),
                IdTokenError::Malformed,
            ),
        ];
        let keys = provider_keys();
        for (name, token, refusal) in cases {
            assert_eq!(
                verify(&token, &keys, &expected()),
                Err(refusal),
                "{name}: should be refused as {}",
                refusal.reason()
            );
        }
    }

    #[test]
    fn accepts_what_the_rules_allow() {
        let several = {
            let mut claims = with_claim("aud", json!(["another-client", CLIENT_ID]));
            claims["azp"] = json!(CLIENT_ID);
            claims
        };
        let cases = [
            (
                "the client id alone in a list",
                with_claim("aud", json!([CLIENT_ID])),
            ),
            ("several audiences, azp the client id", several),
            (
                "an azp beside a single audience",
                with_claim("azp", json!("another-party")),
            ),
            (
                "expired within the leeway",
                with_claim("exp", json!(NOW - LEEWAY_SECONDS + 1)),
            ),
            (
                "issued within the leeway in the future",
                with_claim("iat", json!(NOW + LEEWAY_SECONDS)),
            ),
            (
                "times as decimals",
                with_claim("exp", json!((NOW + 10) as f64 + 0.5)),
            ),
            ("nbf now", with_claim("nbf", json!(NOW))),
        ];
        for (name, claims) in cases {
            let token = sign_es256(claims);
            assert_eq!(
                verify(&token, &provider_keys(), &expected()),
                Ok(jane()),
                "{name}: should be accepted"
            );
        }
    }

    #[test]
    fn an_empty_expected_nonce_matches_no_token() {
        let token = sign_es256(with_claim("nonce", json!("")));
        let flow = Expected {
            nonce: "",
            ..expected()
        };
        assert_eq!(
            verify(&token, &provider_keys(), &flow),
            Err(IdTokenError::Nonce)
        );
    }

    #[test]
    fn a_token_without_kid_uses_the_only_key_of_its_kind() {
        let token = sign_rs256(None, good_claims());
        assert_eq!(verify(&token, &provider_keys(), &expected()), Ok(jane()));
        let es = sign_es256_with(&ec_key(), None, good_claims());
        assert_eq!(verify(&es, &provider_keys(), &expected()), Ok(jane()));
        let two_ec_keys = key_set(vec![
            ec_jwk(&ec_key(), "ec-1"),
            ec_jwk(&other_ec_key(), "ec-2"),
        ]);
        assert_eq!(
            verify(&es, &two_ec_keys, &expected()),
            Err(IdTokenError::UnknownKey),
            "two keys of its kind: no telling which"
        );
        assert!(!two_ec_keys.knows(None));
        assert!(provider_keys().knows(None));
    }

    #[test]
    fn key_id_reads_the_header_without_verifying() {
        let forged = sign_es256_with(&other_ec_key(), Some("ec-9"), good_claims());
        assert_eq!(key_id(&forged), Ok(Some("ec-9".into())));
        let no_kid = sign_es256_with(&ec_key(), None, good_claims());
        assert_eq!(key_id(&no_kid), Ok(None));
        for not_a_jwt in ["", "abc", "a.b", "a.b.c.d", "!!!.e30.sig"] {
            assert_eq!(
                key_id(not_a_jwt),
                Err(IdTokenError::Malformed),
                "{not_a_jwt:?}"
            );
        }
        let oversized = format!("{}.{}.", "e30", "a".repeat(MAX_TOKEN_BYTES));
        assert_eq!(key_id(&oversized), Err(IdTokenError::Malformed));
    }

    #[test]
    fn keys_that_cannot_verify_id_tokens_are_skipped() {
        let p384 = json!({"kty": "EC", "crv": "P-384", "kid": "p384",
            "x": B64.encode([1u8; 48]), "y": B64.encode([2u8; 48])});
        let off_the_curve = json!({"kty": "EC", "crv": "P-256", "kid": "off-curve",
            "x": B64.encode([1u8; 32]), "y": B64.encode([2u8; 32])});
        let mut encryption = rsa_jwk("enc-1");
        encryption["use"] = json!("enc");
        let mut wrap_only = ec_jwk(&ec_key(), "wrap");
        wrap_only.as_object_mut().unwrap().remove("use");
        wrap_only["key_ops"] = json!(["wrapKey"]);
        let mut rs384 = rsa_jwk("rs384");
        rs384["alg"] = json!("RS384");
        let mut ec_as_rs256 = ec_jwk(&ec_key(), "ec-rs256");
        ec_as_rs256["alg"] = json!("RS256");
        let mut bare = rsa_jwk("bare");
        for member in ["alg", "use"] {
            bare.as_object_mut().unwrap().remove(member);
        }
        let set = key_set(vec![
            encryption,
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "ed", "alg": "EdDSA",
                   "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}),
            json!({"kty": "RSA", "kid": "weak", "alg": "RS256", "n": WEAK_RSA_N, "e": "AQAB"}),
            json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
            json!({"kty": "RSA", "kid": "no-modulus", "e": "AQAB"}),
            json!({"kty": "RSA", "kid": "bad-base64", "n": "!!", "e": "AQAB"}),
            json!({"kid": "no-kty"}),
            json!("not an object"),
            p384,
            off_the_curve,
            wrap_only,
            rs384,
            ec_as_rs256,
            bare,
            ec_jwk(&ec_key(), "ec-1"),
        ]);
        for skipped in [
            "enc-1",
            "ed",
            "weak",
            "hmac",
            "no-modulus",
            "bad-base64",
            "p384",
            "off-curve",
            "wrap",
            "rs384",
            "ec-rs256",
        ] {
            assert!(!set.knows(Some(skipped)), "{skipped} should be skipped");
        }
        assert!(set.knows(Some("bare")), "a key without alg or use is kept");
        assert!(set.knows(Some("ec-1")));
        assert!(!set.knows(Some("missing")));
        let token = sign_es256(good_claims());
        assert_eq!(verify(&token, &set, &expected()), Ok(jane()));
        let padded = {
            let mut jwk = rsa_jwk("padded");
            jwk["n"] = json!(format!("{RSA_N}=="));
            jwk
        };
        assert!(key_set(vec![padded]).knows(Some("padded")));
    }

    #[test]
    fn a_document_that_is_not_a_key_set_is_an_error() {
        for document in [
            "",
            "not json",
            "[]",
            "{}",
            r#"{"keys": {}}"#,
            r#"{"keys": "abc"}"#,
            r#"{"keys": null}"#,
        ] {
            assert!(KeySet::parse(document).is_err(), "{document:?}");
        }
        let oversized = format!(
            r#"{{"keys": [], "padding": "{}"}}"#,
            "a".repeat(MAX_KEY_SET_BYTES)
        );
        assert!(KeySet::parse(&oversized).is_err());
        let empty = KeySet::parse(r#"{"keys": []}"#).unwrap();
        assert!(!empty.knows(None));
        assert_eq!(
            verify(&sign_es256(good_claims()), &empty, &expected()),
            Err(IdTokenError::UnknownKey)
        );
    }

    #[test]
    fn reasons_are_the_logged_names() {
        let all = [
            (IdTokenError::Malformed, "malformed"),
            (IdTokenError::Algorithm, "algorithm"),
            (IdTokenError::UnknownKey, "unknown_key"),
            (IdTokenError::Signature, "signature"),
            (IdTokenError::Issuer, "issuer"),
            (IdTokenError::Audience, "audience"),
            (IdTokenError::Expired, "expired"),
            (IdTokenError::IssuedAt, "issued_at"),
            (IdTokenError::Nonce, "nonce"),
        ];
        for (error, reason) in all {
            assert_eq!(error.reason(), reason);
        }
    }
}
