//! Headers every response carries: security headers and CORS.

use worker::{Headers, Request, Response};

use super::routes::Route;
use crate::config::CorsOrigins;
use crate::error::json_response;

const PREFLIGHT_MAX_AGE_SECONDS: &str = "600";
/// Response headers beyond the CORS-safelisted ones that a page's scripts may read: a
/// 429's wait, and the D1 bookmark to send back.
const EXPOSED_HEADERS: &str = "Retry-After, x-d1-bookmark";

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

/// A CORS preflight: an `OPTIONS` request naming the method it wants to send (`has_origin`:
/// whether it has an `Origin` header).
pub fn is_preflight(req: &Request, has_origin: bool) -> bool {
    req.method() == worker::Method::Options
        && has_origin
        && header(req, "Access-Control-Request-Method").is_some()
}

/// Answers a preflight: 200 with the methods the API has (the route table's) and the
/// requested headers for an allowed origin, 400 otherwise (as Starlette's CORS middleware
/// does).
pub fn preflight(req: &Request, cors: &CorsOrigins) -> Response {
    let origin = header(req, "Origin").unwrap_or_default();
    if !cors.allows(&origin) {
        return json_response(
            400,
            &serde_json::json!({"detail": "Disallowed CORS origin"}),
        );
    }
    let mut response = json_response(200, &"OK");
    let headers = response.headers_mut();
    set(
        headers,
        "Access-Control-Allow-Methods",
        &Route::methods().join(", "),
    );
    if let Some(requested) = header(req, "Access-Control-Request-Headers") {
        set(headers, "Access-Control-Allow-Headers", &requested);
    }
    set(headers, "Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECONDS);
    response
}

/// Adds the security headers, `Cache-Control: no-store` on every answer of a route that
/// carries a user's data ([`Route::private`]) or says how the API is now ([`Route::probe`]),
/// and CORS headers when the request's origin is allowed.
pub fn finish(
    response: &mut Response,
    route: Option<Route>,
    origin: Option<&str>,
    cors: &CorsOrigins,
) {
    let headers = response.headers_mut();
    set(headers, "X-Content-Type-Options", "nosniff");
    set(headers, "Referrer-Policy", "no-referrer");
    set(headers, "X-Frame-Options", "DENY");
    // JSON needs no resources at all; HTML pages set a policy of their own.
    if !headers.has("Content-Security-Policy").unwrap_or(false) {
        set(
            headers,
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        );
    }
    if route.is_some_and(|route| route.private() || route.probe()) {
        set(headers, "Cache-Control", "no-store");
    }
    // The answer depends on Origin whenever CORS is on, allowed or not.
    if *cors != CorsOrigins::None {
        let _ = headers.append("Vary", "Origin");
    }
    match (origin, cors) {
        (Some(_), CorsOrigins::Any) => set(headers, "Access-Control-Allow-Origin", "*"),
        (Some(origin), CorsOrigins::List(_)) if cors.allows(origin) => {
            set(headers, "Access-Control-Allow-Origin", origin);
            set(headers, "Access-Control-Allow-Credentials", "true");
        }
        _ => return,
    }
    set(headers, "Access-Control-Expose-Headers", EXPOSED_HEADERS);
}

/// Our own header names and values are valid, and our responses' headers are mutable.
fn set(headers: &mut Headers, name: &str, value: &str) {
    let _ = headers.set(name, value);
}
