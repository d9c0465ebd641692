//! What a session shows of the device it was started from: its user agent summarised
//! ("Firefox on macOS") and where Cloudflare placed the address it logged in from; and the
//! list of signed-in devices as the API answers it.

use serde::Serialize;
use utoipa::ToSchema;

/// The longest part of a `User-Agent` header that is read: real ones are a few hundred bytes.
const MAX_USER_AGENT_BYTES: usize = 512;
/// Longer country or city values are cut (a real city name is far shorter).
const MAX_PLACE_CHARS: usize = 64;

/// What a login records about its device; every part may be unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Device {
    /// A summary of the `User-Agent` header; `None` without one.
    pub user_agent: Option<String>,
    /// ISO 3166-1 alpha-2, as Cloudflare gives it (`request.cf.country`).
    pub country: Option<String>,
    pub city: Option<String>,
}

impl Device {
    pub fn new(user_agent: Option<&str>, country: Option<String>, city: Option<String>) -> Device {
        let place = |value: Option<String>| {
            value
                .map(|v| v.trim().chars().take(MAX_PLACE_CHARS).collect::<String>())
                .filter(|v| !v.is_empty())
        };
        Device {
            user_agent: user_agent.map(summarise_user_agent),
            country: place(country),
            city: place(city),
        }
    }
}

/// One live session of the caller's, as `GET /api/v1/auth/sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SignedInDevice {
    /// The session's id: `DELETE /api/v1/auth/sessions/{id}` ends it.
    pub id: String,
    /// When it was logged in (RFC 3339, UTC).
    pub created_at: String,
    /// Its last login or refresh (RFC 3339, UTC); a request with an access token does not
    /// count, so it lags by up to an access token's lifetime.
    pub last_used_at: String,
    /// The login's `User-Agent`, summarised: "Firefox on macOS", "curl". `null` without one.
    #[schema(example = "Firefox on macOS")]
    pub user_agent: Option<String>,
    /// Where Cloudflare placed the login's address: ISO 3166-1 alpha-2, or `null`.
    #[schema(example = "GB")]
    pub country: Option<String>,
    #[schema(example = "London")]
    pub city: Option<String>,
    /// Whether this is the session of the access token that asked.
    pub current: bool,
}

/// The caller's live sessions, the most recently used first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedInDevices {
    pub sessions: Vec<SignedInDevice>,
}

/// Seconds since the epoch as RFC 3339 in UTC, to the second: `2026-11-30T08:00:00Z`.
/// Written out here rather than with chrono's formatter, which costs the worker's wasm
/// several KB for this one format (days to a civil date: Howard Hinnant's algorithm).
pub fn rfc3339(unix_seconds: i64) -> String {
    let (days, seconds) = (
        unix_seconds.div_euclid(86_400),
        unix_seconds.rem_euclid(86_400),
    );
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// Browsers and HTTP clients by the token that names them, most specific first: Edge, Opera
/// and Samsung's browser also say "Chrome" and "Safari"; Chrome also says "Safari".
const BROWSERS: [(&str, &str); 22] = [
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("OPR/", "Opera"),
    ("Opera", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Vivaldi/", "Vivaldi"),
    ("YaBrowser/", "Yandex Browser"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
    ("curl/", "curl"),
    ("Wget/", "Wget"),
    ("python-requests/", "Python Requests"),
    ("python-httpx/", "HTTPX"),
    ("okhttp/", "OkHttp"),
    ("PostmanRuntime/", "Postman"),
    ("axios/", "axios"),
    ("Go-http-client/", "Go"),
];

/// Operating systems, most specific first: Android says "Linux", iOS says "like Mac OS X".
const SYSTEMS: [(&str, &str); 8] = [
    ("Windows NT", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("iPod", "iOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

/// "Firefox on macOS", "Chrome on Android", "curl": a browser or client and a system, each
/// when recognised. Only the start of an overlong header is read.
pub fn summarise_user_agent(header: &str) -> String {
    let mut end = header.len().min(MAX_USER_AGENT_BYTES);
    while !header.is_char_boundary(end) {
        end -= 1;
    }
    let header = &header[..end];
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(token, _)| header.contains(token))
            .map(|(_, name)| *name)
    };
    // Node's own fetch says only "node" (undici).
    let browser = find(&BROWSERS).or((header == "node" || header == "undici").then_some("Node.js"));
    match (browser, find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("Unknown browser on {system}"),
        (None, None) => "Unknown device".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_browser_and_system_of_real_user_agents() {
        for (header, expected) in [
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0",
             "Firefox on macOS"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
              Chrome/126.0.0.0 Safari/537.36", "Chrome on Windows"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
              Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68", "Edge on Windows"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
              (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 \
              (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1", "Chrome on iOS"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) \
              Chrome/126.0.6478.71 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) \
              SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
             "Samsung Internet on Android"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
              Chrome/126.0.0.0 Safari/537.36 OPR/111.0.0.0", "Opera on Linux"),
            ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) \
              Chrome/126.0.0.0 Safari/537.36", "Chrome on ChromeOS"),
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
              HeadlessChrome/126.0.0.0 Safari/537.36", "Chrome on Linux"),
            ("curl/8.5.0", "curl"),
            ("python-requests/2.32.3", "Python Requests"),
            ("node", "Node.js"),
            ("Mozilla/5.0 (X11; Linux x86_64)", "Unknown browser on Linux"),
            ("", "Unknown device"),
            ("something/1.0", "Unknown device"),
        ] {
            assert_eq!(summarise_user_agent(header), expected, "{header}");
        }
    }

    #[test]
    fn an_overlong_header_is_read_only_at_its_start_even_inside_a_character() {
        let long = format!("{}Firefox/1", "é".repeat(400));
        assert_eq!(summarise_user_agent(&long), "Unknown device");
        assert_eq!(
            summarise_user_agent(&format!("curl/8 {}", "é".repeat(400))),
            "curl"
        );
    }

    #[test]
    fn times_are_rfc3339_in_utc_as_chrono_writes_them() {
        use chrono::{DateTime, SecondsFormat};
        assert_eq!(rfc3339(1_795_996_800), "2026-11-30T00:00:00Z");
        let mut t = -86_400 * 366;
        while t < 4_200_000_000 {
            let expected = DateTime::from_timestamp(t, 0)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Secs, true);
            assert_eq!(rfc3339(t), expected, "{t}");
            t += 86_399 * 7 + 3_607;
        }
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn places_are_trimmed_and_cut_and_empty_ones_are_unknown() {
        let device = Device::new(None, Some(" GB ".into()), Some("x".repeat(100)));
        assert_eq!(device.user_agent, None);
        assert_eq!(device.country.as_deref(), Some("GB"));
        assert_eq!(device.city.unwrap().len(), MAX_PLACE_CHARS);
        assert_eq!(Device::new(None, Some(String::new()), None).country, None);
    }
}
