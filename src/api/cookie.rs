//! The refresh-token cookie of the API's own pages (see [`crate::security::refresh_cookie`]
//! and docs/security.md): chosen per request, set on the answers that carry a token pair,
//! read by refresh and logout.

use serde::Serialize;
use serde_json::Value;
use worker::{Request, Response};

use super::routes::Route;
use super::{refuse_source, request_url, App};
use crate::error::{json_response, ApiError, Result};
use crate::security::origin::Source;
use crate::security::refresh_cookie::{self, REQUEST_HEADER};

/// Notes whether `req` asked for the cookie ([`REQUEST_HEADER`]); 403 when it did from
/// anywhere but the API's own origin ([`Source::Own`]).
pub fn choose(req: &Request, app: &App<'_>, route: Route) -> Result<()> {
    if req.headers().get(REQUEST_HEADER).ok().flatten().is_none() {
        return Ok(());
    }
    refuse_source(req, app, route, |source| source == Source::Own)?;
    app.refresh_cookie
        .set(Some(request_url(req)?.scheme() == "https"));
    Ok(())
}

/// Whether this request keeps its refresh token in the cookie.
pub fn chosen(app: &App<'_>) -> bool {
    app.refresh_cookie.get().is_some()
}

/// The refresh token in the request's cookie.
pub fn presented(req: &Request) -> Option<String> {
    let header = req.headers().get("Cookie").ok().flatten()?;
    refresh_cookie::read(&header).map(str::to_owned)
}

/// A 200 answer carrying a token pair (`body` has a `refresh_token` member): as it is for
/// clients that keep the token themselves; for the API's pages, the token moves out of the
/// body into the cookie.
pub fn tokens(app: &App<'_>, body: &impl Serialize) -> Result<Response> {
    let Some(secure) = app.refresh_cookie.get() else {
        return Ok(json_response(200, body));
    };
    let mut value = serde_json::to_value(body).map_err(|e| ApiError::internal("answer", e))?;
    let token = value
        .as_object_mut()
        .and_then(|object| object.remove("refresh_token"));
    let mut response = json_response(200, &value);
    if let Some(Value::String(token)) = token {
        let max_age = app.config()?.refresh_token_seconds;
        set_cookie(&mut response, &refresh_cookie::set(&token, max_age, secure))?;
    }
    Ok(response)
}

/// Removes the cookie with `response`, for the API's pages.
pub fn clear(app: &App<'_>, response: &mut Response) -> Result<()> {
    match app.refresh_cookie.get() {
        Some(secure) => set_cookie(response, &refresh_cookie::clear(secure)),
        None => Ok(()),
    }
}

fn set_cookie(response: &mut Response, value: &str) -> Result<()> {
    response
        .headers_mut()
        .append("Set-Cookie", value)
        .map_err(|e| ApiError::internal("set-cookie", e))
}
