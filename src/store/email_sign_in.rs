//! The `email_sign_ins` table: the live sign-in email of each address, its link's token and
//! its code stored hashed (migrations/0017_email_sign_in.sql).
//!
//! Issuing runs the same two statements whether or not the address has an account (only
//! what they write differs), and a newer email replaces the older one. Using one decides
//! everything in one batch: a code is counted in the statement before the one that checks
//! it, the row is claimed and deleted (link and code die together), the email is marked
//! verified, and the user is created first when sign-ups by email are allowed.

use serde::Deserialize;

use super::{int, rows, statement, Db, Params};
use crate::domain::email_sign_in::MAX_CODE_TRIES;
use crate::error::Result;

/// What a new sign-in email is stored as.
pub struct NewSignIn<'a> {
    pub email: &'a str,
    pub token_hash: &'a str,
    pub code_hash: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// Stores a sign-in email for `email`, ending the address's earlier one, when the address is
/// an active user's or, with `anyone` (`EMAIL_SIGN_IN_SIGNUP`), whoever's: whether it was
/// stored, so the email is worth sending. One round trip, the same statements either way.
pub async fn issue(db: &Db, new: &NewSignIn<'_>, anyone: bool) -> Result<bool> {
    let context = "issuing a sign-in email";
    let statements = vec![
        statement(
            db,
            "DELETE FROM email_sign_ins WHERE email = ?1",
            &[new.email.into()],
            context,
        )?,
        statement(
            db,
            "INSERT INTO email_sign_ins (email, token_hash, code_hash, created_at, expires_at) \
             SELECT ?1, ?2, ?3, ?4, ?5 WHERE ?6 = 1 \
             OR EXISTS (SELECT 1 FROM users WHERE email = ?1 AND is_active = 1) RETURNING 1 AS issued",
            &[
                new.email.into(),
                new.token_hash.into(),
                new.code_hash.into(),
                int(new.now),
                int(new.expires_at),
                int(i64::from(anyone)),
            ],
            context,
        )?,
    ];
    let results = db.batch(statements, context).await?;
    Ok(!rows::<serde::de::IgnoredAny>(&results[1], context)?.is_empty())
}

/// What a sign-in presents, hashed: the code's HMAC with the address it was sent to, or the
/// link's token's SHA-256.
pub enum Presented<'a> {
    Code { email: &'a str, hash: &'a str },
    Token { hash: &'a str },
}

/// The active user a sign-in signed in as it left them: their email verified.
#[derive(Debug, Deserialize)]
pub struct SignedIn {
    pub id: i64,
    pub token_version: i64,
    pub second_factor: i64,
}

/// What using a sign-in email came to.
#[derive(Debug)]
pub enum Used {
    /// The email was used up; the user with its address (`created` by this sign-in, with
    /// `EMAIL_SIGN_IN_SIGNUP`), or `None` when no user has it (deleted since, or never there).
    SignedIn {
        user: Option<SignedIn>,
        created: bool,
    },
    /// The email was used up, and its address is an inactive user's: nothing of theirs
    /// changed.
    Inactive { user_id: i64 },
    /// A code past the limit: the email is dead, its link too. Its lifetime's seconds left.
    TooManyTries { retry_after: i64 },
    /// An unknown, used, replaced or expired token, or a wrong code.
    Refused,
}

/// Uses the live sign-in email that `presented` matches, as of `now`, in one batch marked by
/// `claim` (a value unique to this request): a code is counted first, and checked in the
/// statement after, so of any number sent at once at most [`MAX_CODE_TRIES`] are checked.
/// On success the row is deleted, a user is created for an unknown address when `signup`,
/// and the active user with the address gets their email marked verified; one whose email
/// was not verified loses their password, sessions, second factor, passkeys and linked
/// accounts, as the address's owner takes the account over. An inactive user is left as is.
pub async fn use_email(
    db: &Db,
    presented: &Presented<'_>,
    claim: &str,
    signup: bool,
    now: i64,
) -> Result<Used> {
    let context = "using a sign-in email";
    let prepare = |sql: &dyn Fn(&mut Params) -> String| {
        let mut params = Params::default();
        let sql = sql(&mut params);
        params.prepare(db, &sql, context)
    };
    let mut statements = Vec::with_capacity(16);
    if let Presented::Code { email, .. } = presented {
        statements.push(prepare(&|p| {
            format!(
                "UPDATE email_sign_ins SET tries = tries + 1 WHERE email = {} \
                 AND expires_at > {} AND tries <= {}",
                p.bind(*email),
                p.bind(int(now)),
                p.bind(int(MAX_CODE_TRIES)),
            )
        })?);
    }
    statements.push(prepare(&|p| {
        let matches = match presented {
            Presented::Code { email, hash } => {
                format!(
                    "email = {} AND code_hash = {}",
                    p.bind(*email),
                    p.bind(*hash)
                )
            }
            Presented::Token { hash } => format!("token_hash = {}", p.bind(*hash)),
        };
        format!(
            "UPDATE email_sign_ins SET claim = {} WHERE {matches} AND claim IS NULL \
             AND expires_at > {} AND tries <= {}",
            p.bind(claim),
            p.bind(int(now)),
            p.bind(int(MAX_CODE_TRIES)),
        )
    })?);
    let claimed_email = |p: &mut Params| {
        format!(
            "(SELECT email FROM email_sign_ins WHERE claim = {})",
            p.bind(claim)
        )
    };
    let created = signup.then_some(statements.len());
    if signup {
        statements.push(prepare(&|p| {
            format!(
                "INSERT INTO users (email, hashed_password, email_verified) \
                 SELECT email, '', 1 FROM email_sign_ins WHERE claim = {} \
                 ON CONFLICT DO NOTHING RETURNING id",
                p.bind(claim)
            )
        })?);
    }
    for table in super::TAKEN_OVER {
        statements.push(prepare(&|p| {
            format!(
                "DELETE FROM {table} WHERE user_id = (SELECT id FROM users WHERE email = {} \
                 AND email_verified = 0 AND is_active = 1)",
                claimed_email(p)
            )
        })?);
    }
    let user = statements.len();
    statements.push(prepare(&|p| {
        format!(
            "UPDATE users SET email_verified = 1, \
             hashed_password = CASE WHEN email_verified = 0 THEN '' ELSE hashed_password END, \
             token_version = token_version + 1 - email_verified WHERE email = {} \
             AND is_active = 1 RETURNING id, token_version, EXISTS (SELECT 1 FROM totp_factors \
             WHERE user_id = users.id AND enabled_at IS NOT NULL) AS second_factor",
            claimed_email(p)
        )
    })?);
    let inactive = statements.len();
    statements.push(prepare(&|p| {
        format!(
            "SELECT id FROM users WHERE email = {} AND is_active = 0",
            claimed_email(p)
        )
    })?);
    let used = statements.len();
    statements.push(prepare(&|p| {
        format!(
            "DELETE FROM email_sign_ins WHERE claim = {} RETURNING 1 AS used",
            p.bind(claim)
        )
    })?);
    let left = statements.len();
    if let Presented::Code { email, .. } = presented {
        statements.push(prepare(&|p| {
            format!(
                "SELECT tries, expires_at FROM email_sign_ins WHERE email = {} AND expires_at > {}",
                p.bind(*email),
                p.bind(int(now)),
            )
        })?);
    }
    let results = db.batch(statements, context).await?;

    if !rows::<serde::de::IgnoredAny>(&results[used], context)?.is_empty() {
        let created = match created {
            Some(index) => !rows::<serde::de::IgnoredAny>(&results[index], context)?.is_empty(),
            None => false,
        };
        #[derive(Deserialize)]
        struct Inactive {
            id: i64,
        }
        if let Some(inactive) = rows::<Inactive>(&results[inactive], context)?
            .into_iter()
            .next()
        {
            return Ok(Used::Inactive {
                user_id: inactive.id,
            });
        }
        let user = rows::<SignedIn>(&results[user], context)?
            .into_iter()
            .next();
        return Ok(Used::SignedIn { user, created });
    }
    #[derive(Deserialize)]
    struct Left {
        tries: i64,
        expires_at: i64,
    }
    let left = match results.get(left) {
        Some(result) => rows::<Left>(result, context)?.into_iter().next(),
        None => None,
    };
    Ok(match left {
        Some(left) if left.tries > MAX_CODE_TRIES => Used::TooManyTries {
            retry_after: (left.expires_at - now).max(1),
        },
        _ => Used::Refused,
    })
}
