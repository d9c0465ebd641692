//! Security events: one JSON line each on the Worker's log (Workers Logs, `wrangler tail`,
//! or `wrangler dev`'s output), for an operator to search and alert on. No variant has a
//! field that could hold a password, token, hash or email.

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
    /// A signup refused with 429.
    SignupThrottled {
        client: Option<&'a str>,
        retry_after: i64,
    },
    /// A login or signup posted from another site's page, refused with 403.
    CrossSiteRefused {
        route: &'static str,
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
}

/// Longest `origin` written to the log: it is whatever the client sent.
const MAX_ORIGIN_CHARS: usize = 100;

impl SecurityEvent<'_> {
    /// The log line: `{"log":"security","event":"…",…}`.
    pub fn line(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(object) = value.as_object_mut() {
            object.insert("log".into(), "security".into());
            if let Some(serde_json::Value::String(origin)) = object.get_mut("origin") {
                *origin = origin.chars().take(MAX_ORIGIN_CHARS).collect();
            }
        }
        value.to_string()
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
    fn a_client_supplied_origin_is_cut_short() {
        let long = "x".repeat(5000);
        let event = parsed(SecurityEvent::CrossSiteRefused {
            route: "/api/v1/auth/login",
            origin: Some(&long),
        });
        assert_eq!(event["origin"].as_str().unwrap().len(), MAX_ORIGIN_CHARS);
    }
}
