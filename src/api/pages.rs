//! HTML pages: the home page with the latest recipes.

use askama::Template;
use worker::Response;

use super::App;
use crate::domain::Recipe;
use crate::error::{ApiError, Result};
use crate::store::recipes;

const HOME_RECIPES: u32 = 10;

/// askama escapes every `{{ value }}` for HTML, so a label like `<script>` shows as text.
#[derive(Template)]
#[template(path = "index.html")]
struct HomePage {
    recipes: Vec<Recipe>,
}

pub async fn home(app: &App<'_>) -> Result<Response> {
    let page = HomePage {
        recipes: recipes::latest(&app.db()?, HOME_RECIPES).await?,
    };
    let html = page
        .render()
        .map_err(|e| ApiError::internal("rendering home page", e))?;
    Response::from_html(html).map_err(|e| ApiError::internal("home response", e))
}
