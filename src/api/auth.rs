//! `/api/v1/auth`: signup, login (OAuth2 password form), refresh, logout, password change,
//! and the caller's own account.

use serde::Serialize;
use utoipa::ToSchema;
use worker::{D1PreparedStatement, Request, Response};

use super::body::{json_text, login_form};
use super::breach::refuse_breached;
use super::current_user::{caller, unknown_user};
use super::limits::{client_address, count};
use super::routes::Route;
use super::turnstile::{self, BodyToken, TurnstileHeader};
use super::{cookie, email_links, log, no_content, now, refuse_source, App};
use crate::config::Config;
use crate::domain::account::{
    refresh_token_from_json, PasswordChange, PasswordChangeRequest, RefreshRequest,
};
use crate::domain::login::LoginRequest;
use crate::domain::user::{NameChange, NameChangeRequest, SignupRequest};
use crate::domain::{Device, Me, NewUser, Password, User};
use crate::error::{json_response, ApiError, Detail, Result, ValidationErrors};
use crate::logs::SecurityEvent;
use crate::security::origin::Source;
use crate::security::throttle::{self, Counter, Scope};
use crate::security::{
    hash_password, issue_access_token, new_session_id, opaque_token_hash, verify_password,
    OpaqueToken, Subject, SuccessorKey, TokenKeys, Verified,
};
use crate::store::sessions::Rotation;
use crate::store::{attempts, caller as auth_store, sessions, totp, users, Db};

const EMAIL_TAKEN: &str = "The user with this email already exists in the system";
const BAD_LOGIN: &str = "Incorrect username or password";
pub(super) const INACTIVE: &str = "Inactive user";
pub(super) const NOT_VERIFIED: &str = "Email not verified";
const BAD_REFRESH_TOKEN: &str = "Invalid or expired refresh token";
pub(super) const BAD_PASSWORD: &str = "Incorrect password";
const SAME_PASSWORD: &str = "New password cannot be the same as the current one";
pub const SUPERUSER_SELF_DELETE: &str = "Super users are not allowed to delete themselves";
const TOO_MANY_LOGINS: &str = "Too many failed login attempts; try again later";
const TOO_MANY_PASSWORD_CHANGES: &str = "Too many password changes; try again later";
const TOO_MANY_CODES: &str = "Too many wrong codes; try again later";
const TOO_MANY_SIGNUPS: &str = "Too many signups from this address; try again later";

/// What a login answers: the token pair, or, for a user with a second factor on, the token
/// for its second step (`POST /api/v1/auth/mfa/verify`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    Token(Token),
    SecondFactor(MfaChallenge),
}

/// The answer to the right password of a user with a second factor on: no `access_token`,
/// so a client that knows nothing of second factors fails clearly.
#[derive(Serialize, ToSchema)]
pub struct MfaChallenge {
    /// Always `true`.
    pub mfa_required: bool,
    /// Sent with a code to `POST /api/v1/auth/mfa/verify`; works once, for 5 minutes, and
    /// only until the password changes.
    pub mfa_token: String,
    /// Always `mfa`.
    pub token_type: &'static str,
    /// Seconds until `mfa_token` expires.
    pub expires_in: i64,
    /// What the second step can be answered with: `totp`, `recovery_code`, and `passkey`
    /// when the user has one (`POST /api/v1/auth/mfa/passkey/options`).
    pub methods: Vec<&'static str>,
}

/// How long a login's second step may take.
pub const MFA_TOKEN_SECONDS: i64 = 5 * 60;

/// The login answer: the original's bearer token, plus a refresh token and the access
/// token's lifetime. A client that reads only the first two keeps working.
#[derive(Serialize, ToSchema)]
pub struct Token {
    /// Short-lived (`ACCESS_TOKEN_EXPIRE_MINUTES`, default 30 minutes).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Single use: `POST /api/v1/auth/refresh` exchanges it for a new pair. Presenting it a
    /// second time, `REFRESH_REUSE_SECONDS` or more after, ends the session it belongs to.
    pub refresh_token: String,
    /// Seconds until `access_token` expires.
    pub expires_in: i64,
}

/// What a handler that issues tokens needs, read once: the settings, the signing key (so a
/// deployment without a usable one fails before any password is checked) and the database.
pub(super) struct Issuer<'a> {
    pub config: Config,
    keys: TokenKeys,
    pub db: &'a Db,
}

impl<'a> Issuer<'a> {
    pub async fn new(app: &'a App<'_>) -> Result<Issuer<'a>> {
        Ok(Issuer {
            config: app.config()?,
            keys: app.token_keys().await?,
            db: app.db()?,
        })
    }

    /// An access token for `subject` and the refresh token that goes with it.
    async fn pair(&self, subject: &Subject, refresh: OpaqueToken, now: i64) -> Result<Token> {
        let lifetime = self.config.access_token_seconds;
        let access_token = issue_access_token(&self.keys, subject, now, lifetime);
        Ok(Token {
            access_token: super::webcrypto::access_token(access_token).await?,
            token_type: "bearer",
            refresh_token: refresh.token,
            expires_in: lifetime,
        })
    }

    fn refresh_expiry(&self, now: i64) -> i64 {
        now + self.config.refresh_token_seconds
    }

    /// Starts a session for user `user_id` under `token_version`, the version read with the
    /// password just checked, on the device `req` comes from: a new refresh token family,
    /// and an access token naming it.
    /// `None` when the user no longer has that version or is no longer active (their
    /// password changed, or they were deactivated or deleted, since it was read), or has no
    /// verified email and `require_verified`. Settles the attempt counted against
    /// `counters` in the same round trip, and runs `also` after.
    pub async fn start_session(
        &self,
        (user_id, token_version): (i64, i64),
        req: &Request,
        require_verified: bool,
        (counters, also): (&[Counter], Vec<D1PreparedStatement>),
        now: i64,
    ) -> Result<Option<Token>> {
        let refresh = new_refresh_token()?;
        let session_id = new_session_id().map_err(|e| ApiError::internal("session id", e))?;
        let subject = Subject {
            user_id,
            token_version,
            session_id: Some(session_id),
        };
        let expires_at = self.refresh_expiry(now);
        let max_age = self.config.session_max_seconds;
        let mut settle = attempts::settle_login(self.db, counters)?;
        settle.extend(also);
        let times = (now, expires_at, max_age);
        let started = sessions::start(
            self.db,
            &subject,
            &device_of(req),
            &refresh.hash,
            times,
            require_verified,
            settle,
        )
        .await?;
        if !started {
            return Ok(None);
        }
        self.pair(&subject, refresh, now).await.map(Some)
    }
}

/// The device a request comes from: its user agent, and where Cloudflare placed its address
/// (`request.cf`; locally, whatever `wrangler dev` makes up, or nothing).
pub(super) fn device_of(req: &Request) -> Device {
    let user_agent = req.headers().get("User-Agent").ok().flatten();
    let cf = req.cf();
    Device::new(
        user_agent.as_deref(),
        cf.and_then(|cf| cf.country()),
        cf.and_then(|cf| cf.city()),
    )
}

pub(super) fn new_refresh_token() -> Result<OpaqueToken> {
    OpaqueToken::generate().map_err(|e| ApiError::internal("refresh token", e))
}

/// Create a new user without the need to be logged in.
///
/// When email delivery is configured, a verification email goes to the new address after
/// the response. Where the deployment turns Cloudflare Turnstile on for signup, a token from
/// its widget is required, in the `cf-turnstile-response` header or the body member of
/// that name. A password known from data breaches (Have I Been Pwned) is refused with 400.
#[utoipa::path(
    post, path = "/api/v1/auth/signup", tag = "auth",
    params(TurnstileHeader),
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 400, description = "The email is taken, or the password appeared in a data \
         breach", body = Detail),
        (status = 403, description = "Posted from another site's page, or a missing or \
         refused Turnstile token", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many signups from this address; see Retry-After",
         body = Detail, headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 503, description = "The Turnstile token could not be verified; see \
         Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn signup(mut req: Request, app: &App<'_>) -> Result<Response> {
    refuse_cross_site(&req, app, Route::Signup)?;
    let body = json_text(&mut req).await?;
    let new_user = NewUser::from_json(&body)?;

    turnstile::require(&req, app, Route::Signup, BodyToken::Json(&body)).await?;

    let config = app.config()?;
    let db = app.db()?;
    // Counted before the hash is made: each signup costs a full PBKDF2 run.
    let address = client_address(&req);
    if let Some(counter) = throttle::signup_counter(address.as_deref(), config.signups_per_hour) {
        let counters = [counter];
        if let Some((_, retry_after)) = count(db, &counters, now()).await? {
            log(SecurityEvent::SignupThrottled {
                client: address.as_deref(),
                retry_after,
            });
            return Err(ApiError::TooManyRequests(retry_after, TOO_MANY_SIGNUPS));
        }
    }
    // After the count (a stranger gets one lookup per signup the limit allows), before the hash.
    refuse_breached(app, Route::Signup, &new_user.password).await?;
    let hash = hash_password(new_user.password.expose(), config.password_iterations, app)
        .await
        .map_err(|e| ApiError::internal("signup", e))?;
    let verification = email_links::signup_verification(app)?;
    let issued = verification
        .as_ref()
        .map(|token| email_links::verification_token(token, now()));
    let user = users::insert(db, &new_user, &hash, issued.as_ref())
        .await?
        .ok_or_else(|| ApiError::BadRequest(EMAIL_TAKEN.into()))?;
    if let Some(token) = &verification {
        email_links::send_signup_verification(&req, app, &config, &user.email, token)?;
    }
    Ok(json_response(201, &user))
}

/// Get an access token with the OAuth2 password form (`username` is the email).
///
/// Unknown email and wrong password take the same path, PBKDF2 run included. Every attempt
/// is counted before the password is checked; past the limit, 429 without hashing anything.
/// A form posted from another site's page is refused (403) before it is counted. Where the
/// deployment turns Cloudflare Turnstile on for login, a token from its widget is required
/// (403 without), in the `cf-turnstile-response` header or the form field of that name.
///
/// For a user with a second factor on, the right password gives no tokens: the answer is
/// `{"mfa_required": true, "mfa_token": "…", "token_type": "mfa"}`, and
/// `POST /api/v1/auth/mfa/verify` with the token and a code gives the pair.
#[utoipa::path(
    post, path = "/api/v1/auth/login", tag = "auth",
    params(TurnstileHeader),
    request_body(content(
        (LoginRequest = "application/x-www-form-urlencoded"),
        (LoginRequest = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "Logged in; or, with a second factor on, the token for \
         its second step", body = LoginAnswer),
        (status = 400, description = "Incorrect username or password, or inactive user",
         body = Detail),
        (status = 403, description = "Posted from another site's page, or a missing or \
         refused Turnstile token", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many login attempts; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 503, description = "The Turnstile token could not be verified; see \
         Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn login(mut req: Request, app: &App<'_>) -> Result<Response> {
    refuse_cross_site(&req, app, Route::Login)?;
    let form = login_form(&mut req).await?;

    let in_form = BodyToken::Form(form.turnstile_token.as_deref());
    turnstile::require(&req, app, Route::Login, in_form).await?;

    let issuer = Issuer::new(app).await?;
    let (config, db) = (&issuer.config, issuer.db);
    let now = now();
    let address = client_address(&req);
    let counters = throttle::login_counters(&form.username, address.as_deref());
    admit(db, &counters, address.as_deref(), now).await?;
    let (found, highest) = users::find_credentials(db, &form.username).await?;
    let stored = found.as_ref().map(|found| found.hashed_password.as_str());
    let password = Password::normalise(&form.password);
    // Every login runs as many iterations as the strongest stored hash, known email or not,
    // so its cost does not tell whether the email is a user's.
    let floor = highest.unwrap_or(config.password_iterations);
    let iterations = config.password_iterations;
    let verified = verify_password(password.expose(), stored, iterations, floor, app).await;
    let (Verified::Yes { needs_rehash }, Some(found)) = (verified, found) else {
        return Err(ApiError::BadRequest(BAD_LOGIN.into()));
    };
    // Said only to someone who knows the password.
    if !found.user.is_active {
        return Err(ApiError::BadRequest(INACTIVE.into()));
    }
    let require_verified = config.require_verified_email;
    if require_verified && !found.user.user.email_verified {
        return Err(ApiError::BadRequest(NOT_VERIFIED.into()));
    }
    let user_id = found.user.user.id;
    app.note_user(user_id);
    if needs_rehash {
        let new_hash = hash_password(password.expose(), config.password_iterations, app)
            .await
            .map_err(|e| ApiError::internal("rehash", e))?;
        users::upgrade_password_hash(db, user_id, &found.hashed_password, &new_hash).await?;
    }
    let answer = if found.second_factor {
        LoginAnswer::SecondFactor(
            start_second_step(db, (user_id, found.token_version), &counters, now).await?,
        )
    } else {
        // `None`: the password changed, or the user was deactivated or deleted, while it was
        // being checked; the password checked is no longer theirs.
        let token = issuer
            .start_session(
                (user_id, found.token_version),
                &req,
                require_verified,
                (&counters, Vec::new()),
                now,
            )
            .await?;
        LoginAnswer::Token(token.ok_or_else(|| ApiError::BadRequest(BAD_LOGIN.into()))?)
    };
    cookie::tokens(app, &answer)
}

/// The token of a login's second step, for a user whose password was just checked under
/// `token_version`; settles the password's attempt. The password's account counter is
/// cleared (it was right), the codes' is not: they are counted apart.
pub(super) async fn start_second_step(
    db: &Db,
    (user_id, token_version): (i64, i64),
    counters: &[Counter],
    now: i64,
) -> Result<MfaChallenge> {
    let token = new_refresh_token()?;
    let settle = attempts::settle_login(db, counters)?;
    let times = (now, now + MFA_TOKEN_SECONDS);
    let has_passkey =
        totp::start_pending_login(db, (user_id, token_version), &token.hash, times, settle)
            .await?
            .ok_or_else(|| ApiError::BadRequest(BAD_LOGIN.into()))?;
    let mut methods = vec!["totp", "recovery_code"];
    if has_passkey {
        methods.push("passkey");
    }
    Ok(MfaChallenge {
        mfa_required: true,
        mfa_token: token.token,
        token_type: "mfa",
        expires_in: MFA_TOKEN_SECONDS,
        methods,
    })
}

/// Counts an attempt (of a password or a second-factor code) against `counters`; 429 (and a
/// log line) when one is over its limit.
pub(super) async fn admit(
    db: &Db,
    counters: &[Counter],
    address: Option<&str>,
    now: i64,
) -> Result<()> {
    match count(db, counters, now).await? {
        None => Ok(()),
        Some((scope, retry_after)) => {
            log(SecurityEvent::LoginThrottled {
                scope: scope.name(),
                client: address,
                retry_after,
            });
            let message = match scope {
                Scope::SecondFactor => TOO_MANY_CODES,
                Scope::PasswordChange => TOO_MANY_PASSWORD_CHANGES,
                _ => TOO_MANY_LOGINS,
            };
            Err(ApiError::TooManyRequests(retry_after, message))
        }
    }
}

/// 403 for a login or signup posted from another site's page: an `Origin` that is neither
/// the API's own nor one `BACKEND_CORS_ORIGINS` lists (with `*` only the API's own pages
/// pass), or none and `Sec-Fetch-Site: cross-site` ([`Source::CrossSite`]).
fn refuse_cross_site(req: &Request, app: &App<'_>, route: Route) -> Result<()> {
    refuse_source(req, app, route, |source| source != Source::CrossSite)
}

/// Fetch the current logged in user.
#[utoipa::path(
    get, path = "/api/v1/auth/me", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "The caller, and whether they have TOTP on and a \
         password", body = Me),
        (status = 401, description = "Not authenticated or bad token", body = Detail,
         headers(("WWW-Authenticate" = String, description = "Bearer"))),
    )
)]
pub async fn me(req: Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let me = auth_store::account(app.db()?, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    Ok(json_response(200, &me))
}

/// Exchange a refresh token for a new access token and refresh token.
///
/// Each refresh token works once, with a grace window: presented again less than
/// `REFRESH_REUSE_SECONDS` (default 10) after it was exchanged, it gives the same refresh
/// token as the first time (and a fresh access token), for a client whose answer was lost or
/// a second tab that refreshed at the same moment: a session has one live refresh token.
/// Presented again later (someone holds a copy), it ends its session: every token of that
/// login stops working, and the user logs in again.
///
/// The API's own pages send no body but the `X-Refresh-Cookie: 1` header: the refresh token
/// is then read from their HttpOnly cookie, and the new one goes back in it rather than in
/// the answer; only from the API's own origin (403 otherwise). Every route that answers with
/// a token pair does the same for that header.
#[utoipa::path(
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new pair; the refresh token sent is used up (a retry \
         within REFRESH_REUSE_SECONDS gets the same refresh token again)", body = Token),
        (status = 401, description = "Unknown, expired, used or revoked refresh token, or an \
         inactive user", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn refresh(mut req: Request, app: &App<'_>) -> Result<Response> {
    let presented = if cookie::chosen(app) {
        cookie::presented(&req).ok_or(ApiError::Unauthorized(BAD_REFRESH_TOKEN))?
    } else {
        refresh_token_from_json(&json_text(&mut req).await?)?
    };
    let old_hash =
        opaque_token_hash(&presented).ok_or(ApiError::Unauthorized(BAD_REFRESH_TOKEN))?;
    let issuer = Issuer::new(app).await?;
    let now = now();
    // The successor under each key, the current one first: it is the one a first rotation
    // stores; a retry is answered with whichever its rotation stored (the previous key's, when
    // JWT_SECRET was rotated in between).
    let successors: Vec<OpaqueToken> = issuer
        .keys
        .secrets()
        .map(|secret| SuccessorKey::derive(secret.key().as_ref()).successor(&presented))
        .collect();
    let times = (
        now,
        issuer.refresh_expiry(now),
        issuer.config.session_max_seconds,
    );
    let reuse_seconds = issuer.config.refresh_reuse_seconds;
    let rotation = sessions::rotate(
        issuer.db,
        &old_hash,
        &successors[0].hash,
        times,
        reuse_seconds,
    )
    .await?;
    match rotation {
        Rotation::Rotated {
            subject,
            successor_hash,
        } => {
            let successor = successors
                .into_iter()
                .find(|successor| successor.hash == successor_hash)
                .ok_or(ApiError::Unauthorized(BAD_REFRESH_TOKEN))?;
            app.note_user(subject.user_id);
            cookie::tokens(app, &issuer.pair(&subject, successor, now).await?)
        }
        Rotation::Reused { user_id } => {
            log(SecurityEvent::RefreshReuse { user_id });
            Err(ApiError::Unauthorized(BAD_REFRESH_TOKEN))
        }
        Rotation::Refused => Err(ApiError::Unauthorized(BAD_REFRESH_TOKEN)),
    }
}

/// Log out: end the session of a refresh token, so that neither it nor any token refreshed
/// from it works again. The access tokens already issued live until they expire.
///
/// Answers 204 whether or not the token was known (as RFC 7009 revocation does). With the
/// `X-Refresh-Cookie: 1` header (the API's own pages), the token is the cookie's, and the
/// answer removes the cookie.
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
    let presented = if cookie::chosen(app) {
        cookie::presented(&req)
    } else {
        Some(refresh_token_from_json(&json_text(&mut req).await?)?)
    };
    if let Some(hash) = presented.as_deref().and_then(opaque_token_hash) {
        sessions::revoke(app.db()?, &hash, now()).await?;
    }
    let mut response = no_content()?;
    cookie::clear(app, &mut response)?;
    Ok(response)
}

/// Change the caller's password; the current one is required.
///
/// Every token of the caller stops working at once, in every session, this one included;
/// the answer carries a new pair for this client. Attempts are counted per user, apart from
/// logins: 5 in 15 minutes (429 beyond); a right password gives its count back.
#[utoipa::path(
    post, path = "/api/v1/auth/password", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    request_body = PasswordChangeRequest,
    responses(
        (status = 200, description = "Changed; a new pair", body = Token),
        (status = 400, description = "Incorrect password, or the new one is the same or \
         appeared in a data breach", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many password changes; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn change_password(mut req: Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let issuer = Issuer::new(app).await?;
    let (config, db) = (&issuer.config, issuer.db);
    let (current, old_hash) = auth_store::authenticate_with_password(db, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    let change = PasswordChange::from_json(&json_text(&mut req).await?)?;
    let now = now();
    let address = client_address(&req);
    // Its own counter, not the login counters: logins in flight hold those up until they
    // settle, and someone who has the password must not keep its owner from changing it.
    let counters = [throttle::password_change_counter(current.user().id)];
    admit(db, &counters, address.as_deref(), now).await?;
    let verified = verify_password(
        change.current.expose(),
        Some(&old_hash),
        config.password_iterations,
        0,
        app,
    )
    .await;
    if verified == Verified::No {
        return Err(ApiError::BadRequest(BAD_PASSWORD.into()));
    }
    // Looked up only for a caller who proved the current password, before the new hash. The
    // current password was right, so a refused new one gives its attempt back.
    let refusal = if change.new == change.current {
        Err(ApiError::BadRequest(SAME_PASSWORD.into()))
    } else {
        refuse_breached(app, Route::ChangePassword, &change.new).await
    };
    if let Err(refusal) = refusal {
        attempts::give_back(db, &counters).await?;
        return Err(refusal);
    }
    let new_hash = hash_password(change.new.expose(), config.password_iterations, app)
        .await
        .map_err(|e| ApiError::internal("password change", e))?;
    // `None`: another request changed it first (or the caller's token died meanwhile), so
    // the password checked is no longer current; nothing of the winner's is touched.
    let (user_id, token_version) = users::change_password(db, &caller, &new_hash, &old_hash, now)
        .await?
        .ok_or_else(|| ApiError::BadRequest(BAD_PASSWORD.into()))?;
    log(SecurityEvent::PasswordChanged { user_id });
    let token = issuer
        .start_session(
            (user_id, token_version),
            &req,
            false,
            (&counters, Vec::new()),
            now,
        )
        .await?
        .ok_or_else(|| ApiError::BadRequest(BAD_PASSWORD.into()))?;
    cookie::tokens(app, &token)
}

/// Change the caller's names. A member left out keeps its value; `null` or `""` clears it.
#[utoipa::path(
    patch, path = "/api/v1/auth/me", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    request_body = NameChangeRequest,
    responses(
        (status = 200, description = "The caller, renamed", body = User),
        (status = 401, description = "Not authenticated or bad token", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn update_me(mut req: Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let change = NameChange::from_json(&json_text(&mut req).await?)?;
    let user = users::rename_own(app.db()?, &caller, &change)
        .await?
        .ok_or_else(unknown_user)?;
    Ok(json_response(200, &user))
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
    let caller = caller(&req, app).await?;
    let db = app.db()?;
    if users::delete_own(db, &caller).await? {
        return no_content();
    }
    // Nothing deleted: say why.
    match auth_store::authenticate(db, &caller).await? {
        Some(current) if current.is_superuser() => Err(ApiError::Forbidden(SUPERUSER_SELF_DELETE)),
        _ => Err(unknown_user()),
    }
}
