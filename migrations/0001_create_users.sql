-- Users. The email is unique regardless of ASCII case, enforced here rather than by a
-- check-then-insert, so two concurrent signups cannot both succeed.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    first_name      TEXT CHECK (first_name IS NULL OR length(first_name) <= 256),
    surname         TEXT CHECK (surname IS NULL OR length(surname) <= 256),
    email           TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(email) <= 254),
    is_superuser    INTEGER NOT NULL DEFAULT 0 CHECK (is_superuser IN (0, 1)),
    -- PBKDF2-HMAC-SHA256 in PHC format: $pbkdf2-sha256$i=<iterations>,l=32$<salt>$<hash>
    hashed_password TEXT    NOT NULL
);
