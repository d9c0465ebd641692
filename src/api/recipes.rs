//! `/api/v1/recipes`: read, search, create, list one's own, update and delete.

use serde::Serialize;
use utoipa::ToSchema;
use worker::{Request, Response};

use super::body::json_text;
use super::current_user::{caller, unknown_user};
use super::{no_content, request_url, App};
use crate::domain::recipe::parse_recipe_id;
use crate::domain::recipe::{NewRecipeRequest, RecipeUpdateRequest};
use crate::domain::{NewRecipe, Recipe, RecipeUpdate, SearchQuery};
use crate::error::{json_response, ApiError, Detail, Result, ValidationErrors};
use crate::store::recipes::{self, Unchanged};

/// `{"results": [...]}`, the original's list shape.
#[derive(Serialize, ToSchema)]
#[schema(as = RecipeSearchResults)]
pub struct Results {
    results: Vec<Recipe>,
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Recipe with ID {id} not found"))
}

/// Fetch a single recipe by ID.
#[utoipa::path(
    get, path = "/api/v1/recipes/{recipe_id}", tag = "recipes",
    params(("recipe_id" = i64, Path, description = "The recipe's id")),
    responses(
        (status = 200, description = "The recipe", body = Recipe),
        (status = 404, description = "No such recipe", body = Detail),
        (status = 422, description = "Not an integer", body = ValidationErrors),
    )
)]
pub async fn get(id: &str, app: &App<'_>) -> Result<Response> {
    let id = parse_recipe_id(id)?;
    let recipe = recipes::find(app.db()?, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(json_response(200, &recipe))
}

/// Search recipes by a case-insensitive substring of their label.
///
/// Results are the first `max_results` matches in id order (oldest first). The keyword is
/// looked up in an index of every label's three-character sequences (trigrams), and one
/// search examines at most 1000 candidates: the recipes whose labels hold all of the keyword's
/// trigrams (16 of them, spread from its start to its end, for a longer keyword), in id
/// order. Results are exact unless the `max_results`-th match, or the last one, comes after
/// those 1000 candidates, which takes a keyword whose trigrams are common yet rarely in that
/// sequence (such as `recipe recipe` among many labels that say "recipe"). A keyword whose
/// every trigram holds a NUL character examines the first 1000 recipes.
#[utoipa::path(
    get, path = "/api/v1/recipes/search", tag = "recipes",
    params(
        ("keyword" = Option<String>, Query, min_length = 3, max_length = 256,
         description = "Part of the label; without it, recipes are listed"),
        ("max_results" = Option<i64>, Query, minimum = 1, maximum = 100,
         description = "At most this many (default 10)"),
    ),
    responses(
        (status = 200, description = "Matching recipes, oldest first", body = Results),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn search(req: &Request, app: &App<'_>) -> Result<Response> {
    let query = SearchQuery::from_pairs(request_url(req)?.query_pairs())?;
    let results = recipes::search(app.db()?, &query).await?;
    Ok(json_response(200, &Results { results }))
}

/// Submit a recipe as the caller.
#[utoipa::path(
    post, path = "/api/v1/recipes", tag = "recipes",
    security(("OAuth2PasswordBearer" = [])),
    request_body = NewRecipeRequest,
    responses(
        (status = 201, description = "Created", body = Recipe),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "submitter_id is someone else", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn create(mut req: Request, app: &App<'_>) -> Result<Response> {
    // One statement checks the token's user may act and inserts.
    let caller = caller(&req, app).await?;
    let recipe = NewRecipe::from_json(&json_text(&mut req).await?)?;
    if recipe
        .submitter_id
        .is_some_and(|id| id != caller.claimed_user_id())
    {
        return Err(ApiError::Forbidden(
            "You can only submit recipes as yourself",
        ));
    }
    let created = recipes::insert(app.db()?, &caller, &recipe)
        .await?
        .ok_or_else(unknown_user)?;
    Ok(json_response(201, &created))
}

/// The caller's own recipes.
#[utoipa::path(
    get, path = "/api/v1/recipes/my-recipes", tag = "recipes",
    security(("OAuth2PasswordBearer" = [])),
    responses(
        (status = 200, description = "The caller's recipes", body = Results),
        (status = 401, description = "Not authenticated", body = Detail),
    )
)]
pub async fn mine(req: &Request, app: &App<'_>) -> Result<Response> {
    // One statement checks the token's user may act and reads their recipes.
    let caller = caller(req, app).await?;
    let results = recipes::by_caller(app.db()?, &caller)
        .await?
        .ok_or_else(unknown_user)?;
    Ok(json_response(200, &Results { results }))
}

/// Update a recipe's label, and its source and url when sent.
///
/// The original answers an update with 201, and a missing recipe with 400; kept for clients.
#[utoipa::path(
    put, path = "/api/v1/recipes", tag = "recipes",
    security(("OAuth2PasswordBearer" = [])),
    request_body = RecipeUpdateRequest,
    responses(
        (status = 201, description = "Updated", body = Recipe),
        (status = 400, description = "No such recipe", body = Detail),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Not the caller's recipe", body = Detail),
        (status = 413, description = "Body over 64 KiB", body = Detail),
        (status = 415, description = "Not JSON", body = Detail),
        (status = 422, description = "Validation error", body = ValidationErrors),
    )
)]
pub async fn update(mut req: Request, app: &App<'_>) -> Result<Response> {
    // One statement checks the token's user, their right to the recipe, and writes; a
    // second, only when nothing was written, tells why.
    let caller = caller(&req, app).await?;
    let change = RecipeUpdate::from_json(&json_text(&mut req).await?)?;
    let db = app.db()?;
    if let Some(updated) = recipes::update(db, &caller, &change).await? {
        return Ok(json_response(201, &updated));
    }
    Err(
        match recipes::why_unchanged(db, &caller, change.id).await? {
            Unchanged::NotAuthenticated => unknown_user(),
            Unchanged::NoSuchRecipe => {
                ApiError::BadRequest(format!("Recipe with ID: {} not found.", change.id))
            }
            Unchanged::NotTheirs => ApiError::Forbidden("You can only update your recipes."),
        },
    )
}

/// Delete a recipe: its submitter or a superuser.
#[utoipa::path(
    delete, path = "/api/v1/recipes/{recipe_id}", tag = "recipes",
    security(("OAuth2PasswordBearer" = [])),
    params(("recipe_id" = i64, Path, description = "The recipe's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = Detail),
        (status = 403, description = "Not the caller's recipe", body = Detail),
        (status = 404, description = "No such recipe", body = Detail),
        (status = 422, description = "Not an integer", body = ValidationErrors),
    )
)]
pub async fn delete(req: &Request, id: &str, app: &App<'_>) -> Result<Response> {
    let caller = caller(req, app).await?;
    let id = parse_recipe_id(id)?;
    let db = app.db()?;
    if recipes::delete(db, &caller, id).await?.is_some() {
        return no_content();
    }
    Err(match recipes::why_unchanged(db, &caller, id).await? {
        Unchanged::NotAuthenticated => unknown_user(),
        Unchanged::NoSuchRecipe => not_found(id),
        Unchanged::NotTheirs => ApiError::Forbidden("You can only delete your recipes."),
    })
}
