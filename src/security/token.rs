//! HS256 access tokens with the original's claims, `type`, `sub`, `iat` and `exp`, plus
//! `ver`, the user's token version when it was issued, `sid`, the session (login) it belongs
//! to, and `iss` and `aud`, whose service issued it and for whom. The header's `kid` names
//! the key that signed it, so that a key can be rotated without logging anyone out.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::Hs256;
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken};
use serde::{Deserialize, Serialize};

use super::secret::KeyPair;
use super::signature::{PublicKey, SignatureCheck, SigningInput, Unverified};
use super::{JwtSecret, PrivateKey};

pub const ACCESS_TOKEN_TYPE: &str = "access_token";
/// Allowed clock difference between the issuer and the verifier, for `exp` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;
/// Far more than a token of ours needs; anything longer is refused before decoding.
pub const MAX_TOKEN_BYTES: usize = 4096;
/// `JWT_ISSUER` and `JWT_AUDIENCE` when unset.
pub const DEFAULT_ISSUER: &str = "recipe-api";
pub const DEFAULT_AUDIENCE: &str = "recipe-api";
/// From this moment (2026-11-30 00:00:00 UTC) a token without `sid` is refused. Every token
/// issued since sessions were named in them (2026-11-29, 18:50 UTC) has one; a token from
/// before had expired by 19:20 UTC that day at the default 30-minute lifetime, so the
/// cut-off, hours later, logs no one out who kept the default.
pub const SESSIONLESS_TOKENS_REFUSED_FROM: i64 = 1_795_996_800;

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    #[serde(rename = "type")]
    token_type: String,
    sub: String,
    /// Missing in tokens of the original's shape, which count as version 0.
    #[serde(default)]
    ver: i64,
    /// Missing in tokens issued before sessions were named in them; those are refused from
    /// [`SESSIONLESS_TOKENS_REFUSED_FROM`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    /// Missing only in tokens from before keys had ids (see [`verify_access_token`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aud: Option<Audience>,
}

/// RFC 7519 §4.1.3: one audience or a list of them. Ours issue one; ID tokens (id_token.rs)
/// may carry several. Untagged: measured, it left the wasm smaller than reading a
/// `serde_json::Value` or a visitor of its own.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn includes(&self, audience: &str) -> bool {
        match self {
            Audience::One(one) => one == audience,
            Audience::Many(many) => many.iter().any(|one| one == audience),
        }
    }
}

/// What signs and verifies access tokens: `JWT_SECRET`, which signs; `JWT_SECRET_PREVIOUS`,
/// which only verifies (the key before a rotation, kept for one access-token lifetime); and
/// the `iss` and `aud` every token carries (`JWT_ISSUER`, `JWT_AUDIENCE`).
///
/// With `JWT_ALGORITHM` ES256 or EdDSA, `JWT_PRIVATE_KEY` signs access tokens instead and
/// `JWT_PRIVATE_KEY_PREVIOUS` only verifies; `JWT_SECRET` still keys everything else.
pub struct TokenKeys {
    current: JwtSecret,
    previous: Option<JwtSecret>,
    /// The access tokens' key pairs, the current one first; empty for HS256.
    private: Vec<KeyPair>,
    issuer: String,
    audience: String,
}

/// [`TokenKeys`] as read from the settings, before Web Crypto has derived the public keys of
/// `JWT_PRIVATE_KEY` and `JWT_PRIVATE_KEY_PREVIOUS` (src/api/webcrypto.rs): only
/// [`KeysToComplete::complete`] makes the keys that sign and verify access tokens.
pub struct KeysToComplete {
    keys: TokenKeys,
    private: Vec<PrivateKey>,
}

impl KeysToComplete {
    /// `JWT_SECRET`, then `JWT_SECRET_PREVIOUS` if set: the current key first.
    pub fn secrets(&self) -> impl Iterator<Item = &JwtSecret> {
        self.keys.secrets()
    }

    /// The private keys whose public keys [`KeysToComplete::complete`] wants, in its order.
    pub fn private_keys(&self) -> &[PrivateKey] {
        &self.private
    }

    /// The keys, given the public key derived from each of [`KeysToComplete::private_keys`].
    /// A previous key that is the current one again is dropped.
    pub fn complete(self, derived: Vec<PublicKey>) -> Result<TokenKeys, String> {
        if derived.len() != self.private.len() {
            return Err("a public key was not derived for each private key".into());
        }
        let mut keys = self.keys;
        for (private, public) in self.private.into_iter().zip(derived) {
            let pair = private.with_public_key(public)?;
            if keys.private.iter().all(|other| other.kid() != pair.kid()) {
                keys.private.push(pair);
            }
        }
        Ok(keys)
    }
}

impl From<TokenKeys> for KeysToComplete {
    fn from(keys: TokenKeys) -> KeysToComplete {
        KeysToComplete {
            keys,
            private: Vec::new(),
        }
    }
}

/// An access token, signed (HS256) or to be signed by Web Crypto (ES256, EdDSA).
#[must_use]
#[derive(Debug)]
pub enum AccessToken {
    Signed(String),
    ToSign(SigningInput),
}

impl TokenKeys {
    pub fn new(
        current: JwtSecret,
        previous: Option<JwtSecret>,
        issuer: String,
        audience: String,
    ) -> TokenKeys {
        // The same key set twice is one key.
        let previous = previous.filter(|previous| previous.kid() != current.kid());
        TokenKeys {
            current,
            previous,
            private: Vec::new(),
            issuer,
            audience,
        }
    }

    /// Access tokens signed by `current` (ES256 or EdDSA), `previous` still verifying; a token
    /// signed with `JWT_SECRET` is then refused.
    pub fn with_private_keys(
        self,
        current: PrivateKey,
        previous: Option<PrivateKey>,
    ) -> KeysToComplete {
        KeysToComplete {
            keys: self,
            private: std::iter::once(current).chain(previous).collect(),
        }
    }

    /// The access tokens' key pairs, the current one first (none for HS256).
    pub fn key_pairs(&self) -> &[KeyPair] {
        &self.private
    }

    /// The JWK Set of the public keys that verify access tokens: the current one, then the
    /// previous one; no key at all for HS256, whose key is secret.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self.private.iter().map(KeyPair::public_jwk).collect();
        serde_json::json!({ "keys": keys })
    }

    /// The key a token's `kid` names; `None` for a key that is neither of ours.
    fn by_kid(&self, kid: &str) -> Option<&JwtSecret> {
        self.secrets().find(|key| key.kid() == kid)
    }

    /// `JWT_SECRET`, then `JWT_SECRET_PREVIOUS` if set: the current key first.
    pub fn secrets(&self) -> impl Iterator<Item = &JwtSecret> {
        std::iter::once(&self.current).chain(&self.previous)
    }
}

/// [`KeysToComplete::complete`] with the public keys derived natively, as Web Crypto derives
/// them in the worker.
#[cfg(test)]
pub(crate) fn complete_natively(keys: KeysToComplete) -> Result<TokenKeys, String> {
    let derived = keys
        .private_keys()
        .iter()
        .map(|key| super::signature::native::public_key(key.signing_key()).ok_or("not importable"))
        .collect::<Result<Vec<_>, _>>()?;
    keys.complete(derived)
}

/// Who a verified token speaks for. The token is only good while the user's stored
/// `token_version` is still `token_version` and its session is not revoked: the store checks
/// both in the statement that uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub user_id: i64,
    pub token_version: i64,
    /// `None` only in tokens from before sessions were named in them.
    pub session_id: Option<String>,
}

/// Why a token was refused. The client always sees the same 401; this is for tests and logs.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenError {
    Malformed,
    UnknownKey,
    BadSignatureOrAlgorithm,
    MissingExpiry,
    Expired,
    IssuedInTheFuture,
    WrongType,
    WrongIssuer,
    WrongAudience,
    BadSubject,
    NoSession,
}

fn at(unix_seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix_seconds, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Signs an access token for `subject`, valid for `lifetime_seconds` from `now`, with the
/// current key only: HS256 here; ES256 and EdDSA give the JWS signing input, for Web Crypto
/// to sign. The clock is the caller's: on wasm the time comes from the Worker, not from
/// chrono.
pub fn issue_access_token(
    keys: &TokenKeys,
    subject: &Subject,
    now: i64,
    lifetime_seconds: i64,
) -> AccessToken {
    let mut claims = Claims::new(AccessClaims {
        token_type: ACCESS_TOKEN_TYPE.into(),
        sub: subject.user_id.to_string(),
        ver: subject.token_version,
        sid: subject.session_id.clone(),
        iss: Some(keys.issuer.clone()),
        aud: Some(Audience::One(keys.audience.clone())),
    });
    claims.issued_at = Some(at(now));
    claims.expiration = Some(at(now.saturating_add(lifetime_seconds)));
    if let Some(pair) = keys.private.first() {
        let header = serde_json::json!({
            "alg": pair.algorithm().name(), "typ": "JWT", "kid": pair.kid()
        });
        let claims = serde_json::to_vec(&claims).expect("serialising fixed claims cannot fail");
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims));
        return AccessToken::ToSign(SigningInput {
            input,
            key: pair.signing_key().clone(),
        });
    }
    let header = Header::empty()
        .with_token_type("JWT")
        .with_key_id(keys.current.kid());
    AccessToken::Signed(
        Hs256
            .token(&header, &claims, keys.current.key())
            .expect("serialising fixed claims cannot fail"),
    )
}

/// Verifies an access token and returns whom it was issued to. Pins HS256; picks the key by
/// the header's `kid` (an unknown one is refused); requires `exp`; rejects an `iat` in the
/// future, any `type` but `access_token`, an `iss` or `aud` other than ours and, from
/// [`SESSIONLESS_TOKENS_REFUSED_FROM`], a token without `sid`.
///
/// A token without `kid` was issued before keys had ids, and without `iss` and `aud`: it is
/// tried with each key, and a missing `iss` or `aud` is let pass. Such tokens are no longer
/// issued, so the last of them expires one access-token lifetime after the release that
/// added these claims. Whether the user still exists, is active and has this token version,
/// and the session is live, is the caller's to check.
///
/// With ES256 or EdDSA, everything but the signature is checked here, and the signature over
/// the signing input is the [`Unverified`]'s check, for Web Crypto; an HS256 token comes
/// out verified.
pub fn verify_access_token(
    keys: &TokenKeys,
    token: &str,
    now: i64,
) -> Result<Unverified<Subject>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
    let kid = untrusted.header().key_id.as_deref();
    if !keys.private.is_empty() {
        // Only our public keys, each pinned to its algorithm, chosen by `kid` alone: a `jwk`
        // or `jku` header is never read, and HS256 or `none` never verifies.
        let key = keys
            .private
            .iter()
            .find(|key| Some(key.kid()) == kid)
            .ok_or(TokenError::UnknownKey)?;
        if untrusted.algorithm() != key.algorithm().name() {
            return Err(TokenError::BadSignatureOrAlgorithm);
        }
        let claims = untrusted
            .deserialize_claims_unchecked::<AccessClaims>()
            .map_err(|_| TokenError::Malformed)?;
        let subject = check_claims(keys, &claims, true, now)?;
        let (input, _) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        return Ok(Unverified::new(
            subject,
            SignatureCheck {
                key: key.public_key().clone(),
                message: input.as_bytes().to_vec(),
                signature: untrusted.signature_bytes().to_vec(),
            },
        ));
    }
    let candidates: Vec<&JwtSecret> = match kid {
        Some(kid) => vec![keys.by_kid(kid).ok_or(TokenError::UnknownKey)?],
        None => std::iter::once(&keys.current)
            .chain(&keys.previous)
            .collect(),
    };
    let token = candidates
        .into_iter()
        .find_map(|key| {
            Hs256
                .validator::<AccessClaims>(key.key())
                .validate(&untrusted)
                .ok()
        })
        .ok_or(TokenError::BadSignatureOrAlgorithm)?;
    check_claims(keys, token.claims(), kid.is_some(), now).map(Unverified::verified)
}

/// Everything but the signature. `keyed`: the token names its key, so `iss` and `aud` are
/// required.
fn check_claims(
    keys: &TokenKeys,
    claims: &Claims<AccessClaims>,
    keyed: bool,
    now: i64,
) -> Result<Subject, TokenError> {
    let options = TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), || at(now));
    match claims.validate_expiration(&options) {
        Ok(_) => {}
        Err(jwt_compact::ValidationError::NoClaim(_)) => return Err(TokenError::MissingExpiry),
        Err(_) => return Err(TokenError::Expired),
    }
    if claims
        .issued_at
        .is_some_and(|iat| iat.timestamp() > now + LEEWAY_SECONDS)
    {
        return Err(TokenError::IssuedInTheFuture);
    }
    let custom = &claims.custom;
    if custom.token_type != ACCESS_TOKEN_TYPE {
        return Err(TokenError::WrongType);
    }
    // Required in every token that names its key; checked in any token that has them.
    match &custom.iss {
        Some(iss) if *iss == keys.issuer => {}
        None if !keyed => {}
        _ => return Err(TokenError::WrongIssuer),
    }
    match &custom.aud {
        Some(aud) if aud.includes(&keys.audience) => {}
        None if !keyed => {}
        _ => return Err(TokenError::WrongAudience),
    }
    if custom.sid.is_none() && now >= SESSIONLESS_TOKENS_REFUSED_FROM {
        return Err(TokenError::NoSession);
    }
    Ok(Subject {
        user_id: parse_subject(&custom.sub)?,
        token_version: custom.ver,
        session_id: custom.sid.clone(),
    })
}

/// `sub` is the user id as a canonical decimal string ("5", not "05" or " 5").
fn parse_subject(sub: &str) -> Result<i64, TokenError> {
    match sub.parse::<i64>() {
        Ok(id) if id > 0 && id.to_string() == sub => Ok(id),
        _ => Err(TokenError::BadSubject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::signature::native;

    /// As the worker issues: ES256 and EdDSA signed as Web Crypto signs (here, natively).
    pub(super) fn issue_access_token(
        keys: &TokenKeys,
        subject: &Subject,
        now: i64,
        lifetime: i64,
    ) -> String {
        match super::issue_access_token(keys, subject, now, lifetime) {
            AccessToken::Signed(token) => token,
            AccessToken::ToSign(input) => {
                let signature = native::sign(&input.key, input.input.as_bytes());
                input.token(&signature)
            }
        }
    }

    /// As the worker verifies: the signature of ES256 and EdDSA as Web Crypto would (natively).
    pub(super) fn verify_access_token(
        keys: &TokenKeys,
        token: &str,
        now: i64,
    ) -> Result<Subject, TokenError> {
        native::verdict(super::verify_access_token(keys, token, now)?)
            .map_err(|_| TokenError::BadSignatureOrAlgorithm)
    }
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use serde_json::{json, Value};
    use sha2::Sha256;

    const NOW: i64 = 1_700_000_000;
    const DAY: i64 = 86_400;

    const PREVIOUS_KEY: &[u8] = b"the-key-before-the-rotation-32-bytes-long";

    fn secret() -> TokenKeys {
        keys_of(KEY, None)
    }

    fn keys_of(current: &[u8], previous: Option<&[u8]>) -> TokenKeys {
        let parse = |key: &[u8]| JwtSecret::parse(Some(std::str::from_utf8(key).unwrap())).unwrap();
        TokenKeys::new(
            parse(current),
            previous.map(parse),
            DEFAULT_ISSUER.into(),
            DEFAULT_AUDIENCE.into(),
        )
    }

    fn kid_of(key: &[u8]) -> String {
        JwtSecret::parse(Some(std::str::from_utf8(key).unwrap()))
            .unwrap()
            .kid()
            .to_owned()
    }

    /// The claims and header of a token as this version issues it, for a session.
    fn keyed_claims() -> Value {
        json!({"type": "access_token", "sub": "7", "ver": 0, "sid": "s", "iss": DEFAULT_ISSUER,
               "aud": DEFAULT_AUDIENCE, "iat": NOW, "exp": NOW + DAY})
    }

    fn keyed_header(key: &[u8]) -> Value {
        json!({"alg": "HS256", "typ": "JWT", "kid": kid_of(key)})
    }

    fn with_claim(name: &str, value: Value) -> Value {
        let mut claims = keyed_claims();
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value;
        }
        claims
    }

    /// Hand-builds a token with any header and claims, signed with HS256 and `key`.
    fn forge(header: Value, claims: Value, key: &[u8]) -> String {
        let signing_input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            B64.encode(mac.finalize().into_bytes())
        )
    }

    fn good_claims() -> Value {
        json!({"type": "access_token", "sub": "7", "iat": NOW, "exp": NOW + DAY})
    }

    const KEY: &[u8] = b"an-hs256-test-secret-of-at-least-32-bytes";

    fn subject(user_id: i64, token_version: i64) -> Subject {
        Subject {
            user_id,
            token_version,
            session_id: Some("a-session".into()),
        }
    }

    #[test]
    fn an_issued_token_verifies_to_its_subject() {
        let token = issue_access_token(&secret(), &subject(42, 3), NOW, 8 * DAY);
        assert_eq!(
            verify_access_token(&secret(), &token, NOW + 60),
            Ok(subject(42, 3))
        );
    }

    #[test]
    fn carries_the_original_claims_and_the_token_version() {
        let token = issue_access_token(&secret(), &subject(5, 2), NOW, 8 * DAY);
        let payload = token.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
        assert_eq!(
            claims,
            json!({"type": "access_token", "sub": "5", "ver": 2, "sid": "a-session",
                   "iss": "recipe-api", "aud": "recipe-api", "iat": NOW, "exp": NOW + 8 * DAY})
        );
        let header: Value =
            serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "HS256", "typ": "JWT", "kid": kid_of(KEY)})
        );
    }

    #[test]
    fn a_token_of_the_originals_shape_is_version_zero_without_a_session() {
        let token = forge(json!({"alg": "HS256", "typ": "JWT"}), good_claims(), KEY);
        assert_eq!(
            verify_access_token(&secret(), &token, NOW),
            Ok(Subject {
                user_id: 7,
                token_version: 0,
                session_id: None
            })
        );
    }

    #[test]
    fn refuses_every_bad_token() {
        let good = forge(json!({"alg": "HS256"}), good_claims(), KEY);
        let (head, payload, _) = {
            let mut parts = good.split('.');
            (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            )
        };
        let none_header = B64.encode(json!({"alg": "none"}).to_string());
        let with = |claims: Value| forge(json!({"alg": "HS256"}), claims, KEY);
        let mut claims_without_exp = good_claims();
        claims_without_exp.as_object_mut().unwrap().remove("exp");

        let cases: Vec<(&str, String, TokenError)> = vec![
            ("empty", String::new(), TokenError::Malformed),
            ("garbage", "not-a-jwt".into(), TokenError::Malformed),
            (
                "alg none, no signature",
                format!("{none_header}.{payload}."),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "alg HS512 header",
                forge(json!({"alg": "HS512"}), good_claims(), KEY),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "alg RS256 header",
                forge(json!({"alg": "RS256"}), good_claims(), KEY),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "signed with another key",
                forge(
                    json!({"alg": "HS256"}),
                    good_claims(),
                    b"another-key-another-key-another-key!",
                ),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "stripped signature",
                format!("{head}.{payload}."),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "altered payload",
                format!(
                    "{head}.{}.{}",
                    B64.encode(
                        json!({"type": "access_token", "sub": "1", "exp": NOW + DAY}).to_string()
                    ),
                    good.rsplit('.').next().unwrap()
                ),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "expired beyond leeway",
                with(
                    json!({"type": "access_token", "sub": "7", "iat": NOW - 2 * DAY, "exp": NOW - 61}),
                ),
                TokenError::Expired,
            ),
            (
                "missing exp",
                with(claims_without_exp),
                TokenError::MissingExpiry,
            ),
            (
                "iat in the future",
                with(
                    json!({"type": "access_token", "sub": "7", "iat": NOW + 3600, "exp": NOW + DAY}),
                ),
                TokenError::IssuedInTheFuture,
            ),
            (
                "wrong type",
                with(json!({"type": "refresh_token", "sub": "7", "exp": NOW + DAY})),
                TokenError::WrongType,
            ),
            (
                "non-numeric sub",
                with(json!({"type": "access_token", "sub": "admin", "exp": NOW + DAY})),
                TokenError::BadSubject,
            ),
            (
                "padded sub",
                with(json!({"type": "access_token", "sub": "07", "exp": NOW + DAY})),
                TokenError::BadSubject,
            ),
            (
                "oversized",
                "a".repeat(MAX_TOKEN_BYTES + 1),
                TokenError::Malformed,
            ),
        ];
        for (name, token, expected) in cases {
            assert_eq!(
                verify_access_token(&secret(), &token, NOW).err(),
                Some(expected),
                "{name}: should be refused"
            );
        }
    }

    #[test]
    fn expiry_allows_only_the_leeway() {
        let token = issue_access_token(&secret(), &subject(1, 0), NOW, 100);
        assert_eq!(
            verify_access_token(&secret(), &token, NOW + 100 + LEEWAY_SECONDS),
            Ok(subject(1, 0))
        );
        assert_eq!(
            verify_access_token(&secret(), &token, NOW + 101 + LEEWAY_SECONDS),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_of_this_version_names_its_key_issuer_and_audience_and_each_is_checked() {
        let sign = |claims: Value| forge(keyed_header(KEY), claims, KEY);
        assert_eq!(
            verify_access_token(&secret(), &sign(keyed_claims()), NOW),
            Ok(Subject {
                user_id: 7,
                token_version: 0,
                session_id: Some("s".into())
            }),
            "the forging is right"
        );
        let cases: Vec<(&str, String, TokenError)> = vec![
            (
                "another issuer",
                sign(with_claim("iss", json!("someone-else"))),
                TokenError::WrongIssuer,
            ),
            (
                "no issuer, though the key is named",
                sign(with_claim("iss", Value::Null)),
                TokenError::WrongIssuer,
            ),
            (
                "another audience",
                sign(with_claim("aud", json!("another-api"))),
                TokenError::WrongAudience,
            ),
            (
                "a list of other audiences",
                sign(with_claim("aud", json!(["a", "b"]))),
                TokenError::WrongAudience,
            ),
            (
                "no audience, though the key is named",
                sign(with_claim("aud", Value::Null)),
                TokenError::WrongAudience,
            ),
            (
                "an unknown kid",
                forge(
                    json!({"alg": "HS256", "kid": "AAAAAAAAAAA"}),
                    keyed_claims(),
                    KEY,
                ),
                TokenError::UnknownKey,
            ),
            (
                "our kid, another key's signature",
                forge(
                    keyed_header(KEY),
                    keyed_claims(),
                    b"another-key-another-key-another-key!",
                ),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "a key's own kid, but not a key of ours",
                forge(
                    keyed_header(b"another-key-another-key-another-key!"),
                    keyed_claims(),
                    b"another-key-another-key-another-key!",
                ),
                TokenError::UnknownKey,
            ),
            (
                "a wrong issuer in a token without kid",
                forge(
                    json!({"alg": "HS256"}),
                    with_claim("iss", json!("someone-else")),
                    KEY,
                ),
                TokenError::WrongIssuer,
            ),
        ];
        for (name, token, expected) in cases {
            assert_eq!(
                verify_access_token(&secret(), &token, NOW).err(),
                Some(expected),
                "{name}: should be refused"
            );
        }
        let listed = sign(with_claim("aud", json!(["another-api", DEFAULT_AUDIENCE])));
        assert!(verify_access_token(&secret(), &listed, NOW).is_ok());
    }

    #[test]
    fn the_issuer_and_audience_are_the_configured_ones() {
        let parse = |key: &[u8]| JwtSecret::parse(Some(std::str::from_utf8(key).unwrap())).unwrap();
        let staging = TokenKeys::new(parse(KEY), None, "https://staging".into(), "app".into());
        let token = issue_access_token(&staging, &subject(1, 0), NOW, 60);
        assert!(verify_access_token(&staging, &token, NOW).is_ok());
        assert_eq!(
            verify_access_token(&secret(), &token, NOW),
            Err(TokenError::WrongIssuer),
            "a deployment with another issuer, even with the same key, refuses it"
        );
    }

    #[test]
    fn a_token_from_before_keys_had_ids_verifies_with_either_key_until_it_expires() {
        let legacy = json!({"type": "access_token", "sub": "7", "ver": 1, "sid": "s",
                            "iat": NOW, "exp": NOW + 1800});
        let rotated = keys_of(KEY, Some(PREVIOUS_KEY));
        for key in [KEY, PREVIOUS_KEY] {
            let token = forge(json!({"alg": "HS256", "typ": "JWT"}), legacy.clone(), key);
            assert!(verify_access_token(&rotated, &token, NOW).is_ok());
            assert_eq!(
                verify_access_token(&rotated, &token, NOW + 1800 + LEEWAY_SECONDS + 1),
                Err(TokenError::Expired)
            );
        }
    }

    #[test]
    fn the_previous_key_verifies_but_never_signs() {
        let before = keys_of(PREVIOUS_KEY, None);
        let during = keys_of(KEY, Some(PREVIOUS_KEY));
        let after = keys_of(KEY, None);
        let old = issue_access_token(&before, &subject(3, 0), NOW, 1800);
        assert_eq!(
            verify_access_token(&during, &old, NOW + 60),
            Ok(subject(3, 0)),
            "a token signed before the rotation still works"
        );
        let new = issue_access_token(&during, &subject(3, 0), NOW, 1800);
        let header: Value =
            serde_json::from_slice(&B64.decode(new.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(
            header["kid"],
            json!(kid_of(KEY)),
            "signed with the current key"
        );
        assert_eq!(
            verify_access_token(&before, &new, NOW),
            Err(TokenError::UnknownKey),
            "the previous key alone cannot verify what the rotated service signs"
        );
        assert_eq!(verify_access_token(&after, &new, NOW), Ok(subject(3, 0)));
        assert_eq!(
            verify_access_token(&after, &old, NOW + 60),
            Err(TokenError::UnknownKey),
            "once the previous key is dropped, its tokens stop working"
        );
        let same = keys_of(KEY, Some(KEY));
        assert!(same.previous.is_none(), "the same key twice is one key");
    }

    #[test]
    fn a_token_without_a_session_is_refused_from_the_cut_off() {
        let sessionless = forge(json!({"alg": "HS256"}), good_claims(), KEY);
        let at_cut_off = SESSIONLESS_TOKENS_REFUSED_FROM;
        let long_lived = forge(
            json!({"alg": "HS256"}),
            json!({"type": "access_token", "sub": "7", "iat": at_cut_off - 60,
                   "exp": at_cut_off + DAY}),
            KEY,
        );
        assert!(verify_access_token(&secret(), &sessionless, NOW).is_ok());
        assert_eq!(
            verify_access_token(&secret(), &long_lived, at_cut_off - 1).map(|s| s.session_id),
            Ok(None)
        );
        assert_eq!(
            verify_access_token(&secret(), &long_lived, at_cut_off),
            Err(TokenError::NoSession)
        );
        let mut keyed_claims = with_claim("sid", Value::Null);
        keyed_claims["iat"] = json!(at_cut_off);
        keyed_claims["exp"] = json!(at_cut_off + DAY);
        let keyed = forge(keyed_header(KEY), keyed_claims, KEY);
        assert_eq!(
            verify_access_token(&secret(), &keyed, at_cut_off + 1),
            Err(TokenError::NoSession)
        );
    }
}

/// The token of an `Authorization: Bearer <token>` header, as FastAPI's
/// `OAuth2PasswordBearer` reads it: the scheme is case-insensitive and everything after the
/// first space is the token, verbatim. `None` means "Not authenticated".
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.split_once(' ').unwrap_or((header?, ""));
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

#[cfg(test)]
mod asymmetric_tests {
    use super::tests::{issue_access_token, verify_access_token};
    use super::*;
    use crate::security::signature::native;

    use crate::security::secret::tests::{P256_JWK, RFC8037_PEM};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use serde_json::{json, Value};
    use sha2::Sha256;

    const NOW: i64 = 1_700_000_000;
    const SECRET: &str = "an-hs256-test-secret-of-at-least-32-bytes";
    /// Other keys of each kind, written by Node's crypto.
    const OTHER_ED25519: &str = r#"{"crv":"Ed25519","d":"oc8eU9-MJLo3HsIt9Un1DY-D2pj2Wx7UrnB4uBEkqMI","x":"nqrbxcTh1eXNk33V1er1wc3Mj0uFr8-tOV3NL1PAEPs","kty":"OKP"}"#;

    fn private_key(value: &str) -> PrivateKey {
        PrivateKey::parse_named("JWT_PRIVATE_KEY", Some(value)).unwrap()
    }

    /// A token with any header, signed by `pair` with its algorithm.
    fn sign_with<H: serde::Serialize>(
        pair: &KeyPair,
        header: &Header<H>,
        claims: &Claims<AccessClaims>,
    ) -> String {
        let mut header = serde_json::to_value(header).unwrap();
        header["alg"] = json!(pair.algorithm().name());
        let input = SigningInput {
            input: format!(
                "{}.{}",
                B64.encode(header.to_string()),
                B64.encode(serde_json::to_string(claims).unwrap())
            ),
            key: pair.signing_key().clone(),
        };
        let signature = native::sign(&input.key, input.input.as_bytes());
        input.token(&signature)
    }

    fn pair(value: &str) -> KeyPair {
        crate::security::secret::tests::complete(private_key(value)).unwrap()
    }

    fn hs256() -> TokenKeys {
        TokenKeys::new(
            JwtSecret::parse(Some(SECRET)).unwrap(),
            None,
            DEFAULT_ISSUER.into(),
            DEFAULT_AUDIENCE.into(),
        )
    }

    fn signing_with(current: &str, previous: Option<&str>) -> TokenKeys {
        complete_natively(
            hs256().with_private_keys(private_key(current), previous.map(private_key)),
        )
        .unwrap()
    }

    fn subject() -> Subject {
        Subject {
            user_id: 9,
            token_version: 1,
            session_id: Some("s".into()),
        }
    }

    fn part(token: &str, index: usize) -> Value {
        serde_json::from_slice(&B64.decode(token.split('.').nth(index).unwrap()).unwrap()).unwrap()
    }

    fn claims() -> Claims<AccessClaims> {
        let mut claims = Claims::new(AccessClaims {
            token_type: ACCESS_TOKEN_TYPE.into(),
            sub: "9".into(),
            ver: 1,
            sid: Some("s".into()),
            iss: Some(DEFAULT_ISSUER.into()),
            aud: Some(Audience::One(DEFAULT_AUDIENCE.into())),
        });
        claims.issued_at = Some(at(NOW));
        claims.expiration = Some(at(NOW + 1800));
        claims
    }

    fn hmac(header: Value, key: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(serde_json::to_string(&claims()).unwrap())
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn each_algorithm_signs_the_same_claims_and_names_its_key() {
        for (value, alg) in [(P256_JWK, "ES256"), (RFC8037_PEM, "EdDSA")] {
            let keys = signing_with(value, None);
            let token = issue_access_token(&keys, &subject(), NOW, 1800);
            assert_eq!(verify_access_token(&keys, &token, NOW), Ok(subject()));
            assert_eq!(
                part(&token, 0),
                json!({"alg": alg, "typ": "JWT", "kid": pair(value).kid()})
            );
            assert_eq!(
                part(&token, 1),
                json!({"type": "access_token", "sub": "9", "ver": 1, "sid": "s",
                       "iss": "recipe-api", "aud": "recipe-api", "iat": NOW, "exp": NOW + 1800})
            );
            assert_eq!(
                verify_access_token(&keys, &token, NOW + 1800 + LEEWAY_SECONDS + 1),
                Err(TokenError::Expired)
            );
            assert_eq!(keys.jwks(), json!({"keys": [pair(value).public_jwk()]}));
        }
        assert_eq!(
            hs256().jwks(),
            json!({"keys": []}),
            "HS256 publishes nothing"
        );
    }

    #[test]
    fn only_our_keys_signature_over_these_very_claims_verifies() {
        for value in [P256_JWK, RFC8037_PEM] {
            let keys = signing_with(value, None);
            let ours = pair(value);
            let token = issue_access_token(&keys, &subject(), NOW, 1800);
            assert_eq!(verify_access_token(&keys, &token, NOW), Ok(subject()));
            // Another user's id in the claims, our signature kept.
            let mut other = claims();
            other.custom.sub = "1".into();
            let parts: Vec<&str> = token.split('.').collect();
            let swapped = format!(
                "{}.{}.{}",
                parts[0],
                B64.encode(serde_json::to_string(&other).unwrap()),
                parts[2]
            );
            // Our header and kid, signed by another key (of the other kind: the signature
            // has the same length).
            let attacker = pair(if value == P256_JWK {
                OTHER_ED25519
            } else {
                P256_JWK
            });
            let input = SigningInput {
                input: format!(
                    "{}.{}",
                    B64.encode(
                        json!({"alg": ours.algorithm().name(), "typ": "JWT", "kid": ours.kid()})
                            .to_string()
                    ),
                    B64.encode(serde_json::to_string(&claims()).unwrap())
                ),
                key: attacker.signing_key().clone(),
            };
            let signature = native::sign(&input.key, input.input.as_bytes());
            let forged = input.token(&signature);
            for bad in [swapped, forged] {
                assert_eq!(
                    verify_access_token(&keys, &bad, NOW),
                    Err(TokenError::BadSignatureOrAlgorithm),
                    "{bad}"
                );
            }
        }
    }

    #[test]
    fn tampered_tokens_are_refused() {
        let keys = signing_with(P256_JWK, None);
        let ours = pair(P256_JWK);
        let kid = ours.kid();
        let attacker = pair(OTHER_ED25519);
        let public_jwk = ours.public_jwk().to_string();
        let x = B64
            .decode(ours.public_jwk()["x"].as_str().unwrap())
            .unwrap();
        let none = format!(
            "{}.{}.",
            B64.encode(json!({"alg": "none", "kid": kid}).to_string()),
            B64.encode(serde_json::to_string(&claims()).unwrap())
        );
        let with_jwk = Header::new(json!({"jwk": attacker.public_jwk()})).with_key_id(kid);
        let with_jku = Header::empty()
            .with_key_id(kid)
            .with_key_set_url("https://attacker.example/jwks.json");
        let cases = [
            (
                "HS256 with the public JWK as secret",
                hmac(json!({"alg": "HS256", "kid": kid}), public_jwk.as_bytes()),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "HS256 with the public key's bytes as secret",
                hmac(json!({"alg": "HS256", "kid": kid}), &x),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "HS256 with JWT_SECRET, its own kid",
                issue_access_token(&hs256(), &subject(), NOW, 1800),
                TokenError::UnknownKey,
            ),
            ("alg none", none, TokenError::BadSignatureOrAlgorithm),
            (
                "an embedded jwk of another key",
                sign_with(&attacker, &with_jwk, &claims()),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "a jku pointing elsewhere",
                sign_with(&attacker, &with_jku, &claims()),
                TokenError::BadSignatureOrAlgorithm,
            ),
            (
                "another key, its own kid",
                sign_with(
                    &attacker,
                    &Header::empty().with_key_id(attacker.kid()),
                    &claims(),
                ),
                TokenError::UnknownKey,
            ),
            (
                "no kid",
                sign_with(&ours, &Header::empty(), &claims()),
                TokenError::UnknownKey,
            ),
        ];
        for (name, token, expected) in cases {
            assert_eq!(
                verify_access_token(&keys, &token, NOW).err(),
                Some(expected),
                "{name}: should be refused"
            );
        }
        assert!(
            verify_access_token(&keys, &sign_with(&ours, &with_jku, &claims()), NOW).is_ok(),
            "the forging is right: a jku is ignored, the kid and signature decide"
        );
    }

    #[test]
    fn the_previous_key_verifies_until_removed_and_never_signs() {
        let before = signing_with(P256_JWK, None);
        let during = signing_with(RFC8037_PEM, Some(P256_JWK));
        let after = signing_with(RFC8037_PEM, None);
        let old = issue_access_token(&before, &subject(), NOW, 1800);
        let new = issue_access_token(&during, &subject(), NOW, 1800);
        assert_eq!(part(&new, 0)["alg"], json!("EdDSA"));
        assert_eq!(verify_access_token(&during, &old, NOW), Ok(subject()));
        assert_eq!(verify_access_token(&after, &new, NOW), Ok(subject()));
        assert_eq!(
            verify_access_token(&after, &old, NOW),
            Err(TokenError::UnknownKey)
        );
        let kids: Vec<Value> = during.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].clone())
            .collect();
        assert_eq!(
            kids,
            [json!(pair(RFC8037_PEM).kid()), json!(pair(P256_JWK).kid())]
        );
        let same = signing_with(P256_JWK, Some(P256_JWK));
        assert_eq!(same.jwks()["keys"].as_array().unwrap().len(), 1);
    }
}

#[cfg(test)]
mod bearer_tests {
    use super::bearer_token;

    #[test]
    fn reads_the_token_after_a_case_insensitive_bearer_scheme() {
        assert_eq!(
            bearer_token(Some("Bearer abc.def.ghi")),
            Some("abc.def.ghi")
        );
        assert_eq!(bearer_token(Some("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("Bearer")), Some(""));
        assert_eq!(
            bearer_token(Some("Bearer  abc")),
            Some(" abc"),
            "kept verbatim, so refused"
        );
    }

    #[test]
    fn anything_else_is_not_authenticated() {
        for header in [
            None,
            Some(""),
            Some("Basic dXNlcjpwdw=="),
            Some("Token abc"),
        ] {
            assert_eq!(bearer_token(header), None, "{header:?}");
        }
    }
}
