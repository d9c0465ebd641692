//! The refresh token of the API's own pages, in a cookie that script cannot read.
//!
//! A page asks for it by sending [`REQUEST_HEADER`] with a login (or a second step, a code
//! exchange, a password change, a refresh or a logout). The API then puts the refresh token
//! in an HttpOnly cookie instead of the answer's body, and on a refresh or a logout reads it
//! from there. It does so only for a request from its own origin
//! ([`crate::security::origin::Source::Own`]): a page on another site can make the browser
//! send the cookie, but the API refuses to read it. Clients that send the refresh token in the body never send the header and see no
//! change. docs/security.md tells the whole design.

/// The request header by which the API's own pages ask for the cookie. A custom header: no
/// form of another site can send it, and a script of another site cannot without a CORS
/// preflight, which the API answers only for `BACKEND_CORS_ORIGINS`; and even then the
/// origin check refuses it.
pub const REQUEST_HEADER: &str = "X-Refresh-Cookie";

/// The cookie's name.
pub const NAME: &str = "refresh_token";

/// The cookie's path: the browser sends it only to the auth routes, of which only refresh
/// and logout read it.
pub const PATH: &str = "/api/v1/auth";

/// The `Set-Cookie` value that stores `token` for `max_age` seconds; `Secure` when the API
/// is served over https.
pub fn set(token: &str, max_age: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{NAME}={token}; Path={PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that removes the cookie.
pub fn clear(secure: bool) -> String {
    set("", 0, secure)
}

/// The refresh token in a `Cookie` header, if it carries one that is not empty.
pub fn read(cookie_header: &str) -> Option<&str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_limited_to_the_auth_routes() {
        assert_eq!(
            set("abc", 60, true),
            "refresh_token=abc; Path=/api/v1/auth; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(!set("abc", 60, false).contains("Secure"));
        assert!(clear(true).starts_with("refresh_token=; Path=/api/v1/auth; Max-Age=0;"));
    }

    #[test]
    fn reads_the_token_among_other_cookies() {
        assert_eq!(read("a=1; refresh_token=tok; b=2"), Some("tok"));
        assert_eq!(read("refresh_token="), None);
        assert_eq!(read("xrefresh_token=tok"), None);
        assert_eq!(read("a=1"), None);
    }
}
