//! The emails the API sends (password recovery, email verification, sign-in), rendered from the
//! askama templates in templates/email/, and the request body of the email API they go
//! through: Resend's shape, `{"from", "to": [...], "subject", "text", "html"}`. Pure: the
//! sending itself is in src/api/email_links.rs.

use askama::Template;
use serde_json::json;

use crate::domain::recovery::Purpose;

/// One email to one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub purpose: Purpose,
    pub to: String,
    pub subject: &'static str,
    pub text: String,
    pub html: String,
}

#[derive(Template)]
#[template(path = "email/password_recovery.txt")]
struct RecoveryText<'a> {
    to: &'a str,
    link: &'a str,
    minutes: i64,
}

/// The same as [`RecoveryText`]; askama escapes every value for HTML by the file's extension.
#[derive(Template)]
#[template(path = "email/password_recovery.html")]
struct RecoveryHtml<'a> {
    to: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "email/verify_email.txt")]
struct VerifyText<'a> {
    to: &'a str,
    link: &'a str,
    hours: i64,
}

#[derive(Template)]
#[template(path = "email/verify_email.html")]
struct VerifyHtml<'a> {
    to: &'a str,
    link: &'a str,
    hours: i64,
}

#[derive(Template)]
#[template(path = "email/email_sign_in.txt")]
struct SignInText<'a> {
    to: &'a str,
    link: &'a str,
    code: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "email/email_sign_in.html")]
struct SignInHtml<'a> {
    to: &'a str,
    link: &'a str,
    code: &'a str,
    minutes: i64,
}

impl Message {
    /// The password-recovery email: `link` works for `minutes`.
    pub fn password_recovery(to: &str, link: &str, minutes: i64) -> askama::Result<Message> {
        Ok(Message {
            purpose: Purpose::PasswordRecovery,
            to: to.to_owned(),
            subject: "Reset your password",
            text: RecoveryText { to, link, minutes }.render()?,
            html: RecoveryHtml { to, link, minutes }.render()?,
        })
    }

    /// The verification email: `link` works for `hours`.
    pub fn verify_email(to: &str, link: &str, hours: i64) -> askama::Result<Message> {
        Ok(Message {
            purpose: Purpose::VerifyEmail,
            to: to.to_owned(),
            subject: "Verify your email",
            text: VerifyText { to, link, hours }.render()?,
            html: VerifyHtml { to, link, hours }.render()?,
        })
    }

    /// The sign-in email: `link` and `code` work for `minutes`, the code shown large.
    pub fn email_sign_in(
        to: &str,
        link: &str,
        code: &str,
        minutes: i64,
    ) -> askama::Result<Message> {
        Ok(Message {
            purpose: Purpose::EmailSignIn,
            to: to.to_owned(),
            subject: "Your sign-in link and code",
            text: SignInText {
                to,
                link,
                code,
                minutes,
            }
            .render()?,
            html: SignInHtml {
                to,
                link,
                code,
                minutes,
            }
            .render()?,
        })
    }

    /// The JSON body of `POST $EMAIL_API_URL`, sent as `from`.
    pub fn api_body(&self, from: &str) -> String {
        json!({
            "from": from,
            "to": [self.to],
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
        })
        .to_string()
    }
}

/// `page` (an absolute URL) with `token=` in its fragment: the link an email carries. A
/// browser never sends the fragment, so the token reaches no server's access log, no
/// `Referer` and no Workers Logs invocation record; the page reads it with script. A page
/// that already has a fragment (a client-side route) keeps it, with `&token=` after it.
pub fn link(page: &str, token: &str) -> Result<String, url::ParseError> {
    link_with(page, "token", token)
}

/// `page` with `name=token` in its fragment, as [`link`] puts `token=`.
pub fn link_with(page: &str, name: &str, token: &str) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(page)?;
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .append_pair(name, token)
        .finish();
    let fragment = match url.fragment() {
        Some(existing) if !existing.is_empty() => format!("{existing}&{encoded}"),
        _ => encoded,
    };
    url.set_fragment(Some(&fragment));
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_link_carries_the_token_in_its_fragment_never_its_query() {
        assert_eq!(
            link("https://api.example/reset-password", "abc_-1").unwrap(),
            "https://api.example/reset-password#token=abc_-1"
        );
        assert_eq!(
            link("https://app.example/reset?lang=en", "t").unwrap(),
            "https://app.example/reset?lang=en#token=t",
            "the page's query stays as it is"
        );
        assert_eq!(
            link("https://app.example/#/reset?lang=en", "t").unwrap(),
            "https://app.example/#/reset?lang=en&token=t",
            "a client-side route in the fragment is kept"
        );
    }

    #[test]
    fn the_recovery_email_carries_the_link_in_text_and_html_with_the_address_escaped() {
        let to = "o'brien+<b>@example.com";
        let link = "https://api.example/reset-password?x=1&y=2#token=abc";
        let message = Message::password_recovery(to, link, 30).unwrap();
        assert_eq!(message.subject, "Reset your password");
        assert!(message.text.contains(link), "{}", message.text);
        assert!(message.text.contains("30 minutes"));
        let escaped = "href=\"https://api.example/reset-password?x=1&#38;y=2#token=abc\"";
        assert!(message.html.contains(escaped), "{}", message.html);
        assert!(!message.html.contains("<b>"), "{}", message.html);
    }

    #[test]
    fn the_sign_in_email_shows_the_code_and_the_link_and_when_they_expire() {
        let link = link_with("https://api.example/login", "email_token", "abc").unwrap();
        assert_eq!(link, "https://api.example/login#email_token=abc");
        let message = Message::email_sign_in("a@example.com", &link, "012345", 10).unwrap();
        assert_eq!(message.purpose, Purpose::EmailSignIn);
        for part in [&message.text, &message.html] {
            assert!(part.contains("012345"), "{part}");
            assert!(part.contains(&link), "{part}");
            assert!(part.contains("10 minutes"), "{part}");
        }
        assert!(message.html.contains("font-size: 2em"), "the code is large");
    }

    #[test]
    fn the_api_body_is_resends_shape() {
        let message =
            Message::verify_email("a@example.com", "https://x.example/v?token=t", 24).unwrap();
        let body: Value =
            serde_json::from_str(&message.api_body("Recipes <no-reply@x.example>")).unwrap();
        assert_eq!(body["from"], "Recipes <no-reply@x.example>");
        assert_eq!(body["to"], serde_json::json!(["a@example.com"]));
        assert_eq!(body["subject"], "Verify your email");
        assert!(body["text"]
            .as_str()
            .unwrap()
            .contains("https://x.example/v?token=t"));
        assert!(body["html"].as_str().unwrap().contains("24 hours"));
    }
}
