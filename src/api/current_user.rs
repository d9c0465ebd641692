//! Authentication as a type: a `CurrentUser` exists only if the verifier produced it.

use worker::Request;

use super::{now, App};
use crate::domain::User;
use crate::error::{ApiError, Result, INVALID_CREDENTIALS, NOT_AUTHENTICATED};
use crate::security::{bearer_token, verify_access_token, Subject};
use crate::store::users;

pub struct CurrentUser(pub User);

const NOT_SUPERUSER: &str = "The user doesn't have enough privileges";

impl CurrentUser {
    /// Reads the bearer token, verifies it (HS256, `exp`, `iat`, `type`) and loads its user
    /// in one statement, which also checks the user is active and the token's version is
    /// theirs: a deleted or deactivated user's tokens, and tokens from before a password
    /// change, stop working at once.
    pub async fn authenticate(req: &Request, app: &App<'_>) -> Result<CurrentUser> {
        let subject = verified_subject(req, app)?;
        users::find_authenticated(&app.db()?, subject)
            .await?
            .map(CurrentUser)
            .ok_or_else(unknown_user)
    }

    /// As [`CurrentUser::authenticate`], with the user's password hash, for a handler that
    /// asks for the password again.
    pub async fn with_password_hash(req: &Request, app: &App<'_>) -> Result<(User, String)> {
        let subject = verified_subject(req, app)?;
        users::find_authenticated_credentials(&app.db()?, subject)
            .await?
            .ok_or_else(unknown_user)
    }

    /// As [`CurrentUser::authenticate`], and a superuser: 403 for anyone else.
    pub async fn superuser(req: &Request, app: &App<'_>) -> Result<CurrentUser> {
        let current = Self::authenticate(req, app).await?;
        if current.0.is_superuser {
            Ok(current)
        } else {
            Err(ApiError::Forbidden(NOT_SUPERUSER))
        }
    }
}

/// Whom a verified bearer token speaks for, not yet checked against the database: for a
/// handler that checks it in the same statement that reads its data
/// ([`users::AUTHENTICATED`]). It must answer [`unknown_user`] when the check fails.
pub fn verified_subject(req: &Request, app: &App<'_>) -> Result<Subject> {
    let header = req.headers().get("Authorization").ok().flatten();
    let token = bearer_token(header.as_deref()).ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
    let secret = app.jwt_secret()?;
    verify_access_token(&secret, token, now()).map_err(|_| unknown_user())
}

/// The answer for a token whose user is gone, inactive or of a newer token version: the
/// same as for any bad token.
pub fn unknown_user() -> ApiError {
    ApiError::Unauthorized(INVALID_CREDENTIALS)
}
