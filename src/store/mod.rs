//! Every SQL statement lives here; D1 is touched nowhere else.

pub mod login_failures;
pub mod recipes;
pub mod users;

use crate::error::ApiError;

/// D1 reports a violated UNIQUE constraint as a generic error whose message names it.
/// This is the one place that knows that.
fn is_unique_violation(error: &worker::Error) -> bool {
    error.to_string().contains("UNIQUE constraint failed")
}

fn d1_error(context: &'static str) -> impl FnOnce(worker::Error) -> ApiError {
    move |error| ApiError::internal(context, error)
}
