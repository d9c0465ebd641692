//! A password as a user chooses it.

use unicode_normalization::UnicodeNormalization;

use super::validation::Invalid;

/// NIST SP 800-63B: at least 8 characters, no composition rules.
pub const MIN_CHARS: usize = 8;
/// A bound in bytes, so nobody makes us hash megabytes; long passphrases still fit.
pub const MAX_BYTES: usize = 1024;

/// A password in Unicode normal form NFKC, so that the same passphrase typed on different
/// keyboards or systems (composed "é" or "e" + accent, full-width digits) hashes the same.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// A new password: at least 8 characters, at most 1024 bytes (before normalising).
    pub fn parse(value: &str) -> Result<Password, Invalid> {
        if value.len() > MAX_BYTES {
            return Err(Invalid::Other(
                "ensure this value has at most 1024 bytes",
                "value_error.any_str.max_length",
            ));
        }
        let password = Password::normalise(value);
        // Counted as typed (what the OpenAPI minLength means) and as normalised.
        if value.chars().count() < MIN_CHARS || password.0.chars().count() < MIN_CHARS {
            Err(Invalid::TooShort(MIN_CHARS))
        } else {
            Ok(password)
        }
    }

    /// A password offered at login, normalised the same way; no rules, it only has to match.
    pub fn normalise(value: &str) -> Password {
        Password(value.nfkc().collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Never print a password, not even in a debug log.
impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_eight_characters_and_long_unicode_passphrases() {
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse("ünïcödé").is_err());
        assert!(
            Password::parse("ünïcödé!").is_ok(),
            "8 characters, 12 bytes"
        );
        assert!(Password::parse(&"correct horse battery staple ".repeat(30)).is_ok());
    }

    #[test]
    fn refuses_short_and_huge_passwords() {
        assert_eq!(Password::parse("1234567").err(), Some(Invalid::TooShort(8)));
        assert!(Password::parse(&"x".repeat(MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn composed_and_decomposed_forms_are_the_same_password() {
        let composed = Password::parse("caf\u{e9} au lait").unwrap();
        let decomposed = Password::parse("cafe\u{301} au lait").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(
            Password::normalise("\u{ff11}\u{ff12}\u{ff13}").expose(),
            "123",
            "full-width digits"
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let password = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }
}
