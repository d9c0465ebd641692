//! `/api/v1/auth`: signup, login (OAuth2 password form) and me.

use serde::Serialize;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::body::{json_text, login_form};
use super::current_user::CurrentUser;
use super::docs::{Detail, ValidationErrors};
use super::{now, App};
use crate::domain::login::LoginRequest;
use crate::domain::user::SignupRequest;
use crate::domain::{NewUser, Password, User};
use crate::error::{json_response, ApiError, Result};
use crate::security::{hash_password, issue_access_token, throttle, verify_password, Verified};
use crate::store::{login_failures, users};

const EMAIL_TAKEN: &str = "The user with this email already exists in the system";
const BAD_LOGIN: &str = "Incorrect username or password";

/// The login answer, as the original's: a bearer token.
#[derive(Serialize, ToSchema)]
pub struct Token {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
}

/// Create a new user without the need to be logged in.
#[utoipa::path(
    post, path = "/api/v1/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "The email is taken", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn signup(mut req: Request, app: &App<'_>) -> Result<Response> {
    let new_user = NewUser::from_json(&json_text(&mut req).await?)?;
    let config = app.config()?;
    let hash = hash_password(new_user.password.expose(), config.password_iterations)
        .map_err(|e| ApiError::internal("signup", e))?;
    match users::insert(&app.db()?, &new_user, &hash).await? {
        Some(user) => Ok(json_response(201, &user)),
        None => Err(ApiError::BadRequest(EMAIL_TAKEN.into())),
    }
}

/// Get an access token with the OAuth2 password form (`username` is the email).
///
/// Unknown email and wrong password take the same path, PBKDF2 run included. Too many
/// failures from one client answer 429 without hashing anything.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body(content(
        (LoginRequest = "application/x-www-form-urlencoded"),
        (LoginRequest = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Logged in", body = Token),
        (status = 400, description = "Incorrect username or password", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many failed logins; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn login(mut req: Request, app: &App<'_>) -> Result<Response> {
    let form = login_form(&mut req).await?;
    let config = app.config()?;
    let secret = app.jwt_secret()?;
    let db = app.db()?;
    let now = now();
    let keys = throttle::keys(&form.username, &client_ip(&req));
    let failures = login_failures::live(&db, &keys, now).await?;
    if let Some(seconds) = throttle::retry_after(&failures, now) {
        return Err(ApiError::TooManyRequests(seconds));
    }
    let found = users::find_credentials(&db, &form.username).await?;
    let stored = found.as_ref().map(|(_, hash)| hash.as_str());
    let password = Password::normalise(&form.password);
    let verified = verify_password(password.expose(), stored, config.password_iterations);
    let (Verified::Yes { needs_rehash }, Some((user, old_hash))) = (verified, found) else {
        login_failures::record(&db, &keys, now).await?;
        return Err(ApiError::BadRequest(BAD_LOGIN.into()));
    };
    if failures.iter().any(|f| !f.is_ip) {
        login_failures::clear(&db, &keys[1]).await?;
    }
    if needs_rehash {
        let new_hash = hash_password(password.expose(), config.password_iterations)
            .map_err(|e| ApiError::internal("rehash", e))?;
        users::upgrade_password_hash(&db, user.id, &old_hash, &new_hash).await?;
    }
    let token = issue_access_token(&secret, user.id, now, config.token_lifetime_seconds);
    Ok(json_response(
        200,
        &Token {
            access_token: token,
            token_type: "bearer",
        },
    ))
}

/// The client's address as Cloudflare's edge reports it; it cannot be set by the client.
fn client_ip(req: &Request) -> String {
    req.headers()
        .get("CF-Connecting-IP")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into())
}

/// Fetch the current logged in user.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "Not authenticated or bad token", body = Detail,
         headers(("WWW-Authenticate" = String, description = "Bearer"))),
    )
)]
pub async fn me(req: Request, app: &App<'_>) -> Result<Response> {
    let CurrentUser(user) = CurrentUser::authenticate(&req, app).await?;
    Ok(json_response(200, &user))
}
