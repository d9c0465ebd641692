//! Cloudflare Turnstile, a CAPTCHA, in front of the routes that cost a password hash or an
//! email: which routes ask for a token (`TURNSTILE_ON`), the token as a client presents it,
//! the request sent to Cloudflare's siteverify API, and how its answer is read. Pure Rust:
//! the HTTP call is in src/api/turnstile.rs.
//!
//! Siteverify (developers.cloudflare.com/turnstile/get-started/server-side-validation):
//! `POST` form-encoded `secret`, `response` (the token), optional `remoteip` and
//! `idempotency_key`; the answer is always JSON `{"success": bool, "error-codes": [..], ..}`.

use std::net::IpAddr;

use serde_json::Value;
use strum::{EnumIter, IntoEnumIterator};

/// The widget's name for its token: the hidden form field it adds, and the header and JSON
/// member this API also reads it from.
pub const TOKEN_FIELD: &str = "cf-turnstile-response";
/// Cloudflare's siteverify endpoint, unless `TURNSTILE_VERIFY_URL` names another.
pub const DEFAULT_VERIFY_URL: &str = "https://challenges.cloudflare.com/turnstile/v0/siteverify";
/// The routes that ask for a token when `TURNSTILE_ON` is unset: the two that anyone can
/// call to make the worker hash a password or send an email. Login is left out by default:
/// its attempts are already counted per account and address before any hash.
pub const DEFAULT_GUARDED: &str = "signup,recovery";
/// Cloudflare's tokens are at most 2048 characters; a longer one is refused without asking.
pub const MAX_TOKEN_CHARS: usize = 2048;
/// At most this many of siteverify's error codes, each cut to `MAX_CODE_CHARS`, go to the log.
const MAX_CODES: usize = 8;
const MAX_CODE_CHARS: usize = 64;

/// A route that can ask for a token, by its name in `TURNSTILE_ON`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter)]
pub enum Guarded {
    /// `POST /api/v1/auth/signup`
    Signup,
    /// `POST /api/v1/auth/password-recovery`
    Recovery,
    /// `POST /api/v1/auth/login`
    Login,
}

impl Guarded {
    pub fn name(self) -> &'static str {
        match self {
            Guarded::Signup => "signup",
            Guarded::Recovery => "recovery",
            Guarded::Login => "login",
        }
    }
}

/// The routes that ask for a token: `TURNSTILE_ON`, a comma- or space-separated list of
/// route names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardedRoutes([bool; 3]);

impl GuardedRoutes {
    /// Reads `TURNSTILE_ON`; unset or empty is [`DEFAULT_GUARDED`]. A name that is not a
    /// route's is an error rather than ignored: a misspelt `login` would otherwise leave
    /// login unguarded while the operator believes it guarded.
    pub fn parse(value: Option<&str>) -> Result<GuardedRoutes, String> {
        let value = value.map(str::trim).filter(|v| !v.is_empty());
        let mut on = [false; 3];
        for name in value
            .unwrap_or(DEFAULT_GUARDED)
            .split([',', ' '])
            .filter(|n| !n.is_empty())
        {
            match Guarded::iter().find(|route| route.name() == name) {
                Some(route) => on[route as usize] = true,
                None => {
                    let known: Vec<_> = Guarded::iter().map(Guarded::name).collect();
                    return Err(format!(
                        "TURNSTILE_ON names {name:?}, which is not a route; it must list some \
                         of {} (default \"{DEFAULT_GUARDED}\")",
                        known.join(", ")
                    ));
                }
            }
        }
        Ok(GuardedRoutes(on))
    }

    pub fn contains(&self, route: Guarded) -> bool {
        self.0[route as usize]
    }
}

/// Why a request was refused before or by siteverify: its security log line's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token in the header, the form or the JSON body.
    Missing,
    /// Longer than any token Cloudflare issues; siteverify is not asked.
    TooLong,
    /// Siteverify said the token was good once: expired, or already verified.
    Spent,
    /// Siteverify said no for another reason (its error codes say which).
    Refused,
}

impl Refusal {
    /// Siteverify's refusal, by its error codes.
    pub fn by_siteverify(error_codes: &[String]) -> Refusal {
        if error_codes.iter().any(|c| c == "timeout-or-duplicate") {
            Refusal::Spent
        } else {
            Refusal::Refused
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Refusal::Missing => "missing_token",
            Refusal::TooLong => "token_too_long",
            Refusal::Spent => "spent",
            Refusal::Refused => "refused",
        }
    }
}

/// The token a request presents: the header's if it has a non-empty one, else the body's.
/// Not trimmed: a token is sent on as it came.
pub fn presented<'a>(header: Option<&'a str>, body: Option<&'a str>) -> Result<&'a str, Refusal> {
    let token = header
        .filter(|t| !t.is_empty())
        .or(body.filter(|t| !t.is_empty()))
        .ok_or(Refusal::Missing)?;
    if token.chars().count() > MAX_TOKEN_CHARS {
        return Err(Refusal::TooLong);
    }
    Ok(token)
}

/// The `cf-turnstile-response` member of a JSON body, when it is a string. The body has
/// already been read by the route's own parser, which ignores members it does not know.
pub fn token_in_json(body: &str) -> Option<String> {
    // A JSON value, not a struct: serde would read a struct from an array too (`["token"]`).
    let value = serde_json::from_str::<Value>(body).ok()?;
    value
        .as_object()?
        .get(TOKEN_FIELD)?
        .as_str()
        .map(str::to_owned)
}

/// The visitor's address for siteverify's `remoteip`: `CF-Connecting-IP`, which Cloudflare's
/// edge sets, as it is, when it is an IP address; otherwise none is sent (it is optional).
pub fn remote_ip(header: Option<&str>) -> Option<&str> {
    let header = header?.trim();
    header.parse::<IpAddr>().is_ok().then_some(header)
}

/// A random UUID (version 4) for siteverify's `idempotency_key`: with it, the one retry
/// after a lost answer asks about the same token without spending it twice.
pub fn new_idempotency_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// One siteverify request. Its `Debug` leaves the secret and the token out.
pub struct SiteverifyRequest<'a> {
    pub secret: &'a str,
    pub token: &'a str,
    pub remote_ip: Option<&'a str>,
    pub idempotency_key: &'a str,
}

impl SiteverifyRequest<'_> {
    /// The body, `application/x-www-form-urlencoded`.
    pub fn form_body(&self) -> String {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("secret", self.secret)
            .append_pair("response", self.token);
        if let Some(ip) = self.remote_ip {
            form.append_pair("remoteip", ip);
        }
        form.append_pair("idempotency_key", self.idempotency_key);
        form.finish()
    }
}

impl std::fmt::Debug for SiteverifyRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteverifyRequest")
            .field("remote_ip", &self.remote_ip)
            .field("idempotency_key", &self.idempotency_key)
            .finish_non_exhaustive()
    }
}

/// What siteverify's answer means for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx answer with `"success": true`: the token is good, and now spent.
    Passed,
    /// The token is not good: forged, expired, or already spent (see [`Refusal::by_siteverify`]).
    Refused { error_codes: Vec<String> },
    /// Siteverify does not know our secret: the deployment's fault, not the client's.
    SecretRefused { error_codes: Vec<String> },
    /// No verdict: a 5xx, an answer that is not siteverify's JSON, or its `internal-error`
    /// (which its documentation says to retry).
    Unavailable(String),
}

impl Verdict {
    /// Reads an answer: its HTTP status and body. Only a 2xx with `"success": true` passes.
    pub fn read(status: u16, body: &str) -> Verdict {
        if status >= 500 {
            return Verdict::Unavailable(format!("siteverify answered {status}"));
        }
        // A JSON value, not a struct: serde would read a struct from an array too (`[true]`).
        let answer = serde_json::from_str::<Value>(body).ok();
        let answer = answer.as_ref().and_then(Value::as_object);
        let Some(success) = answer.and_then(|a| a.get("success")?.as_bool()) else {
            return Verdict::Unavailable(format!(
                "siteverify answered {status} with a body that is not its JSON"
            ));
        };
        let codes = answer
            .as_ref()
            .and_then(|a| a.get("error-codes")?.as_array());
        let error_codes: Vec<String> = codes
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .take(MAX_CODES)
            .map(|code| code.chars().take(MAX_CODE_CHARS).collect())
            .collect();
        let has = |wanted: &[&str]| error_codes.iter().any(|c| wanted.contains(&c.as_str()));
        let ok_status = (200..300).contains(&status);
        if success && ok_status {
            Verdict::Passed
        } else if success {
            Verdict::Unavailable(format!("siteverify answered {status} with success"))
        } else if has(&["missing-input-secret", "invalid-input-secret"]) {
            Verdict::SecretRefused { error_codes }
        } else if has(&["internal-error"]) {
            Verdict::Unavailable("siteverify answered internal-error".into())
        } else {
            Verdict::Refused { error_codes }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turnstile_on_defaults_to_signup_and_recovery() {
        for value in [None, Some(""), Some("  ")] {
            let routes = GuardedRoutes::parse(value).unwrap();
            assert!(routes.contains(Guarded::Signup), "{value:?}");
            assert!(routes.contains(Guarded::Recovery), "{value:?}");
            assert!(!routes.contains(Guarded::Login), "{value:?}");
        }
    }

    #[test]
    fn turnstile_on_reads_comma_or_space_separated_names() {
        let all = GuardedRoutes::parse(Some("signup, recovery,login")).unwrap();
        assert!(Guarded::iter().all(|route| all.contains(route)));
        let login = GuardedRoutes::parse(Some(" login ")).unwrap();
        assert!(login.contains(Guarded::Login));
        assert!(!login.contains(Guarded::Signup));
        let twice = GuardedRoutes::parse(Some("recovery recovery")).unwrap();
        assert!(twice.contains(Guarded::Recovery));
        assert!(!twice.contains(Guarded::Login));
    }

    #[test]
    fn an_unknown_name_in_turnstile_on_is_an_error_naming_it() {
        for value in ["signup,logon", "Signup", "recovery;login", "*", "none"] {
            let error = GuardedRoutes::parse(Some(value)).unwrap_err();
            assert!(error.contains("TURNSTILE_ON"), "{error}");
            assert!(error.contains("signup, recovery, login"), "{error}");
        }
        let error = GuardedRoutes::parse(Some("signup,logon")).unwrap_err();
        assert!(error.contains("\"logon\""), "{error}");
    }

    #[test]
    fn the_header_wins_then_the_body_and_an_empty_one_is_missing() {
        assert_eq!(presented(Some("h"), Some("b")), Ok("h"));
        assert_eq!(presented(Some(""), Some("b")), Ok("b"));
        assert_eq!(presented(None, Some("b")), Ok("b"));
        assert_eq!(presented(None, None), Err(Refusal::Missing));
        assert_eq!(presented(Some(""), Some("")), Err(Refusal::Missing));
        let long = "x".repeat(MAX_TOKEN_CHARS + 1);
        assert_eq!(presented(Some(&long), None), Err(Refusal::TooLong));
        let longest = "x".repeat(MAX_TOKEN_CHARS);
        assert_eq!(presented(None, Some(&longest)), Ok(longest.as_str()));
    }

    #[test]
    fn the_json_member_is_read_only_when_it_is_a_string() {
        let body = r#"{"email": "a@b.co", "cf-turnstile-response": "XXXX.DUMMY.TOKEN.XXXX"}"#;
        assert_eq!(
            token_in_json(body).as_deref(),
            Some("XXXX.DUMMY.TOKEN.XXXX")
        );
        for body in [
            r#"{"email": "a@b.co"}"#,
            r#"{"cf-turnstile-response": 5}"#,
            r#"{"cf-turnstile-response": null}"#,
            r#"{"cf-turnstile-response": ["t"]}"#,
            r#"["XXXX.DUMMY.TOKEN.XXXX"]"#,
            "[]",
            "not json",
            "",
        ] {
            assert_eq!(token_in_json(body), None, "{body}");
        }
    }

    #[test]
    fn remoteip_is_sent_only_for_an_ip_address() {
        assert_eq!(remote_ip(Some(" 203.0.113.9 ")), Some("203.0.113.9"));
        assert_eq!(remote_ip(Some("2001:db8::1")), Some("2001:db8::1"));
        assert_eq!(remote_ip(Some("203.0.113.9, 10.0.0.1")), None);
        assert_eq!(remote_ip(None), None);
    }

    #[test]
    fn an_idempotency_key_is_a_random_version_4_uuid() {
        let key = new_idempotency_key().unwrap();
        assert_eq!(key.len(), 36);
        let groups: Vec<_> = key.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&key[14..15], "4");
        assert!(matches!(&key[19..20], "8" | "9" | "a" | "b"), "{key}");
        assert!(key.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
        assert_ne!(key, new_idempotency_key().unwrap());
    }

    #[test]
    fn the_request_is_form_encoded_and_its_debug_hides_the_secret_and_token() {
        let request = SiteverifyRequest {
            secret: "1x0000000000000000000000000000000AA",
            token: "a+b/c=&d",
            remote_ip: Some("2001:db8::1"),
            idempotency_key: "6c1a9f3e-1b2c-4d5e-8f90-123456789abc",
        };
        assert_eq!(
            request.form_body(),
            "secret=1x0000000000000000000000000000000AA&response=a%2Bb%2Fc%3D%26d\
             &remoteip=2001%3Adb8%3A%3A1&idempotency_key=6c1a9f3e-1b2c-4d5e-8f90-123456789abc"
        );
        let without_ip = SiteverifyRequest {
            remote_ip: None,
            ..request
        };
        assert!(!without_ip.form_body().contains("remoteip"));
        let debug = format!("{without_ip:?}");
        assert!(!debug.contains("1x00") && !debug.contains("a+b"), "{debug}");
    }

    #[test]
    fn only_a_2xx_with_success_passes() {
        let passed = r#"{"success": true, "challenge_ts": "2022-02-28T15:14:30.096Z",
                         "hostname": "example.com", "error-codes": [], "action": "login"}"#;
        assert_eq!(Verdict::read(200, passed), Verdict::Passed);
        assert_eq!(Verdict::read(200, r#"{"success": true}"#), Verdict::Passed);
        assert!(matches!(
            Verdict::read(302, r#"{"success": true}"#),
            Verdict::Unavailable(_)
        ));
        assert!(matches!(
            Verdict::read(200, r#"{"success": "true"}"#),
            Verdict::Unavailable(_)
        ));
    }

    #[test]
    fn refusals_keep_their_error_codes_and_a_spent_token_says_so() {
        let refused = Verdict::read(
            200,
            r#"{"success": false, "error-codes": ["invalid-input-response"]}"#,
        );
        let codes = vec!["invalid-input-response".to_owned()];
        assert_eq!(
            refused,
            Verdict::Refused {
                error_codes: codes.clone()
            }
        );
        assert_eq!(Refusal::by_siteverify(&codes), Refusal::Refused);
        let spent = Verdict::read(
            200,
            r#"{"success": false, "error-codes": ["timeout-or-duplicate"]}"#,
        );
        let Verdict::Refused { error_codes } = spent else {
            panic!("a refusal: {spent:?}")
        };
        assert_eq!(Refusal::by_siteverify(&error_codes), Refusal::Spent);
        let unexplained = Verdict::read(400, r#"{"success": false}"#);
        assert_eq!(
            unexplained,
            Verdict::Refused {
                error_codes: vec![]
            }
        );
    }

    #[test]
    fn a_refused_secret_is_the_deployments_fault() {
        for code in ["invalid-input-secret", "missing-input-secret"] {
            let body = format!(r#"{{"success": false, "error-codes": ["{code}"]}}"#);
            assert_eq!(
                Verdict::read(200, &body),
                Verdict::SecretRefused {
                    error_codes: vec![code.into()]
                }
            );
        }
    }

    #[test]
    fn no_verdict_from_a_5xx_a_foreign_body_or_an_internal_error() {
        for (status, body) in [
            (500, r#"{"success": true}"#),
            (503, ""),
            (200, "<!DOCTYPE html><title>Just a moment...</title>"),
            (200, ""),
            (200, "[]"),
            (200, "[true, []]"),
            (200, r#"{"error-codes": []}"#),
            (
                200,
                r#"{"success": false, "error-codes": ["internal-error"]}"#,
            ),
        ] {
            assert!(
                matches!(Verdict::read(status, body), Verdict::Unavailable(_)),
                "{status} {body}"
            );
        }
    }

    #[test]
    fn error_codes_are_bounded_for_the_log() {
        let codes: Vec<String> = (0..20).map(|i| format!("{i}{}", "x".repeat(200))).collect();
        let body = serde_json::json!({"success": false, "error-codes": codes}).to_string();
        let Verdict::Refused { error_codes } = Verdict::read(200, &body) else {
            panic!("a refusal")
        };
        assert_eq!(error_codes.len(), MAX_CODES);
        assert!(error_codes
            .iter()
            .all(|c| c.chars().count() == MAX_CODE_CHARS));
    }
}
