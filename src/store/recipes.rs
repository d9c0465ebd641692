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

pub async fn insert(db: &D1Database, recipe: &NewRecipe, submitter_id: i64) -> Result<Recipe> {
    let sql = format!(
        "INSERT INTO recipes (label, source, url, submitter_id) VALUES (?1, ?2, ?3, ?4) \
         RETURNING {RECIPE_COLUMNS}"
    );
    let args = [
        recipe.label.as_str().into(),
        recipe.source.as_str().into(),
        recipe.url.as_str().into(),
        int(submitter_id),
    ];
    one(db, &sql, &args, "inserting recipe")
        .await?
        .ok_or_else(|| crate::error::ApiError::Internal("INSERT … RETURNING gave no row".into()))
}

/// Updates a recipe if `editor` may: its submitter, or anyone when `any_owner`.
/// `None` when no row was changed (missing or not theirs; the caller tells which).
pub async fn update(
    db: &D1Database,
    change: &RecipeUpdate,
    editor: i64,
    any_owner: bool,
) -> Result<Option<Recipe>> {
    let sql = format!(
        "UPDATE recipes SET label = ?1, source = COALESCE(?2, source), url = COALESCE(?3, url) \
         WHERE id = ?4 AND (submitter_id = ?5 OR ?6) RETURNING {RECIPE_COLUMNS}"
    );
    let args = [
        change.label.as_str().into(),
        text_or_null(change.source.as_deref()),
        text_or_null(change.url.as_ref().map(|u| u.as_str())),
        int(change.id),
        int(editor),
        int(any_owner.into()),
    ];
    one(db, &sql, &args, "updating recipe").await
}

/// Deletes a recipe if `editor` may; `None` when nothing was deleted.
pub async fn delete(
    db: &D1Database,
    id: i64,
    editor: i64,
    any_owner: bool,
) -> Result<Option<Recipe>> {
    let sql = format!(
        "DELETE FROM recipes WHERE id = ?1 AND (submitter_id = ?2 OR ?3) RETURNING {RECIPE_COLUMNS}"
    );
    one(
        db,
        &sql,
        &[int(id), int(editor), int(any_owner.into())],
        "deleting recipe",
    )
    .await
}
