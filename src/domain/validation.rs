//! FastAPI's request-validation errors, and a reader that collects them field by field.

use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

/// One entry of a 422 `detail` list: `{"loc": ["body", "email"], "msg": "...", "type": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = ValidationError)]
pub struct FieldError {
    /// Where: `body`, `query` or `path`, then a field name or a position.
    #[schema(value_type = Vec<LocItem>)]
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
}

/// A `loc` entry: a name or a position.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum LocItem {
    Name(String),
    Position(i64),
}

impl FieldError {
    pub fn new(loc: Vec<Value>, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        FieldError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
            ctx: None,
        }
    }

    pub fn body(field: &str, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        Self::new(vec![json!("body"), json!(field)], msg, kind)
    }

    pub fn missing(field: &str) -> Self {
        Self::body(field, "field required", "value_error.missing")
    }

    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}

/// Why a string was refused; turned into a `FieldError` once the field's name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    TooShort(usize),
    TooLong(usize),
    /// A refusal of the field's own kind: message and FastAPI error type.
    Other(&'static str, &'static str),
}

impl Invalid {
    pub fn at(&self, field: &str) -> FieldError {
        match self {
            Invalid::TooShort(limit) => FieldError::body(
                field,
                format!("ensure this value has at least {limit} characters"),
                "value_error.any_str.min_length",
            )
            .with_ctx(json!({ "limit_value": limit })),
            Invalid::TooLong(limit) => FieldError::body(
                field,
                format!("ensure this value has at most {limit} characters"),
                "value_error.any_str.max_length",
            )
            .with_ctx(json!({ "limit_value": limit })),
            Invalid::Other(msg, kind) => FieldError::body(field, *msg, *kind),
        }
    }
}

/// Parses a JSON request body that must be an object.
pub fn json_object(body: &str) -> Result<Map<String, Value>, Vec<FieldError>> {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(vec![FieldError::new(
            vec![json!("body")],
            "value is not a valid dict",
            "type_error.dict",
        )]),
        Err(error) => Err(vec![FieldError::new(
            vec![json!("body"), json!(error.column())],
            format!("JSON decode error: {error}"),
            "value_error.jsondecode",
        )]),
    }
}

/// Reads typed fields out of a JSON object, collecting every error rather than stopping at
/// the first, as FastAPI does.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Fields {
            object,
            errors: Vec::new(),
        }
    }

    /// A string that must be present and not null.
    pub fn required_str(&mut self, name: &str) -> Option<&'a str> {
        match self.object.get(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::missing(name));
                None
            }
            Some(value) => self.string(name, value),
        }
    }

    /// A string that may be absent or null.
    pub fn optional_str(&mut self, name: &str) -> Option<&'a str> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(value) => self.string(name, value),
        }
    }

    /// An integer that must be present and not null.
    pub fn required_int(&mut self, name: &str) -> Option<i64> {
        match self.object.get(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::missing(name));
                None
            }
            Some(value) => self.int(name, value),
        }
    }

    /// An integer that may be absent or null.
    pub fn optional_int(&mut self, name: &str) -> Option<i64> {
        match self.object.get(name) {
            None | Some(Value::Null) => None,
            Some(value) => self.int(name, value),
        }
    }

    /// A boolean that must be present and not null: JSON `true` or `false` only.
    pub fn required_bool(&mut self, name: &str) -> Option<bool> {
        match self.object.get(name) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::missing(name));
                None
            }
            Some(Value::Bool(value)) => Some(*value),
            Some(_) => {
                self.errors.push(FieldError::body(
                    name,
                    "value could not be parsed to a boolean",
                    "type_error.bool",
                ));
                None
            }
        }
    }

    fn int(&mut self, name: &str, value: &Value) -> Option<i64> {
        let parsed = integral(value);
        if parsed.is_none() {
            self.errors.push(FieldError::body(
                name,
                "value is not a valid integer",
                "type_error.integer",
            ));
        }
        parsed
    }

    fn string(&mut self, name: &str, value: &'a Value) -> Option<&'a str> {
        match value {
            Value::String(text) => Some(text),
            _ => {
                self.errors.push(FieldError::body(
                    name,
                    "str type expected",
                    "type_error.str",
                ));
                None
            }
        }
    }

    /// Records that a field that must be there is missing.
    pub fn refuse_missing(&mut self, name: &str) {
        self.errors.push(FieldError::missing(name));
    }

    /// Records a refusal of an already-read field.
    pub fn refuse(&mut self, name: &str, why: Invalid) {
        self.errors.push(why.at(name));
    }

    /// Parses a field with `parse`, recording its refusal.
    pub fn check<T>(
        &mut self,
        name: &str,
        value: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, Invalid>,
    ) -> Option<T> {
        match parse(value?) {
            Ok(parsed) => Some(parsed),
            Err(why) => {
                self.refuse(name, why);
                None
            }
        }
    }

    /// The fields' values once every one was read (`fields`: the `Option`s the reader gave,
    /// one or a tuple of them), or every refusal recorded. A field is `None` only after its
    /// refusal is recorded, so the values are there exactly when the errors are not.
    pub fn finish<T: Checked>(self, fields: T) -> Result<T::Values, Vec<FieldError>> {
        match fields.values() {
            Some(values) if self.errors.is_empty() => Ok(values),
            _ => Err(self.errors),
        }
    }
}

/// What [`Fields::finish`] takes: the `Option`s of the fields read, one or a tuple, and their
/// values when all are present.
pub trait Checked {
    type Values;
    fn values(self) -> Option<Self::Values>;
}

impl<A> Checked for Option<A> {
    type Values = A;
    fn values(self) -> Option<A> {
        self
    }
}

macro_rules! checked_tuple {
    ($($name:ident),+) => {
        impl<$($name),+> Checked for ($(Option<$name>,)+) {
            type Values = ($($name,)+);
            #[allow(non_snake_case)]
            fn values(self) -> Option<Self::Values> {
                let ($($name,)+) = self;
                Some(($($name?,)+))
            }
        }
    };
}
checked_tuple!(A, B);
checked_tuple!(A, B, C);

/// A JSON number that is a whole number, as pydantic reads an `int` field: `5` and `5.0`
/// are 5, `5.5` is not an integer. (JSON Schema's `integer` counts `5.0` too.)
fn integral(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let n = value.as_f64()?;
    // Inside ±2^53 every integral double is exact, and far beyond any id.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    (n.fract() == 0.0 && n.abs() <= EXACT).then_some(n as i64)
}

/// The values of the query parameters `names`, from decoded `pairs`. For a name given more
/// than once the last value wins, as in Starlette's query parsing for a scalar.
pub fn query_values<const N: usize>(
    pairs: impl IntoIterator<Item = (impl AsRef<str>, impl AsRef<str>)>,
    names: [&str; N],
) -> [Option<String>; N] {
    let mut values = [const { None }; N];
    for (name, value) in pairs {
        if let Some(i) = names.iter().position(|n| *n == name.as_ref()) {
            values[i] = Some(value.as_ref().to_owned());
        }
    }
    values
}

/// An integer query parameter in `min..=max`, `default` when absent; a refusal is recorded
/// in `errors` at `["query", name]` with pydantic's error types.
pub fn query_int(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: Option<&str>,
    default: i64,
    (min, max): (i64, i64),
) -> i64 {
    let error =
        |msg: String, kind: &str| FieldError::new(vec![json!("query"), json!(name)], msg, kind);
    match value.map(str::parse::<i64>) {
        None => return default,
        Some(Ok(n)) if (min..=max).contains(&n) => return n,
        Some(Ok(n)) if n < min => errors.push(
            error(
                format!("ensure this value is greater than or equal to {min}"),
                "value_error.number.not_ge",
            )
            .with_ctx(json!({ "limit_value": min })),
        ),
        Some(Ok(_)) => errors.push(
            error(
                format!("ensure this value is less than or equal to {max}"),
                "value_error.number.not_le",
            )
            .with_ctx(json!({ "limit_value": max })),
        ),
        Some(Err(_)) => errors.push(error(
            "value is not a valid integer".into(),
            "type_error.integer",
        )),
    }
    default
}

/// A path parameter that must be an integer (a record id).
pub fn path_id(name: &str, segment: &str) -> Result<i64, Vec<FieldError>> {
    segment.parse::<i64>().map_err(|_| {
        vec![FieldError::new(
            vec![json!("path"), json!(name)],
            "value is not a valid integer",
            "type_error.integer",
        )]
    })
}

/// Checks a free-text field's length in characters, as the original's `String(256)` columns.
pub fn bounded_text(value: &str, max_chars: usize) -> Result<String, Invalid> {
    if value.chars().count() > max_chars {
        Err(Invalid::TooLong(max_chars))
    } else {
        Ok(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_json_is_a_jsondecode_error_at_body() {
        let errors = json_object("{\"email\": ").unwrap_err();
        assert_eq!(errors[0].kind, "value_error.jsondecode");
        assert_eq!(errors[0].loc[0], json!("body"));
    }

    #[test]
    fn a_json_array_is_not_a_valid_dict() {
        let errors = json_object("[1, 2]").unwrap_err();
        assert_eq!(errors[0].kind, "type_error.dict");
    }

    #[test]
    fn fields_collect_every_error_with_its_location() {
        let object = json_object(r#"{"b": 3}"#).unwrap();
        let mut fields = Fields::new(&object);
        assert_eq!(fields.required_str("a"), None);
        assert_eq!(fields.optional_str("b"), None);
        assert_eq!(fields.optional_str("c"), None);
        let errors = fields.finish(None::<()>).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].loc, vec![json!("body"), json!("a")]);
        assert_eq!(errors[0].kind, "value_error.missing");
        assert_eq!(errors[1].loc, vec![json!("body"), json!("b")]);
        assert_eq!(errors[1].kind, "type_error.str");
    }

    #[test]
    fn integers_are_whole_json_numbers_integral_floats_included() {
        let object =
            json_object(r#"{"a": 5, "b": -61595454.0, "c": 1.5, "d": "5", "e": 1e300}"#).unwrap();
        let mut fields = Fields::new(&object);
        assert_eq!(fields.required_int("a"), Some(5));
        assert_eq!(fields.required_int("b"), Some(-61_595_454));
        assert_eq!(fields.required_int("c"), None);
        assert_eq!(fields.required_int("d"), None);
        assert_eq!(fields.required_int("e"), None, "beyond any id");
        let located: Vec<_> = fields
            .finish(None::<()>)
            .unwrap_err()
            .into_iter()
            .map(|e| (e.loc[1].clone(), e.kind))
            .collect();
        assert_eq!(
            located,
            [
                (json!("c"), "type_error.integer".to_owned()),
                (json!("d"), "type_error.integer".to_owned()),
                (json!("e"), "type_error.integer".to_owned()),
            ]
        );
    }

    #[test]
    fn booleans_are_json_booleans_only() {
        let object = json_object(r#"{"a": true, "b": "true", "c": 1}"#).unwrap();
        let mut fields = Fields::new(&object);
        assert_eq!(fields.required_bool("a"), Some(true));
        assert_eq!(fields.required_bool("b"), None);
        assert_eq!(fields.required_bool("c"), None);
        assert_eq!(fields.required_bool("d"), None);
        let kinds: Vec<_> = fields
            .finish(None::<()>)
            .unwrap_err()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            ["type_error.bool", "type_error.bool", "value_error.missing"]
        );
    }

    #[test]
    fn query_integers_are_bounded_and_located() {
        let mut errors = Vec::new();
        assert_eq!(query_int(&mut errors, "n", None, 10, (1, 100)), 10);
        assert_eq!(query_int(&mut errors, "n", Some("100"), 10, (1, 100)), 100);
        assert!(errors.is_empty());
        for (value, kind) in [
            ("0", "value_error.number.not_ge"),
            ("101", "value_error.number.not_le"),
            ("1e2", "type_error.integer"),
            ("", "type_error.integer"),
        ] {
            let mut errors = Vec::new();
            query_int(&mut errors, "n", Some(value), 10, (1, 100));
            assert_eq!(errors.len(), 1, "{value:?}");
            assert_eq!(errors[0].kind, kind, "{value:?}");
            assert_eq!(errors[0].loc, vec![json!("query"), json!("n")]);
        }
    }

    #[test]
    fn query_values_take_the_last_of_each_name() {
        let pairs = [("a", "1"), ("b", "2"), ("a", "3"), ("c", "4")];
        assert_eq!(
            query_values(pairs, ["a", "b", "d"]),
            [Some("3".into()), Some("2".into()), None]
        );
    }

    #[test]
    fn path_ids_are_integers() {
        assert_eq!(path_id("user_id", "42"), Ok(42));
        let errors = path_id("user_id", "me").unwrap_err();
        assert_eq!(errors[0].loc, vec![json!("path"), json!("user_id")]);
    }

    #[test]
    fn bounded_text_counts_characters_not_bytes() {
        assert!(bounded_text(&"é".repeat(256), 256).is_ok());
        assert_eq!(
            bounded_text(&"a".repeat(257), 256),
            Err(Invalid::TooLong(256))
        );
    }
}
