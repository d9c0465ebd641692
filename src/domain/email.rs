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
}

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
