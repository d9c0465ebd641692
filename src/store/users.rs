//! The `users` table.
//!
//! Each query reads into a row type of its own, with exactly the columns it selects.

use serde::de::IgnoredAny;
use serde::Deserialize;
use worker::D1PreparedStatement;

use super::caller::{scoped, Caller};
use super::email_tokens::{self, NewToken};
use super::text_or_null;
use super::{first_row, int, is_unique_violation, returned_row, rows, Params};
use super::{sessions, statement, Db};
use crate::domain::account::{ManagedUser, Page, UserList};
use crate::domain::recovery::Purpose;
use crate::domain::user::NameChange;
use crate::domain::{NewUser, User};
use crate::error::Result;

const USER_COLUMNS: &str =
    "id, first_name, surname, email, is_superuser, email_verified, is_active";

/// A user as a superuser sees them: [`USER_COLUMNS`].
#[derive(Deserialize)]
struct UserRow {
    id: i64,
    first_name: Option<String>,
    surname: Option<String>,
    email: String,
    // SQLite has no boolean: 0 or 1.
    is_superuser: i64,
    email_verified: i64,
    is_active: i64,
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
                email_verified: row.email_verified != 0,
            },
            is_active: row.is_active != 0,
        }
    }
}

/// What login needs to know of a user.
pub struct Credentials {
    pub user: ManagedUser,
    pub hashed_password: String,
    pub token_version: i64,
    /// Whether a second factor (TOTP) is on: the password alone then gives no tokens.
    pub second_factor: bool,
}

/// Inserts a user, and issues them `verification` (a token for their verification email) in
/// the same transaction when given; `None` when the email is taken (the schema decides,
/// case-insensitively).
pub async fn insert(
    db: &Db,
    user: &NewUser,
    hashed_password: &str,
    verification: Option<&NewToken<'_>>,
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
    let context = "inserting user";
    let insert = statement(db, &sql, &args, context)?;
    let inserted = match verification {
        None => returned_row::<UserRow>(db, insert, context).await,
        Some(token) => {
            let mut statements = vec![insert];
            statements.extend(email_tokens::issue_by_email_statements(
                db,
                Purpose::VerifyEmail,
                user.email.as_str(),
                token,
            )?);
            db.batch(statements, context)
                .await
                .and_then(|results| rows::<UserRow>(&results[0], context))
                .map(|rows| rows.into_iter().next())
        }
    };
    match inserted {
        Ok(row) => Ok(row.map(|row| ManagedUser::from(row).user)),
        Err(error) if is_unique_violation(&error) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The user with this email (any ASCII case), their password hash and token version; and,
/// in the same statement, the most PBKDF2 iterations of any stored hash (`password_costs`,
/// kept by triggers on `users`), which a login runs whoever it is for. `None` for that only
/// when no user has a hash.
pub async fn find_credentials(db: &Db, email: &str) -> Result<(Option<Credentials>, Option<u32>)> {
    #[derive(Deserialize)]
    struct Found {
        highest_iterations: Option<u32>,
        id: Option<i64>,
    }
    #[derive(Deserialize)]
    struct Secret {
        hashed_password: String,
        token_version: i64,
        second_factor: i64,
    }
    let context = "looking up credentials";
    // One row whether or not the email is known: the user's columns are null when it is not.
    let sql = format!(
        "SELECT costs.highest_iterations, {USER_COLUMNS}, hashed_password, token_version, \
         EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = users.id \
         AND f.enabled_at IS NOT NULL) AS second_factor \
         FROM (SELECT max(iterations) AS highest_iterations FROM password_costs WHERE hashes > 0) \
         AS costs LEFT JOIN users ON users.email = ?1"
    );
    let statement = statement(db, &sql, &[email.into()], context)?;
    let result = db.read(statement, context).await?;
    let Some(found) = rows::<Found>(&result, context)?.into_iter().next() else {
        return Ok((None, None));
    };
    if found.id.is_none() {
        return Ok((None, found.highest_iterations));
    }
    let user = rows::<UserRow>(&result, context)?.into_iter().next();
    let secret = rows::<Secret>(&result, context)?.into_iter().next();
    let credentials = user.zip(secret).map(|(user, secret)| Credentials {
        user: ManagedUser::from(user),
        hashed_password: secret.hashed_password,
        token_version: secret.token_version,
        second_factor: secret.second_factor != 0,
    });
    Ok((credentials, found.highest_iterations))
}

pub async fn find(db: &Db, id: i64) -> Result<Option<ManagedUser>> {
    let context = "looking up user";
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    let row: Option<UserRow> =
        first_row(db, statement(db, &sql, &[int(id)], context)?, context).await?;
    Ok(row.map(ManagedUser::from))
}

/// A page of users by id, and how many there are: one batch, one snapshot.
pub async fn list(db: &Db, page: Page) -> Result<UserList> {
    #[derive(Deserialize)]
    struct Count {
        count: i64,
    }
    let context = "listing users";
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id LIMIT ?1 OFFSET ?2");
    let results = db
        .batch(
            vec![
                statement(db, "SELECT count(*) AS count FROM users", &[], context)?,
                statement(db, &sql, &[int(page.limit), int(page.skip)], context)?,
            ],
            context,
        )
        .await?;
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
pub async fn upgrade_password_hash(db: &Db, id: i64, old: &str, new: &str) -> Result<()> {
    let context = "upgrading password hash";
    let sql = "UPDATE users SET hashed_password = ?1 WHERE id = ?2 AND hashed_password = ?3";
    let update = statement(db, sql, &[new.into(), int(id), old.into()], context)?;
    db.write(update, context).await?;
    Ok(())
}

/// Runs `update` (an `UPDATE users … RETURNING` of user `id`) and, in the same transaction,
/// revokes the user's sessions and recovery links issued under an older token version: when
/// `update` raised the version, every one from before it; when `update` changed nothing (it
/// lost a race), none that the winner issued. The first row `update` returned, by `T`.
async fn update_and_end_stale_sessions<T: serde::de::DeserializeOwned>(
    db: &Db,
    update: D1PreparedStatement,
    id: i64,
    now: i64,
    context: &'static str,
) -> Result<Option<T>> {
    let results = db
        .batch(
            vec![
                update,
                sessions::revoke_stale(db, id, now)?,
                email_tokens::end_stale(db, id)?,
            ],
            context,
        )
        .await?;
    Ok(rows::<T>(&results[0], context)?.into_iter().next())
}

/// The caller's own password change: sets `new` only while the stored hash is still `old`
/// (the one the caller's current password was checked against), raising the token version.
/// The new token version, or `None` when the caller's token is no longer good or another
/// change came first.
pub async fn change_password(
    db: &Db,
    caller: &Caller,
    new: &str,
    old: &str,
    now: i64,
) -> Result<Option<(i64, i64)>> {
    #[derive(Deserialize)]
    struct Row {
        id: i64,
        token_version: i64,
    }
    let context = "changing a password";
    let update = scoped(db, caller, context, |params| {
        format!(
            "UPDATE users SET hashed_password = {}, token_version = token_version + 1 \
             WHERE id = (SELECT id FROM me) AND hashed_password = {} \
             RETURNING id, token_version",
            params.bind(new),
            params.bind(old),
        )
    })?;
    let id = caller.claimed_user_id();
    let row: Option<Row> = update_and_end_stale_sessions(db, update, id, now, context).await?;
    Ok(row.map(|row| (row.id, row.token_version)))
}

/// Sets user `user_id`'s password with a recovery token (stored as `token_hash`), only while
/// the token is live and theirs ([`email_tokens::holds_recovery_token`]) and they are
/// active, raising the token version: every session and recovery link of theirs ends, the
/// token used included. The email counts as verified: the link reached it. `false` when the
/// token did not work; of two resets with one token, one wins.
pub async fn reset_with_token(
    db: &Db,
    user_id: i64,
    token_hash: &str,
    new: &str,
    now: i64,
) -> Result<bool> {
    let context = "resetting a password by email";
    let mut params = Params::default();
    let sql = format!(
        "UPDATE users SET hashed_password = {}, token_version = token_version + 1, \
         email_verified = 1 WHERE id = {} AND is_active = 1 AND {} RETURNING id",
        params.bind(new),
        params.bind(int(user_id)),
        email_tokens::holds_recovery_token(&mut params, token_hash, now),
    );
    let update = params.prepare(db, &sql, context)?;
    let row: Option<IgnoredAny> =
        update_and_end_stale_sessions(db, update, user_id, now, context).await?;
    Ok(row.is_some())
}

/// The condition, in a statement scoped to a caller, that the caller is a superuser acting
/// on someone other than themselves (`users.id`).
const BY_ANOTHER_SUPERUSER: &str =
    "EXISTS (SELECT 1 FROM me WHERE is_superuser = 1 AND me.id <> users.id)";

/// A superuser's reset of user `id`'s password, raising the token version so every token of
/// theirs stops working. `None` when there is no such user or the caller may no longer.
pub async fn reset_password(
    db: &Db,
    caller: &Caller,
    id: i64,
    new: &str,
    now: i64,
) -> Result<Option<ManagedUser>> {
    let context = "resetting a password";
    let update = scoped(db, caller, context, |params| {
        format!(
            "UPDATE users SET hashed_password = {}, token_version = token_version + 1 \
             WHERE id = {} AND {BY_ANOTHER_SUPERUSER} RETURNING {USER_COLUMNS}",
            params.bind(new),
            params.bind(int(id)),
        )
    })?;
    let row: Option<UserRow> = update_and_end_stale_sessions(db, update, id, now, context).await?;
    Ok(row.map(ManagedUser::from))
}

/// What a superuser's reset of a user's second factor came to.
#[derive(Debug, PartialEq, Eq)]
pub enum FactorReset {
    /// The factor, its recovery codes and pending second steps are gone, and every token
    /// and session of the user has ended.
    Done,
    /// The user has no second factor (on or pending): nothing changed.
    NoFactor,
    /// No such user, or the caller may no longer act as a superuser.
    Refused,
}

/// A superuser removes user `id`'s second factor (for a user who lost their authenticator
/// and recovery codes), raising the token version so every token of theirs stops working.
/// The superuser check and the factor's existence are decided in the statements that write.
pub async fn reset_second_factor(
    db: &Db,
    caller: &Caller,
    id: i64,
    now: i64,
) -> Result<FactorReset> {
    let context = "resetting a second factor";
    let had_factor = statement(
        db,
        "SELECT 1 FROM totp_factors WHERE user_id = ?1",
        &[int(id)],
        context,
    )?;
    let update = scoped(db, caller, context, |params| {
        format!(
            "UPDATE users SET token_version = token_version + 1 WHERE id = {} \
             AND {BY_ANOTHER_SUPERUSER} AND EXISTS (SELECT 1 FROM totp_factors f \
             WHERE f.user_id = users.id) RETURNING id",
            params.bind(int(id)),
        )
    })?;
    let mut statements = vec![had_factor, update];
    for table in ["totp_recovery_codes", "mfa_tokens", "totp_factors"] {
        statements.push(scoped(db, caller, context, |params| {
            let id = params.bind(int(id));
            format!(
                "DELETE FROM {table} WHERE user_id = {id} AND EXISTS (SELECT 1 FROM me \
                 WHERE is_superuser = 1 AND me.id <> {id})"
            )
        })?);
    }
    statements.push(sessions::revoke_stale(db, id, now)?);
    statements.push(email_tokens::end_stale(db, id)?);
    let results = db.batch(statements, context).await?;
    let found =
        |i: usize| -> Result<bool> { Ok(!rows::<IgnoredAny>(&results[i], context)?.is_empty()) };
    Ok(if found(1)? {
        FactorReset::Done
    } else if !found(0)? {
        FactorReset::NoFactor
    } else {
        FactorReset::Refused
    })
}

/// A superuser activates or deactivates user `id`. Deactivating also raises the token
/// version and ends every session, so that reactivating later does not bring old tokens
/// back. `None` when there is no such user or the caller may no longer act: of two
/// superusers deactivating each other at once, the second finds itself inactive.
pub async fn set_active(
    db: &Db,
    caller: &Caller,
    id: i64,
    active: bool,
    now: i64,
) -> Result<Option<ManagedUser>> {
    let context = "changing a user's status";
    let update = scoped(db, caller, context, |params| {
        let active = params.bind(int(active.into()));
        format!(
            "UPDATE users SET is_active = {active}, token_version = token_version + 1 - {active} \
             WHERE id = {} AND {BY_ANOTHER_SUPERUSER} RETURNING {USER_COLUMNS}",
            params.bind(int(id)),
        )
    })?;
    let row: Option<UserRow> = update_and_end_stale_sessions(db, update, id, now, context).await?;
    Ok(row.map(ManagedUser::from))
}

/// A superuser deletes user `id`; their recipes, sessions and refresh tokens go with them
/// (foreign keys cascade). `false` when there is no such user or the caller may no longer.
pub async fn delete(db: &Db, caller: &Caller, id: i64) -> Result<bool> {
    let context = "deleting a user";
    let delete = scoped(db, caller, context, |params| {
        format!(
            "DELETE FROM users WHERE id = {} AND {BY_ANOTHER_SUPERUSER} RETURNING id",
            params.bind(int(id))
        )
    })?;
    let row: Option<IgnoredAny> = returned_row(db, delete, context).await?;
    Ok(row.is_some())
}

/// Changes the caller's own names (see [`NameChange`]); `None` when the caller's token is
/// no longer good.
pub async fn rename_own(db: &Db, caller: &Caller, change: &NameChange) -> Result<Option<User>> {
    let context = "renaming oneself";
    let update = scoped(db, caller, context, |params| {
        let mut set = |column: &str, value: &Option<Option<String>>| {
            let keep = params.bind(int((value.is_none()).into()));
            let new = params.bind(text_or_null(value.clone().flatten().as_deref()));
            format!("{column} = CASE WHEN {keep} = 1 THEN {column} ELSE {new} END")
        };
        let first_name = set("first_name", &change.first_name);
        let surname = set("surname", &change.surname);
        format!(
            "UPDATE users SET {first_name}, {surname} WHERE id = (SELECT id FROM me) \
             RETURNING {USER_COLUMNS}"
        )
    })?;
    let row: Option<UserRow> = returned_row(db, update, context).await?;
    Ok(row.map(|row| ManagedUser::from(row).user))
}

/// Deletes the caller's own account, unless they are a superuser. `false` when nothing was
/// deleted: the caller's token is no longer good, or they are a superuser.
pub async fn delete_own(db: &Db, caller: &Caller) -> Result<bool> {
    let context = "deleting one's account";
    let sql = "DELETE FROM users WHERE id = (SELECT id FROM me WHERE is_superuser = 0) \
               RETURNING id";
    let delete = scoped(db, caller, context, |_| sql.into())?;
    let row: Option<IgnoredAny> = returned_row(db, delete, context).await?;
    Ok(row.is_some())
}
