//! `GET /healthz` and `GET /readyz`, for uptime checks and load balancers. `/healthz` says the
//! Worker runs and answers from the edge without touching D1; `/readyz` says it can serve,
//! which needs D1: every token check reads it (docs/operations.md, when D1 fails).

use std::time::Duration;

use futures_util::future::{select, Either};
use serde::Serialize;
use utoipa::ToSchema;
use worker::{Delay, Response};

use super::App;
use crate::error::{json_response, ApiError, Detail, Result, READY_TIMEOUT_SECONDS};
use crate::store;

/// How long `/readyz` waits for its `SELECT 1`. D1 answers in milliseconds to tens of them;
/// uptime checkers give up after 5 to 10 s, so a slower D1 reads as "not ready" with a reason
/// rather than as a probe that timed out with none.
pub const READY_TIMEOUT: Duration = Duration::from_secs(READY_TIMEOUT_SECONDS);

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Whether the Worker runs: 200 from the edge, no D1.
#[utoipa::path(
    get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The Worker runs; D1 is not asked", body = Health))
)]
pub fn live() -> Result<Response> {
    Ok(json_response(200, &Health { status: "ok" }))
}

/// Whether the API can serve: one `SELECT 1` on the D1 primary, given 3 s.
#[utoipa::path(
    get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "D1 answered", body = Health),
        (status = 503, description = "D1 failed or did not answer within 3 s; the detail \
         says which, the log line why", body = Detail,
         headers(("Retry-After" = String, description = "Seconds: 1"))),
    )
)]
pub async fn ready(app: &App<'_>) -> Result<Response> {
    let failed = |error: ApiError| {
        let cause = error.cause().unwrap_or("D1 refused the readiness check");
        ApiError::NotReady(cause.to_owned())
    };
    let db = app.db().map_err(failed)?;
    match select(Box::pin(store::ping(db)), Delay::from(READY_TIMEOUT)).await {
        Either::Left((Ok(()), _)) => live(),
        Either::Left((Err(error), _)) => Err(failed(error)),
        Either::Right(_) => Err(ApiError::NotReadyInTime),
    }
}
