//! The `users` table.

use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use super::{d1_error, int, is_unique_violation, rows, sessions, statement, text_or_null};
use crate::domain::account::{ManagedUser, Page, UserList};
use crate::domain::{NewUser, User};
use crate::error::Result;
use crate::security::Subject;

const USER_COLUMNS: &str = "id, first_name, surname, email, is_superuser, is_active";

#[derive(Deserialize)]
struct UserRow {
    id: i64,
    first_name: Option<String>,
    surname: Option<String>,
    email: String,
    // SQLite has no boolean: 0 or 1.
    is_superuser: i64,
    is_active: i64,
    /// Selected only where a password is checked.
    #[serde(default)]
    hashed_password: Option<String>,
    /// Selected only where a token is issued.
    #[serde(default)]
    token_version: i64,
}

impl From<UserRow> for ManagedUser {
    fn from(row: UserRow) -> ManagedUser {
        ManagedUser {
            user: User {
                id: row.id,
                first_name: row.first_name,
                surname: row.surname,
                email: row.email,
                is_superuser: row.is_superuser != 0,
            },
            is_active: row.is_active != 0,
        }
    }
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> User {
        ManagedUser::from(row).user
    }
}

/// What login needs to know of a user.
pub struct Credentials {
    pub user: ManagedUser,
    pub hashed_password: String,
    pub token_version: i64,
}

impl From<UserRow> for Credentials {
    fn from(mut row: UserRow) -> Credentials {
        Credentials {
            hashed_password: row.hashed_password.take().unwrap_or_default(),
            token_version: row.token_version,
            user: row.into(),
        }
    }
}

async fn first(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
    context: &'static str,
) -> Result<Option<UserRow>> {
    statement(db, sql, args, context)?
        .first::<UserRow>(None)
        .await
        .map_err(d1_error(context))
}

/// Inserts a user; `None` when the email is taken (the schema decides, case-insensitively).
pub async fn insert(
    db: &D1Database,
    user: &NewUser,
    hashed_password: &str,
) -> Result<Option<User>> {
    let sql = format!(
        "INSERT INTO users (first_name, surname, email, hashed_password) \
         VALUES (?1, ?2, ?3, ?4) RETURNING {USER_COLUMNS}"
    );
    let args = [
        text_or_null(user.first_name.as_deref()),
        text_or_null(user.surname.as_deref()),
        user.email.as_str().into(),
        hashed_password.into(),
    ];
    match statement(db, &sql, &args, "binding user insert")?
        .first::<UserRow>(None)
        .await
    {
        Ok(row) => Ok(row.map(User::from)),
        Err(error) if is_unique_violation(&error) => Ok(None),
        Err(error) => Err(d1_error("inserting user")(error)),
    }
}

/// The user with this email (any ASCII case), their password hash and token version.
pub async fn find_credentials(db: &D1Database, email: &str) -> Result<Option<Credentials>> {
    let sql = format!(
        "SELECT {USER_COLUMNS}, hashed_password, token_version FROM users WHERE email = ?1"
    );
    let row = first(db, &sql, &[email.into()], "looking up credentials").await?;
    Ok(row.map(Credentials::from))
}

/// The `WHERE` condition under which a token's subject (`?1` the id, `?2` the token version)
/// is a user who may act: they exist, are active, and the token is of their current version.
pub const AUTHENTICATED: &str = "id = ?1 AND is_active = 1 AND token_version = ?2";

/// The user a verified token speaks for, if they still may act (see [`AUTHENTICATED`]).
pub async fn find_authenticated(db: &D1Database, subject: Subject) -> Result<Option<User>> {
    let row = authenticated_row(db, subject, "").await?;
    Ok(row.map(User::from))
}

/// As [`find_authenticated`], with the user's password hash, for a handler that asks for
/// the password again.
pub async fn find_authenticated_credentials(
    db: &D1Database,
    subject: Subject,
) -> Result<Option<(User, String)>> {
    let row = authenticated_row(db, subject, ", hashed_password").await?;
    Ok(row.map(|row| {
        let credentials = Credentials::from(row);
        (credentials.user.user, credentials.hashed_password)
    }))
}

async fn authenticated_row(
    db: &D1Database,
    subject: Subject,
    extra_columns: &str,
) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS}{extra_columns} FROM users WHERE {AUTHENTICATED}");
    let args = [int(subject.user_id), int(subject.token_version)];
    first(db, &sql, &args, "looking up the token's user").await
}

pub async fn find(db: &D1Database, id: i64) -> Result<Option<ManagedUser>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    let row = first(db, &sql, &[int(id)], "looking up user").await?;
    Ok(row.map(ManagedUser::from))
}

/// A page of users by id, and how many there are: one batch, one snapshot.
pub async fn list(db: &D1Database, page: Page) -> Result<UserList> {
    #[derive(Deserialize)]
    struct Count {
        count: i64,
    }
    let context = "listing users";
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id LIMIT ?1 OFFSET ?2");
    let results = db
        .batch(vec![
            statement(db, "SELECT count(*) AS count FROM users", &[], context)?,
            statement(db, &sql, &[int(page.limit), int(page.skip)], context)?,
        ])
        .await
        .map_err(d1_error(context))?;
    let count = rows::<Count>(&results[0], context)?
        .first()
        .map_or(0, |c| c.count);
    let data = rows::<UserRow>(&results[1], context)?
        .into_iter()
        .map(ManagedUser::from)
        .collect();
    Ok(UserList { data, count })
}

/// Replaces a hash with a stronger one, unless the password changed in the meantime.
pub async fn upgrade_password_hash(db: &D1Database, id: i64, old: &str, new: &str) -> Result<()> {
    let sql = "UPDATE users SET hashed_password = ?1 WHERE id = ?2 AND hashed_password = ?3";
    statement(
        db,
        sql,
        &[new.into(), int(id), old.into()],
        "upgrading password hash",
    )?
    .run()
    .await
    .map_err(d1_error("upgrading password hash"))?;
    Ok(())
}

/// Runs `update` (an `UPDATE users … RETURNING`) and revokes every session of user `id` in
/// the same transaction; the updated user, or `None` when `update` changed no row.
async fn update_and_end_sessions(
    db: &D1Database,
    update: D1PreparedStatement,
    id: i64,
    now: i64,
    context: &'static str,
) -> Result<Option<UserRow>> {
    let results = db
        .batch(vec![update, sessions::revoke_all(db, id, now)?])
        .await
        .map_err(d1_error(context))?;
    Ok(rows::<UserRow>(&results[0], context)?.into_iter().next())
}

/// Sets a new password hash, raising the token version and ending every session: each
/// token of the user stops working. With `only_if_old`, only while the stored hash is still
/// that one (a change that checked the old password); without, whatever it was (a
/// superuser's reset). The new token version and the user, or `None` when no row changed.
pub async fn set_password(
    db: &D1Database,
    id: i64,
    new: &str,
    only_if_old: Option<&str>,
    now: i64,
) -> Result<Option<(i64, ManagedUser)>> {
    let context = "setting a password";
    let sql = format!(
        "UPDATE users SET hashed_password = ?1, token_version = token_version + 1 \
         WHERE id = ?2 AND (?3 IS NULL OR hashed_password = ?3) \
         RETURNING {USER_COLUMNS}, token_version"
    );
    let args = [new.into(), int(id), text_or_null(only_if_old)];
    let update = statement(db, &sql, &args, context)?;
    let row = update_and_end_sessions(db, update, id, now, context).await?;
    Ok(row.map(|row| (row.token_version, row.into())))
}

/// Activates or deactivates a user. Deactivating also raises the token version and ends
/// every session, so that reactivating later does not bring old tokens back.
pub async fn set_active(
    db: &D1Database,
    id: i64,
    active: bool,
    now: i64,
) -> Result<Option<ManagedUser>> {
    let context = "changing a user's status";
    let sql = format!(
        "UPDATE users SET is_active = ?2, token_version = token_version + 1 - ?2 \
         WHERE id = ?1 RETURNING {USER_COLUMNS}"
    );
    let update = statement(db, &sql, &[int(id), int(active.into())], context)?;
    let row = if active {
        update
            .first::<UserRow>(None)
            .await
            .map_err(d1_error(context))?
    } else {
        update_and_end_sessions(db, update, id, now, context).await?
    };
    Ok(row.map(ManagedUser::from))
}

/// Deletes a user; their recipes, sessions and refresh tokens go with them (foreign keys
/// cascade). `false` when there was no such user.
pub async fn delete(db: &D1Database, id: i64) -> Result<bool> {
    let context = "deleting user";
    let row = statement(
        db,
        "DELETE FROM users WHERE id = ?1 RETURNING id",
        &[int(id)],
        context,
    )?
    .first::<serde_json::Value>(None)
    .await
    .map_err(d1_error(context))?;
    Ok(row.is_some())
}
