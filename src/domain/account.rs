//! Requests about sessions and accounts: refresh and logout, password changes, and what
//! superusers send to manage users. Each has a `*Request` type for the OpenAPI document and
//! a parser that is what actually reads it.

use serde::Serialize;
use utoipa::ToSchema;

use super::validation::{json_object, query_int, query_values, FieldError, Fields};
use super::{Password, User};

/// `{"refresh_token": "..."}`, for refresh and logout.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RefreshRequest {
    /// The refresh token from login or the last refresh.
    refresh_token: String,
}

/// The refresh token of a refresh or logout body, as sent.
pub fn refresh_token_from_json(body: &str) -> Result<String, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let token = fields.required_str("refresh_token");
    Ok(fields.finish(token)?.to_owned())
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordChangeRequest {
    current_password: String,
    /// At least 8 characters, at most 1024 bytes; normalised to NFKC.
    #[schema(min_length = 8)]
    new_password: String,
}

/// A password change: the current password, to be checked, and a valid new one.
#[derive(Debug)]
pub struct PasswordChange {
    pub current: Password,
    pub new: Password,
}

impl PasswordChange {
    pub fn from_json(body: &str) -> Result<PasswordChange, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let current = fields
            .required_str("current_password")
            .map(Password::normalise);
        let new = fields.required_str("new_password");
        let new = fields.check("new_password", new, Password::parse);
        let (current, new) = fields.finish((current, new))?;
        Ok(PasswordChange { current, new })
    }
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordResetRequest {
    /// At least 8 characters, at most 1024 bytes; normalised to NFKC.
    #[schema(min_length = 8)]
    new_password: String,
}

/// A superuser's reset of someone's password.
pub fn new_password_from_json(body: &str) -> Result<Password, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let new = fields.required_str("new_password");
    let new = fields.check("new_password", new, Password::parse);
    fields.finish(new)
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserStatusRequest {
    /// `false` deactivates the user: no login, and every token of theirs stops working.
    is_active: bool,
}

/// Whether a superuser activates (`true`) or deactivates a user.
pub fn is_active_from_json(body: &str) -> Result<bool, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let is_active = fields.required_bool("is_active");
    fields.finish(is_active)
}

/// A user as superusers see them: with whether they may log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = UserDetails)]
pub struct ManagedUser {
    #[serde(flatten)]
    pub user: User,
    pub is_active: bool,
}

/// One page of users, with how many there are in all (the FastAPI template's shape).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UsersPage)]
pub struct UserList {
    pub data: Vec<ManagedUser>,
    pub count: i64,
}

/// `GET /users/?skip=&limit=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub skip: i64,
    pub limit: i64,
}

pub const DEFAULT_PAGE_SIZE: i64 = 100;
pub const MAX_PAGE_SIZE: i64 = 100;

impl Page {
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> Result<Page, Vec<FieldError>> {
        let [skip, limit] = query_values(pairs, ["skip", "limit"]);
        let mut errors = Vec::new();
        let page = Page {
            skip: query_int(
                &mut errors,
                "skip",
                skip.as_deref(),
                0,
                (0, i64::from(i32::MAX)),
            ),
            limit: query_int(
                &mut errors,
                "limit",
                limit.as_deref(),
                DEFAULT_PAGE_SIZE,
                (1, MAX_PAGE_SIZE),
            ),
        };
        if errors.is_empty() {
            Ok(page)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_refresh_body_needs_its_token_as_a_string() {
        assert_eq!(
            refresh_token_from_json(r#"{"refresh_token": "abc"}"#).unwrap(),
            "abc"
        );
        for body in [
            "{}",
            r#"{"refresh_token": 5}"#,
            r#"{"refresh_token": null}"#,
            "[]",
        ] {
            assert!(refresh_token_from_json(body).is_err(), "{body}");
        }
    }

    #[test]
    fn a_password_change_checks_only_the_new_password() {
        let change = PasswordChange::from_json(
            r#"{"current_password": "x", "new_password": "ｌｏｎｇ-enough"}"#,
        )
        .unwrap();
        assert_eq!(change.current.expose(), "x");
        assert_eq!(change.new.expose(), "long-enough", "normalised to NFKC");
        let errors = PasswordChange::from_json(r#"{"new_password": "short"}"#).unwrap_err();
        let locs: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        assert_eq!(locs, [json!("current_password"), json!("new_password")]);
        assert_eq!(errors[1].kind, "value_error.any_str.min_length");
    }

    #[test]
    fn a_reset_needs_a_valid_new_password() {
        assert!(new_password_from_json(r#"{"new_password": "long enough"}"#).is_ok());
        assert!(new_password_from_json(r#"{"new_password": "short"}"#).is_err());
        assert!(new_password_from_json("{}").is_err());
    }

    #[test]
    fn a_status_change_is_a_boolean() {
        assert_eq!(is_active_from_json(r#"{"is_active": false}"#), Ok(false));
        assert_eq!(
            is_active_from_json(r#"{"is_active": true, "email": "x"}"#),
            Ok(true)
        );
        assert!(is_active_from_json(r#"{"is_active": "no"}"#).is_err());
        assert!(is_active_from_json("{}").is_err());
    }

    #[test]
    fn pages_default_and_bound() {
        assert_eq!(
            Page::from_pairs([("other", "1")]),
            Ok(Page {
                skip: 0,
                limit: DEFAULT_PAGE_SIZE
            })
        );
        assert_eq!(
            Page::from_pairs([("skip", "20"), ("limit", "5")]),
            Ok(Page { skip: 20, limit: 5 })
        );
        let errors = Page::from_pairs([("skip", "-1"), ("limit", "101")]).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].loc, vec![json!("query"), json!("skip")]);
        assert_eq!(errors[1].loc, vec![json!("query"), json!("limit")]);
    }

    #[test]
    fn a_managed_user_is_a_user_and_its_status() {
        let user = ManagedUser {
            user: User {
                id: 3,
                first_name: None,
                surname: None,
                email: "a@b.co".into(),
                is_superuser: false,
                email_verified: false,
            },
            is_active: false,
        };
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            json!({"id": 3, "first_name": null, "surname": null, "email": "a@b.co",
                   "is_superuser": false, "email_verified": false, "is_active": false})
        );
    }
}
