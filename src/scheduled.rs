//! The scheduled cleanup (the Cron Trigger in wrangler.toml): deletes expired refresh tokens,
//! ended sessions, stale attempt counters, expired email tokens, expired `mfa_token`s, sign-in
//! codes, answered passkey challenges and expired sign-in emails in
//! bounded rounds, seals afresh with `MFA_ENCRYPTION_KEY` the TOTP secrets it did not seal
//! (during a key rotation), and logs what it did as one JSON line, `{"log":"cleanup",…}`.
//! Login and refresh already prune their own user's and session's rows; this catches the
//! rest (users who never come back, counters of addresses that never return).

use serde::Serialize;
use worker::Env;

use crate::config::Config;
use crate::error::ApiError;
use crate::security::mfa_key::Reseal;
use crate::security::MfaKeys;
use crate::store::cleanup::{self, Table};
use crate::store::totp::{self, Resealed, SealedSecret};
use crate::store::{Consistency, Db};

/// At most this many rows per table per statement, so no statement runs long.
pub const BATCH: u32 = 1000;
/// At most this many rounds (one batch of statements each) per run; what is left waits for
/// the next run. With a run every five minutes (wrangler.toml), 300 000 rows per table an
/// hour: the most a thousand client addresses can make the attempt counters grow is about
/// 230 000 an hour (docs/security.md), and the index on `expires_at` keeps each round cheap.
pub const MAX_ROUNDS: u32 = 25;
/// At most this many TOTP secrets read per resealing round, and this many rounds per run:
/// 24 000 an hour (a rotation of 100 000 factors takes about four hours), two statements a
/// round, and the secrets neither key opens (left alone, read and counted again each run)
/// hold up no more than a run's worth.
pub const RESEAL_BATCH: u32 = 500;
pub const RESEAL_ROUNDS: u32 = 4;

/// What one run deleted, and whether it got to the end.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// The cron expression that triggered the run.
    pub cron: String,
    pub refresh_tokens: u64,
    pub sessions: u64,
    pub attempts: u64,
    pub email_tokens: u64,
    pub mfa_tokens: u64,
    pub sign_in_codes: u64,
    pub passkey_challenges: u64,
    pub email_sign_ins: u64,
    /// TOTP secrets sealed afresh with the current `MFA_ENCRYPTION_KEY`.
    pub totp_resealed: u64,
    /// TOTP secrets the run read that neither key opens (sealed with a key no longer set):
    /// left as they are.
    pub totp_unreadable: u64,
    pub rounds: u32,
    /// `false` when a table, or the resealing, still filled a whole batch in the last round:
    /// the next run goes on.
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Summary {
    pub fn new(cron: impl Into<String>) -> Summary {
        Summary {
            cron: cron.into(),
            ..Summary::default()
        }
    }

    /// Adds one round's counts (`deleted[i]` rows from `tables[i]`) and returns the tables
    /// that may have more: those whose statement deleted a whole batch of `batch` rows.
    pub fn record(&mut self, tables: &[Table], deleted: &[u64], batch: u32) -> Vec<Table> {
        self.rounds += 1;
        let mut more = Vec::new();
        for (&table, &count) in tables.iter().zip(deleted) {
            *self.count_mut(table) += count;
            if count >= u64::from(batch) {
                more.push(table);
            }
        }
        more
    }

    fn count_mut(&mut self, table: Table) -> &mut u64 {
        match table {
            Table::RefreshTokens => &mut self.refresh_tokens,
            Table::Sessions => &mut self.sessions,
            Table::Attempts => &mut self.attempts,
            Table::EmailTokens => &mut self.email_tokens,
            Table::MfaTokens => &mut self.mfa_tokens,
            Table::SignInCodes => &mut self.sign_in_codes,
            Table::PasskeyChallenges => &mut self.passkey_challenges,
            Table::EmailSignIns => &mut self.email_sign_ins,
        }
    }

    /// The log line: `{"log":"cleanup",…}`, members in the order above.
    pub fn line(&self) -> String {
        crate::logs::line("cleanup", self)
    }
}

/// One run of the cleanup, as of `now` (seconds since the epoch); logs its summary line.
pub async fn run(env: &Env, cron: String, now: i64) {
    let mut summary = Summary::new(cron);
    match clean(env, now, &mut summary).await {
        Ok(()) => worker::console_log!("{}", summary.line()),
        Err(error) => {
            summary.error = Some(
                error
                    .cause()
                    .map_or_else(|| format!("{error:?}"), str::to_owned),
            );
            worker::console_error!("{}", summary.line());
        }
    }
}

async fn clean(env: &Env, now: i64, summary: &mut Summary) -> Result<(), ApiError> {
    // The same settings the API reads: a session ends SESSION_MAX_DAYS after its login. A
    // setting that does not parse stops the run rather than guess a lifetime.
    let config = Config::from_vars(|name| env.var(name).ok().map(|value| value.to_string()))
        .map_err(ApiError::Misconfigured)?;
    let d1 = env
        .d1("DB")
        .map_err(|e| ApiError::Misconfigured(format!("D1 binding DB is missing: {e}")))?;
    let db = Db::open(&d1, Consistency::Primary, None)?;
    let mut pending = Table::ALL.to_vec();
    while !pending.is_empty() && summary.rounds < MAX_ROUNDS {
        let deleted =
            cleanup::delete_ended(&db, &pending, now, config.session_max_seconds, BATCH).await?;
        pending = summary.record(&pending, &deleted, BATCH);
    }
    let resealed_all = reseal(env, &db, summary).await?;
    summary.complete = pending.is_empty() && resealed_all;
    Ok(())
}

/// During a key rotation (both `MFA_ENCRYPTION_KEY` and `MFA_ENCRYPTION_KEY_PREVIOUS` set),
/// seals afresh with the current key the TOTP secrets it did not seal (rows of the key
/// before, or from before keys had ids), in bounded rounds. Each is stored only if the row
/// still holds what was read: a factor set up, turned on or off meanwhile keeps what that
/// request wrote. Outside a rotation there is nothing to do, and the factors are not read: a
/// row of the current key opens whether `v1.` or `v2.`, and reading every factor every five
/// minutes would cost more than the cleanup itself. A malformed key is an error, as on the
/// two-factor routes. `false` when the last round was full.
async fn reseal(env: &Env, db: &Db, summary: &mut Summary) -> Result<bool, ApiError> {
    let var = |name: &str| env.var(name).ok().map(|value| value.to_string());
    let set = |name: &str| var(name).is_some_and(|value| !value.trim().is_empty());
    if !set("MFA_ENCRYPTION_KEY") || !set("MFA_ENCRYPTION_KEY_PREVIOUS") {
        return Ok(true);
    }
    let keys = Config::mfa_keys(var).map_err(ApiError::Misconfigured)?;
    let prefix = keys.current_prefix();
    let mut after = i64::MIN;
    for _ in 0..RESEAL_ROUNDS {
        let read = totp::sealed_otherwise(db, &prefix, after, RESEAL_BATCH).await?;
        let (resealed, unreadable) = sealed_afresh(&keys, &read)?;
        summary.totp_unreadable += unreadable;
        summary.totp_resealed += totp::store_resealed(db, &resealed).await?;
        match read.last() {
            Some(last) if read.len() >= RESEAL_BATCH as usize => after = last.user_id,
            _ => return Ok(true),
        }
    }
    Ok(false)
}

/// Each of `read` the current key did not seal, sealed afresh with it, and how many neither
/// key opens.
fn sealed_afresh(keys: &MfaKeys, read: &[SealedSecret]) -> Result<(Vec<Resealed>, u64), ApiError> {
    let mut resealed = Vec::new();
    let mut unreadable = 0;
    for row in read {
        match keys.reseal(row.user_id, &row.secret) {
            Ok(Some(new)) => resealed.push(Resealed {
                user_id: row.user_id,
                old: row.secret.clone(),
                new,
            }),
            Ok(None) => {}
            Err(Reseal::Unsealable) => unreadable += 1,
            Err(Reseal::Random(e)) => return Err(ApiError::internal("sealing a totp secret", e)),
        }
    }
    Ok((resealed, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn the_summary_is_one_json_line_tagged_cleanup() {
        let mut summary = Summary::new("0 * * * *");
        summary.record(&Table::ALL, &[3, 2, 7, 4, 5, 6, 8, 9], BATCH);
        summary.complete = true;
        let line = summary.line();
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with(r#"{"log":"cleanup","cron":"0 * * * *","#),
            "{line}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&line).unwrap(),
            json!({"log": "cleanup", "cron": "0 * * * *", "refresh_tokens": 3, "sessions": 2,
                   "attempts": 7, "email_tokens": 4, "mfa_tokens": 5, "sign_in_codes": 6,
                   "passkey_challenges": 8, "email_sign_ins": 9, "totp_resealed": 0, "totp_unreadable": 0, "rounds": 1,
                   "complete": true})
        );
    }

    #[test]
    fn an_error_is_in_the_line() {
        let mut summary = Summary::new("0 * * * *");
        summary.error = Some("deleting ended rows: D1 is down".into());
        let value: Value = serde_json::from_str(&summary.line()).unwrap();
        assert_eq!(value["log"], "cleanup");
        assert_eq!(value["error"], "deleting ended rows: D1 is down");
        assert_eq!(value["complete"], false);
    }

    #[test]
    fn only_tables_that_filled_a_batch_go_another_round() {
        let mut summary = Summary::new("cron");
        let more = summary.record(&Table::ALL, &[1000, 999, 1000, 0, 0], 1000);
        assert_eq!(more, vec![Table::RefreshTokens, Table::Attempts]);
        let more = summary.record(&more, &[1000, 4], 1000);
        assert_eq!(more, vec![Table::RefreshTokens]);
        let more = summary.record(&more, &[0], 1000);
        assert!(more.is_empty());
        assert_eq!(
            (
                summary.refresh_tokens,
                summary.sessions,
                summary.attempts,
                summary.rounds
            ),
            (2000, 999, 1004, 3)
        );
    }

    #[test]
    fn old_sealings_are_sealed_afresh_and_unreadable_ones_counted() {
        let hex = |byte: &str| byte.repeat(32);
        let key = |byte: &str| crate::security::MfaKey::parse(Some(&hex(byte))).unwrap();
        let before = MfaKeys::new(key("aa"), None);
        let rotated = MfaKeys::new(key("bb"), Some(key("aa")));
        let unrelated = MfaKeys::new(key("cc"), None);
        let row = |user_id, keys: &MfaKeys| SealedSecret {
            user_id,
            secret: keys.seal(user_id, b"secret").unwrap(),
        };
        let read = [
            row(1, &before),
            row(2, &rotated),
            row(3, &unrelated),
            row(4, &before),
        ];
        let (resealed, unreadable) = sealed_afresh(&rotated, &read).unwrap();
        assert_eq!(unreadable, 1);
        let users: Vec<i64> = resealed.iter().map(|row| row.user_id).collect();
        assert_eq!(users, [1, 4], "the current key's own row is left");
        let alone = MfaKeys::new(key("bb"), None);
        for row in &resealed {
            let read_value = &read[(row.user_id - 1) as usize].secret;
            assert_eq!(&row.old, read_value, "the value read is the guard");
            assert!(row.new.starts_with(&rotated.current_prefix()));
            assert_eq!(alone.open(row.user_id, &row.new).unwrap(), b"secret");
        }
    }
}
