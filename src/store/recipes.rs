//! The `recipes` table.

use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::D1Database;

use super::{d1_error, int, rows, statement, text_or_null, users};
use crate::domain::{NewRecipe, Recipe, RecipeUpdate, SearchQuery};
use crate::error::Result;
use crate::security::Subject;

const RECIPE_COLUMNS: &str = "id, label, source, url, submitter_id";

#[derive(Deserialize)]
struct RecipeRow {
    id: i64,
    label: String,
    source: String,
    url: String,
    submitter_id: i64,
}

impl From<RecipeRow> for Recipe {
    fn from(row: RecipeRow) -> Recipe {
        Recipe {
            id: row.id,
            label: row.label,
            source: row.source,
            url: row.url,
            submitter_id: row.submitter_id,
        }
    }
}

async fn one(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
    context: &'static str,
) -> Result<Option<Recipe>> {
    let row = statement(db, sql, args, context)?
        .first::<RecipeRow>(None)
        .await
        .map_err(d1_error(context))?;
    Ok(row.map(Recipe::from))
}

async fn many(
    db: &D1Database,
    sql: &str,
    args: &[JsValue],
    context: &'static str,
) -> Result<Vec<Recipe>> {
    let result = statement(db, sql, args, context)?
        .all()
        .await
        .map_err(d1_error(context))?;
    Ok(rows::<RecipeRow>(&result, context)?
        .into_iter()
        .map(Recipe::from)
        .collect())
}

pub async fn find(db: &D1Database, id: i64) -> Result<Option<Recipe>> {
    let sql = format!("SELECT {RECIPE_COLUMNS} FROM recipes WHERE id = ?1");
    one(db, &sql, &[int(id)], "reading recipe").await
}

/// Case-insensitive (ASCII) substring match on the label over all recipes, then the limit.
/// `instr`, not `LIKE`: the keyword is matched literally (`%` and `_` are just characters),
/// and D1 refuses LIKE patterns over 50 bytes. An empty keyword matches every label.
pub async fn search(db: &D1Database, query: &SearchQuery) -> Result<Vec<Recipe>> {
    let sql = format!(
        "SELECT {RECIPE_COLUMNS} FROM recipes WHERE instr(lower(label), lower(?1)) > 0 \
         ORDER BY id LIMIT ?2"
    );
    let keyword = query.keyword.as_deref().unwrap_or("");
    let args = [keyword.into(), int(query.max_results.into())];
    many(db, &sql, &args, "searching recipes").await
}

pub async fn latest(db: &D1Database, limit: u32) -> Result<Vec<Recipe>> {
    let sql = format!("SELECT {RECIPE_COLUMNS} FROM recipes ORDER BY id DESC LIMIT ?1");
    many(db, &sql, &[int(limit.into())], "listing latest recipes").await
}

/// The recipes of the user a token speaks for, or `None` when that user may not act (see
/// [`users::AUTHENTICATED`]): one statement (a user without recipes is one row of NULLs from
/// the outer join).
pub async fn by_authenticated_submitter(
    db: &D1Database,
    subject: Subject,
) -> Result<Option<Vec<Recipe>>> {
    #[derive(Deserialize)]
    struct JoinedRow {
        id: Option<i64>,
        label: Option<String>,
        source: Option<String>,
        url: Option<String>,
        submitter_id: Option<i64>,
    }
    let context = "listing a user's recipes";
    let sql = format!(
        "SELECT r.id, r.label, r.source, r.url, r.submitter_id \
         FROM (SELECT id FROM users WHERE {AUTHENTICATED}) u \
         LEFT JOIN recipes r ON r.submitter_id = u.id ORDER BY r.id",
        AUTHENTICATED = users::AUTHENTICATED
    );
    let args = [int(subject.user_id), int(subject.token_version)];
    let result = statement(db, &sql, &args, context)?
        .all()
        .await
        .map_err(d1_error(context))?;
    let rows = rows::<JoinedRow>(&result, context)?;
    if rows.is_empty() {
        return Ok(None);
    }
    let recipes = rows
        .into_iter()
        .filter_map(|row| {
            Some(Recipe {
                id: row.id?,
                label: row.label?,
                source: row.source?,
                url: row.url?,
                submitter_id: row.submitter_id?,
            })
        })
        .collect();
    Ok(Some(recipes))
}

/// Inserts a recipe submitted by the user a token speaks for; `None` when that user may not
/// act (see [`users::AUTHENTICATED`]). One statement checks and writes.
pub async fn insert(
    db: &D1Database,
    recipe: &NewRecipe,
    subject: Subject,
) -> Result<Option<Recipe>> {
    let sql = format!(
        "INSERT INTO recipes (label, source, url, submitter_id) \
         SELECT ?3, ?4, ?5, id FROM users WHERE {AUTHENTICATED} RETURNING {RECIPE_COLUMNS}",
        AUTHENTICATED = users::AUTHENTICATED
    );
    let args = [
        int(subject.user_id),
        int(subject.token_version),
        recipe.label.as_str().into(),
        recipe.source.as_str().into(),
        recipe.url.as_str().into(),
    ];
    one(db, &sql, &args, "inserting recipe").await
}

/// The condition, on a row of `recipes`, that the token's user (`?1`, `?2`) may change it:
/// they may act, and submitted it or are a superuser.
fn editable_by_subject() -> String {
    format!(
        "EXISTS (SELECT 1 FROM users WHERE {AUTHENTICATED} \
         AND (is_superuser = 1 OR id = recipes.submitter_id))",
        AUTHENTICATED = users::AUTHENTICATED
    )
}

/// Updates a recipe if the token's user may (see [`editable_by_subject`]), in one statement.
/// `None` when no row was changed; [`why_unchanged`] tells why.
pub async fn update(
    db: &D1Database,
    change: &RecipeUpdate,
    subject: Subject,
) -> Result<Option<Recipe>> {
    let sql = format!(
        "UPDATE recipes SET label = ?3, source = COALESCE(?4, source), url = COALESCE(?5, url) \
         WHERE id = ?6 AND {editable} RETURNING {RECIPE_COLUMNS}",
        editable = editable_by_subject()
    );
    let args = [
        int(subject.user_id),
        int(subject.token_version),
        change.label.as_str().into(),
        text_or_null(change.source.as_deref()),
        text_or_null(change.url.as_ref().map(|u| u.as_str())),
        int(change.id),
    ];
    one(db, &sql, &args, "updating recipe").await
}

/// Deletes a recipe if the token's user may, in one statement; `None` when nothing was
/// deleted ([`why_unchanged`] tells why).
pub async fn delete(db: &D1Database, id: i64, subject: Subject) -> Result<Option<Recipe>> {
    let sql = format!(
        "DELETE FROM recipes WHERE id = ?3 AND {editable} RETURNING {RECIPE_COLUMNS}",
        editable = editable_by_subject()
    );
    let args = [int(subject.user_id), int(subject.token_version), int(id)];
    one(db, &sql, &args, "deleting recipe").await
}

/// Why an update or delete of recipe `id` changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Unchanged {
    /// The token's user may not act (gone, inactive, or an older token version).
    NotAuthenticated,
    NoSuchRecipe,
    /// Someone else's recipe, and the caller is no superuser.
    NotTheirs,
}

/// Tells, after the fact, why [`update`] or [`delete`] changed nothing (one statement).
pub async fn why_unchanged(db: &D1Database, id: i64, subject: Subject) -> Result<Unchanged> {
    #[derive(Deserialize)]
    struct Row {
        authenticated: i64,
        recipe: i64,
    }
    let context = "checking a refused recipe change";
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM users WHERE {AUTHENTICATED}) AS authenticated, \
         EXISTS (SELECT 1 FROM recipes WHERE id = ?3) AS recipe",
        AUTHENTICATED = users::AUTHENTICATED
    );
    let args = [int(subject.user_id), int(subject.token_version), int(id)];
    let row = statement(db, &sql, &args, context)?
        .first::<Row>(None)
        .await
        .map_err(d1_error(context))?;
    Ok(match row {
        Some(Row {
            authenticated: 0, ..
        })
        | None => Unchanged::NotAuthenticated,
        Some(Row { recipe: 0, .. }) => Unchanged::NoSuchRecipe,
        Some(_) => Unchanged::NotTheirs,
    })
}
