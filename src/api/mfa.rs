//! `/api/v1/auth/mfa`: a second factor (TOTP, RFC 6238) with recovery codes. Setting it up,
//! turning it on and off, and the second step of a login (`verify`).
//!
//! Every route reads `MFA_ENCRYPTION_KEY` (and `MFA_ENCRYPTION_KEY_PREVIOUS`, which only
//! opens) first: without a usable key they all answer 500 (misconfigured) before anything
//! else, while logins of users without a second factor go on as before. Every code is
//! counted before it is checked (src/security/throttle.rs, `code_counters`), and a time step
//! once used is refused in the statement that would use it again (src/store/totp.rs).

use serde::Serialize;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::auth::{admit, Issuer, Token, BAD_PASSWORD};
use super::body::json_text;
use super::current_user::{caller, unknown_user};
use super::limits::client_address;
use super::{log, now, App};
use crate::domain::mfa::{
    disable_from_json, enable_code_from_json, setup_password_from_json, MfaVerifyRequest,
    SecondFactorCode, TotpDisableRequest, TotpEnableRequest, TotpSetupRequest,
};
use crate::domain::passkey::{second_step_from_json, SecondStepAnswer};
use crate::error::{json_response, ApiError, Detail, Result, ValidationErrors};
use crate::logs::SecurityEvent;
use crate::security::throttle;
use crate::security::totp::{qr_svg, TotpSecret};
use crate::security::{
    new_session_id, opaque_token_hash, recovery_codes, verify_password, MfaKeys, Verified,
};
use crate::store::attempts;
use crate::store::totp::{self, Factor, Proof};

/// The issuer authenticator apps show beside the account.
const ISSUER: &str = "Recipe API";
const BAD_CODE: &str = "Invalid code";
const BAD_MFA_TOKEN: &str = "Invalid or expired MFA token";
const ALREADY_ON: &str = "Two-factor authentication is already on";
const NOT_SET_UP: &str = "Set up two-factor authentication first";
const NOT_ON: &str = "Two-factor authentication is not on";

/// What setting up answers: the secret three ways, for the user's authenticator app.
#[derive(Serialize, ToSchema)]
pub struct TotpSetup {
    /// The shared secret in base32, to type in.
    pub secret: String,
    /// The `otpauth://totp/…` URI the QR code holds.
    pub otpauth_uri: String,
    /// The QR code of `otpauth_uri`, as an SVG document.
    pub qr_svg: String,
}

/// What turning TOTP on answers: the recovery codes, shown this once, and a new token pair
/// (every earlier token of the user, the caller's included, stopped working).
#[derive(Serialize, ToSchema)]
pub struct TotpEnabled {
    /// Ten single-use codes, each good once in place of a TOTP code. Only their hashes are
    /// kept: they cannot be shown again.
    pub recovery_codes: Vec<String>,
    #[serde(flatten)]
    pub token: Token,
}

fn bad_code() -> ApiError {
    ApiError::BadRequest(BAD_CODE.into())
}

fn bad_mfa_token() -> ApiError {
    ApiError::Unauthorized(BAD_MFA_TOKEN)
}

/// The secret of user `user_id`'s factor, unsealed. A secret neither key opens was sealed
/// with another key: the deployment is misconfigured.
fn unseal(key: &MfaKeys, user_id: i64, sealed: &str) -> Result<TotpSecret> {
    key.open(user_id, sealed)
        .map(TotpSecret::from_bytes)
        .map_err(|_| {
            ApiError::Misconfigured(format!(
                "neither MFA_ENCRYPTION_KEY nor MFA_ENCRYPTION_KEY_PREVIOUS opens the TOTP \
                 secret of user {user_id}: was the key changed without the old one kept as \
                 MFA_ENCRYPTION_KEY_PREVIOUS?"
            ))
        })
}

/// What `code` proves for user `user_id`'s factor, as far as can be told without the
/// database: the time step a TOTP code is of (`None`: of no step it may still use), or the
/// hash of a recovery code, whose existence the statement that uses it decides.
fn proof_of(
    key: &MfaKeys,
    user_id: i64,
    (sealed, last_step): (&str, i64),
    code: &SecondFactorCode,
    now: i64,
) -> Result<Option<Proof>> {
    Ok(match code {
        SecondFactorCode::Totp(digits) => unseal(key, user_id, sealed)?
            .matching_step(digits, now, last_step)
            .map(Proof::Step),
        SecondFactorCode::Recovery(plain) => Some(Proof::Recovery(recovery_codes::hash_of(plain))),
    })
}

/// Begin setting up TOTP: a new secret for the caller's authenticator app.
///
/// Takes the current password, counted as a login attempt (429 when there are too many). The
/// secret is stored sealed and pending: nothing changes until `POST
/// /api/v1/auth/mfa/totp/enable` sends a code from it. Setting up again replaces a pending
/// secret; a factor that is on must be turned off first.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/setup", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    request_body = TotpSetupRequest,
    responses(
        (status = 200, description = "The new secret, pending", body = TotpSetup),
        (status = 400, description = "Incorrect password, or TOTP is already on", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many wrong passwords; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 500, description = "MFA_ENCRYPTION_KEY is missing or malformed", body = Detail),
    )
)]
pub async fn setup(mut req: Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let key = app.mfa_keys()?;
    let password = setup_password_from_json(&json_text(&mut req).await?)?;
    let config = app.config()?;
    let db = app.db()?;
    let (current, hash, factor) = totp::authenticate_with_factor(db, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    if factor.is_some_and(|factor| factor.enabled) {
        return Err(ApiError::BadRequest(ALREADY_ON.into()));
    }
    let now = now();
    let address = client_address(&req);
    let email = &current.user().email;
    let counters = throttle::login_counters(email, address.as_deref());
    admit(db, &counters, address.as_deref(), now).await?;
    // The caller is known: no dummy run to match (floor 0).
    let iterations = config.password_iterations;
    let verified = verify_password(password.expose(), Some(&hash), iterations, 0, app).await;
    if verified == Verified::No {
        return Err(ApiError::BadRequest(BAD_PASSWORD.into()));
    }
    let secret = TotpSecret::generate().map_err(|e| ApiError::internal("totp secret", e))?;
    let sealed = key
        .seal(current.id(), secret.expose())
        .map_err(|e| ApiError::internal("sealing a totp secret", e))?;
    let settle = attempts::settle_login(db, &counters)?;
    if !totp::set_up(db, &caller, &sealed, now, settle).await? {
        return Err(ApiError::BadRequest(ALREADY_ON.into()));
    }
    let otpauth_uri = secret.otpauth_uri(ISSUER, email);
    let qr_svg = qr_svg(&otpauth_uri).map_err(|e| ApiError::internal("qr code", e))?;
    Ok(json_response(
        200,
        &TotpSetup {
            secret: secret.base32(),
            otpauth_uri,
            qr_svg,
        },
    ))
}

/// Turn TOTP on with a code from the authenticator just set up.
///
/// Answers ten single-use recovery codes, shown this once, and a new token pair: every other
/// session of the caller ends, and so do the caller's own earlier tokens. Wrong codes are
/// counted as at login's second step (429 when there are too many).
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/totp/enable", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    request_body = TotpEnableRequest,
    responses(
        (status = 200, description = "On; the recovery codes and a new pair", body = TotpEnabled),
        (status = 400, description = "Invalid code, not set up, or already on", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many wrong codes; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 500, description = "MFA_ENCRYPTION_KEY is missing or malformed", body = Detail),
    )
)]
pub async fn enable(mut req: Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let key = app.mfa_keys()?;
    let code = enable_code_from_json(&json_text(&mut req).await?)?;
    let issuer = Issuer::new(app).await?;
    let db = issuer.db;
    let (current, _, factor) = totp::authenticate_with_factor(db, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    let factor: Factor = match factor {
        None => return Err(ApiError::BadRequest(NOT_SET_UP.into())),
        Some(factor) if factor.enabled => return Err(ApiError::BadRequest(ALREADY_ON.into())),
        Some(factor) => factor,
    };
    let now = now();
    let address = client_address(&req);
    let counters = throttle::code_counters(current.id(), address.as_deref());
    admit(db, &counters, address.as_deref(), now).await?;
    let secret = unseal(&key, current.id(), &factor.secret)?;
    let step = secret
        .matching_step(&code, now, factor.last_step)
        .ok_or_else(bad_code)?;
    let codes = recovery_codes::generate().map_err(|e| ApiError::internal("recovery codes", e))?;
    let hashes: Vec<String> = codes.iter().map(|code| code.hash.clone()).collect();
    // Sealed afresh: the new sealing is unique to this request, and marks the factor it
    // turned on for the rest of its batch.
    let resealed = key
        .seal(current.id(), secret.expose())
        .map_err(|e| ApiError::internal("sealing a totp secret", e))?;
    let sealings = (factor.secret.as_str(), resealed.as_str());
    // `None`: the step was used meanwhile, the secret set up again or sealed afresh by the
    // cleanup after a key rotation (the same code then works again), or the caller's token
    // ended.
    let (user_id, token_version) = totp::enable(db, &caller, sealings, step, &hashes, now)
        .await?
        .ok_or_else(bad_code)?;
    log(SecurityEvent::SecondFactorEnabled { user_id });
    let token = issuer
        .start_session(
            (user_id, token_version),
            &req,
            false,
            (&counters, Vec::new()),
            now,
        )
        .await?
        .ok_or_else(unknown_user)?;
    let recovery_codes = codes.into_iter().map(|code| code.code).collect();
    super::cookie::tokens(
        app,
        &TotpEnabled {
            recovery_codes,
            token,
        },
    )
}

/// Turn TOTP off: the current password and a current code or an unused recovery code.
///
/// The factor and its recovery codes are deleted, and the answer is a new token pair: every
/// other session of the caller ends, and so do the caller's own earlier tokens. The password
/// and the code are counted before they are checked (429 when there are too many).
#[utoipa::path(
    delete, path = "/api/v1/auth/mfa/totp", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    request_body = TotpDisableRequest,
    responses(
        (status = 200, description = "Off; a new pair", body = Token),
        (status = 400, description = "Incorrect password, invalid code, or TOTP is not on",
         body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many wrong passwords or codes; see Retry-After",
         body = Detail, headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 500, description = "MFA_ENCRYPTION_KEY is missing or malformed", body = Detail),
    )
)]
pub async fn disable(mut req: Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let key = app.mfa_keys()?;
    let (password, code) = disable_from_json(&json_text(&mut req).await?)?;
    let issuer = Issuer::new(app).await?;
    let db = issuer.db;
    let (current, hash, factor) = totp::authenticate_with_factor(db, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    let factor = factor
        .filter(|factor| factor.enabled)
        .ok_or_else(|| ApiError::BadRequest(NOT_ON.into()))?;
    let now = now();
    let address = client_address(&req);
    let mut counters = throttle::login_counters(&current.user().email, address.as_deref());
    counters.push(throttle::code_counter(current.id()));
    admit(db, &counters, address.as_deref(), now).await?;
    let iterations = issuer.config.password_iterations;
    let verified = verify_password(password.expose(), Some(&hash), iterations, 0, app).await;
    if verified == Verified::No {
        return Err(ApiError::BadRequest(BAD_PASSWORD.into()));
    }
    let stored = (factor.secret.as_str(), factor.last_step);
    let proof = proof_of(&key, current.id(), stored, &code, now)?.ok_or_else(bad_code)?;
    let marker = new_session_id().map_err(|e| ApiError::internal("marker", e))?;
    let marker = format!("off.{marker}");
    // `None`: the code was used meanwhile (or is no recovery code of theirs), or the factor
    // or the caller's token changed (the cleanup sealing the secret afresh after a key
    // rotation changes it: the same code then works again).
    let (user_id, token_version) = totp::disable(db, &caller, &factor.secret, &proof, &marker, now)
        .await?
        .ok_or_else(bad_code)?;
    if matches!(proof, Proof::Recovery(_)) {
        log(SecurityEvent::RecoveryCodeUsed { user_id });
    }
    log(SecurityEvent::SecondFactorDisabled { user_id });
    let token = issuer
        .start_session(
            (user_id, token_version),
            &req,
            false,
            (&counters, Vec::new()),
            now,
        )
        .await?
        .ok_or_else(unknown_user)?;
    super::cookie::tokens(app, &token)
}

/// A login's second step: the `mfa_token` a login answered with, and a code, or a passkey.
///
/// With `credential` in place of `code`: `credential.toJSON()` of one of the user's passkeys,
/// from `navigator.credentials.get` with the options of `POST
/// /api/v1/auth/mfa/passkey/options` (see there).
///
/// `code` is the authenticator's current code or an unused recovery code. The answer is the
/// token pair a login gives. The `mfa_token` works once, for 5 minutes, and not after a
/// password change; a wrong code does not use it up. Codes are counted per account (any
/// address) and per address before they are checked: past 5 wrong ones for the account,
/// 429. A code's time step works once: the same code again, within its 30 seconds, is
/// refused.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/verify", tag = "auth",
    request_body = MfaVerifyRequest,
    responses(
        (status = 200, description = "Logged in", body = Token),
        (status = 400, description = "Invalid code (wrong, or already used), or invalid \
         passkey", body = Detail),
        (status = 401, description = "Unknown, expired or used mfa_token", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many wrong codes; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 500, description = "MFA_ENCRYPTION_KEY is missing or malformed", body = Detail),
    )
)]
pub async fn verify(mut req: Request, app: &App<'_>) -> Result<Response> {
    let key = app.mfa_keys()?;
    let (token, answer) = second_step_from_json(&json_text(&mut req).await?)?;
    let code = match answer {
        SecondStepAnswer::Code(code) => code,
        SecondStepAnswer::Passkey(credential) => {
            return super::passkeys::second_step(&req, app, &token, &credential).await;
        }
    };
    let hash = opaque_token_hash(&token).ok_or_else(bad_mfa_token)?;
    let issuer = Issuer::new(app).await?;
    let db = issuer.db;
    let now = now();
    let pending = totp::find_pending_login(db, &hash, now)
        .await?
        .ok_or_else(bad_mfa_token)?;
    let user_id = pending.user_id;
    app.note_user(user_id);
    let address = client_address(&req);
    let counters = throttle::code_counters(user_id, address.as_deref());
    admit(db, &counters, address.as_deref(), now).await?;
    let stored = (pending.secret.as_str(), pending.last_step);
    let proof = proof_of(&key, user_id, stored, &code, now)?.ok_or_else(bad_code)?;
    // A value unique to this request, which marks the token as this request's to use.
    let claim = new_session_id().map_err(|e| ApiError::internal("claim", e))?;
    if !totp::claim_pending_login(db, &hash, &claim, &proof, now).await? {
        return Err(bad_code());
    }
    if matches!(proof, Proof::Recovery(_)) {
        log(SecurityEvent::RecoveryCodeUsed { user_id });
    }
    let also = vec![totp::end_pending_login(db, &hash)?];
    let require_verified = issuer.config.require_verified_email;
    // `None`: the password changed, or the user was deactivated, since the login.
    let token = issuer
        .start_session(
            (user_id, pending.token_version),
            &req,
            require_verified,
            (&counters, also),
            now,
        )
        .await?
        .ok_or_else(bad_mfa_token)?;
    super::cookie::tokens(app, &token)
}
