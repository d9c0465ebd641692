//! `/api/v1/users`: user management, for superusers only.

use worker::{Request, Response};

use super::auth::SUPERUSER_SELF_DELETE;
use super::body::json_text;
use super::breach::refuse_breached;
use super::current_user::{superuser, unknown_user};
use super::routes::Route;
use super::{log, no_content, now, request_url, App};
use crate::domain::account::{
    is_active_from_json, new_password_from_json, ManagedUser, Page, PasswordResetRequest, UserList,
    UserStatusRequest,
};
use crate::domain::validation::path_id;
use crate::error::{json_response, ApiError, Detail, Result, ValidationErrors};
use crate::logs::SecurityEvent;
use crate::security::hash_password;
use crate::store::users::{self, FactorReset};

const SUPERUSER_SELF_DEACTIVATE: &str = "Super users are not allowed to deactivate themselves";
const OWN_SECOND_FACTOR: &str =
    "Turn your own second factor off with DELETE /api/v1/auth/mfa/totp, with a code";
const NO_SECOND_FACTOR: &str = "This user has no second factor";

fn not_found() -> ApiError {
    ApiError::NotFound("The user with this id does not exist in the system".into())
}

fn user_id(segment: &str) -> Result<i64> {
    Ok(path_id("user_id", segment)?)
}

/// Why a superuser's write to user `id` changed nothing: there is no such user, or the
/// caller lost the right to act between their check and the write (deactivated, say, by
/// another superuser at the same moment).
async fn refused(app: &App<'_>, id: i64) -> Result<ApiError> {
    Ok(match users::find(app.db()?, id).await? {
        None => not_found(),
        Some(_) => unknown_user(),
    })
}

/// List users by id, a page at a time.
#[utoipa::path(
    get, path = "/api/v1/users", tag = "users",
    security(("OAuth2PasswordBearer" = [])),
    params(
        ("skip" = Option<i64>, Query, minimum = 0, description = "Users to skip (default 0)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 100,
         description = "At most this many (default 100)"),
    ),
    responses(
        (status = 200, description = "A page of users, and how many there are", body = UserList),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Not a superuser", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn list(req: &Request, app: &App<'_>) -> Result<Response> {
    superuser(req, app).await?;
    let page = Page::from_pairs(request_url(req)?.query_pairs())?;
    Ok(json_response(200, &users::list(app.db()?, page).await?))
}

/// Read one user, with whether they are active.
#[utoipa::path(
    get, path = "/api/v1/users/{user_id}", tag = "users",
    security(("OAuth2PasswordBearer" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 200, description = "The user", body = ManagedUser),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Not a superuser", body = Detail),
        (status = 404, description = "No such user", body = Detail),
        (status = 422, description = "Not an integer", body = ValidationErrors),
    )
)]
pub async fn get(req: &Request, id: &str, app: &App<'_>) -> Result<Response> {
    superuser(req, app).await?;
    let user = users::find(app.db()?, user_id(id)?)
        .await?
        .ok_or_else(not_found)?;
    Ok(json_response(200, &user))
}

/// Activate or deactivate a user. A deactivated user cannot log in, and every token of
/// theirs stops working at once (and stays dead if they are activated again).
#[utoipa::path(
    patch, path = "/api/v1/users/{user_id}", tag = "users",
    security(("OAuth2PasswordBearer" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    request_body = UserStatusRequest,
    responses(
        (status = 200, description = "The user as changed", body = ManagedUser),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Not a superuser, or deactivating oneself", body = Detail),
        (status = 404, description = "No such user", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn update(mut req: Request, id: &str, app: &App<'_>) -> Result<Response> {
    let admin = superuser(&req, app).await?;
    let id = user_id(id)?;
    let active = is_active_from_json(&json_text(&mut req).await?)?;
    if id == admin.id() && !active {
        return Err(ApiError::Forbidden(SUPERUSER_SELF_DEACTIVATE));
    }
    // The write checks again that the caller is a superuser, in the same statement.
    let Some(user) = users::set_active(app.db()?, admin.caller(), id, active, now()).await? else {
        return Err(refused(app, id).await?);
    };
    if !active {
        log(SecurityEvent::UserDeactivated {
            user_id: id,
            by: admin.id(),
        });
    }
    Ok(json_response(200, &user))
}

/// Delete a user and their recipes; every token of theirs stops working.
#[utoipa::path(
    delete, path = "/api/v1/users/{user_id}", tag = "users",
    security(("OAuth2PasswordBearer" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Not a superuser, or deleting oneself", body = Detail),
        (status = 404, description = "No such user", body = Detail),
        (status = 422, description = "Not an integer", body = ValidationErrors),
    )
)]
pub async fn delete(req: &Request, id: &str, app: &App<'_>) -> Result<Response> {
    let admin = superuser(req, app).await?;
    let id = user_id(id)?;
    if id == admin.id() {
        return Err(ApiError::Forbidden(SUPERUSER_SELF_DELETE));
    }
    if !users::delete(app.db()?, admin.caller(), id).await? {
        return Err(refused(app, id).await?);
    }
    no_content()
}

/// Set a user's password without knowing the old one. Every token of theirs stops working
/// at once; they log in with the new password.
#[utoipa::path(
    post, path = "/api/v1/users/{user_id}/password", tag = "users",
    security(("OAuth2PasswordBearer" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    request_body = PasswordResetRequest,
    responses(
        (status = 200, description = "Reset", body = ManagedUser),
        (status = 400, description = "The password appeared in a data breach", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Not a superuser", body = Detail),
        (status = 404, description = "No such user", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn reset_password(mut req: Request, id: &str, app: &App<'_>) -> Result<Response> {
    let admin = superuser(&req, app).await?;
    let id = user_id(id)?;
    let password = new_password_from_json(&json_text(&mut req).await?)?;
    refuse_breached(app, Route::ResetPassword, &password).await?;
    let hash = hash_password(password.expose(), app.config()?.password_iterations, app)
        .await
        .map_err(|e| ApiError::internal("password reset", e))?;
    let Some(user) = users::reset_password(app.db()?, admin.caller(), id, &hash, now()).await?
    else {
        return Err(refused(app, id).await?);
    };
    log(SecurityEvent::PasswordReset {
        user_id: id,
        by: admin.id(),
    });
    Ok(json_response(200, &user))
}

/// Remove a user's second factor (TOTP), for a user who lost both their authenticator and
/// their recovery codes: they then log in with their password alone, and may set TOTP up
/// again. Every token and session of theirs ends, as with a password reset.
#[utoipa::path(
    delete, path = "/api/v1/users/{user_id}/mfa/totp", tag = "users",
    security(("OAuth2PasswordBearer" = [])),
    params(("user_id" = i64, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "The user has no second factor", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Not a superuser, or one's own factor", body = Detail),
        (status = 404, description = "No such user", body = Detail),
        (status = 422, description = "Not an integer", body = ValidationErrors),
    )
)]
pub async fn reset_second_factor(req: &Request, id: &str, app: &App<'_>) -> Result<Response> {
    let admin = superuser(req, app).await?;
    let id = user_id(id)?;
    if id == admin.id() {
        return Err(ApiError::Forbidden(OWN_SECOND_FACTOR));
    }
    let db = app.db()?;
    match users::reset_second_factor(db, admin.caller(), id, now()).await? {
        FactorReset::Done => {
            log(SecurityEvent::SecondFactorReset {
                user_id: id,
                by: admin.id(),
            });
            no_content()
        }
        FactorReset::NoFactor => match users::find(db, id).await? {
            None => Err(not_found()),
            Some(_) => Err(ApiError::BadRequest(NO_SECOND_FACTOR.into())),
        },
        FactorReset::Refused => Err(refused(app, id).await?),
    }
}
