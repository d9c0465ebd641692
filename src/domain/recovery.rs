//! Requests of password recovery and email verification: each has a `*Request` type for the
//! OpenAPI document and a parser that is what actually reads it.

use utoipa::ToSchema;

use super::validation::{json_object, FieldError, Fields};
use super::{Email, Password};

/// Why an emailed token is issued, and its email sent; its name is what the log line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PasswordRecovery,
    VerifyEmail,
    /// A sign-in link and code (src/api/email_sign_in.rs); not an `email_tokens` row.
    EmailSignIn,
}

impl Purpose {
    pub fn name(self) -> &'static str {
        match self {
            Purpose::PasswordRecovery => "password_recovery",
            Purpose::VerifyEmail => "verify_email",
            Purpose::EmailSignIn => "email_sign_in",
        }
    }
}

/// `{"email": "..."}`: send a password-recovery link to this address, if it is a user's.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordRecoveryRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
}

/// The email of a password-recovery request.
pub fn recovery_email_from_json(body: &str) -> Result<Email, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let email = fields.required_str("email");
    let email = fields.check("email", email, Email::parse);
    fields.finish(email)
}

/// A new password, with the token from a password-recovery email.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewPasswordRequest {
    /// The `token` parameter of the emailed link.
    token: String,
    /// At least 8 characters, at most 1024 bytes; normalised to NFKC.
    #[schema(min_length = 8)]
    new_password: String,
}

/// What `POST /reset-password` carries: the emailed token, as sent, and a valid password.
#[derive(Debug)]
pub struct NewPassword {
    pub token: String,
    pub password: Password,
}

impl NewPassword {
    pub fn from_json(body: &str) -> Result<NewPassword, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let token = fields.required_str("token").map(str::to_owned);
        let password = fields.required_str("new_password");
        let password = fields.check("new_password", password, Password::parse);
        let (token, password) = fields.finish((token, password))?;
        Ok(NewPassword { token, password })
    }
}

/// `{"token": "..."}`: the token from a verification email.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct VerifyEmailRequest {
    /// The `token` parameter of the emailed link.
    token: String,
}

/// The token of a verification request, as sent.
pub fn email_token_from_json(body: &str) -> Result<String, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let token = fields.required_str("token").map(str::to_owned);
    fields.finish(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_recovery_request_needs_a_valid_email() {
        assert_eq!(
            recovery_email_from_json(r#"{"email": "cook@example.com"}"#)
                .unwrap()
                .as_str(),
            "cook@example.com"
        );
        let errors = recovery_email_from_json(r#"{"email": "nope"}"#).unwrap_err();
        assert_eq!(errors[0].loc, vec![json!("body"), json!("email")]);
        assert_eq!(errors[0].kind, "value_error.email");
        assert!(recovery_email_from_json("{}").is_err());
    }

    #[test]
    fn a_new_password_follows_the_password_policy_and_keeps_the_token_as_sent() {
        let reset =
            NewPassword::from_json(r#"{"token": " abc ", "new_password": "long enough"}"#).unwrap();
        assert_eq!(reset.token, " abc ");
        let errors =
            NewPassword::from_json(r#"{"token": "abc", "new_password": "short"}"#).unwrap_err();
        assert_eq!(errors[0].loc, vec![json!("body"), json!("new_password")]);
        let missing = NewPassword::from_json("{}").unwrap_err();
        assert_eq!(missing.len(), 2, "{missing:?}");
    }

    #[test]
    fn a_verification_needs_a_token_string() {
        assert_eq!(email_token_from_json(r#"{"token": "t"}"#).unwrap(), "t");
        assert!(email_token_from_json(r#"{"token": 5}"#).is_err());
    }
}
