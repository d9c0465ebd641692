//! An email address as users sign up and log in with it.

use email_address::{EmailAddress, Options};

use super::validation::Invalid;

/// RFC 5321's limit on a forward path, less the angle brackets.
const MAX_LEN: usize = 254;

/// A syntactically valid address (`local@domain.tld`), kept as the user typed it. Uniqueness
/// is case-insensitive; the schema enforces it (`COLLATE NOCASE`), so no folding happens here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Email, Invalid> {
        let options = Options {
            minimum_sub_domains: 2,
            allow_domain_literal: false,
            allow_display_text: false,
            ..Options::default()
        };
        if value.len() <= MAX_LEN && EmailAddress::parse_with_options(value, options).is_ok() {
            Ok(Email(value.to_owned()))
        } else {
            Err(Invalid::Other(
                "value is not a valid email address",
                "value_error.email",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain, when it is one nobody can receive mail at or this project does not own:
    /// the names RFC 2606 and RFC 6761 reserve for examples, tests and this machine, the
    /// mDNS `.local`, and the domains its own docs once used. A superuser created at such an
    /// address in a deployment belongs to whoever can, one day, receive mail there.
    pub fn placeholder_domain(&self) -> Option<&str> {
        let domain = self.0.rsplit_once('@').map_or("", |(_, domain)| domain);
        let lower = domain.to_ascii_lowercase();
        PLACEHOLDER_DOMAINS
            .iter()
            .any(|reserved| {
                lower == *reserved
                    || lower
                        .strip_suffix(reserved)
                        .is_some_and(|rest| rest.ends_with('.'))
            })
            .then_some(domain)
    }
}

/// Domains (and their subdomains) that name nobody's mailbox: see [`Email::placeholder_domain`].
const PLACEHOLDER_DOMAINS: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "example",
    "test",
    "invalid",
    "localhost",
    "local",
    "localdomain",
    "internal",
    "home.arpa",
    "recipeapi.com",
    "recipe-api.local",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@example.com",
            "First.Last+tag@sub.example.co.uk",
            "ADMIN@RecipeApi.com",
        ] {
            assert_eq!(Email::parse(ok).map(|e| e.0), Ok(ok.to_owned()), "{ok}");
        }
    }

    #[test]
    fn knows_the_domains_nobody_receives_mail_at() {
        for placeholder in [
            "admin@recipeapi.com",
            "ADMIN@RecipeApi.COM",
            "admin@example.com",
            "a@mail.example.org",
            "a@example.net",
            "a@shop.example",
            "a@recipe-api.test",
            "a@nowhere.invalid",
            "admin@recipe-api.localhost",
            "a@printer.local",
            "a@host.internal",
            "a@router.home.arpa",
        ] {
            let email = Email::parse(placeholder).unwrap();
            assert!(email.placeholder_domain().is_some(), "{placeholder}");
        }
        assert_eq!(
            Email::parse("a@Mail.Example.com")
                .unwrap()
                .placeholder_domain(),
            Some("Mail.Example.com"),
            "as written, for the message"
        );
        for real in [
            "ops@company.com",
            "a@notexample.com",
            "a@example.com.au",
            "a@myrecipeapi.com",
            "a@testing.dev",
            "a@local.company.io",
        ] {
            let email = Email::parse(real).unwrap();
            assert_eq!(email.placeholder_domain(), None, "{real}");
        }
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "plainaddress",
            "@example.com",
            "user@",
            "user@localhost",
            "user@[127.0.0.1]",
            "Someone <user@example.com>",
            " user@example.com",
            "user@exa mple.com",
            long.as_str(),
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
