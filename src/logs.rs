//! The Worker's log lines, one JSON object each (Workers Logs, `wrangler tail`, or
//! `wrangler dev`'s output), for an operator to search and alert on: one per request, one
//! per security event, and one per email. No field can hold a password, token, hash or email.

use serde::Serialize;

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SecurityEvent<'a> {
    /// A login (or a password check) refused with 429; `scope` is the counter over its limit.
    LoginThrottled {
        scope: &'static str,
        client: Option<&'a str>,
        retry_after: i64,
    },
    /// A request refused with 429 by the edge limiter, before any D1 statement.
    EdgeLimited {
        route: &'static str,
        client: &'a str,
    },
    /// A signed-in user's write refused with 429 by the write limiter, before any D1
    /// statement: `user_id` is the one the access token names.
    WriteLimited { route: &'static str, user_id: i64 },
    /// A signup refused with 429.
    SignupThrottled {
        client: Option<&'a str>,
        retry_after: i64,
    },
    /// A login or signup posted from another site's page, refused with 403.
    CrossSiteRefused {
        route: &'static str,
        #[serde(serialize_with = "cut_short")]
        origin: Option<&'a str>,
    },
    /// A used refresh token presented again: its session was revoked.
    RefreshReuse { user_id: i64 },
    /// A user changed their own password; every other session of theirs ended.
    PasswordChanged { user_id: i64 },
    /// A superuser (`by`) deactivated a user.
    UserDeactivated { user_id: i64, by: i64 },
    /// A superuser (`by`) set a user's password.
    PasswordReset { user_id: i64, by: i64 },
    /// A password-recovery request refused with 429; `scope` is the counter over its limit.
    RecoveryThrottled {
        scope: &'static str,
        client: Option<&'a str>,
        retry_after: i64,
    },
    /// A user set a new password with an emailed recovery link; every session of theirs ended.
    PasswordRecovered { user_id: i64 },
    /// A user turned a second factor (TOTP) on; every other session of theirs ended.
    SecondFactorEnabled { user_id: i64 },
    /// A user turned their second factor off; every other session of theirs ended.
    SecondFactorDisabled { user_id: i64 },
    /// A superuser (`by`) removed a user's second factor; every session of theirs ended.
    SecondFactorReset { user_id: i64, by: i64 },
    /// A recovery code stood in for a TOTP code (at login or to turn the factor off); the
    /// user may have lost their authenticator, or someone else has their codes.
    RecoveryCodeUsed { user_id: i64 },
    /// A sign-in through an identity provider: `outcome` is `created` (a new user),
    /// `linked` (to the verified user with the provider's email), `took_over` (the
    /// unverified user with that email: their password, sessions and second factor ended)
    /// or `returning`.
    OauthSignIn {
        provider: &'static str,
        user_id: i64,
        outcome: &'static str,
    },
    /// A sign-in through an identity provider refused: `reason` says which check failed
    /// (`state`, `denied`, `provider_error`, an ID token's `signature`, `nonce`, …).
    OauthRefused {
        provider: &'static str,
        reason: &'static str,
    },
    /// A user registered a passkey (`passkey_id`).
    PasskeyRegistered { user_id: i64, passkey_id: i64 },
    /// A user removed one of their passkeys.
    PasskeyRemoved { user_id: i64, passkey_id: i64 },
    /// A passkey signed with a counter that did not move forward: the authenticator may have
    /// been cloned. The sign-in was refused.
    PasskeyCounterRegression {
        user_id: i64,
        passkey_id: i64,
        stored: i64,
        presented: u32,
    },
    /// A passkey ceremony refused: `reason` says which check failed (`unknown_credential`,
    /// `signature`, `origin`, `challenge`, `replayed`, …).
    PasskeyRefused {
        ceremony: &'static str,
        reason: &'static str,
        client: Option<&'a str>,
    },
    /// A sign-in email was stored, and is sent after the response (when `EMAIL_API_URL` is
    /// set): to an active user's address, or, with `EMAIL_SIGN_IN_SIGNUP`, to any. Never the
    /// address.
    EmailSignInSent { client: Option<&'a str> },
    /// A sign-in with an emailed link or code: `created` when it created the user
    /// (`EMAIL_SIGN_IN_SIGNUP`).
    EmailSignIn { user_id: i64, created: bool },
    /// A sign-in email refused, asked for or used: `reason` is `throttled` (429 on the send),
    /// `invalid` (an unknown, used, replaced or expired link or code, or a wrong code),
    /// `too_many_codes` (past the code's tries: the email is dead), `inactive_user` or
    /// `no_account` (the address has no user and sign-ups by email are off).
    EmailSignInRefused {
        reason: &'static str,
        client: Option<&'a str>,
    },
    /// A request to a route that asks for a Turnstile token refused with 403: `reason` is
    /// `missing_token`, `token_too_long` or `refused` (by siteverify, whose `error_codes`
    /// say why, e.g. `timeout-or-duplicate` for a spent token). Never the token itself.
    TurnstileRefused {
        route: &'static str,
        client: Option<&'a str>,
        reason: &'static str,
        error_codes: &'a [String],
    },
    /// A new password could not be checked against breached ones (the range API could not
    /// be reached within its second, answered another status than 200, or an answer that is
    /// no range), and was accepted unchecked: `reason` is `unreachable`, `timeout`, `status`
    /// (with the `status`) or `unreadable`.
    BreachCheckUnavailable {
        route: &'static str,
        reason: &'static str,
        status: Option<u16>,
    },
}

/// What became of an email.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmailOutcome {
    /// The email API accepted it (a 2xx answer).
    Sent,
    /// The email API refused it, or could not be reached.
    Failed,
    /// `EMAIL_API_URL` is not set: nothing was sent.
    NotConfigured,
}

/// One email, sent or not: `{"log":"email",…}`. Never the address, the link or the token.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct EmailLog<'a> {
    /// `password_recovery` or `verify_email`.
    pub purpose: &'static str,
    pub outcome: EmailOutcome,
    /// The email API's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why sending failed, as the worker knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

impl EmailLog<'_> {
    /// The log line: `{"log":"email",…}`.
    pub fn line(&self) -> String {
        line("email", self)
    }
}

/// One request: what was asked, what was answered, what D1 did for it, and for whom.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RequestLog<'a> {
    pub method: &'a str,
    /// The route's template (`/api/v1/recipes/{recipe_id}`), never the path as sent;
    /// `None` for a path no route has.
    pub route: Option<&'static str>,
    pub status: u16,
    /// Calls to D1 (a batch is one), statements run, and rows read and written, from D1's
    /// own counters.
    pub d1_round_trips: u32,
    pub d1_statements: u32,
    pub d1_rows_read: u64,
    pub d1_rows_written: u64,
    /// The user whose token the request was checked for, if any.
    pub user_id: Option<i64>,
    /// PBKDF2 iterations the request ran in all: hashes made, hashes checked, dummy runs.
    pub pbkdf2_iterations: u64,
    pub cf_ray: Option<&'a str>,
    /// For a 5xx: what went wrong, as the worker knows it (never sent to the client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

impl RequestLog<'_> {
    /// The log line: `{"log":"request",…}`.
    pub fn line(&self) -> String {
        line("request", self)
    }
}

impl SecurityEvent<'_> {
    /// The log line: `{"log":"security","event":"…",…}`.
    pub fn line(&self) -> String {
        line("security", self)
    }
}

/// Every log line: `{"log": kind, …fields}`, one JSON object on one line, with `log` first
/// for searching.
pub fn line<T: Serialize>(kind: &'static str, fields: &T) -> String {
    #[derive(Serialize)]
    struct Line<'a, T> {
        log: &'static str,
        #[serde(flatten)]
        fields: &'a T,
    }
    serde_json::to_string(&Line { log: kind, fields }).unwrap_or_default()
}

/// Longest `origin` written to the log: it is whatever the client sent.
const MAX_ORIGIN_CHARS: usize = 100;

fn cut_short<S: serde::Serializer>(value: &Option<&str>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(text) => {
            let end = text
                .char_indices()
                .nth(MAX_ORIGIN_CHARS)
                .map_or(text.len(), |(i, _)| i);
            serializer.serialize_some(&text[..end])
        }
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parsed(event: SecurityEvent) -> Value {
        serde_json::from_str(&event.line()).unwrap()
    }

    #[test]
    fn each_event_is_one_json_line_with_its_name() {
        let line = SecurityEvent::LoginThrottled {
            scope: "account",
            client: Some("2001:db8::/64"),
            retry_after: 899,
        }
        .line();
        assert!(!line.contains('\n'));
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap(),
            json!({"log": "security", "event": "login_throttled", "scope": "account",
                   "client": "2001:db8::/64", "retry_after": 899})
        );
        assert_eq!(
            parsed(SecurityEvent::UserDeactivated { user_id: 4, by: 1 }),
            json!({"log": "security", "event": "user_deactivated", "user_id": 4, "by": 1})
        );
    }

    #[test]
    fn a_turnstile_refusal_names_the_route_and_siteverifys_codes() {
        let codes = vec!["timeout-or-duplicate".to_owned()];
        assert_eq!(
            parsed(SecurityEvent::TurnstileRefused {
                route: "/api/v1/auth/signup",
                client: Some("203.0.113.9"),
                reason: "refused",
                error_codes: &codes,
            }),
            json!({"log": "security", "event": "turnstile_refused",
                   "route": "/api/v1/auth/signup", "client": "203.0.113.9",
                   "reason": "refused", "error_codes": ["timeout-or-duplicate"]})
        );
    }

    #[test]
    fn an_unchecked_password_and_a_limited_write_name_their_route_and_nothing_secret() {
        assert_eq!(
            parsed(SecurityEvent::BreachCheckUnavailable {
                route: "/api/v1/auth/signup",
                reason: "status",
                status: Some(503),
            }),
            json!({"log": "security", "event": "breach_check_unavailable",
                   "route": "/api/v1/auth/signup", "reason": "status", "status": 503})
        );
        assert_eq!(
            parsed(SecurityEvent::WriteLimited {
                route: "/api/v1/recipes",
                user_id: 7,
            }),
            json!({"log": "security", "event": "write_limited", "route": "/api/v1/recipes",
                   "user_id": 7})
        );
    }

    #[test]
    fn a_request_line_names_the_route_template_and_what_d1_did() {
        let line = RequestLog {
            method: "GET",
            route: Some("/api/v1/recipes/{recipe_id}"),
            status: 200,
            d1_round_trips: 1,
            d1_statements: 1,
            d1_rows_read: 1,
            d1_rows_written: 0,
            user_id: None,
            pbkdf2_iterations: 0,
            cf_ray: Some("8f0e1d2c3b4a5968-LHR"),
            error: None,
        }
        .line();
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap(),
            json!({"log": "request", "method": "GET", "route": "/api/v1/recipes/{recipe_id}",
                   "status": 200, "d1_round_trips": 1, "d1_statements": 1, "d1_rows_read": 1, "d1_rows_written": 0,
                   "user_id": null, "pbkdf2_iterations": 0, "cf_ray": "8f0e1d2c3b4a5968-LHR"})
        );
    }

    #[test]
    fn an_email_line_says_what_became_of_it_and_nothing_of_whom() {
        let line = EmailLog {
            purpose: "password_recovery",
            outcome: EmailOutcome::NotConfigured,
            status: None,
            error: None,
        }
        .line();
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap(),
            json!({"log": "email", "purpose": "password_recovery", "outcome": "not_configured",
                   "status": null})
        );
    }

    #[test]
    fn a_client_supplied_origin_is_cut_short() {
        let long = "x".repeat(5000);
        let event = parsed(SecurityEvent::CrossSiteRefused {
            route: "/api/v1/auth/login",
            origin: Some(&long),
        });
        assert_eq!(event["origin"].as_str().unwrap().len(), MAX_ORIGIN_CHARS);
    }
}
