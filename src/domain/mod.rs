//! Parsed request types. Handlers only ever hold these, so an unchecked string cannot reach
//! the store. Pure Rust: no `worker` types, tested natively.

pub mod account;
pub mod device;
pub mod email;
pub mod email_sign_in;
pub mod identity;
pub mod login;
pub mod mfa;
pub mod passkey;
pub mod password;
pub mod recipe;
pub mod recovery;
pub mod user;
pub mod validation;

pub use device::{Device, SignedInDevice, SignedInDevices};
pub use email::Email;
pub use login::LoginForm;
pub use password::Password;
pub use recipe::{NewRecipe, Recipe, RecipeUpdate, RecipeUrl, SearchQuery};
pub use user::{Me, NewUser, User};
