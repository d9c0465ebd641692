//! Settings from the Worker's bindings: `[vars]` in wrangler.toml, secrets from
//! `wrangler secret put` (or `.dev.vars` locally). Parsing is pure and fails closed.

use crate::security::breach::DEFAULT_RANGE_URL;
use crate::security::password::DEFAULT_ITERATIONS;
use crate::security::throttle::DEFAULT_SIGNUPS_PER_HOUR;
use crate::security::token::{DEFAULT_AUDIENCE, DEFAULT_ISSUER};
use crate::security::turnstile::{GuardedRoutes, DEFAULT_VERIFY_URL};
use crate::security::webauthn::RelyingParty;
use crate::security::{
    JwtAlgorithm, JwtSecret, KeysToComplete, MfaKey, MfaKeys, PrivateKey, TokenKeys,
};

/// Access tokens live half an hour (the original: 8 days). A client with a refresh token
/// renews them without asking for the password; logout cannot recall an access token, so
/// this bounds how long one outlives it.
pub const DEFAULT_ACCESS_TOKEN_MINUTES: i64 = 30;
/// A refresh token unused this long expires; every refresh starts the count again.
pub const DEFAULT_REFRESH_TOKEN_DAYS: i64 = 30;
/// A session (one login and its refreshes) ends this long after the login, refreshed or not.
pub const DEFAULT_SESSION_MAX_DAYS: i64 = 90;
/// A refresh token presented again this soon after its own rotation gets a new pair rather
/// than counting as reuse: a client whose answer was lost on the way retries.
pub const DEFAULT_REFRESH_REUSE_SECONDS: i64 = 10;
/// The longest grace window allowed: beyond a few minutes it would be no reuse detection.
pub const MAX_REFRESH_REUSE_SECONDS: i64 = 300;
/// A password-recovery link works this long.
pub const DEFAULT_RESET_TOKEN_MINUTES: i64 = 30;
/// A verification link works this long: a day, as a new user may read the email later.
pub const VERIFY_TOKEN_SECONDS: i64 = 24 * 3600;
/// The sender of the project's emails when `EMAIL_FROM` is unset.
pub const DEFAULT_EMAIL_FROM: &str = "Recipe API <no-reply@recipe-api.local>";
/// Below this PBKDF2 is no protection at all; refuse to run with it.
pub const MIN_ITERATIONS: u32 = 1_000;

/// What every placeholder the documentation and `.dev.vars.example` print for a secret holds.
const PLACEHOLDER_MARK: &str = "replace-with";

/// A secret's value, or the error that refuses it when it was copied from the documentation
/// (`JWT_SECRET=replace-with-64-hex-characters…`, which is long enough to pass as a key):
/// a key anyone can read signs nothing. Cloudflare's Turnstile test secrets (`1x…AA`) are
/// documented too, but they are keys of a test widget, meant for tests and automation, so
/// they pass here; `scripts/smoke.sh` catches the always-pass one in a deployment.
pub fn refuse_placeholder(name: &str, value: Option<String>) -> Result<Option<String>, String> {
    match value {
        Some(value) if value.to_ascii_lowercase().contains(PLACEHOLDER_MARK) => Err(format!(
            "{name} is still the placeholder from the documentation (it contains \
             \"{PLACEHOLDER_MARK}\"), which anyone can read: set a value of your own with \
             `wrangler secret put {name}` (locally, scripts/setup.sh replaces it in .dev.vars)"
        )),
        value => Ok(value),
    }
}

/// Browser origins allowed to call the API with credentials (`BACKEND_CORS_ORIGINS`, as in
/// the original): a JSON list or a comma-separated list. `*` allows any origin, and then
/// without credentials: a wildcard never comes with `Access-Control-Allow-Credentials`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CorsOrigins {
    #[default]
    None,
    Any,
    List(Vec<String>),
}

impl CorsOrigins {
    pub fn parse(value: Option<&str>) -> CorsOrigins {
        let value = value.unwrap_or("").trim();
        let entries: Vec<String> = match serde_json::from_str::<Vec<String>>(value) {
            Ok(list) => list,
            Err(_) => value.split([',', ' ']).map(str::to_owned).collect(),
        };
        // An origin has no path: "http://localhost:3000/" and "http://localhost:3000" agree.
        let entries: Vec<String> = entries
            .iter()
            .map(|e| e.trim().trim_end_matches('/').to_owned())
            .filter(|e| !e.is_empty())
            .collect();
        if entries.iter().any(|e| e == "*") {
            CorsOrigins::Any
        } else if entries.is_empty() {
            CorsOrigins::None
        } else {
            CorsOrigins::List(entries)
        }
    }

    pub fn allows(&self, origin: &str) -> bool {
        match self {
            CorsOrigins::None => false,
            CorsOrigins::Any => true,
            CorsOrigins::List(list) => list.iter().any(|allowed| allowed == origin),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `PASSWORD_ITERATIONS`: PBKDF2 rounds for new hashes; older hashes are upgraded.
    pub password_iterations: u32,
    /// `ACCESS_TOKEN_EXPIRE_MINUTES`: access token lifetime.
    pub access_token_seconds: i64,
    /// `REFRESH_TOKEN_EXPIRE_DAYS`: refresh token lifetime.
    pub refresh_token_seconds: i64,
    /// `SESSION_MAX_DAYS`: how long after a login its session ends, refreshed or not.
    pub session_max_seconds: i64,
    /// `REFRESH_REUSE_SECONDS`: the grace window of a rotated refresh token (0: none).
    pub refresh_reuse_seconds: i64,
    /// `SIGNUP_LIMIT_PER_HOUR`: signups from one client address per hour.
    pub signups_per_hour: i64,
    /// `RESET_TOKEN_EXPIRE_MINUTES`: how long a password-recovery link works.
    pub reset_token_seconds: i64,
    /// `REQUIRE_VERIFIED_EMAIL`: whether login needs a verified email (default: no, as the
    /// original, whose clients know nothing of verification).
    pub require_verified_email: bool,
    /// `EMAIL_SIGN_IN_SIGNUP`: whether a sign-in by email creates the account of an address
    /// that has none, verified and without a password (default: no).
    pub email_sign_in_signup: bool,
    /// `RESET_PASSWORD_URL`, `VERIFY_EMAIL_URL`: the pages the emails link to; `None` for
    /// the API's own (`/reset-password`, `/verify-email`).
    pub reset_password_url: Option<String>,
    pub verify_email_url: Option<String>,
}

/// How emails are sent: an HTTP API in the shape of Resend's (`POST` JSON with a bearer key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// `EMAIL_API_URL`, e.g. `https://api.resend.com/emails`.
    pub api_url: String,
    /// `EMAIL_API_KEY` (a secret); no `Authorization` header without one.
    pub api_key: Option<String>,
    /// `EMAIL_FROM`: the sender, `Name <address>` or an address.
    pub from: String,
}

impl EmailSettings {
    /// `None` when `EMAIL_API_URL` is unset or empty: email delivery is not configured.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<EmailSettings>, String> {
        let present = |name| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(api_url) = present("EMAIL_API_URL") else {
            return Ok(None);
        };
        Ok(Some(EmailSettings {
            api_url: web_url(&api_url, "EMAIL_API_URL")?,
            api_key: refuse_placeholder("EMAIL_API_KEY", present("EMAIL_API_KEY"))?,
            from: present("EMAIL_FROM").unwrap_or_else(|| DEFAULT_EMAIL_FROM.to_owned()),
        }))
    }
}

/// Cloudflare Turnstile (src/security/turnstile.rs): on when the secret is set.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnstileSettings {
    /// `TURNSTILE_SECRET_KEY` (a secret): the widget's secret key.
    pub secret: String,
    /// `TURNSTILE_VERIFY_URL`: where tokens are verified (default Cloudflare's siteverify).
    pub verify_url: String,
    /// `TURNSTILE_ON`: the routes that ask for a token (default signup and recovery).
    pub routes: GuardedRoutes,
}

impl TurnstileSettings {
    /// `None` when `TURNSTILE_SECRET_KEY` is unset or empty: Turnstile is off, and the other
    /// two settings are not read. With the secret set, a bad `TURNSTILE_ON` or
    /// `TURNSTILE_VERIFY_URL` is an error, so the guarded routes fail closed.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TurnstileSettings>, String> {
        let secret = var("TURNSTILE_SECRET_KEY")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        let Some(secret) = refuse_placeholder("TURNSTILE_SECRET_KEY", secret)? else {
            return Ok(None);
        };
        let verify_url = match var("TURNSTILE_VERIFY_URL").map(|v| v.trim().to_owned()) {
            Some(url) if !url.is_empty() => web_url(&url, "TURNSTILE_VERIFY_URL")?,
            _ => DEFAULT_VERIFY_URL.to_owned(),
        };
        Ok(Some(TurnstileSettings {
            secret,
            verify_url,
            routes: GuardedRoutes::parse(var("TURNSTILE_ON").as_deref())?,
        }))
    }
}

impl std::fmt::Debug for TurnstileSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnstileSettings")
            .field("verify_url", &self.verify_url)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

/// The check of new passwords against Have I Been Pwned's range API
/// (src/security/breach.rs): on unless `PWNED_PASSWORDS` is `off`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachCheckSettings {
    /// `PWNED_PASSWORDS_URL`: the range API, to which a password's 5-character SHA-1 prefix
    /// is appended (default Have I Been Pwned's).
    pub range_url: String,
}

impl BreachCheckSettings {
    /// `None` when `PWNED_PASSWORDS` is `off`; unset, empty or `on`, the check is on. Any
    /// other value, or a `PWNED_PASSWORDS_URL` that is not an http(s) URL, is an error, so the
    /// routes that set a password fail closed rather than skip the check.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<BreachCheckSettings>, String> {
        match var("PWNED_PASSWORDS").as_deref().map(str::trim) {
            None | Some("") | Some("on") => {}
            Some("off") => return Ok(None),
            Some(other) => {
                return Err(format!(
                    "PWNED_PASSWORDS is {other:?}; it must be \"on\" or \"off\" (default \"on\")"
                ))
            }
        }
        let range_url = match var("PWNED_PASSWORDS_URL").map(|v| v.trim().to_owned()) {
            Some(url) if !url.is_empty() => web_url(&url, "PWNED_PASSWORDS_URL")?,
            _ => DEFAULT_RANGE_URL.to_owned(),
        };
        Ok(Some(BreachCheckSettings { range_url }))
    }
}

/// The identity providers a user may sign in with (`/api/v1/auth/oauth/…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderId {
    Google,
    GitHub,
    /// Any OpenID provider named by `OIDC_ISSUER` (Microsoft Entra, Auth0, Okta, Keycloak,
    /// GitLab, or the local one `make dev` runs).
    Oidc,
}

impl ProviderId {
    /// In the order the providers are listed.
    pub const ALL: [ProviderId; 3] = [ProviderId::Google, ProviderId::GitHub, ProviderId::Oidc];

    /// The id in paths, cookies, the `identities` table and log lines.
    pub fn name(self) -> &'static str {
        match self {
            ProviderId::Google => "google",
            ProviderId::GitHub => "github",
            ProviderId::Oidc => "oidc",
        }
    }

    pub fn parse(name: &str) -> Option<ProviderId> {
        ProviderId::ALL.into_iter().find(|id| id.name() == name)
    }

    /// The settings of the client registered at the provider: its id (a var, which turns
    /// the provider on) and its secret (a secret).
    fn client_settings(self) -> (&'static str, &'static str) {
        match self {
            ProviderId::Google => ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"),
            ProviderId::GitHub => ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"),
            ProviderId::Oidc => ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"),
        }
    }
}

/// How a provider says who the user is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// OpenID Connect: endpoints from the issuer's discovery document (at `discovery`),
    /// identity from an ID token signed by the issuer's keys, whose `iss` must be `issuer`.
    OpenId { issuer: String, discovery: String },
    /// GitHub's OAuth 2 (no OpenID): identity from its REST API. `web_url` serves the
    /// authorize and token endpoints, `api_url` the user and their emails.
    GitHub { web_url: String, api_url: String },
}

/// One enabled provider, with the client the deployment registered there.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub id: ProviderId,
    /// What a sign-in button says.
    pub label: String,
    pub client_id: String,
    pub client_secret: String,
    pub protocol: Protocol,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const GOOGLE_DISCOVERY_URL: &str =
    "https://accounts.google.com/.well-known/openid-configuration";
pub const GITHUB_URL: &str = "https://github.com";
pub const GITHUB_API_URL: &str = "https://api.github.com";

impl ProviderSettings {
    /// Who vouches for the provider's accounts: an identity is its `(issuer, subject)`. For
    /// OpenID providers the ID token's `iss`; for GitHub, which has no issuer, `GITHUB_URL`
    /// (without a trailing slash), so a deployment pointed at another GitHub (Enterprise
    /// Server, a stand-in) gets new identities rather than the old ones' accounts.
    pub fn issuer(&self) -> &str {
        match &self.protocol {
            Protocol::OpenId { issuer, .. } => issuer,
            Protocol::GitHub { web_url, .. } => web_url,
        }
    }

    /// `None` when the provider is off: its client id (`GOOGLE_CLIENT_ID`, `GITHUB_CLIENT_ID`,
    /// `OIDC_CLIENT_ID`) is unset or empty. With it set, a missing secret or issuer, or a
    /// URL that is not one, is an error, so that provider's routes fail closed.
    pub fn from_vars(
        id: ProviderId,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<ProviderSettings>, String> {
        let (id_name, secret_name) = id.client_settings();
        let present = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(client_id) = present(id_name) else {
            return Ok(None);
        };
        let client_secret =
            refuse_placeholder(secret_name, present(secret_name))?.ok_or_else(|| {
                format!(
                    "{id_name} is set but {secret_name} is not: \
                 `wrangler secret put {secret_name}` (locally, .dev.vars)"
                )
            })?;
        let url_or = |name: &str, default: &str| match present(name) {
            Some(url) => web_url(&url, name).map(|url| url.trim_end_matches('/').to_owned()),
            None => Ok(default.to_owned()),
        };
        let (label, protocol) = match id {
            // Google's issuer is fixed: its ID tokens say `https://accounts.google.com`. Only
            // where its discovery document is fetched from may change (a local stand-in).
            ProviderId::Google => (
                "Google".to_owned(),
                Protocol::OpenId {
                    issuer: GOOGLE_ISSUER.to_owned(),
                    discovery: match present("GOOGLE_DISCOVERY_URL") {
                        Some(url) => web_url(&url, "GOOGLE_DISCOVERY_URL")?,
                        None => GOOGLE_DISCOVERY_URL.to_owned(),
                    },
                },
            ),
            ProviderId::GitHub => (
                "GitHub".to_owned(),
                Protocol::GitHub {
                    web_url: url_or("GITHUB_URL", GITHUB_URL)?,
                    api_url: url_or("GITHUB_API_URL", GITHUB_API_URL)?,
                },
            ),
            ProviderId::Oidc => {
                let issuer =
                    present("OIDC_ISSUER").ok_or("OIDC_CLIENT_ID is set but OIDC_ISSUER is not")?;
                // Kept as written: the ID token's `iss` must equal it exactly.
                web_url(&issuer, "OIDC_ISSUER")?;
                let label = present("OIDC_NAME").unwrap_or_else(|| "OpenID Connect".to_owned());
                // OpenID Connect Discovery §4: the issuer without a trailing slash, then the
                // well-known path.
                let discovery = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                (label, Protocol::OpenId { issuer, discovery })
            }
        };
        Ok(Some(ProviderSettings {
            id,
            label,
            client_id,
            client_secret,
            protocol,
        }))
    }
}

impl Config {
    /// Reads the plain settings; `var` looks a binding up by name.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let password_iterations = match var("PASSWORD_ITERATIONS") {
            None => DEFAULT_ITERATIONS,
            Some(value) => match value.trim().parse::<u32>() {
                Ok(n) if n >= MIN_ITERATIONS => n,
                _ => {
                    return Err(format!(
                        "PASSWORD_ITERATIONS is {value:?}; it must be a whole number of at \
                         least {MIN_ITERATIONS} (default {DEFAULT_ITERATIONS})"
                    ))
                }
            },
        };
        let access_token_seconds = 60
            * whole_number(
                &var,
                "ACCESS_TOKEN_EXPIRE_MINUTES",
                DEFAULT_ACCESS_TOKEN_MINUTES,
                60 * 24 * 365,
            )?;
        let refresh_token_seconds = 24
            * 3600
            * whole_number(
                &var,
                "REFRESH_TOKEN_EXPIRE_DAYS",
                DEFAULT_REFRESH_TOKEN_DAYS,
                365,
            )?;
        let session_max_seconds =
            24 * 3600 * whole_number(&var, "SESSION_MAX_DAYS", DEFAULT_SESSION_MAX_DAYS, 3650)?;
        let refresh_reuse_seconds = whole_number_in(
            &var,
            "REFRESH_REUSE_SECONDS",
            DEFAULT_REFRESH_REUSE_SECONDS,
            0,
            MAX_REFRESH_REUSE_SECONDS,
        )?;
        let signups_per_hour = whole_number(
            &var,
            "SIGNUP_LIMIT_PER_HOUR",
            DEFAULT_SIGNUPS_PER_HOUR,
            1_000_000,
        )?;
        let reset_token_seconds = 60
            * whole_number(
                &var,
                "RESET_TOKEN_EXPIRE_MINUTES",
                DEFAULT_RESET_TOKEN_MINUTES,
                24 * 60,
            )?;
        let require_verified_email = flag(&var, "REQUIRE_VERIFIED_EMAIL")?;
        let email_sign_in_signup = flag(&var, "EMAIL_SIGN_IN_SIGNUP")?;
        let page_url = |name| match var(name).map(|v| v.trim().to_owned()) {
            Some(value) if !value.is_empty() => web_url(&value, name).map(Some),
            _ => Ok(None),
        };
        Ok(Config {
            password_iterations,
            access_token_seconds,
            refresh_token_seconds,
            session_max_seconds,
            refresh_reuse_seconds,
            signups_per_hour,
            reset_token_seconds,
            require_verified_email,
            email_sign_in_signup,
            reset_password_url: page_url("RESET_PASSWORD_URL")?,
            verify_email_url: page_url("VERIFY_EMAIL_URL")?,
        })
    }

    /// The signing key, from the `JWT_SECRET` secret.
    pub fn jwt_secret(var: impl Fn(&str) -> Option<String>) -> Result<JwtSecret, String> {
        JwtSecret::parse(refuse_placeholder("JWT_SECRET", var("JWT_SECRET"))?.as_deref())
    }

    /// The keys and claims of access tokens: `JWT_SECRET` signs; `JWT_SECRET_PREVIOUS`, when
    /// set, only verifies (and must be as strong); `JWT_ISSUER` and `JWT_AUDIENCE` name the
    /// service and its clients, by default both `recipe-api`.
    /// With ES256 or EdDSA the private keys' public halves are still to be derived (by Web
    /// Crypto, src/api/webcrypto.rs): see [`KeysToComplete`].
    pub fn token_keys(var: impl Fn(&str) -> Option<String>) -> Result<KeysToComplete, String> {
        let current = Config::jwt_secret(&var)?;
        let previous = refuse_placeholder("JWT_SECRET_PREVIOUS", var("JWT_SECRET_PREVIOUS"))?;
        let previous = match previous.filter(|v| !v.is_empty()) {
            None => None,
            Some(value) => Some(JwtSecret::parse_named("JWT_SECRET_PREVIOUS", Some(&value))?),
        };
        let text = |name, default: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let keys = TokenKeys::new(
            current,
            previous,
            text("JWT_ISSUER", DEFAULT_ISSUER),
            text("JWT_AUDIENCE", DEFAULT_AUDIENCE),
        );
        // `JWT_ALGORITHM` ES256 or EdDSA: `JWT_PRIVATE_KEY` (of that kind) signs access tokens,
        // `JWT_PRIVATE_KEY_PREVIOUS` (of either kind) still verifies them.
        let algorithm = JwtAlgorithm::parse(var("JWT_ALGORITHM").as_deref())?;
        if algorithm == JwtAlgorithm::Hs256 {
            return Ok(keys.into());
        }
        let current =
            PrivateKey::parse_named("JWT_PRIVATE_KEY", var("JWT_PRIVATE_KEY").as_deref())?;
        if current.algorithm() != algorithm {
            return Err(format!(
                "JWT_PRIVATE_KEY is a {} key but JWT_ALGORITHM is {}",
                current.algorithm().name(),
                algorithm.name()
            ));
        }
        let previous = match var("JWT_PRIVATE_KEY_PREVIOUS").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(value) => Some(PrivateKey::parse_named(
                "JWT_PRIVATE_KEY_PREVIOUS",
                Some(&value),
            )?),
        };
        Ok(keys.with_private_keys(current, previous))
    }

    /// The keys TOTP secrets are sealed with: `MFA_ENCRYPTION_KEY` seals and opens;
    /// `MFA_ENCRYPTION_KEY_PREVIOUS`, when set, only opens (and must be as well formed). Only
    /// the two-factor routes and the cleanup's resealing read them: without the current key
    /// the routes fail closed, and everything else works.
    pub fn mfa_keys(var: impl Fn(&str) -> Option<String>) -> Result<MfaKeys, String> {
        let current = refuse_placeholder("MFA_ENCRYPTION_KEY", var("MFA_ENCRYPTION_KEY"))?;
        let current = MfaKey::parse(current.as_deref())?;
        let previous_name = "MFA_ENCRYPTION_KEY_PREVIOUS";
        let previous = refuse_placeholder(previous_name, var(previous_name))?;
        let previous = match previous.filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(value) => Some(MfaKey::parse_named(previous_name, Some(&value))?),
        };
        Ok(MfaKeys::new(current, previous))
    }
}

/// The name passkey prompts show when `WEBAUTHN_RP_NAME` is unset.
pub const DEFAULT_RP_NAME: &str = "Recipe API";

/// Passkeys' relying party, for a request to the API at `own_origin` (`scheme://host[:port]`):
/// - `WEBAUTHN_RP_ID`: by default the host of `own_origin`. A registrable domain the pages'
///   origins are all within (`example.com` serves `app.example.com` and `api.example.com`).
/// - `WEBAUTHN_RP_NAME`: by default `Recipe API`.
/// - `WEBAUTHN_ORIGINS`: the origins whose pages may use passkeys, a JSON or comma-separated
///   list; by default `own_origin` and `BACKEND_CORS_ORIGINS` (`cors`), without `*` and
///   without any origin outside the RP ID. A set list must not name one outside it.
pub fn relying_party(
    var: impl Fn(&str) -> Option<String>,
    own_origin: &str,
    cors: &CorsOrigins,
) -> Result<RelyingParty, String> {
    let set = |name| {
        var(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let host_of = |origin: &str| {
        url::Url::parse(origin)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .and_then(|url| url.host_str().map(str::to_owned))
    };
    let id = match set("WEBAUTHN_RP_ID") {
        Some(id) => {
            let valid = !id.contains(['/', ':', ' '])
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !valid || id != id.to_ascii_lowercase() {
                return Err(format!(
                    "WEBAUTHN_RP_ID is {id:?}; it must be a lower-case domain name such as                      example.com (no scheme, port or path)"
                ));
            }
            id
        }
        None => host_of(own_origin).unwrap_or_default(),
    };
    let within = |origin: &str| {
        host_of(origin).is_some_and(|host| host == id || host.ends_with(&format!(".{id}")))
    };
    let origins = match set("WEBAUTHN_ORIGINS") {
        Some(value) => {
            let CorsOrigins::List(list) = CorsOrigins::parse(Some(&value)) else {
                return Err(format!(
                    "WEBAUTHN_ORIGINS is {value:?}; it must list origins such as                      https://app.example.com (no *)"
                ));
            };
            if let Some(outside) = list.iter().find(|origin| !within(origin)) {
                return Err(format!(
                    "WEBAUTHN_ORIGINS names {outside:?}, which is not within the RP ID                      {id:?} (WEBAUTHN_RP_ID): browsers would refuse its passkeys"
                ));
            }
            list
        }
        None => {
            let mut list = vec![own_origin.trim_end_matches('/').to_owned()];
            if let CorsOrigins::List(cors) = cors {
                list.extend(cors.iter().cloned());
            }
            list.retain(|origin| within(origin));
            list.dedup();
            list
        }
    };
    Ok(RelyingParty {
        id,
        name: set("WEBAUTHN_RP_NAME").unwrap_or_else(|| DEFAULT_RP_NAME.to_owned()),
        origins,
    })
}

/// A setting that must be an absolute `http` or `https` URL.
fn web_url(value: &str, name: &str) -> Result<String, String> {
    match url::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url.into()),
        _ => Err(format!(
            "{name} is {value:?}; it must be an absolute http(s) URL"
        )),
    }
}

/// A setting that is a whole number from 1 to `max`, or `default` when unset.
/// A `true`/`false` setting, `false` when unset or empty.
fn flag(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<bool, String> {
    match var(name).as_deref().map(str::trim) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(format!(
            "{name} is {other:?}; it must be \"true\" or \"false\" (default \"false\")"
        )),
    }
}

fn whole_number(
    var: impl Fn(&str) -> Option<String>,
    name: &str,
    default: i64,
    max: i64,
) -> Result<i64, String> {
    whole_number_in(var, name, default, 1, max)
}

/// A setting that is a whole number from `min` to `max`, or `default` when unset.
fn whole_number_in(
    var: impl Fn(&str) -> Option<String>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, String> {
    let Some(value) = var(name) else {
        return Ok(default);
    };
    match value.trim().parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{name} is {value:?}; it must be a whole number between {min} and {max} \
             (default {default})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_relying_party_defaults_to_the_apis_own_origin_and_its_cors_origins_within_it() {
        let cors = CorsOrigins::parse(Some(
            "http://app.localhost:3000,https://elsewhere.example,*",
        ));
        assert_eq!(cors, CorsOrigins::Any, "* makes the list Any");
        let cors = CorsOrigins::parse(Some("http://app.localhost:3000,https://elsewhere.example"));
        let rp = relying_party(vars(&[]), "http://localhost:8787", &cors).unwrap();
        assert_eq!(rp.id, "localhost");
        assert_eq!(rp.name, "Recipe API");
        assert_eq!(
            rp.origins,
            ["http://localhost:8787", "http://app.localhost:3000"],
            "an origin outside the RP ID could never use it"
        );
        let rp = relying_party(vars(&[]), "http://localhost:8787", &CorsOrigins::Any).unwrap();
        assert_eq!(rp.origins, ["http://localhost:8787"], "never *");
    }

    #[test]
    fn a_frontend_and_api_on_subdomains_share_the_parent_rp_id() {
        let set = vars(&[
            ("WEBAUTHN_RP_ID", "example.com"),
            ("WEBAUTHN_RP_NAME", "Recipes"),
            (
                "WEBAUTHN_ORIGINS",
                r#"["https://app.example.com", "https://example.com/"]"#,
            ),
        ]);
        let rp = relying_party(set, "https://api.example.com", &CorsOrigins::None).unwrap();
        assert_eq!(rp.id, "example.com");
        assert_eq!(rp.name, "Recipes");
        assert_eq!(
            rp.origins,
            ["https://app.example.com", "https://example.com"]
        );
        let defaulted = relying_party(
            vars(&[("WEBAUTHN_RP_ID", "example.com")]),
            "https://api.example.com",
            &CorsOrigins::parse(Some("https://app.example.com")),
        )
        .unwrap();
        assert_eq!(
            defaulted.origins,
            ["https://api.example.com", "https://app.example.com"]
        );
    }

    #[test]
    fn a_bad_rp_id_or_an_origin_outside_it_is_a_clear_error() {
        for id in [
            "https://example.com",
            "Example.com",
            "example.com:443",
            "a b",
        ] {
            let err = relying_party(
                vars(&[("WEBAUTHN_RP_ID", id)]),
                "https://x.example.com",
                &CorsOrigins::None,
            )
            .unwrap_err();
            assert!(err.contains("WEBAUTHN_RP_ID"), "{id}: {err}");
        }
        for origins in ["*", "https://evil.example", "https://notexample.com"] {
            let pairs = [
                ("WEBAUTHN_RP_ID", "example.com"),
                ("WEBAUTHN_ORIGINS", origins),
            ];
            let err = relying_party(vars(&pairs), "https://api.example.com", &CorsOrigins::None)
                .unwrap_err();
            assert!(err.contains("WEBAUTHN_ORIGINS"), "{origins}: {err}");
        }
    }

    #[test]
    fn a_provider_is_on_with_its_client_id_and_then_needs_the_rest() {
        for id in ProviderId::ALL {
            assert_eq!(ProviderSettings::from_vars(id, vars(&[])), Ok(None));
            assert_eq!(ProviderId::parse(id.name()), Some(id));
        }
        assert_eq!(ProviderId::parse("facebook"), None);
        let google = ProviderSettings::from_vars(
            ProviderId::Google,
            vars(&[
                ("GOOGLE_CLIENT_ID", "g.apps"),
                ("GOOGLE_CLIENT_SECRET", "s"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            google.protocol,
            Protocol::OpenId {
                issuer: GOOGLE_ISSUER.into(),
                discovery: GOOGLE_DISCOVERY_URL.into(),
            }
        );
        assert_eq!(google.issuer(), "https://accounts.google.com");
        let elsewhere = ProviderSettings::from_vars(
            ProviderId::Google,
            vars(&[
                ("GOOGLE_CLIENT_ID", "g.apps"),
                ("GOOGLE_CLIENT_SECRET", "s"),
                (
                    "GOOGLE_DISCOVERY_URL",
                    "http://127.0.0.1:8029/.well-known/openid-configuration",
                ),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            elsewhere.issuer(),
            GOOGLE_ISSUER,
            "the document moves, the issuer does not"
        );
        let github = ProviderSettings::from_vars(
            ProviderId::GitHub,
            vars(&[
                ("GITHUB_CLIENT_ID", "Iv1"),
                ("GITHUB_CLIENT_SECRET", "s"),
                ("GITHUB_URL", "http://127.0.0.1:8028/"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            github.protocol,
            Protocol::GitHub {
                web_url: "http://127.0.0.1:8028".into(),
                api_url: GITHUB_API_URL.into()
            }
        );
        assert_eq!(github.issuer(), "http://127.0.0.1:8028");
        let oidc = ProviderSettings::from_vars(
            ProviderId::Oidc,
            vars(&[
                ("OIDC_CLIENT_ID", "c"),
                ("OIDC_CLIENT_SECRET", "s"),
                ("OIDC_ISSUER", "https://idp.example/realms/x"),
                ("OIDC_NAME", "Keycloak"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(oidc.label, "Keycloak");
        assert_eq!(
            oidc.protocol,
            Protocol::OpenId {
                issuer: "https://idp.example/realms/x".into(),
                discovery: "https://idp.example/realms/x/.well-known/openid-configuration".into(),
            }
        );
        assert!(
            !format!("{oidc:?}").contains("\"s\""),
            "the secret is not in Debug"
        );
        for (id, broken) in [
            (ProviderId::Google, vec![("GOOGLE_CLIENT_ID", "g")]),
            (
                ProviderId::Oidc,
                vec![("OIDC_CLIENT_ID", "c"), ("OIDC_CLIENT_SECRET", "s")],
            ),
            (
                ProviderId::Oidc,
                vec![
                    ("OIDC_CLIENT_ID", "c"),
                    ("OIDC_CLIENT_SECRET", "s"),
                    ("OIDC_ISSUER", "idp.example"),
                ],
            ),
            (
                ProviderId::GitHub,
                vec![
                    ("GITHUB_CLIENT_ID", "c"),
                    ("GITHUB_CLIENT_SECRET", "s"),
                    ("GITHUB_API_URL", "ftp://x"),
                ],
            ),
            (
                ProviderId::Google,
                vec![
                    ("GOOGLE_CLIENT_ID", "g"),
                    ("GOOGLE_CLIENT_SECRET", "s"),
                    ("GOOGLE_DISCOVERY_URL", "accounts.google.com"),
                ],
            ),
        ] {
            assert!(
                ProviderSettings::from_vars(id, vars(&broken)).is_err(),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn defaults_are_owasps_iterations_and_short_access_tokens() {
        let config = Config::from_vars(vars(&[])).unwrap();
        assert_eq!(config.password_iterations, 600_000);
        assert_eq!(config.access_token_seconds, 30 * 60);
        assert_eq!(config.refresh_token_seconds, 30 * 24 * 3600);
        assert_eq!(config.session_max_seconds, 90 * 24 * 3600);
        assert_eq!(config.refresh_reuse_seconds, 10);
        assert_eq!(config.signups_per_hour, 20);
        assert_eq!(config.reset_token_seconds, 30 * 60);
        assert!(!config.require_verified_email);
        assert!(!config.email_sign_in_signup);
        assert_eq!(config.reset_password_url, None);
        assert_eq!(EmailSettings::from_vars(vars(&[])), Ok(None));
    }

    #[test]
    fn reads_overrides() {
        let config = Config::from_vars(vars(&[
            ("PASSWORD_ITERATIONS", "310000"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "11520"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", " 7 "),
            ("SESSION_MAX_DAYS", "14"),
            ("REFRESH_REUSE_SECONDS", "0"),
            ("SIGNUP_LIMIT_PER_HOUR", "100000"),
            ("RESET_TOKEN_EXPIRE_MINUTES", "15"),
            ("REQUIRE_VERIFIED_EMAIL", "true"),
            ("EMAIL_SIGN_IN_SIGNUP", "true"),
            ("RESET_PASSWORD_URL", "https://app.example/reset"),
        ]))
        .unwrap();
        assert_eq!(config.password_iterations, 310_000);
        assert_eq!(config.access_token_seconds, 8 * 24 * 3600);
        assert_eq!(config.refresh_token_seconds, 7 * 24 * 3600);
        assert_eq!(config.session_max_seconds, 14 * 24 * 3600);
        assert_eq!(
            config.refresh_reuse_seconds, 0,
            "0 turns the grace window off"
        );
        assert_eq!(config.signups_per_hour, 100_000);
        assert_eq!(config.reset_token_seconds, 15 * 60);
        assert!(config.require_verified_email);
        assert!(config.email_sign_in_signup);
        assert_eq!(
            config.reset_password_url.as_deref(),
            Some("https://app.example/reset")
        );
        assert_eq!(config.verify_email_url, None);
    }

    #[test]
    fn email_settings_need_only_the_api_url() {
        let settings = EmailSettings::from_vars(vars(&[
            ("EMAIL_API_URL", "https://api.resend.com/emails"),
            ("EMAIL_API_KEY", "re_123"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(settings.api_url, "https://api.resend.com/emails");
        assert_eq!(settings.api_key.as_deref(), Some("re_123"));
        assert_eq!(settings.from, DEFAULT_EMAIL_FROM);
        assert_eq!(
            EmailSettings::from_vars(vars(&[("EMAIL_API_URL", " ")])),
            Ok(None)
        );
        let error = EmailSettings::from_vars(vars(&[("EMAIL_API_URL", "api.resend.com")]));
        assert!(error.unwrap_err().contains("EMAIL_API_URL"));
    }

    #[test]
    fn turnstile_is_off_without_its_secret_whatever_else_is_set() {
        assert_eq!(TurnstileSettings::from_vars(vars(&[])), Ok(None));
        let others = [
            ("TURNSTILE_SECRET_KEY", " "),
            ("TURNSTILE_ON", "nonsense"),
            ("TURNSTILE_VERIFY_URL", "nonsense"),
        ];
        assert_eq!(TurnstileSettings::from_vars(vars(&others)), Ok(None));
    }

    #[test]
    fn turnstile_with_its_secret_defaults_to_cloudflare_and_signup_and_recovery() {
        use crate::security::turnstile::Guarded;
        let settings = TurnstileSettings::from_vars(vars(&[(
            "TURNSTILE_SECRET_KEY",
            "1x0000000000000000000000000000000AA",
        )]))
        .unwrap()
        .unwrap();
        assert_eq!(settings.secret, "1x0000000000000000000000000000000AA");
        assert_eq!(
            settings.verify_url,
            "https://challenges.cloudflare.com/turnstile/v0/siteverify"
        );
        assert_eq!(
            settings.routes,
            GuardedRoutes::parse(Some("signup,recovery")).unwrap()
        );
        assert!(!format!("{settings:?}").contains("1x00"));
        let local = TurnstileSettings::from_vars(vars(&[
            (
                "TURNSTILE_SECRET_KEY",
                "2x0000000000000000000000000000000AA",
            ),
            ("TURNSTILE_ON", "login"),
            (
                "TURNSTILE_VERIFY_URL",
                "http://127.0.0.1:8026/turnstile/v0/siteverify",
            ),
        ]))
        .unwrap()
        .unwrap();
        assert!(local.routes.contains(Guarded::Login));
        assert!(!local.routes.contains(Guarded::Signup));
        assert_eq!(
            local.verify_url,
            "http://127.0.0.1:8026/turnstile/v0/siteverify"
        );
    }

    #[test]
    fn turnstile_with_its_secret_refuses_a_bad_route_name_or_url() {
        for (name, value) in [
            ("TURNSTILE_ON", "signup,logn"),
            ("TURNSTILE_VERIFY_URL", "challenges.cloudflare.com"),
        ] {
            let error = TurnstileSettings::from_vars(vars(&[
                (
                    "TURNSTILE_SECRET_KEY",
                    "1x0000000000000000000000000000000AA",
                ),
                (name, value),
            ]))
            .unwrap_err();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn the_breach_check_is_on_by_default_against_have_i_been_pwned() {
        let on = BreachCheckSettings::from_vars(vars(&[])).unwrap().unwrap();
        assert_eq!(on.range_url, "https://api.pwnedpasswords.com/range/");
        let local = BreachCheckSettings::from_vars(vars(&[
            ("PWNED_PASSWORDS", " on "),
            ("PWNED_PASSWORDS_URL", "http://127.0.0.1:8029/range/"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(local.range_url, "http://127.0.0.1:8029/range/");
        let off = [
            ("PWNED_PASSWORDS", "off"),
            ("PWNED_PASSWORDS_URL", "nonsense"),
        ];
        assert_eq!(BreachCheckSettings::from_vars(vars(&off)), Ok(None));
    }

    #[test]
    fn the_breach_check_fails_closed_on_a_bad_switch_or_url() {
        for (name, value) in [
            ("PWNED_PASSWORDS", "yes"),
            ("PWNED_PASSWORDS", "OFF"),
            ("PWNED_PASSWORDS_URL", "api.pwnedpasswords.com/range/"),
        ] {
            let error = BreachCheckSettings::from_vars(vars(&[(name, value)])).unwrap_err();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn refuses_nonsense_with_a_message_naming_the_setting() {
        for (name, value) in [
            ("PASSWORD_ITERATIONS", "ten"),
            ("PASSWORD_ITERATIONS", "10"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "0"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "-5"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", "366"),
            ("REFRESH_TOKEN_EXPIRE_DAYS", "1.5"),
            ("SESSION_MAX_DAYS", "0"),
            ("REFRESH_REUSE_SECONDS", "301"),
            ("REFRESH_REUSE_SECONDS", "-1"),
            ("SIGNUP_LIMIT_PER_HOUR", "many"),
            ("RESET_TOKEN_EXPIRE_MINUTES", "0"),
            ("REQUIRE_VERIFIED_EMAIL", "yes"),
            ("EMAIL_SIGN_IN_SIGNUP", "1"),
            ("RESET_PASSWORD_URL", "/reset-password"),
            ("VERIFY_EMAIL_URL", "javascript:alert(1)"),
        ] {
            let error = Config::from_vars(vars(&[(name, value)])).unwrap_err();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn cors_origins_read_json_or_comma_lists() {
        let list = CorsOrigins::parse(Some(r#"["http://localhost:3000/", "https://app.example"]"#));
        assert!(list.allows("http://localhost:3000"));
        assert!(list.allows("https://app.example"));
        assert!(!list.allows("https://evil.example"));
        assert!(!list.allows("null"));
        let commas = CorsOrigins::parse(Some("http://a.example, http://b.example"));
        assert!(commas.allows("http://b.example"));
        assert_eq!(CorsOrigins::parse(None), CorsOrigins::None);
        assert_eq!(CorsOrigins::parse(Some("")), CorsOrigins::None);
        assert_eq!(
            CorsOrigins::parse(Some("http://a.example,*")),
            CorsOrigins::Any
        );
    }

    #[test]
    fn the_secret_is_checked_at_the_door() {
        assert!(Config::jwt_secret(vars(&[])).is_err());
        assert!(Config::jwt_secret(vars(&[("JWT_SECRET", "short")])).is_err());
        assert!(Config::jwt_secret(vars(&[("JWT_SECRET", &"x".repeat(64))])).is_ok());
        assert!(Config::mfa_keys(vars(&[])).is_err());
        assert!(Config::mfa_keys(vars(&[("MFA_ENCRYPTION_KEY", &"x".repeat(64))])).is_err());
        assert!(Config::mfa_keys(vars(&[("MFA_ENCRYPTION_KEY", &"ab".repeat(32))])).is_ok());
    }

    /// Every secret of `.dev.vars.example` as a deployment would get it copied over: none may
    /// pass, whichever code reads it. The commented Turnstile line is Cloudflare's test secret.
    #[test]
    fn no_secret_copied_from_the_example_file_is_accepted() {
        let example: Vec<(String, String)> = include_str!("../.dev.vars.example")
            .lines()
            .filter_map(|line| line.split_once('='))
            .filter(|(name, _)| !name.starts_with('#'))
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        let copied = |name: &str| {
            example
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let refused = |result: Result<(), String>, name: &str| {
            let error = result.expect_err(name);
            assert!(
                error.contains(name) && error.contains("placeholder"),
                "{error}"
            );
        };
        for name in [
            "JWT_SECRET",
            "MFA_ENCRYPTION_KEY",
            "OIDC_CLIENT_SECRET",
            "GITHUB_CLIENT_SECRET",
        ] {
            assert!(copied(name).is_some(), ".dev.vars.example has {name}");
        }
        refused(Config::token_keys(copied).map(drop), "JWT_SECRET");
        refused(Config::mfa_keys(copied).map(drop), "MFA_ENCRYPTION_KEY");
        for id in [ProviderId::Oidc, ProviderId::GitHub] {
            let (_, secret_name) = id.client_settings();
            refused(
                ProviderSettings::from_vars(id, copied).map(drop),
                secret_name,
            );
        }
        // The same placeholders under the other names, as an operator might paste them.
        let placeholder = copied("JWT_SECRET").unwrap();
        let good_jwt = "k".repeat(64);
        let good_mfa = "ab".repeat(32);
        let with = |name: &'static str| {
            let placeholder = placeholder.clone();
            let (good_jwt, good_mfa) = (good_jwt.clone(), good_mfa.clone());
            move |n: &str| match n {
                _ if n == name => Some(placeholder.clone()),
                "JWT_SECRET" => Some(good_jwt.clone()),
                "MFA_ENCRYPTION_KEY" => Some(good_mfa.clone()),
                "EMAIL_API_URL" => Some("https://api.resend.com/emails".into()),
                "GOOGLE_CLIENT_ID" => Some("g.apps".into()),
                _ => None,
            }
        };
        refused(
            Config::token_keys(with("JWT_SECRET_PREVIOUS")).map(drop),
            "JWT_SECRET_PREVIOUS",
        );
        refused(
            Config::mfa_keys(with("MFA_ENCRYPTION_KEY_PREVIOUS")).map(drop),
            "MFA_ENCRYPTION_KEY_PREVIOUS",
        );
        refused(
            EmailSettings::from_vars(with("EMAIL_API_KEY")).map(drop),
            "EMAIL_API_KEY",
        );
        refused(
            TurnstileSettings::from_vars(with("TURNSTILE_SECRET_KEY")).map(drop),
            "TURNSTILE_SECRET_KEY",
        );
        refused(
            ProviderSettings::from_vars(ProviderId::Google, with("GOOGLE_CLIENT_SECRET")).map(drop),
            "GOOGLE_CLIENT_SECRET",
        );
        let shouted = placeholder.to_ascii_uppercase();
        assert!(
            Config::jwt_secret(|_| Some(shouted.clone())).is_err(),
            "in any case"
        );
        // Real values under every name pass.
        assert!(Config::token_keys(with("NOTHING")).is_ok());
        assert!(Config::mfa_keys(with("NOTHING")).is_ok());
        assert!(EmailSettings::from_vars(with("NOTHING")).is_ok());
        // Cloudflare's documented test secret is for tests, and passes.
        let test_secret = include_str!("../.dev.vars.example")
            .lines()
            .find_map(|line| line.strip_prefix("#TURNSTILE_SECRET_KEY="))
            .unwrap();
        assert!(TurnstileSettings::from_vars(
            |n| (n == "TURNSTILE_SECRET_KEY").then(|| test_secret.into())
        )
        .unwrap()
        .is_some());
    }

    #[test]
    fn a_previous_mfa_key_is_optional_but_never_malformed() {
        let current = "ab".repeat(32);
        let with = |previous: &str| {
            Config::mfa_keys(vars(&[
                ("MFA_ENCRYPTION_KEY", &current),
                ("MFA_ENCRYPTION_KEY_PREVIOUS", previous),
            ]))
        };
        assert!(with("").is_ok());
        assert!(with(&"cd".repeat(32)).is_ok());
        let malformed = with(&"x".repeat(64)).err().unwrap();
        assert!(
            malformed.contains("MFA_ENCRYPTION_KEY_PREVIOUS"),
            "{malformed}"
        );
        let missing = Config::mfa_keys(vars(&[("MFA_ENCRYPTION_KEY_PREVIOUS", &current)]));
        assert!(missing
            .err()
            .unwrap()
            .contains("MFA_ENCRYPTION_KEY is not set"));
    }

    #[test]
    fn a_previous_secret_is_optional_but_never_weak() {
        let current = "x".repeat(64);
        assert!(Config::token_keys(vars(&[("JWT_SECRET", &current)])).is_ok());
        assert!(Config::token_keys(vars(&[
            ("JWT_SECRET", &current),
            ("JWT_SECRET_PREVIOUS", "")
        ]))
        .is_ok());
        let weak = Config::token_keys(vars(&[
            ("JWT_SECRET", &current),
            ("JWT_SECRET_PREVIOUS", "short"),
        ]));
        assert!(weak.err().unwrap().contains("JWT_SECRET_PREVIOUS"));
        let missing = Config::token_keys(vars(&[("JWT_SECRET_PREVIOUS", &current)]));
        assert!(missing.err().unwrap().contains("JWT_SECRET "));
    }

    #[test]
    fn an_asymmetric_algorithm_needs_a_well_formed_key_of_its_kind() {
        use crate::security::secret::tests::{P256_JWK, RFC8037_PEM};
        let secret = "x".repeat(64);
        let with = |extra: &[(&str, &str)]| {
            let mut all = vec![("JWT_SECRET", secret.as_str())];
            all.extend_from_slice(extra);
            Config::token_keys(vars(&all))
        };
        let jwks = |keys: Result<KeysToComplete, String>| {
            let keys: TokenKeys = crate::security::token::complete_natively(keys.unwrap()).unwrap();
            keys.jwks()["keys"].as_array().unwrap().len()
        };
        assert_eq!(jwks(with(&[])), 0, "HS256 by default");
        assert_eq!(
            jwks(with(&[
                ("JWT_ALGORITHM", "ES256"),
                ("JWT_PRIVATE_KEY", P256_JWK)
            ])),
            1
        );
        assert_eq!(
            jwks(with(&[
                ("JWT_ALGORITHM", "EdDSA"),
                ("JWT_PRIVATE_KEY", RFC8037_PEM),
                ("JWT_PRIVATE_KEY_PREVIOUS", P256_JWK)
            ])),
            2
        );
        for (extra, named) in [
            (
                vec![("JWT_ALGORITHM", "ES256")],
                "JWT_PRIVATE_KEY is not set",
            ),
            (vec![("JWT_ALGORITHM", "RS256")], "JWT_ALGORITHM"),
            (
                vec![("JWT_ALGORITHM", "EdDSA"), ("JWT_PRIVATE_KEY", "garbage")],
                "JWT_PRIVATE_KEY is malformed",
            ),
            (
                vec![("JWT_ALGORITHM", "EdDSA"), ("JWT_PRIVATE_KEY", P256_JWK)],
                "JWT_ALGORITHM is EdDSA",
            ),
            (
                vec![
                    ("JWT_ALGORITHM", "ES256"),
                    ("JWT_PRIVATE_KEY", P256_JWK),
                    ("JWT_PRIVATE_KEY_PREVIOUS", "x"),
                ],
                "JWT_PRIVATE_KEY_PREVIOUS is malformed",
            ),
        ] {
            let error = with(&extra).map(drop).unwrap_err();
            assert!(error.contains(named), "{error}");
        }
    }
}
