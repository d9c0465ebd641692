//! Passwords that appear in data breaches, looked up in Have I Been Pwned's Pwned Passwords
//! range API with k-anonymity: only the first 5 hex characters of the password's SHA-1 leave
//! the worker; the answer lists every breached hash that starts with them (`SUFFIX:COUNT`, one
//! a line), and the rest of the hash is looked for here. Pure Rust: the HTTP call is in
//! src/api/breach.rs.
//!
//! API (haveibeenpwned.com/API/v3#SearchingPwnedPasswordsByRange): `GET {url}{prefix}` with
//! `Add-Padding: true`, which pads the answer with random suffixes of count 0 so that its
//! size says nothing of the prefix; a suffix of count 0 is therefore not a breached password.

use sha1::{Digest, Sha1};

/// The range API, unless `PWNED_PASSWORDS_URL` names another; the prefix is appended.
pub const DEFAULT_RANGE_URL: &str = "https://api.pwnedpasswords.com/range/";
/// Hex characters of the SHA-1 that are sent: 16^5 ranges of a few hundred hashes each.
pub const PREFIX_CHARS: usize = 5;
/// A SHA-1 in hex.
const HASH_CHARS: usize = 40;
/// A range answer is some 800 to 1 000 lines of 40 bytes with padding; one far longer is not
/// one, and is not read.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// A password's SHA-1 split as the range API wants it: the prefix that is sent, and the
/// suffix that is looked for in the answer and never leaves. Its `Debug` shows the prefix
/// only: the whole unsalted hash is as good as the password for a dictionary.
pub struct RangeQuery {
    prefix: String,
    suffix: String,
}

/// What a range answer says of the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breached {
    /// It appeared in breaches this many times.
    Yes { count: u64 },
    /// Its hash is not listed, or only as padding.
    No,
}

/// Why an answer is no range answer (a captive portal's page, an error page served with
/// 200, a truncated body): the check could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

impl RangeQuery {
    /// The query for a password, as it is hashed (after NFKC normalisation).
    pub fn of(password: &str) -> RangeQuery {
        let digest = Sha1::digest(password.as_bytes());
        let hex: String = digest.iter().map(|byte| format!("{byte:02X}")).collect();
        let (prefix, suffix) = hex.split_at(PREFIX_CHARS);
        RangeQuery {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        }
    }

    /// The first 5 characters of the SHA-1, upper-case hex: all that is sent.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Reads a range answer (the body of a 200) and looks for the password's suffix in it.
    /// Every line must be `SUFFIX:COUNT` (35 hex characters, a whole number), in any case
    /// and with `\n` or `\r\n` endings; an answer with no line, or any other line, is
    /// [`Unreadable`]. A suffix listed with count 0 is padding: not breached.
    pub fn find(&self, answer: &str) -> Result<Breached, Unreadable> {
        if answer.len() > MAX_ANSWER_BYTES {
            return Err(Unreadable("the answer is too long for a range"));
        }
        let mut found = Breached::No;
        let mut lines = 0;
        for line in answer
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
        {
            let (suffix, count) = parse_line(line)?;
            lines += 1;
            if count > 0 && suffix.eq_ignore_ascii_case(&self.suffix) {
                found = Breached::Yes { count };
            }
        }
        if lines == 0 {
            // Never so with padding, which the request asks for.
            return Err(Unreadable("the answer has no lines"));
        }
        Ok(found)
    }
}

impl std::fmt::Debug for RangeQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeQuery")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// One `SUFFIX:COUNT` line.
fn parse_line(line: &str) -> Result<(&str, u64), Unreadable> {
    let not_a_range = Unreadable("a line is not SUFFIX:COUNT");
    let (suffix, count) = line.split_once(':').ok_or(not_a_range)?;
    let hex = suffix.len() == HASH_CHARS - PREFIX_CHARS
        && suffix.bytes().all(|byte| byte.is_ascii_hexdigit());
    let count = count
        .bytes()
        .all(|byte| byte.is_ascii_digit())
        .then(|| count.parse::<u64>().ok())
        .flatten();
    match (hex, count) {
        (true, Some(count)) => Ok((suffix, count)),
        _ => Err(not_a_range),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "password", the API documentation's own example: SHA-1 5BAA61E4C9B9….
    const PASSWORD_SUFFIX: &str = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";

    #[test]
    fn only_the_first_five_characters_of_the_upper_case_sha1_are_sent() {
        let query = RangeQuery::of("password");
        assert_eq!(query.prefix(), "5BAA6");
        assert_eq!(query.suffix, PASSWORD_SUFFIX);
        let other = RangeQuery::of("P@ssw0rd");
        assert_eq!(
            format!("{}{}", other.prefix(), other.suffix),
            "21BD12DC183F740EE76F27B78EB39C8AD972A757"
        );
        assert!(!format!("{query:?}").contains(PASSWORD_SUFFIX));
    }

    #[test]
    fn a_listed_suffix_with_a_count_is_breached_in_either_case_and_line_ending() {
        let query = RangeQuery::of("password");
        let answer = format!(
            "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{PASSWORD_SUFFIX}:10434004\r\n\
             00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2"
        );
        assert_eq!(query.find(&answer), Ok(Breached::Yes { count: 10434004 }));
        let lower = format!("{}:3\n", PASSWORD_SUFFIX.to_lowercase());
        assert_eq!(query.find(&lower), Ok(Breached::Yes { count: 3 }));
    }

    #[test]
    fn an_unlisted_suffix_or_a_padding_line_is_not_breached() {
        let query = RangeQuery::of("password");
        let answer = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n\
                      00D4F6E8FA6EECAD2A3AA415EEC418D38EC:0\r\n";
        assert_eq!(query.find(answer), Ok(Breached::No));
        let padded = format!("0018A45C4D1DEF81644B54AB7F969B88D65:4\r\n{PASSWORD_SUFFIX}:0");
        assert_eq!(query.find(&padded), Ok(Breached::No));
    }

    #[test]
    fn anything_but_a_range_is_unreadable() {
        let query = RangeQuery::of("password");
        for answer in [
            "",
            "\r\n",
            "<!DOCTYPE html><title>Just a moment...</title>",
            "{\"suffix\": 1}",
            "0018A45C4D1DEF81644B54AB7F969B88D65",
            "0018A45C4D1DEF81644B54AB7F969B88D6:1",
            "0018A45C4D1DEF81644B54AB7F969B88D650:1",
            "0018A45C4D1DEF81644B54AB7F969B88D6Z:1",
            "0018A45C4D1DEF81644B54AB7F969B88D65:-1",
            "0018A45C4D1DEF81644B54AB7F969B88D65:+1",
            "0018A45C4D1DEF81644B54AB7F969B88D65:1.5",
            "0018A45C4D1DEF81644B54AB7F969B88D65:99999999999999999999999",
            "0018A45C4D1DEF81644B54AB7F969B88D65:",
        ] {
            assert!(query.find(answer).is_err(), "{answer:?}");
        }
        // A breached line does not make a body with garbage in it readable.
        let mixed = format!("{PASSWORD_SUFFIX}:5\r\n<html>");
        assert!(query.find(&mixed).is_err());
        let huge = format!("{PASSWORD_SUFFIX}:5\n").repeat(MAX_ANSWER_BYTES / 38 + 1);
        assert!(query.find(&huge).is_err());
    }
}
