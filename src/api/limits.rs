//! What a client may make the API spend, checked before the work: the edge limiter, the
//! write limiter, and the exact attempt counters in D1 behind them (src/security/throttle.rs,
//! src/store/attempts.rs).
//!
//! Both limiters are Cloudflare's Rate Limiting binding, counted where the request lands,
//! with no D1 round trip. The edge limiter ([`EDGE_LIMITER`] in wrangler.toml) counts per
//! client address on the routes a client without a valid token can make costly: a flood from
//! one address is refused before it reaches the database. The write limiter
//! ([`WRITE_LIMITER`]) counts per user on every write a signed-in user makes: one stolen token
//! cannot fill D1. They are approximate and local to each Cloudflare location; the D1
//! counters are exact and global, and stay the rule for each account, email and address.

use worker::Request;

use super::current_user::caller;
use super::routes::Route;
use super::{log, App};
use crate::error::{ApiError, Result};
use crate::logs::SecurityEvent;
use crate::security::throttle::{self, Counter, Scope};
use crate::store::{attempts, Db};

/// The edge limiter's Rate Limiting binding in wrangler.toml, in every environment.
pub const EDGE_LIMITER: &str = "AUTH_LIMITER";
/// The write limiter's Rate Limiting binding in wrangler.toml, in every environment.
pub const WRITE_LIMITER: &str = "WRITE_LIMITER";
/// Both bindings' period (wrangler.toml's `simple.period`), and so the longest wait: a
/// binding does not say when its window ends.
pub const PERIOD_SECONDS: i64 = 60;
const TOO_MANY_REQUESTS: &str = "Too many requests from this address; try again later";
const TOO_MANY_WRITES: &str = "Too many changes from this account; try again later";

/// The client's address as the throttles key it (see [`throttle::client_address`]), from
/// the header Cloudflare's edge sets; the client cannot set it.
pub fn client_address(req: &Request) -> Option<String> {
    let header = req.headers().get("CF-Connecting-IP").ok().flatten();
    throttle::client_address(header.as_deref())
}

/// The edge limiter, for a route that has it ([`Route::edge_limited`]): 429 with
/// `Retry-After` once this address has used up its requests for the period, before any D1
/// statement. A request without a readable address is left to the D1 counters, which key
/// it by account or email.
pub async fn edge(req: &Request, app: &App<'_>, route: Route) -> Result<()> {
    let Some(address) = client_address(req) else {
        return Ok(());
    };
    if within(app, EDGE_LIMITER, format!("auth:{address}")).await? {
        return Ok(());
    }
    log(SecurityEvent::EdgeLimited {
        route: route.template(),
        client: &address,
    });
    Err(ApiError::TooManyRequests(PERIOD_SECONDS, TOO_MANY_REQUESTS))
}

/// The write limiter, for a route that has it ([`Route::write_limited`]): 429 with
/// `Retry-After` once the user of the request's access token has used up their writes for
/// the period, before any D1 statement. The user is the one the token's signature vouches
/// for, not yet checked against the database (a deleted user's token spends only its own
/// budget). A request without a valid token is left alone: its handler answers 401 before
/// any D1 statement.
pub async fn writes(req: &Request, app: &App<'_>, route: Route) -> Result<()> {
    let Ok(caller) = caller(req, app).await else {
        return Ok(());
    };
    let user_id = caller.claimed_user_id();
    if within(app, WRITE_LIMITER, format!("user:{user_id}")).await? {
        return Ok(());
    }
    log(SecurityEvent::WriteLimited {
        route: route.template(),
        user_id,
    });
    Err(ApiError::TooManyRequests(PERIOD_SECONDS, TOO_MANY_WRITES))
}

/// Counts a request against `key` in the Rate Limiting binding `name`: whether it is within
/// the limit. Should the binding itself fail, the request goes on (and the log says so): the
/// D1 counters and the handlers' own checks still decide. A missing binding is a 500.
async fn within(app: &App<'_>, name: &str, key: String) -> Result<bool> {
    let limiter = app.rate_limiter(name)?;
    match limiter.limit(key).await {
        Ok(outcome) => Ok(outcome.success),
        Err(error) => {
            #[derive(serde::Serialize)]
            struct Failed<'a> {
                binding: &'a str,
                error: String,
            }
            let error = error.to_string();
            let failed = Failed {
                binding: name,
                error,
            };
            worker::console_error!("{}", crate::logs::line("rate_limiter", &failed));
            Ok(true)
        }
    }
}

/// Counts an attempt in D1; the counter over its limit, if one is, and the seconds to wait.
pub async fn count(db: &Db, counters: &[Counter], now: i64) -> Result<Option<(Scope, i64)>> {
    let counts = attempts::count(db, counters, now).await?;
    Ok(throttle::refused(counters, &counts, now))
}

#[cfg(test)]
mod tests {
    use super::{EDGE_LIMITER, PERIOD_SECONDS, WRITE_LIMITER};

    /// The `[[ratelimits]]` blocks of one table name in wrangler.toml, each as its lines.
    fn blocks<'a>(config: &'a str, table: &str) -> Vec<Vec<&'a str>> {
        let mut blocks = Vec::new();
        let mut current: Option<Vec<&str>> = None;
        for line in config.lines() {
            if line.starts_with('[') {
                blocks.extend(current.take());
                if line == table {
                    current = Some(Vec::new());
                }
            } else if let Some(block) = current.as_mut() {
                block.push(line);
            }
        }
        blocks.extend(current);
        blocks
    }

    /// Bindings do not inherit into `[env.*]`: each environment must declare both limiters,
    /// under the names the code asks for, with the period their `Retry-After` states, and
    /// each under a namespace of its own (namespaces are shared across a Cloudflare account).
    #[test]
    fn every_environment_binds_both_limiters_as_the_code_expects() {
        let config = include_str!("../../wrangler.toml");
        let mut namespaces = Vec::new();
        for table in [
            "[[ratelimits]]",
            "[[env.staging.ratelimits]]",
            "[[env.production.ratelimits]]",
        ] {
            let blocks = blocks(config, table);
            for name in [EDGE_LIMITER, WRITE_LIMITER] {
                let block = blocks
                    .iter()
                    .map(|lines| lines.join("\n"))
                    .find(|block| block.contains(&format!("name = \"{name}\"")))
                    .unwrap_or_else(|| panic!("{table}: no {name}"));
                assert!(
                    block.contains(&format!("period = {PERIOD_SECONDS} }}")),
                    "{table}: {block}"
                );
                let namespace = block
                    .lines()
                    .find_map(|line| line.strip_prefix("namespace_id = "))
                    .unwrap_or_else(|| panic!("{table}: {name} has no namespace_id"))
                    .to_owned();
                assert!(
                    !namespaces.contains(&namespace),
                    "{table}: {name} shares namespace_id {namespace}"
                );
                namespaces.push(namespace);
            }
        }
    }
}
