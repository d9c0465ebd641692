//! Passkeys' requests and answers: WebAuthn's JSON forms as the browser's own API reads and
//! writes them (`PublicKeyCredential.parseCreationOptionsFromJSON`, `credential.toJSON()`),
//! and the passkeys a user sees. Parsed here; verified in src/security/webauthn.rs.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::mfa::SecondFactorCode;
use super::validation::{bounded_text, json_object, FieldError, Fields, Invalid};
use crate::security::webauthn::{
    encode, AuthenticationResponse, RegistrationResponse, ALGORITHMS, CHALLENGE_SECONDS,
};

/// The longest passkey name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// How long the browser may take over a ceremony, in milliseconds: the challenge's life.
const TIMEOUT_MS: i64 = CHALLENGE_SECONDS * 1000;

/// A user's passkey, as they see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Passkey {
    pub id: i64,
    /// The user's label; by default the device it was registered from.
    pub name: String,
    /// The credential id, base64url (as `credential.id`).
    pub credential_id: String,
    /// How the browser said it can reach the authenticator (`internal`, `hybrid`, `usb`…).
    pub transports: Vec<String>,
    /// Whether the passkey may be synced to the user's other devices (the BE flag).
    pub backup_eligible: bool,
    /// Whether it is synced (the BS flag, as last seen).
    pub backed_up: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The last sign-in with it (RFC 3339, UTC); `null` before the first.
    pub last_used_at: Option<String>,
}

/// `{"credential": {…}, "name": "optional label"}`: registering a passkey.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasskeyRegisterRequest {
    /// `credential.toJSON()` of the `PublicKeyCredential` that `navigator.credentials.create`
    /// gave (a `RegistrationResponseJSON`).
    #[schema(value_type = Object)]
    credential: Value,
    /// At most 64 characters; by default the device (from the User-Agent).
    name: Option<String>,
}

/// `{"credential": {…}}`: signing in with a passkey.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasskeyLoginRequest {
    /// `credential.toJSON()` of what `navigator.credentials.get` gave (an
    /// `AuthenticationResponseJSON`).
    #[schema(value_type = Object)]
    credential: Value,
}

/// `{"name": "…"}`: renaming a passkey.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasskeyRenameRequest {
    /// 1 to 64 characters.
    name: String,
}

/// `{"mfa_token": "…"}`: options for answering a login's second step with a passkey.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MfaPasskeyOptionsRequest {
    /// The `mfa_token` the login answered with.
    mfa_token: String,
}

fn credential<T: DeserializeOwned>(
    fields: &mut Fields<'_>,
    object: &Map<String, Value>,
) -> Option<T> {
    match object.get("credential") {
        None | Some(Value::Null) => {
            fields.refuse_missing("credential");
            None
        }
        Some(value) => match serde_json::from_value(value.clone()) {
            Ok(parsed) => Some(parsed),
            Err(_) => {
                fields.refuse(
                    "credential",
                    Invalid::Other(
                        "must be a PublicKeyCredential's toJSON()",
                        "value_error.credential",
                    ),
                );
                None
            }
        },
    }
}

fn name(typed: &str) -> Result<String, Invalid> {
    let name = bounded_text(typed.trim(), MAX_NAME_CHARS)?;
    if name.is_empty() {
        return Err(Invalid::TooShort(1));
    }
    Ok(name)
}

/// The credential and optional name of a registration.
pub fn register_from_json(
    body: &str,
) -> Result<(RegistrationResponse, Option<String>), Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let credential = credential(&mut fields, &object);
    let typed = fields.optional_str("name");
    let name = match typed {
        None => Some(None),
        Some(typed) => fields.check("name", Some(typed), name).map(Some),
    };
    fields.finish((credential, name))
}

/// The credential of a sign-in.
pub fn login_from_json(body: &str) -> Result<AuthenticationResponse, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let credential = credential(&mut fields, &object);
    fields.finish(credential)
}

/// The new name of a rename.
pub fn rename_from_json(body: &str) -> Result<String, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let typed = fields.required_str("name");
    let name = fields.check("name", typed, name);
    fields.finish(name)
}

/// The `mfa_token` of a request for second-step options.
pub fn mfa_token_from_json(body: &str) -> Result<String, Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let token = fields.required_str("mfa_token");
    fields.finish(token).map(str::to_owned)
}

/// How a login's second step is answered.
#[derive(Debug)]
pub enum SecondStepAnswer {
    Code(SecondFactorCode),
    Passkey(Box<AuthenticationResponse>),
}

/// `{mfa_token, code}` or `{mfa_token, credential}`: exactly one of the two answers.
pub fn second_step_from_json(body: &str) -> Result<(String, SecondStepAnswer), Vec<FieldError>> {
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let token = fields.required_str("mfa_token");
    let answer = match (object.get("code"), object.get("credential")) {
        (Some(_), Some(Value::Object(_))) => {
            fields.refuse(
                "credential",
                Invalid::Other(
                    "send a code or a credential, not both",
                    "value_error.answer",
                ),
            );
            None
        }
        (_, Some(Value::Object(_))) => {
            credential(&mut fields, &object).map(|c| SecondStepAnswer::Passkey(Box::new(c)))
        }
        _ => {
            let code = fields.required_str("code");
            fields
                .check("code", code, SecondFactorCode::parse)
                .map(SecondStepAnswer::Code)
        }
    };
    let (token, answer) = fields.finish((token, answer))?;
    Ok((token.to_owned(), answer))
}

/// `{"type": "public-key", "alg": …}`.
#[derive(Serialize, ToSchema)]
pub struct CredentialParameter {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub alg: i64,
}

/// A credential the browser should exclude or allow.
#[derive(Serialize, ToSchema)]
pub struct CredentialDescriptor {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// base64url.
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
}

impl CredentialDescriptor {
    pub fn new(id: String, transports: &str) -> CredentialDescriptor {
        CredentialDescriptor {
            kind: "public-key",
            id,
            transports: transports
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct RelyingPartyEntity {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// The user's passkey handle (base64url of 32 random bytes), never their numeric id.
    pub id: String,
    pub name: String,
    pub display_name: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    pub resident_key: &'static str,
    pub require_resident_key: bool,
    pub user_verification: &'static str,
}

/// `PublicKeyCredentialCreationOptionsJSON`: for
/// `PublicKeyCredential.parseCreationOptionsFromJSON`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptions {
    pub rp: RelyingPartyEntity,
    pub user: UserEntity,
    /// base64url of 32 bytes; good once, for 5 minutes, for this user.
    pub challenge: String,
    pub pub_key_cred_params: Vec<CredentialParameter>,
    pub timeout: i64,
    pub exclude_credentials: Vec<CredentialDescriptor>,
    pub authenticator_selection: AuthenticatorSelection,
    pub attestation: &'static str,
}

impl CreationOptions {
    pub fn new(
        rp: RelyingPartyEntity,
        user: UserEntity,
        challenge: &[u8],
        exclude_credentials: Vec<CredentialDescriptor>,
    ) -> CreationOptions {
        CreationOptions {
            rp,
            user,
            challenge: encode(challenge),
            pub_key_cred_params: ALGORITHMS
                .iter()
                .map(|&alg| CredentialParameter {
                    kind: "public-key",
                    alg,
                })
                .collect(),
            timeout: TIMEOUT_MS,
            exclude_credentials,
            authenticator_selection: AuthenticatorSelection {
                resident_key: "required",
                require_resident_key: true,
                user_verification: "required",
            },
            attestation: "none",
        }
    }
}

/// `PublicKeyCredentialRequestOptionsJSON`: for
/// `PublicKeyCredential.parseRequestOptionsFromJSON`. An empty `allowCredentials` lets the
/// browser offer any of the user's passkeys for this site (username-less, and autofill with
/// `mediation: "conditional"`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    /// base64url of 32 bytes; good once, for 5 minutes.
    pub challenge: String,
    pub rp_id: String,
    pub allow_credentials: Vec<CredentialDescriptor>,
    pub user_verification: &'static str,
    pub timeout: i64,
}

impl RequestOptions {
    pub fn new(rp_id: String, challenge: &[u8], allow: Vec<CredentialDescriptor>) -> Self {
        RequestOptions {
            challenge: encode(challenge),
            rp_id,
            allow_credentials: allow,
            user_verification: "required",
            timeout: TIMEOUT_MS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_registration_needs_a_credential_and_may_have_a_name() {
        let credential = json!({"id": "AQ", "rawId": "AQ", "type": "public-key",
            "response": {"clientDataJSON": "e30", "attestationObject": "oA"}});
        let body = json!({"credential": credential, "name": "  Work laptop "}).to_string();
        let (_, name) = register_from_json(&body).unwrap();
        assert_eq!(name.as_deref(), Some("Work laptop"));
        let (_, name) = register_from_json(&json!({"credential": credential}).to_string()).unwrap();
        assert_eq!(name, None);
        for body in [
            json!({}),
            json!({"credential": "text"}),
            json!({"credential": {"id": "AQ"}}),
            json!({"credential": credential, "name": ""}),
            json!({"credential": credential, "name": "x".repeat(65)}),
        ] {
            assert!(register_from_json(&body.to_string()).is_err(), "{body}");
        }
    }

    #[test]
    fn a_second_step_is_answered_with_a_code_or_a_credential_not_both() {
        let credential = json!({"id": "AQ", "rawId": "AQ", "type": "public-key",
            "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA"}});
        let (_, answer) =
            second_step_from_json(&json!({"mfa_token": "t", "code": "123456"}).to_string())
                .unwrap();
        assert!(matches!(answer, SecondStepAnswer::Code(_)));
        let (token, answer) =
            second_step_from_json(&json!({"mfa_token": "t", "credential": credential}).to_string())
                .unwrap();
        assert_eq!(token, "t");
        assert!(matches!(answer, SecondStepAnswer::Passkey(_)));
        let both = json!({"mfa_token": "t", "code": "123456", "credential": credential});
        assert!(second_step_from_json(&both.to_string()).is_err());
        let errors = second_step_from_json(&json!({"mfa_token": "t"}).to_string()).unwrap_err();
        assert_eq!(errors[0].loc, [json!("body"), json!("code")]);
    }

    #[test]
    fn options_are_in_webauthns_json_forms() {
        let options = CreationOptions::new(
            RelyingPartyEntity {
                id: "localhost".into(),
                name: "Recipe API".into(),
            },
            UserEntity {
                id: "aGFuZGxl".into(),
                name: "a@example.com".into(),
                display_name: "A".into(),
            },
            &[7; 32],
            vec![CredentialDescriptor::new("AQ".into(), "internal,hybrid")],
        );
        let value = serde_json::to_value(&options).unwrap();
        assert_eq!(
            value["pubKeyCredParams"][0],
            json!({"type": "public-key", "alg": -8})
        );
        assert_eq!(value["pubKeyCredParams"][1]["alg"], -7);
        assert_eq!(value["pubKeyCredParams"][2]["alg"], -257);
        assert_eq!(value["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(
            value["authenticatorSelection"]["userVerification"],
            "required"
        );
        assert_eq!(value["attestation"], "none");
        assert_eq!(value["user"]["displayName"], "A");
        assert_eq!(
            value["excludeCredentials"][0]["transports"],
            json!(["internal", "hybrid"])
        );
        assert_eq!(value["challenge"].as_str().unwrap().len(), 43);
        let request =
            serde_json::to_value(RequestOptions::new("localhost".into(), &[1; 32], vec![]))
                .unwrap();
        assert_eq!(request["allowCredentials"], json!([]));
        assert_eq!(request["userVerification"], "required");
        assert_eq!(request["rpId"], "localhost");
    }
}
