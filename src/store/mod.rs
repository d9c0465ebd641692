//! Every SQL statement lives here; D1 is touched nowhere else.

pub mod attempts;
pub mod caller;
pub mod cleanup;
pub mod email_sign_in;
pub mod email_tokens;
pub mod identities;
pub mod passkeys;
pub mod recipes;
pub mod sessions;
pub mod totp;
pub mod users;

use std::cell::Cell;

use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1DatabaseSession, D1PreparedStatement, D1Result, D1SessionConstraint};

use crate::error::ApiError;

/// Where a request's first query may go: the nearest read replica, or the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// `first-unconstrained`: any replica, for requests that only read.
    Nearest,
    /// `first-primary`: for writes, and for whatever decides on credentials.
    Primary,
}

/// What a request's statements did, from D1's own counters, for its log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Calls to D1: a batch is one, however many statements it holds.
    pub round_trips: u32,
    pub statements: u32,
    pub rows_read: u64,
    pub rows_written: u64,
}

/// The database as one request sees it: one D1 session, so that its reads follow its writes
/// and a client can carry a bookmark from one request to the next (read replication), and
/// what its statements cost.
pub struct Db {
    session: D1DatabaseSession,
    usage: Cell<Usage>,
}

impl Db {
    /// A session resuming from a client's `bookmark` (it then reads at least what that
    /// bookmark saw), or else starting as `consistency` says.
    pub fn open(
        d1: &D1Database,
        consistency: Consistency,
        bookmark: Option<&str>,
    ) -> Result<Db, ApiError> {
        let session = match bookmark {
            Some(bookmark) => d1.with_session(Some(bookmark)),
            None => d1.with_session_constraint(match consistency {
                Consistency::Nearest => D1SessionConstraint::FirstUnconstrained,
                Consistency::Primary => D1SessionConstraint::FirstPrimary,
            }),
        }
        .map_err(d1_error("starting a D1 session"))?;
        Ok(Db {
            session,
            usage: Cell::default(),
        })
    }

    /// The latest bookmark the session has seen, for the client to send back.
    pub fn bookmark(&self) -> Option<String> {
        self.session.get_bookmark().ok().flatten()
    }

    pub fn usage(&self) -> Usage {
        self.usage.get()
    }

    fn prepare(&self, sql: &str) -> D1PreparedStatement {
        self.session.prepare(sql)
    }

    fn count_round_trip(&self) {
        let mut usage = self.usage.get();
        usage.round_trips += 1;
        self.usage.set(usage);
    }

    fn count(&self, result: &D1Result) {
        let meta = result.meta().ok().flatten();
        let mut usage = self.usage.get();
        usage.statements += 1;
        if let Some(meta) = meta {
            usage.rows_read += meta.rows_read.unwrap_or(0) as u64;
            usage.rows_written += meta.rows_written.unwrap_or(0) as u64;
        }
        self.usage.set(usage);
    }

    /// Runs a statement that only reads, once more if D1 fails in a way that says nothing
    /// ran (a lost connection, a reset storage object).
    async fn read(
        &self,
        statement: D1PreparedStatement,
        context: &'static str,
    ) -> Result<D1Result, ApiError> {
        self.count_round_trip();
        let result = match statement.all().await {
            Err(error) if is_transient(&error.to_string()) => statement.all().await,
            other => other,
        }
        .map_err(d1_error(context))?;
        self.count(&result);
        Ok(result)
    }

    /// Runs a statement that writes: never retried, as a failure may come after the write.
    async fn write(
        &self,
        statement: D1PreparedStatement,
        context: &'static str,
    ) -> Result<D1Result, ApiError> {
        self.count_round_trip();
        let result = statement.all().await.map_err(d1_error(context))?;
        self.count(&result);
        Ok(result)
    }

    /// Runs statements as one batch: one round trip, one transaction. Never retried.
    async fn batch(
        &self,
        statements: Vec<D1PreparedStatement>,
        context: &'static str,
    ) -> Result<Vec<D1Result>, ApiError> {
        self.count_round_trip();
        let results = self
            .session
            .batch(statements)
            .await
            .map_err(d1_error(context))?;
        results.iter().for_each(|result| self.count(result));
        Ok(results)
    }
}

/// One `SELECT 1`: whether D1 answers at all (`GET /readyz`). It reads no row.
pub async fn ping(db: &Db) -> Result<(), ApiError> {
    db.read(db.prepare("SELECT 1"), "readiness check").await?;
    Ok(())
}

/// A bookmark as a client sent it back (`x-d1-bookmark`), if it has the shape of one D1
/// hands out: hexadecimal groups joined by `-`, up to 256 characters. Anything else (a
/// session constraint such as `first-primary` included) is refused with a 400 before D1
/// sees it.
pub fn parse_bookmark(value: &str) -> Option<&str> {
    let value = value.trim();
    let shaped = !value.is_empty()
        && value.len() <= 256
        && value
            .split('-')
            .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_hexdigit()));
    shaped.then_some(value)
}

/// D1 binds numbers as JavaScript doubles; ids and timestamps stay far below 2^53.
fn int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

fn text_or_null(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// D1 reports a violated UNIQUE constraint as a generic error whose message names it.
/// This is the one place that knows that.
fn is_unique_violation(error: &ApiError) -> bool {
    matches!(error, ApiError::Internal(cause) if cause.contains("UNIQUE constraint failed"))
}

/// Whether a D1 error is one that Cloudflare documents as transient: the statement did not
/// run, and the same statement may succeed at once.
fn is_transient(message: &str) -> bool {
    const TRANSIENT: [&str; 5] = [
        "Network connection lost",
        "storage caused object to be reset",
        "reset because its code was updated",
        "transient issue on remote node",
        "Cannot resolve D1 DB due to transient issue",
    ];
    TRANSIENT.iter().any(|needle| message.contains(needle))
}

/// Whether a D1 error says the database cannot serve now (transient, or overloaded).
fn is_unavailable(message: &str) -> bool {
    is_transient(message)
        || message.contains("overloaded")
        || message.contains("queued for too long")
}

/// A D1 failure: `503` with `Retry-After` when D1 says it cannot serve now, else `500` (a
/// statement of ours that D1 refused); the cause is logged either way, never shown.
fn d1_error(context: &'static str) -> impl FnOnce(worker::Error) -> ApiError {
    move |error| {
        let message = error.to_string();
        if is_unavailable(&message) {
            ApiError::Unavailable(format!("{context}: {message}"))
        } else {
            ApiError::internal(context, message)
        }
    }
}

/// The tables of a user's other ways in and what they started: emptied when the holder of an
/// address takes over an account whose email was never verified, by a provider's verified
/// email (identities) or by a sign-in email (email_sign_in). Someone may have signed up with
/// the address to be there first, with a password, a second factor or a passkey of their own.
pub(super) const TAKEN_OVER: [&str; 8] = [
    "sessions",
    "totp_factors",
    "totp_recovery_codes",
    "mfa_tokens",
    "email_tokens",
    "sign_in_codes",
    "identities",
    "passkeys",
];

/// A statement's parameters, bound in the order its SQL is written: [`Params::bind`] hands
/// out each value's placeholder, so a fragment shared by several statements (the caller's
/// `me`, a token check) takes the placeholders it is given, and no `?N` is numbered by hand.
#[derive(Default)]
pub(super) struct Params(Vec<JsValue>);

impl Params {
    /// Binds `value` and returns its placeholder, `?N`, for the SQL to use (as often as it
    /// likes).
    pub fn bind(&mut self, value: impl Into<JsValue>) -> String {
        self.0.push(value.into());
        format!("?{}", self.0.len())
    }

    /// The statement `sql`, written with these placeholders, with the values bound.
    pub fn prepare(
        &self,
        db: &Db,
        sql: &str,
        context: &'static str,
    ) -> Result<D1PreparedStatement, ApiError> {
        statement(db, sql, &self.0, context)
    }
}

/// A prepared statement with its arguments bound.
fn statement(
    db: &Db,
    sql: &str,
    args: &[JsValue],
    context: &'static str,
) -> Result<D1PreparedStatement, ApiError> {
    db.prepare(sql).bind(args).map_err(d1_error(context))
}

/// The rows of one statement's result, as in a batch.
fn rows<T: DeserializeOwned>(result: &D1Result, context: &'static str) -> Result<Vec<T>, ApiError> {
    result.results::<T>().map_err(d1_error(context))
}

/// The first row a reading statement returns, if any.
async fn first_row<T: DeserializeOwned>(
    db: &Db,
    statement: D1PreparedStatement,
    context: &'static str,
) -> Result<Option<T>, ApiError> {
    let result = db.read(statement, context).await?;
    Ok(rows(&result, context)?.into_iter().next())
}

/// The first row a reading statement returns, read as two types: the columns one query
/// shares with others (`A`) and the ones only it selects (`B`). Unknown columns are ignored.
async fn first_row_split<A: DeserializeOwned, B: DeserializeOwned>(
    db: &Db,
    statement: D1PreparedStatement,
    context: &'static str,
) -> Result<Option<(A, B)>, ApiError> {
    let result = db.read(statement, context).await?;
    let shared = rows::<A>(&result, context)?.into_iter().next();
    let own = rows::<B>(&result, context)?.into_iter().next();
    Ok(shared.zip(own))
}

/// The first row a writing statement returns (`RETURNING`), if any.
async fn returned_row<T: DeserializeOwned>(
    db: &Db,
    statement: D1PreparedStatement,
    context: &'static str,
) -> Result<Option<T>, ApiError> {
    let result = db.write(statement, context).await?;
    Ok(rows(&result, context)?.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::{d1_error, is_transient, is_unavailable, parse_bookmark};

    #[test]
    fn only_what_cloudflare_calls_transient_is_retried() {
        assert!(is_transient("D1_ERROR: Network connection lost."));
        assert!(is_transient(
            "D1_ERROR: Internal error in D1 DB storage caused object to be reset."
        ));
        assert!(!is_transient(
            "D1_ERROR: UNIQUE constraint failed: users.email"
        ));
        assert!(!is_transient("D1_ERROR: no such table: recipes"));
        assert!(!is_transient(
            "D1 DB is overloaded. Too many requests queued."
        ));
        assert!(is_unavailable(
            "D1 DB is overloaded. Too many requests queued."
        ));
    }

    #[test]
    fn d1_failing_for_now_is_a_503_and_anything_else_a_500() {
        let lost = d1_error("reading")(worker::Error::RustError(
            "D1_ERROR: Network connection lost.".into(),
        ));
        assert_eq!(lost.status(), 503);
        assert!(
            lost.cause().unwrap().contains("Network connection lost"),
            "cause kept"
        );
        let ours = d1_error("reading")(worker::Error::RustError(
            "D1_ERROR: no such column: labl".into(),
        ));
        assert_eq!(ours.status(), 500);
    }

    #[test]
    fn a_bookmark_is_what_d1_hands_out_and_nothing_else() {
        let real = "0000007b-0000b26e-00001538-0c3e87bb37b3db5cc52eedb93cd3b96b";
        assert_eq!(parse_bookmark(real), Some(real));
        for bad in [
            "",
            "first-primary",
            "first-unconstrained",
            "not a bookmark",
            "0000-<script>",
        ] {
            assert_eq!(parse_bookmark(bad), None, "{bad:?}");
        }
        assert_eq!(parse_bookmark(&"0".repeat(257)), None, "too long");
    }
}
