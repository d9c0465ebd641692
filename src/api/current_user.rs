//! Authentication as a type. A request's bearer token, verified, is a [`Caller`]; the store
//! checks the caller's user, token version and session in the very statement that reads or
//! writes their data (src/store/caller.rs), and a [`CurrentUser`] exists only if such a
//! statement found them.

use worker::Request;

use super::{now, App};
use crate::error::{ApiError, Result, INVALID_CREDENTIALS, NOT_AUTHENTICATED};
use crate::security::{bearer_token, verify_access_token};
use crate::store::caller::{self, Caller, CurrentUser};

const NOT_SUPERUSER: &str = "The user doesn't have enough privileges";

/// The caller a request's bearer token names: signed by one of our keys, `exp`, `iat`,
/// `type`, `iss`, `aud` and `sid` verified; not yet checked against the database.
pub async fn caller(req: &Request, app: &App<'_>) -> Result<Caller> {
    let header = req.headers().get("Authorization").ok().flatten();
    let token = bearer_token(header.as_deref()).ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
    let keys = app.token_keys().await?;
    let subject = verify_access_token(&keys, token, now()).map_err(|_| unknown_user())?;
    // ES256 and EdDSA: the signature through Web Crypto; HS256 was verified already.
    let subject = super::webcrypto::verified(subject)
        .await?
        .map_err(|_| unknown_user())?;
    app.note_user(subject.user_id);
    Ok(Caller::from(subject))
}

/// The caller, checked against the database in one statement: a deleted or deactivated
/// user's tokens, tokens from before a password change and tokens of an ended session stop
/// working at once.
pub async fn authenticate(req: &Request, app: &App<'_>) -> Result<CurrentUser> {
    let caller = caller(req, app).await?;
    caller::authenticate(app.db()?, &caller)
        .await?
        .ok_or_else(unknown_user)
}

/// As [`authenticate`], and a superuser: 403 for anyone else.
pub async fn superuser(req: &Request, app: &App<'_>) -> Result<CurrentUser> {
    let current = authenticate(req, app).await?;
    if current.is_superuser() {
        Ok(current)
    } else {
        Err(ApiError::Forbidden(NOT_SUPERUSER))
    }
}

/// The answer for a token whose user is gone, inactive, of a newer token version or whose
/// session ended: the same as for any bad token.
pub fn unknown_user() -> ApiError {
    ApiError::Unauthorized(INVALID_CREDENTIALS)
}
