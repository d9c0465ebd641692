//! Attempt limits for login, signup and the requests that send email, counted in fixed
//! windows per key.
//!
//! An attempt is counted *before* anything is checked, in the statement that returns the new
//! count (src/store/attempts.rs), and the count decides: of N attempts sent at once, exactly
//! the limit go through. A successful login gives its counts back (see `store::attempts`).
//!
//! The first counter of a list is its gate, the client address where there is one: the
//! others are counted only while the gate is within its limit, in the same transaction, and a
//! counter past its limit is not counted further. So a client over its address limit adds
//! no rows, whatever accounts or emails it names (each new key would be a new row).
//!
//! Login keys: the account *from one client address*, and the address alone. Keying the
//! account counter by address means an attacker's failures never block the real user
//! logging in from elsewhere (OWASP ASVS 6.3.1): the worst they cause is their own address
//! waiting out one window.

use std::net::IpAddr;

/// How many attempts a key allows per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: i64,
    pub window_seconds: i64,
}

/// Login attempts for one account from one client address.
pub const LOGIN_PER_ACCOUNT: Limit = Limit {
    max: 5,
    window_seconds: 15 * 60,
};
/// Login attempts from one client address, any accounts (generous: offices share one).
pub const LOGIN_PER_ADDRESS: Limit = Limit {
    max: 50,
    window_seconds: 15 * 60,
};
/// Second-factor codes (TOTP or recovery) for one account, from any address: whoever sends
/// them already has the password, so unlike the password's this counter is not keyed by
/// address (spread over many addresses, the guesses still meet here).
pub const CODES_PER_ACCOUNT: Limit = Limit {
    max: 5,
    window_seconds: 15 * 60,
};
/// Password changes by one signed-in user, from any address: the caller already holds a live
/// session, so the guesses of the current password that a stolen token allows are counted
/// per user, apart from the login counters, which logins in flight hold up until they settle
/// (the owner's change must not wait for them).
pub const PASSWORD_CHANGES_PER_USER: Limit = Limit {
    max: 5,
    window_seconds: 15 * 60,
};
/// Signups from one client address per hour, unless `SIGNUP_LIMIT_PER_HOUR` says otherwise.
pub const DEFAULT_SIGNUPS_PER_HOUR: i64 = 20;

/// Password-recovery requests for one email per hour: each may send that person an email.
/// Sign-in emails are limited alike, on counters of their own.
pub const RECOVERY_PER_EMAIL: Limit = Limit {
    max: 5,
    window_seconds: 3600,
};
/// Password-recovery requests from one client address per hour, any emails.
pub const RECOVERY_PER_ADDRESS: Limit = Limit {
    max: 20,
    window_seconds: 3600,
};
/// Verification emails one user may ask for per hour.
pub const VERIFICATION_PER_USER: Limit = Limit {
    max: 5,
    window_seconds: 3600,
};

/// What a counter counts, for the 429's message and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    Address,
    Signup,
    Email,
    Verification,
    SecondFactor,
    PasswordChange,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Account => "account",
            Scope::Address => "address",
            Scope::Signup => "signup",
            Scope::Email => "email",
            Scope::Verification => "verification",
            Scope::SecondFactor => "second_factor",
            Scope::PasswordChange => "password_change",
        }
    }
}

/// A counter to bump: its key and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    pub scope: Scope,
    pub limit: Limit,
}

/// A counter after the bump: attempts in its window, and when the window ends (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub count: i64,
    pub expires_at: i64,
}

/// The client's address as the throttle keys it: an IPv4 address as it is, an IPv6 address
/// by its /64 (one subscriber's network; anyone holding one has 2^64 addresses). `None` for
/// a missing or unreadable `CF-Connecting-IP`, which Cloudflare's edge always sets: such a
/// request gets no address counter at all rather than one bucket shared with strangers.
pub fn client_address(header: Option<&str>) -> Option<String> {
    match header?.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(v4.to_string()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(v4.to_string()),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                Some(format!("{a:x}:{b:x}:{c:x}:{d:x}::/64"))
            }
        },
    }
}

/// The counters of a login (or a password check) for `email` from `address`: the address
/// (the gate), then the account from that address. Without an address, the account key alone.
pub fn login_counters(email: &str, address: Option<&str>) -> Vec<Counter> {
    let email = email.trim().to_ascii_lowercase();
    match address {
        Some(address) => vec![
            address_counter(address),
            Counter {
                key: format!("account:{email}|{address}"),
                scope: Scope::Account,
                limit: LOGIN_PER_ACCOUNT,
            },
        ],
        None => vec![Counter {
            key: format!("account:{email}"),
            scope: Scope::Account,
            limit: LOGIN_PER_ACCOUNT,
        }],
    }
}

/// The counters of a sign-in through a provider from `address`: the address (the gate, the
/// same counter as its logins'), then the provider's account, `(provider, issuer, subject)`,
/// from that address, and, only when the provider has verified it, the email's login counter
/// from that address. An unverified email names no account: anyone may type anyone's.
pub fn sign_in_counters(
    (provider, issuer, subject): (&str, &str, &str),
    verified_email: Option<&str>,
    address: Option<&str>,
) -> Vec<Counter> {
    let from = |key: String| match address {
        Some(address) => format!("{key}|{address}"),
        None => key,
    };
    let mut counters = Vec::with_capacity(3);
    if let Some(address) = address {
        counters.push(address_counter(address));
    }
    counters.push(Counter {
        key: from(format!("identity:{provider}|{issuer}|{subject}")),
        scope: Scope::Account,
        limit: LOGIN_PER_ACCOUNT,
    });
    if let Some(email) = verified_email {
        let email = email.trim().to_ascii_lowercase();
        counters.push(Counter {
            key: from(format!("account:{email}")),
            scope: Scope::Account,
            limit: LOGIN_PER_ACCOUNT,
        });
    }
    counters
}

/// The counter of second-factor codes for user `user_id` (see [`CODES_PER_ACCOUNT`]).
pub fn code_counter(user_id: i64) -> Counter {
    Counter {
        key: format!("totp:{user_id}"),
        scope: Scope::SecondFactor,
        limit: CODES_PER_ACCOUNT,
    }
}

/// The counter of a password change by user `user_id` (see [`PASSWORD_CHANGES_PER_USER`]).
pub fn password_change_counter(user_id: i64) -> Counter {
    Counter {
        key: format!("password-change:{user_id}"),
        scope: Scope::PasswordChange,
        limit: PASSWORD_CHANGES_PER_USER,
    }
}

/// The counters of a second-factor code for user `user_id` from `address`: the address (the
/// gate, the same counter as its logins'), then the account's codes.
pub fn code_counters(user_id: i64, address: Option<&str>) -> Vec<Counter> {
    let mut counters = Vec::with_capacity(2);
    if let Some(address) = address {
        counters.push(address_counter(address));
    }
    counters.push(code_counter(user_id));
    counters
}

/// The counters of a passkey sign-in from `address`: the address alone (the same counter
/// as its password logins'), as a passkey sign-in names no account; none without an address.
pub fn passkey_counters(address: Option<&str>) -> Vec<Counter> {
    address.map(address_counter).into_iter().collect()
}

fn address_counter(address: &str) -> Counter {
    Counter {
        key: format!("ip:{address}"),
        scope: Scope::Address,
        limit: LOGIN_PER_ADDRESS,
    }
}

/// The counter of a signup from `address`; none without an address (see [`client_address`]).
pub fn signup_counter(address: Option<&str>, per_hour: i64) -> Option<Counter> {
    Some(Counter {
        key: format!("signup:{}", address?),
        scope: Scope::Signup,
        limit: Limit {
            max: per_hour,
            window_seconds: 3600,
        },
    })
}

/// The counters of a password-recovery request for `email` from `address`: the address (the
/// gate), then the email; the email alone without an address. Unknown emails are counted as
/// known ones are.
pub fn recovery_counters(email: &str, address: Option<&str>) -> Vec<Counter> {
    email_counters("recovery", email, address)
}

/// The counters of a request for a sign-in email for `email` from `address`, as recovery's
/// (the same limits) but apart from them: the address (the gate), then the email.
pub fn email_sign_in_counters(email: &str, address: Option<&str>) -> Vec<Counter> {
    email_counters("email-sign-in", email, address)
}

/// The counters of a request that sends an email: `{kind}-ip:{address}`, then
/// `{kind}:{email}`, the email folded to lower case.
fn email_counters(kind: &str, email: &str, address: Option<&str>) -> Vec<Counter> {
    let email = email.trim().to_ascii_lowercase();
    let mut counters = Vec::with_capacity(2);
    if let Some(address) = address {
        counters.push(Counter {
            key: format!("{kind}-ip:{address}"),
            scope: Scope::Address,
            limit: RECOVERY_PER_ADDRESS,
        });
    }
    counters.push(Counter {
        key: format!("{kind}:{email}"),
        scope: Scope::Email,
        limit: RECOVERY_PER_EMAIL,
    });
    counters
}

/// The counter of a user's requests for another verification email.
pub fn verification_counter(user_id: i64) -> Counter {
    Counter {
        key: format!("verify:{user_id}"),
        scope: Scope::Verification,
        limit: VERIFICATION_PER_USER,
    }
}

/// The first counter over its limit, and the seconds until its window ends; `None` lets the
/// attempt through. Counts are after this attempt's bump, so the limit itself still passes.
pub fn refused(counters: &[Counter], counts: &[Count], now: i64) -> Option<(Scope, i64)> {
    counters
        .iter()
        .zip(counts)
        .filter(|(counter, count)| count.count > counter.limit.max)
        .map(|(counter, count)| (counter.scope, (count.expires_at - now).max(1)))
        .max_by_key(|(_, seconds)| *seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn ipv4_is_kept_and_ipv6_is_its_slash_64() {
        assert_eq!(
            client_address(Some("203.0.113.9")),
            Some("203.0.113.9".into())
        );
        for address in ["2001:db8:1:2::1", "2001:0db8:0001:0002:ffff:ffff:ffff:ffff"] {
            assert_eq!(
                client_address(Some(address)),
                Some("2001:db8:1:2::/64".into()),
                "{address}"
            );
        }
        assert_eq!(
            client_address(Some("::ffff:198.51.100.4")),
            Some("198.51.100.4".into()),
            "an IPv4-mapped address is its IPv4 address"
        );
    }

    #[test]
    fn a_missing_or_unreadable_address_is_none() {
        for header in [
            None,
            Some(""),
            Some("unknown"),
            Some("203.0.113.9, 10.0.0.1"),
        ] {
            assert_eq!(client_address(header), None, "{header:?}");
        }
    }

    #[test]
    fn login_keys_fold_the_email_and_bind_the_account_to_the_address() {
        let keys: Vec<String> = login_counters(" Ada@Example.com", Some("203.0.113.9"))
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(
            keys,
            ["ip:203.0.113.9", "account:ada@example.com|203.0.113.9"],
            "the address first: it gates the account counter"
        );
    }

    #[test]
    fn without_an_address_only_the_account_is_counted() {
        let counters = login_counters("ada@example.com", None);
        assert_eq!(counters.len(), 1);
        assert_eq!(counters[0].key, "account:ada@example.com");
        assert_eq!(signup_counter(None, 20), None);
    }

    #[test]
    fn the_limit_passes_and_the_next_attempt_is_refused_until_the_window_ends() {
        let counters = login_counters("a@example.com", Some("203.0.113.9"));
        let at = |account, address| {
            [
                Count {
                    count: address,
                    expires_at: NOW + 900,
                },
                Count {
                    count: account,
                    expires_at: NOW + 100,
                },
            ]
        };
        assert_eq!(refused(&counters, &at(5, 5), NOW), None);
        assert_eq!(
            refused(&counters, &at(6, 6), NOW),
            Some((Scope::Account, 100))
        );
        assert_eq!(
            refused(&counters, &at(1, 51), NOW),
            Some((Scope::Address, 900)),
            "the address limit is separate and higher"
        );
    }

    #[test]
    fn recovery_is_counted_per_email_and_per_address_apart_from_logins() {
        let keys: Vec<(String, Scope)> = recovery_counters("Ada@Example.com ", Some("203.0.113.9"))
            .into_iter()
            .map(|c| (c.key, c.scope))
            .collect();
        assert_eq!(
            keys,
            [
                ("recovery-ip:203.0.113.9".to_owned(), Scope::Address),
                ("recovery:ada@example.com".to_owned(), Scope::Email),
            ]
        );
        assert_eq!(recovery_counters("a@example.com", None).len(), 1);
        let keys: Vec<String> = email_sign_in_counters("Ada@Example.com", Some("203.0.113.9"))
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(
            keys,
            [
                "email-sign-in-ip:203.0.113.9",
                "email-sign-in:ada@example.com"
            ],
            "sign-in emails are counted apart from recovery's"
        );
        assert_eq!(verification_counter(7).key, "verify:7");
    }

    #[test]
    fn codes_are_counted_per_account_from_any_address_behind_the_login_address_gate() {
        let keys: Vec<(String, Scope)> = code_counters(42, Some("203.0.113.9"))
            .into_iter()
            .map(|c| (c.key, c.scope))
            .collect();
        assert_eq!(
            keys,
            [
                ("ip:203.0.113.9".to_owned(), Scope::Address),
                ("totp:42".to_owned(), Scope::SecondFactor),
            ]
        );
        assert_eq!(
            login_counters("a@example.com", Some("203.0.113.9"))[0],
            code_counters(1, Some("203.0.113.9"))[0],
            "one address budget for passwords and codes"
        );
        let alone = code_counters(42, None);
        assert_eq!(alone, [code_counter(42)]);
        let count = |count| Count {
            count,
            expires_at: NOW + 900,
        };
        assert_eq!(refused(&alone, &[count(5)], NOW), None);
        assert_eq!(
            refused(&alone, &[count(6)], NOW),
            Some((Scope::SecondFactor, 900))
        );
    }

    #[test]
    fn password_changes_are_counted_per_user_apart_from_logins() {
        let counter = password_change_counter(42);
        assert_eq!(counter.key, "password-change:42");
        assert_eq!(counter.scope, Scope::PasswordChange);
        let login_keys: Vec<String> = login_counters("ada@example.com", Some("203.0.113.9"))
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert!(!login_keys.contains(&counter.key));
        let counters = [counter];
        let at = |count| Count {
            count,
            expires_at: 1_000 + 900,
        };
        assert_eq!(refused(&counters, &[at(5)], 1_000), None);
        assert_eq!(
            refused(&counters, &[at(6)], 1_000),
            Some((Scope::PasswordChange, 900))
        );
    }

    #[test]
    fn a_sign_in_counts_the_providers_account_and_only_a_verified_email() {
        let identity = ("github", "https://github.com", "583231");
        let keys = |email, address| -> Vec<String> {
            sign_in_counters(identity, email, address)
                .into_iter()
                .map(|c| c.key)
                .collect()
        };
        assert_eq!(
            keys(None, Some("203.0.113.9")),
            [
                "ip:203.0.113.9",
                "identity:github|https://github.com|583231|203.0.113.9"
            ],
            "an unverified email is no key at all"
        );
        assert_eq!(
            keys(Some("Ada@Example.com"), Some("203.0.113.9")),
            [
                "ip:203.0.113.9",
                "identity:github|https://github.com|583231|203.0.113.9",
                "account:ada@example.com|203.0.113.9"
            ]
        );
        assert_eq!(
            login_counters("ada@example.com", Some("203.0.113.9"))[1].key,
            keys(Some("ada@example.com"), Some("203.0.113.9"))[2],
            "a verified email shares the account's login counter"
        );
        assert_eq!(
            keys(None, None),
            ["identity:github|https://github.com|583231"]
        );
        let other_issuer =
            sign_in_counters(("github", "https://ghe.example", "583231"), None, None);
        assert_ne!(other_issuer[0].key, keys(None, None)[0]);
    }

    #[test]
    fn signups_are_counted_per_address_per_hour() {
        let counter = signup_counter(Some("2001:db8:1:2::/64"), 3).unwrap();
        assert_eq!(counter.key, "signup:2001:db8:1:2::/64");
        let count = |count| Count {
            count,
            expires_at: NOW + 3600,
        };
        assert_eq!(
            refused(std::slice::from_ref(&counter), &[count(3)], NOW),
            None
        );
        assert_eq!(
            refused(&[counter], &[count(4)], NOW),
            Some((Scope::Signup, 3600))
        );
    }
}
