//! Prints the SQL that the seeding and superuser scripts apply with `wrangler d1 execute`:
//!
//! - `seed-sql local`: the local superuser of `make dev` and the tests (`FIRST_SUPERUSER`,
//!   `FIRST_SUPERUSER_PASSWORD`), email verified: it is an address on this machine. Idempotent.
//! - `seed-sql sample`: the original app's three recipes, submitted by that superuser; local
//!   only (`make dev SAMPLE=1`). Idempotent.
//! - `seed-sql find | promote | create EMAIL`: `scripts/superuser.sh`'s statements for the
//!   user with that address: look them up; make them a superuser, their email verified only
//!   if it was; or create them with `SUPERUSER_PASSWORD`, unverified until they verify.
//!
//! Passwords come from the environment only, never from the command line (which `ps` shows).
//! `PASSWORD_ITERATIONS` is the environment's count; `--deployed` (what `superuser.sh` passes
//! for staging and production) requires it explicitly and refuses an address at a domain
//! nobody here receives mail at (`Email::placeholder_domain`).

use std::process::ExitCode;

use recipe_api::config::{refuse_placeholder, Config};
use recipe_api::domain::{Email, Password};
use recipe_api::security::password::hash_password_now;

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

/// What the superuser statements answer with, for the script to report.
const USER_COLUMNS: &str = "id, email, is_superuser, email_verified, is_active";

/// A SQL string literal.
fn text(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The address `value` (from `name`), which must be given: no address is ever assumed.
fn email(name: &str, value: Option<String>, deployed: bool) -> Result<Email, String> {
    let value = value.ok_or_else(|| {
        format!("{name} is not set: name the superuser's address, one whose mail you receive")
    })?;
    let email =
        Email::parse(&value).map_err(|_| format!("{name} {value:?} is not an email address"))?;
    if deployed {
        if let Some(domain) = email.placeholder_domain() {
            return Err(format!(
                "{name} {value:?} is at {domain}, a placeholder domain whose mail nobody here \
                 receives: whoever does could reset the superuser's password. Name an address \
                 you own"
            ));
        }
    }
    Ok(email)
}

/// A PBKDF2 hash of the password in `name` at the environment's `PASSWORD_ITERATIONS`.
fn password_hash(name: &str, deployed: bool) -> Result<String, String> {
    let password = refuse_placeholder(name, var(name))
        .map_err(|_| format!("{name} is still the placeholder of .dev.vars.example: choose one"))?
        .ok_or_else(|| {
            format!("{name} is not set (it is read from the environment, never from arguments)")
        })?;
    let password = Password::parse(&password)
        .map_err(|_| format!("{name} must have at least 8 characters"))?;
    if deployed && var("PASSWORD_ITERATIONS").is_none() {
        return Err(
            "PASSWORD_ITERATIONS is not set: the environment's own count is \
                    required (docs/deploying.md, the first-deploy checklist)"
                .into(),
        );
    }
    let config = Config::from_vars(var)?;
    hash_password_now(password.expose(), config.password_iterations).map_err(|e| e.to_string())
}

fn local_superuser() -> Result<String, String> {
    let email = text(email("FIRST_SUPERUSER", var("FIRST_SUPERUSER"), false)?.as_str());
    let hash = text(&password_hash("FIRST_SUPERUSER_PASSWORD", false)?);
    Ok(format!(
        "INSERT INTO users (first_name, surname, email, is_superuser, email_verified, hashed_password)\n\
         VALUES ('Initial', 'Super User', {email}, 1, 1, {hash})\n\
         ON CONFLICT (email) DO UPDATE SET is_superuser = 1, email_verified = 1;\n"
    ))
}

fn sample_recipes() -> Result<String, String> {
    let email = text(email("FIRST_SUPERUSER", var("FIRST_SUPERUSER"), false)?.as_str());
    let mut sql = String::new();
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

fn superuser(action: &str, address: Option<String>, deployed: bool) -> Result<String, String> {
    let email = text(email("EMAIL", address, deployed)?.as_str());
    Ok(match action {
        "find" => format!("SELECT {USER_COLUMNS} FROM users WHERE email = {email};\n"),
        // The email's verification is left as it is: promotion proves nothing about the address.
        "promote" => format!(
            "UPDATE users SET is_superuser = 1 WHERE email = {email} RETURNING {USER_COLUMNS};\n"
        ),
        // Unverified, as any new address: its owner verifies it from the email the API sends
        // (docs/deploying.md). Someone who signed up with it meanwhile is only promoted, their
        // password and verification untouched; `created` tells the two apart.
        "create" => {
            let hash = text(&password_hash("SUPERUSER_PASSWORD", deployed)?);
            format!(
                "INSERT INTO users (first_name, surname, email, is_superuser, email_verified, hashed_password)\n\
                 VALUES ('Initial', 'Super User', {email}, 1, 0, {hash})\n\
                 ON CONFLICT (email) DO UPDATE SET is_superuser = 1\n\
                 RETURNING {USER_COLUMNS}, hashed_password = {hash} AS created;\n"
            )
        }
        _ => unreachable!(),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deployed = args.iter().any(|a| a == "--deployed");
    let mut operands = args.iter().filter(|a| !a.starts_with("--")).cloned();
    let sql = match operands.next().as_deref() {
        Some("local") => local_superuser(),
        Some("sample") => sample_recipes(),
        Some(action @ ("find" | "promote" | "create")) => {
            superuser(action, operands.next(), deployed)
        }
        _ => Err(
            "usage: seed-sql local | sample | (find | promote | create) EMAIL [--deployed]".into(),
        ),
    };
    match sql {
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
