-- Search index: every trigram (three characters) of each recipe's label, in an FTS5 table
-- with the trigram tokenizer, so a substring search reads the labels holding the keyword's
-- trigrams instead of scanning every recipe (src/store/recipes.rs, `search`). External
-- content: the labels stay in `recipes` only; the index holds the trigrams and rowids
-- (= recipes.id). Trigrams are case-folded (Unicode, not only ASCII); the search keeps its
-- exact ASCII-only semantics by checking each candidate with `instr(lower(...))`.
CREATE VIRTUAL TABLE recipes_fts USING fts5(
    label,
    content = 'recipes',
    content_rowid = 'id',
    tokenize = 'trigram'
);

-- Kept in sync by triggers. An external-content table is told what the old row held with the
-- 'delete' command. Deleting a user deletes their recipes by ON DELETE CASCADE, and SQLite
-- fires a child table's DELETE triggers for cascaded deletes too.
CREATE TRIGGER recipes_fts_insert AFTER INSERT ON recipes BEGIN
    INSERT INTO recipes_fts (rowid, label) VALUES (new.id, new.label);
END;

CREATE TRIGGER recipes_fts_delete AFTER DELETE ON recipes BEGIN
    INSERT INTO recipes_fts (recipes_fts, rowid, label) VALUES ('delete', old.id, old.label);
END;

CREATE TRIGGER recipes_fts_update AFTER UPDATE OF label ON recipes BEGIN
    INSERT INTO recipes_fts (recipes_fts, rowid, label) VALUES ('delete', old.id, old.label);
    INSERT INTO recipes_fts (rowid, label) VALUES (new.id, new.label);
END;

-- The recipes that exist already.
INSERT INTO recipes_fts (recipes_fts) VALUES ('rebuild');
