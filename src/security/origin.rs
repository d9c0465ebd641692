//! Cross-site posts to login and signup. A page on any site can post a form to them without
//! a CORS preflight; on login, five such posts with wrong passwords would lock the owner
//! out. Browsers say where a request comes from (`Origin`, and `Sec-Fetch-Site` where they
//! send no `Origin`); clients that are not browsers (curl, scripts) send neither.

use crate::config::CorsOrigins;

/// Whether to refuse a request: it names an `Origin` that is neither the API's own
/// (`own_origin`, e.g. `https://api.example.com`) nor one of `BACKEND_CORS_ORIGINS`, or it
/// names none and the browser marks it `Sec-Fetch-Site: cross-site`.
pub fn is_cross_site(
    origin: Option<&str>,
    fetch_site: Option<&str>,
    own_origin: &str,
    cors: &CorsOrigins,
) -> bool {
    match origin {
        Some(origin) => {
            let origin = origin.trim();
            !(origin.eq_ignore_ascii_case(own_origin) || cors.allows(origin))
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

    #[test]
    fn a_wildcard_cors_setting_lets_every_origin_through() {
        let any = CorsOrigins::parse(Some("*"));
        assert!(!is_cross_site(
            Some("https://evil.example"),
            None,
            OWN,
            &any
        ));
    }
}
