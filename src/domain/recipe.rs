//! Recipes: what the API accepts and returns.

use serde::Serialize;
use serde_json::json;
use url::Url;
use utoipa::ToSchema;

use super::validation::{
    bounded_text, json_object, path_id, query_int, query_values, FieldError, Fields, Invalid,
};

/// The original's `String(256)` columns: label, source and url.
pub const MAX_TEXT_CHARS: usize = 256;
/// `max_results` when the query does not say.
pub const DEFAULT_MAX_RESULTS: u32 = 10;
/// The most a search returns; larger requests are refused with a 422.
pub const MAX_MAX_RESULTS: u32 = 100;
/// The shortest keyword a search accepts.
pub const MIN_KEYWORD_CHARS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Recipe {
    pub id: i64,
    pub label: String,
    pub source: String,
    pub url: String,
    pub submitter_id: i64,
}

/// `POST /recipes/` as the OpenAPI document describes it; `NewRecipe::from_json` reads it.
#[derive(ToSchema)]
#[schema(as = RecipeCreate)]
#[allow(dead_code)]
pub struct NewRecipeRequest {
    #[schema(min_length = 1, max_length = 256)]
    label: String,
    #[schema(max_length = 256)]
    source: String,
    /// An absolute http or https URL.
    #[schema(
        max_length = 256,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+([/?#]\\S*)?$"
    )]
    url: String,
    /// Defaults to the caller; nobody else may be named.
    submitter_id: Option<i64>,
}

/// `PUT /recipes/` as the OpenAPI document describes it; `RecipeUpdate::from_json` reads it.
#[derive(ToSchema)]
#[schema(as = RecipeUpdateRestricted)]
#[allow(dead_code)]
pub struct RecipeUpdateRequest {
    id: i64,
    #[schema(min_length = 1, max_length = 256)]
    label: String,
    #[schema(max_length = 256)]
    source: Option<String>,
    #[schema(
        max_length = 256,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+([/?#]\\S*)?$"
    )]
    url: Option<String>,
}

/// An absolute http(s) URL with a host, at most 256 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeUrl(String);

impl RecipeUrl {
    pub fn parse(value: &str) -> Result<RecipeUrl, Invalid> {
        let invalid = Invalid::Other(
            "invalid or missing URL scheme; only absolute http and https URLs are accepted",
            "value_error.url.scheme",
        );
        bounded_text(value, MAX_TEXT_CHARS)?;
        let url = Url::parse(&without_unicode(value).ok_or(invalid.clone())?)
            .map_err(|_| invalid.clone())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(invalid);
        }
        // Kept as sent: clients compare what they stored with what they read back.
        Ok(RecipeUrl(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `value` with every non-ASCII character replaced by the letter `x`, for the URL parser to
/// judge its shape; `None` when one comes before the first `:` (a scheme is ASCII only).
///
/// Why: the worker is built without IDNA's Unicode tables (`idna_adapter` is pinned to its
/// stub in Cargo.toml, about 50 KB of gzip), so `Url::parse` refuses every non-ASCII host.
/// International hosts such as `bücher.de` stay accepted because they are checked as
/// ASCII here; elsewhere in a URL (path, query, user name) a non-ASCII character is fine
/// either way, as the parser percent-encodes it. The URL is stored as sent, so nothing is
/// lost; what no longer happens is UTS 46's finer check of those hosts' characters.
fn without_unicode(value: &str) -> Option<String> {
    let scheme_end = value.find(':').unwrap_or(value.len());
    if !value[..scheme_end].is_ascii() {
        return None;
    }
    Some(
        value
            .chars()
            .map(|c| if c.is_ascii() { c } else { 'x' })
            .collect(),
    )
}

fn label(value: &str) -> Result<String, Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::TooShort(1));
    }
    bounded_text(value, MAX_TEXT_CHARS)
}

fn source(value: &str) -> Result<String, Invalid> {
    bounded_text(value, MAX_TEXT_CHARS)
}

/// `POST /recipes/`: `{label, source, url, submitter_id?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecipe {
    pub label: String,
    pub source: String,
    pub url: RecipeUrl,
    /// Defaults to the caller; anyone else is refused by the handler.
    pub submitter_id: Option<i64>,
}

impl NewRecipe {
    pub fn from_json(body: &str) -> Result<NewRecipe, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let label_value = fields.required_str("label");
        let label = fields.check("label", label_value, label);
        let source_value = fields.required_str("source");
        let source = fields.check("source", source_value, source);
        let url_value = fields.required_str("url");
        let url = fields.check("url", url_value, RecipeUrl::parse);
        let submitter_id = fields.optional_int("submitter_id");
        let (label, source, url) = fields.finish((label, source, url))?;
        Ok(NewRecipe {
            label,
            source,
            url,
            submitter_id,
        })
    }
}

/// `PUT /recipes/`: `{id, label, source?, url?}`; absent fields keep their value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeUpdate {
    pub id: i64,
    pub label: String,
    pub source: Option<String>,
    pub url: Option<RecipeUrl>,
}

impl RecipeUpdate {
    pub fn from_json(body: &str) -> Result<RecipeUpdate, Vec<FieldError>> {
        let object = json_object(body)?;
        let mut fields = Fields::new(&object);
        let id = fields.required_int("id");
        let label_value = fields.required_str("label");
        let label = fields.check("label", label_value, label);
        let source_value = fields.optional_str("source");
        let source = fields.check("source", source_value, source);
        let url_value = fields.optional_str("url");
        let url = fields.check("url", url_value, RecipeUrl::parse);
        let (id, label) = fields.finish((id, label))?;
        Ok(RecipeUpdate {
            id,
            label,
            source,
            url,
        })
    }
}

/// A `{recipe_id}` path segment.
pub fn parse_recipe_id(segment: &str) -> Result<i64, Vec<FieldError>> {
    path_id("recipe_id", segment)
}

/// `GET /recipes/search/?keyword=&max_results=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// `None` lists every recipe (the original crashed instead).
    pub keyword: Option<String>,
    pub max_results: u32,
}

impl SearchQuery {
    pub fn from_pairs(
        pairs: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    ) -> Result<SearchQuery, Vec<FieldError>> {
        let [keyword, max_results] = query_values(pairs, ["keyword", "max_results"]);
        let query_error = |field: &str, msg: String, kind: &str| {
            FieldError::new(vec![json!("query"), json!(field)], msg, kind)
        };
        let mut errors = Vec::new();
        let keyword_chars = keyword.as_ref().map(|k| k.chars().count());
        // A keyword longer than any label can match nothing.
        if keyword_chars.is_some_and(|n| n > MAX_TEXT_CHARS) {
            errors.push(
                query_error(
                    "keyword",
                    format!("ensure this value has at most {MAX_TEXT_CHARS} characters"),
                    "value_error.any_str.max_length",
                )
                .with_ctx(json!({ "limit_value": MAX_TEXT_CHARS })),
            );
        }
        if keyword_chars.is_some_and(|n| n < MIN_KEYWORD_CHARS) {
            errors.push(
                query_error(
                    "keyword",
                    format!("ensure this value has at least {MIN_KEYWORD_CHARS} characters"),
                    "value_error.any_str.min_length",
                )
                .with_ctx(json!({ "limit_value": MIN_KEYWORD_CHARS })),
            );
        }
        let max_results = query_int(
            &mut errors,
            "max_results",
            max_results.as_deref(),
            DEFAULT_MAX_RESULTS.into(),
            (1, MAX_MAX_RESULTS.into()),
        ) as u32;
        if errors.is_empty() {
            Ok(SearchQuery {
                keyword,
                max_results,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_urls_must_be_absolute_http_or_https() {
        for ok in [
            "http://www.seriouseats.com/recipes/2011/12/chicken-vesuvio-recipe.html",
            "https://norecipes.com/recipe/chicken-paprikash/",
            "HTTPS://Example.COM",
            "HTTp://example.com/soup",
            "https://example.com?q=1#top",
            "https://user:pass@example.com:8443/a b",
            "http://127.0.0.1:8787/recipes/1",
            "http://[::1]/",
            "https://xn--bcher-kva.de/",
            // International hosts and paths, kept as sent.
            "https://bücher.de/kuchen/apfelstrudel",
            "https://bu\u{308}cher.de/",
            "https://пример.рф/борщ",
            "https://例え.jp/レシピ?味=甘い",
            "https://example.com/crème-brûlée",
        ] {
            let url = RecipeUrl::parse(ok);
            assert!(url.is_ok(), "{ok} should be accepted");
            assert_eq!(url.unwrap().as_str(), ok, "kept as sent");
        }
        let long = format!("https://example.com/{}", "a".repeat(256));
        for bad in [
            "",
            "example.com/recipe",
            "/relative/path",
            "javascript:alert(1)",
            "ftp://example.com/x",
            "data:text/html,hi",
            "http://",
            "https:",
            "https://",
            "https://exa mple.com/",
            "https://exa<mple.com/",
            "https://example.com:port/",
            "https://example.com:8x/",
            "https://exämple.com:80ü/",
            "httpś://example.com/",
            "ħttps://example.com/",
            "mailto:ü@example.com",
            "https://[::1/",
            long.as_str(),
        ] {
            assert!(RecipeUrl::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_new_recipe_needs_label_source_and_url() {
        let errors =
            NewRecipe::from_json(r#"{"url": "ftp://x", "submitter_id": "me"}"#).unwrap_err();
        let locs: Vec<_> = errors
            .iter()
            .map(|e| e.loc[1].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(locs, ["label", "source", "url", "submitter_id"]);
        let recipe = NewRecipe::from_json(
            r#"{"label": "Soup", "source": "Gran", "url": "https://example.com/soup"}"#,
        )
        .unwrap();
        assert_eq!(recipe.submitter_id, None);
        assert_eq!(recipe.url.as_str(), "https://example.com/soup");
    }

    #[test]
    fn an_update_needs_id_and_label_only() {
        let update = RecipeUpdate::from_json(r#"{"id": 3, "label": "Stew"}"#).unwrap();
        assert_eq!((update.id, update.source, update.url), (3, None, None));
        let errors =
            RecipeUpdate::from_json(r#"{"id": 1.5, "label": "", "url": "x"}"#).unwrap_err();
        let kinds: Vec<_> = errors.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "type_error.integer",
                "value_error.any_str.min_length",
                "value_error.url.scheme"
            ]
        );
    }

    #[test]
    fn recipe_ids_in_the_path_are_integers() {
        assert_eq!(parse_recipe_id("42"), Ok(42));
        for bad in ["abc", "1.5", "", "99999999999999999999"] {
            let errors = parse_recipe_id(bad).unwrap_err();
            assert_eq!(errors[0].loc, vec![json!("path"), json!("recipe_id")]);
        }
    }

    #[test]
    fn search_defaults_and_bounds() {
        let q = SearchQuery::from_pairs([("other", "1")]).unwrap();
        assert_eq!((q.keyword, q.max_results), (None, 10));
        let q = SearchQuery::from_pairs([("keyword", "chi"), ("max_results", "100")]).unwrap();
        assert_eq!((q.keyword.as_deref(), q.max_results), (Some("chi"), 100));
        for (pairs, kind) in [
            (vec![("keyword", "ch")], "value_error.any_str.min_length"),
            (
                vec![("keyword", &"a".repeat(257))],
                "value_error.any_str.max_length",
            ),
            (vec![("max_results", "101")], "value_error.number.not_le"),
            (vec![("max_results", "0")], "value_error.number.not_ge"),
            (vec![("max_results", "ten")], "type_error.integer"),
        ] {
            let errors = SearchQuery::from_pairs(pairs).unwrap_err();
            assert_eq!(errors[0].kind, kind);
            assert_eq!(errors[0].loc[0], json!("query"));
        }
    }
}
