//! The `passkeys` and `used_passkey_challenges` tables, and users' `passkey_handle`.
//!
//! What is decided is decided in the statement that writes: a registration and a deletion
//! need a fresh session (the caller's `sid` signed in after `fresh_since`), checked in the
//! INSERT or DELETE itself; a deletion keeps the user's last way in; and a challenge is
//! recorded as used in the batch that writes the ceremony's result, where a second use fails
//! the whole batch (PRIMARY KEY), so nothing of it is written.

use serde::de::IgnoredAny;
use serde::Deserialize;
use worker::D1PreparedStatement;

use super::caller::{scoped, Caller};
use super::{first_row, int, is_unique_violation, rows, statement, Db, Params};
use crate::domain::device::rfc3339;
use crate::domain::passkey::Passkey;
use crate::error::{ApiError, Result};
use crate::security::webauthn::{encode, NewPasskey};

/// The most passkeys a user keeps.
pub const MAX_PASSKEYS_PER_USER: i64 = 20;

/// What a request about the caller's passkeys came to.
#[derive(Debug)]
pub enum Outcome<T> {
    Done(T),
    /// No such passkey of the caller's (or, registering, the credential is registered
    /// already, or the caller has the most passkeys allowed).
    NotFound,
    /// The caller's session signed in too long ago for this.
    Stale,
    /// It is the caller's last way in: no password, no identity, no other passkey.
    LastWayIn,
    /// The caller's token is no longer good.
    NotAuthenticated,
    /// The challenge was answered before.
    Replayed,
}

/// Whether a batch failed because a challenge was recorded as used twice.
fn replayed(error: &ApiError) -> bool {
    is_unique_violation(error)
        && matches!(error, ApiError::Internal(cause) if cause.contains("used_passkey_challenges"))
}

/// As [`replayed`], for the batch a session starts in (src/api/auth.rs `start_session`).
pub fn is_replayed_challenge(error: &ApiError) -> bool {
    replayed(error)
}

/// `me`'s session is fresh: it signed in after `since`.
fn fresh(params: &mut Params, caller: &Caller, since: i64) -> String {
    let session = params.bind(caller.session_id().unwrap_or_default());
    let since = params.bind(int(since));
    format!(
        "EXISTS (SELECT 1 FROM sessions s WHERE s.id = {session} \
         AND s.user_id = (SELECT id FROM me) AND s.created_at > {since})"
    )
}

/// The caller and whether their session is fresh: the first statement of a batch.
fn me_and_freshness(
    db: &Db,
    caller: &Caller,
    since: i64,
    context: &'static str,
) -> Result<D1PreparedStatement> {
    scoped(db, caller, context, |params| {
        format!("SELECT {} AS fresh FROM me", fresh(params, caller, since))
    })
}

/// What the first statement said: `None` to go on, or why not.
fn refused_caller<T>(
    result: &worker::D1Result,
    context: &'static str,
) -> Result<Option<Outcome<T>>> {
    #[derive(Deserialize)]
    struct Me {
        fresh: i64,
    }
    Ok(match rows::<Me>(result, context)?.into_iter().next() {
        None => Some(Outcome::NotAuthenticated),
        Some(me) if me.fresh == 0 => Some(Outcome::Stale),
        Some(_) => None,
    })
}

/// The statement recording the challenge with hash `hash`, good until `expires_at`, as used.
pub fn use_challenge(db: &Db, (hash, expires_at): (&str, i64)) -> Result<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO used_passkey_challenges (challenge_hash, expires_at) VALUES (?1, ?2)",
        &[hash.into(), int(expires_at)],
        "using a passkey challenge",
    )
}

/// What creation options need: the caller's handle, email and name, and their passkeys.
pub struct Registering {
    pub user_id: i64,
    pub handle: String,
    pub email: String,
    pub display_name: String,
    /// Credential ids and transports, for `excludeCredentials`.
    pub existing: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct CredentialRow {
    credential_id: String,
    transports: String,
}

/// Begins a registration for the caller, on a fresh session: their passkey handle (the one
/// they have, or `new_handle`, stored now) and their passkeys.
pub async fn start_registration(
    db: &Db,
    caller: &Caller,
    new_handle: &str,
    fresh_since: i64,
) -> Result<Outcome<Registering>> {
    #[derive(Deserialize)]
    struct Me {
        id: i64,
        email: String,
        first_name: Option<String>,
        surname: Option<String>,
    }
    #[derive(Deserialize)]
    struct Handle {
        passkey_handle: String,
    }
    let context = "starting a passkey registration";
    let statements = vec![
        me_and_freshness(db, caller, fresh_since, context)?,
        scoped(db, caller, context, |params| {
            format!(
                "UPDATE users SET passkey_handle = coalesce(passkey_handle, {}) \
                 WHERE id = (SELECT id FROM me) AND {} RETURNING passkey_handle",
                params.bind(new_handle),
                fresh(params, caller, fresh_since)
            )
        })?,
        scoped(db, caller, context, |_| {
            "SELECT credential_id, transports FROM passkeys \
             WHERE user_id = (SELECT id FROM me) ORDER BY id"
                .into()
        })?,
        scoped(db, caller, context, |_| {
            "SELECT id, email, first_name, surname FROM me".into()
        })?,
    ];
    let results = db.batch(statements, context).await?;
    if let Some(refused) = refused_caller(&results[0], context)? {
        return Ok(refused);
    }
    let (Some(handle), Some(me)) = (
        rows::<Handle>(&results[1], context)?.into_iter().next(),
        rows::<Me>(&results[3], context)?.into_iter().next(),
    ) else {
        return Ok(Outcome::Stale);
    };
    let display_name = [me.first_name, me.surname]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Outcome::Done(Registering {
        user_id: me.id,
        handle: handle.passkey_handle,
        display_name: if display_name.trim().is_empty() {
            me.email.clone()
        } else {
            display_name
        },
        email: me.email,
        existing: rows::<CredentialRow>(&results[2], context)?
            .into_iter()
            .map(|row| (row.credential_id, row.transports))
            .collect(),
    }))
}

const PASSKEY_COLUMNS: &str = "id, name, credential_id, transports, backup_eligible, \
                               backed_up, created_at, last_used_at";

#[derive(Deserialize)]
struct PasskeyRow {
    id: i64,
    name: String,
    credential_id: String,
    transports: String,
    backup_eligible: i64,
    backed_up: i64,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<PasskeyRow> for Passkey {
    fn from(row: PasskeyRow) -> Passkey {
        Passkey {
            id: row.id,
            name: row.name,
            credential_id: row.credential_id,
            transports: row
                .transports
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
            backup_eligible: row.backup_eligible != 0,
            backed_up: row.backed_up != 0,
            created_at: rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(rfc3339),
        }
    }
}

/// Stores the caller's new passkey, named `name`, on a fresh session, and records the
/// challenge it answered as used (`challenge`: its hash and expiry), in one transaction.
pub async fn register(
    db: &Db,
    caller: &Caller,
    (passkey, name): (&NewPasskey, &str),
    challenge: (&str, i64),
    (now, fresh_since): (i64, i64),
) -> Result<Outcome<Passkey>> {
    let context = "registering a passkey";
    let insert = scoped(db, caller, context, |params| {
        let values = [
            params.bind(encode(&passkey.credential_id)),
            params.bind(encode(&passkey.public_key)),
            params.bind(int(passkey.algorithm)),
            params.bind(int(i64::from(passkey.sign_count))),
            params.bind(passkey.transports.join(",")),
            params.bind(int(passkey.backup_eligible.into())),
            params.bind(int(passkey.backed_up.into())),
            params.bind(name),
            params.bind(int(now)),
        ]
        .join(", ");
        let fresh = fresh(params, caller, fresh_since);
        let max = params.bind(int(MAX_PASSKEYS_PER_USER));
        format!(
            "INSERT INTO passkeys (user_id, credential_id, public_key, algorithm, sign_count, \
             transports, backup_eligible, backed_up, name, created_at) \
             SELECT id, {values} FROM me WHERE {fresh} \
             AND (SELECT count(*) FROM passkeys WHERE user_id = me.id) < {max} \
             ON CONFLICT (credential_id) DO NOTHING RETURNING {PASSKEY_COLUMNS}"
        )
    })?;
    let statements = vec![
        me_and_freshness(db, caller, fresh_since, context)?,
        use_challenge(db, challenge)?,
        insert,
    ];
    let results = match db.batch(statements, context).await {
        Err(error) if replayed(&error) => return Ok(Outcome::Replayed),
        other => other?,
    };
    if let Some(refused) = refused_caller(&results[0], context)? {
        return Ok(refused);
    }
    Ok(
        match rows::<PasskeyRow>(&results[2], context)?.into_iter().next() {
            Some(row) => Outcome::Done(row.into()),
            None => Outcome::NotFound,
        },
    )
}

/// The caller's passkeys, oldest first; `None` when the caller may no longer act.
pub async fn list(db: &Db, caller: &Caller) -> Result<Option<Vec<Passkey>>> {
    let context = "listing passkeys";
    let results = db
        .batch(
            vec![
                scoped(db, caller, context, |_| "SELECT id FROM me".into())?,
                scoped(db, caller, context, |_| {
                    format!(
                        "SELECT {PASSKEY_COLUMNS} FROM passkeys \
                         WHERE user_id = (SELECT id FROM me) ORDER BY id"
                    )
                })?,
            ],
            context,
        )
        .await?;
    if rows::<IgnoredAny>(&results[0], context)?.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows::<PasskeyRow>(&results[1], context)?
            .into_iter()
            .map(Passkey::from)
            .collect(),
    ))
}

/// Renames the caller's passkey `id`.
pub async fn rename(db: &Db, caller: &Caller, id: i64, name: &str) -> Result<Outcome<Passkey>> {
    let context = "renaming a passkey";
    let results = db
        .batch(
            vec![
                scoped(db, caller, context, |_| "SELECT id FROM me".into())?,
                scoped(db, caller, context, |params| {
                    format!(
                        "UPDATE passkeys SET name = {} WHERE id = {} \
                         AND user_id = (SELECT id FROM me) RETURNING {PASSKEY_COLUMNS}",
                        params.bind(name),
                        params.bind(int(id))
                    )
                })?,
            ],
            context,
        )
        .await?;
    if rows::<IgnoredAny>(&results[0], context)?.is_empty() {
        return Ok(Outcome::NotAuthenticated);
    }
    Ok(
        match rows::<PasskeyRow>(&results[1], context)?.into_iter().next() {
            Some(row) => Outcome::Done(row.into()),
            None => Outcome::NotFound,
        },
    )
}

/// Deletes the caller's passkey `id`, on a fresh session, only while a password, an identity
/// or another passkey remains: decided in the DELETE, so two requests removing a user's last
/// two passkeys at once cannot both succeed.
pub async fn delete(db: &Db, caller: &Caller, id: i64, fresh_since: i64) -> Result<Outcome<()>> {
    let context = "deleting a passkey";
    let delete = scoped(db, caller, context, |params| {
        let id = params.bind(int(id));
        let fresh = fresh(params, caller, fresh_since);
        format!(
            "DELETE FROM passkeys WHERE id = {id} AND user_id = (SELECT id FROM me) AND {fresh} \
             AND (EXISTS (SELECT 1 FROM users u WHERE u.id = passkeys.user_id \
             AND u.hashed_password <> '') \
             OR EXISTS (SELECT 1 FROM identities i WHERE i.user_id = passkeys.user_id) \
             OR EXISTS (SELECT 1 FROM passkeys other WHERE other.user_id = passkeys.user_id \
             AND other.id <> passkeys.id)) RETURNING id"
        )
    })?;
    let remains = scoped(db, caller, context, |params| {
        format!(
            "SELECT 1 FROM passkeys WHERE id = {} AND user_id = (SELECT id FROM me)",
            params.bind(int(id))
        )
    })?;
    let statements = vec![
        me_and_freshness(db, caller, fresh_since, context)?,
        delete,
        remains,
    ];
    let results = db.batch(statements, context).await?;
    if let Some(refused) = refused_caller(&results[0], context)? {
        return Ok(refused);
    }
    let found =
        |i: usize| -> Result<bool> { Ok(!rows::<IgnoredAny>(&results[i], context)?.is_empty()) };
    Ok(if found(1)? {
        Outcome::Done(())
    } else if found(2)? {
        Outcome::LastWayIn
    } else {
        Outcome::NotFound
    })
}

/// A passkey as a sign-in finds it by its credential id, with its user.
#[derive(Debug, Deserialize)]
pub struct SigningIn {
    pub id: i64,
    pub user_id: i64,
    /// The COSE key, base64url.
    pub public_key: String,
    pub sign_count: i64,
    pub passkey_handle: Option<String>,
    pub token_version: i64,
    pub is_active: i64,
    pub email_verified: i64,
}

/// The passkey with credential id `credential_id` (base64url), and its user.
pub async fn find(db: &Db, credential_id: &str) -> Result<Option<SigningIn>> {
    let context = "finding a passkey";
    let statement = statement(
        db,
        "SELECT p.id, p.user_id, p.public_key, p.sign_count, u.passkey_handle, \
         u.token_version, u.is_active, u.email_verified FROM passkeys p \
         JOIN users u ON u.id = p.user_id WHERE p.credential_id = ?1",
        &[credential_id.into()],
        context,
    )?;
    first_row(db, statement, context).await
}

/// Records a sign-in with passkey `id`: its new counter, backup state and time. The counter
/// is decided here, in the statement that writes: it must move forward from the stored one,
/// or stay at zero on both sides (WebAuthn §7.2 step 22, `webauthn::counter_advances`).
/// Otherwise the new value is NULL, which `sign_count NOT NULL` refuses, failing the whole
/// batch ([`is_counter_regression`]), so that of two sign-ins presenting one counter value,
/// only the first to write succeeds and nothing of the other is written.
pub fn signed_in(
    db: &Db,
    id: i64,
    (sign_count, backed_up): (u32, bool),
    now: i64,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        "UPDATE passkeys SET sign_count = CASE WHEN ?2 > sign_count OR (?2 = 0 AND \
         sign_count = 0) THEN ?2 END, backed_up = ?3, last_used_at = ?4 WHERE id = ?1",
        &[
            int(id),
            int(i64::from(sign_count)),
            int(backed_up.into()),
            int(now),
        ],
        "recording a passkey sign-in",
    )
}

/// Whether a batch failed because [`signed_in`] found the counter had not moved forward.
pub fn is_counter_regression(error: &ApiError) -> bool {
    matches!(error, ApiError::Internal(cause)
        if cause.contains("NOT NULL constraint failed: passkeys.sign_count"))
}

/// The user whose login waits with the `mfa_token` stored as `token_hash` (unexpired,
/// unclaimed, of their current token version, active), and their passkeys' credential ids
/// and transports. `None` for no such login.
pub async fn second_step_credentials(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> Result<Option<(i64, Vec<(String, String)>)>> {
    #[derive(Deserialize)]
    struct Row {
        user_id: i64,
        credential_id: Option<String>,
        transports: Option<String>,
    }
    let context = "reading a second step's passkeys";
    let statement = statement(
        db,
        "SELECT m.user_id, p.credential_id, p.transports FROM mfa_tokens m \
         JOIN users u ON u.id = m.user_id LEFT JOIN passkeys p ON p.user_id = m.user_id \
         WHERE m.token_hash = ?1 AND m.claimed_by IS NULL AND m.expires_at > ?2 \
         AND m.token_version = u.token_version AND u.is_active = 1 ORDER BY p.id",
        &[token_hash.into(), int(now)],
        context,
    )?;
    let result = db.read(statement, context).await?;
    let rows = rows::<Row>(&result, context)?;
    let Some(user_id) = rows.first().map(|row| row.user_id) else {
        return Ok(None);
    };
    let credentials = rows
        .into_iter()
        .filter_map(|row| Some((row.credential_id?, row.transports.unwrap_or_default())))
        .collect();
    Ok(Some((user_id, credentials)))
}

/// Claims the waiting login stored as `token_hash` for the session `claim`, answered with a
/// passkey whose challenge (`challenge`: hash and expiry) is recorded as used in the same
/// transaction. `Done` when claimed; `NotFound` when the token is no longer good.
pub async fn claim_second_step(
    db: &Db,
    token_hash: &str,
    claim: &str,
    challenge: (&str, i64),
    now: i64,
) -> Result<Outcome<()>> {
    let context = "claiming a second step with a passkey";
    let claim = statement(
        db,
        "UPDATE mfa_tokens AS m SET claimed_by = ?2 WHERE m.token_hash = ?1 \
         AND m.claimed_by IS NULL AND m.expires_at > ?3 \
         AND m.token_version = (SELECT token_version FROM users u \
         WHERE u.id = m.user_id AND u.is_active = 1) RETURNING user_id",
        &[token_hash.into(), claim.into(), int(now)],
        context,
    )?;
    let results = match db
        .batch(vec![use_challenge(db, challenge)?, claim], context)
        .await
    {
        Err(error) if replayed(&error) => return Ok(Outcome::Replayed),
        other => other?,
    };
    Ok(if rows::<IgnoredAny>(&results[1], context)?.is_empty() {
        Outcome::NotFound
    } else {
        Outcome::Done(())
    })
}
