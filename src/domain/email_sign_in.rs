//! Sign-in by email: what its two requests carry, and its six-digit codes. An email holds a
//! link's token (an `OpaqueToken`, 256 bits) and a code for the device where the email is
//! not open; the code is stored as an HMAC under a key only the Worker holds, as a plain
//! hash of one of a million codes would be no secret. Pure: no `worker` types.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use utoipa::ToSchema;

use super::validation::{json_object, FieldError, Fields, Invalid};
use super::Email;

/// How long an email's link and code work.
pub const SIGN_IN_SECONDS: i64 = 10 * 60;
/// Codes one email allows, right or wrong; the next is refused, and the link dies with it.
pub const MAX_CODE_TRIES: i64 = 5;
/// Digits of a code.
const CODE_DIGITS: usize = 6;

/// `{"email", "redirect_to"?}`: send a sign-in email to this address.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EmailSignInRequest {
    #[schema(format = Email, max_length = 254)]
    email: String,
    /// The page the email's link opens, with `#email_token=…`: a URL on this API's origin or
    /// one in BACKEND_CORS_ORIGINS (default `/login` on this origin).
    redirect_to: Option<String>,
}

/// A sign-in email asked for: the address, and the page its link opens, as sent.
#[derive(Debug)]
pub struct SignInEmail {
    pub email: Email,
    pub redirect_to: Option<String>,
}

impl SignInEmail {
    pub fn from_json(body: &str) -> Result<SignInEmail, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let email = fields.required_str("email");
        let email = fields.check("email", email, Email::parse);
        let redirect_to = fields.optional_str("redirect_to").map(str::to_owned);
        let email = fields.finish(email)?;
        Ok(SignInEmail { email, redirect_to })
    }
}

/// `{"email", "code"}` or `{"token"}`: what a sign-in email gave.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EmailSignInVerifyRequest {
    /// With `code`: the address the email went to.
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    /// The six digits the email shows.
    #[schema(pattern = "^[0-9]{6}$")]
    code: Option<String>,
    /// In place of `email` and `code`: the `email_token` of the email's link.
    token: Option<String>,
}

/// What a sign-in presents: the code with its address, or the link's token.
#[derive(Debug, PartialEq, Eq)]
pub enum SignInProof {
    Code { email: Email, code: String },
    Token(String),
}

impl SignInProof {
    pub fn from_json(body: &str) -> Result<SignInProof, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        if object.contains_key("token") {
            let token = fields.required_str("token").map(str::to_owned);
            return fields.finish(token).map(SignInProof::Token);
        }
        let email = fields.required_str("email");
        let email = fields.check("email", email, Email::parse);
        let code = fields.required_str("code");
        let code = fields.check("code", code, parse_code);
        let (email, code) = fields.finish((email, code))?;
        Ok(SignInProof::Code { email, code })
    }
}

/// Six ASCII digits, spaces around them ignored.
fn parse_code(value: &str) -> Result<String, Invalid> {
    let code = value.trim();
    if code.len() == CODE_DIGITS && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code.to_owned())
    } else {
        Err(Invalid::Other(
            "the code is six digits",
            "value_error.email_sign_in_code",
        ))
    }
}

/// A new code: six digits, each of the million equally likely.
pub fn new_code() -> Result<String, getrandom::Error> {
    // The largest multiple of a million a u32 holds: values at or above it are drawn again,
    // so that no code is likelier than another.
    const BOUND: u32 = u32::MAX - u32::MAX % 1_000_000;
    loop {
        let mut bytes = [0u8; 4];
        getrandom::getrandom(&mut bytes)?;
        let value = u32::from_le_bytes(bytes);
        if value < BOUND {
            return Ok(format!("{:06}", value % 1_000_000));
        }
    }
}

/// The key codes are stored under: HMAC-SHA256 of a fixed label under `JWT_SECRET`, a value
/// the access tokens' key gives for nothing else. A rotation of JWT_SECRET ends the codes of
/// emails sent before it (their links still work).
pub struct CodeKey([u8; 32]);

impl CodeKey {
    pub fn derive(secret: &[u8]) -> CodeKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key size");
        mac.update(b"recipe-api email sign-in code");
        CodeKey(mac.finalize().into_bytes().into())
    }

    /// What `code`, sent to `email`, is stored as: bound to the address (any case), so a code
    /// is good only for the email it was sent to.
    pub fn hash(&self, email: &str, code: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(email.trim().to_ascii_lowercase().as_bytes());
        mac.update(b"\n");
        mac.update(code.as_bytes());
        data_encoding::BASE64URL_NOPAD.encode(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sign_in_email_needs_a_valid_email_and_may_name_its_page() {
        let asked = SignInEmail::from_json(r#"{"email": "cook@example.com"}"#).unwrap();
        assert_eq!(asked.email.as_str(), "cook@example.com");
        assert_eq!(asked.redirect_to, None);
        let asked = SignInEmail::from_json(
            r#"{"email": "cook@example.com", "redirect_to": "https://app.example/in"}"#,
        )
        .unwrap();
        assert_eq!(asked.redirect_to.as_deref(), Some("https://app.example/in"));
        let errors = SignInEmail::from_json(r#"{"email": "nope", "redirect_to": 3}"#).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].loc, [json!("body"), json!("email")]);
    }

    #[test]
    fn a_proof_is_a_token_or_an_email_and_six_digits() {
        assert_eq!(
            SignInProof::from_json(r#"{"token": "abc"}"#).unwrap(),
            SignInProof::Token("abc".into())
        );
        let proof =
            SignInProof::from_json(r#"{"email": "a@example.com", "code": " 012345 "}"#).unwrap();
        let SignInProof::Code { email, code } = proof else {
            panic!("a code")
        };
        assert_eq!((email.as_str(), code.as_str()), ("a@example.com", "012345"));
        for code in ["12345", "1234567", "12345a", "１２３４５６", ""] {
            let body = json!({"email": "a@example.com", "code": code}).to_string();
            let errors = SignInProof::from_json(&body).unwrap_err();
            assert_eq!(errors[0].loc, [json!("body"), json!("code")], "{code:?}");
        }
        let missing = SignInProof::from_json("{}").unwrap_err();
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(SignInProof::from_json(r#"{"token": 5}"#).is_err());
    }

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: Vec<String> = (0..50).map(|_| new_code().unwrap()).collect();
        for code in &codes {
            assert!(parse_code(code).is_ok(), "{code}");
        }
        let distinct: std::collections::HashSet<&String> = codes.iter().collect();
        assert!(distinct.len() > 40, "{codes:?}");
    }

    #[test]
    fn a_codes_hash_is_bound_to_the_key_and_the_address_in_any_case() {
        let key = CodeKey::derive(b"a secret of the worker");
        let hash = key.hash("Cook@Example.com", "123456");
        assert_eq!(hash, key.hash(" cook@example.com", "123456"));
        assert_ne!(hash, key.hash("other@example.com", "123456"));
        assert_ne!(hash, key.hash("cook@example.com", "123457"));
        assert_ne!(
            hash,
            CodeKey::derive(b"another secret").hash("cook@example.com", "123456")
        );
        assert_eq!(hash.len(), 43, "a SHA-256, base64url");
    }
}
