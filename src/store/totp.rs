//! The second factor's tables: `totp_factors` (a user's sealed TOTP secret, pending or on,
//! and the last time step used), `totp_recovery_codes` (by SHA-256) and `mfa_tokens` (logins
//! waiting for their second step, by SHA-256).
//!
//! Each change is decided in the statement that writes it. A write that must happen only if
//! an earlier statement of its batch did (the batch is one transaction, but cannot stop
//! half-way) finds a marker only that statement can have written: a value unique to the
//! request, such as a fresh sealing of the secret or the new session's id.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use worker::wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use super::caller::{scoped, Caller, CurrentUser, MeRow};
use super::{email_tokens, first_row, first_row_split, int, rows, sessions, statement, Db, Params};
use crate::error::Result;

/// The most logins one user may have waiting for their second step: each right password
/// makes one, and no one, the password's owner included, can make D1 hold more.
pub const MAX_PENDING_LOGINS_PER_USER: i64 = 10;

/// A user's TOTP factor as stored.
#[derive(Debug, Deserialize)]
pub struct Factor {
    /// Sealed with `MFA_ENCRYPTION_KEY` (src/security/mfa_key.rs).
    pub secret: String,
    /// Whether it is on; otherwise set up and waiting for its first code.
    pub enabled: bool,
    /// The last time step whose code was accepted (0: none); only later ones are.
    pub last_step: i64,
}

/// What proves the second factor: a TOTP code of this time step, or the recovery code stored
/// by this hash.
#[derive(Debug, Clone)]
pub enum Proof {
    Step(i64),
    Recovery(String),
}

impl Proof {
    /// The condition that the proof is still good for the factor row `f` (step later than
    /// the last used; recovery code unused), its value bound in `params`.
    fn condition(&self, params: &mut Params) -> String {
        let value = params.bind(self.value());
        match self {
            Proof::Step(_) => format!("f.last_step < {value}"),
            Proof::Recovery(_) => format!(
                "EXISTS (SELECT 1 FROM totp_recovery_codes c WHERE c.code_hash = {value} \
                 AND c.user_id = f.user_id)"
            ),
        }
    }

    fn value(&self) -> JsValue {
        match self {
            Proof::Step(step) => int(*step),
            Proof::Recovery(hash) => hash.as_str().into(),
        }
    }

    /// The statement using the proof up for the user whose waiting login `token_hash`
    /// was claimed with `claim` in the same batch: the step becomes the last used, the
    /// recovery code is deleted. Nothing without that claim.
    fn use_up(
        &self,
        db: &Db,
        (token_hash, claim): (&str, &str),
        context: &'static str,
    ) -> Result<D1PreparedStatement> {
        let mut params = Params::default();
        let value = params.bind(self.value());
        let user = format!(
            "SELECT user_id FROM mfa_tokens WHERE token_hash = {} AND claimed_by = {}",
            params.bind(token_hash),
            params.bind(claim)
        );
        let sql = match self {
            Proof::Step(_) => {
                format!("UPDATE totp_factors SET last_step = {value} WHERE user_id = ({user})")
            }
            Proof::Recovery(_) => format!(
                "DELETE FROM totp_recovery_codes WHERE code_hash = {value} AND user_id = ({user})"
            ),
        };
        params.prepare(db, &sql, context)
    }
}

/// The caller, with their password hash and their factor if they have one, or `None` when
/// their token is no longer good (one statement).
pub async fn authenticate_with_factor(
    db: &Db,
    caller: &Caller,
) -> Result<Option<(CurrentUser, String, Option<Factor>)>> {
    #[derive(Deserialize)]
    struct Row {
        hashed_password: String,
        secret: Option<String>,
        enabled: Option<i64>,
        last_step: Option<i64>,
    }
    let context = "authenticating with the second factor";
    let statement = scoped(db, caller, context, |_| {
        "SELECT me.*, users.hashed_password, f.secret, f.enabled_at IS NOT NULL AS enabled, \
         f.last_step FROM me JOIN users ON users.id = me.id \
         LEFT JOIN totp_factors f ON f.user_id = me.id"
            .into()
    })?;
    let row: Option<(MeRow, Row)> = first_row_split(db, statement, context).await?;
    Ok(row.map(|(me, row)| {
        let factor = row.secret.map(|secret| Factor {
            secret,
            enabled: row.enabled == Some(1),
            last_step: row.last_step.unwrap_or_default(),
        });
        (me.into_current(caller), row.hashed_password, factor)
    }))
}

/// Stores `sealed` as the caller's pending factor, replacing a pending one (its time steps
/// start again), never one that is on; `also` runs in the same batch, after. `false` when
/// nothing was stored: the caller's factor is on, or their token is no longer good.
pub async fn set_up(
    db: &Db,
    caller: &Caller,
    sealed: &str,
    now: i64,
    also: Vec<D1PreparedStatement>,
) -> Result<bool> {
    let context = "setting up a second factor";
    let mut statements = vec![scoped(db, caller, context, |params| {
        format!(
            "INSERT INTO totp_factors (user_id, secret, created_at) SELECT id, {}, {} FROM me \
             WHERE true ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
             created_at = excluded.created_at, last_step = 0 \
             WHERE totp_factors.enabled_at IS NULL RETURNING user_id",
            params.bind(sealed),
            params.bind(int(now)),
        )
    })?];
    statements.extend(also);
    let results = db.batch(statements, context).await?;
    Ok(!rows::<IgnoredAny>(&results[0], context)?.is_empty())
}

/// The user row's new token version after a batch that raised it, from `RETURNING id,
/// token_version`.
#[derive(Deserialize)]
struct Raised {
    id: i64,
    token_version: i64,
}

/// Turns the caller's pending factor on, if it is still the one sealed as `sealed` (the one
/// the code was checked against) and `step` is later than its last: the step becomes its
/// last used, the secret is stored sealed afresh as `resealed` (the batch's marker), the
/// recovery codes stored by `code_hashes` replace any others, and the user's token version
/// goes up, so that every session and token from before ends, the caller's own included.
/// The user and their new token version, or `None` when nothing changed.
pub async fn enable(
    db: &Db,
    caller: &Caller,
    (sealed, resealed): (&str, &str),
    step: i64,
    code_hashes: &[String],
    now: i64,
) -> Result<Option<(i64, i64)>> {
    let context = "turning a second factor on";
    let user_id = caller.claimed_user_id();
    let marker = "EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ?1 AND secret = ?2)";
    let hashes = serde_json::to_string(code_hashes).unwrap_or_else(|_| "[]".into());
    let (user, resealed_value) = (int(user_id), JsValue::from(resealed));
    let mut statements = vec![
        scoped(db, caller, context, |params| {
            let step = params.bind(int(step));
            format!(
                "UPDATE totp_factors AS f SET enabled_at = {}, last_step = {step}, secret = {} \
                 WHERE f.user_id = (SELECT id FROM me) AND f.enabled_at IS NULL \
                 AND f.secret = {} AND f.last_step < {step} RETURNING user_id",
                params.bind(int(now)),
                params.bind(resealed),
                params.bind(sealed),
            )
        })?,
        statement(
            db,
            &format!("DELETE FROM totp_recovery_codes WHERE user_id = ?1 AND {marker}"),
            &[user.clone(), resealed_value.clone()],
            context,
        )?,
        statement(
            db,
            &format!(
                "INSERT INTO totp_recovery_codes (code_hash, user_id) \
                 SELECT value, ?1 FROM json_each(?3) WHERE {marker}"
            ),
            &[user.clone(), resealed_value.clone(), hashes.into()],
            context,
        )?,
    ];
    statements.extend(raise_token_version(db, user_id, &resealed_value, now)?);
    let results = db.batch(statements, context).await?;
    raised(&results[3], context)
}

/// Turns the caller's factor off, if it is on, still sealed as `sealed` and `proof` is still
/// good for it: the factor, its recovery codes and the logins waiting for it go, and the
/// user's token version goes up (every session and token from before ends, the caller's own
/// included). `marker`, a value unique to the request, marks the factor for the batch's
/// later statements before it goes. The user and their new token version, or `None`.
pub async fn disable(
    db: &Db,
    caller: &Caller,
    sealed: &str,
    proof: &Proof,
    marker: &str,
    now: i64,
) -> Result<Option<(i64, i64)>> {
    let context = "turning a second factor off";
    let user_id = caller.claimed_user_id();
    let marked = "EXISTS (SELECT 1 FROM totp_factors WHERE user_id = ?1 AND secret = ?2)";
    let (user, marker_value) = (int(user_id), JsValue::from(marker));
    let mut statements = vec![scoped(db, caller, context, |params| {
        format!(
            "UPDATE totp_factors AS f SET secret = {} WHERE f.user_id = (SELECT id FROM me) \
             AND f.enabled_at IS NOT NULL AND f.secret = {} AND {} RETURNING user_id",
            params.bind(marker),
            params.bind(sealed),
            proof.condition(params),
        )
    })?];
    statements.extend(raise_token_version(db, user_id, &marker_value, now)?);
    for table in ["totp_recovery_codes", "mfa_tokens"] {
        statements.push(statement(
            db,
            &format!("DELETE FROM {table} WHERE user_id = ?1 AND {marked}"),
            &[user.clone(), marker_value.clone()],
            context,
        )?);
    }
    statements.push(statement(
        db,
        "DELETE FROM totp_factors WHERE user_id = ?1 AND secret = ?2",
        &[user, marker_value],
        context,
    )?);
    let results = db.batch(statements, context).await?;
    raised(&results[1], context)
}

/// The statements raising user `user_id`'s token version while their factor row holds
/// `marker`, then ending their sessions and recovery links from before, as a password change
/// does. The first returns the new version.
fn raise_token_version(
    db: &Db,
    user_id: i64,
    marker: &JsValue,
    now: i64,
) -> Result<Vec<D1PreparedStatement>> {
    Ok(vec![
        statement(
            db,
            "UPDATE users SET token_version = token_version + 1 WHERE id = ?1 AND EXISTS \
             (SELECT 1 FROM totp_factors WHERE user_id = ?1 AND secret = ?2) \
             RETURNING id, token_version",
            &[int(user_id), marker.clone()],
            "raising the token version",
        )?,
        sessions::revoke_stale(db, user_id, now)?,
        email_tokens::end_stale(db, user_id)?,
    ])
}

fn raised(result: &worker::D1Result, context: &'static str) -> Result<Option<(i64, i64)>> {
    Ok(rows::<Raised>(result, context)?
        .into_iter()
        .next()
        .map(|row| (row.id, row.token_version)))
}

/// Stores a login waiting for its second step: the token stored as `token_hash`, for user
/// `user_id` under `token_version` (the version read with the password just checked),
/// expiring at `expires_at`, while the user still has that version, is active and has a
/// factor on. The user's ended ones, and the oldest beyond [`MAX_PENDING_LOGINS_PER_USER`],
/// go. `also` runs in the same batch, after. `None` when it was not stored; else whether
/// the user has a passkey (which can answer the second step too).
pub async fn start_pending_login(
    db: &Db,
    (user_id, token_version): (i64, i64),
    token_hash: &str,
    (now, expires_at): (i64, i64),
    also: Vec<D1PreparedStatement>,
) -> Result<Option<bool>> {
    let context = "starting a login's second step";
    let mut statements = vec![
        statement(
            db,
            "INSERT INTO mfa_tokens (token_hash, user_id, token_version, expires_at) \
             SELECT ?1, id, token_version, ?4 FROM users WHERE id = ?2 AND token_version = ?3 \
             AND is_active = 1 AND EXISTS (SELECT 1 FROM totp_factors \
             WHERE user_id = users.id AND enabled_at IS NOT NULL) RETURNING user_id, \
             EXISTS (SELECT 1 FROM passkeys p WHERE p.user_id = mfa_tokens.user_id) AS passkey",
            &[
                token_hash.into(),
                int(user_id),
                int(token_version),
                int(expires_at),
            ],
            context,
        )?,
        statement(
            db,
            "DELETE FROM mfa_tokens WHERE user_id = ?1 AND (expires_at <= ?2 \
             OR claimed_by IS NOT NULL OR token_hash NOT IN (SELECT token_hash FROM mfa_tokens \
             WHERE user_id = ?1 ORDER BY expires_at DESC, token_hash LIMIT ?3))",
            &[int(user_id), int(now), int(MAX_PENDING_LOGINS_PER_USER)],
            context,
        )?,
    ];
    statements.extend(also);
    let results = db.batch(statements, context).await?;
    #[derive(Deserialize)]
    struct Started {
        passkey: i64,
    }
    Ok(rows::<Started>(&results[0], context)?
        .into_iter()
        .next()
        .map(|started| started.passkey != 0))
}

/// A login waiting for its second step, as its token found it.
#[derive(Debug, Deserialize)]
pub struct PendingLogin {
    pub user_id: i64,
    pub token_version: i64,
    /// The user's factor, sealed.
    pub secret: String,
    pub last_step: i64,
}

/// The login waiting with the token stored as `token_hash`: unexpired, unused, of the user's
/// current token version, for an active user whose factor is on. `None` otherwise.
pub async fn find_pending_login(
    db: &Db,
    token_hash: &str,
    now: i64,
) -> Result<Option<PendingLogin>> {
    let context = "reading a login's second step";
    let statement = statement(
        db,
        "SELECT m.user_id, m.token_version, f.secret, f.last_step FROM mfa_tokens m \
         JOIN users u ON u.id = m.user_id JOIN totp_factors f ON f.user_id = m.user_id \
         WHERE m.token_hash = ?1 AND m.claimed_by IS NULL AND m.expires_at > ?2 \
         AND m.token_version = u.token_version AND u.is_active = 1 \
         AND f.enabled_at IS NOT NULL",
        &[token_hash.into(), int(now)],
        context,
    )?;
    first_row(db, statement, context).await
}

/// Uses the waiting login's token stored as `token_hash` for the session `session_id`, if it
/// is still good (as [`find_pending_login`] reads it) and `proof` still holds for the
/// factor, and uses the proof up, in one transaction: of two requests with one token, or one
/// code, one wins. `false` when nothing was used.
pub async fn claim_pending_login(
    db: &Db,
    token_hash: &str,
    session_id: &str,
    proof: &Proof,
    now: i64,
) -> Result<bool> {
    let context = "claiming a login's second step";
    let mut claim = Params::default();
    let claim_sql = format!(
        "UPDATE mfa_tokens AS m SET claimed_by = {} WHERE m.token_hash = {} \
         AND m.claimed_by IS NULL AND m.expires_at > {} \
         AND m.token_version = (SELECT token_version FROM users u \
         WHERE u.id = m.user_id AND u.is_active = 1) \
         AND EXISTS (SELECT 1 FROM totp_factors f WHERE f.user_id = m.user_id \
         AND f.enabled_at IS NOT NULL AND {}) RETURNING user_id",
        claim.bind(session_id),
        claim.bind(token_hash),
        claim.bind(int(now)),
        proof.condition(&mut claim),
    );
    let statements = vec![
        claim.prepare(db, &claim_sql, context)?,
        proof.use_up(db, (token_hash, session_id), context)?,
    ];
    let results = db.batch(statements, context).await?;
    Ok(!rows::<IgnoredAny>(&results[0], context)?.is_empty())
}

/// The statement deleting the used token stored as `token_hash`, for the batch that starts
/// its session.
pub fn end_pending_login(db: &Db, token_hash: &str) -> Result<D1PreparedStatement> {
    statement(
        db,
        "DELETE FROM mfa_tokens WHERE token_hash = ?1",
        &[token_hash.into()],
        "ending a login's second step",
    )
}

/// A factor's sealed secret, as the cleanup reads it to seal it afresh.
#[derive(Debug, Deserialize)]
pub struct SealedSecret {
    pub user_id: i64,
    pub secret: String,
}

/// Up to `limit` factors, pending or on, of users after `after` in id order, whose secret
/// does not start with `prefix` (`v2.<kid of the current key>.`): those the current key did
/// not seal. Compared with `substr`, not `LIKE`, which ignores case and reads `_`, a
/// base64url character, as a wildcard.
pub async fn sealed_otherwise(
    db: &Db,
    prefix: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<SealedSecret>> {
    let context = "reading secrets to seal afresh";
    let statement = statement(
        db,
        "SELECT user_id, secret FROM totp_factors WHERE user_id > ?1 \
         AND substr(secret, 1, length(?2)) <> ?2 ORDER BY user_id LIMIT ?3",
        &[int(after), prefix.into(), int(i64::from(limit))],
        context,
    )?;
    let result = db.read(statement, context).await?;
    rows(&result, context)
}

/// A secret sealed afresh: user `user_id`'s factor is to hold `new` if it still holds `old`.
#[derive(Debug, Serialize)]
pub struct Resealed {
    pub user_id: i64,
    pub old: String,
    pub new: String,
}

/// Stores each of `resealed` where the user's factor still holds its `old` value, in one
/// statement; returns how many were stored. A factor set up, turned on or off since it was
/// read holds another value (each sealing, and each marker, is unique), and is left as that
/// request wrote it.
pub async fn store_resealed(db: &Db, resealed: &[Resealed]) -> Result<u64> {
    let context = "sealing secrets afresh";
    if resealed.is_empty() {
        return Ok(0);
    }
    let json = serde_json::to_string(resealed).unwrap_or_else(|_| "[]".into());
    let statement = statement(
        db,
        "UPDATE totp_factors AS f SET secret = json_extract(j.value, '$.new') \
         FROM json_each(?1) AS j \
         WHERE f.user_id = json_extract(j.value, '$.user_id') \
         AND f.secret = json_extract(j.value, '$.old') RETURNING user_id",
        &[json.into()],
        context,
    )?;
    let result = db.write(statement, context).await?;
    Ok(rows::<IgnoredAny>(&result, context)?.len() as u64)
}
