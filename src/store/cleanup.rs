//! Deleting what has ended, for the scheduled cleanup (src/scheduled.rs): expired refresh
//! tokens, ended sessions, stale attempt counters, expired email tokens, expired
//! `mfa_token`s, unused sign-in codes, answered passkey challenges and sign-in emails. Each statement
//! deletes at most `limit` rows, chosen by primary key (the tables are WITHOUT ROWID, so
//! there is no rowid to pick them by).

use serde::de::IgnoredAny;
use worker::wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use super::{int, rows, statement, Db};
use crate::error::Result;

/// A table the cleanup deletes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Refresh tokens past `expires_at`. A used token is kept until then on purpose (so that
    /// presenting it again is recognised as reuse), so expiry is the only criterion.
    RefreshTokens,
    /// Sessions that have ended: revoked, older than the absolute session lifetime, or with
    /// no unexpired refresh token left. Their remaining tokens go with them (ON DELETE
    /// CASCADE); none of those can refresh anything any more.
    Sessions,
    /// Attempt counters whose window has ended.
    Attempts,
    /// Password-recovery and verification tokens past `expires_at`.
    EmailTokens,
    /// Logins' second steps (`mfa_token`s) past `expires_at`, used or not.
    MfaTokens,
    /// Sign-in codes past `expires_at` that were never exchanged.
    SignInCodes,
    /// Answered passkey challenges past `expires_at`: they can no longer be presented.
    PasskeyChallenges,
    /// Sign-in emails past `expires_at`, used up by too many codes or never used.
    EmailSignIns,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::RefreshTokens,
        Table::Sessions,
        Table::Attempts,
        Table::EmailTokens,
        Table::MfaTokens,
        Table::SignInCodes,
        Table::PasskeyChallenges,
        Table::EmailSignIns,
    ];
}

/// One round: deletes at most `limit` ended rows from each of `tables`, as of `now`, with
/// sessions ending `max_age` seconds after their login. One batch (one round trip, one
/// transaction). Returns how many rows each statement deleted itself, in the order of
/// `tables` (rows removed by the cascade from a session are not counted).
pub async fn delete_ended(
    db: &Db,
    tables: &[Table],
    now: i64,
    max_age: i64,
    limit: u32,
) -> Result<Vec<u64>> {
    let context = "deleting ended rows";
    let statements = tables
        .iter()
        .map(|&table| delete_statement(db, table, now, max_age, limit))
        .collect::<Result<Vec<D1PreparedStatement>>>()?;
    let results = db.batch(statements, context).await?;
    // Counted from RETURNING rather than D1's `changes`, which (locally at least) also counts
    // the refresh tokens a session's deletion cascades to. The rows are not read, only counted.
    results
        .iter()
        .map(|result| Ok(rows::<IgnoredAny>(result, context)?.len() as u64))
        .collect()
}

fn delete_statement(
    db: &Db,
    table: Table,
    now: i64,
    max_age: i64,
    limit: u32,
) -> Result<D1PreparedStatement> {
    let context = "deleting ended rows";
    let limit = int(i64::from(limit));
    match table {
        Table::RefreshTokens => expired(db, "refresh_tokens", "token_hash", now, limit),
        Table::Sessions => statement(
            db,
            "DELETE FROM sessions WHERE id IN \
             (SELECT id FROM sessions s WHERE s.revoked_at IS NOT NULL \
              OR s.created_at <= ?1 - ?2 OR NOT EXISTS (SELECT 1 FROM refresh_tokens t \
              WHERE t.session_id = s.id AND t.expires_at > ?1) LIMIT ?3) \
             RETURNING 1 AS deleted",
            &[int(now), int(max_age), limit],
            context,
        ),
        Table::Attempts => expired(db, "attempts", "key", now, limit),
        Table::EmailTokens => expired(db, "email_tokens", "token_hash", now, limit),
        Table::MfaTokens => expired(db, "mfa_tokens", "token_hash", now, limit),
        Table::SignInCodes => expired(db, "sign_in_codes", "code_hash", now, limit),
        Table::PasskeyChallenges => {
            expired(db, "used_passkey_challenges", "challenge_hash", now, limit)
        }
        Table::EmailSignIns => expired(db, "email_sign_ins", "email", now, limit),
    }
}

/// Deletes at most `limit` rows of `table` (keyed by `key`) past their `expires_at`.
fn expired(
    db: &Db,
    table: &str,
    key: &str,
    now: i64,
    limit: JsValue,
) -> Result<D1PreparedStatement> {
    statement(
        db,
        &format!(
            "DELETE FROM {table} WHERE {key} IN \
             (SELECT {key} FROM {table} WHERE expires_at <= ?1 LIMIT ?2) \
             RETURNING 1 AS deleted"
        ),
        &[int(now), limit],
        "deleting ended rows",
    )
}
