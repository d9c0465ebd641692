//! Password hashing, access tokens, and the opaque tokens of refreshes and email links.
//! Pure Rust: no `worker` types, tested natively.

pub mod opaque;
pub mod origin;
pub mod password;
pub mod pbkdf2_sha256;
pub mod secret;
pub mod throttle;
pub mod token;

pub use opaque::{new_session_id, opaque_token_hash, OpaqueToken};
pub use password::{hash_password, verify_password, Pacer, Verified};
pub use secret::JwtSecret;
pub use token::{bearer_token, issue_access_token, verify_access_token, Subject, TokenError};
