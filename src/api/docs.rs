//! The OpenAPI document at `/api/v1/openapi.json`, and the Swagger UI page that shows it at
//! `/docs`.
//!
//! The document is generated from the handlers' `#[utoipa::path]` annotations and the types'
//! `ToSchema` derives, natively, by a unit test below, into
//! `assets/api/v1/openapi.json`, which Cloudflare's static assets serve ahead of the worker:
//! it is in no isolate's wasm and costs no worker CPU. Building it with utoipa inside the
//! worker cost about 30 KiB gzip of wasm and the time to build it in every new isolate;
//! embedding the committed file, 18 KiB gzip.
//!
//! A new operation: annotate its handler with `#[utoipa::path(...)]` as the others are, list
//! it in `paths(...)` below (and a new body type in `schemas(...)`), then regenerate with
//!
//! ```text
//! UPDATE_EXPECT=1 cargo test --lib api::docs
//! ```
//!
//! and commit `assets/api/v1/openapi.json`. `cargo test` fails while the file and the
//! annotations disagree.

use worker::Response;

use crate::error::{ApiError, Result};

/// `GET /api/v1/openapi.json` reaches the worker only where the static assets are not
/// deployed with it: the document is one of them (see the module's comment).
pub fn openapi_json() -> Result<Response> {
    Err(ApiError::NotFound(
        "The OpenAPI document is served from the static assets (assets/api/v1/openapi.json)".into(),
    ))
}

/// Swagger UI, served from our own static assets (no CDN): its script and styles come from
/// `/docs/` (see `assets/`), so the page works offline and under a strict CSP.
pub fn page() -> Result<Response> {
    let mut response = Response::from_html(include_str!("../../templates/docs.html"))
        .map_err(|e| ApiError::internal("docs page", e))?;
    let _ = response.headers_mut().set(
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    Ok(response)
}

/// What the document is generated from: every documented operation and schema. Native tests
/// only; the worker never builds it.
#[cfg(test)]
mod document {
    use strum::IntoEnumIterator;
    use utoipa::openapi::security::{Flow, OAuth2, Password, Scopes, SecurityScheme};
    use utoipa::openapi::{RefOr, Response};
    use utoipa::{Modify, OpenApi};

    use crate::api::routes::Route;
    use crate::api::{
        auth, email_links, email_sign_in, health, jwks, mfa, oauth, pages, passkeys, recipes,
        sessions, users,
    };
    use crate::domain::account::{
        ManagedUser, PasswordChangeRequest, PasswordResetRequest, RefreshRequest, UserList,
        UserStatusRequest,
    };
    use crate::domain::email_sign_in::{EmailSignInRequest, EmailSignInVerifyRequest};
    use crate::domain::identity::{CodeExchangeRequest, LinkRequest, LinkedIdentity, Provider};
    use crate::domain::login::LoginRequest;
    use crate::domain::mfa::{
        MfaVerifyRequest, TotpDisableRequest, TotpEnableRequest, TotpSetupRequest,
    };
    use crate::domain::passkey::{
        AuthenticatorSelection, CreationOptions, CredentialDescriptor, CredentialParameter,
        MfaPasskeyOptionsRequest, Passkey, PasskeyLoginRequest, PasskeyRegisterRequest,
        PasskeyRenameRequest, RelyingPartyEntity, RequestOptions, UserEntity,
    };
    use crate::domain::recipe::{NewRecipeRequest, RecipeUpdateRequest};
    use crate::domain::recovery::{
        NewPasswordRequest, PasswordRecoveryRequest, VerifyEmailRequest,
    };
    use crate::domain::user::{NameChangeRequest, SignupRequest};
    use crate::domain::validation::{FieldError, LocItem};
    use crate::domain::{Me, Recipe, SignedInDevice, SignedInDevices, User};
    use crate::error::{Detail, ValidationErrors};

    /// The name protected operations refer to; Swagger UI's Authorize button logs in with it.
    pub const SECURITY_SCHEME: &str = "OAuth2PasswordBearer";

    #[derive(OpenApi)]
    #[openapi(
        info(
            title = "Recipe API",
            description = "Recipes with JWT authentication, on Cloudflare Workers and D1. \
                           Press Authorize and log in with your email and password."
        ),
        paths(
            pages::home,
            pages::reset_password,
            pages::verify_email,
            pages::login,
            pages::signup,
            pages::forgot_password,
            pages::account,
            auth::signup,
            auth::login,
            auth::refresh,
            auth::logout,
            auth::change_password,
            auth::me,
            auth::update_me,
            auth::delete_me,
            sessions::list,
            sessions::end_one,
            sessions::end_others,
            email_links::password_recovery,
            email_links::reset_forgotten_password,
            email_links::verify_email,
            email_links::resend_verification,
            email_sign_in::send,
            email_sign_in::verify,
            mfa::setup,
            mfa::enable,
            mfa::disable,
            mfa::verify,
            passkeys::second_step_options,
            passkeys::register_options,
            passkeys::register,
            passkeys::list,
            passkeys::rename,
            passkeys::delete,
            passkeys::login_options,
            passkeys::login,
            oauth::providers,
            oauth::authorize,
            oauth::callback,
            oauth::token,
            oauth::link,
            oauth::list_identities,
            oauth::unlink_identity,
            recipes::search,
            recipes::mine,
            recipes::create,
            recipes::update,
            recipes::get,
            recipes::delete,
            users::list,
            users::get,
            users::update,
            users::delete,
            users::reset_password,
            jwks::jwks,
            users::reset_second_factor,
            health::live,
            health::ready,
        ),
        components(schemas(
            User,
            Me,
            Recipe,
            SignupRequest,
            NameChangeRequest,
            LoginRequest,
            NewRecipeRequest,
            RecipeUpdateRequest,
            auth::Token,
            auth::LoginAnswer,
            auth::MfaChallenge,
            mfa::TotpSetup,
            mfa::TotpEnabled,
            TotpSetupRequest,
            TotpEnableRequest,
            TotpDisableRequest,
            MfaVerifyRequest,
            Passkey,
            PasskeyRegisterRequest,
            PasskeyLoginRequest,
            PasskeyRenameRequest,
            MfaPasskeyOptionsRequest,
            CreationOptions,
            RequestOptions,
            CredentialParameter,
            CredentialDescriptor,
            RelyingPartyEntity,
            UserEntity,
            AuthenticatorSelection,
            CodeExchangeRequest,
            LinkRequest,
            oauth::LinkStart,
            Provider,
            LinkedIdentity,
            RefreshRequest,
            PasswordChangeRequest,
            PasswordResetRequest,
            PasswordRecoveryRequest,
            NewPasswordRequest,
            VerifyEmailRequest,
            EmailSignInRequest,
            EmailSignInVerifyRequest,
            UserStatusRequest,
            ManagedUser,
            UserList,
            SignedInDevice,
            SignedInDevices,
            recipes::Results,
            health::Health,
            Detail,
            ValidationErrors,
            FieldError,
            LocItem,
        )),
        modifiers(&PasswordFlow, &WriteLimit),
        tags(
            (name = "auth", description = "Sign up, log in, refresh, log out; one's own account"),
            (name = "passkeys", description = "Passkeys (WebAuthn): register them, sign in \
             with one and no password"),
            (name = "recipes", description = "Read, search, submit and edit recipes"),
            (name = "users", description = "User management, for superusers"),
            (name = "pages", description = "HTML pages"),
            (name = "health", description = "Probes for uptime checks and load balancers"),
        )
    )]
    pub struct ApiDoc;

    /// The OAuth2 password flow against our login route, as FastAPI's `OAuth2PasswordBearer`.
    struct PasswordFlow;

    impl Modify for PasswordFlow {
        fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
            let flow = Flow::Password(Password::new("/api/v1/auth/login", Scopes::new()));
            openapi
                .components
                .get_or_insert_with(Default::default)
                .add_security_scheme(SECURITY_SCHEME, SecurityScheme::OAuth2(OAuth2::new([flow])));
        }
    }

    /// The write limiter's `429` on every route behind it ([`Route::write_limited`]), from
    /// the route table rather than each annotation, so none is left out. Where a route
    /// already answers `429` for its own counters, the description says both.
    struct WriteLimit;

    const TOO_MANY_WRITES: &str = "too many changes from this account in a minute";
    const SEE_RETRY_AFTER: &str = "; see Retry-After";

    impl Modify for WriteLimit {
        fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
            for route in Route::iter().filter(|route| route.write_limited()) {
                let item = openapi
                    .paths
                    .paths
                    .get_mut(route.template())
                    .expect("every route is documented");
                let operation = match route.method() {
                    "POST" => item.post.as_mut(),
                    "PUT" => item.put.as_mut(),
                    "PATCH" => item.patch.as_mut(),
                    "DELETE" => item.delete.as_mut(),
                    other => panic!("{route:?}: a write limited {other}"),
                }
                .expect("every route is documented");
                let responses = &mut operation.responses.responses;
                match responses.get_mut("429") {
                    Some(RefOr::T(own)) => {
                        own.description = match own.description.strip_suffix(SEE_RETRY_AFTER) {
                            Some(head) => format!("{head}, or {TOO_MANY_WRITES}{SEE_RETRY_AFTER}"),
                            None => format!("{}; or {TOO_MANY_WRITES}", own.description),
                        };
                    }
                    _ => {
                        responses.insert("429".into(), RefOr::T(too_many_writes()));
                    }
                }
            }
        }
    }

    /// `429` with `Retry-After`, as the annotations write it.
    fn too_many_writes() -> Response {
        let mut first = TOO_MANY_WRITES.to_owned();
        first[..1].make_ascii_uppercase();
        serde_json::from_value(serde_json::json!({
            "description": format!("{first}{SEE_RETRY_AFTER}"),
            "headers": {
                "Retry-After": {
                    "schema": {"type": "integer", "format": "int64"},
                    "description": "Seconds to wait",
                },
            },
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}},
            },
        }))
        .expect("a response")
    }

    /// The document as the worker serves it.
    pub fn generate() -> String {
        ApiDoc::openapi()
            .to_pretty_json()
            .expect("the document serialises")
            + "\n"
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use strum::IntoEnumIterator;

    use super::document::{generate, SECURITY_SCHEME};
    use crate::api::routes::Route;
    use crate::store::recipes::SEARCH_CANDIDATES;

    fn served_document() -> serde_json::Value {
        serde_json::from_str(include_str!("../../assets/api/v1/openapi.json"))
            .expect("openapi.json is JSON")
    }

    /// On failure, the diff is between the committed file and what the annotations now say;
    /// `UPDATE_EXPECT=1 cargo test --lib api::docs` writes the latter.
    #[test]
    fn the_served_document_is_the_one_the_annotations_generate() {
        expect_test::expect_file!["../../assets/api/v1/openapi.json"].assert_eq(&generate());
    }

    fn documented_operations() -> BTreeSet<(String, String)> {
        let mut operations = BTreeSet::new();
        for (path, item) in served_document()["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
        operations
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_a_route() {
        // The documentation itself is not in the document, as in FastAPI.
        let routes: BTreeSet<(String, String)> = Route::iter()
            .filter(|route| !matches!(route, Route::Docs | Route::OpenApi))
            .map(|route| (route.method().to_owned(), route.template().to_owned()))
            .collect();
        assert_eq!(documented_operations(), routes);
    }

    #[test]
    fn the_password_flow_logs_in_at_the_login_route() {
        let document = served_document();
        let scheme = &document["components"]["securitySchemes"][SECURITY_SCHEME];
        assert_eq!(scheme["type"], "oauth2");
        assert_eq!(
            scheme["flows"]["password"]["tokenUrl"],
            "/api/v1/auth/login"
        );
        let me = &document["paths"]["/api/v1/auth/me"]["get"];
        assert!(me["security"][0].get(SECURITY_SCHEME).is_some());
    }

    /// A route is write limited exactly when it writes (not a GET) for a bearer token, and
    /// the document says each may answer 429 with Retry-After.
    #[test]
    fn every_write_with_an_access_token_is_write_limited_and_documented_so() {
        let document = served_document();
        for route in Route::iter().filter(|route| !matches!(route, Route::Docs | Route::OpenApi)) {
            let method = route.method().to_lowercase();
            let operation = &document["paths"][route.template()][method.as_str()];
            let bearer = operation["security"][0].get(SECURITY_SCHEME).is_some();
            assert_eq!(
                route.write_limited(),
                bearer && method != "get",
                "{route:?}"
            );
            if route.write_limited() {
                let refused = &operation["responses"]["429"];
                let description = refused["description"].as_str().unwrap_or_default();
                assert!(
                    description.to_lowercase().contains("too many changes"),
                    "{route:?}: {description}"
                );
                assert!(refused["headers"].get("Retry-After").is_some(), "{route:?}");
            }
        }
    }

    /// The annotation states the cap as a number; it must be the one the store applies.
    #[test]
    fn the_search_states_the_cap_the_store_applies() {
        let document = served_document();
        let description = document["paths"]["/api/v1/recipes/search"]["get"]["description"]
            .as_str()
            .expect("the search has a description");
        let cap = format!("at most {SEARCH_CANDIDATES} candidates");
        assert!(description.contains(&cap), "{cap:?} in {description:?}");
        let recipes = format!("the first {SEARCH_CANDIDATES} recipes");
        assert!(
            description.contains(&recipes),
            "{recipes:?} in {description:?}"
        );
    }
}
