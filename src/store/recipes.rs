//! The `recipes` table.

use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use super::caller::{scoped, Caller};
use super::{first_row, int, returned_row, rows, statement, text_or_null, Db};
use crate::domain::{NewRecipe, Recipe, RecipeUpdate, SearchQuery};
use crate::error::Result;

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

/// The recipe a writing statement returns (`RETURNING`), if it wrote one.
async fn written(
    db: &Db,
    statement: D1PreparedStatement,
    context: &'static str,
) -> Result<Option<Recipe>> {
    let row: Option<RecipeRow> = returned_row(db, statement, context).await?;
    Ok(row.map(Recipe::from))
}

async fn many(db: &Db, sql: &str, args: &[JsValue], context: &'static str) -> Result<Vec<Recipe>> {
    let result = db.read(statement(db, sql, args, context)?, context).await?;
    Ok(rows::<RecipeRow>(&result, context)?
        .into_iter()
        .map(Recipe::from)
        .collect())
}

pub async fn find(db: &Db, id: i64) -> Result<Option<Recipe>> {
    let context = "reading recipe";
    let sql = format!("SELECT {RECIPE_COLUMNS} FROM recipes WHERE id = ?1");
    let row: Option<RecipeRow> =
        first_row(db, statement(db, &sql, &[int(id)], context)?, context).await?;
    Ok(row.map(Recipe::from))
}

/// The search through the trigram index (migrations/0006_search_index.sql): the rows whose
/// label holds the keyword's trigrams in sequence, read in id order from the index, so the
/// limit stops the read early. ?1 is the keyword, quoted here as one FTS5 string (in double
/// quotes, each `"` doubled), so nothing in it is FTS5 query syntax. The index folds case
/// beyond ASCII, so each candidate is checked with the exact test of [`search`]'s scan.
/// CROSS JOIN keeps the index as the outer loop, whatever the planner's statistics say.
const SEARCH_BY_INDEX: &str = "SELECT r.id, r.label, r.source, r.url, r.submitter_id \
     FROM recipes_fts CROSS JOIN recipes AS r ON r.id = recipes_fts.rowid \
     WHERE recipes_fts MATCH '\"' || replace(?1, '\"', '\"\"') || '\"' \
     AND instr(lower(r.label), lower(?1)) > 0 \
     ORDER BY recipes_fts.rowid LIMIT ?2";

/// Case-insensitive (ASCII) substring match on the label over all recipes, then the limit,
/// in id order. `instr`, not `LIKE`: the keyword is matched literally (`%` and `_` are just
/// characters), and D1 refuses LIKE patterns over 50 bytes. No keyword lists every recipe.
///
/// A keyword of three characters or more (all the API accepts) is looked up in the trigram
/// index, [`SEARCH_BY_INDEX`], with the same results as the scan. The scan itself is kept for
/// what the index cannot take: fewer than three characters (no trigram) and a NUL, where
/// FTS5's query parser stops (an unterminated string, an error).
pub async fn search(db: &Db, query: &SearchQuery) -> Result<Vec<Recipe>> {
    let context = "searching recipes";
    let limit = int(query.max_results.into());
    match query.keyword.as_deref() {
        None => {
            let sql = format!("SELECT {RECIPE_COLUMNS} FROM recipes ORDER BY id LIMIT ?1");
            many(db, &sql, &[limit], context).await
        }
        Some(keyword) if keyword.chars().nth(2).is_some() && !keyword.contains('\0') => {
            many(db, SEARCH_BY_INDEX, &[keyword.into(), limit], context).await
        }
        Some(keyword) => {
            let sql = format!(
                "SELECT {RECIPE_COLUMNS} FROM recipes WHERE instr(lower(label), lower(?1)) > 0 \
                 ORDER BY id LIMIT ?2"
            );
            many(db, &sql, &[keyword.into(), limit], context).await
        }
    }
}

pub async fn latest(db: &Db, limit: u32) -> Result<Vec<Recipe>> {
    let sql = format!("SELECT {RECIPE_COLUMNS} FROM recipes ORDER BY id DESC LIMIT ?1");
    many(db, &sql, &[int(limit.into())], "listing latest recipes").await
}

/// The caller's recipes, or `None` when their token is no longer good: one statement (a
/// caller without recipes is one row of NULLs from the outer join).
pub async fn by_caller(db: &Db, caller: &Caller) -> Result<Option<Vec<Recipe>>> {
    #[derive(Deserialize)]
    struct JoinedRow {
        id: Option<i64>,
        label: Option<String>,
        source: Option<String>,
        url: Option<String>,
        submitter_id: Option<i64>,
    }
    let context = "listing a user's recipes";
    let sql = "SELECT r.id, r.label, r.source, r.url, r.submitter_id \
               FROM me LEFT JOIN recipes r ON r.submitter_id = me.id ORDER BY r.id";
    let result = db
        .read(scoped(db, caller, context, |_| sql.into())?, context)
        .await?;
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

/// Inserts a recipe submitted by the caller; `None` when their token is no longer good. One
/// statement checks and writes.
pub async fn insert(db: &Db, caller: &Caller, recipe: &NewRecipe) -> Result<Option<Recipe>> {
    let context = "inserting recipe";
    let insert = scoped(db, caller, context, |params| {
        format!(
            "INSERT INTO recipes (label, source, url, submitter_id) \
             SELECT {}, {}, {}, id FROM me RETURNING {RECIPE_COLUMNS}",
            params.bind(recipe.label.as_str()),
            params.bind(recipe.source.as_str()),
            params.bind(recipe.url.as_str()),
        )
    })?;
    written(db, insert, context).await
}

/// The condition, in a statement scoped to a caller, that the caller may change this row of
/// `recipes`: they submitted it or are a superuser.
const EDITABLE_BY_CALLER: &str =
    "EXISTS (SELECT 1 FROM me WHERE is_superuser = 1 OR me.id = recipes.submitter_id)";

/// Updates a recipe if the caller may, in one statement. `None` when no row was changed;
/// [`why_unchanged`] tells why.
pub async fn update(db: &Db, caller: &Caller, change: &RecipeUpdate) -> Result<Option<Recipe>> {
    let context = "updating recipe";
    let update = scoped(db, caller, context, |params| {
        format!(
            "UPDATE recipes SET label = {}, source = COALESCE({}, source), \
             url = COALESCE({}, url) WHERE id = {} AND {EDITABLE_BY_CALLER} \
             RETURNING {RECIPE_COLUMNS}",
            params.bind(change.label.as_str()),
            params.bind(text_or_null(change.source.as_deref())),
            params.bind(text_or_null(change.url.as_ref().map(|u| u.as_str()))),
            params.bind(int(change.id)),
        )
    })?;
    written(db, update, context).await
}

/// Deletes a recipe if the caller may, in one statement; `None` when nothing was deleted
/// ([`why_unchanged`] tells why).
pub async fn delete(db: &Db, caller: &Caller, id: i64) -> Result<Option<Recipe>> {
    let context = "deleting recipe";
    let delete = scoped(db, caller, context, |params| {
        format!(
            "DELETE FROM recipes WHERE id = {} AND {EDITABLE_BY_CALLER} \
             RETURNING {RECIPE_COLUMNS}",
            params.bind(int(id))
        )
    })?;
    written(db, delete, context).await
}

/// Why an update or delete of recipe `id` changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Unchanged {
    /// The caller's token is no longer good (user gone or inactive, older token version,
    /// session ended).
    NotAuthenticated,
    NoSuchRecipe,
    /// Someone else's recipe, and the caller is no superuser.
    NotTheirs,
}

/// Tells, after the fact, why [`update`] or [`delete`] changed nothing (one statement).
pub async fn why_unchanged(db: &Db, caller: &Caller, id: i64) -> Result<Unchanged> {
    #[derive(Deserialize)]
    struct Row {
        authenticated: i64,
        recipe: i64,
    }
    let context = "checking a refused recipe change";
    let check = scoped(db, caller, context, |params| {
        format!(
            "SELECT EXISTS (SELECT 1 FROM me) AS authenticated, \
             EXISTS (SELECT 1 FROM recipes WHERE id = {}) AS recipe",
            params.bind(int(id))
        )
    })?;
    let row: Option<Row> = first_row(db, check, context).await?;
    Ok(match row {
        Some(Row {
            authenticated: 0, ..
        })
        | None => Unchanged::NotAuthenticated,
        Some(Row { recipe: 0, .. }) => Unchanged::NoSuchRecipe,
        Some(_) => Unchanged::NotTheirs,
    })
}
