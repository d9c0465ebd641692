//! `/api/v1/recipes`: read, search, create, list one's own, update and delete.

use serde::Serialize;
use worker::{Request, Response};

use super::body::json_text;
use super::current_user::CurrentUser;
use super::App;
use crate::domain::recipe::parse_recipe_id;
use crate::domain::{NewRecipe, Recipe, RecipeUpdate, SearchQuery};
use crate::error::{json_response, ApiError, Result};
use crate::store::recipes;

/// `{"results": [...]}`, the original's list shape.
#[derive(Serialize)]
struct Results {
    results: Vec<Recipe>,
}

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Recipe with ID {id} not found"))
}

pub async fn get(id: &str, app: &App<'_>) -> Result<Response> {
    let id = parse_recipe_id(id)?;
    let recipe = recipes::find(&app.db()?, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(json_response(200, &recipe))
}

pub async fn search(req: &Request, app: &App<'_>) -> Result<Response> {
    let url = req
        .url()
        .map_err(|e| ApiError::internal("request url", e))?;
    let pairs: Vec<_> = url.query_pairs().collect();
    let query = SearchQuery::from_pairs(pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))?;
    let results = recipes::search(&app.db()?, &query).await?;
    Ok(json_response(200, &Results { results }))
}

pub async fn create(mut req: Request, app: &App<'_>) -> Result<Response> {
    let CurrentUser(user) = CurrentUser::authenticate(&req, app).await?;
    let recipe = NewRecipe::from_json(&json_text(&mut req).await?)?;
    if recipe.submitter_id.is_some_and(|id| id != user.id) {
        return Err(ApiError::Forbidden(
            "You can only submit recipes as yourself",
        ));
    }
    let created = recipes::insert(&app.db()?, &recipe, user.id).await?;
    Ok(json_response(201, &created))
}

pub async fn mine(req: &Request, app: &App<'_>) -> Result<Response> {
    let CurrentUser(user) = CurrentUser::authenticate(req, app).await?;
    let results = recipes::by_submitter(&app.db()?, user.id).await?;
    Ok(json_response(200, &Results { results }))
}

/// The original answers an update with 201, and a missing recipe with 400; kept for clients.
pub async fn update(mut req: Request, app: &App<'_>) -> Result<Response> {
    let CurrentUser(user) = CurrentUser::authenticate(&req, app).await?;
    let change = RecipeUpdate::from_json(&json_text(&mut req).await?)?;
    let db = app.db()?;
    match recipes::update(&db, &change, user.id, user.is_superuser).await? {
        Some(updated) => Ok(json_response(201, &updated)),
        None if recipes::find(&db, change.id).await?.is_none() => Err(ApiError::BadRequest(
            format!("Recipe with ID: {} not found.", change.id),
        )),
        None => Err(ApiError::Forbidden("You can only update your recipes.")),
    }
}

pub async fn delete(req: &Request, id: &str, app: &App<'_>) -> Result<Response> {
    let CurrentUser(user) = CurrentUser::authenticate(req, app).await?;
    let id = parse_recipe_id(id)?;
    let db = app.db()?;
    match recipes::delete(&db, id, user.id, user.is_superuser).await? {
        Some(_) => Response::empty()
            .map(|r| r.with_status(204))
            .map_err(|e| ApiError::internal("empty response", e)),
        None if recipes::find(&db, id).await?.is_none() => Err(not_found(id)),
        None => Err(ApiError::Forbidden("You can only delete your recipes.")),
    }
}
