//! Authentication in the database: the one way a statement learns who is calling.
//!
//! A verified access token becomes a [`Caller`], whose claims only this module reads. What
//! the store can do with a caller is [`scoped`]: a statement run under `WITH me AS (…)`, the
//! caller's user row if, and only if, the user exists, is active, still has the token's
//! version and — for a token that names one — the token's session is live. A statement that
//! reads or writes the caller's data takes the caller's id from `me`, so the check cannot be
//! forgotten: without it there is no id to use, and the check happens in the same statement
//! as the read or write, never before it. [`CurrentUser`] is built only from a row of `me`.

use serde::Deserialize;
use worker::D1PreparedStatement;

use super::{first_row, first_row_split, int, text_or_null, Db, Params};
use crate::domain::{Me, User};
use crate::error::Result;
use crate::security::Subject;

/// Whom a verified bearer token names, not yet checked against the database.
#[derive(Debug, Clone)]
pub struct Caller(Subject);

impl From<Subject> for Caller {
    fn from(subject: Subject) -> Caller {
        Caller(subject)
    }
}

impl Caller {
    /// The user id the token claims, unchecked: for refusing a request outright (someone
    /// naming another user), never for reading or writing data.
    pub fn claimed_user_id(&self) -> i64 {
        self.0.user_id
    }

    /// The token's claims, unchecked: for binding a provider's linking flow to the caller,
    /// whose callback then acts as this caller (checked again there), never for data.
    pub fn claims(&self) -> &Subject {
        &self.0
    }

    /// The session the token names, for a statement that tells it apart from the caller's
    /// other sessions; whether it is live is `me`'s to check.
    pub(super) fn session_id(&self) -> Option<&str> {
        self.0.session_id.as_deref()
    }
}

/// `sql` run as `caller`, with `me` defined: the caller's row while their token is good,
/// the user active, with the token's version and — for a token that names one — its session
/// live. `sql` gets the statement's [`Params`] after `me` has bound the caller's values, and
/// binds its own.
pub(super) fn scoped(
    db: &Db,
    caller: &Caller,
    context: &'static str,
    sql: impl FnOnce(&mut Params) -> String,
) -> Result<D1PreparedStatement> {
    let Subject {
        user_id,
        token_version,
        session_id,
    } = &caller.0;
    let mut params = Params::default();
    let id = params.bind(int(*user_id));
    let version = params.bind(int(*token_version));
    // NULL for tokens issued before sessions were named in them.
    let session = params.bind(text_or_null(session_id.as_deref()));
    let me = format!(
        "WITH me AS (SELECT id, first_name, surname, email, is_superuser, email_verified \
         FROM users WHERE id = {id} AND is_active = 1 AND token_version = {version} \
         AND ({session} IS NULL OR EXISTS (SELECT 1 FROM sessions WHERE sessions.id = {session} \
         AND sessions.user_id = {id} AND sessions.revoked_at IS NULL))) "
    );
    let sql = sql(&mut params);
    params.prepare(db, &format!("{me}{sql}"), context)
}

/// The caller, checked: their token is good at the moment the statement ran.
#[derive(Debug)]
pub struct CurrentUser {
    caller: Caller,
    user: User,
}

impl CurrentUser {
    pub fn user(&self) -> &User {
        &self.user
    }

    pub fn id(&self) -> i64 {
        self.user.id
    }

    pub fn is_superuser(&self) -> bool {
        self.user.is_superuser
    }

    /// The token it was checked from, for a write that must check it again as it writes.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

/// A row of `me`.
#[derive(Deserialize)]
pub(super) struct MeRow {
    id: i64,
    first_name: Option<String>,
    surname: Option<String>,
    email: String,
    // SQLite has no boolean: 0 or 1.
    is_superuser: i64,
    email_verified: i64,
}

impl MeRow {
    pub(super) fn into_current(self, caller: &Caller) -> CurrentUser {
        CurrentUser {
            caller: caller.clone(),
            user: User {
                id: self.id,
                first_name: self.first_name,
                surname: self.surname,
                email: self.email,
                is_superuser: self.is_superuser != 0,
                email_verified: self.email_verified != 0,
            },
        }
    }
}

/// The caller's user, or `None` when their token is no longer good (one statement).
pub async fn authenticate(db: &Db, caller: &Caller) -> Result<Option<CurrentUser>> {
    let context = "authenticating";
    let statement = scoped(db, caller, context, |_| "SELECT * FROM me".into())?;
    let row: Option<MeRow> = first_row(db, statement, context).await?;
    Ok(row.map(|row| row.into_current(caller)))
}

/// As [`authenticate`], with the user's password hash, for a handler that asks for the
/// password again.
pub async fn authenticate_with_password(
    db: &Db,
    caller: &Caller,
) -> Result<Option<(CurrentUser, String)>> {
    #[derive(Deserialize)]
    struct Hash {
        hashed_password: String,
    }
    let context = "authenticating with the password hash";
    let statement = scoped(db, caller, context, |_| {
        "SELECT me.*, users.hashed_password FROM me JOIN users ON users.id = me.id".into()
    })?;
    let row: Option<(MeRow, Hash)> = first_row_split(db, statement, context).await?;
    Ok(row.map(|(me, hash)| (me.into_current(caller), hash.hashed_password)))
}

/// The caller with the state of their ways in ([`Me`]), or `None` when their token is no
/// longer good (one statement).
pub async fn account(db: &Db, caller: &Caller) -> Result<Option<Me>> {
    #[derive(Deserialize)]
    struct WaysIn {
        // SQLite has no boolean: 0 or 1.
        mfa_enabled: i64,
        has_password: i64,
    }
    let context = "reading one's account";
    let statement = scoped(db, caller, context, |_| {
        "SELECT me.*, users.hashed_password <> '' AS has_password, \
         EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = me.id \
         AND f.enabled_at IS NOT NULL) AS mfa_enabled \
         FROM me JOIN users ON users.id = me.id"
            .into()
    })?;
    let row: Option<(MeRow, WaysIn)> = first_row_split(db, statement, context).await?;
    Ok(row.map(|(me, ways)| Me {
        user: me.into_current(caller).user,
        mfa_enabled: ways.mfa_enabled != 0,
        has_password: ways.has_password != 0,
    }))
}
