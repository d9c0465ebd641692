//! One error type for every handler, and its single mapping to FastAPI-shaped responses.

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;
use worker::{Response, ResponseBuilder};

use crate::domain::validation::FieldError;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum ApiError {
    /// 422: the request did not parse; FastAPI's `{"detail": [{loc, msg, type}]}`.
    Validation(Vec<FieldError>),
    /// 400: the request parsed but cannot be honoured (duplicate email, bad credentials).
    BadRequest(String),
    /// 401 with `WWW-Authenticate: Bearer`: no usable access token.
    Unauthorized(&'static str),
    /// 403: authenticated, but not allowed to touch this (someone else's recipe).
    Forbidden(&'static str),
    /// 404: no such route or resource.
    NotFound(String),
    /// 405 with `Allow` (the methods the path has): the route exists, the method does not.
    MethodNotAllowed(String),
    /// 413: the body is over the limit every route shares.
    PayloadTooLarge,
    /// 415: a JSON route was sent another media type (the one expected is named).
    UnsupportedMediaType(&'static str),
    /// 429 with `Retry-After` (seconds) and what was too many: logins or signups.
    TooManyRequests(i64, &'static str),
    /// 503 with `Retry-After`: D1 failed in a way it documents as passing (a lost
    /// connection, a reset storage object, overload); the log line keeps the cause.
    Unavailable(String),
    /// 503 with `Retry-After`: a Turnstile token could not be verified (siteverify could not
    /// be reached, failed, or gave no readable answer); refused rather than let through.
    TurnstileUnavailable(String),
    /// 503 with `Retry-After`: `GET /readyz` found D1 failing; the log line keeps the cause.
    NotReady(String),
    /// 503 with `Retry-After`: `GET /readyz` waited [`READY_TIMEOUT_SECONDS`] for D1 in vain.
    NotReadyInTime,
    /// 500: the deployment lacks a required setting; the log line says which.
    Misconfigured(String),
    /// 500: anything else that is our fault; logged with context, never echoed.
    Internal(String),
}

/// `{"detail": "..."}`: every error but request validation (its schema in the OpenAPI
/// document).
#[derive(Serialize, ToSchema)]
#[schema(as = HTTPError)]
pub struct Detail {
    pub detail: String,
}

/// `422 {"detail": [...]}`: the request did not validate (its schema in the OpenAPI document).
#[derive(Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct ValidationErrors {
    pub detail: Vec<FieldError>,
}

pub const NOT_AUTHENTICATED: &str = "Not authenticated";
/// How long `GET /readyz` waits for D1 (src/api/health.rs), as its answer states it.
pub const READY_TIMEOUT_SECONDS: u64 = 3;
const NOT_READY: &str = "Not ready: the database failed; see the worker's log";
const NOT_READY_IN_TIME: &str = "Not ready: the database did not answer within 3 s";
const NOT_READY_IN_TIME_CAUSE: &str = "readiness check: SELECT 1 did not answer within 3 s";
pub const INVALID_CREDENTIALS: &str = "Could not validate credentials";

impl ApiError {
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        ApiError::Internal(format!("{context}: {error}"))
    }

    /// FastAPI's answer for a path that matches no route.
    pub fn no_route() -> Self {
        ApiError::NotFound("Not Found".into())
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation(_) => 422,
            ApiError::BadRequest(_) => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::PayloadTooLarge => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::TooManyRequests(..) => 429,
            ApiError::Unavailable(_)
            | ApiError::TurnstileUnavailable(_)
            | ApiError::NotReady(_)
            | ApiError::NotReadyInTime => 503,
            ApiError::Misconfigured(_) | ApiError::Internal(_) => 500,
        }
    }

    /// The `detail` member of the response body.
    pub fn detail(&self) -> Value {
        match self {
            ApiError::Validation(errors) => json!(errors),
            ApiError::BadRequest(message) | ApiError::NotFound(message) => json!(message),
            ApiError::Unauthorized(message) | ApiError::Forbidden(message) => json!(message),
            ApiError::MethodNotAllowed(_) => json!("Method Not Allowed"),
            ApiError::PayloadTooLarge => json!("Request body too large"),
            ApiError::UnsupportedMediaType(expected) => {
                json!(format!("Unsupported media type; expected {expected}"))
            }
            ApiError::TooManyRequests(_, message) => json!(message),
            ApiError::Unavailable(_) => json!("The database is unavailable; try again shortly"),
            ApiError::TurnstileUnavailable(_) => {
                json!("Turnstile verification is unavailable; try again shortly")
            }
            ApiError::NotReady(_) => json!(NOT_READY),
            ApiError::NotReadyInTime => json!(NOT_READY_IN_TIME),
            ApiError::Misconfigured(_) => json!("Server misconfigured; see the worker's log"),
            ApiError::Internal(_) => json!("Internal Server Error"),
        }
    }

    /// What went wrong, for the log, when it is our side's (a 5xx); never sent to the client.
    pub fn cause(&self) -> Option<&str> {
        match self {
            ApiError::Unavailable(cause)
            | ApiError::TurnstileUnavailable(cause)
            | ApiError::NotReady(cause)
            | ApiError::Misconfigured(cause)
            | ApiError::Internal(cause) => Some(cause),
            ApiError::NotReadyInTime => Some(NOT_READY_IN_TIME_CAUSE),
            _ => None,
        }
    }

    pub fn into_response(self) -> Response {
        let mut response = json_response(self.status(), &json!({ "detail": self.detail() }));
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(_) => {
                let _ = headers.set("WWW-Authenticate", "Bearer");
            }
            ApiError::MethodNotAllowed(allowed) => {
                let _ = headers.set("Allow", &allowed);
            }
            ApiError::TooManyRequests(seconds, _) => {
                let _ = headers.set("Retry-After", &seconds.max(1).to_string());
            }
            ApiError::Unavailable(_) | ApiError::NotReady(_) | ApiError::NotReadyInTime => {
                let _ = headers.set("Retry-After", "1");
            }
            // Longer than the database's: an outage of Cloudflare's API is not over in a second.
            ApiError::TurnstileUnavailable(_) => {
                let _ = headers.set("Retry-After", "5");
            }
            _ => {}
        }
        response
    }
}

impl From<Vec<FieldError>> for ApiError {
    fn from(errors: Vec<FieldError>) -> Self {
        ApiError::Validation(errors)
    }
}

/// A JSON response with the given status. Serialising our own types cannot fail, and building
/// a response from a string cannot either, so this never errors.
pub fn json_response(status: u16, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "null".into());
    // The content type is set once (`Response::ok` would set text/plain first).
    let builder = ResponseBuilder::new().with_status(status);
    builder
        .with_header("Content-Type", "application/json")
        .expect("a valid header")
        .fixed(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readiness_answers_state_the_timeout_they_waited() {
        let stated = format!("within {READY_TIMEOUT_SECONDS} s");
        assert!(NOT_READY_IN_TIME.ends_with(&stated), "{NOT_READY_IN_TIME}");
        assert!(NOT_READY_IN_TIME_CAUSE.ends_with(&stated));
        assert_eq!(ApiError::NotReadyInTime.status(), 503);
        assert_eq!(ApiError::NotReady("x".into()).cause(), Some("x"));
    }
}
