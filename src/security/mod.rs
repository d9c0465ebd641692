//! Password hashing, access tokens, the opaque tokens of refreshes and email links, the second
//! factor (TOTP, its recovery codes, and the key its secrets are sealed with), the ID tokens
//! of identity providers, and the lookup of breached passwords.
//! Pure Rust: no `worker` types, tested natively.

pub mod breach;
pub mod id_token;
pub mod mfa_key;
pub mod oauth;
pub mod opaque;
pub mod origin;
pub mod password;
pub mod pbkdf2_sha256;
pub mod recovery_codes;
pub mod refresh_cookie;
pub mod secret;
pub mod signature;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod turnstile;
pub mod webauthn;

pub use mfa_key::{MfaKey, MfaKeys};
pub use opaque::{new_session_id, opaque_token_hash, OpaqueToken, SuccessorKey};
pub use password::{hash_password, verify_password, Pacer, Verified};
pub use secret::{JwtAlgorithm, JwtSecret, PrivateKey};
pub use token::{
    bearer_token, issue_access_token, verify_access_token, AccessToken, KeysToComplete, Subject,
    TokenError, TokenKeys,
};
