//! The OAuth2 password request form (`OAuth2PasswordRequestForm` in FastAPI).

use serde_json::json;
use utoipa::ToSchema;

use super::validation::{FieldError, Invalid};
use crate::security::turnstile::TOKEN_FIELD;

/// The login form as the OpenAPI document describes it (FastAPI's name for it kept).
#[derive(ToSchema)]
#[schema(as = Body_login_api_v1_auth_login_post)]
#[allow(dead_code)]
pub struct LoginRequest {
    /// The email address.
    username: String,
    password: String,
    #[schema(pattern = "^password$")]
    grant_type: Option<String>,
    #[schema(default = "")]
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `username` (the email) and `password`. `scope`, `client_id` and `client_secret` are
/// accepted and unused; `grant_type`, when sent, must be `password`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    /// `cf-turnstile-response`: the field a Turnstile widget adds to the form it sits in
    /// (checked only where `TURNSTILE_ON` names login).
    pub turnstile_token: Option<String>,
}

impl LoginForm {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn from_urlencoded(body: &[u8]) -> Result<LoginForm, Vec<FieldError>> {
        let pairs: Vec<_> = form_urlencoded::parse(body).collect();
        LoginForm::from_fields(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
    }

    /// Builds the form from its decoded fields, whatever the body's encoding was.
    pub fn from_fields<'a>(
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<LoginForm, Vec<FieldError>> {
        let (mut username, mut password, mut grant_type) = (None, None, None);
        let mut turnstile_token = None;
        for (name, value) in fields {
            let slot = match name {
                "username" => &mut username,
                "password" => &mut password,
                "grant_type" => &mut grant_type,
                TOKEN_FIELD => &mut turnstile_token,
                _ => continue,
            };
            // The first value wins, as Starlette's form parsing does for a single field.
            slot.get_or_insert(value);
        }
        let mut errors = Vec::new();
        if grant_type.is_some_and(|g| g != "password") {
            errors.push(
                Invalid::Other(
                    "string does not match regex \"password\"",
                    "value_error.str.regex",
                )
                .at("grant_type")
                .with_ctx(json!({"pattern": "password"})),
            );
        }
        // An empty form field counts as missing, as in FastAPI.
        let username = username.filter(|v| !v.is_empty());
        let password = password.filter(|v| !v.is_empty());
        if username.is_none() {
            errors.push(FieldError::missing("username"));
        }
        if password.is_none() {
            errors.push(FieldError::missing("password"));
        }
        match (username, password) {
            (Some(username), Some(password)) if errors.is_empty() => Ok(LoginForm {
                username: username.to_owned(),
                password: password.to_owned(),
                turnstile_token: turnstile_token.map(str::to_owned),
            }),
            _ => Err(errors),
        }
    }
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_username_and_password_and_ignores_the_optional_fields() {
        let form = LoginForm::from_fields([
            ("grant_type", "password"),
            ("username", "a@b.co"),
            ("password", "pw"),
            ("scope", "me recipes"),
            ("client_id", "x"),
        ])
        .unwrap();
        assert_eq!(
            (form.username.as_str(), form.password.as_str()),
            ("a@b.co", "pw")
        );
        assert_eq!(form.turnstile_token, None);
    }

    #[test]
    fn keeps_the_turnstile_widgets_field() {
        let form = LoginForm::from_urlencoded(
            b"username=a%40b.co&password=pw&cf-turnstile-response=XXXX.DUMMY.TOKEN.XXXX",
        )
        .unwrap();
        assert_eq!(
            form.turnstile_token.as_deref(),
            Some("XXXX.DUMMY.TOKEN.XXXX")
        );
    }

    #[test]
    fn decodes_urlencoded_bodies() {
        let form =
            LoginForm::from_urlencoded(b"username=a%40b.co&password=p%C3%A4ss+word%26").unwrap();
        assert_eq!(form.username, "a@b.co");
        assert_eq!(form.password, "päss word&");
        assert!(LoginForm::from_urlencoded(b"\xff\xfe=%zz&&==").is_err());
    }

    #[test]
    fn missing_or_empty_fields_are_required() {
        let errors = LoginForm::from_fields([("username", "")]).unwrap_err();
        let missing: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(missing, vec![json!("username"), json!("password")]);
    }

    #[test]
    fn a_grant_type_other_than_password_is_refused() {
        let errors = LoginForm::from_fields([
            ("grant_type", "client_credentials"),
            ("username", "a@b.co"),
            ("password", "pw"),
        ])
        .unwrap_err();
        assert_eq!(errors[0].kind, "value_error.str.regex");
    }
}
