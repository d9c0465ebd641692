//! `/api/v1/auth/email-sign-in`: signing in by proving one holds the address. One email
//! carries a link (to `redirect_to`, `#email_token=…`) and a six-digit code, for the device
//! where the email is not open; either ends in the session issuer a password login ends in
//! (`Issuer::start_session`), or in its second step for a user with a second factor on.
//! Its statements are in src/store/email_sign_in.rs, its checks in
//! src/domain/email_sign_in.rs, the email in templates/email/email_sign_in.*.

use std::future::ready;

use worker::{Request, Response};

use super::auth::{start_second_step, Issuer, LoginAnswer, INACTIVE};
use super::body::json_text;
use super::email_links::send_later;
use super::limits::{client_address, count};
use super::{cookie, log, now, request_url, App};
use crate::domain::email_sign_in::{
    new_code, CodeKey, EmailSignInRequest, EmailSignInVerifyRequest, SignInEmail, SignInProof,
    SIGN_IN_SECONDS,
};
use crate::domain::recovery::Purpose;
use crate::error::{json_response, ApiError, Detail, Result, ValidationErrors};
use crate::logs::SecurityEvent;
use crate::mail::{self, Message};
use crate::security::oauth::{redirect_target, FOREIGN_REDIRECT};
use crate::security::throttle;
use crate::security::{new_session_id, opaque_token_hash, OpaqueToken};
use crate::store::email_sign_in::{self, NewSignIn, Presented, Used};

const SENT: &str = "If that email can sign in, a sign-in link and code have been sent";
const BAD_SIGN_IN: &str = "Invalid or expired sign-in link or code";
const TOO_MANY_EMAILS: &str = "Too many sign-in emails requested; try again later";
const TOO_MANY_CODES: &str = "Too many wrong codes; ask for a new sign-in email";

fn bad_sign_in() -> ApiError {
    ApiError::BadRequest(BAD_SIGN_IN.into())
}

fn refused(reason: &'static str, client: Option<&str>) {
    log(SecurityEvent::EmailSignInRefused { reason, client });
}

/// The key codes are stored under, from the current `JWT_SECRET`.
async fn code_key(app: &App<'_>) -> Result<CodeKey> {
    let keys = app.token_keys().await?;
    let secret = keys
        .secrets()
        .next()
        .ok_or_else(|| ApiError::Misconfigured("JWT_SECRET is missing".into()))?;
    Ok(CodeKey::derive(secret.key().as_ref()))
}

/// Email a sign-in link and code to this address.
///
/// The answer is the same 202 whether or not the address has an account (and, with
/// `EMAIL_SIGN_IN_SIGNUP` off, nothing is sent to one that has none), after the same
/// statements. The email carries a link to `redirect_to` with `#email_token=…` and a
/// six-digit code; both work for 10 minutes, once, and only until a newer email is sent.
/// Counted per email (5 an hour) and per client address (20 an hour) before anything else,
/// apart from password recovery's counters.
#[utoipa::path(
    post, path = "/api/v1/auth/email-sign-in", tag = "auth",
    request_body = EmailSignInRequest,
    responses(
        (status = 202, description = "Accepted; an email follows if the address can sign in",
         body = Detail),
        (status = 400, description = "redirect_to is not allowed", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many requests for this email or from this address; \
         see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn send(mut req: Request, app: &App<'_>) -> Result<Response> {
    let asked = SignInEmail::from_json(&json_text(&mut req).await?)?;
    let own_origin = request_url(&req)?.origin().ascii_serialization();
    let page = asked
        .redirect_to
        .unwrap_or_else(|| format!("{own_origin}/login"));
    let page = redirect_target(&page, &own_origin, app.cors())
        .ok_or_else(|| ApiError::BadRequest(FOREIGN_REDIRECT.into()))?;
    let config = app.config()?;
    let key = code_key(app).await?;
    let db = app.db()?;
    let now = now();
    let address = client_address(&req);
    let email = asked.email.as_str();
    let counters = throttle::email_sign_in_counters(email, address.as_deref());
    if let Some((_, retry_after)) = count(db, &counters, now).await? {
        refused("throttled", address.as_deref());
        return Err(ApiError::TooManyRequests(retry_after, TOO_MANY_EMAILS));
    }
    let token = OpaqueToken::generate().map_err(|e| ApiError::internal("sign-in token", e))?;
    let code = new_code().map_err(|e| ApiError::internal("sign-in code", e))?;
    let code_hash = key.hash(email, &code);
    let new = NewSignIn {
        email,
        token_hash: &token.hash,
        code_hash: &code_hash,
        now,
        expires_at: now + SIGN_IN_SECONDS,
    };
    // The same statements, known address or not; only an issued one is worth an email.
    if email_sign_in::issue(db, &new, config.email_sign_in_signup).await? {
        log(SecurityEvent::EmailSignInSent {
            client: address.as_deref(),
        });
        let link = mail::link_with(page.as_str(), "email_token", &token.token)
            .map_err(|e| ApiError::internal("sign-in link", e))?;
        let message = Message::email_sign_in(email, &link, &code, SIGN_IN_SECONDS / 60)
            .map_err(|e| ApiError::internal("rendering the sign-in email", e))?;
        send_later(app, Purpose::EmailSignIn, ready(Ok(Some(message))))?;
    }
    Ok(json_response(
        202,
        &Detail {
            detail: SENT.to_owned(),
        },
    ))
}

/// Sign in with a sign-in email: its code with the address, or its link's token.
///
/// Answers what a password login answers: a token pair with a new session, or, for a user
/// with a second factor on, the token for its second step (`POST /api/v1/auth/mfa/verify`):
/// the email is not a second factor. It proves the address, so the email is marked
/// verified; an account whose email was never verified is taken over (its password,
/// sessions, second factor, passkeys and linked accounts end). With `EMAIL_SIGN_IN_SIGNUP`,
/// an address without an account gets one, verified and without a password.
///
/// The link and the code work once, together: the first success ends both. Codes are
/// counted before they are checked, in the statement that checks: the sixth code of one
/// email (right or wrong) is 429, and the email is dead, its link too.
#[utoipa::path(
    post, path = "/api/v1/auth/email-sign-in/verify", tag = "auth",
    request_body = EmailSignInVerifyRequest,
    responses(
        (status = 200, description = "Signed in; or, with a second factor on, the token for \
         its second step", body = LoginAnswer),
        (status = 400, description = "Invalid, used or expired link or code, or inactive user",
         body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many codes for this email: ask for a new one; see \
         Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn verify(mut req: Request, app: &App<'_>) -> Result<Response> {
    let proof = SignInProof::from_json(&json_text(&mut req).await?)?;
    let address = client_address(&req);
    let client = address.as_deref();
    // The code's HMAC, or the token's SHA-256: what the store finds the email by.
    let hash;
    let presented = match &proof {
        SignInProof::Code { email, code } => {
            hash = code_key(app).await?.hash(email.as_str(), code);
            Presented::Code {
                email: email.as_str(),
                hash: &hash,
            }
        }
        SignInProof::Token(token) => {
            hash = opaque_token_hash(token).ok_or_else(|| {
                refused("invalid", client);
                bad_sign_in()
            })?;
            Presented::Token { hash: &hash }
        }
    };
    let issuer = Issuer::new(app).await?;
    let db = issuer.db;
    let now = now();
    let claim = new_session_id().map_err(|e| ApiError::internal("claim", e))?;
    let signup = issuer.config.email_sign_in_signup;
    let (user, created) =
        match email_sign_in::use_email(db, &presented, &claim, signup, now).await? {
            Used::SignedIn { user, created } => (user, created),
            Used::Inactive { user_id } => {
                app.note_user(user_id);
                refused("inactive_user", client);
                return Err(ApiError::BadRequest(INACTIVE.into()));
            }
            Used::TooManyTries { retry_after } => {
                refused("too_many_codes", client);
                return Err(ApiError::TooManyRequests(retry_after, TOO_MANY_CODES));
            }
            Used::Refused => {
                refused("invalid", client);
                return Err(bad_sign_in());
            }
        };
    let Some(user) = user else {
        refused("no_account", client);
        return Err(bad_sign_in());
    };
    app.note_user(user.id);
    log(SecurityEvent::EmailSignIn {
        user_id: user.id,
        created,
    });
    let signed_in = (user.id, user.token_version);
    let answer = if user.second_factor != 0 {
        LoginAnswer::SecondFactor(start_second_step(db, signed_in, &[], now).await?)
    } else {
        // `None`: the user was deactivated, or their credentials changed, in between.
        let token = issuer
            .start_session(signed_in, &req, false, (&[], Vec::new()), now)
            .await?;
        LoginAnswer::Token(token.ok_or_else(bad_sign_in)?)
    };
    cookie::tokens(app, &answer)
}
