//! Password hashing, access and refresh tokens. Pure Rust: no `worker` types, tested natively.

pub mod origin;
pub mod password;
pub mod pbkdf2_sha256;
pub mod refresh;
pub mod secret;
pub mod throttle;
pub mod token;

pub use password::{hash_password, verify_password, Verified};
pub use refresh::{new_session_id, refresh_token_hash, RefreshToken};
pub use secret::JwtSecret;
pub use token::{bearer_token, issue_access_token, verify_access_token, Subject, TokenError};
