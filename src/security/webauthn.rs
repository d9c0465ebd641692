//! Passkeys: the relying party's side of WebAuthn Level 3, pure (no `worker` types).
//!
//! - [`ChallengeKey`]: challenges that need no storage until they are used. A challenge is
//!   32 bytes: 16 random, its expiry, and a MAC under a key derived from `JWT_SECRET` over
//!   those, its purpose and whom it is for (the user registering, or the `mfa_token` of a
//!   login's second step). Asking for options writes nothing; a challenge is made single use
//!   by the statement that records it as used in the batch that writes the result
//!   (src/store/passkeys.rs).
//! - [`verify_registration`] and [`verify_assertion`]: every check of WebAuthn §7.1 and
//!   §7.2 that is ours to make, from the browser's JSON (`credential.toJSON()`):
//!   `clientDataJSON` (type, challenge, origin, no cross-origin client), the authenticator
//!   data (RP ID hash, user present and verified, attested credential data, counter), the
//!   attestation object (CBOR; statements ignored, as `attestation: "none"` asks, but every
//!   format parsed), the COSE key (Ed25519, P-256, RSA of 2048 to 4096 bits, of an offered
//!   algorithm) and the signature.
//!
//! Every input is bounded before it is decoded: a stranger's request costs one bounded
//! parse and one signature check at most.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use minicbor::data::Type;
use minicbor::Decoder;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::signature::{der_to_p1363, PublicKey, SignatureCheck, Unverified};

/// The COSE algorithms offered, in the order of preference the options list them.
pub const ALGORITHMS: [i64; 3] = [EDDSA, ES256, RS256];
pub const EDDSA: i64 = -8;
pub const ES256: i64 = -7;
pub const RS256: i64 = -257;

/// How long a challenge is good for.
pub const CHALLENGE_SECONDS: i64 = 5 * 60;
/// The length of a challenge, in bytes.
pub const CHALLENGE_BYTES: usize = 32;

// Bounds on what a browser sends (base64url-decoded), far above what authenticators produce.
const MAX_CLIENT_DATA: usize = 2048;
const MAX_ATTESTATION_OBJECT: usize = 16 * 1024;
const MAX_AUTHENTICATOR_DATA: usize = 4096;
const MAX_SIGNATURE: usize = 1024;
/// WebAuthn §5.8.3: a credential id is at most 1023 bytes.
pub const MAX_CREDENTIAL_ID: usize = 1023;
const MAX_USER_HANDLE: usize = 64;
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 4096;

// Authenticator data flags (WebAuthn §6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED: u8 = 0x40;
const EXTENSIONS: u8 = 0x80;

/// Why a credential was refused. Each refusal is the same `400` to the client; the variant is
/// for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not the JSON a browser sends, or a field too long, or not base64url.
    Malformed,
    /// CBOR that does not decode, is cut short, or has bytes after its end.
    BadCbor,
    WrongType,
    BadChallenge,
    WrongOrigin,
    CrossOrigin,
    WrongRpId,
    UserNotPresent,
    UserNotVerified,
    /// Registration without attested credential data.
    NoCredential,
    /// A key of a type or curve we do not verify, or RSA outside 2048–4096 bits.
    UnsupportedKey,
    AlgorithmNotOffered,
    BadSignature,
    /// The authenticator's counter did not move forward: a cloned authenticator, maybe.
    CounterRegression,
    UnknownCredential,
}

impl Refusal {
    /// The refusal's name in the log (`passkey_refused`'s `reason`).
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::BadCbor => "cbor",
            Refusal::WrongType => "type",
            Refusal::BadChallenge => "challenge",
            Refusal::WrongOrigin => "origin",
            Refusal::CrossOrigin => "cross_origin",
            Refusal::WrongRpId => "rp_id",
            Refusal::UserNotPresent => "user_presence",
            Refusal::UserNotVerified => "user_verification",
            Refusal::NoCredential => "no_credential",
            Refusal::UnsupportedKey => "key",
            Refusal::AlgorithmNotOffered => "algorithm",
            Refusal::BadSignature => "signature",
            Refusal::CounterRegression => "counter_regression",
            Refusal::UnknownCredential => "unknown_credential",
        }
    }
}

/// The relying party: its RP ID, display name and the origins its pages are served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    pub id: String,
    pub name: String,
    pub origins: Vec<String>,
}

/// What a challenge is for; it only works for that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    Login,
    SecondStep,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Register => b"register",
            Purpose::Login => b"login",
            Purpose::SecondStep => b"second-step",
        }
    }
}

/// The key challenges are sealed with: HMAC-SHA256 of a fixed label under `JWT_SECRET`.
pub struct ChallengeKey([u8; 32]);

const NONCE: usize = 16;
const EXPIRY: usize = 4;
const TAG: usize = CHALLENGE_BYTES - NONCE - EXPIRY;

impl ChallengeKey {
    pub fn derive(secret: &[u8]) -> ChallengeKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key size");
        mac.update(b"recipe-api passkey challenge");
        ChallengeKey(mac.finalize().into_bytes().into())
    }

    fn tag(&self, head: &[u8], purpose: Purpose, bound_to: &[u8]) -> [u8; TAG] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key size");
        mac.update(head);
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(bound_to);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG];
        tag.copy_from_slice(&full[..TAG]);
        tag
    }

    /// A new challenge for `purpose`, for whom `bound_to` names (empty for a sign-in),
    /// good until `now` + [`CHALLENGE_SECONDS`]: 16 random bytes, the expiry (4 bytes, big
    /// endian) and 12 bytes of MAC.
    pub fn issue(
        &self,
        purpose: Purpose,
        bound_to: &[u8],
        now: i64,
    ) -> Result<[u8; CHALLENGE_BYTES], getrandom::Error> {
        let mut challenge = [0u8; CHALLENGE_BYTES];
        getrandom::getrandom(&mut challenge[..NONCE])?;
        let expires = u32::try_from(now + CHALLENGE_SECONDS).unwrap_or(u32::MAX);
        challenge[NONCE..NONCE + EXPIRY].copy_from_slice(&expires.to_be_bytes());
        let tag = self.tag(&challenge[..NONCE + EXPIRY], purpose, bound_to);
        challenge[NONCE + EXPIRY..].copy_from_slice(&tag);
        Ok(challenge)
    }

    /// Whether `challenge` is one of ours, for `purpose` and `bound_to`, unexpired at `now`.
    /// Whether it was used already is the store's to decide. Returns its expiry.
    pub fn open(
        &self,
        challenge: &[u8],
        purpose: Purpose,
        bound_to: &[u8],
        now: i64,
    ) -> Option<i64> {
        if challenge.len() != CHALLENGE_BYTES {
            return None;
        }
        let (head, tag) = challenge.split_at(NONCE + EXPIRY);
        let expected = self.tag(head, purpose, bound_to);
        if !bool::from(expected.ct_eq(tag)) {
            return None;
        }
        let expires = i64::from(u32::from_be_bytes(head[NONCE..].try_into().ok()?));
        (now < expires).then_some(expires)
    }
}

/// Whether `challenge` opens under one of `keys` (the current secret's first).
pub fn open_with_any(
    keys: &[ChallengeKey],
    challenge: &[u8],
    purpose: Purpose,
    bound_to: &[u8],
    now: i64,
) -> Option<i64> {
    keys.iter()
        .find_map(|key| key.open(challenge, purpose, bound_to, now))
}

/// The SHA-256 of a challenge, base64url: what the store records once it is used.
pub fn challenge_hash(challenge: &[u8]) -> String {
    B64.encode(Sha256::digest(challenge))
}

/// base64url, as WebAuthn's JSON forms write binary.
pub fn encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// base64url without padding (a padded value is accepted too), at most `max` bytes decoded.
pub fn decode(text: &str, max: usize) -> Result<Vec<u8>, Refusal> {
    let text = text.trim_end_matches('=');
    if text.len() > max.div_ceil(3) * 4 {
        return Err(Refusal::Malformed);
    }
    let bytes = B64.decode(text).map_err(|_| Refusal::Malformed)?;
    if bytes.len() > max {
        return Err(Refusal::Malformed);
    }
    Ok(bytes)
}

/// `RegistrationResponseJSON`, as `credential.toJSON()` gives it after `create()`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationResponse {
    pub id: String,
    pub raw_id: String,
    pub response: AttestationResponse,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttestationResponse {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub attestation_object: String,
    #[serde(default)]
    pub transports: Vec<String>,
}

/// `AuthenticationResponseJSON`, as `credential.toJSON()` gives it after `get()`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationResponse {
    pub id: String,
    pub raw_id: String,
    pub response: AssertionResponse,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssertionResponse {
    #[serde(rename = "clientDataJSON")]
    pub client_data_json: String,
    pub authenticator_data: String,
    pub signature: String,
    #[serde(default)]
    pub user_handle: Option<String>,
}

impl AuthenticationResponse {
    /// The credential id, for finding the stored passkey: `rawId`, which `id` must equal.
    pub fn credential_id(&self) -> Result<Vec<u8>, Refusal> {
        credential_id(&self.id, &self.raw_id, &self.kind)
    }

    /// The user handle the authenticator returned, if any.
    pub fn user_handle(&self) -> Result<Option<Vec<u8>>, Refusal> {
        match self.response.user_handle.as_deref() {
            None | Some("") => Ok(None),
            Some(handle) => decode(handle, MAX_USER_HANDLE).map(Some),
        }
    }
}

fn credential_id(id: &str, raw_id: &str, kind: &str) -> Result<Vec<u8>, Refusal> {
    if kind != "public-key" || id != raw_id {
        return Err(Refusal::Malformed);
    }
    let bytes = decode(raw_id, MAX_CREDENTIAL_ID)?;
    if bytes.is_empty() {
        return Err(Refusal::Malformed);
    }
    Ok(bytes)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(default)]
    cross_origin: Option<bool>,
    #[serde(default)]
    top_origin: Option<String>,
}

/// Checks `clientDataJSON` (WebAuthn §7.1 steps 5–10, §7.2 steps 10–14) and returns its
/// challenge (checked by `challenge_ok`) and its SHA-256, which the signature covers.
fn check_client_data(
    encoded: &str,
    kind: &str,
    rp: &RelyingParty,
    challenge_ok: impl FnOnce(&[u8]) -> bool,
) -> Result<(Vec<u8>, [u8; 32]), Refusal> {
    let raw = decode(encoded, MAX_CLIENT_DATA)?;
    let data: ClientData = serde_json::from_slice(&raw).map_err(|_| Refusal::Malformed)?;
    if data.kind != kind {
        return Err(Refusal::WrongType);
    }
    let challenge = decode(&data.challenge, CHALLENGE_BYTES).map_err(|_| Refusal::BadChallenge)?;
    if !rp.origins.contains(&data.origin) {
        return Err(Refusal::WrongOrigin);
    }
    if data.cross_origin == Some(true) || data.top_origin.is_some() {
        return Err(Refusal::CrossOrigin);
    }
    if !challenge_ok(&challenge) {
        return Err(Refusal::BadChallenge);
    }
    Ok((challenge, Sha256::digest(&raw).into()))
}

/// Authenticator data (WebAuthn §6.1), parsed.
#[derive(Debug)]
struct AuthenticatorData {
    rp_id_hash: [u8; 32],
    flags: u8,
    sign_count: u32,
    /// With the AT flag: the credential id and its COSE key, as bytes.
    attested: Option<(Vec<u8>, Vec<u8>)>,
}

fn parse_authenticator_data(bytes: &[u8]) -> Result<AuthenticatorData, Refusal> {
    if bytes.len() < 37 || bytes.len() > MAX_AUTHENTICATOR_DATA {
        return Err(Refusal::Malformed);
    }
    let rp_id_hash: [u8; 32] = bytes[..32].try_into().map_err(|_| Refusal::Malformed)?;
    let flags = bytes[32];
    let sign_count = u32::from_be_bytes(bytes[33..37].try_into().map_err(|_| Refusal::Malformed)?);
    let mut rest = &bytes[37..];
    let attested = if flags & ATTESTED != 0 {
        // aaguid (16), credential id length (2), credential id, COSE key.
        if rest.len() < 18 {
            return Err(Refusal::Malformed);
        }
        let length = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        rest = &rest[18..];
        if length == 0 || length > MAX_CREDENTIAL_ID || rest.len() < length {
            return Err(Refusal::Malformed);
        }
        let (id, after) = rest.split_at(length);
        let key_length = cbor_item_length(after)?;
        let (key, after) = after.split_at(key_length);
        rest = after;
        Some((id.to_vec(), key.to_vec()))
    } else {
        None
    };
    if flags & EXTENSIONS != 0 {
        let length = cbor_item_length(rest)?;
        rest = &rest[length..];
    }
    if !rest.is_empty() {
        return Err(Refusal::BadCbor);
    }
    Ok(AuthenticatorData {
        rp_id_hash,
        flags,
        sign_count,
        attested,
    })
}

/// The length of the one CBOR item `bytes` starts with.
fn cbor_item_length(bytes: &[u8]) -> Result<usize, Refusal> {
    let mut decoder = Decoder::new(bytes);
    decoder.skip().map_err(|_| Refusal::BadCbor)?;
    Ok(decoder.position())
}

/// The attestation object's `authData`; `fmt` and `attStmt` are decoded and set aside
/// (`attestation: "none"` asked for none; any format that comes anyway is not a failure).
fn attestation_auth_data(bytes: &[u8]) -> Result<&[u8], Refusal> {
    let bad = |_| Refusal::BadCbor;
    let mut decoder = Decoder::new(bytes);
    let entries = decoder.map().map_err(bad)?.ok_or(Refusal::BadCbor)?;
    let (mut fmt, mut auth_data) = (None, None);
    for _ in 0..entries.min(16) {
        match decoder.str().map_err(bad)? {
            "fmt" if fmt.is_none() => fmt = Some(decoder.str().map_err(bad)?),
            "authData" if auth_data.is_none() => auth_data = Some(decoder.bytes().map_err(bad)?),
            "fmt" | "authData" => return Err(Refusal::BadCbor),
            _ => decoder.skip().map_err(bad)?,
        }
    }
    if entries > 16 || decoder.position() != bytes.len() || fmt.is_none() {
        return Err(Refusal::BadCbor);
    }
    auth_data.ok_or(Refusal::BadCbor)
}

/// Parses a COSE key (RFC 9053, WebAuthn §6.5.1.1): OKP Ed25519 with EdDSA, EC2 P-256
/// with ES256, RSA with RS256 (2048 to 4096 bits, an odd exponent of at most 33 bits, as
/// the `rsa` crate and Web Crypto take). Any other pairing is refused, and so is an
/// algorithm that was not offered. Returns the key, in the form Web Crypto imports, and its
/// COSE algorithm. A P-256 point that is not on the curve is refused.
pub fn public_key_from_cose(bytes: &[u8]) -> Result<(PublicKey, i64), Refusal> {
    let bad = |_| Refusal::BadCbor;
    let mut decoder = Decoder::new(bytes);
    let entries = decoder.map().map_err(bad)?.ok_or(Refusal::BadCbor)?;
    if entries > 16 {
        return Err(Refusal::BadCbor);
    }
    let (mut kty, mut alg, mut crv) = (None, None, None);
    // Byte strings at labels -1, -2 and -3.
    let mut values: [Option<&[u8]>; 3] = [None; 3];
    let mut seen = Vec::with_capacity(entries as usize);
    for _ in 0..entries {
        let label = decoder.i64().map_err(bad)?;
        if seen.contains(&label) {
            return Err(Refusal::BadCbor);
        }
        seen.push(label);
        match label {
            1 => kty = Some(decoder.i64().map_err(bad)?),
            3 => alg = Some(decoder.i64().map_err(bad)?),
            // -1 is `crv` for OKP and EC2, `n` for RSA; -2 is `x` or `e`.
            -1 if decoder.datatype().map_err(bad)? == Type::Bytes => {
                values[0] = Some(decoder.bytes().map_err(bad)?)
            }
            -1 => crv = Some(decoder.i64().map_err(bad)?),
            -2 => values[1] = Some(decoder.bytes().map_err(bad)?),
            -3 => values[2] = Some(decoder.bytes().map_err(bad)?),
            _ => decoder.skip().map_err(bad)?,
        }
    }
    if decoder.position() != bytes.len() {
        return Err(Refusal::BadCbor);
    }
    let [first, second, third] = values;
    let alg = alg.ok_or(Refusal::UnsupportedKey)?;
    if !ALGORITHMS.contains(&alg) {
        return Err(Refusal::AlgorithmNotOffered);
    }
    let key = match (kty, alg, crv) {
        // OKP, Ed25519.
        (Some(1), EDDSA, Some(6)) => {
            let x = second.ok_or(Refusal::UnsupportedKey)?;
            PublicKey::Ed25519(x.try_into().map_err(|_| Refusal::UnsupportedKey)?)
        }
        // EC2, P-256: the uncompressed point x ‖ y.
        (Some(2), ES256, Some(1)) => PublicKey::p256(
            second.ok_or(Refusal::UnsupportedKey)?,
            third.ok_or(Refusal::UnsupportedKey)?,
        )
        .ok_or(Refusal::UnsupportedKey)?,
        (Some(3), RS256, None) => {
            let (n, e) = (
                first.ok_or(Refusal::UnsupportedKey)?,
                second.ok_or(Refusal::UnsupportedKey)?,
            );
            let (n, e) = (without_leading_zeros(n), without_leading_zeros(e));
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bit_length(n))
                || !(2..=33).contains(&bit_length(e))
                || e.last().is_some_and(|last| last & 1 == 0)
            {
                return Err(Refusal::UnsupportedKey);
            }
            PublicKey::Rsa {
                n: n.to_vec(),
                e: e.to_vec(),
            }
        }
        _ => return Err(Refusal::UnsupportedKey),
    };
    Ok((key, alg))
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The bits of a big-endian unsigned number without leading zero bytes.
fn bit_length(big_endian: &[u8]) -> usize {
    match big_endian.first() {
        Some(&first) => big_endian.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

/// A passkey just registered, verified: what to store.
#[derive(Debug)]
pub struct NewPasskey {
    pub credential_id: Vec<u8>,
    /// The COSE key as the authenticator gave it.
    pub public_key: Vec<u8>,
    pub algorithm: i64,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backed_up: bool,
    /// At most 8 known transport names.
    pub transports: Vec<String>,
    /// The challenge it answered, to record as used.
    pub challenge: Vec<u8>,
}

/// Checks the RP ID hash and the flags every ceremony requires.
fn check_authenticator(data: &AuthenticatorData, rp: &RelyingParty) -> Result<(), Refusal> {
    let expected: [u8; 32] = Sha256::digest(rp.id.as_bytes()).into();
    if !bool::from(expected.ct_eq(&data.rp_id_hash)) {
        return Err(Refusal::WrongRpId);
    }
    if data.flags & USER_PRESENT == 0 {
        return Err(Refusal::UserNotPresent);
    }
    if data.flags & USER_VERIFIED == 0 {
        return Err(Refusal::UserNotVerified);
    }
    // Backed up but not backup eligible: not a state an authenticator can be in (§6.1).
    if data.flags & BACKED_UP != 0 && data.flags & BACKUP_ELIGIBLE == 0 {
        return Err(Refusal::Malformed);
    }
    Ok(())
}

const TRANSPORTS: [&str; 6] = ["ble", "hybrid", "internal", "nfc", "smart-card", "usb"];

/// Verifies a registration (WebAuthn §7.1): `challenge_ok` says whether the challenge in
/// `clientDataJSON` is one issued to this user for registering.
pub fn verify_registration(
    rp: &RelyingParty,
    credential: &RegistrationResponse,
    challenge_ok: impl FnOnce(&[u8]) -> bool,
) -> Result<NewPasskey, Refusal> {
    let raw_id = credential_id(&credential.id, &credential.raw_id, &credential.kind)?;
    let (challenge, _) = check_client_data(
        &credential.response.client_data_json,
        "webauthn.create",
        rp,
        challenge_ok,
    )?;
    let object = decode(
        &credential.response.attestation_object,
        MAX_ATTESTATION_OBJECT,
    )?;
    let data = parse_authenticator_data(attestation_auth_data(&object)?)?;
    check_authenticator(&data, rp)?;
    let (id, public_key) = data.attested.ok_or(Refusal::NoCredential)?;
    if id != raw_id {
        return Err(Refusal::Malformed);
    }
    let (_, algorithm) = public_key_from_cose(&public_key)?;
    let mut transports: Vec<String> = TRANSPORTS
        .iter()
        .filter(|known| credential.response.transports.iter().any(|t| t == *known))
        .map(|known| (*known).to_owned())
        .collect();
    transports.dedup();
    Ok(NewPasskey {
        credential_id: id,
        public_key,
        algorithm,
        sign_count: data.sign_count,
        backup_eligible: data.flags & BACKUP_ELIGIBLE != 0,
        backed_up: data.flags & BACKED_UP != 0,
        transports,
        challenge,
    })
}

/// A stored passkey, as an assertion is checked against it.
pub struct StoredPasskey<'a> {
    /// Its COSE key.
    pub public_key: &'a [u8],
}

/// A sign-in with a passkey, verified: its new counter and backup state, and the challenge
/// to record as used.
#[derive(Debug)]
pub struct Assertion {
    pub sign_count: u32,
    pub backed_up: bool,
    pub challenge: Vec<u8>,
}

/// WebAuthn §7.2 step 22: whether the counter moved forward from `stored` to `presented`,
/// or stayed at zero on both sides (authenticators that keep no counter, synced passkeys).
/// The statement that records a sign-in decides by this same rule (src/store/passkeys.rs
/// `signed_in`), so that two sign-ins racing with one counter value cannot both pass.
pub fn counter_advances(stored: u32, presented: u32) -> bool {
    (presented == 0 && stored == 0) || presented > stored
}

/// Verifies an assertion (WebAuthn §7.2) by the passkey `stored` whose credential id the
/// caller looked up: `challenge_ok` says whether the challenge is one issued for this
/// ceremony. Every check but the signature is made here; the signature over
/// `authenticatorData ‖ SHA-256(clientDataJSON)` is the [`Unverified`]'s check (an ES256
/// signature, DER in WebAuthn, converted to `r‖s`; one that is not strict DER is refused).
/// The counter is not compared here: the statement that records the sign-in does that with
/// [`counter_advances`]'s rule.
pub fn verify_assertion(
    rp: &RelyingParty,
    credential: &AuthenticationResponse,
    stored: &StoredPasskey<'_>,
    challenge_ok: impl FnOnce(&[u8]) -> bool,
) -> Result<Unverified<Assertion>, Refusal> {
    credential.credential_id()?;
    let (challenge, client_hash) = check_client_data(
        &credential.response.client_data_json,
        "webauthn.get",
        rp,
        challenge_ok,
    )?;
    let authenticator_data = decode(
        &credential.response.authenticator_data,
        MAX_AUTHENTICATOR_DATA,
    )?;
    let data = parse_authenticator_data(&authenticator_data)?;
    check_authenticator(&data, rp)?;
    let signature = decode(&credential.response.signature, MAX_SIGNATURE)?;
    let (key, _) = public_key_from_cose(stored.public_key)?;
    let signature = match key {
        PublicKey::P256(_) => der_to_p1363(&signature)
            .ok_or(Refusal::BadSignature)?
            .to_vec(),
        _ => signature,
    };
    let mut message = authenticator_data;
    message.extend_from_slice(&client_hash);
    Ok(Unverified::new(
        Assertion {
            sign_count: data.sign_count,
            backed_up: data.flags & BACKED_UP != 0,
            challenge,
        },
        SignatureCheck {
            key,
            message,
            signature,
        },
    ))
}

#[cfg(test)]
pub(crate) mod test_authenticator;

#[cfg(test)]
mod tests;
