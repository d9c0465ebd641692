//! Prints the SQL that seeds a database with the original app's data: a superuser and the
//! three recipes they submitted. Idempotent: running its output twice changes nothing.
//!
//! Reads `FIRST_SUPERUSER` (default admin@recipeapi.com), `FIRST_SUPERUSER_PASSWORD` and
//! `PASSWORD_ITERATIONS` from the environment; `scripts/seed.sh` runs it and applies the SQL.

use std::process::ExitCode;

use recipe_api::config::Config;
use recipe_api::domain::{Email, Password};
use recipe_api::security::password::hash_password_now;

const DEFAULT_SUPERUSER: &str = "admin@recipeapi.com";

const RECIPES: [(&str, &str, &str); 3] = [
    (
        "Chicken Vesuvio",
        "Serious Eats",
        "http://www.seriouseats.com/recipes/2011/12/chicken-vesuvio-recipe.html",
    ),
    (
        "Chicken Paprikash",
        "No Recipes",
        "http://norecipes.com/recipe/chicken-paprikash/",
    ),
    (
        "Cauliflower and Tofu Curry Recipe",
        "Serious Eats",
        "http://www.seriouseats.com/recipes/2011/02/cauliflower-and-tofu-curry-recipe.html",
    ),
];

/// A SQL string literal.
fn text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn seed_sql() -> Result<String, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let email = var("FIRST_SUPERUSER").unwrap_or_else(|| DEFAULT_SUPERUSER.into());
    let email = Email::parse(&email)
        .map_err(|_| format!("FIRST_SUPERUSER {email:?} is not an email address"))?;
    let password = var("FIRST_SUPERUSER_PASSWORD").ok_or("FIRST_SUPERUSER_PASSWORD is not set")?;
    let password = Password::parse(&password)
        .map_err(|_| "FIRST_SUPERUSER_PASSWORD must have at least 8 characters".to_string())?;
    let config = Config::from_vars(var)?;
    let hash = hash_password_now(password.expose(), config.password_iterations)
        .map_err(|e| e.to_string())?;
    let email = text(email.as_str());

    let mut sql = format!(
        "INSERT INTO users (first_name, surname, email, is_superuser, email_verified, hashed_password)\n\
         VALUES ('Initial', 'Super User', {email}, 1, 1, {})\n\
         ON CONFLICT (email) DO UPDATE SET email_verified = 1;\n",
        text(&hash)
    );
    for (label, source, url) in RECIPES {
        sql += &format!(
            "INSERT INTO recipes (label, source, url, submitter_id)\n\
             SELECT {}, {}, {url}, u.id FROM users u WHERE u.email = {email}\n\
             AND NOT EXISTS (SELECT 1 FROM recipes r WHERE r.submitter_id = u.id AND r.url = {url});\n",
            text(label),
            text(source),
            url = text(url),
        );
    }
    Ok(sql)
}

fn main() -> ExitCode {
    match seed_sql() {
        Ok(sql) => {
            print!("{sql}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("seed-sql: {error}");
            ExitCode::FAILURE
        }
    }
}
