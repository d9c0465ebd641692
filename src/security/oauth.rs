//! Sign-in through an identity provider (OAuth 2 authorization code with PKCE, and OpenID
//! Connect on top): what a flow carries from its start to its callback, and the checks on
//! where it may end.
//!
//! A flow's secrets (`state`, the PKCE verifier, the OIDC `nonce`, where to go back to) live
//! in a cookie of the browser that started it, sealed with a key derived from `JWT_SECRET`,
//! not in the database: starting a flow writes nothing, and a callback opened in another
//! browser (login CSRF: someone else's code and state sent to a victim) has no cookie to
//! match.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use crate::config::CorsOrigins;
use crate::security::origin::is_listed;

/// How long a flow may take, from the redirect to the provider to its callback.
pub const FLOW_SECONDS: i64 = 10 * 60;
/// The cookie's name over https: `__Host-` makes browsers refuse it unless it is `Secure`,
/// `Path=/` and without `Domain`, so no sibling subdomain can plant one.
pub const SECURE_COOKIE: &str = "__Host-recipe_oauth";
/// The cookie's name over http (local development), where `__Host-` cookies cannot be set.
pub const PLAIN_COOKIE: &str = "recipe_oauth";
/// Far more than a sealed flow needs; a longer cookie is not read.
const MAX_COOKIE_BYTES: usize = 2048;
/// The longest `redirect_to` accepted: a URL, not a payload.
pub const MAX_REDIRECT_BYTES: usize = 1024;

/// What a flow remembers between its start and its callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The provider's id (`google`, `github`, `oidc`): a callback for another is refused.
    #[serde(rename = "p")]
    pub provider: String,
    /// Sent to the provider and returned in the callback's query.
    #[serde(rename = "s")]
    pub state: String,
    /// The PKCE code verifier (RFC 7636); the provider got its S256 challenge.
    #[serde(rename = "v")]
    pub verifier: String,
    /// The OpenID nonce the ID token must carry.
    #[serde(rename = "n")]
    pub nonce: String,
    /// Where the browser goes when the flow ends, checked by [`redirect_target`].
    #[serde(rename = "r")]
    pub redirect_to: String,
    /// The S256 challenge of a verifier the client (the page at `redirect_to`) keeps: the
    /// one-time code is exchanged only with that verifier, so a code for someone else's
    /// account, planted in a victim's page, signs no one in. Required: a cookie sealed
    /// before it was (a flow without one) does not open.
    #[serde(rename = "c")]
    pub client_challenge: String,
    /// Seconds since the epoch after which the cookie is no longer read.
    #[serde(rename = "e")]
    pub expires_at: i64,
    /// For a flow that links the provider's account to a signed-in user rather than signing
    /// in: that user, their token version and session, as their access token named them.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub link_to: Option<LinkTarget>,
}

/// The signed-in user a linking flow is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTarget {
    #[serde(rename = "u")]
    pub user_id: i64,
    #[serde(rename = "v")]
    pub token_version: i64,
    #[serde(rename = "s")]
    pub session_id: Option<String>,
}

impl Flow {
    /// A new flow for `provider`, ending at `redirect_to`, with fresh random values.
    pub fn start(
        provider: &str,
        redirect_to: &Url,
        client_challenge: &str,
        now: i64,
    ) -> Result<Flow, getrandom::Error> {
        Ok(Flow {
            provider: provider.to_owned(),
            state: random_text()?,
            verifier: random_text()?,
            nonce: random_text()?,
            redirect_to: redirect_to.to_string(),
            client_challenge: client_challenge.to_owned(),
            expires_at: now + FLOW_SECONDS,
            link_to: None,
        })
    }

    /// The PKCE `code_challenge` for the verifier, method `S256`.
    pub fn code_challenge(&self) -> String {
        s256(&self.verifier)
    }

    /// The cookie's value: the flow in base64url JSON, a dot, and its HMAC-SHA256 under `key`.
    pub fn seal(&self, key: &FlowKey) -> String {
        let body = B64.encode(serde_json::to_vec(self).expect("a flow always serialises"));
        let tag = B64.encode(key.tag(body.as_bytes()));
        format!("{body}.{tag}")
    }

    /// The flow a cookie holds, if `key` sealed it, it is for `provider`, has not expired,
    /// and its state is `state` (compared in constant time).
    pub fn open(
        cookie: &str,
        key: &FlowKey,
        provider: &str,
        state: &str,
        now: i64,
    ) -> Option<Flow> {
        if cookie.len() > MAX_COOKIE_BYTES {
            return None;
        }
        let (body, tag) = cookie.split_once('.')?;
        let tag = B64.decode(tag).ok()?;
        if !bool::from(key.tag(body.as_bytes()).as_slice().ct_eq(&tag)) {
            return None;
        }
        let flow: Flow = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
        let same_state = bool::from(flow.state.as_bytes().ct_eq(state.as_bytes()));
        (flow.provider == provider && flow.expires_at > now && same_state).then_some(flow)
    }
}

/// The key that seals flow cookies: HMAC-SHA256 of a fixed label under `JWT_SECRET`, so the
/// cookie's tag is never a value the access tokens' key gives for anything else.
pub struct FlowKey([u8; 32]);

impl FlowKey {
    pub fn derive(secret: &[u8]) -> FlowKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key size");
        mac.update(b"recipe-api oauth flow cookie");
        FlowKey(mac.finalize().into_bytes().into())
    }

    fn tag(&self, message: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

/// Where a flow sends the browser: the provider's authorization endpoint, asking for a code
/// (RFC 6749 §4.1) for `client_id`, returned to `callback`, with the flow's state and PKCE
/// challenge, and for OpenID providers (`openid`) its nonce. `None` when the endpoint is not
/// a URL.
pub fn authorization_url(
    endpoint: &str,
    client_id: &str,
    callback: &str,
    flow: &Flow,
    openid: bool,
) -> Option<String> {
    let mut url = Url::parse(endpoint).ok()?;
    let scope = if openid {
        "openid email profile"
    } else {
        "read:user user:email"
    };
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", callback)
            .append_pair("scope", scope)
            .append_pair("state", &flow.state)
            .append_pair("code_challenge", &flow.code_challenge())
            .append_pair("code_challenge_method", "S256");
        if openid {
            query.append_pair("nonce", &flow.nonce);
        }
    }
    Some(url.into())
}

/// The `Authorization` header of a client authenticating with its secret (RFC 6749 §2.3.1,
/// `client_secret_basic`): both parts form-encoded, then joined and base64-encoded.
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    let encode = |part: &str| form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(client_secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// The `Set-Cookie` value that starts a flow: HttpOnly, sent on the provider's top-level
/// redirect back (SameSite=Lax), and over https `__Host-` and `Secure`.
pub fn set_cookie(value: &str, https: bool) -> String {
    let (name, secure) = cookie_name(https);
    format!("{name}={value}; Path=/; Max-Age={FLOW_SECONDS}; HttpOnly; SameSite=Lax{secure}")
}

/// The `Set-Cookie` value that ends a flow.
pub fn clear_cookie(https: bool) -> String {
    let (name, secure) = cookie_name(https);
    format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}")
}

fn cookie_name(https: bool) -> (&'static str, &'static str) {
    if https {
        (SECURE_COOKIE, "; Secure")
    } else {
        (PLAIN_COOKIE, "")
    }
}

/// The flow cookie's value in a `Cookie` header, by the name `https` gives.
pub fn cookie_value(header: &str, https: bool) -> Option<&str> {
    let (name, _) = cookie_name(https);
    header.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then_some(value)
    })
}

/// Why a `redirect_to` is refused (the 400's detail).
pub const FOREIGN_REDIRECT: &str =
    "redirect_to must be an http(s) URL on this API's origin or one in BACKEND_CORS_ORIGINS";

/// `redirect_to` parsed, when it is an absolute http(s) URL whose origin is the API's own
/// (`own_origin`) or listed in `BACKEND_CORS_ORIGINS`. A wildcard (`*`) allows no other
/// origin here: that would make the API an open redirect, handing sign-in codes to any site.
pub fn redirect_target(redirect_to: &str, own_origin: &str, cors: &CorsOrigins) -> Option<Url> {
    if redirect_to.len() > MAX_REDIRECT_BYTES {
        return None;
    }
    let url = Url::parse(redirect_to).ok()?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    (origin == own_origin || is_listed(&origin, cors)).then_some(url)
}

/// `redirect_to` with its fragment replaced by `pairs`, form-encoded: the fragment never
/// reaches a server, so the one-time code stays out of logs and `Referer` headers.
pub fn with_fragment(redirect_to: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse(redirect_to).expect("redirect_to was checked when the flow began");
    let fragment = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    url.set_fragment(Some(&fragment));
    url.into()
}

/// The error code a provider sent back (`?error=access_denied`), when it is one of the
/// plain lower-case words RFC 6749 uses; anything else is passed on as `access_denied`.
pub fn provider_error(error: &str) -> &str {
    let plain = !error.is_empty()
        && error.len() <= 64
        && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if plain {
        error
    } else {
        "access_denied"
    }
}

/// RFC 7636's S256: base64url of the SHA-256 of a verifier.
pub fn s256(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether a client's `code_challenge` has the shape of an S256 one: 43 base64url characters
/// (a SHA-256).
pub fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a client's `code_verifier` has RFC 7636's form (§4.1): 43 to 128 characters of
/// `A-Z a-z 0-9 - . _ ~`. A shorter one would be a guessable binding.
pub fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// 256 random bits in base64url: a state, a verifier (43 characters, within RFC 7636's 43 to
/// 128) or a nonce.
fn random_text() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)?;
    Ok(B64.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://api.example.com";
    const NOW: i64 = 1_800_000_000;

    fn key() -> FlowKey {
        FlowKey::derive(&[7; 32])
    }

    fn flow() -> Flow {
        let to = Url::parse("https://app.example.com/signed-in").unwrap();
        Flow::start("oidc", &to, &s256("the page's verifier"), NOW).unwrap()
    }

    #[test]
    fn a_sealed_flow_opens_with_its_key_provider_and_state() {
        let flow = flow();
        let cookie = flow.seal(&key());
        assert_eq!(
            Flow::open(&cookie, &key(), "oidc", &flow.state, NOW + 60),
            Some(flow.clone())
        );
    }

    #[test]
    fn a_flow_does_not_open_with_anything_else() {
        let flow = flow();
        let cookie = flow.seal(&key());
        let other_key = FlowKey::derive(&[8; 32]);
        assert_eq!(
            Flow::open(&cookie, &other_key, "oidc", &flow.state, NOW),
            None
        );
        assert_eq!(
            Flow::open(&cookie, &key(), "github", &flow.state, NOW),
            None
        );
        assert_eq!(
            Flow::open(&cookie, &key(), "oidc", "another state", NOW),
            None
        );
        assert_eq!(Flow::open(&cookie, &key(), "oidc", "", NOW), None);
        let expired = NOW + FLOW_SECONDS;
        assert_eq!(
            Flow::open(&cookie, &key(), "oidc", &flow.state, expired),
            None
        );
        // A body changed under the same tag.
        let (body, tag) = cookie.split_once('.').unwrap();
        let mut changed: Flow = serde_json::from_slice(&B64.decode(body).unwrap()).unwrap();
        changed.redirect_to = "https://evil.example/".into();
        let forged = format!(
            "{}.{tag}",
            B64.encode(serde_json::to_vec(&changed).unwrap())
        );
        assert_eq!(Flow::open(&forged, &key(), "oidc", &flow.state, NOW), None);
        for junk in ["", ".", "abc", "a.b", &"x".repeat(3000)] {
            assert_eq!(Flow::open(junk, &key(), "oidc", &flow.state, NOW), None);
        }
    }

    #[test]
    fn a_clients_challenge_travels_with_the_flow() {
        let to = Url::parse("https://app.example.com/").unwrap();
        let challenge = s256("a verifier the page keeps");
        assert!(is_s256_challenge(&challenge));
        let flow = Flow::start("github", &to, &challenge, NOW).unwrap();
        let opened = Flow::open(&flow.seal(&key()), &key(), "github", &flow.state, NOW).unwrap();
        assert_eq!(opened.client_challenge, challenge);
        for bad in [
            "",
            "plain",
            &"a".repeat(44),
            &format!("{}=", &challenge[..42]),
        ] {
            assert!(!is_s256_challenge(bad), "{bad}");
        }
    }

    #[test]
    fn a_flow_sealed_without_a_clients_challenge_does_not_open() {
        // As cookies were sealed while the challenge was optional.
        let flow = flow();
        let mut body = serde_json::to_value(&flow).unwrap();
        body.as_object_mut().unwrap().remove("c");
        let body = B64.encode(serde_json::to_vec(&body).unwrap());
        let cookie = format!("{body}.{}", B64.encode(key().tag(body.as_bytes())));
        assert_eq!(Flow::open(&cookie, &key(), "oidc", &flow.state, NOW), None);
    }

    #[test]
    fn a_code_verifier_has_rfc_7636s_form() {
        assert!(is_code_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(is_code_verifier(&"a.b~c-d_e".repeat(15)[..128]));
        for bad in [
            "",
            "short",
            &"a".repeat(42),
            &"a".repeat(129),
            &format!("{}=", "a".repeat(43)),
            &format!("{}+/", "a".repeat(43)),
            &format!("{} ", "a".repeat(43)),
        ] {
            assert!(!is_code_verifier(bad), "{bad:?}");
        }
    }

    #[test]
    fn each_flow_has_its_own_random_values() {
        let (a, b) = (flow(), flow());
        assert_ne!(a.state, b.state);
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.verifier.len(), 43);
    }

    #[test]
    fn the_code_challenge_is_rfc_7636s_s256() {
        // RFC 7636, appendix B.
        let mut flow = flow();
        flow.verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into();
        assert_eq!(
            flow.code_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_authorization_url_carries_the_flow() {
        let flow = flow();
        let url = authorization_url(
            "https://idp.example/auth?prompt=login",
            "client 1",
            "https://api.example.com/api/v1/auth/oauth/oidc/callback",
            &flow,
            true,
        )
        .unwrap();
        let url = Url::parse(&url).unwrap();
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["prompt"], "login");
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], "client 1");
        assert_eq!(query["scope"], "openid email profile");
        assert_eq!(query["state"], flow.state);
        assert_eq!(query["nonce"], flow.nonce);
        assert_eq!(query["code_challenge"], flow.code_challenge());
        assert_eq!(query["code_challenge_method"], "S256");
        let github = authorization_url(
            "https://github.com/login/oauth/authorize",
            "c",
            "x",
            &flow,
            false,
        );
        let github = Url::parse(&github.unwrap()).unwrap();
        assert!(github.query_pairs().all(|(k, _)| k != "nonce"));
        assert_eq!(authorization_url("not a url", "c", "x", &flow, true), None);
    }

    #[test]
    fn basic_authorization_encodes_each_part_first() {
        // RFC 6749 §2.3.1: "s3cr:t" form-encodes its colon.
        assert_eq!(
            basic_authorization("client", "s3cr:t"),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("client:s3cr%3At")
            )
        );
    }

    #[test]
    fn cookies_are_host_only_and_secure_over_https() {
        let set = set_cookie("v", true);
        assert_eq!(
            set,
            "__Host-recipe_oauth=v; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            set_cookie("v", false),
            "recipe_oauth=v; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"
        );
        assert!(clear_cookie(true).contains("Max-Age=0"));
        let header = "a=1; recipe_oauth=plain; __Host-recipe_oauth=secure";
        assert_eq!(cookie_value(header, false), Some("plain"));
        assert_eq!(cookie_value(header, true), Some("secure"));
        assert_eq!(cookie_value("a=1", true), None);
    }

    #[test]
    fn redirects_go_only_to_our_origin_or_a_listed_one() {
        let cors = CorsOrigins::parse(Some("http://localhost:3000"));
        for good in [
            "https://api.example.com/",
            "https://api.example.com/docs?x=1#y",
            "http://localhost:3000/after-sign-in",
        ] {
            assert!(redirect_target(good, OWN, &cors).is_some(), "{good}");
        }
        for bad in [
            "https://evil.example/",
            "https://api.example.com.evil.example/",
            "http://api.example.com/",
            "https://user@api.example.com/",
            "javascript:alert(1)",
            "/relative",
            "//evil.example/",
            "http://localhost:3001/",
            "",
        ] {
            assert!(redirect_target(bad, OWN, &cors).is_none(), "{bad}");
        }
        let long = format!("{OWN}/{}", "a".repeat(MAX_REDIRECT_BYTES));
        assert!(redirect_target(&long, OWN, &cors).is_none());
        // A wildcard lets any origin call the API, but sends codes to none of them.
        let any = CorsOrigins::parse(Some("*"));
        assert!(redirect_target("https://evil.example/", OWN, &any).is_none());
        assert!(redirect_target("https://api.example.com/", OWN, &any).is_some());
    }

    #[test]
    fn the_code_goes_in_the_fragment_replacing_any() {
        assert_eq!(
            with_fragment("https://app.example/x?q=1#old", &[("code", "a b")]),
            "https://app.example/x?q=1#code=a+b"
        );
        assert_eq!(
            with_fragment(
                "https://app.example/",
                &[
                    ("error", "email_not_verified"),
                    ("error_description", "Verify it")
                ]
            ),
            "https://app.example/#error=email_not_verified&error_description=Verify+it"
        );
    }

    #[test]
    fn only_plain_provider_errors_are_passed_on() {
        assert_eq!(provider_error("access_denied"), "access_denied");
        assert_eq!(
            provider_error("temporarily_unavailable"),
            "temporarily_unavailable"
        );
        assert_eq!(provider_error("<script>"), "access_denied");
        assert_eq!(provider_error(""), "access_denied");
    }
}
