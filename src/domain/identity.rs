//! Sign-in through identity providers: what the API reads from them (discovery documents,
//! token endpoint answers, GitHub's user API), what it asks of clients (the one-time code),
//! and what it answers (the provider list, a user's linked identities).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validation::{json_object, FieldError, Fields};
use super::Email;
use crate::security::id_token::Identity;

/// The most characters of a provider's name kept as a first name or surname: the schema's
/// limit.
const MAX_NAME_CHARS: usize = 256;

/// The endpoints of an OpenID provider, from its discovery document
/// (`{issuer}/.well-known/openid-configuration`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

impl Discovery {
    /// The document, if it is one and is the issuer's own: OpenID Connect Discovery §4.3
    /// requires its `issuer` to be exactly the one asked, and every endpoint must be an
    /// absolute URL, https when the issuer is.
    pub fn parse(json: &str, issuer: &str) -> Result<Discovery, String> {
        let found: Discovery = serde_json::from_str(json)
            .map_err(|e| format!("the discovery document of {issuer} does not parse: {e}"))?;
        if found.issuer != issuer {
            return Err(format!(
                "the discovery document of {issuer} names the issuer {:?}",
                found.issuer
            ));
        }
        let secure = issuer.starts_with("https://");
        for endpoint in [
            &found.authorization_endpoint,
            &found.token_endpoint,
            &found.jwks_uri,
        ] {
            let ok = url::Url::parse(endpoint)
                .is_ok_and(|url| url.scheme() == "https" || (!secure && url.scheme() == "http"));
            if !ok {
                return Err(format!("{issuer} gives the endpoint {endpoint:?}"));
            }
        }
        Ok(found)
    }
}

/// A token endpoint's answer (RFC 6749 §5): the tokens, or an error. GitHub answers its
/// errors with 200, so the body decides, not the status.
#[derive(Debug, Default, Deserialize)]
pub struct TokenAnswer {
    pub access_token: Option<String>,
    pub id_token: Option<String>,
    pub error: Option<String>,
}

impl TokenAnswer {
    pub fn parse(json: &str) -> TokenAnswer {
        serde_json::from_str(json).unwrap_or_default()
    }
}

/// The identity GitHub's `/user` and `/user/emails` describe: the account's numeric id (its
/// login can change hands) and its primary email, verified only if GitHub says so. `None`
/// when the answers are not GitHub's shapes.
pub fn github_identity(user: &str, emails: &str) -> Option<Identity> {
    #[derive(Deserialize)]
    struct User {
        id: u64,
        login: String,
        name: Option<String>,
    }
    #[derive(Deserialize)]
    struct Entry {
        email: String,
        primary: bool,
        verified: bool,
    }
    let user: User = serde_json::from_str(user).ok()?;
    let emails: Vec<Entry> = serde_json::from_str(emails).ok()?;
    let primary = emails.into_iter().find(|entry| entry.primary);
    let name = user.name.filter(|name| !name.trim().is_empty());
    Some(Identity {
        subject: user.id.to_string(),
        email_verified: primary.as_ref().is_some_and(|entry| entry.verified),
        email: primary.map(|entry| entry.email),
        given_name: None,
        family_name: None,
        name: name.or(Some(user.login)),
    })
}

/// A first sign-in's new account, as the provider describes the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newcomer {
    pub email: Email,
    pub first_name: Option<String>,
    pub surname: Option<String>,
}

impl Newcomer {
    /// `None` when the identity has no usable email. A provider's `given_name` and
    /// `family_name` are the names; with only `name`, it is the first name.
    pub fn of(identity: &Identity) -> Option<Newcomer> {
        let email = Email::parse(identity.email.as_deref()?.trim()).ok()?;
        let clean = |name: &Option<String>| {
            name.as_deref()
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(|name| name.chars().take(MAX_NAME_CHARS).collect::<String>())
        };
        let (first_name, surname) =
            match (clean(&identity.given_name), clean(&identity.family_name)) {
                (None, None) => (clean(&identity.name), None),
                names => names,
            };
        Some(Newcomer {
            email,
            first_name,
            surname,
        })
    }
}

/// `{"code": "…"}`: the one-time code a sign-in's redirect carried.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CodeExchangeRequest {
    /// From the `#code=` fragment of the redirect: single use, valid 60 seconds.
    code: String,
    /// Required when the sign-in began with a `code_challenge`: the verifier it was made
    /// from.
    code_verifier: Option<String>,
}

/// A code exchange, as sent.
#[derive(Debug, PartialEq, Eq)]
pub struct CodeExchange {
    pub code: String,
    pub verifier: Option<String>,
}

impl CodeExchange {
    pub fn from_json(body: &str) -> Result<CodeExchange, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let code = fields.required_str("code");
        let verifier = Some(fields.optional_str("code_verifier"));
        let (code, verifier) = fields.finish((code, verifier))?;
        Ok(CodeExchange {
            code: code.to_owned(),
            verifier: verifier.map(str::to_owned),
        })
    }
}

/// An enabled provider, for a frontend's sign-in buttons.
#[derive(Debug, Serialize, ToSchema)]
pub struct Provider {
    /// `google`, `github` or `oidc`.
    pub id: &'static str,
    /// What its button says.
    pub name: String,
    /// Where the button goes, with `?redirect_to=` (and the PKCE challenge) added: an
    /// absolute URL on the origin the list was asked of, so a frontend on another origin
    /// can use it as it is.
    #[schema(example = "https://api.example.com/api/v1/auth/oauth/github/authorize")]
    pub authorize_url: String,
}

/// A provider account linked to the caller's.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedIdentity {
    /// `google`, `github` or `oidc`.
    pub provider: String,
    /// The email the provider gave when it was linked.
    pub email: String,
    /// When it was linked (RFC 3339, UTC).
    pub created_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discovery_document_must_be_the_issuers_own() {
        let doc = |issuer: &str, endpoint: &str| {
            format!(
                r#"{{"issuer":"{issuer}","authorization_endpoint":"{endpoint}/auth",
                "token_endpoint":"{endpoint}/token","jwks_uri":"{endpoint}/jwks","x":1}}"#
            )
        };
        let issuer = "https://accounts.google.com";
        let found = Discovery::parse(&doc(issuer, issuer), issuer).unwrap();
        assert_eq!(found.token_endpoint, "https://accounts.google.com/token");
        assert!(Discovery::parse(&doc("https://evil.example", issuer), issuer).is_err());
        assert!(Discovery::parse(&doc(issuer, "http://accounts.google.com"), issuer).is_err());
        assert!(Discovery::parse("{}", issuer).is_err());
        assert!(Discovery::parse("<html>", issuer).is_err());
        let local = "http://127.0.0.1:8027";
        assert!(Discovery::parse(&doc(local, local), local).is_ok());
    }

    #[test]
    fn token_answers_are_read_from_the_body() {
        let answer =
            TokenAnswer::parse(r#"{"access_token":"a","id_token":"b","token_type":"Bearer"}"#);
        assert_eq!(answer.access_token.as_deref(), Some("a"));
        assert_eq!(answer.id_token.as_deref(), Some("b"));
        let refused = TokenAnswer::parse(r#"{"error":"bad_verification_code"}"#);
        assert_eq!(refused.error.as_deref(), Some("bad_verification_code"));
        assert!(TokenAnswer::parse("not json").access_token.is_none());
    }

    #[test]
    fn github_gives_its_id_and_primary_email() {
        let user = r#"{"id":583231,"login":"octocat","name":"The Octocat","email":null}"#;
        let emails = r#"[{"email":"old@example.com","primary":false,"verified":true,"visibility":null},
            {"email":"octo@example.com","primary":true,"verified":true,"visibility":"public"}]"#;
        let identity = github_identity(user, emails).unwrap();
        assert_eq!(identity.subject, "583231");
        assert_eq!(identity.email.as_deref(), Some("octo@example.com"));
        assert!(identity.email_verified);
        assert_eq!(identity.name.as_deref(), Some("The Octocat"));

        let unverified = r#"[{"email":"octo@example.com","primary":true,"verified":false},
            {"email":"old@example.com","primary":false,"verified":true}]"#;
        let identity = github_identity(user, unverified).unwrap();
        assert_eq!(identity.email.as_deref(), Some("octo@example.com"));
        assert!(!identity.email_verified);
        let identity = github_identity(user, "[]").unwrap();
        assert_eq!((identity.email, identity.email_verified), (None, false));
        assert_eq!(github_identity("{}", emails), None);
        assert_eq!(github_identity(user, "{}"), None);
        let nameless = r#"{"id":1,"login":"octocat","name":null}"#;
        let identity = github_identity(nameless, emails).unwrap();
        assert_eq!(identity.name.as_deref(), Some("octocat"));
    }

    #[test]
    fn a_newcomer_takes_the_providers_names() {
        let mut identity = Identity {
            subject: "s".into(),
            email: Some(" ada@example.com ".into()),
            email_verified: true,
            given_name: Some("Ada".into()),
            family_name: Some("Lovelace".into()),
            name: Some("Ada Lovelace".into()),
        };
        let newcomer = Newcomer::of(&identity).unwrap();
        assert_eq!(newcomer.email.as_str(), "ada@example.com");
        assert_eq!(newcomer.first_name.as_deref(), Some("Ada"));
        assert_eq!(newcomer.surname.as_deref(), Some("Lovelace"));
        identity.given_name = None;
        identity.family_name = Some(" ".into());
        identity.name = Some("x".repeat(300));
        let newcomer = Newcomer::of(&identity).unwrap();
        assert_eq!(newcomer.first_name.unwrap().len(), 256);
        assert_eq!(newcomer.surname, None);
        identity.email = Some("not an email".into());
        assert_eq!(Newcomer::of(&identity), None);
        identity.email = None;
        assert_eq!(Newcomer::of(&identity), None);
    }

    #[test]
    fn a_code_exchange_needs_a_code_and_may_have_a_verifier() {
        let exchange = CodeExchange::from_json(r#"{"code":"abc"}"#).unwrap();
        assert_eq!((exchange.code.as_str(), exchange.verifier), ("abc", None));
        let exchange = CodeExchange::from_json(r#"{"code":"abc","code_verifier":"v"}"#).unwrap();
        assert_eq!(exchange.verifier.as_deref(), Some("v"));
        assert!(CodeExchange::from_json("{}").is_err());
        assert!(CodeExchange::from_json(r#"{"code":1}"#).is_err());
        assert!(CodeExchange::from_json(r#"{"code":"abc","code_verifier":2}"#).is_err());
    }
}
