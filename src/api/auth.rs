//! `/api/v1/auth`: signup, login (OAuth2 password form) and me.

use serde_json::json;
use worker::{FormEntry, Request, Response};

use super::current_user::CurrentUser;
use super::{now, App};
use crate::domain::validation::FieldError;
use crate::domain::{LoginForm, NewUser};
use crate::error::{json_response, ApiError, Result};
use crate::security::{hash_password, issue_access_token, verify_password, Verified};
use crate::store::users;

const EMAIL_TAKEN: &str = "The user with this email already exists in the system";
const BAD_LOGIN: &str = "Incorrect username or password";

pub async fn signup(mut req: Request, app: &App<'_>) -> Result<Response> {
    let body = read_text(&mut req).await?;
    let new_user = NewUser::from_json(&body)?;
    let config = app.config()?;
    let hash = hash_password(new_user.password.expose(), config.password_iterations)
        .map_err(|e| ApiError::internal("signup", e))?;
    match users::insert(&app.db()?, &new_user, &hash).await? {
        Some(user) => Ok(json_response(201, &user)),
        None => Err(ApiError::BadRequest(EMAIL_TAKEN.into())),
    }
}

/// Unknown email and wrong password take the same path, PBKDF2 run included.
pub async fn login(mut req: Request, app: &App<'_>) -> Result<Response> {
    let fields = read_form(&mut req).await;
    let form = LoginForm::from_fields(fields.iter().map(|(k, v)| (*k, v.as_str())))?;
    let config = app.config()?;
    let secret = app.jwt_secret()?;
    let db = app.db()?;
    let found = users::find_credentials(&db, &form.username).await?;
    let stored = found.as_ref().map(|(_, hash)| hash.as_str());
    let needs_rehash = match verify_password(&form.password, stored, config.password_iterations) {
        Verified::No => return Err(ApiError::BadRequest(BAD_LOGIN.into())),
        Verified::Yes { needs_rehash } => needs_rehash,
    };
    let Some((user, old_hash)) = found else {
        return Err(ApiError::BadRequest(BAD_LOGIN.into()));
    };
    if needs_rehash {
        let new_hash = hash_password(&form.password, config.password_iterations)
            .map_err(|e| ApiError::internal("rehash", e))?;
        users::upgrade_password_hash(&db, user.id, &old_hash, &new_hash).await?;
    }
    let token = issue_access_token(&secret, user.id, now(), config.token_lifetime_seconds);
    Ok(json_response(
        200,
        &json!({ "access_token": token, "token_type": "bearer" }),
    ))
}

pub async fn me(req: Request, app: &App<'_>) -> Result<Response> {
    let CurrentUser(user) = CurrentUser::authenticate(&req, app).await?;
    Ok(json_response(200, &user))
}

/// The body as text; bytes that are not UTF-8 are a client error, not ours.
pub(super) async fn read_text(req: &mut Request) -> Result<String> {
    req.text().await.map_err(|_| {
        ApiError::Validation(vec![FieldError::new(
            vec![json!("body")],
            "body is not valid UTF-8",
            "value_error.jsondecode",
        )])
    })
}

/// The login form's fields, from `application/x-www-form-urlencoded` or
/// `multipart/form-data` alike (the runtime's own FormData parser). A body of any other kind
/// reads as an empty form, which the form's parser reports as missing fields, as FastAPI does.
async fn read_form(req: &mut Request) -> Vec<(&'static str, String)> {
    let Ok(form) = req.form_data().await else {
        return Vec::new();
    };
    ["username", "password", "grant_type"]
        .into_iter()
        .filter_map(|name| match form.get(name) {
            Some(FormEntry::Field(value)) => Some((name, value)),
            _ => None,
        })
        .collect()
}
