//! Users: what signup accepts and what the API returns.

use serde::Serialize;
use utoipa::ToSchema;

use super::validation::{bounded_text, json_object, FieldError, Fields};
use super::{Email, Password};

/// The original's `String(256)` name columns.
pub const MAX_NAME_CHARS: usize = 256;

/// A user as the API shows it: never a password or a hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub first_name: Option<String>,
    pub surname: Option<String>,
    pub email: String,
    pub is_superuser: bool,
    /// Whether the user has followed a verification link sent to `email`.
    pub email_verified: bool,
}

/// The caller as `GET /api/v1/auth/me` shows them: the user, and the state of their ways in,
/// which a page needs to offer the right actions (set up or turn off TOTP; change the password
/// or set one through recovery).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    /// Whether TOTP two-step sign-in is on (set up and confirmed with a code).
    pub mfa_enabled: bool,
    /// Whether the user has a password; one who signed up with a provider has none until they
    /// set one through password recovery.
    pub has_password: bool,
}

/// The signup body as the OpenAPI document describes it; `NewUser::from_json` is what
/// actually reads it (field by field, for FastAPI's error locations).
#[derive(ToSchema)]
#[schema(as = UserCreate)]
#[allow(dead_code)]
pub struct SignupRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// At least 8 characters, at most 1024 bytes; normalised to NFKC.
    #[schema(min_length = 8)]
    password: String,
    #[schema(max_length = 256)]
    first_name: Option<String>,
    #[schema(max_length = 256)]
    surname: Option<String>,
}

/// A signup request. Unknown members (`is_superuser`, `full_name`, `is_active`, …) are
/// ignored: nobody makes themselves a superuser by asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: Email,
    pub password: Password,
    pub first_name: Option<String>,
    pub surname: Option<String>,
}

impl NewUser {
    pub fn from_json(body: &str) -> Result<NewUser, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let first_name = fields.optional_str("first_name");
        let first_name = fields.check("first_name", first_name, |v| {
            bounded_text(v, MAX_NAME_CHARS)
        });
        let surname = fields.optional_str("surname");
        let surname = fields.check("surname", surname, |v| bounded_text(v, MAX_NAME_CHARS));
        let email = fields.required_str("email");
        let email = fields.check("email", email, Email::parse);
        let password = fields.required_str("password");
        let password = fields.check("password", password, Password::parse);
        let (email, password) = fields.finish((email, password))?;
        Ok(NewUser {
            email,
            password,
            first_name,
            surname,
        })
    }
}

/// The body of `PATCH /api/v1/auth/me` as the OpenAPI document describes it;
/// `NameChange::from_json` is what reads it.
#[derive(ToSchema)]
#[schema(as = UserUpdateMe)]
#[allow(dead_code)]
pub struct NameChangeRequest {
    #[schema(max_length = 256)]
    first_name: Option<String>,
    #[schema(max_length = 256)]
    surname: Option<String>,
}

/// A change of one's own names: `None` keeps a name (its member was left out), `Some(None)`
/// clears it (`null` or `""`), `Some(Some(name))` sets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameChange {
    pub first_name: Option<Option<String>>,
    pub surname: Option<Option<String>>,
}

impl NameChange {
    pub fn from_json(body: &str) -> Result<NameChange, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let mut read = |name: &str| -> Option<Option<String>> {
            let present = object.contains_key(name);
            let value = fields.optional_str(name);
            let value = fields.check(name, value, |v| bounded_text(v, MAX_NAME_CHARS));
            present.then(|| value.filter(|name| !name.trim().is_empty()))
        };
        let first_name = read("first_name");
        let surname = read("surname");
        fields.finish(Some(()))?;
        Ok(NameChange {
            first_name,
            surname,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_a_full_signup_and_ignores_privilege_fields() {
        let user = NewUser::from_json(
            r#"{"email": "cook@example.com", "password": "s3cret-pass", "first_name": "Ada",
                "surname": null, "is_superuser": true, "full_name": "x", "is_active": true}"#,
        )
        .unwrap();
        assert_eq!(user.email.as_str(), "cook@example.com");
        assert_eq!(user.first_name.as_deref(), Some("Ada"));
        assert_eq!(user.surname, None);
    }

    #[test]
    fn reports_every_invalid_field_at_its_location() {
        let errors = NewUser::from_json(
            &json!({"email": "nope", "password": "short", "first_name": "x".repeat(257)})
                .to_string(),
        )
        .unwrap_err();
        let locs: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(
            locs,
            vec![json!("first_name"), json!("email"), json!("password")]
        );
        assert_eq!(errors[1].kind, "value_error.email");
        assert_eq!(errors[2].kind, "value_error.any_str.min_length");
    }

    #[test]
    fn a_name_change_keeps_what_it_leaves_out_and_clears_null_or_empty() {
        let change = NameChange::from_json(r#"{"first_name": "Ada", "surname": null}"#).unwrap();
        assert_eq!(change.first_name, Some(Some("Ada".into())));
        assert_eq!(change.surname, Some(None));
        let change = NameChange::from_json(r#"{"surname": " "}"#).unwrap();
        assert_eq!(change.first_name, None);
        assert_eq!(change.surname, Some(None));
        let errors = NameChange::from_json(
            &json!({"first_name": 3, "surname": "x".repeat(257)}).to_string(),
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].kind, "type_error.str");
    }

    #[test]
    fn missing_fields_are_reported_as_required() {
        let errors = NewUser::from_json("{}").unwrap_err();
        assert!(errors.iter().all(|e| e.kind == "value_error.missing"));
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn serialises_with_the_contract_field_names_only() {
        let user = User {
            id: 1,
            first_name: None,
            surname: Some("Lovelace".into()),
            email: "a@b.co".into(),
            is_superuser: false,
            email_verified: true,
        };
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            json!({"id": 1, "first_name": null, "surname": "Lovelace", "email": "a@b.co",
                   "is_superuser": false, "email_verified": true})
        );
    }
}
