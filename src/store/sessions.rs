//! The `sessions` and `refresh_tokens` tables: logins, and the refresh tokens of each, with
//! rotation and reuse detection as the OAuth 2.0 Security BCP (RFC 9700 §4.14.2) describes.
//! Every operation is one batch: one round trip and one transaction.

use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

use super::{d1_error, int, rows, statement};
use crate::error::Result;
use crate::security::Subject;

/// Starts a session for `user_id` with its first refresh token (stored by `token_hash`,
/// expiring at `expires_at`), and forgets the user's sessions that have ended: revoked, or
/// with every token expired.
pub async fn start(
    db: &D1Database,
    user_id: i64,
    session_id: &str,
    token_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    let context = "starting a session";
    db.batch(vec![
        statement(
            db,
            "DELETE FROM sessions WHERE user_id = ?1 AND (revoked_at IS NOT NULL OR NOT EXISTS \
             (SELECT 1 FROM refresh_tokens t WHERE t.session_id = sessions.id \
              AND t.expires_at > ?2))",
            &[int(user_id), int(now)],
            context,
        )?,
        statement(
            db,
            "INSERT INTO sessions (id, user_id, created_at) VALUES (?1, ?2, ?3)",
            &[session_id.into(), int(user_id), int(now)],
            context,
        )?,
        statement(
            db,
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES (?1, ?2, ?3)",
            &[token_hash.into(), session_id.into(), int(expires_at)],
            context,
        )?,
    ])
    .await
    .map_err(d1_error(context))?;
    Ok(())
}

/// Exchanges the refresh token stored as `old_hash` for one stored as `new_hash`, expiring
/// at `expires_at`. Whom the new token belongs to, or `None` when the old one is unknown,
/// expired, used, of a revoked session or of an inactive user.
///
/// One transaction, in this order:
/// 1. reuse: if the old token was used before, its session is revoked;
/// 2. the new token is inserted, only if the old one is unused, unexpired, of a live
///    session and of an active user;
/// 3. the old token is marked used, only if the new one was inserted;
/// 4. the session's expired tokens are dropped;
/// 5. the new token's user is read.
///
/// Transactions run one at a time, so of two refreshes with the same token exactly one
/// finds it unused; the other then counts as reuse and revokes the session.
pub async fn rotate(
    db: &D1Database,
    old_hash: &str,
    new_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<Option<Subject>> {
    #[derive(Deserialize)]
    struct Row {
        user_id: i64,
        token_version: i64,
    }
    let context = "rotating a refresh token";
    let (old, new, now) = (JsValue::from(old_hash), JsValue::from(new_hash), int(now));
    let results = db
        .batch(vec![
            statement(
                db,
                "UPDATE sessions SET revoked_at = ?2 WHERE revoked_at IS NULL AND id = \
                 (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1 \
                  AND used_at IS NOT NULL)",
                &[old.clone(), now.clone()],
                context,
            )?,
            statement(
                db,
                "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) \
                 SELECT ?2, t.session_id, ?4 FROM refresh_tokens t \
                 JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
                 WHERE t.token_hash = ?1 AND t.used_at IS NULL AND t.expires_at > ?3 \
                 AND s.revoked_at IS NULL AND u.is_active = 1",
                &[old.clone(), new.clone(), now.clone(), int(expires_at)],
                context,
            )?,
            statement(
                db,
                "UPDATE refresh_tokens SET used_at = ?3 WHERE token_hash = ?1 \
                 AND used_at IS NULL AND EXISTS \
                 (SELECT 1 FROM refresh_tokens WHERE token_hash = ?2)",
                &[old, new.clone(), now.clone()],
                context,
            )?,
            statement(
                db,
                "DELETE FROM refresh_tokens WHERE expires_at <= ?2 AND session_id = \
                 (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1)",
                &[new.clone(), now],
                context,
            )?,
            statement(
                db,
                "SELECT u.id AS user_id, u.token_version FROM refresh_tokens t \
                 JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
                 WHERE t.token_hash = ?1",
                &[new],
                context,
            )?,
        ])
        .await
        .map_err(d1_error(context))?;
    let row = rows::<Row>(&results[4], context)?.into_iter().next();
    Ok(row.map(|row| Subject {
        user_id: row.user_id,
        token_version: row.token_version,
    }))
}

/// Revokes the session of the refresh token stored as `token_hash`, used or not. Nothing
/// happens for an unknown token.
pub async fn revoke(db: &D1Database, token_hash: &str, now: i64) -> Result<()> {
    let context = "revoking a session";
    statement(
        db,
        "UPDATE sessions SET revoked_at = ?2 WHERE revoked_at IS NULL AND id = \
         (SELECT session_id FROM refresh_tokens WHERE token_hash = ?1)",
        &[token_hash.into(), int(now)],
        context,
    )?
    .run()
    .await
    .map_err(d1_error(context))?;
    Ok(())
}

/// The statement revoking every live session of a user, for a batch that changes the user.
pub(super) fn revoke_all(db: &D1Database, user_id: i64, now: i64) -> Result<D1PreparedStatement> {
    statement(
        db,
        "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        &[int(user_id), int(now)],
        "revoking every session of a user",
    )
}
