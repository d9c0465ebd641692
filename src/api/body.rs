//! Reading request bodies: bounded in size, checked for their media type.

use futures_util::StreamExt;
use serde_json::json;
use worker::js_sys::Uint8Array;
use worker::{FormEntry, Headers, Method, Request, RequestInit};

use crate::domain::validation::FieldError;
use crate::domain::LoginForm;
use crate::error::{ApiError, Result};
use crate::security::turnstile::TOKEN_FIELD;

/// The largest body any route accepts; a recipe or a signup is well under 2 KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How much of an over-long streamed body is read and thrown away before answering 413, so
/// the connection stays usable (Go's net/http does the same with 256 KiB); past that we stop.
const MAX_DISCARD_BYTES: usize = 256 * 1024;

fn content_type(req: &Request) -> String {
    let value = req.headers().get("Content-Type").ok().flatten();
    let value = value.unwrap_or_default();
    let essence = value.split(';').next().unwrap_or("");
    essence.trim().to_ascii_lowercase()
}

/// Refuses a body whose declared length is over the limit before reading a byte of it.
pub fn check_declared_length(req: &Request) -> Result<()> {
    let declared = req.headers().get("Content-Length").ok().flatten();
    match declared.and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(length) if length > MAX_BODY_BYTES as u64 => Err(ApiError::PayloadTooLarge),
        _ => Ok(()),
    }
}

/// The body, read as a stream and abandoned soon after it passes the limit, so a body sent
/// without a Content-Length cannot exhaust memory either. (A declared length over the limit
/// was refused before routing, by [`check_declared_length`].)
async fn read_bounded(req: &mut Request) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(body);
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::internal("reading request body", e))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            let mut discarded = body.len() + chunk.len();
            while discarded <= MAX_DISCARD_BYTES {
                match stream.next().await {
                    Some(Ok(chunk)) => discarded += chunk.len(),
                    _ => break,
                }
            }
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON body as text. A body of another media type, or of none (what a cross-site `fetch`
/// of bytes sends, with no preflight), is refused with 415, so no page on another site can
/// smuggle JSON in. An empty body without a type reads as missing (422), as FastAPI does.
pub async fn json_text(req: &mut Request) -> Result<String> {
    let kind = content_type(req);
    let unsupported = ApiError::UnsupportedMediaType("application/json");
    if !(kind.is_empty() || kind == "application/json" || kind.ends_with("+json")) {
        return Err(unsupported);
    }
    let body = read_bounded(req).await?;
    if kind.is_empty() && !body.is_empty() {
        return Err(unsupported);
    }
    String::from_utf8(body).map_err(|_| {
        ApiError::Validation(vec![FieldError::new(
            vec![json!("body")],
            "body is not valid UTF-8",
            "value_error.jsondecode",
        )])
    })
}

/// The OAuth2 password form, `application/x-www-form-urlencoded` or `multipart/form-data`.
/// A body of any other kind reads as an empty form, which the parser reports as missing
/// fields (422), as FastAPI does.
pub async fn login_form(req: &mut Request) -> Result<LoginForm> {
    let kind = content_type(req);
    let body = read_bounded(req).await?;
    match kind.as_str() {
        "application/x-www-form-urlencoded" => Ok(LoginForm::from_urlencoded(&body)?),
        "multipart/form-data" => {
            let fields = multipart_fields(req, body).await;
            Ok(LoginForm::from_fields(
                fields.iter().map(|(k, v)| (*k, v.as_str())),
            )?)
        }
        _ => Ok(LoginForm::from_fields([])?),
    }
}

/// Multipart is parsed by the runtime's own FormData parser, over the bytes already read.
async fn multipart_fields(req: &Request, body: Vec<u8>) -> Vec<(&'static str, String)> {
    let headers = Headers::new();
    if let Ok(Some(value)) = req.headers().get("Content-Type") {
        let _ = headers.set("Content-Type", &value);
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(Uint8Array::from(body.as_slice()).into()));
    let Ok(mut copy) = Request::new_with_init("https://form.invalid/", &init) else {
        return Vec::new();
    };
    let Ok(form) = copy.form_data().await else {
        return Vec::new();
    };
    ["username", "password", "grant_type", TOKEN_FIELD]
        .into_iter()
        .filter_map(|name| match form.get(name) {
            Some(FormEntry::Field(value)) => Some((name, value)),
            _ => None,
        })
        .collect()
}
