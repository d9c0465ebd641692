//! The `sessions` and `refresh_tokens` tables: logins, and the refresh tokens of each, with
//! rotation and reuse detection as the OAuth 2.0 Security BCP (RFC 9700 §4.14.2) describes.
//! Every operation is one batch: one round trip and one transaction.

use serde::de::IgnoredAny;
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use super::caller::{scoped, Caller};
use super::{int, rows, statement, text_or_null, Db};
use crate::domain::device::rfc3339;
use crate::domain::{Device, SignedInDevice};
use crate::error::Result;
use crate::security::Subject;

/// The most live sessions a user keeps: a new login beyond them ends the oldest, so that no
/// one, the account's owner included, can make D1 hold an unbounded number of them.
pub const MAX_SESSIONS_PER_USER: i64 = 100;

/// Starts a session for `subject` (its user, token version and new session id) from
/// `device`, with its first refresh token (stored by `token_hash`, expiring at `expires_at`),
/// and forgets the
/// user's sessions that have ended: revoked, past `max_age` seconds, or with every token
/// expired.
///
/// The session is created only while the user is active, has a verified email if
/// `require_verified`, and still has the token version the caller read with the password it
/// checked: a password change, reset or deactivation between the check and this statement
/// leaves nothing behind. `false` then (and when the user was deleted meanwhile). Beyond
/// [`MAX_SESSIONS_PER_USER`], the user's oldest sessions end. `also` runs in the same batch,
/// after.
pub async fn start(
    db: &Db,
    subject: &Subject,
    device: &Device,
    token_hash: &str,
    (now, expires_at, max_age): (i64, i64, i64),
    require_verified: bool,
    also: Vec<D1PreparedStatement>,
) -> Result<bool> {
    let context = "starting a session";
    let session_id = subject.session_id.as_deref().unwrap_or_default();
    let user_id = int(subject.user_id);
    let mut statements = vec![
        statement(
            db,
            "DELETE FROM sessions WHERE user_id = ?1 AND (revoked_at IS NOT NULL \
                 OR created_at <= ?2 - ?3 OR NOT EXISTS (SELECT 1 FROM refresh_tokens t \
                 WHERE t.session_id = sessions.id AND t.expires_at > ?2))",
            &[user_id.clone(), int(now), int(max_age)],
            context,
        )?,
        statement(
            db,
            "INSERT INTO sessions (id, user_id, created_at, token_version, last_used_at, \
                 user_agent, country, city) \
                 SELECT ?1, id, ?3, token_version, ?3, ?6, ?7, ?8 FROM users \
                 WHERE id = ?2 AND token_version = ?4 AND is_active = 1 \
                 AND (?5 = 0 OR email_verified = 1) RETURNING id",
            &[
                session_id.into(),
                user_id,
                int(now),
                int(subject.token_version),
                int(require_verified.into()),
                text_or_null(device.user_agent.as_deref()),
                text_or_null(device.country.as_deref()),
                text_or_null(device.city.as_deref()),
            ],
            context,
        )?,
        statement(
            db,
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) \
                 SELECT ?1, id, ?3 FROM sessions WHERE id = ?2",
            &[token_hash.into(), session_id.into(), int(expires_at)],
            context,
        )?,
        statement(
            db,
            "DELETE FROM sessions WHERE user_id = ?1 AND id NOT IN (SELECT id FROM sessions \
                 WHERE user_id = ?1 ORDER BY created_at DESC, id LIMIT ?2)",
            &[int(subject.user_id), int(MAX_SESSIONS_PER_USER)],
            context,
        )?,
    ];
    statements.extend(also);
    let results = db.batch(statements, context).await?;
    Ok(!rows::<IgnoredAny>(&results[1], context)?.is_empty())
}

/// What a refresh came to.
#[derive(Debug)]
pub enum Rotation {
    /// The token's successor is stored; the pair is for this subject, with the successor
    /// whose hash is `successor_hash`.
    Rotated {
        subject: Subject,
        successor_hash: String,
    },
    /// The token had been used before: its session (of this user) is now revoked.
    Reused { user_id: i64 },
    /// Unknown, expired, of an ended session, or of a user who may no longer act.
    Refused,
}

/// Exchanges the refresh token stored as `old_hash` for its successor, stored as `new_hash`
/// (derived from the old token, so the same each time it is asked for), expiring at
/// `expires_at` or when the session reaches `max_age` seconds, whichever is first.
///
/// A token used less than `reuse_seconds` ago is a retry, not a reuse: a client whose answer
/// was lost presents it again, and is answered with the successor its rotation stored, not
/// with another: a session has one live refresh token, always (its grace window is counted
/// from its own rotation, which a retry does not move). Used longer ago, it is reuse.
///
/// One transaction, in this order:
/// 1. reuse: if the old token was used `reuse_seconds` ago or more, its session is revoked;
/// 2. the successor is inserted, only if the old token is unused and unexpired, its session
///    is live, younger than `max_age` and of the user's current token version, and the user
///    is active;
/// 3. the old token is marked used, with its successor, only if it was unused and the
///    successor was inserted;
/// 4. the session records the refresh as its last use;
/// 5. the session's expired tokens are dropped;
/// 6. the old token's successor, its user and session are read, if the old token was used
///    within the window, the successor is unexpired and the session and user may still act.
///    (A successor already refreshed itself is still the answer: whoever holds it next
///    presents a used token, which is a retry or reuse in its turn, never a second chain.)
///
/// Transactions run one at a time, so of two refreshes with the same token exactly one
/// finds it unused and stores its successor; the other is a retry within the window, which
/// reads that same successor, or reuse after it.
pub async fn rotate(
    db: &Db,
    old_hash: &str,
    new_hash: &str,
    (now, expires_at, max_age): (i64, i64, i64),
    reuse_seconds: i64,
) -> Result<Rotation> {
    #[derive(Deserialize)]
    struct Revoked {
        user_id: i64,
    }
    #[derive(Deserialize)]
    struct Row {
        user_id: i64,
        token_version: i64,
        session_id: String,
        successor_hash: String,
    }
    let context = "rotating a refresh token";
    let (old, new, now) = (JsValue::from(old_hash), JsValue::from(new_hash), int(now));
    let (reuse, max_age) = (int(reuse_seconds), int(max_age));
    let results = db
        .batch(
            vec![
                statement(
                    db,
                    "UPDATE sessions SET revoked_at = ?2 WHERE revoked_at IS NULL AND id = \
                 (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1 \
                  AND used_at <= ?2 - ?3) RETURNING user_id",
                    &[old.clone(), now.clone(), reuse.clone()],
                    context,
                )?,
                statement(
                    db,
                    "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) \
                 SELECT ?2, t.session_id, min(?4, s.created_at + ?5) FROM refresh_tokens t \
                 JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
                 WHERE t.token_hash = ?1 AND t.used_at IS NULL AND t.expires_at > ?3 \
                 AND s.revoked_at IS NULL AND s.created_at + ?5 > ?3 \
                 AND s.token_version = u.token_version AND u.is_active = 1",
                    &[
                        old.clone(),
                        new.clone(),
                        now.clone(),
                        int(expires_at),
                        max_age.clone(),
                    ],
                    context,
                )?,
                statement(
                    db,
                    "UPDATE refresh_tokens SET used_at = ?3, successor_hash = ?2 \
                 WHERE token_hash = ?1 AND used_at IS NULL AND EXISTS \
                 (SELECT 1 FROM refresh_tokens WHERE token_hash = ?2)",
                    &[old.clone(), new.clone(), now.clone()],
                    context,
                )?,
                statement(
                    db,
                    "UPDATE sessions SET last_used_at = ?2 WHERE id = \
                 (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1)",
                    &[new.clone(), now.clone()],
                    context,
                )?,
                statement(
                    db,
                    "DELETE FROM refresh_tokens WHERE expires_at <= ?2 AND session_id = \
                 (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1)",
                    &[new, now.clone()],
                    context,
                )?,
                statement(
                    db,
                    "SELECT u.id AS user_id, u.token_version, s.id AS session_id, \
                 t.successor_hash FROM refresh_tokens t \
                 JOIN refresh_tokens n ON n.token_hash = t.successor_hash \
                 JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
                 WHERE t.token_hash = ?1 AND t.used_at > ?2 - max(?3, 1) \
                 AND n.expires_at > ?2 \
                 AND s.revoked_at IS NULL AND s.created_at + ?4 > ?2 \
                 AND s.token_version = u.token_version AND u.is_active = 1",
                    &[old, now, reuse, max_age],
                    context,
                )?,
            ],
            context,
        )
        .await?;
    if let Some(revoked) = rows::<Revoked>(&results[0], context)?.into_iter().next() {
        return Ok(Rotation::Reused {
            user_id: revoked.user_id,
        });
    }
    Ok(
        match rows::<Row>(&results[5], context)?.into_iter().next() {
            Some(row) => Rotation::Rotated {
                subject: Subject {
                    user_id: row.user_id,
                    token_version: row.token_version,
                    session_id: Some(row.session_id),
                },
                successor_hash: row.successor_hash,
            },
            None => Rotation::Refused,
        },
    )
}

/// The caller's live sessions, the most recently used first: not revoked, younger than
/// `max_age` seconds, of the user's current token version and with a refresh token that has
/// not expired, and always the caller's own. `None` when the caller's token is no longer
/// good. One round trip: the check and the list are one batch.
pub async fn list(
    db: &Db,
    caller: &Caller,
    now: i64,
    max_age: i64,
) -> Result<Option<Vec<SignedInDevice>>> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        created_at: i64,
        last_used_at: i64,
        user_agent: Option<String>,
        country: Option<String>,
        city: Option<String>,
        current: i64,
    }
    let context = "listing sessions";
    let list = scoped(db, caller, context, |params| {
        let current = params.bind(text_or_null(caller.session_id()));
        let now = params.bind(int(now));
        let max_age = params.bind(int(max_age));
        format!(
            "SELECT s.id, s.created_at, coalesce(s.last_used_at, s.created_at) \
             AS last_used_at, s.user_agent, s.country, s.city, s.id IS {current} AS current \
             FROM sessions s JOIN me ON s.user_id = me.id JOIN users u ON u.id = me.id \
             WHERE s.revoked_at IS NULL AND (s.id IS {current} OR (s.created_at > {now} - \
             {max_age} AND s.token_version = u.token_version AND EXISTS (SELECT 1 \
             FROM refresh_tokens t WHERE t.session_id = s.id AND t.expires_at > {now}))) \
             ORDER BY last_used_at DESC, s.created_at DESC, s.id"
        )
    })?;
    let results = db
        .batch(
            vec![
                scoped(db, caller, context, |_| "SELECT id FROM me".into())?,
                list,
            ],
            context,
        )
        .await?;
    if rows::<IgnoredAny>(&results[0], context)?.is_empty() {
        return Ok(None);
    }
    let devices = rows::<Row>(&results[1], context)?
        .into_iter()
        .map(|row| SignedInDevice {
            id: row.id,
            created_at: rfc3339(row.created_at),
            last_used_at: rfc3339(row.last_used_at),
            user_agent: row.user_agent,
            country: row.country,
            city: row.city,
            current: row.current != 0,
        })
        .collect();
    Ok(Some(devices))
}

/// What ending sessions came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// This many sessions ended (for one session: 0 when it is not a live one of the caller's).
    Sessions(usize),
    /// The caller's token is no longer good.
    NotAuthenticated,
}

/// Ends the caller's session `session_id`, if it is one of theirs and not yet ended (their
/// current one included: that is a logout). The check of the caller and the write are one
/// statement; a batch with the check alone says which of the two refused.
pub async fn end_one(db: &Db, caller: &Caller, session_id: &str, now: i64) -> Result<Ended> {
    let context = "ending a session";
    let update = scoped(db, caller, context, |params| {
        format!(
            "UPDATE sessions SET revoked_at = {} WHERE id = {} \
             AND user_id = (SELECT id FROM me) AND revoked_at IS NULL RETURNING id",
            params.bind(int(now)),
            params.bind(session_id),
        )
    })?;
    end(db, caller, update, context).await
}

/// Ends every session of the caller's but the current one.
pub async fn end_others(db: &Db, caller: &Caller, now: i64) -> Result<Ended> {
    let context = "ending the other sessions";
    let update = scoped(db, caller, context, |params| {
        format!(
            "UPDATE sessions SET revoked_at = {} WHERE user_id = (SELECT id FROM me) \
             AND revoked_at IS NULL AND id IS NOT {} RETURNING id",
            params.bind(int(now)),
            params.bind(text_or_null(caller.session_id())),
        )
    })?;
    end(db, caller, update, context).await
}

/// Runs `update`, a statement scoped to `caller` that returns a row per ended session, in a
/// batch after the check of the caller alone, which says whether nothing ended because the
/// caller may no longer act.
async fn end(
    db: &Db,
    caller: &Caller,
    update: D1PreparedStatement,
    context: &'static str,
) -> Result<Ended> {
    let results = db
        .batch(
            vec![
                scoped(db, caller, context, |_| "SELECT id FROM me".into())?,
                update,
            ],
            context,
        )
        .await?;
    if rows::<IgnoredAny>(&results[0], context)?.is_empty() {
        return Ok(Ended::NotAuthenticated);
    }
    Ok(Ended::Sessions(
        rows::<IgnoredAny>(&results[1], context)?.len(),
    ))
}

/// Revokes the session of the refresh token stored as `token_hash`, used or not. Nothing
/// happens for an unknown token.
pub async fn revoke(db: &Db, token_hash: &str, now: i64) -> Result<()> {
    let context = "revoking a session";
    let statement = statement(
        db,
        "UPDATE sessions SET revoked_at = ?2 WHERE revoked_at IS NULL AND id = \
         (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1)",
        &[token_hash.into(), int(now)],
        context,
    )?;
    db.write(statement, context).await?;
    Ok(())
}

/// The statement revoking the live sessions of a user that were started under another
/// token version than the user's current one, for a batch that changes the user: after a
/// password change, reset or deactivation, every session from before it.
pub(super) fn revoke_stale(db: &Db, user_id: i64, now: i64) -> Result<D1PreparedStatement> {
    statement(
        db,
        "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL \
         AND token_version <> (SELECT token_version FROM users WHERE id = ?1)",
        &[int(user_id), int(now)],
        "revoking a user's stale sessions",
    )
}
