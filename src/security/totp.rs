//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1, 6 digits, 30 s
//! steps, a code accepted one step either side of now for clocks that drift. What an
//! authenticator app needs to enrol: the secret in base32 and the `otpauth://` URI, drawn as a
//! QR code in SVG.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// RFC 4226 §4 recommends 160 bits, the length of SHA-1's output.
pub const SECRET_BYTES: usize = 20;
pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now a code is accepted for (RFC 6238 §5.2: one is what it
/// recommends at most).
pub const DRIFT_STEPS: i64 = 1;

/// A TOTP shared secret. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// A new random secret of [`SECRET_BYTES`].
    pub fn generate() -> Result<TotpSecret, getrandom::Error> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::getrandom(&mut bytes)?;
        Ok(TotpSecret(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> TotpSecret {
        TotpSecret(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps take it typed in.
    pub fn base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// RFC 4226's HOTP value of counter `step`, as a number of `digits` digits.
    fn hotp(&self, step: u64, digits: u32) -> u32 {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.0).expect("HMAC takes a key of any size");
        mac.update(&step.to_be_bytes());
        let hash = mac.finalize().into_bytes();
        // Dynamic truncation (RFC 4226 §5.3).
        let offset = usize::from(hash[hash.len() - 1] & 0x0f);
        let binary = u32::from_be_bytes([
            hash[offset] & 0x7f,
            hash[offset + 1],
            hash[offset + 2],
            hash[offset + 3],
        ]);
        binary % 10u32.pow(digits)
    }

    /// The code of time step `step`, zero-padded to [`DIGITS`].
    pub fn code_at(&self, step: i64) -> String {
        format!(
            "{:0width$}",
            self.hotp(step.max(0) as u64, DIGITS),
            width = DIGITS as usize
        )
    }

    /// The step `code` is the code of, among the steps within [`DRIFT_STEPS`] of `now`'s
    /// and after `last_step` (the last one used: a step's code works once); `None` when it is
    /// none of them. Every candidate is computed and compared in constant time.
    pub fn matching_step(&self, code: &str, now: i64, last_step: i64) -> Option<i64> {
        let current = step_at(now);
        let mut found = None;
        for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
            let same: bool = self.code_at(step).as_bytes().ct_eq(code.as_bytes()).into();
            if same && step > last_step && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// The `otpauth://` URI authenticator apps read from a QR code (Google Authenticator's
    /// Key Uri Format): labelled `issuer:account`, with every parameter at its default
    /// spelled out.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", encode(issuer), encode(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
            self.base32(),
            encode(issuer)
        )
    }
}

/// The time step of unix time `now`.
pub fn step_at(now: i64) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// Percent-encodes everything but unreserved characters (RFC 3986), so `@` and spaces in a
/// label survive every app's parser.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `text` as a QR code in SVG, black modules on white with the standard quiet zone; medium
/// error correction, as authenticator apps scan from screens.
pub fn qr_svg(text: &str) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)?;
    Ok(code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 seed: the ASCII of "12345678901234567890".
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec())
    }

    /// RFC 6238 Appendix B, SHA-1 rows: time, T (hex), TOTP (8 digits).
    const RFC_6238_SHA1: [(i64, u64, &str); 6] = [
        (59, 0x1, "94287082"),
        (1_111_111_109, 0x23523EC, "07081804"),
        (1_111_111_111, 0x23523ED, "14050471"),
        (1_234_567_890, 0x273EF07, "89005924"),
        (2_000_000_000, 0x3F940AA, "69279037"),
        (20_000_000_000, 0x27BC86AA, "65353130"),
    ];

    #[test]
    fn matches_the_rfc_6238_sha1_test_vectors() {
        let secret = rfc_secret();
        for (time, step, expected) in RFC_6238_SHA1 {
            assert_eq!(step_at(time), step as i64, "T at {time}");
            assert_eq!(
                format!("{:08}", secret.hotp(step, 8)),
                expected,
                "8 digits at {time}"
            );
            assert_eq!(
                secret.code_at(step_at(time)),
                expected[2..],
                "6 digits at {time}: the last six of the eight"
            );
        }
    }

    /// RFC 4226 Appendix D: HOTP of the same secret, counters 0 to 9.
    #[test]
    fn matches_the_rfc_4226_hotp_test_vectors() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583",
            "399871", "520489",
        ];
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(
                rfc_secret().code_at(counter as i64),
                code,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let step = step_at(now);
        for offset in [-1, 0, 1] {
            let code = secret.code_at(step + offset);
            assert_eq!(secret.matching_step(&code, now, 0), Some(step + offset));
        }
        for offset in [-3, -2, 2, 3] {
            let code = secret.code_at(step + offset);
            assert_eq!(secret.matching_step(&code, now, 0), None, "{offset}");
        }
    }

    #[test]
    fn a_used_step_and_the_steps_before_it_are_refused() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = step_at(now);
        let code = secret.code_at(step);
        assert_eq!(secret.matching_step(&code, now, step - 1), Some(step));
        assert_eq!(secret.matching_step(&code, now, step), None, "replayed");
        let previous = secret.code_at(step - 1);
        assert_eq!(
            secret.matching_step(&previous, now, step),
            None,
            "older than the last used"
        );
        assert_eq!(
            secret.matching_step(&secret.code_at(step + 1), now, step),
            Some(step + 1)
        );
    }

    #[test]
    fn wrong_codes_are_refused() {
        let secret = rfc_secret();
        for code in ["", "12345", "1234567", "abcdef", "000000"] {
            assert_eq!(secret.matching_step(code, 59, -10), None, "{code:?}");
        }
    }

    #[test]
    fn generated_secrets_are_160_random_bits_in_32_base32_characters() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), SECRET_BYTES);
        assert_eq!(a.base32().len(), 32);
        assert!(a
            .base32()
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
        assert!(!format!("{a:?}").contains(&a.base32()));
    }

    #[test]
    fn the_otpauth_uri_names_issuer_account_and_parameters() {
        let uri = rfc_secret().otpauth_uri("Recipe API", "ada+1@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Recipe%20API:ada%2B1%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Recipe%20API&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn the_qr_code_is_an_svg_of_dark_modules() {
        let uri = rfc_secret().otpauth_uri("Recipe API", "ada@example.com");
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.starts_with("<?xml"), "{}", &svg[..40]);
        assert!(svg.contains("<svg") && svg.contains("#000000"));
        assert!(svg.len() < 64 * 1024, "{} bytes", svg.len());
    }
}
