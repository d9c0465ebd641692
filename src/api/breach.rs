//! New passwords checked against breached ones (src/security/breach.rs) before they are
//! hashed: at signup, password change, reset by an emailed link and a superuser's reset. A
//! listed password is a 400. The check fails open: when the range API gives no usable answer
//! within [`TIMEOUT`], the password is accepted and a `breach_check_unavailable` event logged,
//! so an outage of a third party never stops anyone from signing up or changing a password.

use std::time::Duration;

use worker::Method;

use super::outbound::{self, Failure};
use super::routes::Route;
use super::{log, App};
use crate::domain::Password;
use crate::error::{ApiError, Result};
use crate::logs::SecurityEvent;
use crate::security::breach::{Breached, RangeQuery};

/// How long the range API may take. Cloudflare serves it from its cache in tens of
/// milliseconds; a request waits no longer than this for a check that is only advice.
pub const TIMEOUT: Duration = Duration::from_secs(1);

pub const BREACHED: &str =
    "This password has appeared in a data breach, so it is unsafe to use; choose another one";

/// 400 when `password` is listed as breached; `Ok` when it is not, when the check is off
/// (`PWNED_PASSWORDS=off`), or when it cannot be made (then logged). A bad setting is a 500.
pub async fn refuse_breached(app: &App<'_>, route: Route, password: &Password) -> Result<()> {
    let Some(settings) = app.breach_check()? else {
        return Ok(());
    };
    let query = RangeQuery::of(password.expose());
    let url = format!("{}{}", settings.range_url, query.prefix());
    // Padding makes every answer about as long, so its size on the wire says nothing of
    // the prefix.
    let headers = [("Add-Padding", "true")];
    let answer = outbound::call_within(TIMEOUT, Method::Get, &url, &headers, None).await;
    let (reason, status) = match answer {
        Ok((200, body)) => match query.find(&body) {
            Ok(Breached::Yes { .. }) => return Err(ApiError::BadRequest(BREACHED.into())),
            Ok(Breached::No) => return Ok(()),
            Err(_) => ("unreadable", Some(200)),
        },
        Ok((status, _)) => ("status", Some(status)),
        Err(Failure::TimedOut(_)) => ("timeout", None),
        Err(Failure::Unreachable(_)) => ("unreachable", None),
    };
    log(SecurityEvent::BreachCheckUnavailable {
        route: route.template(),
        reason,
        status,
    });
    Ok(())
}
