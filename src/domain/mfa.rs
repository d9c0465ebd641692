//! Requests of the second factor (TOTP): setting it up, turning it on and off, and the second
//! step of a login. Each has a `*Request` type for the OpenAPI document and a parser that is
//! what actually reads it.

use utoipa::ToSchema;

use super::validation::{json_object, FieldError, Fields, Invalid};
use super::Password;
use crate::security::recovery_codes;
use crate::security::totp::DIGITS;

/// A second-factor code as typed: the authenticator's current code, or one of the recovery
/// codes.
#[derive(Clone, PartialEq, Eq)]
pub enum SecondFactorCode {
    /// Six digits.
    Totp(String),
    /// A recovery code in its normal form (lower case, no separators).
    Recovery(String),
}

impl SecondFactorCode {
    /// Six digits (spaces allowed, as apps show `123 456`), or a recovery code.
    pub fn parse(typed: &str) -> Result<SecondFactorCode, Invalid> {
        let digits: String = typed.chars().filter(|c| *c != ' ').collect();
        if digits.len() == DIGITS as usize && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(SecondFactorCode::Totp(digits));
        }
        recovery_codes::normalise(typed)
            .map(SecondFactorCode::Recovery)
            .ok_or(Invalid::Other(
                "must be a 6-digit code or a recovery code",
                "value_error.code",
            ))
    }
}

/// Never print a code.
impl std::fmt::Debug for SecondFactorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecondFactorCode::Totp(_) => f.write_str("Totp(..)"),
            SecondFactorCode::Recovery(_) => f.write_str("Recovery(..)"),
        }
    }
}

/// `{"password": "..."}`: the current password, to set up TOTP.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TotpSetupRequest {
    /// The caller's current password.
    password: String,
}

/// The password of a setup request, normalised as at login.
pub fn setup_password_from_json(body: &str) -> Result<Password, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let password = fields.required_str("password").map(Password::normalise);
    fields.finish(password)
}

/// `{"code": "123456"}`: a code from the authenticator just set up.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TotpEnableRequest {
    /// The authenticator's current 6-digit code.
    #[schema(pattern = "^[0-9]{6}$")]
    code: String,
}

/// The code of an enable request: six digits (a recovery code does not exist yet).
pub fn enable_code_from_json(body: &str) -> Result<String, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let code = fields.required_str("code");
    let code = fields.check("code", code, |typed| {
        match SecondFactorCode::parse(typed)? {
            SecondFactorCode::Totp(digits) => Ok(digits),
            SecondFactorCode::Recovery(_) => {
                Err(Invalid::Other("must be a 6-digit code", "value_error.code"))
            }
        }
    });
    fields.finish(code)
}

/// `{"password": "...", "code": "..."}`: what turning TOTP off takes.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TotpDisableRequest {
    /// The caller's current password.
    password: String,
    /// The authenticator's current 6-digit code, or an unused recovery code.
    code: String,
}

/// The password and code of a disable request.
pub fn disable_from_json(body: &str) -> Result<(Password, SecondFactorCode), Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let password = fields.required_str("password").map(Password::normalise);
    let code = fields.required_str("code");
    let code = fields.check("code", code, SecondFactorCode::parse);
    fields.finish((password, code))
}

/// `{"mfa_token": "...", "code": "..."}` or `{"mfa_token": "...", "credential": {…}}`: the
/// second step of a login (parsed by `domain::passkey::second_step_from_json`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MfaVerifyRequest {
    /// The `mfa_token` the login answered with; it works once, for 5 minutes.
    mfa_token: String,
    /// The authenticator's current 6-digit code, or an unused recovery code.
    code: Option<String>,
    /// Instead of `code`: `credential.toJSON()` of a passkey of the user's, from
    /// `navigator.credentials.get` with the options of `POST /api/v1/auth/mfa/passkey/options`.
    #[schema(value_type = Option<Object>)]
    credential: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_code_is_six_digits_or_a_recovery_code() {
        assert_eq!(
            SecondFactorCode::parse("012345"),
            Ok(SecondFactorCode::Totp("012345".into()))
        );
        assert_eq!(
            SecondFactorCode::parse("012 345"),
            Ok(SecondFactorCode::Totp("012345".into()))
        );
        assert_eq!(
            SecondFactorCode::parse("ABCD-2345-efgh-6723"),
            Ok(SecondFactorCode::Recovery("abcd2345efgh6723".into()))
        );
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "abcd-2345"] {
            assert!(SecondFactorCode::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{:?}", SecondFactorCode::parse("012345")).contains("012345"));
    }

    #[test]
    fn enabling_takes_six_digits_only() {
        assert_eq!(
            enable_code_from_json(r#"{"code": "123456"}"#),
            Ok("123456".into())
        );
        for body in [
            "{}",
            r#"{"code": 123456}"#,
            r#"{"code": "abcd-2345-efgh-6723"}"#,
        ] {
            let errors = enable_code_from_json(body).unwrap_err();
            assert_eq!(errors[0].loc, [json!("body"), json!("code")], "{body}");
        }
    }

    #[test]
    fn verify_and_disable_need_both_fields() {
        use crate::domain::passkey::{second_step_from_json, SecondStepAnswer};
        let (token, answer) =
            second_step_from_json(r#"{"mfa_token": "t", "code": "123456"}"#).unwrap();
        assert_eq!(token, "t");
        assert!(
            matches!(answer, SecondStepAnswer::Code(code) if code == SecondFactorCode::Totp("123456".into()))
        );
        let errors = second_step_from_json(r#"{"code": "12"}"#).unwrap_err();
        let locs: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(locs, [json!("mfa_token"), json!("code")]);
        let (password, code) =
            disable_from_json(r#"{"password": "pw", "code": "abcd 2345 efgh 6723"}"#).unwrap();
        assert_eq!(password.expose(), "pw");
        assert_eq!(code, SecondFactorCode::Recovery("abcd2345efgh6723".into()));
        assert!(disable_from_json(r#"{"code": "123456"}"#).is_err());
        assert_eq!(
            setup_password_from_json(r#"{"password": "pw"}"#)
                .unwrap()
                .expose(),
            "pw"
        );
        assert!(setup_password_from_json("{}").is_err());
    }
}
