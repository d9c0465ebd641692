//! HS256 access tokens with the original's claims, `type`, `sub`, `iat` and `exp`, plus
//! `ver`, the user's token version when it was issued, and `sid`, the session (login) it
//! belongs to.

use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::Hs256;
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions, UntrustedToken};
use serde::{Deserialize, Serialize};

use super::JwtSecret;

pub const ACCESS_TOKEN_TYPE: &str = "access_token";
/// Allowed clock difference between the issuer and the verifier, for `exp` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;
/// Far more than a token of ours needs; anything longer is refused before decoding.
pub const MAX_TOKEN_BYTES: usize = 4096;

#[derive(Debug, Serialize, Deserialize)]
struct AccessClaims {
    #[serde(rename = "type")]
    token_type: String,
    sub: String,
    /// Missing in tokens of the original's shape, which count as version 0.
    #[serde(default)]
    ver: i64,
    /// Missing in tokens issued before sessions were named in them; those keep working
    /// until they expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
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
    BadSignatureOrAlgorithm,
    MissingExpiry,
    Expired,
    IssuedInTheFuture,
    WrongType,
    BadSubject,
}

fn at(unix_seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(unix_seconds, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Signs an access token for `subject`, valid for `lifetime_seconds` from `now`.
/// The clock is the caller's: on wasm the time comes from the Worker, not from chrono.
pub fn issue_access_token(
    secret: &JwtSecret,
    subject: &Subject,
    now: i64,
    lifetime_seconds: i64,
) -> String {
    let mut claims = Claims::new(AccessClaims {
        token_type: ACCESS_TOKEN_TYPE.into(),
        sub: subject.user_id.to_string(),
        ver: subject.token_version,
        sid: subject.session_id.clone(),
    });
    claims.issued_at = Some(at(now));
    claims.expiration = Some(at(now.saturating_add(lifetime_seconds)));
    Hs256
        .token(
            &Header::empty().with_token_type("JWT"),
            &claims,
            secret.key(),
        )
        .expect("serialising fixed claims cannot fail")
}

/// Verifies an access token and returns whom it was issued to. Pins HS256, requires `exp`,
/// rejects an `iat` in the future and any `type` but `access_token`. Whether the user still
/// exists, is active and has this token version is the caller's to check.
pub fn verify_access_token(
    secret: &JwtSecret,
    token: &str,
    now: i64,
) -> Result<Subject, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
    let token = Hs256
        .validator::<AccessClaims>(secret.key())
        .validate(&untrusted)
        .map_err(|_| TokenError::BadSignatureOrAlgorithm)?;
    let claims = token.claims();
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
    if claims.custom.token_type != ACCESS_TOKEN_TYPE {
        return Err(TokenError::WrongType);
    }
    Ok(Subject {
        user_id: parse_subject(&claims.custom.sub)?,
        token_version: claims.custom.ver,
        session_id: claims.custom.sid.clone(),
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
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use serde_json::{json, Value};
    use sha2::Sha256;

    const NOW: i64 = 1_700_000_000;
    const DAY: i64 = 86_400;

    fn secret() -> JwtSecret {
        JwtSecret::parse(Some("an-hs256-test-secret-of-at-least-32-bytes")).unwrap()
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
                   "iat": NOW, "exp": NOW + 8 * DAY})
        );
        let header: Value =
            serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "HS256");
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
}

/// The token of an `Authorization: Bearer <token>` header, as FastAPI's
/// `OAuth2PasswordBearer` reads it: the scheme is case-insensitive and everything after the
/// first space is the token, verbatim. `None` means "Not authenticated".
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.split_once(' ').unwrap_or((header?, ""));
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
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
