//! Authentication as a type: a `CurrentUser` exists only if the verifier produced it.

use worker::Request;

use super::{now, App};
use crate::domain::User;
use crate::error::{ApiError, Result, INVALID_CREDENTIALS, NOT_AUTHENTICATED};
use crate::security::{bearer_token, verify_access_token};
use crate::store::users;

pub struct CurrentUser(pub User);

impl CurrentUser {
    /// Reads the bearer token, verifies it (HS256, `exp`, `iat`, `type`) and loads its user:
    /// a deleted user's token stops working.
    pub async fn authenticate(req: &Request, app: &App<'_>) -> Result<CurrentUser> {
        let user_id = verified_subject(req, app)?;
        users::find_by_id(&app.db()?, user_id)
            .await?
            .map(CurrentUser)
            .ok_or_else(unknown_user)
    }
}

/// The user id of a verified bearer token, whose user is not loaded yet: for a handler that
/// checks the user still exists in the same statement that reads its data. It must answer
/// [`unknown_user`] when they do not.
pub fn verified_subject(req: &Request, app: &App<'_>) -> Result<i64> {
    let header = req.headers().get("Authorization").ok().flatten();
    let token = bearer_token(header.as_deref()).ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
    let secret = app.jwt_secret()?;
    verify_access_token(&secret, token, now()).map_err(|_| unknown_user())
}

/// The answer for a token whose user no longer exists, the same as for any bad token.
pub fn unknown_user() -> ApiError {
    ApiError::Unauthorized(INVALID_CREDENTIALS)
}
