//! Recipe API: a Cloudflare Worker in Rust, backed by D1.
//!
//! Data flows one way: request → `api` (parse, call, respond) → `domain` / `security`
//! (pure Rust, tested natively) → `store` (every SQL statement) → response.

mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod logs;
pub mod mail;
mod scheduled;
pub mod security;
mod store;

use worker::{event, Context, Env, Request, Response, ScheduleContext, ScheduledEvent};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    Ok(api::handle(req, &env, &ctx).await)
}

/// The Cron Trigger (`[triggers]` in wrangler.toml): the cleanup of ended sessions, expired
/// refresh and email tokens, and stale attempt counters (src/scheduled.rs).
#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    scheduled::run(&env, event.cron(), api::now()).await;
}
