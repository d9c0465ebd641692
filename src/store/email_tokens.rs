//! The `email_tokens` table: the single-use tokens of password-recovery and verification
//! emails, stored by their SHA-256.
//!
//! A token is created for a user picked in the statement that creates it (an active user
//! with this email; the caller, unverified), and used by the statement that acts on it, so
//! no decision rests on a row read earlier. Issuing one ends the user's older ones of the
//! same purpose.

use serde::Deserialize;
use worker::D1PreparedStatement;

use super::caller::{scoped, Caller};
use super::{int, returned_row, rows, statement, Db, Params};
use crate::domain::recovery::Purpose;
use crate::error::Result;

/// The `purpose` column's value. Sign-in emails have a table of their own
/// (src/store/email_sign_in.rs): their value here is one the column's CHECK refuses.
fn column(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::PasswordRecovery => "reset",
        Purpose::VerifyEmail => "verify",
        Purpose::EmailSignIn => "sign_in",
    }
}

/// A token about to be issued: the hash it is stored by, and its lifetime.
pub struct NewToken<'a> {
    pub hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// The address a token was issued to, from `RETURNING email`.
#[derive(Deserialize)]
struct Issued {
    email: String,
}

/// The statements issuing a `purpose` token to the active user with `email` (for a
/// verification, only while unverified): the user's older tokens of that purpose end. For a
/// batch of its own ([`issue_by_email`]) or one that creates the user (signup).
pub(super) fn issue_by_email_statements(
    db: &Db,
    purpose: Purpose,
    email: &str,
    token: &NewToken,
) -> Result<Vec<D1PreparedStatement>> {
    let context = "issuing an email token";
    let kind = column(purpose);
    let unverified = match purpose {
        Purpose::VerifyEmail => "AND email_verified = 0",
        Purpose::PasswordRecovery | Purpose::EmailSignIn => "",
    };
    Ok(vec![
        statement(
            db,
            &format!(
                "DELETE FROM email_tokens WHERE purpose = '{kind}' \
                 AND user_id = (SELECT id FROM users WHERE email = ?1)"
            ),
            &[email.into()],
            context,
        )?,
        statement(
            db,
            &format!(
                "INSERT INTO email_tokens \
                 (token_hash, user_id, purpose, email, token_version, created_at, expires_at) \
                 SELECT ?2, id, '{kind}', email, token_version, ?3, ?4 FROM users \
                 WHERE email = ?1 AND is_active = 1 {unverified} RETURNING email"
            ),
            &[
                email.into(),
                token.hash.into(),
                int(token.now),
                int(token.expires_at),
            ],
            context,
        )?,
    ])
}

/// Issues a `purpose` token to the active user with `email`: the address it went to (the
/// user's, as stored), or `None` when there is no such user (one round trip).
pub async fn issue_by_email(
    db: &Db,
    purpose: Purpose,
    email: &str,
    token: &NewToken<'_>,
) -> Result<Option<String>> {
    let context = "issuing an email token";
    let statements = issue_by_email_statements(db, purpose, email, token)?;
    let results = db.batch(statements, context).await?;
    issued(&results[1], context)
}

/// The address of an `INSERT … RETURNING email` of [`issue_by_email_statements`], if a token
/// was issued.
pub(super) fn issued(result: &worker::D1Result, context: &'static str) -> Result<Option<String>> {
    Ok(rows::<Issued>(result, context)?
        .into_iter()
        .next()
        .map(|issued| issued.email))
}

/// Issues a verification token to the caller, while their token is good and their email
/// unverified: the address it went to, or `None` (one round trip).
pub async fn issue_verification(
    db: &Db,
    caller: &Caller,
    token: &NewToken<'_>,
) -> Result<Option<String>> {
    let context = "issuing a verification token";
    let results = db
        .batch(
            vec![
                scoped(db, caller, context, |_| {
                    "DELETE FROM email_tokens WHERE purpose = 'verify' \
                     AND user_id = (SELECT id FROM me)"
                        .into()
                })?,
                scoped(db, caller, context, |params| {
                    format!(
                        "INSERT INTO email_tokens \
                         (token_hash, user_id, purpose, email, token_version, created_at, \
                         expires_at) SELECT {}, users.id, 'verify', users.email, \
                         users.token_version, {}, {} FROM me JOIN users ON users.id = me.id \
                         WHERE users.email_verified = 0 RETURNING email",
                        params.bind(token.hash),
                        params.bind(int(token.now)),
                        params.bind(int(token.expires_at)),
                    )
                })?,
            ],
            context,
        )
        .await?;
    issued(&results[1], context)
}

/// How long a reset holds the claim on its token while it hashes the new password.
pub const RESET_CLAIM_SECONDS: i64 = 30;

/// Claims the live password-recovery token stored as `hash` for one reset: the user it was
/// issued to, or `None` when it is unknown, used, expired, or claimed by a reset still under
/// way. Only the claimant hashes the new password, so N resets sent at once with one token
/// run one hash and a dead token runs none; an unknown token writes nothing. The reset itself
/// checks the token again as it writes (`users::reset_with_token`). A claim that is never
/// completed lapses after [`RESET_CLAIM_SECONDS`], and the link works again.
pub async fn claim_recovery(db: &Db, hash: &str, now: i64) -> Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Row {
        user_id: i64,
    }
    let context = "claiming a recovery token";
    let claim = statement(
        db,
        "UPDATE email_tokens SET claimed_until = ?2 + ?3 WHERE token_hash = ?1 \
         AND purpose = 'reset' AND expires_at > ?2 \
         AND (claimed_until IS NULL OR claimed_until <= ?2) RETURNING user_id",
        &[hash.into(), int(now), int(RESET_CLAIM_SECONDS)],
        context,
    )?;
    let row: Option<Row> = returned_row(db, claim, context).await?;
    Ok(row.map(|row| row.user_id))
}

/// Gives back the claim that [`claim_recovery`] made at `now` on the token stored as `hash`,
/// for a reset that stopped before its hash (the new password was refused): the link works
/// again at once. A claim made since by another reset, after this one lapsed, is left alone.
pub async fn release_recovery_claim(db: &Db, hash: &str, now: i64) -> Result<()> {
    let context = "releasing a recovery token's claim";
    let release = statement(
        db,
        "UPDATE email_tokens SET claimed_until = NULL WHERE token_hash = ?1 \
         AND purpose = 'reset' AND claimed_until = ?2 + ?3",
        &[hash.into(), int(now), int(RESET_CLAIM_SECONDS)],
        context,
    )?;
    db.write(release, context).await?;
    Ok(())
}

/// The condition, in an `UPDATE users`, that the live recovery token stored as `hash` is
/// this user's as of `now`: issued to their current email under their current token version.
pub(super) fn holds_recovery_token(params: &mut Params, hash: &str, now: i64) -> String {
    let (hash, now) = (params.bind(hash), params.bind(int(now)));
    format!(
        "EXISTS (SELECT 1 FROM email_tokens t WHERE t.token_hash = {hash} \
         AND t.user_id = users.id AND t.purpose = 'reset' AND t.expires_at > {now} \
         AND t.token_version = users.token_version AND t.email = users.email)"
    )
}

/// The statement ending user `user_id`'s recovery tokens of an older token version than
/// theirs, for a batch that changes the user: after a password change, reset or
/// deactivation, every recovery link sent before it.
pub(super) fn end_stale(db: &Db, user_id: i64) -> Result<D1PreparedStatement> {
    statement(
        db,
        "DELETE FROM email_tokens WHERE user_id = ?1 AND purpose = 'reset' \
         AND token_version <> (SELECT token_version FROM users WHERE id = ?1)",
        &[int(user_id)],
        "ending stale recovery tokens",
    )
}

/// Marks the email of the verification token stored as `hash` verified and uses the token
/// up, in one transaction: the verified user, or `None` for an unknown, used or expired
/// token, or one sent to an address the user no longer has. Of two uses at once, one wins.
pub async fn verify(db: &Db, hash: &str, now: i64) -> Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Row {
        id: i64,
    }
    let context = "verifying an email";
    let results = db
        .batch(
            vec![
                statement(
                    db,
                    "UPDATE users SET email_verified = 1 WHERE id = \
                     (SELECT user_id FROM email_tokens WHERE token_hash = ?1 \
                      AND purpose = 'verify' AND expires_at > ?2) \
                     AND email = (SELECT email FROM email_tokens WHERE token_hash = ?1) \
                     RETURNING id",
                    &[hash.into(), int(now)],
                    context,
                )?,
                statement(
                    db,
                    "DELETE FROM email_tokens WHERE token_hash = ?1 AND purpose = 'verify'",
                    &[hash.into()],
                    context,
                )?,
            ],
            context,
        )
        .await?;
    Ok(rows::<Row>(&results[0], context)?
        .into_iter()
        .next()
        .map(|row| row.id))
}
