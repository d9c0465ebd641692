//! `/api/v1/auth`: password recovery and email verification, whose links go out by email,
//! and the sending of those emails after the response (`ctx.wait_until`) through an HTTP
//! email API in Resend's shape (src/mail.rs).

use std::future::{ready, Future};

use worker::wasm_bindgen::JsValue;
use worker::{Fetch, Headers, Method, Request, RequestInit, Response};

use super::body::json_text;
use super::breach::refuse_breached;
use super::current_user::{caller, unknown_user};
use super::limits::{client_address, count};
use super::routes::Route;
use super::turnstile::{self, BodyToken, TurnstileHeader};
use super::{log, now, request_url, App};
use crate::config::{Config, EmailSettings, VERIFY_TOKEN_SECONDS};
use crate::domain::recovery::Purpose;
use crate::domain::recovery::{
    email_token_from_json, recovery_email_from_json, NewPassword, NewPasswordRequest,
    PasswordRecoveryRequest, VerifyEmailRequest,
};
use crate::error::{json_response, ApiError, Detail, Result, ValidationErrors};
use crate::logs::{EmailLog, EmailOutcome, SecurityEvent};
use crate::mail::{self, Message};
use crate::security::throttle;
use crate::security::{hash_password, opaque_token_hash, OpaqueToken};
use crate::store::email_tokens::{self, NewToken};
use crate::store::{caller as auth_store, users};

const RECOVERY_SENT: &str = "If that email is registered, a reset link has been sent";
const BAD_TOKEN: &str = "Invalid or expired token";
const PASSWORD_UPDATED: &str = "Password updated";
const EMAIL_VERIFIED: &str = "Email verified";
const VERIFICATION_SENT: &str = "Verification email sent";
const ALREADY_VERIFIED: &str = "Email already verified";
const TOO_MANY_RECOVERIES: &str = "Too many password recovery requests; try again later";
const TOO_MANY_VERIFICATIONS: &str = "Too many verification emails requested; try again later";

/// The answer to a wrong, used or expired emailed token.
fn bad_token() -> ApiError {
    ApiError::BadRequest(BAD_TOKEN.into())
}

fn detail(status: u16, text: &str) -> Result<Response> {
    Ok(json_response(
        status,
        &Detail {
            detail: text.to_owned(),
        },
    ))
}

/// Send a password-recovery link to this email, if it is a registered user's.
///
/// The answer is the same 202 whether or not it is: the user is looked up, and the email
/// sent, after the response. The link works once, for `RESET_TOKEN_EXPIRE_MINUTES`; a newer
/// request or any password change ends it. Counted per email and per client address
/// before anything else, known or not. Where the deployment turns Cloudflare Turnstile on
/// for recovery, a token from its widget is required before that, in the
/// `cf-turnstile-response` header or the body member of that name.
#[utoipa::path(
    post, path = "/api/v1/auth/password-recovery", tag = "auth",
    params(TurnstileHeader),
    request_body = PasswordRecoveryRequest,
    responses(
        (status = 202, description = "Accepted; an email follows if the address is a user's",
         body = Detail),
        (status = 403, description = "A missing or refused Turnstile token", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many requests for this email or from this address; \
         see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 503, description = "The Turnstile token could not be verified; see \
         Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn password_recovery(mut req: Request, app: &App<'_>) -> Result<Response> {
    let body = json_text(&mut req).await?;
    let email = recovery_email_from_json(&body)?;

    turnstile::require(&req, app, Route::PasswordRecovery, BodyToken::Json(&body)).await?;

    let config = app.config()?;
    let now = now();
    let address = client_address(&req);
    let counters = throttle::recovery_counters(email.as_str(), address.as_deref());
    if let Some((scope, retry_after)) = count(app.db()?, &counters, now).await? {
        log(SecurityEvent::RecoveryThrottled {
            scope: scope.name(),
            client: address.as_deref(),
            retry_after,
        });
        return Err(ApiError::TooManyRequests(retry_after, TOO_MANY_RECOVERIES));
    }
    let page = page_url(
        &req,
        config.reset_password_url.as_deref(),
        Route::ResetPasswordPage,
    )?;
    let lifetime = config.reset_token_seconds;
    let db = app.db_after_response()?;
    send_later(app, Purpose::PasswordRecovery, async move {
        let token = new_token()?;
        let new = NewToken {
            hash: &token.hash,
            now,
            expires_at: now + lifetime,
        };
        let purpose = Purpose::PasswordRecovery;
        let Some(to) = email_tokens::issue_by_email(&db, purpose, email.as_str(), &new).await?
        else {
            return Ok(None);
        };
        Message::password_recovery(&to, &link(&page, &token)?, lifetime / 60)
            .map(Some)
            .map_err(|e| ApiError::internal("rendering the recovery email", e))
    })?;
    detail(202, RECOVERY_SENT)
}

/// Set a new password with the token from a password-recovery email.
///
/// The token works once. Every session and token of the user ends, as after a password
/// change; the user logs in again with the new password. A password known from data
/// breaches (Have I Been Pwned) is refused with 400, and the link keeps working.
#[utoipa::path(
    post, path = "/api/v1/auth/reset-password", tag = "auth",
    request_body = NewPasswordRequest,
    responses(
        (status = 200, description = "Password updated", body = Detail),
        (status = 400, description = "Invalid or expired token, or the new password appeared \
         in a data breach (the link still works)", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn reset_forgotten_password(mut req: Request, app: &App<'_>) -> Result<Response> {
    let reset = NewPassword::from_json(&json_text(&mut req).await?)?;
    let hash = opaque_token_hash(&reset.token).ok_or_else(bad_token)?;
    let config = app.config()?;
    let db = app.db()?;
    let now = now();
    // Claimed before the hash: one hash per token, none for a token that cannot work.
    let user_id = email_tokens::claim_recovery(db, &hash, now)
        .await?
        .ok_or_else(bad_token)?;
    // Looked up once the link is known to work (a dead link costs no outside call). A refused
    // password gives the claim back, so the link works again at once for another password.
    let route = Route::ResetForgottenPassword;
    if let Err(refused) = refuse_breached(app, route, &reset.password).await {
        email_tokens::release_recovery_claim(db, &hash, now).await?;
        return Err(refused);
    }
    let new_hash = hash_password(reset.password.expose(), config.password_iterations, app)
        .await
        .map_err(|e| ApiError::internal("password recovery", e))?;
    if !users::reset_with_token(db, user_id, &hash, &new_hash, now).await? {
        return Err(bad_token());
    }
    app.note_user(user_id);
    log(SecurityEvent::PasswordRecovered { user_id });
    detail(200, PASSWORD_UPDATED)
}

/// Verify a user's email with the token from a verification email. The token works once.
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email", tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Email verified", body = Detail),
        (status = 400, description = "Invalid or expired token", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn verify_email(mut req: Request, app: &App<'_>) -> Result<Response> {
    let token = email_token_from_json(&json_text(&mut req).await?)?;
    let hash = opaque_token_hash(&token).ok_or_else(bad_token)?;
    let user_id = email_tokens::verify(app.db()?, &hash, now())
        .await?
        .ok_or_else(bad_token)?;
    app.note_user(user_id);
    detail(200, EMAIL_VERIFIED)
}

/// Send the caller another verification email; the link of the one before stops working.
#[utoipa::path(
    post, path = "/api/v1/auth/verify-email/resend", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 202, description = "Accepted; the email follows", body = Detail),
        (status = 400, description = "The email is already verified", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 429, description = "Too many verification emails; see Retry-After",
         body = Detail, headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn resend_verification(req: Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let config = app.config()?;
    let db = app.db()?;
    let now = now();
    let counters = [throttle::verification_counter(caller.claimed_user_id())];
    if let Some((_, retry_after)) = count(db, &counters, now).await? {
        return Err(ApiError::TooManyRequests(
            retry_after,
            TOO_MANY_VERIFICATIONS,
        ));
    }
    let token = new_token()?;
    let new = verification_token(&token, now);
    let Some(to) = email_tokens::issue_verification(db, &caller, &new).await? else {
        // Nothing issued: say why.
        return match auth_store::authenticate(db, &caller).await? {
            Some(current) if current.user().email_verified => {
                Err(ApiError::BadRequest(ALREADY_VERIFIED.into()))
            }
            _ => Err(unknown_user()),
        };
    };
    let page = page_url(
        &req,
        config.verify_email_url.as_deref(),
        Route::VerifyEmailPage,
    )?;
    let message = verification_message(&to, &page, &token)?;
    send_later(app, Purpose::VerifyEmail, ready(Ok(Some(message))))?;
    detail(202, VERIFICATION_SENT)
}

/// For signup: a verification token to issue with the new user, when emails can be sent.
pub fn signup_verification(app: &App<'_>) -> Result<Option<OpaqueToken>> {
    match app.email_settings()? {
        Some(_) => new_token().map(Some),
        None => Ok(None),
    }
}

/// For signup: sends the new user at `to` the verification email of `token`, issued with them.
pub fn send_signup_verification(
    req: &Request,
    app: &App<'_>,
    config: &Config,
    to: &str,
    token: &OpaqueToken,
) -> Result<()> {
    let page = page_url(
        req,
        config.verify_email_url.as_deref(),
        Route::VerifyEmailPage,
    )?;
    let message = verification_message(to, &page, token)?;
    send_later(app, Purpose::VerifyEmail, ready(Ok(Some(message))))
}

/// A verification token's lifetime and hash, issued at `now`.
pub fn verification_token(token: &OpaqueToken, now: i64) -> NewToken<'_> {
    NewToken {
        hash: &token.hash,
        now,
        expires_at: now + VERIFY_TOKEN_SECONDS,
    }
}

fn verification_message(to: &str, page: &str, token: &OpaqueToken) -> Result<Message> {
    Message::verify_email(to, &link(page, token)?, VERIFY_TOKEN_SECONDS / 3600)
        .map_err(|e| ApiError::internal("rendering the verification email", e))
}

fn new_token() -> Result<OpaqueToken> {
    OpaqueToken::generate().map_err(|e| ApiError::internal("email token", e))
}

/// The page an email links to: the configured one, or the API's own at `page`'s path.
fn page_url(req: &Request, configured: Option<&str>, page: Route) -> Result<String> {
    Ok(match configured {
        Some(url) => url.to_owned(),
        None => {
            let origin = request_url(req)?.origin().ascii_serialization();
            format!("{origin}{}", page.template())
        }
    })
}

fn link(page: &str, token: &OpaqueToken) -> Result<String> {
    mail::link(page, &token.token).map_err(|e| ApiError::internal("email link", e))
}

/// Sends the message `compose` comes to (none: nothing to send) after the response, so that
/// the client's answer neither waits for it nor depends on it. Without `EMAIL_API_URL`,
/// `compose` never runs, and the log says email is not configured.
pub(super) fn send_later<F>(app: &App<'_>, purpose: Purpose, compose: F) -> Result<()>
where
    F: Future<Output = Result<Option<Message>>> + 'static,
{
    let Some(settings) = app.email_settings()? else {
        log_email(purpose, EmailOutcome::NotConfigured, None, None);
        return Ok(());
    };
    app.defer(async move {
        match compose.await {
            Ok(Some(message)) => send(&settings, &message).await,
            Ok(None) => {}
            Err(error) => {
                let cause = error.cause().map(str::to_owned).unwrap_or_default();
                log_email(purpose, EmailOutcome::Failed, None, Some(&cause));
            }
        }
    });
    Ok(())
}

/// `POST $EMAIL_API_URL`, and one log line of what came of it.
async fn send(settings: &EmailSettings, message: &Message) {
    match post(settings, message).await {
        Ok(status) if (200..300).contains(&status) => {
            log_email(message.purpose, EmailOutcome::Sent, Some(status), None)
        }
        Ok(status) => log_email(message.purpose, EmailOutcome::Failed, Some(status), None),
        Err(error) => {
            let error = error.to_string();
            log_email(message.purpose, EmailOutcome::Failed, None, Some(&error));
        }
    }
}

async fn post(settings: &EmailSettings, message: &Message) -> worker::Result<u16> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json")?;
    if let Some(key) = &settings.api_key {
        headers.set("Authorization", &format!("Bearer {key}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(JsValue::from_str(&message.api_body(&settings.from))));
    let request = Request::new_with_init(&settings.api_url, &init)?;
    Ok(Fetch::Request(request).send().await?.status_code())
}

fn log_email(purpose: Purpose, outcome: EmailOutcome, status: Option<u16>, error: Option<&str>) {
    let line = EmailLog {
        purpose: purpose.name(),
        outcome,
        status,
        error,
    }
    .line();
    if outcome == EmailOutcome::Failed {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}
