//! `/api/v1/auth`: signup, login (OAuth2 password form) and me.

use serde_json::json;
use worker::{Request, Response};

use super::body::{json_text, login_form};
use super::current_user::CurrentUser;
use super::{now, App};
use crate::domain::{NewUser, Password};
use crate::error::{json_response, ApiError, Result};
use crate::security::{hash_password, issue_access_token, throttle, verify_password, Verified};
use crate::store::{login_failures, users};

const EMAIL_TAKEN: &str = "The user with this email already exists in the system";
const BAD_LOGIN: &str = "Incorrect username or password";

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

/// Unknown email and wrong password take the same path, PBKDF2 run included. Too many
/// failures from one client answer 429 without hashing anything.
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
        &json!({ "access_token": token, "token_type": "bearer" }),
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

pub async fn me(req: Request, app: &App<'_>) -> Result<Response> {
    let CurrentUser(user) = CurrentUser::authenticate(&req, app).await?;
    Ok(json_response(200, &user))
}
