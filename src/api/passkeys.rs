//! Passkeys (WebAuthn): registering and managing them (`/api/v1/auth/passkeys`), signing in
//! with one and no password (`/api/v1/auth/passkeys/login`), and answering a login's second
//! step with one (`/api/v1/auth/mfa/passkey/options`, then `POST /api/v1/auth/mfa/verify`).
//!
//! The method in one name: these handlers, their statements in src/store/passkeys.rs, their
//! checks in src/security/webauthn.rs, their request and answer forms in
//! src/domain/passkey.rs. A sign-in ends, as every other, in `Issuer::start_session`.
//!
//! Options write nothing: their challenge is sealed (src/security/webauthn.rs), and is
//! recorded as used in the batch that writes the ceremony's result.

use worker::{D1PreparedStatement, Request, Response};

use super::auth::{admit, device_of, Issuer, INACTIVE, NOT_VERIFIED};
use super::body::json_text;
use super::current_user::{caller, unknown_user};
use super::limits::client_address;
use super::{log, no_content, now, App};
use crate::domain::passkey::{
    login_from_json, mfa_token_from_json, register_from_json, rename_from_json, CreationOptions,
    CredentialDescriptor, MfaPasskeyOptionsRequest, Passkey, PasskeyLoginRequest,
    PasskeyRegisterRequest, PasskeyRenameRequest, RelyingPartyEntity, RequestOptions, UserEntity,
};
use crate::domain::validation::path_id;
use crate::error::{json_response, ApiError, Detail, Result, ValidationErrors};
use crate::logs::SecurityEvent;
use crate::security::throttle::{self, Counter};
use crate::security::webauthn::{
    self, challenge_hash, decode, encode, open_with_any, AuthenticationResponse, Purpose, Refusal,
    StoredPasskey,
};
use crate::security::{new_session_id, opaque_token_hash};
use crate::store::passkeys::{self, Outcome};
use crate::store::totp;

use super::auth::Token;
use super::webcrypto;

/// Registering and removing a passkey need a session signed in this recently.
pub const FRESH_SECONDS: i64 = 10 * 60;
/// One answer for every passkey that does not verify: unknown, wrong signature, replayed.
const BAD_PASSKEY: &str = "Invalid passkey";
const SIGN_IN_AGAIN: &str =
    "Sign in again to manage passkeys: this needs a sign-in from the last 10 minutes";
const LAST_WAY_IN: &str =
    "This passkey is your last way to sign in: set a password or add another way first";
const NOT_FOUND: &str = "Passkey not found";
const NOT_STORED: &str =
    "This passkey is registered already, or the account has the most passkeys allowed";
const BAD_MFA_TOKEN: &str = "Invalid or expired MFA token";
const NO_PASSKEY: &str = "No passkey is registered for this account";

fn bad_passkey(ceremony: &'static str, refusal: Refusal, client: Option<&str>) -> ApiError {
    log(SecurityEvent::PasskeyRefused {
        ceremony,
        reason: refusal.name(),
        client,
    });
    ApiError::BadRequest(BAD_PASSKEY.into())
}

fn refused<T>(outcome: Outcome<T>) -> ApiError {
    match outcome {
        Outcome::NotAuthenticated => unknown_user(),
        Outcome::Stale => ApiError::Forbidden(SIGN_IN_AGAIN),
        Outcome::LastWayIn => ApiError::BadRequest(LAST_WAY_IN.into()),
        Outcome::Replayed => ApiError::BadRequest(BAD_PASSKEY.into()),
        Outcome::NotFound | Outcome::Done(_) => ApiError::NotFound(NOT_FOUND.into()),
    }
}

fn new_challenge(
    app: &App<'_>,
    purpose: Purpose,
    bound_to: &[u8],
    now: i64,
) -> Result<[u8; webauthn::CHALLENGE_BYTES]> {
    let keys = app.challenge_keys()?;
    keys[0]
        .issue(purpose, bound_to, now)
        .map_err(|e| ApiError::internal("passkey challenge", e))
}

fn descriptors(credentials: Vec<(String, String)>) -> Vec<CredentialDescriptor> {
    credentials
        .into_iter()
        .map(|(id, transports)| CredentialDescriptor::new(id, &transports))
        .collect()
}

/// Begin registering a passkey: creation options for `navigator.credentials.create`.
///
/// Needs a fresh session: signed in, by any method, within the last 10 minutes (403 with
/// `detail` saying to sign in again). The options hold the user's passkey handle (random,
/// never the numeric id), a 32-byte challenge good once for 5 minutes and for this user,
/// EdDSA, ES256 and RS256, the user's passkeys to exclude, a discoverable credential with
/// user verification, and no attestation.
#[utoipa::path(
    post, path = "/api/v1/auth/passkeys/register/options", tag = "passkeys",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "PublicKeyCredentialCreationOptionsJSON",
         body = CreationOptions),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Signed in over 10 minutes ago: sign in again",
         body = Detail),
    )
)]
pub async fn register_options(req: &Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    let rp = app.relying_party(req)?;
    let now = now();
    let mut handle = [0u8; 32];
    getrandom::getrandom(&mut handle).map_err(|e| ApiError::internal("passkey handle", e))?;
    let started =
        passkeys::start_registration(app.db()?, &caller, &encode(&handle), now - FRESH_SECONDS)
            .await?;
    let Outcome::Done(registering) = started else {
        return Err(refused(started));
    };
    let user_id = registering.user_id.to_string();
    let challenge = new_challenge(app, Purpose::Register, user_id.as_bytes(), now)?;
    let options = CreationOptions::new(
        RelyingPartyEntity {
            id: rp.id,
            name: rp.name,
        },
        UserEntity {
            id: registering.handle,
            name: registering.email,
            display_name: registering.display_name,
        },
        &challenge,
        descriptors(registering.existing),
    );
    Ok(json_response(200, &options))
}

/// Register a passkey: `credential.toJSON()` of what `navigator.credentials.create` gave,
/// and an optional name (default: the device, from the User-Agent).
///
/// Needs a fresh session, as the options do. Everything is verified: the challenge (this
/// user's, unused, unexpired), the origin (`WEBAUTHN_ORIGINS`), no cross-origin client, the
/// RP ID hash, user presence and verification, and the key (Ed25519, P-256, or RSA of 2048
/// bits or more, of an algorithm offered). Attestation statements are ignored.
#[utoipa::path(
    post, path = "/api/v1/auth/passkeys/register", tag = "passkeys",
    security(("OAuth2PasswordBearer" = [])),
    request_body = PasskeyRegisterRequest,
    responses(
        (status = 201, description = "Registered", body = Passkey),
        (status = 400, description = "The credential does not verify, or its challenge was \
         used", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Signed in over 10 minutes ago: sign in again",
         body = Detail),
        (status = 404, description = "Registered already, or the most passkeys allowed (20)",
         body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn register(mut req: Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let (credential, name) = register_from_json(&json_text(&mut req).await?)?;
    let rp = app.relying_party(&req)?;
    let keys = app.challenge_keys()?;
    let now = now();
    let user_id = caller.claimed_user_id().to_string();
    let mut expires = None;
    let passkey = webauthn::verify_registration(&rp, &credential, |challenge| {
        expires = open_with_any(&keys, challenge, Purpose::Register, user_id.as_bytes(), now);
        expires.is_some()
    })
    .map_err(|refusal| bad_passkey("register", refusal, None))?;
    let expires = expires.unwrap_or(now);
    let name = name
        .or_else(|| device_of(&req).user_agent)
        .unwrap_or_else(|| "Passkey".into());
    let hash = challenge_hash(&passkey.challenge);
    let db = app.db()?;
    let stored = passkeys::register(
        db,
        &caller,
        (&passkey, &name),
        (&hash, expires),
        (now, now - FRESH_SECONDS),
    )
    .await?;
    let Outcome::Done(stored) = stored else {
        return Err(match stored {
            Outcome::NotFound => ApiError::NotFound(NOT_STORED.into()),
            other => refused(other),
        });
    };
    log(SecurityEvent::PasskeyRegistered {
        user_id: caller.claimed_user_id(),
        passkey_id: stored.id,
    });
    Ok(json_response(201, &stored))
}

/// The caller's passkeys, oldest first.
#[utoipa::path(
    get, path = "/api/v1/auth/passkeys", tag = "passkeys",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "The caller's passkeys", body = Vec<Passkey>),
        (status = 401, description = "Not authenticated", body = Detail),
    )
)]
pub async fn list(req: &Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    let passkeys = passkeys::list(app.db()?, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    Ok(json_response(200, &passkeys))
}

/// Rename one of the caller's passkeys.
#[utoipa::path(
    patch, path = "/api/v1/auth/passkeys/{passkey_id}", tag = "passkeys",
    security(("OAuth2PasswordBearer" = [])),
    params(("passkey_id" = i64, Path, description = "The passkey's id")),
    request_body = PasskeyRenameRequest,
    responses(
        (status = 200, description = "Renamed", body = Passkey),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 404, description = "No such passkey of the caller's", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn rename(mut req: Request, id: &str, app: &App<'_>) -> Result<Response> {
    let caller = caller(&req, app).await?;
    let id = path_id("passkey_id", id)?;
    let name = rename_from_json(&json_text(&mut req).await?)?;
    match passkeys::rename(app.db()?, &caller, id, &name).await? {
        Outcome::Done(passkey) => Ok(json_response(200, &passkey)),
        other => Err(refused(other)),
    }
}

/// Remove one of the caller's passkeys.
///
/// Needs a fresh session (403 otherwise), and is refused (400) while the passkey is the
/// caller's last way in: no password, no linked identity, no other passkey. That is decided
/// in the deletion itself.
#[utoipa::path(
    delete, path = "/api/v1/auth/passkeys/{passkey_id}", tag = "passkeys",
    security(("OAuth2PasswordBearer" = [])),
    params(("passkey_id" = i64, Path, description = "The passkey's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "It is the caller's last way in", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Signed in over 10 minutes ago: sign in again",
         body = Detail),
        (status = 404, description = "No such passkey of the caller's", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn delete(req: &Request, id: &str, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    let id = path_id("passkey_id", id)?;
    match passkeys::delete(app.db()?, &caller, id, now() - FRESH_SECONDS).await? {
        Outcome::Done(()) => {
            log(SecurityEvent::PasskeyRemoved {
                user_id: caller.claimed_user_id(),
                passkey_id: id,
            });
            no_content()
        }
        other => Err(refused(other)),
    }
}

/// Begin signing in with a passkey: request options for `navigator.credentials.get`.
///
/// `allowCredentials` is empty: the browser offers the passkeys it holds for this site
/// (username-less sign-in, and autofill with `mediation: "conditional"`). Writes nothing.
#[utoipa::path(
    post, path = "/api/v1/auth/passkeys/login/options", tag = "passkeys",
    responses(
        (status = 200, description = "PublicKeyCredentialRequestOptionsJSON",
         body = RequestOptions),
        (status = 429, description = "Too many requests from this address; see Retry-After",
         body = Detail, headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn login_options(req: &Request, app: &App<'_>) -> Result<Response> {
    let rp = app.relying_party(req)?;
    let challenge = new_challenge(app, Purpose::Login, b"", now())?;
    Ok(json_response(
        200,
        &RequestOptions::new(rp.id, &challenge, Vec::new()),
    ))
}

/// A passkey's stored key and the checks every assertion gets, its signature verified by
/// Web Crypto; the refusals, logged. The counter is the statement's to check
/// ([`start_passkey_session`]).
async fn verify(
    rp: &webauthn::RelyingParty,
    credential: &AuthenticationResponse,
    found: &passkeys::SigningIn,
    (ceremony, client): (&'static str, Option<&str>),
    challenge_ok: impl FnOnce(&[u8]) -> bool,
) -> Result<webauthn::Assertion> {
    let public_key = decode(&found.public_key, 1024)
        .map_err(|_| ApiError::internal("stored passkey", "public key is not base64url"))?;
    let stored = StoredPasskey {
        public_key: &public_key,
    };
    let refuse = |refusal| bad_passkey(ceremony, refusal, client);
    let unverified =
        webauthn::verify_assertion(rp, credential, &stored, challenge_ok).map_err(refuse)?;
    webcrypto::verified(unverified)
        .await?
        .map_err(|_| refuse(Refusal::BadSignature))
}

/// Starts the session a passkey signs in to, for `(user_id, token_version)`, in one batch
/// with `first` (what the ceremony consumes) and the passkey's new counter and last use,
/// settling `counters`: the sign-in of passkey login and of a login's second step alike.
/// A counter that did not move forward fails the batch in the statement that writes it
/// (logged as `passkey_counter_regression`), and so does a challenge answered before.
/// `None` as [`Issuer::start_session`] gives it.
async fn start_passkey_session(
    issuer: &Issuer<'_>,
    req: &Request,
    (found, assertion): (&passkeys::SigningIn, &webauthn::Assertion),
    (user_id, token_version): (i64, i64),
    (counters, first): (&[Counter], D1PreparedStatement),
    (ceremony, client): (&'static str, Option<&str>),
    now: i64,
) -> Result<Option<Token>> {
    let also = vec![
        first,
        passkeys::signed_in(
            issuer.db,
            found.id,
            (assertion.sign_count, assertion.backed_up),
            now,
        )?,
    ];
    let started = issuer
        .start_session(
            (user_id, token_version),
            req,
            issuer.config.require_verified_email,
            (counters, also),
            now,
        )
        .await;
    match started {
        Err(error) if passkeys::is_replayed_challenge(&error) => {
            Err(bad_passkey(ceremony, Refusal::BadChallenge, client))
        }
        Err(error) if passkeys::is_counter_regression(&error) => {
            log(SecurityEvent::PasskeyCounterRegression {
                user_id: found.user_id,
                passkey_id: found.id,
                stored: found.sign_count,
                presented: assertion.sign_count,
            });
            Err(bad_passkey(ceremony, Refusal::CounterRegression, client))
        }
        other => other,
    }
}

/// The passkey `credential` names, if it is stored and its user handle, when the
/// authenticator gave one, is its user's.
async fn find(
    db: &crate::store::Db,
    credential: &AuthenticationResponse,
    (ceremony, client): (&'static str, Option<&str>),
) -> Result<passkeys::SigningIn> {
    let refuse = |refusal| bad_passkey(ceremony, refusal, client);
    let id = credential.credential_id().map_err(refuse)?;
    let handle = credential.user_handle().map_err(refuse)?;
    let found = passkeys::find(db, &encode(&id))
        .await?
        .ok_or_else(|| refuse(Refusal::UnknownCredential))?;
    if handle.is_some_and(|handle| found.passkey_handle.as_deref() != Some(&encode(&handle))) {
        return Err(refuse(Refusal::UnknownCredential));
    }
    Ok(found)
}

/// Sign in with a passkey: `credential.toJSON()` of what `navigator.credentials.get` gave.
///
/// Answers what a password login answers: a token pair and a new session. A passkey
/// verified with user verification is two factors, so there is no second step. An unknown
/// passkey and one that does not verify get the same 400; every attempt is counted for the
/// client's address before it is checked, with the password logins'. A counter that went
/// backwards refuses the sign-in (and is logged as `passkey_counter_regression`).
#[utoipa::path(
    post, path = "/api/v1/auth/passkeys/login", tag = "passkeys",
    request_body = PasskeyLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = Token),
        (status = 400, description = "Invalid passkey, or inactive user", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many attempts; see Retry-After", body = Detail,
         headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn login(mut req: Request, app: &App<'_>) -> Result<Response> {
    let credential = login_from_json(&json_text(&mut req).await?)?;
    let issuer = Issuer::new(app).await?;
    let db = issuer.db;
    let rp = app.relying_party(&req)?;
    let keys = app.challenge_keys()?;
    let now = now();
    let address = client_address(&req);
    let client = ("login", address.as_deref());
    let counters = throttle::passkey_counters(address.as_deref());
    admit(db, &counters, address.as_deref(), now).await?;
    let found = find(db, &credential, client).await?;
    let mut expires = None;
    let assertion = verify(&rp, &credential, &found, client, |challenge| {
        expires = open_with_any(&keys, challenge, Purpose::Login, b"", now);
        expires.is_some()
    })
    .await?;
    app.note_user(found.user_id);
    if found.is_active == 0 {
        return Err(ApiError::BadRequest(INACTIVE.into()));
    }
    let require_verified = issuer.config.require_verified_email;
    if require_verified && found.email_verified == 0 {
        return Err(ApiError::BadRequest(NOT_VERIFIED.into()));
    }
    let hash = challenge_hash(&assertion.challenge);
    let token = start_passkey_session(
        &issuer,
        &req,
        (&found, &assertion),
        (found.user_id, found.token_version),
        (
            &counters,
            passkeys::use_challenge(db, (&hash, expires.unwrap_or(now)))?,
        ),
        client,
        now,
    )
    .await?;
    // `None`: the user was deactivated, or their token version moved, since it was read.
    let token = token.ok_or_else(|| ApiError::BadRequest(BAD_PASSKEY.into()))?;
    super::cookie::tokens(app, &token)
}

/// Options for answering a login's second step with a passkey: the `mfa_token` the login
/// answered with; `allowCredentials` lists that user's passkeys.
///
/// Then `POST /api/v1/auth/mfa/verify` with `{mfa_token, credential}`.
#[utoipa::path(
    post, path = "/api/v1/auth/mfa/passkey/options", tag = "auth",
    request_body = MfaPasskeyOptionsRequest,
    responses(
        (status = 200, description = "PublicKeyCredentialRequestOptionsJSON",
         body = RequestOptions),
        (status = 400, description = "The user has no passkey", body = Detail),
        (status = 401, description = "Unknown, expired or used mfa_token", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
        (status = 429, description = "Too many requests from this address; see Retry-After",
         body = Detail, headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub async fn second_step_options(mut req: Request, app: &App<'_>) -> Result<Response> {
    let token = mfa_token_from_json(&json_text(&mut req).await?)?;
    let hash = opaque_token_hash(&token).ok_or(ApiError::Unauthorized(BAD_MFA_TOKEN))?;
    let rp = app.relying_party(&req)?;
    let now = now();
    let (user_id, credentials) = passkeys::second_step_credentials(app.db()?, &hash, now)
        .await?
        .ok_or(ApiError::Unauthorized(BAD_MFA_TOKEN))?;
    app.note_user(user_id);
    if credentials.is_empty() {
        return Err(ApiError::BadRequest(NO_PASSKEY.into()));
    }
    let challenge = new_challenge(app, Purpose::SecondStep, hash.as_bytes(), now)?;
    Ok(json_response(
        200,
        &RequestOptions::new(rp.id, &challenge, descriptors(credentials)),
    ))
}

/// A login's second step answered with a passkey (`POST /api/v1/auth/mfa/verify` with
/// `{mfa_token, credential}`): the passkey must be the waiting user's, and its challenge one
/// issued for this `mfa_token`. Counted as the codes are.
pub(super) async fn second_step(
    req: &Request,
    app: &App<'_>,
    token: &str,
    credential: &AuthenticationResponse,
) -> Result<Response> {
    let bad_mfa_token = || ApiError::Unauthorized(BAD_MFA_TOKEN);
    let hash = opaque_token_hash(token).ok_or_else(bad_mfa_token)?;
    let issuer = Issuer::new(app).await?;
    let db = issuer.db;
    let rp = app.relying_party(req)?;
    let keys = app.challenge_keys()?;
    let now = now();
    let pending = totp::find_pending_login(db, &hash, now)
        .await?
        .ok_or_else(bad_mfa_token)?;
    let user_id = pending.user_id;
    app.note_user(user_id);
    let address = client_address(req);
    let client = ("second_step", address.as_deref());
    let counters = throttle::code_counters(user_id, address.as_deref());
    admit(db, &counters, address.as_deref(), now).await?;
    let found = find(db, credential, client).await?;
    if found.user_id != user_id {
        return Err(bad_passkey(client.0, Refusal::UnknownCredential, client.1));
    }
    let mut expires = None;
    let assertion = verify(&rp, credential, &found, client, |challenge| {
        expires = open_with_any(&keys, challenge, Purpose::SecondStep, hash.as_bytes(), now);
        expires.is_some()
    })
    .await?;
    let claim = new_session_id().map_err(|e| ApiError::internal("claim", e))?;
    let challenge = challenge_hash(&assertion.challenge);
    let claimed =
        passkeys::claim_second_step(db, &hash, &claim, (&challenge, expires.unwrap_or(now)), now)
            .await?;
    match claimed {
        Outcome::Done(()) => {}
        Outcome::Replayed => {
            return Err(bad_passkey(client.0, Refusal::BadChallenge, client.1));
        }
        _ => return Err(bad_mfa_token()),
    }
    let token = start_passkey_session(
        &issuer,
        req,
        (&found, &assertion),
        (user_id, pending.token_version),
        (&counters, totp::end_pending_login(db, &hash)?),
        client,
        now,
    )
    .await?
    .ok_or_else(bad_mfa_token)?;
    super::cookie::tokens(app, &token)
}
