//! Where a request comes from, for the two rules that depend on it. Cross-site posts to login
//! and signup: a page on any site can post a form to them without a CORS preflight; on
//! login, five such posts with wrong passwords would lock the owner out. And the refresh
//! cookie of the API's own pages, read for them alone. Browsers say where a request comes
//! from (`Origin`, and `Sec-Fetch-Site` where they send no `Origin`); clients that are not
//! browsers (curl, scripts) send neither.

use crate::config::CorsOrigins;

/// Whether `origin` is one that `BACKEND_CORS_ORIGINS` names, exactly. A wildcard (`*`) names
/// none: it lets any page read the API's answers (CORS without credentials), not act as a
/// trusted frontend (post a login or signup, receive a sign-in code).
pub fn is_listed(origin: &str, cors: &CorsOrigins) -> bool {
    matches!(cors, CorsOrigins::List(list) if list.iter().any(|listed| listed == origin))
}

/// Where a request comes from, as the browser says it (`Origin`, and `Sec-Fetch-Site` where
/// it sends no `Origin`). The one reading of those headers: login and signup refuse
/// [`Source::CrossSite`]; the refresh cookie is read only for [`Source::Own`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The API's own pages: `Origin` is the API's own, or none and `Sec-Fetch-Site:
    /// same-origin`.
    Own,
    /// A frontend that `BACKEND_CORS_ORIGINS` names (see [`is_listed`]).
    Listed,
    /// Another site: any other `Origin`, or none and `Sec-Fetch-Site: cross-site`.
    CrossSite,
    /// Nothing says: not a browser (curl, scripts), or one that marks it `same-site` or `none`.
    Unsaid,
}

/// Where a request with these headers comes from; `own_origin` is the API's own, e.g.
/// `https://api.example.com`. An `Origin` header wins over `Sec-Fetch-Site`.
pub fn source(
    origin: Option<&str>,
    fetch_site: Option<&str>,
    own_origin: &str,
    cors: &CorsOrigins,
) -> Source {
    match origin.map(str::trim) {
        Some(origin) if origin.eq_ignore_ascii_case(own_origin) => Source::Own,
        Some(origin) if is_listed(origin, cors) => Source::Listed,
        Some(_) => Source::CrossSite,
        None => match fetch_site.map(str::trim) {
            Some(site) if site.eq_ignore_ascii_case("same-origin") => Source::Own,
            Some(site) if site.eq_ignore_ascii_case("cross-site") => Source::CrossSite,
            _ => Source::Unsaid,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWN: &str = "https://api.example.com";

    /// What login and signup refuse.
    fn is_cross_site(
        origin: Option<&str>,
        fetch_site: Option<&str>,
        own_origin: &str,
        cors: &CorsOrigins,
    ) -> bool {
        source(origin, fetch_site, own_origin, cors) == Source::CrossSite
    }

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

    /// The refresh cookie's rule: only the API's own origin, whatever CORS lists; a request
    /// that says nothing is not the API's own page.
    #[test]
    fn only_the_apis_own_origin_is_own() {
        for (origin, site) in [
            (Some(OWN), Some("same-origin")),
            (None, Some("same-origin")),
        ] {
            assert_eq!(source(origin, site, OWN, &frontend()), Source::Own);
        }
        for (origin, site) in [
            (Some("https://evil.example"), Some("same-origin")),
            (Some("http://localhost:3000"), None),
            (Some("https://api.example.com.evil.example"), None),
            (Some("null"), None),
            (None, Some("same-site")),
            (None, Some("cross-site")),
            (None, Some("none")),
            (None, None),
        ] {
            assert_ne!(
                source(origin, site, OWN, &frontend()),
                Source::Own,
                "{origin:?} {site:?}"
            );
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
