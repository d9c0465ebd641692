//! The emails the API sends (password recovery, email verification), rendered from the
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

/// `page` (an absolute URL) with `token=` added to its query: the link an email carries.
pub fn link(page: &str, token: &str) -> Result<String, url::ParseError> {
    let mut url = url::Url::parse(page)?;
    url.query_pairs_mut().append_pair("token", token);
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_link_adds_the_token_to_any_query_the_page_has() {
        assert_eq!(
            link("https://api.example/reset-password", "abc_-1").unwrap(),
            "https://api.example/reset-password?token=abc_-1"
        );
        assert_eq!(
            link("https://app.example/#/reset?lang=en", "t").unwrap(),
            "https://app.example/?token=t#/reset?lang=en",
            "a fragment stays a fragment"
        );
        assert_eq!(
            link("https://app.example/reset?lang=en", "t").unwrap(),
            "https://app.example/reset?lang=en&token=t"
        );
    }

    #[test]
    fn the_recovery_email_carries_the_link_in_text_and_html_with_the_address_escaped() {
        let to = "o'brien+<b>@example.com";
        let link = "https://api.example/reset-password?token=abc&x=1";
        let message = Message::password_recovery(to, link, 30).unwrap();
        assert_eq!(message.subject, "Reset your password");
        assert!(message.text.contains(link), "{}", message.text);
        assert!(message.text.contains("30 minutes"));
        let escaped = "href=\"https://api.example/reset-password?token=abc&#38;x=1\"";
        assert!(message.html.contains(escaped), "{}", message.html);
        assert!(!message.html.contains("<b>"), "{}", message.html);
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
