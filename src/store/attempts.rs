//! The `attempts` table: the counters of src/security/throttle.rs.

use serde::Deserialize;
use worker::D1PreparedStatement;

use super::{int, rows, statement, Db};
use crate::error::Result;
use crate::security::throttle::{Count, Counter, Scope};

/// Counts one attempt against each counter and returns the counts after it, in one batch (one
/// round trip, one transaction): the count that decides is the count this attempt made, so
/// attempts sent together each see a different one. A counter whose window has ended starts
/// a new one here; ended counters of keys that never come back are dropped by the scheduled
/// cleanup (src/store/cleanup.rs), not by every login, which would scan the table each time.
///
/// What a refused attempt writes is bounded (src/security/throttle.rs): a counter stops at
/// one past its limit, and the counters after the first (the gate) are counted only while the
/// gate is within its limit, decided in the statement that would write them. A client over
/// its address limit therefore adds no row and changes none, whatever keys it names.
pub async fn count(db: &Db, counters: &[Counter], now: i64) -> Result<Vec<Count>> {
    #[derive(Deserialize)]
    struct Row {
        count: i64,
        expires_at: i64,
    }
    let context = "counting an attempt";
    let Some(gate) = counters.first() else {
        return Ok(Vec::new());
    };
    let mut statements = Vec::with_capacity(counters.len() * 2);
    for (index, counter) in counters.iter().enumerate() {
        // The gate's count as its own statement left it: within its limit, or not.
        let (condition, gate_args) = if index == 0 {
            ("true", Vec::new())
        } else {
            (
                "EXISTS (SELECT 1 FROM attempts WHERE key = ?5 AND count <= ?6)",
                vec![gate.key.as_str().into(), int(gate.limit.max)],
            )
        };
        let mut args = vec![
            counter.key.as_str().into(),
            int(now),
            int(counter.limit.window_seconds),
            int(counter.limit.max),
        ];
        args.extend(gate_args);
        statements.push(statement(
            db,
            &format!(
                "INSERT INTO attempts (key, count, expires_at) SELECT ?1, 1, ?2 + ?3 \
                 WHERE {condition} \
                 ON CONFLICT (key) DO UPDATE SET \
                 count = CASE WHEN expires_at <= ?2 THEN 1 ELSE count + 1 END, \
                 expires_at = CASE WHEN expires_at <= ?2 THEN ?2 + ?3 ELSE expires_at END \
                 WHERE expires_at <= ?2 OR count <= ?4"
            ),
            &args,
            context,
        )?);
    }
    // The counts as the attempt left them; a counter with no row, or whose window has
    // ended (one the gate kept this attempt from counting), stands at zero.
    for counter in counters {
        statements.push(statement(
            db,
            "SELECT CASE WHEN expires_at > ?2 THEN count ELSE 0 END AS count, expires_at \
             FROM attempts WHERE key = ?1",
            &[counter.key.as_str().into(), int(now)],
            context,
        )?);
    }
    let results = db.batch(statements, context).await?;
    results[counters.len()..]
        .iter()
        .map(|result| {
            let row = rows::<Row>(result, context)?.into_iter().next();
            Ok(row.map_or(
                Count {
                    count: 0,
                    expires_at: now,
                },
                |row| Count {
                    count: row.count,
                    expires_at: row.expires_at,
                },
            ))
        })
        .collect()
}

/// Gives a counter back one count.
const GIVE_BACK: &str = "UPDATE attempts SET count = count - 1 WHERE key = ?1 AND count > 0";

/// The statements that settle a successful login from these counters, for the batch that
/// starts its session: the account's counter (of passwords or of codes) is cleared, and the
/// address's gets its one count back, so successes never use up an address's budget.
pub fn settle_login(db: &Db, counters: &[Counter]) -> Result<Vec<D1PreparedStatement>> {
    counters
        .iter()
        .map(|counter| {
            let sql = match counter.scope {
                Scope::Account | Scope::SecondFactor | Scope::PasswordChange => {
                    "DELETE FROM attempts WHERE key = ?1"
                }
                Scope::Address | Scope::Signup | Scope::Email | Scope::Verification => GIVE_BACK,
            };
            statement(
                db,
                sql,
                &[counter.key.as_str().into()],
                "settling a login's attempt",
            )
        })
        .collect()
}

/// Settles an attempt on its own, for a request that proved the password but was refused
/// for something else (a new password that is the same, or breached): one round trip.
pub async fn give_back(db: &Db, counters: &[Counter]) -> Result<()> {
    db.batch(settle_login(db, counters)?, "giving an attempt back")
        .await?;
    Ok(())
}

/// The statements that settle a sign-in through a provider, for the batch that decides
/// within itself whether it succeeded: each runs only if the sign-in code `code_hash` was
/// stored before it. A sign-in gives back the one count it added to each of its counters
/// and clears none: a counter it shares (a verified email's, with that account's password
/// logins) holds others' attempts, which a sign-in, perhaps as someone else, must not wipe.
pub fn settle_sign_in(
    db: &Db,
    counters: &[Counter],
    code_hash: &str,
) -> Result<Vec<D1PreparedStatement>> {
    counters
        .iter()
        .map(|counter| {
            statement(
                db,
                &format!(
                    "{GIVE_BACK} AND EXISTS (SELECT 1 FROM sign_in_codes WHERE code_hash = ?2)"
                ),
                &[counter.key.as_str().into(), code_hash.into()],
                "settling a sign-in's attempt",
            )
        })
        .collect()
}
