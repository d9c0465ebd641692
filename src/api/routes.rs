//! The route table: every route the worker answers, with its method and path template.
//! Pure (no `worker` types), so the table is tested natively against the OpenAPI document.

use strum::{EnumIter, IntoEnumIterator};

/// Every route. Where a literal path and a parameter (`{recipe_id}`) both fit, the literal
/// one wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter)]
pub enum Route {
    Home,
    Docs,
    OpenApi,
    Signup,
    Login,
    Refresh,
    Logout,
    ChangePassword,
    Me,
    UpdateMe,
    DeleteMe,
    Sessions,
    EndSession,
    EndOtherSessions,
    SearchRecipes,
    MyRecipes,
    CreateRecipe,
    UpdateRecipe,
    GetRecipe,
    DeleteRecipe,
    ListUsers,
    GetUser,
    UpdateUser,
    DeleteUser,
    ResetPassword,
    PasswordRecovery,
    ResetForgottenPassword,
    VerifyEmail,
    ResendVerification,
    ResetPasswordPage,
    VerifyEmailPage,
    LoginPage,
    SignupPage,
    ForgotPasswordPage,
    AccountPage,
    TotpSetup,
    TotpEnable,
    TotpDisable,
    MfaVerify,
    OauthProviders,
    OauthAuthorize,
    OauthCallback,
    OauthToken,
    OauthLink,
    Identities,
    UnlinkIdentity,
    ResetSecondFactor,
    Jwks,
    Healthz,
    Readyz,
    PasskeyRegisterOptions,
    PasskeyRegister,
    Passkeys,
    RenamePasskey,
    DeletePasskey,
    PasskeyLoginOptions,
    PasskeyLogin,
    MfaPasskeyOptions,
    EmailSignIn,
    EmailSignInVerify,
}

/// Why no route answered a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Unmatched {
    NotFound,
    /// The path exists with these methods only (for the `Allow` header).
    MethodNotAllowed(Vec<&'static str>),
}

impl Route {
    pub fn method(self) -> &'static str {
        match self {
            Route::Signup
            | Route::Login
            | Route::Refresh
            | Route::Logout
            | Route::ChangePassword
            | Route::CreateRecipe
            | Route::ResetPassword
            | Route::PasswordRecovery
            | Route::ResetForgottenPassword
            | Route::VerifyEmail
            | Route::ResendVerification
            | Route::TotpSetup
            | Route::TotpEnable
            | Route::MfaVerify
            | Route::OauthToken
            | Route::PasskeyRegisterOptions
            | Route::PasskeyRegister
            | Route::PasskeyLoginOptions
            | Route::PasskeyLogin
            | Route::MfaPasskeyOptions
            | Route::EmailSignIn
            | Route::EmailSignInVerify
            | Route::OauthLink => "POST",
            Route::UpdateRecipe => "PUT",
            Route::UpdateUser | Route::UpdateMe | Route::RenamePasskey => "PATCH",
            Route::DeleteMe
            | Route::EndSession
            | Route::EndOtherSessions
            | Route::DeleteRecipe
            | Route::DeleteUser
            | Route::TotpDisable
            | Route::UnlinkIdentity
            | Route::ResetSecondFactor
            | Route::DeletePasskey => "DELETE",
            Route::Home
            | Route::Docs
            | Route::OpenApi
            | Route::Me
            | Route::Sessions
            | Route::SearchRecipes
            | Route::MyRecipes
            | Route::GetRecipe
            | Route::ListUsers
            | Route::GetUser
            | Route::ResetPasswordPage
            | Route::VerifyEmailPage
            | Route::LoginPage
            | Route::SignupPage
            | Route::ForgotPasswordPage
            | Route::AccountPage
            | Route::OauthProviders
            | Route::OauthAuthorize
            | Route::OauthCallback
            | Route::Identities
            | Route::Jwks
            | Route::Healthz
            | Route::Readyz
            | Route::Passkeys => "GET",
        }
    }

    /// Whether the route only reads, so its queries may go to the nearest read replica.
    /// Reads of user management stay on the primary with everything else about accounts.
    pub fn only_reads(self) -> bool {
        matches!(
            self,
            Route::Home
                | Route::Docs
                | Route::OpenApi
                | Route::ResetPasswordPage
                | Route::VerifyEmailPage
                | Route::Me
                | Route::SearchRecipes
                | Route::MyRecipes
                | Route::GetRecipe
                | Route::Jwks
        )
    }

    /// Whether the route is behind the edge limiter (src/api/limits.rs): each can make
    /// the API hash a password, write to D1 or send an email for a client that holds no
    /// valid access token (a wrong one costs the same check as none). The second factor's
    /// routes count every code in D1, and setting up and turning off hash a password. A
    /// provider's callback calls the provider and writes; a sign-in code's exchange writes.
    /// A passkey sign-in writes, and its options and the second step's are anyone's to ask.
    /// A sign-in email is sent by anyone's asking, and its code is counted as it is checked.
    pub fn edge_limited(self) -> bool {
        matches!(
            self,
            Route::Signup
                | Route::Login
                | Route::Refresh
                | Route::Logout
                | Route::ChangePassword
                | Route::PasswordRecovery
                | Route::ResetForgottenPassword
                | Route::VerifyEmail
                | Route::ResendVerification
                | Route::TotpSetup
                | Route::TotpEnable
                | Route::TotpDisable
                | Route::MfaVerify
                | Route::OauthCallback
                | Route::OauthToken
                | Route::PasskeyLoginOptions
                | Route::PasskeyLogin
                | Route::MfaPasskeyOptions
                | Route::EmailSignIn
                | Route::EmailSignInVerify
        )
    }

    /// Whether the API's own pages may keep the route's refresh token in their cookie: the
    /// routes that answer with a token pair, and logout (see `security::refresh_cookie`).
    pub fn takes_refresh_cookie(self) -> bool {
        matches!(
            self,
            Route::Login
                | Route::Refresh
                | Route::Logout
                | Route::ChangePassword
                | Route::TotpEnable
                | Route::TotpDisable
                | Route::MfaVerify
                | Route::OauthToken
                | Route::PasskeyLogin
                | Route::EmailSignInVerify
        )
    }

    /// Whether the route is behind the write limiter (src/api/limits.rs): every route by
    /// which a signed-in user (a bearer access token) changes something: their recipes,
    /// account, sessions, second factor and linked identities, and a superuser's user
    /// management. Counted per user, so one stolen token cannot fill D1. Some are behind the
    /// edge limiter as well.
    pub fn write_limited(self) -> bool {
        matches!(
            self,
            Route::ChangePassword
                | Route::UpdateMe
                | Route::DeleteMe
                | Route::EndSession
                | Route::EndOtherSessions
                | Route::CreateRecipe
                | Route::UpdateRecipe
                | Route::DeleteRecipe
                | Route::UpdateUser
                | Route::DeleteUser
                | Route::ResetPassword
                | Route::ResendVerification
                | Route::TotpSetup
                | Route::TotpEnable
                | Route::TotpDisable
                | Route::OauthLink
                | Route::UnlinkIdentity
                | Route::ResetSecondFactor
                | Route::PasskeyRegisterOptions
                | Route::PasskeyRegister
                | Route::RenamePasskey
                | Route::DeletePasskey
        )
    }

    /// Whether the answer carries a user's own data (an account, a token, a user list, the
    /// caller's recipes), which no cache between the client and the API may keep.
    pub fn private(self) -> bool {
        self.template().starts_with("/api/v1/auth")
            || self.template().starts_with("/api/v1/users")
            || self == Route::MyRecipes
    }

    /// Whether the route is a probe for uptime checks and load balancers: its answer says how
    /// the API is now, so no cache may keep it.
    pub fn probe(self) -> bool {
        matches!(self, Route::Healthz | Route::Readyz)
    }

    /// Every method some route has, once each, in the order of the table: what a CORS
    /// preflight allows.
    pub fn methods() -> Vec<&'static str> {
        let mut methods = Vec::new();
        for method in Route::iter().map(Route::method) {
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        methods
    }

    /// The path as the OpenAPI document writes it; `{recipe_id}`, `{user_id}` and
    /// `{session_id}` are path parameters.
    pub fn template(self) -> &'static str {
        match self {
            Route::Home => "/",
            Route::Docs => "/docs",
            Route::OpenApi => "/api/v1/openapi.json",
            Route::Signup => "/api/v1/auth/signup",
            Route::Login => "/api/v1/auth/login",
            Route::Refresh => "/api/v1/auth/refresh",
            Route::Logout => "/api/v1/auth/logout",
            Route::ChangePassword => "/api/v1/auth/password",
            Route::Me | Route::UpdateMe | Route::DeleteMe => "/api/v1/auth/me",
            Route::Sessions | Route::EndOtherSessions => "/api/v1/auth/sessions",
            Route::EndSession => "/api/v1/auth/sessions/{session_id}",
            Route::SearchRecipes => "/api/v1/recipes/search",
            Route::MyRecipes => "/api/v1/recipes/my-recipes",
            Route::CreateRecipe | Route::UpdateRecipe => "/api/v1/recipes",
            Route::GetRecipe | Route::DeleteRecipe => "/api/v1/recipes/{recipe_id}",
            Route::ListUsers => "/api/v1/users",
            Route::GetUser | Route::UpdateUser | Route::DeleteUser => "/api/v1/users/{user_id}",
            Route::ResetPassword => "/api/v1/users/{user_id}/password",
            Route::PasswordRecovery => "/api/v1/auth/password-recovery",
            Route::ResetForgottenPassword => "/api/v1/auth/reset-password",
            Route::VerifyEmail => "/api/v1/auth/verify-email",
            Route::ResendVerification => "/api/v1/auth/verify-email/resend",
            Route::ResetPasswordPage => "/reset-password",
            Route::VerifyEmailPage => "/verify-email",
            Route::LoginPage => "/login",
            Route::SignupPage => "/signup",
            Route::ForgotPasswordPage => "/forgot-password",
            Route::AccountPage => "/account",
            Route::TotpSetup => "/api/v1/auth/mfa/totp/setup",
            Route::TotpEnable => "/api/v1/auth/mfa/totp/enable",
            Route::TotpDisable => "/api/v1/auth/mfa/totp",
            Route::MfaVerify => "/api/v1/auth/mfa/verify",
            Route::OauthProviders => "/api/v1/auth/oauth/providers",
            Route::OauthAuthorize => "/api/v1/auth/oauth/{provider}/authorize",
            Route::OauthCallback => "/api/v1/auth/oauth/{provider}/callback",
            Route::OauthToken => "/api/v1/auth/oauth/token",
            Route::OauthLink => "/api/v1/auth/oauth/{provider}/link",
            Route::Identities => "/api/v1/auth/me/identities",
            Route::UnlinkIdentity => "/api/v1/auth/me/identities/{provider}",
            Route::ResetSecondFactor => "/api/v1/users/{user_id}/mfa/totp",
            Route::Jwks => "/.well-known/jwks.json",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::PasskeyRegisterOptions => "/api/v1/auth/passkeys/register/options",
            Route::PasskeyRegister => "/api/v1/auth/passkeys/register",
            Route::Passkeys => "/api/v1/auth/passkeys",
            Route::RenamePasskey | Route::DeletePasskey => "/api/v1/auth/passkeys/{passkey_id}",
            Route::PasskeyLoginOptions => "/api/v1/auth/passkeys/login/options",
            Route::PasskeyLogin => "/api/v1/auth/passkeys/login",
            Route::MfaPasskeyOptions => "/api/v1/auth/mfa/passkey/options",
            Route::EmailSignIn => "/api/v1/auth/email-sign-in",
            Route::EmailSignInVerify => "/api/v1/auth/email-sign-in/verify",
        }
    }

    /// Finds the route for a request, and the value of its path parameter if it has one.
    /// Paths match with and without a trailing slash.
    pub fn resolve(method: &str, path: &str) -> Result<(Route, Option<String>), Unmatched> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let matches: Vec<(Route, Option<String>)> = Route::iter()
            .filter_map(|route| Some((route, match_template(route.template(), &segments)?)))
            .collect();
        // A path that a literal template names (`/recipes/search`) is that route's alone; it
        // is not also a `{recipe_id}`.
        let literal = matches.iter().any(|(_, parameter)| parameter.is_none());
        let candidates = matches
            .into_iter()
            .filter(|(_, parameter)| !literal || parameter.is_none());
        let mut allowed = Vec::new();
        for (route, parameter) in candidates {
            if route.method() == method {
                return Ok((route, parameter));
            }
            allowed.push(route.method());
        }
        Err(if allowed.is_empty() {
            Unmatched::NotFound
        } else {
            Unmatched::MethodNotAllowed(allowed)
        })
    }
}

/// `Some(parameter)` when `segments` fit the template.
fn match_template(template: &str, segments: &[&str]) -> Option<Option<String>> {
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut parameter = None;
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            parameter = Some((*segment).to_owned());
        } else if part != segment {
            return None;
        }
    }
    Some(parameter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_gets_outside_user_management_read_from_a_replica() {
        for route in Route::iter() {
            if route.only_reads() {
                assert_eq!(route.method(), "GET", "{route:?}");
                assert!(!route.template().starts_with("/api/v1/users"), "{route:?}");
            }
        }
        assert!(Route::GetRecipe.only_reads());
        assert!(!Route::Login.only_reads() && !Route::GetUser.only_reads());
    }

    #[test]
    fn every_unauthenticated_route_that_can_hash_write_or_email_is_edge_limited() {
        let limited: Vec<Route> = Route::iter().filter(|r| r.edge_limited()).collect();
        assert_eq!(
            limited,
            [
                Route::Signup,
                Route::Login,
                Route::Refresh,
                Route::Logout,
                Route::ChangePassword,
                Route::PasswordRecovery,
                Route::ResetForgottenPassword,
                Route::VerifyEmail,
                Route::ResendVerification,
                Route::TotpSetup,
                Route::TotpEnable,
                Route::TotpDisable,
                Route::MfaVerify,
                Route::OauthCallback,
                Route::OauthToken,
                Route::PasskeyLoginOptions,
                Route::PasskeyLogin,
                Route::MfaPasskeyOptions,
                Route::EmailSignIn,
                Route::EmailSignInVerify,
            ]
        );
        // A provider's callback is a GET (a browser redirect), and writes.
        assert!(limited
            .iter()
            .all(|r| r.method() != "GET" || *r == Route::OauthCallback));
    }

    #[test]
    fn only_writes_are_write_limited_and_every_recipe_write_is() {
        for route in Route::iter().filter(|r| r.write_limited()) {
            assert_ne!(route.method(), "GET", "{route:?}");
        }
        for route in [
            Route::CreateRecipe,
            Route::UpdateRecipe,
            Route::DeleteRecipe,
        ] {
            assert!(route.write_limited(), "{route:?}");
        }
        // Writes without an access token are the edge limiter's.
        for route in [
            Route::Signup,
            Route::Login,
            Route::Refresh,
            Route::OauthToken,
        ] {
            assert!(!route.write_limited() && route.edge_limited(), "{route:?}");
        }
    }

    #[test]
    fn answers_with_a_users_data_are_private_and_public_reads_are_not() {
        for route in [
            Route::Me,
            Route::Sessions,
            Route::EndSession,
            Route::Login,
            Route::ListUsers,
            Route::GetUser,
            Route::MyRecipes,
        ] {
            assert!(route.private(), "{route:?}");
        }
        for route in [
            Route::Home,
            Route::GetRecipe,
            Route::SearchRecipes,
            Route::Docs,
        ] {
            assert!(!route.private(), "{route:?}");
        }
    }

    #[test]
    fn the_probes_are_uncached_gets_that_are_neither_limited_nor_replica_reads() {
        let probes: Vec<Route> = Route::iter().filter(|r| r.probe()).collect();
        assert_eq!(probes, [Route::Healthz, Route::Readyz]);
        for probe in probes {
            assert_eq!(probe.method(), "GET");
            // readyz asks the primary: a replica that answers says nothing of writes.
            assert!(!probe.only_reads() && !probe.edge_limited() && !probe.private());
        }
        assert_eq!(Route::resolve("GET", "/readyz/"), Ok((Route::Readyz, None)));
        assert_eq!(
            Route::resolve("POST", "/healthz"),
            Err(Unmatched::MethodNotAllowed(vec!["GET"]))
        );
    }

    #[test]
    fn the_methods_a_preflight_allows_are_the_tables_own() {
        let mut methods = Route::methods();
        methods.sort_unstable();
        assert_eq!(methods, ["DELETE", "GET", "PATCH", "POST", "PUT"]);
    }

    #[test]
    fn resolves_every_route_from_its_own_template() {
        for route in Route::iter() {
            let path = route
                .template()
                .replace("{recipe_id}", "7")
                .replace("{user_id}", "8")
                .replace("{session_id}", "a-session")
                .replace("{provider}", "oidc")
                .replace("{passkey_id}", "5");
            let (found, _) = Route::resolve(route.method(), &path).unwrap();
            assert_eq!(found, route, "{path}");
        }
    }

    #[test]
    fn trailing_slashes_and_parameters() {
        assert_eq!(
            Route::resolve("POST", "/api/v1/recipes/"),
            Ok((Route::CreateRecipe, None))
        );
        assert_eq!(
            Route::resolve("GET", "/api/v1/recipes/42/"),
            Ok((Route::GetRecipe, Some("42".into())))
        );
        assert_eq!(
            Route::resolve("GET", "/api/v1/recipes/search/"),
            Ok((Route::SearchRecipes, None)),
            "a literal path wins over {{recipe_id}}"
        );
        assert_eq!(Route::resolve("GET", ""), Ok((Route::Home, None)));
    }

    #[test]
    fn a_literal_path_is_not_also_a_recipe_id() {
        assert_eq!(
            Route::resolve("DELETE", "/api/v1/recipes/my-recipes"),
            Err(Unmatched::MethodNotAllowed(vec!["GET"]))
        );
        assert_eq!(
            Route::resolve("PUT", "/api/v1/recipes/3"),
            Err(Unmatched::MethodNotAllowed(vec!["GET", "DELETE"]))
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(
            Route::resolve("GET", "/api/v1/nope"),
            Err(Unmatched::NotFound)
        );
        assert_eq!(
            Route::resolve("GET", "/api/v1/recipes/1/2"),
            Err(Unmatched::NotFound)
        );
        assert_eq!(
            Route::resolve("POST", "/api/v1/auth/me"),
            Err(Unmatched::MethodNotAllowed(vec!["GET", "PATCH", "DELETE"]))
        );
        assert_eq!(
            Route::resolve("PATCH", "/api/v1/recipes"),
            Err(Unmatched::MethodNotAllowed(vec!["POST", "PUT"]))
        );
    }

    #[test]
    fn session_routes_list_end_one_and_end_the_others() {
        assert_eq!(
            Route::resolve("GET", "/api/v1/auth/sessions/"),
            Ok((Route::Sessions, None))
        );
        assert_eq!(
            Route::resolve("DELETE", "/api/v1/auth/sessions"),
            Ok((Route::EndOtherSessions, None))
        );
        assert_eq!(
            Route::resolve("DELETE", "/api/v1/auth/sessions/AbC_-9"),
            Ok((Route::EndSession, Some("AbC_-9".into())))
        );
        assert_eq!(
            Route::resolve("GET", "/api/v1/auth/sessions/AbC"),
            Err(Unmatched::MethodNotAllowed(vec!["DELETE"]))
        );
    }

    #[test]
    fn passkey_routes_name_one_by_its_id_and_their_literal_paths_are_not_ids() {
        assert_eq!(
            Route::resolve("PATCH", "/api/v1/auth/passkeys/12"),
            Ok((Route::RenamePasskey, Some("12".into())))
        );
        assert_eq!(
            Route::resolve("POST", "/api/v1/auth/passkeys/login"),
            Ok((Route::PasskeyLogin, None))
        );
        assert_eq!(
            Route::resolve("DELETE", "/api/v1/auth/passkeys/login"),
            Err(Unmatched::MethodNotAllowed(vec!["POST"]))
        );
    }

    #[test]
    fn user_routes_take_the_user_id() {
        assert_eq!(
            Route::resolve("PATCH", "/api/v1/users/12"),
            Ok((Route::UpdateUser, Some("12".into())))
        );
        assert_eq!(
            Route::resolve("POST", "/api/v1/users/12/password/"),
            Ok((Route::ResetPassword, Some("12".into())))
        );
        assert_eq!(
            Route::resolve("POST", "/api/v1/users"),
            Err(Unmatched::MethodNotAllowed(vec!["GET"]))
        );
    }
}
