//! HTTP: the route table, and what every handler shares. Handlers parse, call and respond;
//! they hold no SQL.

mod auth;
mod body;
mod current_user;
mod headers;
mod pages;
mod recipes;

use worker::{D1Database, Env, Method, Request, Response};

use crate::config::{Config, CorsOrigins};
use crate::error::{ApiError, Result};
use crate::security::JwtSecret;

pub async fn handle(req: Request, env: &Env) -> Response {
    let app = App { env };
    let path = req.path();
    let origin = req.headers().get("Origin").ok().flatten();
    let cors = CorsOrigins::parse(app.binding("BACKEND_CORS_ORIGINS").as_deref());
    let mut response = if headers::is_preflight(&req) {
        headers::preflight(&req, &cors)
    } else {
        route(req, &app)
            .await
            .unwrap_or_else(ApiError::into_response)
    };
    headers::finish(&mut response, &path, origin.as_deref(), &cors);
    response
}

/// The one place that lists every route. Paths match with and without a trailing slash.
async fn route(req: Request, app: &App<'_>) -> Result<Response> {
    body::check_declared_length(&req)?;
    let path = req.path();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method();
    match segments.as_slice() {
        ["api", "v1", "auth", "signup"] => {
            allow(&method, Method::Post)?;
            auth::signup(req, app).await
        }
        ["api", "v1", "auth", "login"] => {
            allow(&method, Method::Post)?;
            auth::login(req, app).await
        }
        ["api", "v1", "auth", "me"] => {
            allow(&method, Method::Get)?;
            auth::me(req, app).await
        }
        ["api", "v1", "recipes"] => match method {
            Method::Post => recipes::create(req, app).await,
            Method::Put => recipes::update(req, app).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        ["api", "v1", "recipes", "search"] => {
            allow(&method, Method::Get)?;
            recipes::search(&req, app).await
        }
        ["api", "v1", "recipes", "my-recipes"] => {
            allow(&method, Method::Get)?;
            recipes::mine(&req, app).await
        }
        ["api", "v1", "recipes", id] => match method {
            Method::Get => recipes::get(id, app).await,
            Method::Delete => recipes::delete(&req, id, app).await,
            _ => Err(ApiError::MethodNotAllowed),
        },
        [] => {
            allow(&method, Method::Get)?;
            pages::home(app).await
        }
        _ => Err(ApiError::no_route()),
    }
}

fn allow(method: &Method, allowed: Method) -> Result<()> {
    if *method == allowed {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed)
    }
}

/// The Worker's bindings, read on demand so a route only fails for what it needs.
pub struct App<'a> {
    env: &'a Env,
}

impl App<'_> {
    fn binding(&self, name: &str) -> Option<String> {
        self.env.var(name).ok().map(|value| value.to_string())
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

/// Seconds since the epoch, from the Worker's clock (chrono has no clock on wasm32).
pub fn now() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}
