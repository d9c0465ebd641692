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
        let header = req.headers().get("Authorization").ok().flatten();
        let token =
            bearer_token(header.as_deref()).ok_or(ApiError::Unauthorized(NOT_AUTHENTICATED))?;
        let secret = app.jwt_secret()?;
        let user_id = verify_access_token(&secret, token, now())
            .map_err(|_| ApiError::Unauthorized(INVALID_CREDENTIALS))?;
        users::find_by_id(&app.db()?, user_id)
            .await?
            .map(CurrentUser)
            .ok_or(ApiError::Unauthorized(INVALID_CREDENTIALS))
    }
}
