//! Calls to other services: an identity provider's endpoints, Turnstile's siteverify. One
//! HTTP request each, given up after [`TIMEOUT`] rather than holding the request open.

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::wasm_bindgen::JsValue;
use worker::{AbortController, Delay, Fetch, Headers, Method, Request, RequestInit};

/// How long one call may take. The services answer in well under a second, but the clock
/// runs on while the isolate hashes other requests' passwords (0.4 s of CPU each at 600 000
/// rounds, one at a time): 4 s timed out answers that had arrived during a burst of ten
/// signups.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Sends one request and reads the answer: its status and body. The error says what went
/// wrong (it could not be reached, or did not answer in time), without naming the service.
pub async fn call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<(u16, String), String> {
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
    let outcome = select(Box::pin(send), Delay::from(TIMEOUT)).await;
    match outcome {
        Either::Left((Ok(answer), _)) => Ok(answer),
        // The runtime's error (a refused connection, a reset); it holds no header or body.
        Either::Left((Err(error), _)) => Err(format!("could not be reached: {error}")),
        Either::Right(_) => {
            controller.abort();
            Err(format!("did not answer within {} s", TIMEOUT.as_secs()))
        }
    }
}
