//! `/api/v1/auth/sessions`: the caller's signed-in devices, and ending them.

use worker::{Request, Response};

use super::current_user::{caller, unknown_user};
use super::{no_content, now, App};
use crate::domain::SignedInDevices;
use crate::error::{json_response, ApiError, Detail, Result};
use crate::store::sessions::{self, Ended};

const SESSION_NOT_FOUND: &str = "Session not found";

/// List the caller's signed-in devices: one per live session (login), with when it began and
/// was last refreshed, its browser and system, and where it logged in from. The session of
/// the token that asks is marked `current`.
#[utoipa::path(
    get, path = "/api/v1/auth/sessions", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "The caller's live sessions, most recently used first",
         body = SignedInDevices),
        (status = 401, description = "Not authenticated or bad token", body = Detail,
         headers(("WWW-Authenticate" = String, description = "Bearer"))),
    )
)]
pub async fn list(req: &Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    let max_age = app.config()?.session_max_seconds;
    let sessions = sessions::list(app.db()?, &caller, now(), max_age)
        .await?
        .ok_or_else(unknown_user)?;
    Ok(json_response(200, &SignedInDevices { sessions }))
}

/// Sign out one device: end one of the caller's sessions. Its refresh token and access
/// tokens stop working at once. Ending the current session is a logout.
#[utoipa::path(
    delete, path = "/api/v1/auth/sessions/{session_id}", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    params(("session_id" = String, Path, description = "A session's id, from the list")),
    responses(
        (status = 204, description = "The session is over"),
        (status = 401, description = "Not authenticated or bad token", body = Detail),
        (status = 404, description = "No live session of the caller's has this id",
         body = Detail),
    )
)]
pub async fn end_one(req: &Request, session_id: &str, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    match sessions::end_one(app.db()?, &caller, session_id, now()).await? {
        Ended::NotAuthenticated => Err(unknown_user()),
        Ended::Sessions(0) => Err(ApiError::NotFound(SESSION_NOT_FOUND.into())),
        Ended::Sessions(_) => no_content(),
    }
}

/// Sign out every other device: end all of the caller's sessions but the current one.
#[utoipa::path(
    delete, path = "/api/v1/auth/sessions", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 204, description = "Every other session is over"),
        (status = 401, description = "Not authenticated or bad token", body = Detail),
    )
)]
pub async fn end_others(req: &Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    match sessions::end_others(app.db()?, &caller, now()).await? {
        Ended::NotAuthenticated => Err(unknown_user()),
        Ended::Sessions(_) => no_content(),
    }
}
