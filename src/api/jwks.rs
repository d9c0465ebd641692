//! The public keys of access tokens, for services that verify them on their own.

use worker::Response;

use super::App;
use crate::error::{json_response, Result};

/// How long a client or cache may keep the key set: a new key is published before it signs
/// (see the rotation in docs/deploying.md), so five minutes of staleness costs nothing.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The JWK Set (RFC 7517 §5) of the keys that verify access tokens: with `JWT_ALGORITHM`
/// ES256 or EdDSA, the current key and, while it is set, the previous one; with HS256, no
/// key at all (its key is secret). From the configuration alone, without the database.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "auth",
    description = "The public keys that verify access tokens (RFC 7517 JWK Set): the key that \
                   signs (`JWT_PRIVATE_KEY`) and, during a rotation, the previous one; each \
                   names its `kid`, the RFC 7638 thumbprint a token's header carries. Empty \
                   when tokens are signed with HS256. Cacheable for five minutes.",
    responses((status = 200, description = "JWK Set", content_type = "application/json",
               body = Object, example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
               "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
               "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", "alg": "EdDSA",
               "use": "sig"}]})))
)]
pub async fn jwks(app: &App<'_>) -> Result<Response> {
    let mut response = json_response(200, &app.token_keys().await?.jwks());
    let _ = response.headers_mut().set("Cache-Control", CACHE_CONTROL);
    Ok(response)
}
