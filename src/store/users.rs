//! The `users` table.

use serde::Deserialize;
use worker::D1Database;

use super::{d1_error, int, is_unique_violation, text_or_null};
use crate::domain::{NewUser, User};
use crate::error::Result;

const USER_COLUMNS: &str = "id, first_name, surname, email, is_superuser";

#[derive(Deserialize)]
struct UserRow {
    id: i64,
    first_name: Option<String>,
    surname: Option<String>,
    email: String,
    // SQLite has no boolean: 0 or 1.
    is_superuser: i64,
    /// Selected only where a password is checked.
    #[serde(default)]
    hashed_password: Option<String>,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> User {
        User {
            id: row.id,
            first_name: row.first_name,
            surname: row.surname,
            email: row.email,
            is_superuser: row.is_superuser != 0,
        }
    }
}

/// Inserts a user; `None` when the email is taken (the schema decides, case-insensitively).
pub async fn insert(
    db: &D1Database,
    user: &NewUser,
    hashed_password: &str,
) -> Result<Option<User>> {
    let statement = db
        .prepare(format!(
            "INSERT INTO users (first_name, surname, email, hashed_password) \
             VALUES (?1, ?2, ?3, ?4) RETURNING {USER_COLUMNS}"
        ))
        .bind(&[
            text_or_null(user.first_name.as_deref()),
            text_or_null(user.surname.as_deref()),
            user.email.as_str().into(),
            hashed_password.into(),
        ])
        .map_err(d1_error("binding user insert"))?;
    match statement.first::<UserRow>(None).await {
        Ok(row) => Ok(row.map(User::from)),
        Err(error) if is_unique_violation(&error) => Ok(None),
        Err(error) => Err(d1_error("inserting user")(error)),
    }
}

/// The user with this email (any ASCII case) and their password hash.
pub async fn find_credentials(db: &D1Database, email: &str) -> Result<Option<(User, String)>> {
    let row = db
        .prepare(format!(
            "SELECT {USER_COLUMNS}, hashed_password FROM users WHERE email = ?1"
        ))
        .bind(&[email.into()])
        .map_err(d1_error("binding credentials lookup"))?
        .first::<UserRow>(None)
        .await
        .map_err(d1_error("looking up credentials"))?;
    Ok(row.map(|mut row| {
        let hash = row.hashed_password.take().unwrap_or_default();
        (row.into(), hash)
    }))
}

pub async fn find_by_id(db: &D1Database, id: i64) -> Result<Option<User>> {
    let row = db
        .prepare(format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))
        .bind(&[int(id)])
        .map_err(d1_error("binding user lookup"))?
        .first::<UserRow>(None)
        .await
        .map_err(d1_error("looking up user"))?;
    Ok(row.map(User::from))
}

/// Replaces a hash with a stronger one, unless the password changed in the meantime.
pub async fn upgrade_password_hash(db: &D1Database, id: i64, old: &str, new: &str) -> Result<()> {
    db.prepare("UPDATE users SET hashed_password = ?1 WHERE id = ?2 AND hashed_password = ?3")
        .bind(&[new.into(), int(id), old.into()])
        .map_err(d1_error("binding hash upgrade"))?
        .run()
        .await
        .map_err(d1_error("upgrading password hash"))?;
    Ok(())
}
