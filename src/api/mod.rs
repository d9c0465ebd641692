//! HTTP: the route table, and what every handler shares. Handlers parse, call and respond;
//! they hold no SQL.

mod auth;
mod body;
mod current_user;
mod docs;
mod headers;
mod pages;
mod recipes;
pub mod routes;
mod users;

use worker::{D1Database, Env, Request, Response};

use routes::{Route, Unmatched};

use crate::config::{Config, CorsOrigins};
use crate::error::{ApiError, Result};
use crate::events::SecurityEvent;
use crate::security::JwtSecret;

pub async fn handle(req: Request, env: &Env) -> Response {
    let cors = CorsOrigins::parse(binding(env, "BACKEND_CORS_ORIGINS").as_deref());
    let app = App { env, cors };
    let path = req.path();
    let origin = req.headers().get("Origin").ok().flatten();
    let mut response = if headers::is_preflight(&req) {
        headers::preflight(&req, &app.cors)
    } else {
        route(req, &app)
            .await
            .unwrap_or_else(ApiError::into_response)
    };
    headers::finish(&mut response, &path, origin.as_deref(), &app.cors);
    response
}

/// Dispatches to the handler of each route in the table (api/routes.rs). The method is read
/// raw: `worker::Method` turns methods it does not know (QUERY, TRACE) into GET.
async fn route(req: Request, app: &App<'_>) -> Result<Response> {
    body::check_declared_length(&req)?;
    let (route, parameter) = Route::resolve(&req.inner().method(), &req.path()).map_err(
        |unmatched| match unmatched {
            Unmatched::NotFound => ApiError::no_route(),
            Unmatched::MethodNotAllowed(allowed) => ApiError::MethodNotAllowed(allowed.join(", ")),
        },
    )?;
    // `{recipe_id}` or `{user_id}`, whichever the route has.
    let id = parameter.as_deref().unwrap_or_default();
    match route {
        Route::Home => pages::home(app).await,
        Route::Docs => docs::page(),
        Route::OpenApi => docs::openapi_json(),
        Route::Signup => auth::signup(req, app).await,
        Route::Login => auth::login(req, app).await,
        Route::Refresh => auth::refresh(req, app).await,
        Route::Logout => auth::logout(req, app).await,
        Route::ChangePassword => auth::change_password(req, app).await,
        Route::Me => auth::me(req, app).await,
        Route::DeleteMe => auth::delete_me(req, app).await,
        Route::SearchRecipes => recipes::search(&req, app).await,
        Route::MyRecipes => recipes::mine(&req, app).await,
        Route::CreateRecipe => recipes::create(req, app).await,
        Route::UpdateRecipe => recipes::update(req, app).await,
        Route::GetRecipe => recipes::get(id, app).await,
        Route::DeleteRecipe => recipes::delete(&req, id, app).await,
        Route::ListUsers => users::list(&req, app).await,
        Route::GetUser => users::get(&req, id, app).await,
        Route::UpdateUser => users::update(req, id, app).await,
        Route::DeleteUser => users::delete(&req, id, app).await,
        Route::ResetPassword => users::reset_password(req, id, app).await,
    }
}

fn binding(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|value| value.to_string())
}

/// The Worker's bindings, read on demand so a route only fails for what it needs; the CORS
/// origins, which every response needs, read once.
pub struct App<'a> {
    env: &'a Env,
    cors: CorsOrigins,
}

impl App<'_> {
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

    pub fn jwt_secret(&self) -> Result<JwtSecret> {
        Config::jwt_secret(|name| self.binding(name)).map_err(ApiError::Misconfigured)
    }

    pub fn db(&self) -> Result<D1Database> {
        self.env
            .d1("DB")
            .map_err(|e| ApiError::Misconfigured(format!("D1 binding DB is missing: {e}")))
    }
}

/// The request's URL, parsed; its `query_pairs()` are the decoded query parameters.
pub fn request_url(req: &Request) -> Result<url::Url> {
    req.url().map_err(|e| ApiError::internal("request url", e))
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
