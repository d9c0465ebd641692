//! Every SQL statement lives here; D1 is touched nowhere else.

pub mod attempts;
pub mod caller;
pub mod cleanup;
pub mod recipes;
pub mod sessions;
pub mod users;

use serde::de::DeserializeOwned;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

use crate::error::ApiError;

/// D1 binds numbers as JavaScript doubles; ids and timestamps stay far below 2^53.
fn int(value: i64) -> JsValue {
    JsValue::from_f64(value as f64)
}

fn text_or_null(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// D1 reports a violated UNIQUE constraint as a generic error whose message names it.
/// This is the one place that knows that.
fn is_unique_violation(error: &worker::Error) -> bool {
    error.to_string().contains("UNIQUE constraint failed")
}

fn d1_error(context: &'static str) -> impl FnOnce(worker::Error) -> ApiError {
    move |error| ApiError::internal(context, error)
}

/// A prepared statement with its arguments bound.
fn statement(
    db: &D1Database,
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

/// The first row of a statement's result, if any.
async fn first_row<T: DeserializeOwned>(
    statement: D1PreparedStatement,
    context: &'static str,
) -> Result<Option<T>, ApiError> {
    statement.first::<T>(None).await.map_err(d1_error(context))
}
