//! Cross-site posts to login and signup. A page on any site can post a form to them without
//! a CORS preflight; on login, five such posts with wrong passwords would lock the owner
//! out. Browsers say where a request comes from (`Origin`, and `Sec-Fetch-Site` where they
//! send no `Origin`); clients that are not browsers (curl, scripts) send neither.

use crate::config::CorsOrigins;

/// Whether `origin` is one that `BACKEND_CORS_ORIGINS` names, exactly. A wildcard (`*`) names
/// none: it lets any page read the API's answers (CORS without credentials), not act as a
/// trusted frontend (post a login or signup, receive a sign-in code).
pub fn is_listed(origin: &str, cors: &CorsOrigins) -> bool {
    matches!(cors, CorsOrigins::List(list) if list.iter().any(|listed| listed == origin))
}

/// Whether to refuse a request: it names an `Origin` that is neither the API's own
/// (`own_origin`, e.g. `https://api.example.com`) nor one `BACKEND_CORS_ORIGINS` lists (see
/// [`is_listed`]: with `*` only the API's own pages pass), or it names none and the browser
/// marks it `Sec-Fetch-Site: cross-site`.
pub fn is_cross_site(
    origin: Option<&str>,
    fetch_site: Option<&str>,
    own_origin: &str,
    cors: &CorsOrigins,
) -> bool {
    match origin {
        Some(origin) => {
            let origin = origin.trim();
            !(origin.eq_ignore_ascii_case(own_origin) || is_listed(origin, cors))
        }
        None => fetch_site.is_some_and(|site| site.trim().eq_ignore_ascii_case("cross-site")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://api.example.com";

    fn frontend() -> CorsOrigins {
        CorsOrigins::parse(Some("http://localhost:3000"))
    }

    #[test]
    fn the_apis_own_pages_allowed_origins_and_non_browsers_pass() {
        for (origin, site) in [
            (Some(OWN), Some("same-origin")),
            (Some("http://localhost:3000"), Some("cross-site")),
            (None, None),
            (None, Some("same-origin")),
            (None, Some("none")),
        ] {
            assert!(
                !is_cross_site(origin, site, OWN, &frontend()),
                "{origin:?} {site:?}"
            );
        }
    }

    #[test]
    fn other_origins_and_unnamed_cross_site_requests_are_refused() {
        for (origin, site) in [
            (Some("https://evil.example"), None),
            (Some("null"), None),
            (Some("https://api.example.com.evil.example"), None),
            (None, Some("cross-site")),
        ] {
            assert!(
                is_cross_site(origin, site, OWN, &frontend()),
                "{origin:?} {site:?}"
            );
        }
    }

    /// `*` widens CORS (any page may read public answers); it must not switch the lock-out
    /// defence off: five posts from any page would still lock an owner out.
    #[test]
    fn a_wildcard_cors_setting_still_refuses_other_sites() {
        for setting in ["*", r#"["*"]"#, "http://localhost:3000, *"] {
            let any = CorsOrigins::parse(Some(setting));
            for (origin, site) in [
                (Some("https://evil.example"), None),
                (Some("http://localhost:3000"), Some("cross-site")),
                (Some("*"), None),
                (Some("null"), None),
                (None, Some("cross-site")),
            ] {
                assert!(
                    is_cross_site(origin, site, OWN, &any),
                    "{setting}: {origin:?} {site:?}"
                );
            }
            for (origin, site) in [(Some(OWN), Some("same-origin")), (None, None)] {
                assert!(
                    !is_cross_site(origin, site, OWN, &any),
                    "{setting}: {origin:?} {site:?}"
                );
            }
        }
    }

    #[test]
    fn only_an_exact_listed_origin_is_listed() {
        let list = CorsOrigins::parse(Some("https://app.example, http://localhost:3000/"));
        assert!(is_listed("https://app.example", &list));
        assert!(
            is_listed("http://localhost:3000", &list),
            "a trailing slash in the setting"
        );
        for other in [
            "https://app.example:443",
            "http://app.example",
            "https://APP.example",
            "https://app.example.evil.example",
            "https://sub.app.example",
        ] {
            assert!(!is_listed(other, &list), "{other}");
        }
        assert!(!is_listed(
            "https://app.example",
            &CorsOrigins::parse(Some("*"))
        ));
        assert!(!is_listed(
            "https://app.example",
            &CorsOrigins::parse(Some(""))
        ));
    }
}
