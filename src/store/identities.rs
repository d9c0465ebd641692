//! The `identities` and `sign_in_codes` tables: provider accounts linked to users, and the
//! one-time codes a sign-in through a provider ends with.

use serde::de::IgnoredAny;
use serde::Deserialize;
use worker::D1PreparedStatement;

use super::caller::{scoped, Caller};
use super::{int, is_unique_violation, rows, statement, text_or_null, Db, Params};
use crate::domain::device::rfc3339;
use crate::domain::identity::{LinkedIdentity, Newcomer};
use crate::error::Result;

/// What a first sign-in with an identity did, or that it was not the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new user, verified, without a password.
    Created,
    /// Linked to the verified user with the provider's email.
    Linked,
    /// Linked to the unverified user with the provider's email, which it took over: their
    /// password, sessions, tokens, second factor and other identities are gone.
    TookOver,
    /// The identity was linked already.
    Returning,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Linked => "linked",
            Outcome::TookOver => "took_over",
            Outcome::Returning => "returning",
        }
    }
}

/// What a sign-in with an identity came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// The one-time code is stored for this user.
    Issued { user_id: i64, outcome: Outcome },
    /// The identity's user is inactive: no code.
    Inactive { user_id: i64 },
    /// The identity is linked to no one and, its email unverified, may not be.
    NotLinked,
    /// The user with the identity's email has another account of this provider linked.
    Conflict,
    /// A user has the identity's email, and the provider does not speak for the address
    /// (`Newcomer::may_claim`): the identity may not be linked to them, nor take them over.
    Unclaimable,
}

/// Signs in with the provider's account `subject`, as `issuer` names it: the user that
/// identity is linked to gets a one-time code, stored by `code_hash`, bound to the page's
/// `client_challenge`, until `expires_at`. With `newcomer` (an email the provider says is
/// verified), a first sign-in first links the identity to the user with that email, taking
/// an unverified one over, or creates a user; a newcomer that may not claim an existing
/// account only creates one. One batch, one transaction: what is decided is decided in the
/// statements that write, so parallel callbacks for one identity make one user and one
/// link. `also` (the login counters' settlement) runs at the end.
pub async fn sign_in(
    db: &Db,
    (provider, issuer, subject): (&str, &str, &str),
    newcomer: Option<&Newcomer>,
    (code_hash, client_challenge, expires_at): (&str, &str, i64),
    now: i64,
    also: Vec<D1PreparedStatement>,
) -> Result<SignIn> {
    let context = "signing in with an identity";
    let identity = |params: &mut Params| {
        format!(
            "identities.issuer = {} AND identities.subject = {}",
            params.bind(issuer),
            params.bind(subject)
        )
    };
    let prepare = |sql: &dyn Fn(&mut Params) -> String| {
        let mut params = Params::default();
        let sql = sql(&mut params);
        params.prepare(db, &sql, context)
    };
    let mut statements = vec![prepare(&|params| {
        format!("SELECT user_id FROM identities WHERE {}", identity(params))
    })?];
    // Where the statements whose returned rows say what happened are (with a newcomer).
    let (mut created, mut took_over) = (None, None);
    if let Some(newcomer) = newcomer {
        let email = newcomer.email.as_str();
        // A newcomer that may not claim an existing account has no `ON CONFLICT` here: a user
        // with the email (any case) already there fails the batch on `users.email`'s UNIQUE,
        // and nothing of it is written. Otherwise that user is linked to, below.
        let on_conflict = if newcomer.may_claim {
            "ON CONFLICT DO NOTHING"
        } else {
            ""
        };
        created = Some(statements.len());
        statements.push(prepare(&|params| {
            let (first, surname) = (
                params.bind(text_or_null(newcomer.first_name.as_deref())),
                params.bind(text_or_null(newcomer.surname.as_deref())),
            );
            format!(
                "INSERT INTO users (first_name, surname, email, hashed_password, email_verified) \
                 SELECT {first}, {surname}, {}, '', 1 WHERE NOT EXISTS \
                 (SELECT 1 FROM identities WHERE {}) {on_conflict} RETURNING id",
                params.bind(email),
                identity(params)
            )
        })?);
        if newcomer.may_claim {
            // The user the email belongs to, if unverified and the identity is not linked
            // yet: someone may have signed up with the address to be there first.
            let squatted = |params: &mut Params| {
                format!(
                    "(SELECT id FROM users WHERE email = {} AND email_verified = 0 \
                     AND NOT EXISTS (SELECT 1 FROM identities WHERE {}))",
                    params.bind(email),
                    identity(params)
                )
            };
            for table in super::TAKEN_OVER {
                statements.push(prepare(&|params| {
                    format!("DELETE FROM {table} WHERE user_id = {}", squatted(params))
                })?);
            }
            took_over = Some(statements.len());
            statements.push(prepare(&|params| {
                format!(
                    "UPDATE users SET hashed_password = '', email_verified = 1, \
                     token_version = token_version + 1 WHERE id = {} RETURNING id",
                    squatted(params)
                )
            })?);
        }
        // A user with another account of this provider keeps it: nothing is inserted.
        statements.push(prepare(&|params| {
            let (p, i, s) = (
                params.bind(provider),
                params.bind(issuer),
                params.bind(subject),
            );
            format!(
                "INSERT INTO identities (provider, issuer, subject, user_id, email, created_at) \
                 SELECT {p}, {i}, {s}, id, email, {} FROM users WHERE email = {} \
                 ON CONFLICT DO NOTHING",
                params.bind(int(now)),
                params.bind(email),
            )
        })?);
    }
    statements.push(prepare(&|params| {
        let (hash, expires) = (params.bind(code_hash), params.bind(int(expires_at)));
        let challenge = params.bind(client_challenge);
        format!(
            "INSERT INTO sign_in_codes (code_hash, user_id, token_version, expires_at, \
             client_challenge) SELECT {hash}, users.id, users.token_version, {expires}, \
             {challenge} FROM identities \
             JOIN users ON users.id = identities.user_id WHERE {} AND users.is_active = 1",
            identity(params)
        )
    })?);
    statements.push(prepare(&|params| {
        format!(
            "SELECT users.id, users.is_active FROM identities \
             JOIN users ON users.id = identities.user_id WHERE {}",
            identity(params)
        )
    })?);
    let last = statements.len() - 1;
    statements.extend(also);
    let unclaimable = newcomer.is_some_and(|newcomer| !newcomer.may_claim);
    let results = match db.batch(statements, context).await {
        Ok(results) => results,
        // The newcomer's user is the only insert of this batch without `ON CONFLICT`.
        Err(error) if unclaimable && is_unique_violation(&error) => return Ok(SignIn::Unclaimable),
        Err(error) => return Err(error),
    };

    #[derive(Deserialize)]
    struct Linked {
        id: i64,
        is_active: i64,
    }
    let returned = |index: Option<usize>| -> Result<bool> {
        Ok(match index {
            Some(index) => !rows::<IgnoredAny>(&results[index], context)?.is_empty(),
            None => false,
        })
    };
    let returning = returned(Some(0))?;
    let Some(linked) = rows::<Linked>(&results[last], context)?.into_iter().next() else {
        return Ok(if newcomer.is_some() {
            SignIn::Conflict
        } else {
            SignIn::NotLinked
        });
    };
    if linked.is_active == 0 {
        return Ok(SignIn::Inactive { user_id: linked.id });
    }
    let outcome = if returning {
        Outcome::Returning
    } else if returned(created)? {
        Outcome::Created
    } else if returned(took_over)? {
        Outcome::TookOver
    } else {
        Outcome::Linked
    };
    Ok(SignIn::Issued {
        user_id: linked.id,
        outcome,
    })
}

/// What linking an identity to a signed-in user came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    /// Linked now, or it was the caller's already.
    Linked,
    /// The identity belongs to another user.
    Conflict,
    /// The caller has another account of this provider linked.
    HasAnother,
    /// The caller's session ended (or they were deactivated) since the flow began.
    Gone,
}

/// When the caller's session started; `None` when their token is no longer good, or names
/// no session.
pub async fn session_started(db: &Db, caller: &Caller) -> Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Started {
        created_at: i64,
    }
    let context = "reading a session's start";
    let session = caller.session_id().map(str::to_owned);
    let select = scoped(db, caller, context, |params| {
        format!(
            "SELECT created_at FROM sessions WHERE id = {} AND user_id = (SELECT id FROM me)",
            params.bind(text_or_null(session.as_deref()))
        )
    })?;
    let row: Option<Started> = super::returned_row(db, select, context).await?;
    Ok(row.map(|row| row.created_at))
}

/// Links the provider's account `subject` (as `issuer` names it), whose email is `email`, to
/// the caller, whatever the email, unless it is someone else's or the caller has another
/// account of this provider. The insert reads the caller's row from `me`, so a caller whose
/// session ended links nothing; the schema's keys decide the rest, in the same batch.
pub async fn link(
    db: &Db,
    caller: &Caller,
    (provider, issuer, subject): (&str, &str, &str),
    email: &str,
    now: i64,
) -> Result<Linking> {
    #[derive(Deserialize)]
    struct Owner {
        user_id: i64,
    }
    let context = "linking an identity";
    let insert = scoped(db, caller, context, |params| {
        format!(
            "INSERT INTO identities (provider, issuer, subject, user_id, email, created_at) \
             SELECT {}, {}, {}, id, {}, {} FROM me WHERE 1 ON CONFLICT DO NOTHING",
            params.bind(provider),
            params.bind(issuer),
            params.bind(subject),
            params.bind(email),
            params.bind(int(now)),
        )
    })?;
    let owner = scoped(db, caller, context, |params| {
        format!(
            "SELECT identities.user_id, (SELECT id FROM me) AS me FROM identities \
             WHERE identities.issuer = {} AND identities.subject = {}",
            params.bind(issuer),
            params.bind(subject),
        )
    })?;
    let me = scoped(db, caller, context, |_| {
        "SELECT id AS user_id FROM me".into()
    })?;
    let results = db.batch(vec![insert, owner, me], context).await?;
    let owner = rows::<Owner>(&results[1], context)?.into_iter().next();
    let Some(me) = rows::<Owner>(&results[2], context)?.into_iter().next() else {
        return Ok(Linking::Gone);
    };
    Ok(match owner {
        Some(owner) if owner.user_id == me.user_id => Linking::Linked,
        Some(_) => Linking::Conflict,
        None => Linking::HasAnother,
    })
}

/// A one-time code, exchanged.
#[derive(Debug)]
pub struct Claimed {
    pub user_id: i64,
    /// The user's token version when the code was issued: the session starts only if it is
    /// still theirs.
    pub token_version: i64,
    /// Whether a second factor is on: the code then gives a login's second step, not tokens.
    pub second_factor: bool,
}

/// Uses up the code stored by `code_hash`, if it is there, unexpired, and was issued with
/// `challenge` (the S256 of the verifier presented); every code is issued with one.
/// Deleting it is the decision: of any number of requests with one code, one gets its row.
pub async fn claim_code(
    db: &Db,
    code_hash: &str,
    challenge: &str,
    now: i64,
) -> Result<Option<Claimed>> {
    let context = "exchanging a sign-in code";
    let delete = statement(
        db,
        "DELETE FROM sign_in_codes WHERE code_hash = ?1 AND expires_at > ?2 \
         AND client_challenge = ?3 RETURNING user_id, token_version, EXISTS (SELECT 1 FROM \
         totp_factors f WHERE f.user_id = sign_in_codes.user_id AND f.enabled_at IS NOT NULL) \
         AS second_factor",
        &[code_hash.into(), int(now), challenge.into()],
        context,
    )?;
    #[derive(Deserialize)]
    struct Row {
        user_id: i64,
        token_version: i64,
        second_factor: i64,
    }
    let result = db.write(delete, context).await?;
    Ok(rows::<Row>(&result, context)?
        .into_iter()
        .next()
        .map(|row| Claimed {
            user_id: row.user_id,
            token_version: row.token_version,
            second_factor: row.second_factor != 0,
        }))
}

/// The caller's linked identities, oldest first; `None` when the caller may no longer act.
pub async fn list(db: &Db, caller: &Caller) -> Result<Option<Vec<LinkedIdentity>>> {
    #[derive(Deserialize)]
    struct Row {
        provider: String,
        email: String,
        created_at: i64,
    }
    let context = "listing identities";
    let results = db
        .batch(
            vec![
                scoped(db, caller, context, |_| "SELECT id FROM me".into())?,
                scoped(db, caller, context, |_| {
                    "SELECT provider, email, created_at FROM identities \
                     WHERE user_id = (SELECT id FROM me) ORDER BY created_at, provider"
                        .into()
                })?,
            ],
            context,
        )
        .await?;
    if rows::<IgnoredAny>(&results[0], context)?.is_empty() {
        return Ok(None);
    }
    let identities = rows::<Row>(&results[1], context)?
        .into_iter()
        .map(|row| LinkedIdentity {
            provider: row.provider,
            email: row.email,
            created_at: rfc3339(row.created_at),
        })
        .collect();
    Ok(Some(identities))
}

/// What unlinking an identity came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Unlinked {
    Done,
    /// The caller has no identity of this provider.
    NotLinked,
    /// It is the caller's last way in: no password, no other identity.
    LastWayIn,
    /// The caller's token is no longer good.
    NotAuthenticated,
}

/// Unlinks the caller's identity of `provider`, only while a password or another identity
/// remains, decided in the statement that deletes: two requests unlinking a user's last two
/// identities at once cannot both succeed.
pub async fn unlink(db: &Db, caller: &Caller, provider: &str) -> Result<Unlinked> {
    let context = "unlinking an identity";
    let delete = scoped(db, caller, context, |params| {
        let provider = params.bind(provider);
        format!(
            "DELETE FROM identities WHERE user_id = (SELECT id FROM me) AND provider = {provider} \
             AND (EXISTS (SELECT 1 FROM users WHERE users.id = identities.user_id \
             AND users.hashed_password <> '') OR EXISTS (SELECT 1 FROM identities other \
             WHERE other.user_id = identities.user_id AND other.provider <> {provider})) \
             RETURNING provider"
        )
    })?;
    let remains = scoped(db, caller, context, |params| {
        format!(
            "SELECT 1 FROM identities WHERE user_id = (SELECT id FROM me) AND provider = {}",
            params.bind(provider)
        )
    })?;
    let me = scoped(db, caller, context, |_| "SELECT id FROM me".into())?;
    let results = db.batch(vec![me, delete, remains], context).await?;
    let found =
        |i: usize| -> Result<bool> { Ok(!rows::<IgnoredAny>(&results[i], context)?.is_empty()) };
    Ok(if !found(0)? {
        Unlinked::NotAuthenticated
    } else if found(1)? {
        Unlinked::Done
    } else if found(2)? {
        Unlinked::LastWayIn
    } else {
        Unlinked::NotLinked
    })
}
