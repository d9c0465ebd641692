//! Sign-in through identity providers: what the API reads from them (discovery documents,
//! token endpoint answers, GitHub's user API), what it asks of clients (the one-time code),
//! and what it answers (the provider list, a user's linked identities).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::validation::{json_object, query_values, FieldError, Fields, Invalid};
use super::Email;
use crate::config::ProviderId;
use crate::security::id_token::Identity;
use crate::security::oauth::{is_code_verifier, is_s256_challenge};

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
    /// The document, fetched from `url`, if it is one and is the issuer's own: OpenID
    /// Connect Discovery §4.3 requires its `issuer` to be exactly the one asked, and every
    /// endpoint must be an absolute URL, https when the document came over https.
    pub fn parse(json: &str, issuer: &str, url: &str) -> Result<Discovery, String> {
        let found: Discovery = serde_json::from_str(json)
            .map_err(|e| format!("the discovery document of {issuer} does not parse: {e}"))?;
        if found.issuer != issuer {
            return Err(format!(
                "the discovery document of {issuer} names the issuer {:?}",
                found.issuer
            ));
        }
        let secure = url.starts_with("https://");
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
        hosted_domain: None,
    })
}

/// Whether `provider`'s word that `email` is verified is enough to put its account into an
/// account that already has the address: to link to it, or to take an unverified one over.
/// Google calls an address verified once its owner proved it when making the Google account,
/// also at a domain Google does not host, which may have changed hands since. Google is the
/// authority only for Gmail addresses and for Google Workspace accounts, whose ID tokens
/// carry `hd` (Google's "Authenticate with a backend server" guidance). GitHub verifies its
/// users' addresses; for `oidc`, trusting its `email_verified` is the operator's choice.
pub fn may_claim_existing_account(
    provider: ProviderId,
    email: &Email,
    hosted_domain: Option<&str>,
) -> bool {
    match provider {
        ProviderId::Google => {
            let gmail = email
                .as_str()
                .rsplit_once('@')
                .is_some_and(|(_, domain)| domain.eq_ignore_ascii_case("gmail.com"));
            gmail || hosted_domain.is_some_and(|hd| !hd.is_empty())
        }
        ProviderId::GitHub | ProviderId::Oidc => true,
    }
}

/// A first sign-in's new account, as the provider describes the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Newcomer {
    pub email: Email,
    pub first_name: Option<String>,
    pub surname: Option<String>,
    /// Whether it may be linked to, or take over, an account that already has the email
    /// ([`may_claim_existing_account`]); if not, it may only create one.
    pub may_claim: bool,
}

impl Newcomer {
    /// `None` when the identity has no usable email. A provider's `given_name` and
    /// `family_name` are the names; with only `name`, it is the first name.
    pub fn of(identity: &Identity, provider: ProviderId) -> Option<Newcomer> {
        let email = Email::parse(identity.email.as_deref()?.trim()).ok()?;
        let may_claim =
            may_claim_existing_account(provider, &email, identity.hosted_domain.as_deref());
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
            may_claim,
        })
    }
}

/// What a sign-in's start (`authorize`) is asked: where the browser ends, and the S256
/// challenge of the verifier the page keeps. Both required.
#[derive(Debug, PartialEq, Eq)]
pub struct AuthorizeRequest {
    /// As sent; where it may point is checked against the API's origins. `None` when left
    /// out: the API's own sign-in page, `/login`.
    pub redirect_to: Option<String>,
    /// 43 base64url characters.
    pub challenge: String,
}

impl AuthorizeRequest {
    /// From the decoded query; every refusal at once, at `["query", name]`, as FastAPI
    /// reports them. `code_challenge_method` may be left out, and is otherwise `S256`.
    pub fn from_query(
        pairs: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> Result<AuthorizeRequest, Vec<FieldError>> {
        let [redirect_to, challenge, method] = query_values(
            pairs,
            ["redirect_to", "code_challenge", "code_challenge_method"],
        );
        let mut errors = Vec::new();
        let mut refuse = |name: &str, msg: &str, kind: &str| {
            errors.push(FieldError::new(
                vec!["query".into(), name.into()],
                msg,
                kind,
            ));
        };
        let missing = "field required";
        match challenge.as_deref() {
            None => refuse("code_challenge", missing, "value_error.missing"),
            Some(challenge) if !is_s256_challenge(challenge) => {
                let msg = "must be an S256 challenge: 43 base64url characters";
                refuse("code_challenge", msg, "value_error");
            }
            Some(_) => {}
        }
        if method.is_some_and(|method| method != "S256") {
            refuse(
                "code_challenge_method",
                "only S256 is supported",
                "value_error",
            );
        }
        match challenge {
            Some(challenge) if errors.is_empty() => Ok(AuthorizeRequest {
                redirect_to,
                challenge,
            }),
            _ => Err(errors),
        }
    }
}

/// `{"code": "…", "code_verifier": "…"}`: the one-time code a sign-in's redirect carried,
/// and the verifier of the page's `code_challenge`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CodeExchangeRequest {
    /// From the `#code=` fragment of the redirect: single use, valid 60 seconds.
    code: String,
    /// The verifier whose S256 was the `code_challenge` the sign-in began with (RFC 7636:
    /// 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`).
    #[schema(
        min_length = 43,
        max_length = 128,
        pattern = "^[A-Za-z0-9._~-]{43,128}$"
    )]
    code_verifier: String,
}

/// A code exchange, as sent.
#[derive(Debug, PartialEq, Eq)]
pub struct CodeExchange {
    pub code: String,
    pub verifier: String,
}

impl CodeExchange {
    pub fn from_json(body: &str) -> Result<CodeExchange, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let code = fields.required_str("code");
        let verifier = fields.required_str("code_verifier");
        let verifier = fields.check("code_verifier", verifier, |verifier| {
            if is_code_verifier(verifier) {
                Ok(verifier.to_owned())
            } else {
                Err(Invalid::Other(
                    "must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636)",
                    "value_error.str.regex",
                ))
            }
        });
        let (code, verifier) = fields.finish((code, verifier))?;
        Ok(CodeExchange {
            code: code.to_owned(),
            verifier,
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
    /// Where the button goes, with `?redirect_to=…&code_challenge=…` added: an absolute URL on
    /// the origin the list was asked of, so a frontend on another origin can use it as it is.
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

/// The optional body of `POST /api/v1/auth/oauth/{provider}/link`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LinkRequest {
    /// Where the browser goes when the link is made or refused: this API's origin or one in
    /// BACKEND_CORS_ORIGINS (default `/account` on this origin).
    redirect_to: Option<String>,
}

/// The `redirect_to` of a link request; an empty body is none.
pub fn link_redirect_from_json(body: &str) -> Result<Option<String>, Vec<FieldError>> {
    if body.trim().is_empty() {
        return Ok(None);
    }
    let object = json_object(body)?;
    let mut fields = Fields::new(&object);
    let redirect_to = fields.optional_str("redirect_to").map(str::to_owned);
    fields.finish(Some(()))?;
    Ok(redirect_to)
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
        let url = "https://accounts.google.com/.well-known/openid-configuration";
        let found = Discovery::parse(&doc(issuer, issuer), issuer, url).unwrap();
        assert_eq!(found.token_endpoint, "https://accounts.google.com/token");
        assert!(Discovery::parse(&doc("https://evil.example", issuer), issuer, url).is_err());
        assert!(Discovery::parse(&doc(issuer, "http://accounts.google.com"), issuer, url).is_err());
        assert!(Discovery::parse("{}", issuer, url).is_err());
        assert!(Discovery::parse("<html>", issuer, url).is_err());
        let local = "http://127.0.0.1:8027";
        let local_url = "http://127.0.0.1:8027/.well-known/openid-configuration";
        assert!(Discovery::parse(&doc(local, local), local, local_url).is_ok());
        // Google's document from a stand-in over http: its endpoints may be http too, and
        // its issuer must still be Google's.
        let stand_in = "http://127.0.0.1:8029/google/.well-known/openid-configuration";
        assert!(Discovery::parse(&doc(issuer, local), issuer, stand_in).is_ok());
        assert!(Discovery::parse(&doc(local, local), issuer, stand_in).is_err());
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
    fn google_may_claim_an_existing_account_only_for_gmail_or_a_workspace_account() {
        let email = |text: &str| Email::parse(text).unwrap();
        let google = |address: &str, hd: Option<&str>| {
            may_claim_existing_account(ProviderId::Google, &email(address), hd)
        };
        assert!(google("ada@gmail.com", None));
        assert!(google("Ada@GMail.COM", None), "the domain in any case");
        assert!(google("ada@example.com", Some("example.com")));
        assert!(
            google("ada@other.example", Some("example.com")),
            "a Workspace account's address at another of its domains"
        );
        assert!(!google("ada@example.com", None));
        assert!(!google("ada@example.com", Some("")));
        assert!(!google("ada@gmail.com.example", None));
        assert!(!google("gmail.com@example.com", None));
        assert!(!google("ada@googlemail.example", None));
        for provider in [ProviderId::GitHub, ProviderId::Oidc] {
            assert!(may_claim_existing_account(
                provider,
                &email("ada@example.com"),
                None
            ));
        }
        let mut identity = Identity {
            subject: "s".into(),
            email: Some("ada@example.com".into()),
            email_verified: true,
            given_name: None,
            family_name: None,
            name: None,
            hosted_domain: None,
        };
        assert!(
            !Newcomer::of(&identity, ProviderId::Google)
                .unwrap()
                .may_claim
        );
        assert!(Newcomer::of(&identity, ProviderId::Oidc).unwrap().may_claim);
        identity.hosted_domain = Some("example.com".into());
        assert!(
            Newcomer::of(&identity, ProviderId::Google)
                .unwrap()
                .may_claim
        );
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
            hosted_domain: None,
        };
        let newcomer = Newcomer::of(&identity, ProviderId::Oidc).unwrap();
        assert_eq!(newcomer.email.as_str(), "ada@example.com");
        assert_eq!(newcomer.first_name.as_deref(), Some("Ada"));
        assert_eq!(newcomer.surname.as_deref(), Some("Lovelace"));
        identity.given_name = None;
        identity.family_name = Some(" ".into());
        identity.name = Some("x".repeat(300));
        let newcomer = Newcomer::of(&identity, ProviderId::Oidc).unwrap();
        assert_eq!(newcomer.first_name.unwrap().len(), 256);
        assert_eq!(newcomer.surname, None);
        identity.email = Some("not an email".into());
        assert_eq!(Newcomer::of(&identity, ProviderId::Oidc), None);
        identity.email = None;
        assert_eq!(Newcomer::of(&identity, ProviderId::Oidc), None);
    }

    #[test]
    fn authorize_needs_redirect_to_and_an_s256_challenge() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let request = AuthorizeRequest::from_query([
            ("redirect_to", "https://app.example/"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .unwrap();
        assert_eq!(request.redirect_to.as_deref(), Some("https://app.example/"));
        assert_eq!(request.challenge, challenge);
        assert!(AuthorizeRequest::from_query([
            ("redirect_to", "https://app.example/"),
            ("code_challenge", challenge),
        ])
        .is_ok());
        let refusals = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            AuthorizeRequest::from_query(pairs.iter().copied())
                .unwrap_err()
                .iter()
                .map(|error| {
                    let error = serde_json::to_value(error).unwrap();
                    (
                        error["loc"][1].as_str().unwrap().to_owned(),
                        error["type"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        };
        let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        assert_eq!(
            refusals(&[("redirect_to", "https://app.example/")]),
            owned(&[("code_challenge", "value_error.missing")]),
            "no challenge, no sign-in"
        );
        assert_eq!(
            refusals(&[]),
            owned(&[("code_challenge", "value_error.missing")]),
            "redirect_to may be left out"
        );
        assert_eq!(
            refusals(&[
                ("redirect_to", "https://app.example/"),
                ("code_challenge", "plain-verifier"),
                ("code_challenge_method", "plain"),
            ]),
            owned(&[
                ("code_challenge", "value_error"),
                ("code_challenge_method", "value_error")
            ])
        );
    }

    #[test]
    fn a_code_exchange_needs_a_code_and_its_verifier() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let body = format!(r#"{{"code":"abc","code_verifier":"{verifier}"}}"#);
        let exchange = CodeExchange::from_json(&body).unwrap();
        assert_eq!(
            (exchange.code.as_str(), exchange.verifier.as_str()),
            ("abc", verifier)
        );
        let loc = |body: &str| -> Vec<String> {
            CodeExchange::from_json(body)
                .unwrap_err()
                .iter()
                .map(|error| serde_json::to_value(error).unwrap()["loc"][1].to_string())
                .collect()
        };
        assert_eq!(loc(r#"{"code":"abc"}"#), [r#""code_verifier""#]);
        assert_eq!(
            loc(r#"{"code":"abc","code_verifier":"short"}"#),
            [r#""code_verifier""#]
        );
        assert_eq!(
            loc(r#"{"code":"abc","code_verifier":2}"#),
            [r#""code_verifier""#]
        );
        assert_eq!(loc("{}"), [r#""code""#, r#""code_verifier""#]);
        assert_eq!(
            loc(&format!(r#"{{"code":1,"code_verifier":"{verifier}"}}"#)),
            [r#""code""#]
        );
    }
}
