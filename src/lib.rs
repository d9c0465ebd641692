//! Recipe API: a Cloudflare Worker in Rust, backed by D1.
//!
//! Data flows one way: request → `api` (parse, call, respond) → `domain` / `security`
//! (pure Rust, tested natively) → `store` (every SQL statement) → response.

mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod logs;
pub mod security;
mod store;

use worker::{event, Context, Env, Request, Response};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    Ok(api::handle(req, &env).await)
}
