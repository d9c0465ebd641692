//! HTTP: the route table, and what every handler shares. Handlers parse, call and respond;
//! they hold no SQL.

mod auth;
mod body;
mod breach;
mod cookie;
mod current_user;
mod docs;
mod email_links;
mod email_sign_in;
mod headers;
mod health;
mod jwks;
mod limits;
mod mfa;
mod oauth;
mod outbound;
mod pages;
mod passkeys;
mod recipes;
pub mod routes;
mod sessions;
mod turnstile;
mod users;
mod webcrypto;

use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use worker::{Context, Delay, Env, Request, Response};

use routes::{Route, Unmatched};

use crate::config::{
    BreachCheckSettings, Config, CorsOrigins, EmailSettings, ProviderId, ProviderSettings,
    TurnstileSettings,
};
use crate::error::{ApiError, Result};
use crate::logs::{RequestLog, SecurityEvent};
use crate::security::oauth::FlowKey;
use crate::security::origin::{self, Source};
use crate::security::webauthn::{ChallengeKey, RelyingParty};
use crate::security::{KeysToComplete, MfaKeys, Pacer, TokenKeys};
use crate::store::{parse_bookmark, Consistency, Db};

/// The header in which a client sends back the last D1 bookmark it saw, and in which every
/// response that used D1 carries the session's latest (read replication).
pub const BOOKMARK_HEADER: &str = "x-d1-bookmark";

pub async fn handle(req: Request, env: &Env, ctx: &Context) -> Response {
    let cors = cors_origins(binding(env, "BACKEND_CORS_ORIGINS"));
    let app = App::new(env, ctx, cors);
    let path = req.path();
    let method = req.inner().method();
    let request_headers = req.headers();
    let header = |name| request_headers.get(name).ok().flatten();
    let (origin, cf_ray) = (header("Origin"), header("cf-ray"));
    let (route, result) = if headers::is_preflight(&req, origin.is_some()) {
        (None, Ok(headers::preflight(&req, &app.cors)))
    } else {
        route(req, &method, &path, &app).await
    };
    let error = result
        .as_ref()
        .err()
        .and_then(ApiError::cause)
        .map(str::to_owned);
    let mut response = result.unwrap_or_else(ApiError::into_response);
    headers::finish(&mut response, route, origin.as_deref(), &app.cors);
    if let Some(bookmark) = app.db.get().and_then(Db::bookmark) {
        let _ = response.headers_mut().set(BOOKMARK_HEADER, &bookmark);
    }
    log_request(&app, &method, route, response.status_code(), cf_ray, error);
    response
}

/// The request's log line (see [`RequestLog`]); a 5xx goes to the error log with its cause.
fn log_request(
    app: &App<'_>,
    method: &str,
    route: Option<Route>,
    status: u16,
    cf_ray: Option<String>,
    error: Option<String>,
) {
    let usage = app.db.get().map(Db::usage).unwrap_or_default();
    let line = RequestLog {
        method,
        route: route.map(Route::template),
        status,
        d1_round_trips: usage.round_trips,
        d1_statements: usage.statements,
        d1_rows_read: usage.rows_read,
        d1_rows_written: usage.rows_written,
        user_id: app.user.get().filter(|_| status != 401),
        pbkdf2_iterations: app.pbkdf2_iterations.get(),
        cf_ray: cf_ray.as_deref(),
        error: error.as_deref(),
    }
    .line();
    if error.is_some() {
        worker::console_error!("{line}");
    } else {
        worker::console_log!("{line}");
    }
}

/// Dispatches to the handler of each route in the table (api/routes.rs), and says which
/// route it was. `method` is the request's own, read raw: `worker::Method` turns methods it
/// does not know (QUERY, TRACE) into GET.
async fn route(
    req: Request,
    method: &str,
    path: &str,
    app: &App<'_>,
) -> (Option<Route>, Result<Response>) {
    let resolved = Route::resolve(method, path).map_err(|unmatched| match unmatched {
        Unmatched::NotFound => ApiError::no_route(),
        Unmatched::MethodNotAllowed(allowed) => ApiError::MethodNotAllowed(allowed.join(", ")),
    });
    match resolved {
        Ok((route, parameter)) => (Some(route), dispatch(req, app, route, parameter).await),
        Err(error) => (None, Err(error)),
    }
}

/// A handler's future, boxed: each handler's state machine stays a function of its own,
/// called through the box, rather than being inlined into the router's. V8 compiles a wasm
/// function whole the first time it runs, so the first request of an isolate then compiles
/// the router and the one handler it reaches, not every handler at once.
type Handler<'a> = Pin<Box<dyn Future<Output = Result<Response>> + 'a>>;

async fn dispatch(
    req: Request,
    app: &App<'_>,
    route: Route,
    parameter: Option<String>,
) -> Result<Response> {
    if route.edge_limited() {
        limits::edge(&req, app, route).await?;
    }
    if route.write_limited() {
        limits::writes(&req, app, route).await?;
    }
    body::check_declared_length(&req)?;
    app.start_session(&req, route)?;
    if route.takes_refresh_cookie() {
        cookie::choose(&req, app, route)?;
    }
    // `{recipe_id}`, `{user_id}`, `{session_id}`, `{provider}` or `{passkey_id}`, whichever
    // the route has.
    let id = parameter.as_deref().unwrap_or_default();
    let handler: Handler<'_> = match route {
        Route::Home => Box::pin(pages::home(app)),
        Route::Docs => return docs::page(),
        Route::OpenApi => return docs::openapi_json(),
        Route::Jwks => Box::pin(jwks::jwks(app)),
        Route::Signup => Box::pin(auth::signup(req, app)),
        Route::Login => Box::pin(auth::login(req, app)),
        Route::Refresh => Box::pin(auth::refresh(req, app)),
        Route::Logout => Box::pin(auth::logout(req, app)),
        Route::ChangePassword => Box::pin(auth::change_password(req, app)),
        Route::Me => Box::pin(auth::me(req, app)),
        Route::UpdateMe => Box::pin(auth::update_me(req, app)),
        Route::DeleteMe => Box::pin(auth::delete_me(req, app)),
        Route::Sessions => Box::pin(sessions::list(&req, app)),
        Route::EndSession => Box::pin(sessions::end_one(&req, id, app)),
        Route::EndOtherSessions => Box::pin(sessions::end_others(&req, app)),
        Route::SearchRecipes => Box::pin(recipes::search(&req, app)),
        Route::MyRecipes => Box::pin(recipes::mine(&req, app)),
        Route::CreateRecipe => Box::pin(recipes::create(req, app)),
        Route::UpdateRecipe => Box::pin(recipes::update(req, app)),
        Route::GetRecipe => Box::pin(recipes::get(id, app)),
        Route::DeleteRecipe => Box::pin(recipes::delete(&req, id, app)),
        Route::ListUsers => Box::pin(users::list(&req, app)),
        Route::GetUser => Box::pin(users::get(&req, id, app)),
        Route::UpdateUser => Box::pin(users::update(req, id, app)),
        Route::DeleteUser => Box::pin(users::delete(&req, id, app)),
        Route::ResetPassword => Box::pin(users::reset_password(req, id, app)),
        Route::PasswordRecovery => Box::pin(email_links::password_recovery(req, app)),
        Route::ResetForgottenPassword => Box::pin(email_links::reset_forgotten_password(req, app)),
        Route::VerifyEmail => Box::pin(email_links::verify_email(req, app)),
        Route::ResendVerification => Box::pin(email_links::resend_verification(req, app)),
        Route::ResetPasswordPage => return pages::reset_password(),
        Route::VerifyEmailPage => return pages::verify_email(),
        Route::LoginPage => return pages::login(app),
        Route::SignupPage => return pages::signup(app),
        Route::ForgotPasswordPage => return pages::forgot_password(app),
        Route::AccountPage => return pages::account(app),
        Route::TotpSetup => Box::pin(mfa::setup(req, app)),
        Route::TotpEnable => Box::pin(mfa::enable(req, app)),
        Route::TotpDisable => Box::pin(mfa::disable(req, app)),
        Route::MfaVerify => Box::pin(mfa::verify(req, app)),
        Route::OauthProviders => Box::pin(oauth::providers(&req, app)),
        Route::OauthAuthorize => Box::pin(oauth::authorize(&req, id, app)),
        Route::OauthCallback => Box::pin(oauth::callback(&req, id, app)),
        Route::OauthToken => Box::pin(oauth::token(req, app)),
        Route::OauthLink => Box::pin(oauth::link(req, id, app)),
        Route::Identities => Box::pin(oauth::list_identities(&req, app)),
        Route::UnlinkIdentity => Box::pin(oauth::unlink_identity(&req, id, app)),
        Route::ResetSecondFactor => Box::pin(users::reset_second_factor(&req, id, app)),
        Route::Healthz => return health::live(),
        Route::Readyz => Box::pin(health::ready(app)),
        Route::PasskeyRegisterOptions => Box::pin(passkeys::register_options(&req, app)),
        Route::PasskeyRegister => Box::pin(passkeys::register(req, app)),
        Route::Passkeys => Box::pin(passkeys::list(&req, app)),
        Route::RenamePasskey => Box::pin(passkeys::rename(req, id, app)),
        Route::DeletePasskey => Box::pin(passkeys::delete(&req, id, app)),
        Route::PasskeyLoginOptions => Box::pin(passkeys::login_options(&req, app)),
        Route::PasskeyLogin => Box::pin(passkeys::login(req, app)),
        Route::MfaPasskeyOptions => Box::pin(passkeys::second_step_options(req, app)),
        Route::EmailSignIn => Box::pin(email_sign_in::send(req, app)),
        Route::EmailSignInVerify => Box::pin(email_sign_in::verify(req, app)),
    };
    handler.await
}

fn binding(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|value| value.to_string())
}

thread_local! {
    /// `BACKEND_CORS_ORIGINS` as last read and parsed: the setting is the same for every
    /// request an isolate serves, so it is parsed again only when its text differs.
    static CORS_ORIGINS: RefCell<Option<(Option<String>, Rc<CorsOrigins>)>> =
        const { RefCell::new(None) };
}

/// The CORS origins for a value of `BACKEND_CORS_ORIGINS` (see [`CorsOrigins::parse`]).
fn cors_origins(value: Option<String>) -> Rc<CorsOrigins> {
    CORS_ORIGINS.with_borrow_mut(|cached| match cached {
        Some((seen, parsed)) if *seen == value => Rc::clone(parsed),
        _ => {
            let parsed = Rc::new(CorsOrigins::parse(value.as_deref()));
            *cached = Some((value, Rc::clone(&parsed)));
            parsed
        }
    })
}

/// The Worker's bindings, read on demand so a route only fails for what it needs; the CORS
/// origins, which every response needs, read once; the request's D1 session, opened at its
/// first query; the user the request turned out to be from and the PBKDF2 iterations it
/// ran, for its log line; and the context that keeps work going after the response.
pub struct App<'a> {
    env: &'a Env,
    ctx: &'a Context,
    cors: Rc<CorsOrigins>,
    consistency: Cell<Consistency>,
    bookmark: OnceCell<String>,
    db: OnceCell<Db>,
    user: Cell<Option<i64>>,
    pbkdf2_iterations: Cell<u64>,
    /// `Some(secure)` when the request keeps its refresh token in the pages' cookie.
    refresh_cookie: Cell<Option<bool>>,
}

impl<'a> App<'a> {
    fn new(env: &'a Env, ctx: &'a Context, cors: Rc<CorsOrigins>) -> App<'a> {
        App {
            env,
            ctx,
            cors,
            consistency: Cell::new(Consistency::Primary),
            bookmark: OnceCell::new(),
            db: OnceCell::new(),
            user: Cell::new(None),
            pbkdf2_iterations: Cell::new(0),
            refresh_cookie: Cell::new(None),
        }
    }

    /// How the request's D1 session starts: at the nearest replica for a route that only
    /// reads, resuming from the client's bookmark when it sent one; at the primary for
    /// everything else, whatever the client sent. A bookmark may only ever move a read
    /// forward: a route that writes, manages users or decides on credentials never reads a
    /// replica, where a revoked token or an old password may still look good. A malformed
    /// bookmark is a 400 on every route, so a client learns of it whichever it calls.
    fn start_session(&self, req: &Request, route: Route) -> Result<()> {
        let sent = req.headers().get(BOOKMARK_HEADER).ok().flatten();
        let bookmark = sent
            .as_deref()
            .map(|sent| {
                parse_bookmark(sent).ok_or_else(|| {
                    ApiError::BadRequest(format!("Invalid {BOOKMARK_HEADER} header"))
                })
            })
            .transpose()?;
        if route.only_reads() {
            self.consistency.set(Consistency::Nearest);
            if let Some(bookmark) = bookmark {
                let _ = self.bookmark.set(bookmark.to_owned());
            }
        }
        Ok(())
    }

    /// Notes whose request this is: the user a verified token or a login names. The log
    /// line leaves it out when the answer is a 401 (the database refused the token).
    pub fn note_user(&self, user_id: i64) {
        self.user.set(Some(user_id));
    }

    fn binding(&self, name: &str) -> Option<String> {
        binding(self.env, name)
    }

    /// `BACKEND_CORS_ORIGINS`.
    pub fn cors(&self) -> &CorsOrigins {
        &self.cors
    }

    pub fn config(&self) -> Result<Config> {
        Config::from_vars(|name| self.binding(name)).map_err(ApiError::Misconfigured)
    }

    /// The keys that sign and verify access tokens, and their issuer and audience.
    pub async fn token_keys(&self) -> Result<TokenKeys> {
        webcrypto::complete(self.token_secrets()?).await
    }

    /// As [`App::token_keys`], for the secrets alone (`JWT_SECRET` and its previous value):
    /// the private keys' public halves are not derived.
    pub fn token_secrets(&self) -> Result<KeysToComplete> {
        Config::token_keys(|name| self.binding(name)).map_err(ApiError::Misconfigured)
    }

    /// `MFA_ENCRYPTION_KEY` and `MFA_ENCRYPTION_KEY_PREVIOUS`: a 500 on the two-factor routes
    /// when the first is missing or either is malformed.
    pub fn mfa_keys(&self) -> Result<MfaKeys> {
        Config::mfa_keys(|name| self.binding(name)).map_err(ApiError::Misconfigured)
    }

    /// The keys of sign-in flows, derived from `JWT_SECRET` (which seals them; first) and
    /// `JWT_SECRET_PREVIOUS` (which still opens them, so a key rotation ends no flow).
    pub fn flow_keys(&self) -> Result<Vec<FlowKey>> {
        Ok(self
            .token_secrets()?
            .secrets()
            .map(|secret| FlowKey::derive(secret.key().as_ref()))
            .collect())
    }

    /// The keys passkey challenges are sealed with, derived from `JWT_SECRET` (which seals;
    /// first) and `JWT_SECRET_PREVIOUS` (which still opens).
    pub fn challenge_keys(&self) -> Result<Vec<ChallengeKey>> {
        Ok(self
            .token_secrets()?
            .secrets()
            .map(|secret| ChallengeKey::derive(secret.key().as_ref()))
            .collect())
    }

    /// Passkeys' relying party (`WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ORIGINS`),
    /// with defaults from the origin `req` was sent to and `BACKEND_CORS_ORIGINS`.
    pub fn relying_party(&self, req: &Request) -> Result<RelyingParty> {
        let own_origin = request_url(req)?.origin().ascii_serialization();
        crate::config::relying_party(|name| self.binding(name), &own_origin, &self.cors)
            .map_err(ApiError::Misconfigured)
    }

    /// An identity provider's settings; `None` when it is off.
    pub fn identity_provider(&self, id: ProviderId) -> Result<Option<ProviderSettings>> {
        ProviderSettings::from_vars(id, |name| self.binding(name)).map_err(ApiError::Misconfigured)
    }

    /// How emails are sent; `None` when `EMAIL_API_URL` is not set.
    pub fn email_settings(&self) -> Result<Option<EmailSettings>> {
        EmailSettings::from_vars(|name| self.binding(name)).map_err(ApiError::Misconfigured)
    }

    /// A Rate Limiting binding; a deployment without it is misconfigured.
    pub fn rate_limiter(&self, name: &str) -> Result<worker::RateLimiter> {
        self.env.rate_limiter(name).map_err(|e| {
            ApiError::Misconfigured(format!("rate limiting binding {name} is missing: {e}"))
        })
    }

    /// Cloudflare Turnstile; `None` when `TURNSTILE_SECRET_KEY` is not set.
    pub fn turnstile(&self) -> Result<Option<TurnstileSettings>> {
        TurnstileSettings::from_vars(|name| self.binding(name)).map_err(ApiError::Misconfigured)
    }

    /// `TURNSTILE_SITE_KEY`: the widget's site key, shown on the pages; `None` when unset.
    pub fn turnstile_site_key(&self) -> Option<String> {
        self.binding("TURNSTILE_SITE_KEY")
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty())
    }

    /// The check of new passwords against breached ones; `None` when `PWNED_PASSWORDS` is
    /// `off`.
    pub fn breach_check(&self) -> Result<Option<BreachCheckSettings>> {
        BreachCheckSettings::from_vars(|name| self.binding(name)).map_err(ApiError::Misconfigured)
    }

    /// The request's D1 session, opened on first use.
    pub fn db(&self) -> Result<&Db> {
        if let Some(db) = self.db.get() {
            return Ok(db);
        }
        let bookmark = self.bookmark.get().map(String::as_str);
        let db = open_db(self.env, self.consistency.get(), bookmark)?;
        Ok(self.db.get_or_init(|| db))
    }

    /// A D1 session of its own, at the primary, for work that goes on after the response
    /// ([`App::defer`]): the request's session ends with the request.
    pub fn db_after_response(&self) -> Result<Db> {
        open_db(self.env, Consistency::Primary, None)
    }

    /// Runs `work` after the response is sent; the Worker stays alive until it is done.
    pub fn defer(&self, work: impl Future<Output = ()> + 'static) {
        self.ctx.wait_until(work);
    }
}

/// Password hashing in the worker: between slices it waits for a timer of 0 ms, a macrotask,
/// so the isolate's other requests run (a resolved promise, a microtask, would not let
/// them); and it counts the iterations for the request's log line. `Delay` makes a
/// JavaScript closure per timer: about 10 µs of workerd CPU a pause, of which one callback
/// shared by every pause saved only 1.5 (measured over 12 000 pauses a login).
impl Pacer for App<'_> {
    fn pause(&self) -> impl Future<Output = ()> {
        Delay::from(Duration::ZERO)
    }

    fn ran(&self, iterations: u64) {
        self.pbkdf2_iterations
            .set(self.pbkdf2_iterations.get() + iterations);
    }
}

/// A D1 session on the `DB` binding (see [`Db::open`]).
fn open_db(env: &Env, consistency: Consistency, bookmark: Option<&str>) -> Result<Db> {
    let d1 = env
        .d1("DB")
        .map_err(|e| ApiError::Misconfigured(format!("D1 binding DB is missing: {e}")))?;
    Db::open(&d1, consistency, bookmark)
}

/// The request's URL, parsed; its `query_pairs()` are the decoded query parameters.
pub fn request_url(req: &Request) -> Result<url::Url> {
    req.url().map_err(|e| ApiError::internal("request url", e))
}

/// The answer to a request refused by where it comes from.
const CROSS_SITE: &str = "Cross-site request refused";

/// Where `req` comes from ([`Source`]): the one reading of its `Origin` and
/// `Sec-Fetch-Site` headers.
fn request_source(req: &Request, app: &App<'_>) -> Result<Source> {
    let header = |name| req.headers().get(name).ok().flatten();
    let own_origin = request_url(req)?.origin().ascii_serialization();
    Ok(origin::source(
        header("Origin").as_deref(),
        header("Sec-Fetch-Site").as_deref(),
        &own_origin,
        app.cors(),
    ))
}

/// 403 `Cross-site request refused`, logged, unless `allowed` accepts where `req` comes from.
pub fn refuse_source(
    req: &Request,
    app: &App<'_>,
    route: Route,
    allowed: impl FnOnce(Source) -> bool,
) -> Result<()> {
    if allowed(request_source(req, app)?) {
        return Ok(());
    }
    let origin = req.headers().get("Origin").ok().flatten();
    log(SecurityEvent::CrossSiteRefused {
        route: route.template(),
        origin: origin.as_deref(),
    });
    Err(ApiError::Forbidden(CROSS_SITE))
}

/// `204 No Content`.
pub fn no_content() -> Result<Response> {
    Response::empty()
        .map(|r| r.with_status(204))
        .map_err(|e| ApiError::internal("empty response", e))
}

/// Writes a security event to the Worker's log, as one JSON line.
pub fn log(event: SecurityEvent) {
    worker::console_log!("{}", event.line());
}

/// Seconds since the epoch, from the Worker's clock (chrono has no clock on wasm32).
pub fn now() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}
