//! What a client may make the API spend, checked before the work: the edge limiter, and the
//! exact attempt counters in D1 behind it (src/security/throttle.rs, src/store/attempts.rs).
//!
//! The edge limiter is Cloudflare's Rate Limiting binding ([`EDGE_LIMITER`] in
//! wrangler.toml), counted per client address where the request lands, with no D1 round
//! trip: a flood from one address is refused before it reaches the database. It is
//! approximate and local to each Cloudflare location; the D1 counters are exact and global,
//! and stay the rule for each account, email and address.

use worker::Request;

use super::routes::Route;
use super::{log, App};
use crate::error::{ApiError, Result};
use crate::logs::SecurityEvent;
use crate::security::throttle::{self, Counter, Scope};
use crate::store::{attempts, Db};

/// The Rate Limiting binding's name in wrangler.toml, in every environment.
pub const EDGE_LIMITER: &str = "AUTH_LIMITER";
/// The binding's period (wrangler.toml's `simple.period`), and so the longest wait: the
/// binding does not say when its window ends.
pub const EDGE_PERIOD_SECONDS: i64 = 60;
const TOO_MANY_REQUESTS: &str = "Too many requests from this address; try again later";

/// The client's address as the throttles key it (see [`throttle::client_address`]), from
/// the header Cloudflare's edge sets; the client cannot set it.
pub fn client_address(req: &Request) -> Option<String> {
    let header = req.headers().get("CF-Connecting-IP").ok().flatten();
    throttle::client_address(header.as_deref())
}

/// The edge limiter, for a route that has it ([`Route::edge_limited`]): 429 with
/// `Retry-After` once this address has used up its requests for the period, before any D1
/// statement. A request without a readable address is left to the D1 counters, which key
/// it by account or email. Should the binding itself fail, the D1 counters still decide.
pub async fn edge(req: &Request, app: &App<'_>, route: Route) -> Result<()> {
    let Some(address) = client_address(req) else {
        return Ok(());
    };
    let limiter = app.rate_limiter(EDGE_LIMITER)?;
    match limiter.limit(format!("auth:{address}")).await {
        Ok(outcome) if outcome.success => Ok(()),
        Ok(_) => {
            log(SecurityEvent::EdgeLimited {
                route: route.template(),
                client: &address,
            });
            Err(ApiError::TooManyRequests(
                EDGE_PERIOD_SECONDS,
                TOO_MANY_REQUESTS,
            ))
        }
        Err(error) => {
            #[derive(serde::Serialize)]
            struct Failed {
                error: String,
            }
            let error = error.to_string();
            worker::console_error!("{}", crate::logs::line("edge_limiter", &Failed { error }));
            Ok(())
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
    use super::{EDGE_LIMITER, EDGE_PERIOD_SECONDS};

    /// Bindings do not inherit into `[env.*]`: each environment must declare the limiter,
    /// under the name the code asks for and with the period its `Retry-After` states.
    #[test]
    fn every_environment_binds_the_edge_limiter_as_the_code_expects() {
        let config = include_str!("../../wrangler.toml");
        for table in [
            "[[ratelimits]]",
            "[[env.staging.ratelimits]]",
            "[[env.production.ratelimits]]",
        ] {
            let start = config
                .find(table)
                .unwrap_or_else(|| panic!("{table} missing"));
            let block: Vec<&str> = config[start..]
                .lines()
                .skip(1)
                .take_while(|line| !line.starts_with('['))
                .collect();
            let block = block.join("\n");
            assert!(
                block.contains(&format!("name = \"{EDGE_LIMITER}\"")),
                "{table}: {block}"
            );
            assert!(
                block.contains(&format!("period = {EDGE_PERIOD_SECONDS} }}")),
                "{table}: {block}"
            );
        }
    }
}
