//! Cloudflare Turnstile on the routes `TURNSTILE_ON` names (src/security/turnstile.rs): the
//! token a request presents, verified with siteverify before the route hashes a password,
//! sends an email or writes to D1. Off, and the routes as they were, without
//! `TURNSTILE_SECRET_KEY`.

use worker::{Method, Request};

use super::limits::client_address;
use super::outbound;
use super::routes::Route;
use super::{log, App};
use crate::config::TurnstileSettings;
use crate::error::{ApiError, Result};
use crate::logs::SecurityEvent;
use crate::security::turnstile::{
    new_idempotency_key, presented, remote_ip, token_in_json, Guarded, Refusal, SiteverifyRequest,
    Verdict, TOKEN_FIELD,
};

const MISSING: &str = "Turnstile token missing: send the widget's cf-turnstile-response";
const REFUSED: &str = "Turnstile verification failed";
const SPENT: &str = "Turnstile token expired or already used; get a new one";

/// The header, as the OpenAPI document describes it on each route that may ask for it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct TurnstileHeader {
    /// A Cloudflare Turnstile token from the widget, where the deployment asks for one
    /// (`TURNSTILE_ON`); the body may carry it instead, under the same name.
    #[param(rename = "cf-turnstile-response", nullable = false)]
    cf_turnstile_response: Option<String>,
}

/// Where a route's body may carry the token, besides the `cf-turnstile-response` header.
pub enum BodyToken<'a> {
    /// A JSON body, as read: its `cf-turnstile-response` member (read only if needed).
    Json(&'a str),
    /// A form's `cf-turnstile-response` field, as the form parser kept it.
    Form(Option<&'a str>),
}

impl BodyToken<'_> {
    fn token(&self) -> Option<String> {
        match self {
            BodyToken::Json(body) => token_in_json(body),
            BodyToken::Form(field) => field.map(str::to_owned),
        }
    }
}

/// Lets the request on when Turnstile is off, the route is not in `TURNSTILE_ON`, or its token
/// passes siteverify. Otherwise: 403 for a missing or refused token (and a security log line),
/// 503 when siteverify gives no verdict, 500 when the settings are wrong or siteverify does
/// not know the secret.
pub async fn require(
    req: &Request,
    app: &App<'_>,
    route: Route,
    body: BodyToken<'_>,
) -> Result<()> {
    let Some(settings) = app.turnstile()? else {
        return Ok(());
    };
    let guarded = match route {
        Route::Signup => Guarded::Signup,
        Route::PasswordRecovery => Guarded::Recovery,
        Route::Login => Guarded::Login,
        _ => return Ok(()),
    };
    if !settings.routes.contains(guarded) {
        return Ok(());
    }
    let header = req.headers().get(TOKEN_FIELD).ok().flatten();
    let in_body = match header.as_deref() {
        Some(token) if !token.is_empty() => None,
        _ => body.token(),
    };
    let token = match presented(header.as_deref(), in_body.as_deref()) {
        Ok(token) => token,
        Err(refusal) => return Err(refuse(req, route, refusal, &[])),
    };
    let connecting_ip = req.headers().get("CF-Connecting-IP").ok().flatten();
    let remote_ip = remote_ip(connecting_ip.as_deref());
    let idempotency_key =
        new_idempotency_key().map_err(|e| ApiError::internal("idempotency key", e))?;
    let request = SiteverifyRequest {
        secret: &settings.secret,
        token,
        remote_ip,
        idempotency_key: &idempotency_key,
    };
    match verify(&settings, &request).await {
        Verdict::Passed => Ok(()),
        Verdict::Refused { error_codes } => {
            let refusal = Refusal::by_siteverify(&error_codes);
            Err(refuse(req, route, refusal, &error_codes))
        }
        Verdict::SecretRefused { error_codes } => Err(ApiError::Misconfigured(format!(
            "siteverify refused TURNSTILE_SECRET_KEY ({})",
            error_codes.join(", ")
        ))),
        Verdict::Unavailable(cause) => Err(ApiError::TurnstileUnavailable(cause)),
    }
}

/// The 403, after its security log line.
fn refuse(req: &Request, route: Route, refusal: Refusal, error_codes: &[String]) -> ApiError {
    let client = client_address(req);
    log(SecurityEvent::TurnstileRefused {
        route: route.template(),
        client: client.as_deref(),
        reason: refusal.name(),
        error_codes,
    });
    ApiError::Forbidden(match refusal {
        Refusal::Missing => MISSING,
        Refusal::Spent => SPENT,
        Refusal::TooLong | Refusal::Refused => REFUSED,
    })
}

/// Asks siteverify, and once more with the same idempotency key when the first call gave
/// no verdict: if that call did reach Cloudflare, the key makes the second return the first
/// one's answer instead of refusing the token as already spent.
async fn verify(settings: &TurnstileSettings, request: &SiteverifyRequest<'_>) -> Verdict {
    let body = request.form_body();
    let mut verdict = attempt(&settings.verify_url, &body).await;
    if let Verdict::Unavailable(first) = &verdict {
        verdict = match attempt(&settings.verify_url, &body).await {
            Verdict::Unavailable(second) if second == *first => {
                Verdict::Unavailable(format!("{second}, twice"))
            }
            Verdict::Unavailable(second) => {
                Verdict::Unavailable(format!("{second}; the first try: {first}"))
            }
            answered => answered,
        };
    }
    verdict
}

/// One `POST` to siteverify, given up after [`outbound::TIMEOUT`].
async fn attempt(url: &str, body: &str) -> Verdict {
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    // The error is the runtime's or the timeout's; it holds neither the secret nor the token,
    // which are only in the body.
    match outbound::call(Method::Post, url, &headers, Some(body)).await {
        Ok((status, text)) => Verdict::read(status, &text),
        Err(error) => Verdict::Unavailable(format!("siteverify {error}")),
    }
}
