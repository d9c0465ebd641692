//! The `login_failures` table: counters for src/security/throttle.rs.

use serde::Deserialize;
use worker::D1Database;

use super::{d1_error, int, rows, statement};
use crate::error::Result;
use crate::security::throttle::{Failures, WINDOW_SECONDS};

#[derive(Deserialize)]
struct Row {
    key: String,
    failures: i64,
    window_start: i64,
}

/// The live counters among `keys` (one statement).
pub async fn live(db: &D1Database, keys: &[String; 2], now: i64) -> Result<Vec<Failures>> {
    let context = "reading login failures";
    let sql = "SELECT key, failures, window_start FROM login_failures \
               WHERE key IN (?1, ?2) AND window_start > ?3";
    let args = [
        keys[0].as_str().into(),
        keys[1].as_str().into(),
        int(now - WINDOW_SECONDS),
    ];
    let result = statement(db, sql, &args, context)?
        .all()
        .await
        .map_err(d1_error(context))?;
    Ok(rows::<Row>(&result, context)?
        .into_iter()
        .map(|row| Failures {
            is_ip: row.key.starts_with("ip:"),
            failures: row.failures,
            window_start: row.window_start,
        })
        .collect())
}

/// Counts one failure against every key, starting a new window where the old one ended, and
/// drops expired counters, in one batch (one round trip, one transaction).
pub async fn record(db: &D1Database, keys: &[String; 2], now: i64) -> Result<()> {
    let expired = int(now - WINDOW_SECONDS);
    let context = "recording login failure";
    let mut statements = Vec::new();
    for key in keys {
        statements.push(statement(
            db,
            "INSERT INTO login_failures (key, failures, window_start) VALUES (?1, 1, ?2) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN window_start <= ?3 THEN 1 ELSE failures + 1 END, \
             window_start = CASE WHEN window_start <= ?3 THEN ?2 ELSE window_start END",
            &[key.as_str().into(), int(now), expired.clone()],
            context,
        )?);
    }
    statements.push(statement(
        db,
        "DELETE FROM login_failures WHERE window_start <= ?1",
        &[expired],
        context,
    )?);
    db.batch(statements).await.map_err(d1_error(context))?;
    Ok(())
}

/// Forgets an account's failures from one IP after a successful login there.
pub async fn clear(db: &D1Database, key: &str) -> Result<()> {
    let context = "resetting login failures";
    statement(
        db,
        "DELETE FROM login_failures WHERE key = ?1",
        &[key.into()],
        context,
    )?
    .run()
    .await
    .map_err(d1_error(context))?;
    Ok(())
}
