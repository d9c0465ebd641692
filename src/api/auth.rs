//! `/api/v1/auth`: signup, login (OAuth2 password form), refresh, logout, password change,
//! and the caller's own account.

use serde::Serialize;
use utoipa::ToSchema;
use worker::{D1Database, Request, Response};

use super::body::{json_text, login_form};
use super::current_user::CurrentUser;
use super::docs::{Detail, ValidationErrors};
use super::{no_content, now, App};
use crate::config::Config;
use crate::domain::account::{
    refresh_token_from_json, PasswordChange, PasswordChangeRequest, RefreshRequest,
};
use crate::domain::login::LoginRequest;
use crate::domain::user::SignupRequest;
use crate::domain::{NewUser, Password, User};
use crate::error::{json_response, ApiError, Result};
use crate::security::throttle::Failures;
use crate::security::{
    hash_password, issue_access_token, new_session_id, refresh_token_hash, throttle,
    verify_password, JwtSecret, RefreshToken, Subject, Verified,
};
use crate::store::{login_failures, sessions, users};

const EMAIL_TAKEN: &str = "The user with this email already exists in the system";
const BAD_LOGIN: &str = "Incorrect username or password";
const INACTIVE: &str = "Inactive user";
const BAD_REFRESH_TOKEN: &str = "Invalid or expired refresh token";
const BAD_PASSWORD: &str = "Incorrect password";
const SAME_PASSWORD: &str = "New password cannot be the same as the current one";
pub const SUPERUSER_SELF_DELETE: &str = "Super users are not allowed to delete themselves";

/// The login answer: the original's bearer token, plus a refresh token and the access
/// token's lifetime. A client that reads only the first two keeps working.
#[derive(Serialize, ToSchema)]
pub struct Token {
    /// Short-lived (`ACCESS_TOKEN_EXPIRE_MINUTES`, default 30 minutes).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Single use: `POST /api/v1/auth/refresh` exchanges it for a new pair. Presenting it a
    /// second time ends the session it belongs to.
    pub refresh_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
}

/// What a handler that issues tokens needs, read once: the settings, the signing key (so a
/// deployment without a usable one fails before any password is checked) and the database.
struct Issuer {
    config: Config,
    secret: JwtSecret,
    db: D1Database,
}

impl Issuer {
    fn new(app: &App<'_>) -> Result<Issuer> {
        Ok(Issuer {
            config: app.config()?,
            secret: app.jwt_secret()?,
            db: app.db()?,
        })
    }

    /// An access token for `subject` and the refresh token that goes with it.
    fn pair(&self, subject: Subject, refresh: RefreshToken, now: i64) -> Token {
        let lifetime = self.config.access_token_seconds;
        Token {
            access_token: issue_access_token(&self.secret, subject, now, lifetime),
            token_type: "bearer",
            refresh_token: refresh.token,
            expires_in: lifetime,
        }
    }

    fn refresh_expiry(&self, now: i64) -> i64 {
        now + self.config.refresh_token_seconds
    }

    /// Starts a session for `subject`: a new refresh token family, and an access token.
    async fn start_session(&self, subject: Subject, now: i64) -> Result<Token> {
        let refresh = new_refresh_token()?;
        let session_id = new_session_id().map_err(|e| ApiError::internal("session id", e))?;
        let expires_at = self.refresh_expiry(now);
        sessions::start(
            &self.db,
            subject.user_id,
            &session_id,
            &refresh.hash,
            now,
            expires_at,
        )
        .await?;
        Ok(self.pair(subject, refresh, now))
    }
}

fn new_refresh_token() -> Result<RefreshToken> {
    RefreshToken::generate().map_err(|e| ApiError::internal("refresh token", e))
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
        (status = 400, description = "Incorrect username or password, or inactive user",
         body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many failed logins; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn login(mut req: Request, app: &App<'_>) -> Result<Response> {
    let form = login_form(&mut req).await?;
    let issuer = Issuer::new(app)?;
    let (config, db) = (&issuer.config, &issuer.db);
    let now = now();
    let keys = throttle::keys(&form.username, &client_ip(&req));
    let failures = admit(db, &keys, now).await?;
    let found = users::find_credentials(db, &form.username).await?;
    let stored = found.as_ref().map(|found| found.hashed_password.as_str());
    let password = Password::normalise(&form.password);
    let verified = verify_password(password.expose(), stored, config.password_iterations);
    let (Verified::Yes { needs_rehash }, Some(found)) = (verified, found) else {
        login_failures::record(db, &keys, now).await?;
        return Err(ApiError::BadRequest(BAD_LOGIN.into()));
    };
    // Said only to someone who knows the password.
    if !found.user.is_active {
        return Err(ApiError::BadRequest(INACTIVE.into()));
    }
    let user_id = found.user.user.id;
    if failures.iter().any(|f| !f.is_ip) {
        login_failures::clear(db, &keys[1]).await?;
    }
    if needs_rehash {
        let new_hash = hash_password(password.expose(), config.password_iterations)
            .map_err(|e| ApiError::internal("rehash", e))?;
        users::upgrade_password_hash(db, user_id, &found.hashed_password, &new_hash).await?;
    }
    let subject = Subject {
        user_id,
        token_version: found.token_version,
    };
    Ok(json_response(
        200,
        &issuer.start_session(subject, now).await?,
    ))
}

/// The live failure counters for `keys`, or 429 while any of them is at its limit.
async fn admit(db: &D1Database, keys: &[String; 2], now: i64) -> Result<Vec<Failures>> {
    let failures = login_failures::live(db, keys, now).await?;
    match throttle::retry_after(&failures, now) {
        Some(seconds) => Err(ApiError::TooManyRequests(seconds)),
        None => Ok(failures),
    }
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

/// Exchange a refresh token for a new access token and refresh token.
///
/// Each refresh token works once. Presenting one that was already used (someone holds a
/// copy, or two requests raced) ends its session: every token of that login stops working,
/// and the user logs in again.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the refresh token sent is used up", body = Token),
        (status = 401, description = "Unknown, expired, used or revoked refresh token, or an \
         inactive user", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn refresh(mut req: Request, app: &App<'_>) -> Result<Response> {
    let presented = refresh_token_from_json(&json_text(&mut req).await?)?;
    let old_hash =
        refresh_token_hash(&presented).ok_or(ApiError::Unauthorized(BAD_REFRESH_TOKEN))?;
    let issuer = Issuer::new(app)?;
    let now = now();
    let refresh = new_refresh_token()?;
    let expires_at = issuer.refresh_expiry(now);
    let subject = sessions::rotate(&issuer.db, &old_hash, &refresh.hash, now, expires_at)
        .await?
        .ok_or(ApiError::Unauthorized(BAD_REFRESH_TOKEN))?;
    Ok(json_response(200, &issuer.pair(subject, refresh, now)))
}

/// Log out: end the session of a refresh token, so that neither it nor any token refreshed
/// from it works again. The access tokens already issued live until they expire.
///
/// Answers 204 whether or not the token was known (as RFC 7009 revocation does).
#[utoipa::path(
    post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "The session is over"),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn logout(mut req: Request, app: &App<'_>) -> Result<Response> {
    let presented = refresh_token_from_json(&json_text(&mut req).await?)?;
    if let Some(hash) = refresh_token_hash(&presented) {
        sessions::revoke(&app.db()?, &hash, now()).await?;
    }
    no_content()
}

/// Change the caller's password; the current one is required.
///
/// Every token of the caller stops working at once, in every session, this one included;
/// the answer carries a new pair for this client. Wrong current passwords count as failed
/// logins (429 when there are too many).
#[utoipa::path(
    post, path = "/api/v1/auth/password", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    request_body = PasswordChangeRequest,
    responses(
        (status = 200, description = "Changed; a new pair", body = Token),
        (status = 400, description = "Incorrect password, or the new one is the same", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn change_password(mut req: Request, app: &App<'_>) -> Result<Response> {
    let (user, old_hash) = CurrentUser::with_password_hash(&req, app).await?;
    let change = PasswordChange::from_json(&json_text(&mut req).await?)?;
    let issuer = Issuer::new(app)?;
    let (config, db) = (&issuer.config, &issuer.db);
    let now = now();
    let keys = throttle::keys(&user.email, &client_ip(&req));
    admit(db, &keys, now).await?;
    let verified = verify_password(
        change.current.expose(),
        Some(&old_hash),
        config.password_iterations,
    );
    if verified == Verified::No {
        login_failures::record(db, &keys, now).await?;
        return Err(ApiError::BadRequest(BAD_PASSWORD.into()));
    }
    if change.new == change.current {
        return Err(ApiError::BadRequest(SAME_PASSWORD.into()));
    }
    let new_hash = hash_password(change.new.expose(), config.password_iterations)
        .map_err(|e| ApiError::internal("password change", e))?;
    // `None`: another request changed it first, so the password checked is no longer current.
    let (token_version, _) = users::set_password(db, user.id, &new_hash, Some(&old_hash), now)
        .await?
        .ok_or_else(|| ApiError::BadRequest(BAD_PASSWORD.into()))?;
    let subject = Subject {
        user_id: user.id,
        token_version,
    };
    Ok(json_response(
        200,
        &issuer.start_session(subject, now).await?,
    ))
}

/// Delete the caller's account, with their recipes; every token of theirs stops working.
#[utoipa::path(
    delete, path = "/api/v1/auth/me", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Superusers cannot delete themselves", body = Detail),
    )
)]
pub async fn delete_me(req: Request, app: &App<'_>) -> Result<Response> {
    let CurrentUser(user) = CurrentUser::authenticate(&req, app).await?;
    if user.is_superuser {
        return Err(ApiError::Forbidden(SUPERUSER_SELF_DELETE));
    }
    users::delete(&app.db()?, user.id).await?;
    no_content()
}
