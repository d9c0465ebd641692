//! HTML pages: the home page with the latest recipes.

use std::sync::OnceLock;

use askama::Template;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest, Sha256};
use worker::Response;

use super::App;
use crate::domain::Recipe;
use crate::error::{ApiError, Result};
use crate::store::recipes;

const HOME_RECIPES: u32 = 10;
/// The page's only style sheet, inlined; the CSP allows exactly this text by its hash.
const STYLE: &str = include_str!("../../templates/home.css");

/// askama escapes every `{{ value }}` for HTML, so a label like `<script>` shows as text.
#[derive(Template)]
#[template(path = "index.html")]
struct HomePage {
    recipes: Vec<Recipe>,
    style: &'static str,
}

/// No scripts, no frames, no plugins; only our own inline style sheet.
fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = BASE64.encode(Sha256::digest(STYLE.as_bytes()));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'"
        )
    })
}

/// The latest 10 recipes as an HTML page.
#[utoipa::path(
    get, path = "/", tag = "pages",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub async fn home(app: &App<'_>) -> Result<Response> {
    let page = HomePage {
        recipes: recipes::latest(app.db()?, HOME_RECIPES).await?,
        style: STYLE,
    };
    let html = page
        .render()
        .map_err(|e| ApiError::internal("rendering home page", e))?;
    let mut response =
        Response::from_html(html).map_err(|e| ApiError::internal("home response", e))?;
    let _ = response
        .headers_mut()
        .set("Content-Security-Policy", content_security_policy());
    Ok(response)
}
