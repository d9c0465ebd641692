//! The HS256 signing key, checked at the door.

use jwt_compact::alg::Hs256Key;

/// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
pub const MIN_SECRET_BYTES: usize = 32;

/// A `JWT_SECRET` long enough to sign with. There is no way to build one from a short or
/// empty string, so no token is ever signed with a weak key.
pub struct JwtSecret(Hs256Key);

impl JwtSecret {
    pub fn parse(value: Option<&str>) -> Result<JwtSecret, String> {
        match value {
            None | Some("") => Err(format!(
                "JWT_SECRET is not set: add it to .dev.vars locally or run \
                 `wrangler secret put JWT_SECRET` (at least {MIN_SECRET_BYTES} random bytes, \
                 e.g. `openssl rand -hex 32`)"
            )),
            Some(value) if value.len() < MIN_SECRET_BYTES => Err(format!(
                "JWT_SECRET is {} bytes long; it must be at least {MIN_SECRET_BYTES} \
                 (e.g. `openssl rand -hex 32`)",
                value.len()
            )),
            Some(value) => Ok(JwtSecret(Hs256Key::new(value.as_bytes()))),
        }
    }

    pub(crate) fn key(&self) -> &Hs256Key {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_missing_empty_or_short_secret_and_says_what_to_set() {
        for value in [None, Some(""), Some("too-short-secret")] {
            let error = JwtSecret::parse(value).err().expect("must be refused");
            assert!(error.contains("JWT_SECRET"), "{error}");
        }
    }

    #[test]
    fn accepts_32_bytes_or_more() {
        assert!(JwtSecret::parse(Some(&"k".repeat(32))).is_ok());
    }
}
