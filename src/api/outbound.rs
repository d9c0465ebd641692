//! Calls to other services: an identity provider's endpoints, Turnstile's siteverify, the
//! breached-password range API. One HTTP request each, given up after a timeout rather than
//! holding the request open.

use std::fmt;
use std::time::Duration;

use futures_util::future::{select, Either};
use worker::wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

/// How long one call may take. The services answer in well under a second, but the clock
/// runs on while the isolate hashes other requests' passwords (0.4 s of CPU each at 600 000
/// rounds, one at a time): 4 s timed out answers that had arrived during a burst of ten
/// signups.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call gave no answer. Neither says which service it was, nor holds a header or body.
#[derive(Debug)]
pub enum Failure {
    /// The runtime's error: a refused connection, a failed DNS lookup, a reset.
    Unreachable(String),
    /// No answer within the call's timeout; the request was aborted.
    TimedOut(Duration),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unreachable(error) => write!(f, "could not be reached: {error}"),
            Failure::TimedOut(timeout) => {
                write!(f, "did not answer within {} s", timeout.as_secs_f32())
            }
        }
    }
}

/// Sends one request and reads the answer, within [`TIMEOUT`]: its status and body. The error
/// says what went wrong (it could not be reached, or did not answer in time).
pub async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(u16, String), String> {
    call_within(TIMEOUT, method, url, headers, body)
        .await
        .map_err(|failure| failure.to_string())
}

/// As [`call`], given up after `timeout`.
pub async fn call_within(
    timeout: Duration,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(u16, String), Failure> {
    let controller = AbortController::default();
    let signal = controller.signal();
    let send = async {
        let sent = Headers::new();
        for (name, value) in headers {
            sent.set(name, value)?;
        }
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(sent);
        if let Some(body) = body {
            init.with_body(Some(JsValue::from_str(body)));
        }
        let request = Request::new_with_init(url, &init)?;
        let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
        let status = response.status_code();
        Ok::<_, worker::Error>((status, response.text().await?))
    };
    let outcome = select(Box::pin(send), Delay::from(timeout)).await;
    match outcome {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(error), _)) => Err(Failure::Unreachable(error.to_string())),
        Either::Right(_) => {
            controller.abort();
            Err(Failure::TimedOut(timeout))
        }
    }
}
