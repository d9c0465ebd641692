//! Asymmetric signatures through workerd's Web Crypto (`crypto.subtle`): the checks and signing
//! inputs the pure code describes (src/security/signature.rs), verified or signed here, so
//! the wasm carries no Ed25519, P-256 or RSA code.
//!
//! Imported keys are kept per isolate, up to [`MAX_CACHED`] of each kind: an access-token
//! request with ES256 or EdDSA then costs one `verify` and no import, and the public key of
//! `JWT_PRIVATE_KEY` is derived once per isolate, not per request.

use std::cell::RefCell;
use std::collections::HashMap;

use worker::js_sys::{self, Array, Object, Reflect, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Crypto, CryptoKey, SubtleCrypto};

use crate::error::{ApiError, Result};
use crate::security::signature::{
    Algorithm, BadSignature, PublicKey, SignatureCheck, SigningInput, SigningKey, Unverified,
};
use crate::security::{AccessToken, KeysToComplete, TokenKeys};

/// Imported keys kept per isolate, of each kind; the cache starts again when full. The
/// settings hold two private keys at most; the rest are passkeys' and providers' keys.
const MAX_CACHED: usize = 32;

thread_local! {
    static VERIFYING: RefCell<HashMap<PublicKey, CryptoKey>> = RefCell::new(HashMap::new());
    static SIGNING: RefCell<HashMap<Vec<u8>, (CryptoKey, PublicKey)>> =
        RefCell::new(HashMap::new());
}

fn subtle() -> std::result::Result<SubtleCrypto, JsValue> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into())?;
    Ok(crypto.unchecked_into::<Crypto>().subtle())
}

fn js_error(context: &str, error: JsValue) -> ApiError {
    let text = error
        .as_string()
        .or_else(|| {
            js_sys::Reflect::get(&error, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| format!("{error:?}"));
    ApiError::internal(context, text)
}

/// `{name, ...}` for `importKey`, `sign` and `verify`.
fn algorithm(algorithm: Algorithm) -> Object {
    let object = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&object, &key.into(), &value);
    };
    match algorithm {
        Algorithm::Ed25519 => set("name", "Ed25519".into()),
        Algorithm::Es256 => {
            set("name", "ECDSA".into());
            set("namedCurve", "P-256".into());
            set("hash", "SHA-256".into());
        }
        Algorithm::Rs256 => {
            set("name", "RSASSA-PKCS1-v1_5".into());
            set("hash", "SHA-256".into());
        }
    }
    object
}

fn usages(usage: &str) -> Array {
    Array::of1(&usage.into())
}

async fn promised(
    promise: std::result::Result<js_sys::Promise, JsValue>,
) -> Result<JsValue, JsValue> {
    JsFuture::from(promise?).await
}

/// Imports a public key to verify with; `Err` for one Web Crypto refuses (a P-256 point that
/// is not on the curve, an RSA key it cannot use).
async fn verifying_key(key: &PublicKey) -> std::result::Result<CryptoKey, JsValue> {
    if let Some(found) = VERIFYING.with(|cache| cache.borrow().get(key).cloned()) {
        return Ok(found);
    }
    let subtle = subtle()?;
    let algorithm = algorithm(key.algorithm());
    let imported = match key {
        PublicKey::Ed25519(raw) => raw_key(&subtle, raw, &algorithm),
        PublicKey::P256(raw) => raw_key(&subtle, raw, &algorithm),
        PublicKey::Rsa { n, e } => {
            let jwk = js_object(&PublicKey::rsa_jwk(n, e));
            subtle.import_key_with_object("jwk", &jwk, &algorithm, true, &usages("verify"))
        }
    };
    let imported: CryptoKey = promised(imported).await?.unchecked_into();
    VERIFYING.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key.clone(), imported.clone());
    });
    Ok(imported)
}

/// `importKey("raw", ...)` of a public key, to verify with.
fn raw_key(
    subtle: &SubtleCrypto,
    raw: &[u8],
    algorithm: &Object,
) -> std::result::Result<js_sys::Promise, JsValue> {
    subtle.import_key_with_object(
        "raw",
        &Uint8Array::from(raw),
        algorithm,
        true,
        &usages("verify"),
    )
}

/// A JSON object as a JS object, for `importKey("jwk", ...)`.
fn js_object(value: &serde_json::Value) -> Object {
    js_sys::JSON::parse(&value.to_string())
        .map(JsCast::unchecked_into)
        .unwrap_or_else(|_| Object::new())
}

/// Whether the check holds. A key Web Crypto will not import, or a signature it will not
/// read, is a check that fails.
pub async fn verify(check: &SignatureCheck) -> Result<bool> {
    let subtle = subtle().map_err(|e| js_error("crypto.subtle", e))?;
    let Ok(key) = verifying_key(&check.key).await else {
        return Ok(false);
    };
    let verified = subtle.verify_with_object_and_u8_array_and_u8_array(
        &algorithm(check.key.algorithm()),
        &key,
        &check.signature,
        &check.message,
    );
    Ok(promised(verified)
        .await
        .ok()
        .and_then(|answer| answer.as_bool())
        .unwrap_or(false))
}

/// The value, if its signature verifies (an HS256 token's, checked already, comes straight
/// out).
pub async fn verified<T>(
    unverified: Unverified<T>,
) -> Result<std::result::Result<T, BadSignature>> {
    let holds = match unverified.check() {
        Some(check) => verify(check).await?,
        None => true,
    };
    Ok(unverified.verdict(holds))
}

/// The private key, imported to sign, and its public key (exported as a JWK).
async fn signing_key(key: &SigningKey) -> Result<(CryptoKey, PublicKey)> {
    if let Some(found) = SIGNING.with(|cache| cache.borrow().get(&key.pkcs8).cloned()) {
        return Ok(found);
    }
    let subtle = subtle().map_err(|e| js_error("crypto.subtle", e))?;
    let algorithm = algorithm(key.algorithm);
    let misconfigured = |why: &str| {
        ApiError::Misconfigured(format!(
            "JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_PREVIOUS is malformed ({why}): it must be a \
             P-256 or Ed25519 private key, as a PKCS#8 PEM or a private JWK"
        ))
    };
    // Extractable, for its public half only: exported once, here, never answered with.
    let imported = subtle.import_key_with_object(
        "pkcs8",
        &Uint8Array::from(&key.pkcs8[..]),
        &algorithm,
        true,
        &usages("sign"),
    );
    let private: CryptoKey = promised(imported)
        .await
        .map_err(|_| misconfigured("Web Crypto does not import it"))?
        .unchecked_into();
    let jwk = promised(subtle.export_key("jwk", &private))
        .await
        .map_err(|e| js_error("exporting a public key", e))?;
    let part = |name: &str| {
        Reflect::get(&jwk, &name.into())
            .ok()
            .and_then(|value| value.as_string())
            .and_then(|text| crate::security::webauthn::decode(&text, 32).ok())
    };
    let public = match key.algorithm {
        Algorithm::Ed25519 => part("x")
            .and_then(|x| <[u8; 32]>::try_from(x).ok())
            .map(PublicKey::Ed25519),
        Algorithm::Es256 => part("x")
            .zip(part("y"))
            .and_then(|(x, y)| PublicKey::p256(&x, &y)),
        Algorithm::Rs256 => None,
    }
    .ok_or_else(|| misconfigured("no public key"))?;
    SIGNING.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key.pkcs8.clone(), (private.clone(), public.clone()));
    });
    Ok((private, public))
}

/// The compact JWS: the input signed by its key.
pub async fn sign(input: SigningInput) -> Result<String> {
    let (key, _) = signing_key(&input.key).await?;
    let subtle = subtle().map_err(|e| js_error("crypto.subtle", e))?;
    let signed = subtle.sign_with_object_and_u8_array(
        &algorithm(input.key.algorithm),
        &key,
        input.input.as_bytes(),
    );
    let signature = promised(signed)
        .await
        .map_err(|e| js_error("signing an access token", e))?;
    let signature = Uint8Array::new(&signature).to_vec();
    Ok(input.token(&signature))
}

/// An access token, signed.
pub async fn access_token(token: AccessToken) -> Result<String> {
    match token {
        AccessToken::Signed(token) => Ok(token),
        AccessToken::ToSign(input) => sign(input).await,
    }
}

/// The access tokens' keys with the public keys of `JWT_PRIVATE_KEY` and
/// `JWT_PRIVATE_KEY_PREVIOUS` derived (once per isolate).
pub async fn complete(keys: KeysToComplete) -> Result<TokenKeys> {
    let mut derived = Vec::with_capacity(keys.private_keys().len());
    for private in keys.private_keys() {
        derived.push(signing_key(private.signing_key()).await?.1);
    }
    keys.complete(derived).map_err(ApiError::Misconfigured)
}
