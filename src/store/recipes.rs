//! The `recipes` table.

use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::D1PreparedStatement;

use super::caller::{scoped, Caller};
use super::{first_row, int, returned_row, rows, statement, text_or_null, Db};
use crate::domain::recipe::MAX_MAX_RESULTS;
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

/// How many candidates one search examines at most. A candidate is a recipe whose label holds
/// every trigram the index is asked for ([`index_query`]); each is then checked for the
/// keyword itself. Asked for the keyword as one phrase, FTS5 checked the trigrams' positions
/// in every label holding them all, with no limit on how many: a keyword whose trigrams are
/// all common but never in sequence (`recipe recipe`) read the whole index. With the cap,
/// results stay exact unless the keyword's `max_results`-th match (or, with fewer matches,
/// its last one) comes after this many candidates in id order; for a real word or phrase
/// nearly every candidate is a match.
pub const SEARCH_CANDIDATES: u32 = 1000;

// A full page of results must fit among the candidates.
const _: () = assert!(SEARCH_CANDIDATES >= MAX_MAX_RESULTS);

/// How many of its trigrams a keyword is looked up by, at most: all of them up to this many
/// (a keyword of up to 18 characters without repeats), else this many spread evenly from its
/// start to its end. Each trigram asked is one more list FTS5 opens and steps through for
/// every candidate, so this bounds the work per candidate.
const SEARCH_TRIGRAMS: usize = 16;

/// The search through the trigram index (migrations/0006_search_index.sql). The inner query
/// reads, in id order, the first ?4 recipes whose labels hold every trigram of ?3 (an FTS5
/// query from [`index_query`]); each is checked with the exact test of [`search`]'s scan
/// (the index folds case beyond ASCII and ignores the trigrams' order), and the limit stops
/// the read once ?2 are found. ?1 is the keyword. CROSS JOIN keeps the candidates as the outer
/// loop; SQLite takes their order for the ORDER BY, so nothing is sorted (tests check the plan).
const SEARCH_BY_INDEX: &str = "SELECT r.id, r.label, r.source, r.url, r.submitter_id \
     FROM (SELECT rowid AS id FROM recipes_fts WHERE recipes_fts MATCH ?3 \
           ORDER BY rowid LIMIT ?4) AS candidate \
     CROSS JOIN recipes AS r ON r.id = candidate.id \
     WHERE instr(lower(r.label), lower(?1)) > 0 \
     ORDER BY candidate.id LIMIT ?2";

/// The same for a keyword the index cannot look up (see [`index_query`]): every recipe is a
/// candidate, the first ?3 in id order.
const SEARCH_BY_SCAN: &str = "SELECT r.id, r.label, r.source, r.url, r.submitter_id \
     FROM (SELECT id FROM recipes ORDER BY id LIMIT ?3) AS candidate \
     CROSS JOIN recipes AS r ON r.id = candidate.id \
     WHERE instr(lower(r.label), lower(?1)) > 0 \
     ORDER BY candidate.id LIMIT ?2";

/// The FTS5 query that finds a keyword's candidates: its distinct trigrams (three characters
/// in a row, ASCII case folded as the search folds it), each quoted as an FTS5 string (in
/// double quotes, each `"` doubled) so nothing in it is query syntax, joined by AND; at most
/// [`SEARCH_TRIGRAMS`] of them. A trigram with a NUL is left out: FTS5's query parser stops at
/// a NUL. `None` when no trigram is left (a keyword under three characters, or one whose every
/// trigram holds a NUL). Every label that holds the keyword holds these trigrams, so the
/// candidates include every match, with one exception as before: the index holds a label only
/// up to its first NUL (FTS5's trigram tokenizer stops there), so text after it is not found.
fn index_query(keyword: &str) -> Option<String> {
    let chars: Vec<char> = keyword.to_ascii_lowercase().chars().collect();
    let mut trigrams: Vec<String> = Vec::new();
    for window in chars.windows(3).filter(|w| !w.contains(&'\0')) {
        let trigram: String = window.iter().collect();
        if !trigrams.contains(&trigram) {
            trigrams.push(trigram);
        }
    }
    let n = trigrams.len();
    let asked: Vec<&String> = match n {
        0 => return None,
        _ if n <= SEARCH_TRIGRAMS => trigrams.iter().collect(),
        // Evenly spaced indexes from 0 to n - 1; distinct, as n > SEARCH_TRIGRAMS.
        _ => (0..SEARCH_TRIGRAMS)
            .map(|i| &trigrams[i * (n - 1) / (SEARCH_TRIGRAMS - 1)])
            .collect(),
    };
    let quoted: Vec<String> = asked
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    Some(quoted.join(" AND "))
}

/// Case-insensitive (ASCII) substring match on the label over all recipes, then the limit,
/// in id order. `instr`, not `LIKE`: the keyword is matched literally (`%` and `_` are just
/// characters), and D1 refuses LIKE patterns over 50 bytes. No keyword lists every recipe.
///
/// A keyword is looked up in the trigram index, [`SEARCH_BY_INDEX`]; one the index cannot
/// take (no trigram without a NUL) scans the recipes instead, [`SEARCH_BY_SCAN`]. Either way
/// a search examines at most [`SEARCH_CANDIDATES`] candidates.
pub async fn search(db: &Db, query: &SearchQuery) -> Result<Vec<Recipe>> {
    let context = "searching recipes";
    let limit = int(query.max_results.into());
    let cap = int(SEARCH_CANDIDATES.into());
    let Some(keyword) = query.keyword.as_deref() else {
        let sql = format!("SELECT {RECIPE_COLUMNS} FROM recipes ORDER BY id LIMIT ?1");
        return many(db, &sql, &[limit], context).await;
    };
    match index_query(keyword) {
        Some(trigrams) => {
            let args = [keyword.into(), limit, trigrams.into(), cap];
            many(db, SEARCH_BY_INDEX, &args, context).await
        }
        None => many(db, SEARCH_BY_SCAN, &[keyword.into(), limit, cap], context).await,
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{index_query, SEARCH_TRIGRAMS};

    #[test]
    fn a_keyword_is_looked_up_by_its_distinct_trigrams_each_quoted() {
        assert_eq!(index_query("Soup").as_deref(), Some(r#""sou" AND "oup""#));
        assert_eq!(
            index_query("recipe recipe").as_deref(),
            Some(r#""rec" AND "eci" AND "cip" AND "ipe" AND "pe " AND "e r" AND " re""#),
        );
        assert_eq!(index_query("aaaa").as_deref(), Some(r#""aaa""#));
        // FTS5 syntax is only text inside a string; a double quote is doubled.
        assert_eq!(
            index_query(r#"a"b OR"#).as_deref(),
            Some(r#""a""b" AND """b " AND "b o" AND " or""#),
        );
        // ASCII case folded as the search folds it; other scripts are left to the index.
        assert_eq!(index_query("ÉCL").as_deref(), Some(r#""Écl""#));
    }

    #[test]
    fn trigrams_with_a_nul_are_left_out_and_none_left_means_no_index() {
        assert_eq!(
            index_query("ab\0cde").as_deref(),
            Some(r#""cde""#),
            "ab\\0, b\\0c and \\0cd hold the NUL"
        );
        for keyword in ["", "ab", "a\0b", "\0\0\0", "ab\0cd"] {
            assert_eq!(index_query(keyword), None, "{keyword:?}");
        }
    }

    #[test]
    fn a_long_keyword_is_looked_up_by_trigrams_spread_from_start_to_end() {
        let keyword: String = ('a'..='z').collect(); // 24 distinct trigrams
        let query = index_query(&keyword).unwrap();
        let asked: Vec<&str> = query.split(" AND ").map(|t| t.trim_matches('"')).collect();
        assert_eq!(asked.len(), SEARCH_TRIGRAMS);
        assert_eq!(
            asked.join(" "),
            "abc bcd def efg ghi hij jkl klm mno nop pqr qrs stu tuv vwx xyz"
        );
        let distinct: BTreeSet<&str> = asked.iter().copied().collect();
        assert_eq!(distinct.len(), asked.len(), "no trigram asked twice");
        // Repeats do not count: a 256-character keyword of one repeated word asks 7.
        let repeated = "Recipe ".repeat(37);
        assert_eq!(
            index_query(&repeated[..256])
                .unwrap()
                .split(" AND ")
                .count(),
            7
        );
    }
}
