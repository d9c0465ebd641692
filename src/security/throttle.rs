//! Brute-force protection for login: failed attempts are counted per client IP and per
//! (account, IP) pair in fixed windows, and over the limit login answers 429 until the
//! window ends.
//!
//! Keying the account counter by IP as well means an attacker's failures never block the
//! real user logging in from elsewhere (OWASP ASVS 6.3.1): the worst they can cause is
//! their own IP waiting out one window.

/// A window, and so the longest anyone waits.
pub const WINDOW_SECONDS: i64 = 15 * 60;
/// Failed logins for one account from one IP per window.
pub const MAX_ACCOUNT_FAILURES: i64 = 5;
/// Failed logins from one IP, any accounts, per window (generous: offices share an IP).
pub const MAX_IP_FAILURES: i64 = 50;

/// The counter keys for an attempt: `[per IP, per account from that IP]`.
pub fn keys(email: &str, ip: &str) -> [String; 2] {
    [
        format!("ip:{ip}"),
        format!("account:{}|{ip}", email.trim().to_ascii_lowercase()),
    ]
}

/// A counter as stored: failures since `window_start` (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub is_ip: bool,
    pub failures: i64,
    pub window_start: i64,
}

/// Seconds to wait when any live counter is at its limit; `None` lets the attempt through.
pub fn retry_after(counters: &[Failures], now: i64) -> Option<i64> {
    counters
        .iter()
        .filter(|c| c.window_start + WINDOW_SECONDS > now)
        .filter(|c| {
            let limit = if c.is_ip {
                MAX_IP_FAILURES
            } else {
                MAX_ACCOUNT_FAILURES
            };
            c.failures >= limit
        })
        .map(|c| (c.window_start + WINDOW_SECONDS - now).max(1))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    fn account(failures: i64, window_start: i64) -> Failures {
        Failures {
            is_ip: false,
            failures,
            window_start,
        }
    }

    #[test]
    fn keys_fold_the_email_case_and_bind_the_account_to_the_ip() {
        assert_eq!(
            keys(" Ada@Example.com", "203.0.113.9"),
            [
                "ip:203.0.113.9".to_owned(),
                "account:ada@example.com|203.0.113.9".to_owned()
            ]
        );
    }

    #[test]
    fn lets_attempts_through_below_the_limit() {
        assert_eq!(retry_after(&[], NOW), None);
        assert_eq!(
            retry_after(&[account(MAX_ACCOUNT_FAILURES - 1, NOW - 10)], NOW),
            None
        );
    }

    #[test]
    fn blocks_at_the_limit_until_the_window_ends() {
        let blocked = [account(MAX_ACCOUNT_FAILURES, NOW - 100)];
        assert_eq!(retry_after(&blocked, NOW), Some(WINDOW_SECONDS - 100));
        assert_eq!(
            retry_after(&blocked, NOW - 100 + WINDOW_SECONDS),
            None,
            "window over"
        );
    }

    #[test]
    fn the_ip_limit_is_separate_and_higher() {
        let ip = Failures {
            is_ip: true,
            failures: MAX_ACCOUNT_FAILURES,
            window_start: NOW,
        };
        assert_eq!(retry_after(&[ip], NOW), None);
        let ip = Failures {
            failures: MAX_IP_FAILURES,
            ..ip
        };
        assert_eq!(retry_after(&[ip], NOW), Some(WINDOW_SECONDS));
    }
}
