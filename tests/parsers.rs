//! Property tests over the pure parsers: whatever a client sends, parsing answers Ok or a
//! FastAPI-shaped error, never a panic (which on Workers would be a 500 or a dead isolate).
//! `make fuzz` runs them with many more cases.

use proptest::prelude::*;
use serde_json::{json, Value};

use recipe_api::domain::account::{
    is_active_from_json, new_password_from_json, refresh_token_from_json, Page, PasswordChange,
};
use recipe_api::domain::recipe::parse_recipe_id;
use recipe_api::domain::{
    Email, LoginForm, NewRecipe, NewUser, Password, RecipeUpdate, SearchQuery,
};
use recipe_api::security::breach::{Breached, RangeQuery};
use recipe_api::security::turnstile::{token_in_json, GuardedRoutes, Verdict};
use recipe_api::security::{
    bearer_token, opaque_token_hash, verify_access_token, JwtSecret, TokenKeys,
};

/// Arbitrary JSON, nested a few levels, with the field names the parsers look for.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        "[a-z.+]{1,10}@[a-z]{1,10}\\.[a-z]{2,4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("email".to_owned()),
                        Just("password".to_owned()),
                        Just("label".to_owned()),
                        Just("url".to_owned()),
                        Just("id".to_owned()),
                        Just("submitter_id".to_owned()),
                        Just("refresh_token".to_owned()),
                        Just("current_password".to_owned()),
                        Just("new_password".to_owned()),
                        Just("is_active".to_owned()),
                        Just("cf-turnstile-response".to_owned()),
                        Just("success".to_owned()),
                        Just("error-codes".to_owned()),
                        ".{0,8}",
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

fn assert_fastapi_errors(errors: &[recipe_api::domain::validation::FieldError]) {
    assert!(!errors.is_empty());
    for error in errors {
        assert_eq!(error.loc[0], json!("body"), "{error:?}");
        assert!(!error.msg.is_empty() && !error.kind.is_empty());
    }
}

proptest! {
    #[test]
    fn json_bodies_parse_or_explain(value in json_value()) {
        let body = value.to_string();
        if let Err(errors) = NewUser::from_json(&body) { assert_fastapi_errors(&errors) }
        if let Err(errors) = NewRecipe::from_json(&body) { assert_fastapi_errors(&errors) }
        if let Err(errors) = RecipeUpdate::from_json(&body) { assert_fastapi_errors(&errors) }
        if let Err(errors) = refresh_token_from_json(&body) { assert_fastapi_errors(&errors) }
        if let Err(errors) = PasswordChange::from_json(&body) { assert_fastapi_errors(&errors) }
        if let Err(errors) = new_password_from_json(&body) { assert_fastapi_errors(&errors) }
        if let Err(errors) = is_active_from_json(&body) { assert_fastapi_errors(&errors) }
    }

    #[test]
    fn arbitrary_text_as_json_never_panics(body in ".{0,200}") {
        if let Err(errors) = NewUser::from_json(&body) { assert_fastapi_errors(&errors) }
        let _ = NewRecipe::from_json(&body);
    }

    #[test]
    fn urlencoded_forms_never_panic(body in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = LoginForm::from_urlencoded(&body);
    }

    #[test]
    fn urlencoded_forms_round_trip(username in ".{1,40}", password in ".{1,40}") {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("username", &username)
            .append_pair("password", &password)
            .finish();
        let form = LoginForm::from_urlencoded(body.as_bytes()).unwrap();
        prop_assert_eq!(form.username, username);
        prop_assert_eq!(form.password, password);
    }

    #[test]
    fn accepted_emails_look_like_emails(value in ".{0,80}") {
        if let Ok(email) = Email::parse(&value) {
            prop_assert!(email.as_str().len() <= 254);
            prop_assert!(email.as_str().contains('@'));
            prop_assert!(!email.as_str().chars().any(char::is_whitespace));
        }
    }

    #[test]
    fn passwords_are_normalised_idempotently(value in ".{0,64}") {
        if let Ok(password) = Password::parse(&value) {
            let again = Password::parse(password.expose()).unwrap();
            prop_assert_eq!(again.expose(), password.expose());
        }
    }

    #[test]
    fn random_tokens_never_verify(token in "[A-Za-z0-9_.=-]{0,300}", header in ".{0,60}") {
        let secret = JwtSecret::parse(Some("a-property-test-secret-of-32-bytes-or-more")).unwrap();
        let keys = TokenKeys::new(secret, None, "recipe-api".into(), "recipe-api".into());
        prop_assert!(verify_access_token(&keys, &token, 1_700_000_000).is_err());
        let _ = bearer_token(Some(&header));
        // A refresh token is only ever looked up by the hash of 43 base64url characters.
        if opaque_token_hash(&token).is_some() {
            prop_assert_eq!(token.len(), 43);
        }
    }

    #[test]
    fn queries_and_path_ids_never_panic(
        pairs in prop::collection::vec((prop_oneof![Just("keyword".to_owned()), Just("max_results".to_owned()), Just("skip".to_owned()), Just("limit".to_owned()), ".{0,5}"], ".{0,12}"), 0..4),
        id in ".{0,24}",
    ) {
        match SearchQuery::from_pairs(pairs.clone()) {
            Ok(query) => prop_assert!((1..=100).contains(&query.max_results)),
            Err(errors) => prop_assert!(errors.iter().all(|e| e.loc[0] == json!("query"))),
        }
        match Page::from_pairs(pairs.clone()) {
            Ok(page) => prop_assert!(page.skip >= 0 && (1..=100).contains(&page.limit)),
            Err(errors) => prop_assert!(errors.iter().all(|e| e.loc[0] == json!("query"))),
        }
        let _ = parse_recipe_id(&id);
    }

    #[test]
    fn siteverify_answers_pass_only_as_a_2xx_with_success(status in 100u16..600, value in json_value(), text in ".{0,80}") {
        let body = value.to_string();
        for body in [body.as_str(), text.as_str()] {
            if Verdict::read(status, body) == Verdict::Passed {
                prop_assert!((200..300).contains(&status));
                prop_assert_eq!(&serde_json::from_str::<Value>(body).unwrap()["success"], &json!(true));
            }
        }
        if let Some(token) = token_in_json(&body) {
            prop_assert_eq!(&value["cf-turnstile-response"], &json!(token));
        }
    }

    #[test]
    fn range_answers_are_read_or_refused_never_a_panic(
        password in ".{0,40}",
        text in ".{0,200}",
        lines in prop::collection::vec(("[0-9A-Fa-f]{35}", 0u64..1_000_000), 0..40),
    ) {
        let query = RangeQuery::of(&password);
        prop_assert_eq!(query.prefix().len(), 5);
        let _ = query.find(&text);
        // Well-formed lines are always read; any suffix of count 0 is never a breach.
        let answer: Vec<String> = lines.iter().map(|(suffix, count)| format!("{suffix}:{count}")).collect();
        let found = query.find(&answer.join("\r\n"));
        prop_assert_eq!(found.is_ok(), !lines.is_empty());
        if lines.iter().all(|(_, count)| *count == 0) {
            let breached = matches!(found, Ok(Breached::Yes { .. }));
            prop_assert!(!breached);
        }
    }

    #[test]
    fn turnstile_on_parses_or_names_the_setting(value in "[a-z, ]{0,30}") {
        if let Err(error) = GuardedRoutes::parse(Some(&value)) {
            prop_assert!(error.contains("TURNSTILE_ON"));
        }
    }
}
