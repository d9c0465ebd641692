//! The `attempts` table: the counters of src/security/throttle.rs.

use serde::Deserialize;
use worker::D1PreparedStatement;

use super::{int, rows, statement, Db};
use crate::error::{ApiError, Result};
use crate::security::throttle::{Count, Counter, Scope};

/// Counts one attempt against each counter and returns the counts after it, in one batch (one
/// round trip, one transaction): the count that decides is the count this attempt made, so
/// attempts sent together each see a different one. A counter whose window has ended starts
/// a new one here; ended counters of keys that never come back are dropped by the scheduled
/// cleanup (src/store/cleanup.rs), not by every login, which would scan the table each time.
pub async fn count(db: &Db, counters: &[Counter], now: i64) -> Result<Vec<Count>> {
    #[derive(Deserialize)]
    struct Row {
        count: i64,
        expires_at: i64,
    }
    let context = "counting an attempt";
    let mut statements = Vec::with_capacity(counters.len());
    for counter in counters {
        statements.push(statement(
            db,
            "INSERT INTO attempts (key, count, expires_at) VALUES (?1, 1, ?2 + ?3) \
             ON CONFLICT (key) DO UPDATE SET \
             count = CASE WHEN expires_at <= ?2 THEN 1 ELSE count + 1 END, \
             expires_at = CASE WHEN expires_at <= ?2 THEN ?2 + ?3 ELSE expires_at END \
             RETURNING count, expires_at",
            &[
                counter.key.as_str().into(),
                int(now),
                int(counter.limit.window_seconds),
            ],
            context,
        )?);
    }
    let results = db.batch(statements, context).await?;
    results
        .iter()
        .map(|result| {
            let row = rows::<Row>(result, context)?.into_iter().next();
            let row = row.ok_or_else(|| ApiError::internal(context, "no count returned"))?;
            Ok(Count {
                count: row.count,
                expires_at: row.expires_at,
            })
        })
        .collect()
}

/// The statements that settle a successful login from these counters, for the batch that
/// starts its session: the account's counter is cleared, and the address's gets its one
/// count back, so successes never use up an address's budget.
pub fn settle_login(db: &Db, counters: &[Counter]) -> Result<Vec<D1PreparedStatement>> {
    let context = "settling a login's attempt";
    counters
        .iter()
        .map(|counter| {
            let sql = match counter.scope {
                Scope::Account => "DELETE FROM attempts WHERE key = ?1",
                Scope::Address | Scope::Signup | Scope::Email | Scope::Verification => {
                    "UPDATE attempts SET count = count - 1 WHERE key = ?1 AND count > 0"
                }
            };
            statement(db, sql, &[counter.key.as_str().into()], context)
        })
        .collect()
}
