-- Recipes. Deleting a user deletes their recipes, as the original's
-- cascade="all,delete-orphan" did; D1 enforces foreign keys.
CREATE TABLE recipes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    label        TEXT    NOT NULL CHECK (length(label) BETWEEN 1 AND 256),
    source       TEXT    NOT NULL CHECK (length(source) <= 256),
    url          TEXT    NOT NULL CHECK (length(url) <= 256),
    submitter_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX recipes_submitter_id ON recipes (submitter_id);
