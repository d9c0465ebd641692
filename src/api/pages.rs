//! HTML pages: the home page with the latest recipes, and the pages the links of password
//! recovery and verification emails open.

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

/// The reset-password page: a form for the new password, posted by /pages/account.js.
#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPasswordPage {
    style: &'static str,
}

/// The verify-email page: one button, posted by /pages/account.js.
#[derive(Template)]
#[template(path = "verify_email.html")]
struct VerifyEmailPage {
    style: &'static str,
}

/// No frames, no plugins, no inline script; only our own inline style sheet, and for the
/// pages that post forms, our own script (a static asset) calling our own API.
fn content_security_policy(scripts: bool) -> &'static str {
    static POLICIES: OnceLock<[String; 2]> = OnceLock::new();
    let [without, with] = POLICIES.get_or_init(|| {
        let hash = BASE64.encode(Sha256::digest(STYLE.as_bytes()));
        let policy = |script| {
            format!(
                "default-src 'none'; {script}style-src 'sha256-{hash}'; img-src 'self'; \
                 base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            )
        };
        [
            policy(""),
            policy("script-src 'self'; connect-src 'self'; "),
        ]
    });
    if scripts {
        with
    } else {
        without
    }
}

/// `html` as a page under its Content-Security-Policy.
fn page(html: askama::Result<String>, scripts: bool) -> Result<Response> {
    let html = html.map_err(|e| ApiError::internal("rendering a page", e))?;
    let mut response =
        Response::from_html(html).map_err(|e| ApiError::internal("page response", e))?;
    let _ = response
        .headers_mut()
        .set("Content-Security-Policy", content_security_policy(scripts));
    Ok(response)
}

/// The latest 10 recipes as an HTML page.
#[utoipa::path(
    get, path = "/", tag = "pages",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub async fn home(app: &App<'_>) -> Result<Response> {
    let home = HomePage {
        recipes: recipes::latest(app.db()?, HOME_RECIPES).await?,
        style: STYLE,
    };
    page(home.render(), false)
}

/// The page a password-recovery email links to (unless `RESET_PASSWORD_URL` names another):
/// a form that sets a new password with the link's token. The link carries the token in its
/// fragment (`#token=`), which no request sends; the page's script reads it and removes it
/// from the address bar.
#[utoipa::path(
    get, path = "/reset-password", tag = "pages",
    params(("token" = Option<String>, Query, description = "Links sent before tokens moved \
            to the fragment carry it here; they work until they expire")),
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub fn reset_password() -> Result<Response> {
    page(ResetPasswordPage { style: STYLE }.render(), true)
}

/// The page a verification email links to (unless `VERIFY_EMAIL_URL` names another): a
/// button that verifies the email with the link's token (`#token=`, read by the page's
/// script, as on the reset page). Opening the link alone verifies nothing, so a mail scanner
/// that follows links cannot.
#[utoipa::path(
    get, path = "/verify-email", tag = "pages",
    params(("token" = Option<String>, Query, description = "Links sent before tokens moved \
            to the fragment carry it here; they work until they expire")),
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub fn verify_email() -> Result<Response> {
    page(VerifyEmailPage { style: STYLE }.render(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_pages_name_their_form_and_load_only_the_static_script() {
        let reset = ResetPasswordPage { style: STYLE }.render().unwrap();
        assert!(
            reset.contains("<title>Choose a new password</title>"),
            "{reset}"
        );
        assert!(reset.contains("<h1>Choose a new password</h1>"), "{reset}");
        assert!(reset.contains(r#"<form id="reset-form">"#));
        let verify = VerifyEmailPage { style: STYLE }.render().unwrap();
        assert!(verify.contains("<h1>Verify your email</h1>"), "{verify}");
        assert!(verify.contains(r#"<form id="verify-form">"#));
        for page in [&reset, &verify] {
            assert!(page.contains(r#"<script src="/pages/account.js" defer></script>"#));
            assert_eq!(page.matches("<script").count(), 1, "no inline script");
        }
    }
}
