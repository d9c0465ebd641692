//! `/api/v1/auth/oauth`: sign-in through Google, GitHub or any OpenID provider; and the
//! caller's linked identities, `/api/v1/auth/me/identities`.
//!
//! A sign-in is three requests to the API: `authorize` sends the browser to the provider, with the flow
//! sealed in a cookie (src/security/oauth.rs); the provider sends it back to `callback`,
//! which exchanges the provider's code, learns who the user is (a verified ID token, or
//! GitHub's API), links or creates the account, and sends the browser on to `redirect_to`
//! with a one-time code in the fragment; the page there posts the code to `token` for the
//! same token pair a password login gives.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::Serialize;
use utoipa::ToSchema;
use worker::{Method, Request, Response};

use super::auth::{admit, start_second_step, Issuer, LoginAnswer};
use super::body::json_text;
use super::current_user::{caller, unknown_user};
use super::limits::client_address;
use super::outbound::call;
use super::{log, no_content, now, request_url, App};
use crate::config::{Protocol, ProviderId, ProviderSettings};
use crate::domain::identity::{
    github_identity, link_redirect_from_json, AuthorizeRequest, CodeExchange, CodeExchangeRequest,
    Discovery, LinkRequest, LinkedIdentity, Newcomer, Provider, TokenAnswer,
};
use crate::error::{json_response, ApiError, Detail, Result, ValidationErrors};
use crate::logs::SecurityEvent;
use crate::security::id_token::{self, Expected, IdTokenError, Identity, KeySet};
use crate::security::oauth::{
    authorization_url, basic_authorization, clear_cookie, cookie_value, provider_error,
    redirect_target, s256, set_cookie, with_fragment, Flow, LinkTarget, FOREIGN_REDIRECT,
};
use crate::security::throttle;
use crate::security::Subject;
use crate::security::{opaque_token_hash, OpaqueToken};
use crate::store::attempts;
use crate::store::caller::Caller;
use crate::store::identities::{self, Linking, SignIn, Unlinked};

const UNKNOWN_PROVIDER: &str = "Unknown identity provider";
const STATE_MISMATCH: &str = "Sign-in state does not match this browser; start again";
const BAD_CODE: &str = "Invalid or expired sign-in code";
const NOT_LINKED: &str = "No identity of this provider is linked";
const LAST_WAY_IN: &str =
    "This is your only way to sign in: set a password or link another identity first";
/// How long a sign-in's one-time code works: the page it lands on exchanges it at once.
const CODE_SECONDS: i64 = 60;
/// How long a discovery document, and a key set whose keys are all known, are used before
/// they are fetched again.
const CACHE_SECONDS: i64 = 3600;
/// A token signed by a key the cached set does not have makes it fetched again, but not
/// more often than this: a stream of made-up `kid`s cannot make every callback a fetch.
const REFETCH_SECONDS: i64 = 60;

/// The settings of the provider a path names: 404 for one that does not exist or is off.
fn provider(app: &App<'_>, name: &str) -> Result<ProviderSettings> {
    let id = ProviderId::parse(name).ok_or_else(|| ApiError::NotFound(UNKNOWN_PROVIDER.into()))?;
    app.identity_provider(id)?
        .ok_or_else(|| ApiError::NotFound(UNKNOWN_PROVIDER.into()))
}

/// List the identity providers enabled here, for a frontend's sign-in buttons.
///
/// Each `authorize_url` is absolute, on the origin this list was asked of: the sign-in must
/// start on the host that will receive the provider's callback, whose cookie binds the flow.
#[utoipa::path(
    get, path = "/api/v1/auth/oauth/providers", tag = "auth",
    responses((status = 200, description = "The enabled providers", body = Vec<Provider>))
)]
pub async fn providers(req: &Request, app: &App<'_>) -> Result<Response> {
    let origin = request_url(req)?.origin().ascii_serialization();
    let enabled: Vec<Provider> = ProviderId::ALL
        .into_iter()
        .filter_map(|id| app.identity_provider(id).ok().flatten())
        .map(|settings| Provider {
            id: settings.id.name(),
            name: settings.label,
            authorize_url: format!(
                "{origin}/api/v1/auth/oauth/{}/authorize",
                settings.id.name()
            ),
        })
        .collect();
    Ok(json_response(200, &enabled))
}

/// Sign in with a provider: redirects the browser to it.
///
/// Open it in the browser (a link or a button), with `redirect_to` the page to come back to:
/// this API's own origin or one in `BACKEND_CORS_ORIGINS`. The provider sends the browser to
/// `/api/v1/auth/oauth/{provider}/callback`, which sends it on to `redirect_to` with
/// `#code=…` (or `#error=…&error_description=…`); post the code to
/// `/api/v1/auth/oauth/token`. The flow is bound to this browser by an HttpOnly cookie
/// (`__Host-recipe_oauth` over https) and lasts 10 minutes.
///
/// The page must send `code_challenge`, the S256 of a random `code_verifier` it keeps (as
/// in PKCE, RFC 7636): the code is exchanged only with that verifier, so a code for someone
/// else's account, planted in a link to the page, signs no one in.
#[utoipa::path(
    get, path = "/api/v1/auth/oauth/{provider}/authorize", tag = "auth",
    params(
        ("provider" = String, Path, description = "`google`, `github` or `oidc`"),
        ("redirect_to" = Option<String>, Query, description = "Where the browser goes when \
         the sign-in ends: a URL on this API's origin or one in BACKEND_CORS_ORIGINS \
         (default `/login` on this origin, the API's sign-in page)"),
        ("code_challenge" = String, Query, min_length = 43, max_length = 43,
         pattern = "^[A-Za-z0-9_-]{43}$", description = "The S256 of a `code_verifier` the \
         page keeps: base64url, without padding, of its SHA-256 (43 characters); the code's \
         exchange needs that verifier"),
        ("code_challenge_method" = Option<String>, Query, pattern = "^S256$",
         description = "`S256`, the only one; may be left out"),
    ),
    responses(
        (status = 302, description = "To the provider, with the flow's cookie set",
         headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "redirect_to is not allowed", body = Detail),
        (status = 404, description = "No such provider is enabled", body = Detail),
        (status = 422, description = "code_challenge is missing or not an S256 one",
         body = ValidationErrors),
        (status = 503, description = "The provider could not be reached", body = Detail),
    )
)]
pub async fn authorize(req: &Request, name: &str, app: &App<'_>) -> Result<Response> {
    let settings = provider(app, name)?;
    let url = request_url(req)?;
    let AuthorizeRequest {
        redirect_to,
        challenge,
    } = AuthorizeRequest::from_query(url.query_pairs())?;
    let own_origin = url.origin().ascii_serialization();
    let redirect_to = redirect_to.unwrap_or_else(|| format!("{own_origin}/login"));
    let target = redirect_target(&redirect_to, &own_origin, app.cors())
        .ok_or_else(|| ApiError::BadRequest(FOREIGN_REDIRECT.into()))?;
    let flow =
        Flow::start(name, &target, &challenge, now()).map_err(|e| ApiError::internal("flow", e))?;
    let location = authorization_location(&settings, &own_origin, &flow).await?;
    let current = app.flow_keys()?.swap_remove(0);
    let cookie = set_cookie(&flow.seal(&current), url.scheme() == "https");
    redirect(&location, &cookie)
}

/// The provider's authorization URL for `flow`.
async fn authorization_location(
    settings: &ProviderSettings,
    own_origin: &str,
    flow: &Flow,
) -> Result<String> {
    let endpoint = match &settings.protocol {
        Protocol::OpenId { issuer, discovery } => discover(issuer, discovery, now())
            .await
            .map_err(ApiError::Unavailable)?
            .authorization_endpoint
            .clone(),
        Protocol::GitHub { web_url, .. } => format!("{web_url}/login/oauth/authorize"),
    };
    let openid = matches!(settings.protocol, Protocol::OpenId { .. });
    authorization_url(
        &endpoint,
        &settings.client_id,
        &callback_url(own_origin, settings.id),
        flow,
        openid,
    )
    .ok_or_else(|| {
        let name = settings.id.name();
        ApiError::Misconfigured(format!("{name}: authorization endpoint {endpoint:?}"))
    })
}

/// Where a provider sends the browser back: this API's own callback for the provider.
fn callback_url(own_origin: &str, id: ProviderId) -> String {
    format!("{own_origin}/api/v1/auth/oauth/{}/callback", id.name())
}

/// `302 Found` to `location`, setting `cookie`.
fn redirect(location: &str, cookie: &str) -> Result<Response> {
    let mut response = Response::empty()
        .map(|r| r.with_status(302))
        .map_err(|e| ApiError::internal("redirect", e))?;
    let headers = response.headers_mut();
    headers
        .set("Location", location)
        .and_then(|_| headers.set("Set-Cookie", cookie))
        .map_err(|e| ApiError::internal("redirect", e))?;
    Ok(response)
}

/// Where the provider sends the browser back.
///
/// Not called by clients: the provider redirects here. The flow's cookie must match the
/// `state` (400 otherwise: another browser's sign-in, or an expired one). Then it always
/// redirects to the flow's `redirect_to`: with `#code=…`, a one-time code (60 seconds) for
/// `/api/v1/auth/oauth/token`, or with `#error=…&error_description=…`: `access_denied` (or
/// the provider's own error), `provider_error`, `invalid_id_token`, `email_not_verified`,
/// `identity_conflict`, `inactive_user` or `too_many_requests`.
#[utoipa::path(
    get, path = "/api/v1/auth/oauth/{provider}/callback", tag = "auth",
    params(
        ("provider" = String, Path, description = "`google`, `github` or `oidc`"),
        ("code" = Option<String>, Query, description = "The provider's authorization code"),
        ("state" = String, Query, description = "The flow's state, as sent to the provider"),
    ),
    responses(
        (status = 302, description = "To redirect_to, with #code=… or #error=…",
         headers(("Location" = String), ("Set-Cookie" = String))),
        (status = 400, description = "The state does not match this browser's flow",
         body = Detail),
        (status = 404, description = "No such provider is enabled", body = Detail),
    )
)]
pub async fn callback(req: &Request, name: &str, app: &App<'_>) -> Result<Response> {
    let settings = provider(app, name)?;
    let url = request_url(req)?;
    let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let https = url.scheme() == "https";
    let cookies = req.headers().get("Cookie").ok().flatten();
    let state = query.get("state").map_or("", String::as_str);
    let keys = app.flow_keys()?;
    let flow = cookies
        .as_deref()
        .and_then(|header| cookie_value(header, https))
        .and_then(|cookie| {
            keys.iter()
                .find_map(|key| Flow::open(cookie, key, name, state, now()))
        });
    let Some(flow) = flow else {
        log_refusal(settings.id, "state");
        return Err(ApiError::BadRequest(STATE_MISMATCH.into()));
    };
    let callback = callback_url(&url.origin().ascii_serialization(), settings.id);
    let ended = match &flow.link_to {
        Some(target) => link_identity(app, &settings, &flow, target, &query, &callback)
            .await?
            .map(|()| ("linked", name.to_owned())),
        None => sign_in(req, app, &settings, &flow, &query, &callback)
            .await?
            .map(|code| ("code", code)),
    };
    let location = match ended {
        Ok((key, value)) => with_fragment(&flow.redirect_to, &[(key, &value)]),
        Err(refusal) => {
            log_refusal(settings.id, refusal.reason);
            with_fragment(
                &flow.redirect_to,
                &[
                    ("error", &refusal.error),
                    ("error_description", refusal.description),
                ],
            )
        }
    };
    redirect(&location, &clear_cookie(https))
}

fn log_refusal(id: ProviderId, reason: &'static str) {
    log(SecurityEvent::OauthRefused {
        provider: id.name(),
        reason,
    });
}

/// Why a sign-in ended without a code: the `error` and `error_description` the browser is
/// sent back with, and the reason the log line gives.
struct Refusal {
    error: String,
    reason: &'static str,
    description: &'static str,
}

impl Refusal {
    fn new(error: &str, reason: &'static str, description: &'static str) -> Refusal {
        Refusal {
            error: error.to_owned(),
            reason,
            description,
        }
    }

    fn provider(reason: &'static str) -> Refusal {
        Refusal::new(
            "provider_error",
            reason,
            "The identity provider could not be reached or refused the sign-in",
        )
    }

    fn id_token(reason: &'static str) -> Refusal {
        Refusal::new(
            "invalid_id_token",
            reason,
            "The identity provider's answer did not verify",
        )
    }

    fn email_not_verified() -> Refusal {
        Refusal::new(
            "email_not_verified",
            "email_not_verified",
            "The identity provider has not verified this account's email",
        )
    }
}

/// The rest of a callback whose flow checked out: the user's one-time code, or why not.
/// `Err` only for our own faults (D1), which answer 5xx rather than redirect.
async fn sign_in(
    req: &Request,
    app: &App<'_>,
    settings: &ProviderSettings,
    flow: &Flow,
    query: &HashMap<String, String>,
    callback: &str,
) -> Result<std::result::Result<String, Refusal>> {
    let now = now();
    let identity = match identity_of(settings, flow, query, callback, now).await {
        Ok(identity) => identity,
        Err(refusal) => return Ok(Err(refusal)),
    };
    // Only an email the provider has verified may link to an account or create one, and
    // name an account to count against.
    let newcomer = identity
        .email_verified
        .then(|| Newcomer::of(&identity, settings.id));
    let verified_email = newcomer
        .as_ref()
        .and_then(Option::as_ref)
        .map(|newcomer| newcomer.email.as_str());
    // Counted as a login is, by address and by the provider's account (and its verified
    // email), before anything is written.
    let db = app.db()?;
    let address = client_address(req);
    let issuer = settings.issuer();
    let name = settings.id.name();
    let counters = throttle::sign_in_counters(
        (name, issuer, &identity.subject),
        verified_email,
        address.as_deref(),
    );
    match admit(db, &counters, address.as_deref(), now).await {
        Ok(()) => {}
        Err(ApiError::TooManyRequests(..)) => {
            let description = "Too many sign-in attempts; try again later";
            return Ok(Err(Refusal::new(
                "too_many_requests",
                "throttled",
                description,
            )));
        }
        Err(error) => return Err(error),
    }
    let newcomer = match newcomer {
        Some(Some(newcomer)) => Some(newcomer),
        Some(None) => return Ok(Err(Refusal::email_not_verified())),
        None => None,
    };
    let code = OpaqueToken::generate().map_err(|e| ApiError::internal("sign-in code", e))?;
    // Given back only if the code is issued: a refused sign-in keeps its count.
    let settle = attempts::settle_sign_in(db, &counters, &code.hash)?;
    let signed_in = identities::sign_in(
        db,
        (name, issuer, &identity.subject),
        newcomer.as_ref(),
        (&code.hash, &flow.client_challenge, now + CODE_SECONDS),
        now,
        settle,
    )
    .await?;
    Ok(match signed_in {
        SignIn::Issued { user_id, outcome } => {
            app.note_user(user_id);
            log(SecurityEvent::OauthSignIn {
                provider: settings.id.name(),
                user_id,
                outcome: outcome.name(),
            });
            Ok(code.token)
        }
        SignIn::Inactive { user_id } => {
            app.note_user(user_id);
            Err(Refusal::new(
                "inactive_user",
                "inactive_user",
                "Inactive user",
            ))
        }
        SignIn::NotLinked => Err(Refusal::email_not_verified()),
        SignIn::Conflict => Err(Refusal::new(
            "identity_conflict",
            "identity_conflict",
            "The account with this email has another account of this provider linked",
        )),
        SignIn::Unclaimable => Err(Refusal::new(
            "identity_conflict",
            "identity_conflict",
            "An account with this email already exists: sign in to it first, then link this \
             account to it",
        )),
    })
}

/// The provider's account the callback's `code` stands for, or why there is none.
async fn identity_of(
    settings: &ProviderSettings,
    flow: &Flow,
    query: &HashMap<String, String>,
    callback: &str,
    now: i64,
) -> std::result::Result<Identity, Refusal> {
    if let Some(error) = query.get("error") {
        let description = "The sign-in was cancelled or refused at the identity provider";
        return Err(Refusal::new(provider_error(error), "denied", description));
    }
    let Some(code) = query.get("code").filter(|code| !code.is_empty()) else {
        return Err(Refusal::provider("provider_error"));
    };
    match &settings.protocol {
        Protocol::OpenId { issuer, discovery } => {
            openid_identity(settings, (issuer, discovery), code, flow, callback, now).await
        }
        Protocol::GitHub { web_url, api_url } => {
            github_account(settings, (web_url, api_url), code, flow, callback).await
        }
    }
}

/// The rest of a linking flow's callback: the provider's account linked to the user the flow
/// is bound to, or why not. `Err` only for our own faults.
async fn link_identity(
    app: &App<'_>,
    settings: &ProviderSettings,
    flow: &Flow,
    target: &LinkTarget,
    query: &HashMap<String, String>,
    callback: &str,
) -> Result<std::result::Result<(), Refusal>> {
    let now = now();
    let identity = match identity_of(settings, flow, query, callback, now).await {
        Ok(identity) => identity,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let caller = Caller::from(Subject {
        user_id: target.user_id,
        token_version: target.token_version,
        session_id: target.session_id.clone(),
    });
    let email: String = identity
        .email
        .as_deref()
        .unwrap_or("")
        .trim()
        .chars()
        .take(254)
        .collect();
    let name = settings.id.name();
    let linking = identities::link(
        app.db()?,
        &caller,
        (name, settings.issuer(), &identity.subject),
        &email,
        now,
    )
    .await?;
    app.note_user(target.user_id);
    Ok(match linking {
        Linking::Linked => {
            log(SecurityEvent::OauthSignIn {
                provider: name,
                user_id: target.user_id,
                outcome: "linked",
            });
            Ok(())
        }
        Linking::Conflict => Err(Refusal::new(
            "identity_conflict",
            "identity_conflict",
            "This account of the provider is linked to another user",
        )),
        Linking::HasAnother => Err(Refusal::new(
            "identity_conflict",
            "identity_conflict",
            "Another account of this provider is linked to yours: unlink it first",
        )),
        Linking::Gone => Err(Refusal::new(
            "session_ended",
            "session_ended",
            "Your session ended; sign in again",
        )),
    })
}

/// What linking answers: where to send the browser.
#[derive(Serialize, ToSchema)]
pub struct LinkStart {
    /// The provider's authorization page; open it in the same browser (the flow's cookie is
    /// set with this answer).
    pub authorize_url: String,
}

/// How recently the caller's session must have started for them to link an account.
const FRESH_SESSION_SECONDS: i64 = 10 * 60;
const STALE_SESSION: &str = "Sign in again to link an account (your session must be under 10 \
                             minutes old)";

/// Link another provider's account to the caller's: answers the authorization URL of a flow
/// bound to the caller.
///
/// The caller's session must have started within 10 minutes (403 otherwise: sign in again).
/// The answer sets the flow's cookie; open `authorize_url` in the same browser. The
/// provider's callback then links the account it names to the caller, whatever its email,
/// and sends the browser to `redirect_to` (default `/account` on this origin) with
/// `#linked={provider}`, or `#error=identity_conflict` when that account is someone else's
/// or the caller has another account of the provider, or another `#error=` as a sign-in's.
#[utoipa::path(
    post, path = "/api/v1/auth/oauth/{provider}/link", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    params(("provider" = String, Path, description = "`google`, `github` or `oidc`")),
    request_body(content = LinkRequest, description = "Optional"),
    responses(
        (status = 200, description = "The provider's authorization URL; the flow's cookie is \
         set", body = LinkStart, headers(("Set-Cookie" = String))),
        (status = 400, description = "redirect_to is not allowed", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "The session is over 10 minutes old", body = Detail),
        (status = 404, description = "No such provider is enabled", body = Detail),
        (status = 503, description = "The provider could not be reached", body = Detail),
    )
)]
pub async fn link(mut req: Request, name: &str, app: &App<'_>) -> Result<Response> {
    let settings = provider(app, name)?;
    let caller = caller(&req, app).await?;
    let db = app.db()?;
    let started = identities::session_started(db, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    if now() - started > FRESH_SESSION_SECONDS {
        return Err(ApiError::Forbidden(STALE_SESSION));
    }
    let url = request_url(&req)?;
    let own_origin = url.origin().ascii_serialization();
    let body = json_text(&mut req).await.unwrap_or_default();
    let wanted = link_redirect_from_json(&body)?.unwrap_or_else(|| format!("{own_origin}/account"));
    let target = redirect_target(&wanted, &own_origin, app.cors())
        .ok_or_else(|| ApiError::BadRequest(FOREIGN_REDIRECT.into()))?;
    let mut flow =
        Flow::start(name, &target, "", now()).map_err(|e| ApiError::internal("flow", e))?;
    let claims = caller.claims();
    flow.link_to = Some(LinkTarget {
        user_id: claims.user_id,
        token_version: claims.token_version,
        session_id: claims.session_id.clone(),
    });
    let location = authorization_location(&settings, &own_origin, &flow).await?;
    let current = app.flow_keys()?.swap_remove(0);
    let cookie = set_cookie(&flow.seal(&current), url.scheme() == "https");
    let mut response = json_response(
        200,
        &LinkStart {
            authorize_url: location,
        },
    );
    response
        .headers_mut()
        .set("Set-Cookie", &cookie)
        .map_err(|e| ApiError::internal("link", e))?;
    Ok(response)
}

/// An OpenID provider's user: the code exchanged at its token endpoint (with the client's
/// secret and the PKCE verifier), and the ID token that comes back verified against its keys.
async fn openid_identity(
    settings: &ProviderSettings,
    (issuer, discovery): (&str, &str),
    code: &str,
    flow: &Flow,
    callback: &str,
    now: i64,
) -> std::result::Result<Identity, Refusal> {
    let discovery = discover(issuer, discovery, now)
        .await
        .map_err(|_| Refusal::provider("provider_error"))?;
    let form = form(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", callback),
        ("code_verifier", &flow.verifier),
    ]);
    let authorization = basic_authorization(&settings.client_id, &settings.client_secret);
    let answer = call(
        Method::Post,
        &discovery.token_endpoint,
        &[
            ("Authorization", &authorization),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ],
        Some(&form),
    )
    .await
    .ok()
    .filter(|(status, _)| *status == 200)
    .map(|(_, body)| TokenAnswer::parse(&body))
    .and_then(|answer| answer.id_token)
    .ok_or_else(|| Refusal::provider("provider_error"))?;
    let kid = id_token::key_id(&answer).map_err(|e| Refusal::id_token(e.reason()))?;
    let keys = key_set(&discovery.jwks_uri, kid.as_deref(), now)
        .await
        .map_err(|_| Refusal::provider("provider_error"))?;
    let expected = Expected {
        issuer,
        client_id: &settings.client_id,
        nonce: &flow.nonce,
        now,
    };
    let unverified =
        id_token::verify(&answer, &keys, &expected).map_err(|e| Refusal::id_token(e.reason()))?;
    super::webcrypto::verified(unverified)
        .await
        .map_err(|_| Refusal::provider("provider_error"))?
        .map_err(|_| Refusal::id_token(IdTokenError::Signature.reason()))
}

/// A GitHub user: the code exchanged for an access token, then `/user` and `/user/emails`.
async fn github_account(
    settings: &ProviderSettings,
    (web_url, api_url): (&str, &str),
    code: &str,
    flow: &Flow,
    callback: &str,
) -> std::result::Result<Identity, Refusal> {
    let form = form(&[
        ("client_id", &settings.client_id),
        ("client_secret", &settings.client_secret),
        ("code", code),
        ("redirect_uri", callback),
        ("code_verifier", &flow.verifier),
    ]);
    let token = call(
        Method::Post,
        &format!("{web_url}/login/oauth/access_token"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Accept", "application/json"),
        ],
        Some(&form),
    )
    .await
    .ok()
    .filter(|(status, _)| *status == 200)
    .and_then(|(_, body)| TokenAnswer::parse(&body).access_token)
    .ok_or_else(|| Refusal::provider("provider_error"))?;
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Accept", "application/vnd.github+json"),
        ("User-Agent", "recipe-api"),
    ];
    let get = |path: &'static str| {
        let url = format!("{api_url}{path}");
        async move {
            call(Method::Get, &url, &headers, None)
                .await
                .ok()
                .filter(|(status, _)| *status == 200)
                .map(|(_, body)| body)
                .ok_or_else(|| Refusal::provider("provider_error"))
        }
    };
    let user = get("/user").await?;
    let emails = get("/user/emails").await?;
    github_identity(&user, &emails).ok_or_else(|| Refusal::provider("malformed"))
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

thread_local! {
    /// Discovery documents by their URL, with when each was fetched: the same for every
    /// request an isolate serves, so fetched once an hour rather than at every sign-in.
    static DISCOVERY: RefCell<HashMap<String, (i64, Rc<Discovery>)>> = RefCell::default();
    /// Key sets by `jwks_uri`, with when each was fetched.
    static KEY_SETS: RefCell<HashMap<String, (i64, Rc<KeySet>)>> = RefCell::default();
}

/// The issuer's discovery document, fetched from `url`, from the isolate's cache while it is
/// under an hour old.
async fn discover(issuer: &str, url: &str, now: i64) -> std::result::Result<Rc<Discovery>, String> {
    let cached = DISCOVERY.with_borrow(|cache| cache.get(url).cloned());
    if let Some((fetched_at, discovery)) = cached {
        if now - fetched_at < CACHE_SECONDS {
            return Ok(discovery);
        }
    }
    let (status, body) = call(Method::Get, url, &[("Accept", "application/json")], None)
        .await
        .map_err(|e| format!("{url} {e}"))?;
    if status != 200 {
        return Err(format!("{url} answered {status}"));
    }
    let discovery = Rc::new(Discovery::parse(&body, issuer, url)?);
    DISCOVERY.with_borrow_mut(|cache| {
        cache.insert(url.to_owned(), (now, Rc::clone(&discovery)));
    });
    Ok(discovery)
}

/// The provider's keys, from the isolate's cache while it is under an hour old and has the
/// key `kid` names; fetched again for a key it lacks, at most once a minute.
async fn key_set(
    jwks_uri: &str,
    kid: Option<&str>,
    now: i64,
) -> std::result::Result<Rc<KeySet>, String> {
    let cached = KEY_SETS.with_borrow(|cache| cache.get(jwks_uri).cloned());
    if let Some((fetched_at, keys)) = cached {
        let age = now - fetched_at;
        if (keys.knows(kid) && age < CACHE_SECONDS) || age < REFETCH_SECONDS {
            return Ok(keys);
        }
    }
    let (status, body) = call(
        Method::Get,
        jwks_uri,
        &[("Accept", "application/json")],
        None,
    )
    .await
    .map_err(|e| format!("{jwks_uri} {e}"))?;
    if status != 200 {
        return Err(format!("{jwks_uri} answered {status}"));
    }
    let keys = Rc::new(KeySet::parse(&body)?);
    KEY_SETS.with_borrow_mut(|cache| {
        cache.insert(jwks_uri.to_owned(), (now, Rc::clone(&keys)));
    });
    Ok(keys)
}

/// Exchange a sign-in's one-time code for a token pair.
///
/// The code is the `#code=` of the page a provider sign-in ended on; it works once, for 60
/// seconds. The answer is a password login's: the token pair (a new session), or, for a
/// user with a second factor on, the token for its second step
/// (`POST /api/v1/auth/mfa/verify`).
#[utoipa::path(
    post, path = "/api/v1/auth/oauth/token", tag = "auth",
    request_body = CodeExchangeRequest,
    responses(
        (status = 200, description = "Signed in; or, with a second factor on, the token for \
         its second step", body = LoginAnswer),
        (status = 400, description = "Invalid, used or expired code, or a code_verifier that \
         does not match its challenge", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "code or code_verifier missing, or a code_verifier not \
         of RFC 7636's form", body = ValidationErrors),
    )
)]
pub async fn token(mut req: Request, app: &App<'_>) -> Result<Response> {
    let exchange = CodeExchange::from_json(&json_text(&mut req).await?)?;
    let hash =
        opaque_token_hash(&exchange.code).ok_or_else(|| ApiError::BadRequest(BAD_CODE.into()))?;
    let challenge = s256(&exchange.verifier);
    let issuer = Issuer::new(app).await?;
    let now = now();
    let claimed = identities::claim_code(issuer.db, &hash, &challenge, now)
        .await?
        .ok_or_else(|| ApiError::BadRequest(BAD_CODE.into()))?;
    app.note_user(claimed.user_id);
    let user = (claimed.user_id, claimed.token_version);
    let answer = if claimed.second_factor {
        LoginAnswer::SecondFactor(start_second_step(issuer.db, user, &[], now).await?)
    } else {
        // `None`: the user was deactivated, or their credentials changed, since the code
        // was issued.
        let require_verified = issuer.config.require_verified_email;
        let token = issuer
            .start_session(user, &req, require_verified, (&[], Vec::new()), now)
            .await?;
        LoginAnswer::Token(token.ok_or_else(|| ApiError::BadRequest(BAD_CODE.into()))?)
    };
    super::cookie::tokens(app, &answer)
}

/// List the provider accounts linked to the caller's.
#[utoipa::path(
    get, path = "/api/v1/auth/me/identities", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "The caller's linked identities, oldest first",
         body = Vec<LinkedIdentity>),
        (status = 401, description = "Not authenticated or bad token", body = Detail,
         headers(("WWW-Authenticate" = String, description = "Bearer"))),
    )
)]
pub async fn list_identities(req: &Request, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    let linked = identities::list(app.db()?, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    Ok(json_response(200, &linked))
}

/// Unlink the caller's account of a provider. Refused while it is the caller's only way to
/// sign in: set a password first (password recovery sets one), or link another provider.
#[utoipa::path(
    delete, path = "/api/v1/auth/me/identities/{provider}", tag = "auth",
    security(("OAuth2PasswordBearer" = [])),
    params(("provider" = String, Path, description = "`google`, `github` or `oidc`")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 400, description = "It is the caller's only way to sign in", body = Detail),
        (status = 401, description = "Not authenticated or bad token", body = Detail),
        (status = 404, description = "No identity of this provider is linked", body = Detail),
    )
)]
pub async fn unlink_identity(req: &Request, provider: &str, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    match identities::unlink(app.db()?, &caller, provider).await? {
        Unlinked::Done => no_content(),
        Unlinked::NotLinked => Err(ApiError::NotFound(NOT_LINKED.into())),
        Unlinked::LastWayIn => Err(ApiError::BadRequest(LAST_WAY_IN.into())),
        Unlinked::NotAuthenticated => Err(unknown_user()),
    }
}
