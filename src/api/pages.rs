//! HTML pages: the home page with the latest recipes, the pages the links of password
//! recovery and verification emails open, and the account pages (sign in, sign up, forgot
//! password, account), each with one static script under assets/pages/.

use std::sync::OnceLock;

use askama::Template;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha2::{Digest, Sha256};
use worker::Response;

use super::App;
use crate::domain::Recipe;
use crate::error::{ApiError, Result};
use crate::security::turnstile::Guarded;
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

/// The account pages' style sheet, inlined (templates/page.html); their CSP allows exactly
/// this text by its hash.
pub(crate) const PAGES_STYLE: &str = include_str!("../../templates/pages.css");
/// Cloudflare Turnstile's widget script, and the origin it and its frame come from.
pub(crate) const TURNSTILE_SCRIPT: &str = "https://challenges.cloudflare.com/turnstile/v0/api.js";
const TURNSTILE_ORIGIN: &str = "https://challenges.cloudflare.com";

/// `/login`: email and password or a passkey, then the second step; a button per provider.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    site_key: Option<String>,
}

/// `/signup`.
#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    site_key: Option<String>,
}

/// `/forgot-password`.
#[derive(Template)]
#[template(path = "forgot_password.html")]
struct ForgotPasswordPage {
    site_key: Option<String>,
}

/// `/account`: never a Turnstile widget.
#[derive(Template)]
#[template(path = "my_account.html")]
struct AccountPage {
    site_key: Option<String>,
}

/// The account pages' policy: their own script and API, their inline style by its hash, QR
/// codes as blob images; and Turnstile's script and frame only on a page that shows its
/// widget.
fn account_pages_policy(turnstile: bool) -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    let hash = HASH.get_or_init(|| BASE64.encode(Sha256::digest(PAGES_STYLE.as_bytes())));
    let (script, frame) = if turnstile {
        (format!("'self' {TURNSTILE_ORIGIN}"), TURNSTILE_ORIGIN)
    } else {
        ("'self'".to_owned(), "'none'")
    };
    format!(
        "default-src 'none'; script-src {script}; connect-src 'self'; \
         style-src 'sha256-{hash}'; img-src 'self' blob:; frame-src {frame}; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// An account page, made by `make` with Turnstile's site key when the deployment guards
/// `guarded` with it and has a site key (`TURNSTILE_SITE_KEY`).
fn account_page<T: Template>(
    app: &App<'_>,
    guarded: Option<Guarded>,
    make: fn(Option<String>) -> T,
) -> Result<Response> {
    let site_key = match guarded {
        Some(route) => app
            .turnstile()?
            .filter(|settings| settings.routes.contains(route))
            .and_then(|_| app.turnstile_site_key()),
        None => None,
    };
    let policy = account_pages_policy(site_key.is_some());
    let html = make(site_key)
        .render()
        .map_err(|e| ApiError::internal("rendering a page", e))?;
    let mut response =
        Response::from_html(html).map_err(|e| ApiError::internal("page response", e))?;
    let _ = response
        .headers_mut()
        .set("Content-Security-Policy", &policy);
    Ok(response)
}

/// The sign-in page: email and password, then a TOTP code, a recovery code or a passkey when
/// the account has a second factor; a passkey alone, from a button or the email field's
/// autofill; a button per enabled provider; `?next=` a path on this origin to go to after.
#[utoipa::path(
    get, path = "/login", tag = "pages",
    params(("next" = Option<String>, Query, description = "A path on this origin to open \
            once signed in (default /account)")),
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub fn login(app: &App<'_>) -> Result<Response> {
    account_page(app, Some(Guarded::Login), |site_key| LoginPage { site_key })
}

/// The sign-up page; Turnstile's widget when the deployment guards signup with it.
#[utoipa::path(
    get, path = "/signup", tag = "pages",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub fn signup(app: &App<'_>) -> Result<Response> {
    account_page(app, Some(Guarded::Signup), |site_key| SignupPage {
        site_key,
    })
}

/// The page that asks for a password-recovery email.
#[utoipa::path(
    get, path = "/forgot-password", tag = "pages",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub fn forgot_password(app: &App<'_>) -> Result<Response> {
    account_page(app, Some(Guarded::Recovery), |site_key| {
        ForgotPasswordPage { site_key }
    })
}

/// The account page, signed in: profile, email, password, two-step sign-in, passkeys,
/// devices, linked accounts, sign out and account deletion. Signed out, it sends the browser to `/login`.
#[utoipa::path(
    get, path = "/account", tag = "pages",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String))
)]
pub fn account(app: &App<'_>) -> Result<Response> {
    account_page(app, None, |site_key| AccountPage { site_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_pages_allow_no_inline_script_and_turnstile_only_with_its_widget() {
        for turnstile in [false, true] {
            let policy = account_pages_policy(turnstile);
            assert!(!policy.contains("unsafe"), "{policy}");
            assert!(policy.contains("style-src 'sha256-"), "{policy}");
            assert_eq!(policy.contains(TURNSTILE_ORIGIN), turnstile, "{policy}");
        }
        let login = LoginPage { site_key: None }.render().unwrap();
        assert_eq!(login.matches("<script").count(), 1, "{login}");
        assert!(login.contains(r#"<script type="module" src="/pages/login.js"></script>"#));
        let with_widget = SignupPage {
            site_key: Some("site-<key>".into()),
        }
        .render()
        .unwrap();
        assert!(with_widget.contains(TURNSTILE_SCRIPT));
        assert!(
            with_widget.contains(r#"data-sitekey="site-&#60;key&#62;""#),
            "{with_widget}"
        );
    }

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
