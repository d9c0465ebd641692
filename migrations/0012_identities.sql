-- Sign-in through identity providers (Google, GitHub, any OpenID provider).

-- A provider account linked to a user: the provider's id and its stable subject (OpenID's
-- `sub`, GitHub's numeric user id; never an email, which can change hands). One account per
-- provider per user, so unlinking names the provider alone. email: what the provider gave at
-- linking, for the user's list.
CREATE TABLE identities (
    provider   TEXT    NOT NULL CHECK (provider IN ('google', 'github', 'oidc')),
    subject    TEXT    NOT NULL CHECK (length(subject) <= 255),
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL CHECK (length(email) <= 254),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
) WITHOUT ROWID;

CREATE UNIQUE INDEX identities_user_provider ON identities (user_id, provider);

-- The one-time codes a sign-in's redirect carries, by their SHA-256 (the codes themselves are
-- never stored), good for 60 seconds and only while the user keeps the token version they
-- were issued under. Exchanging one deletes it (DELETE … RETURNING), so it works once.
-- client_challenge: the S256 challenge the page that began the sign-in sent, if any; the code
-- is then exchanged only with its verifier.
CREATE TABLE sign_in_codes (
    code_hash        TEXT    PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_version    INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    client_challenge TEXT
) WITHOUT ROWID;

CREATE INDEX sign_in_codes_user_id ON sign_in_codes (user_id);
CREATE INDEX sign_in_codes_expires_at ON sign_in_codes (expires_at);

-- A user who signed up through a provider has no password: hashed_password is '' (the column
-- is NOT NULL, and rebuilding `users` would cascade into every table that refers to it). No
-- PHC string is empty, so no password verifies against it, and login refuses it as it does a
-- wrong password, after the same work. password_costs counts hashes, so '' is left out of it.
DROP TRIGGER password_costs_insert;
DROP TRIGGER password_costs_update;
DROP TRIGGER password_costs_delete;

CREATE TRIGGER password_costs_insert AFTER INSERT ON users WHEN new.hashed_password <> '' BEGIN
    INSERT OR IGNORE INTO password_costs (iterations, hashes)
    VALUES (CAST(substr(new.hashed_password, instr(new.hashed_password, 'i=') + 2) AS INTEGER), 0);
    UPDATE password_costs SET hashes = hashes + 1
    WHERE iterations = CAST(substr(new.hashed_password, instr(new.hashed_password, 'i=') + 2) AS INTEGER);
END;

CREATE TRIGGER password_costs_update AFTER UPDATE OF hashed_password ON users
WHEN old.hashed_password IS NOT new.hashed_password BEGIN
    UPDATE password_costs SET hashes = hashes - 1
    WHERE old.hashed_password <> ''
    AND iterations = CAST(substr(old.hashed_password, instr(old.hashed_password, 'i=') + 2) AS INTEGER);
    INSERT OR IGNORE INTO password_costs (iterations, hashes)
    SELECT CAST(substr(new.hashed_password, instr(new.hashed_password, 'i=') + 2) AS INTEGER), 0
    WHERE new.hashed_password <> '';
    UPDATE password_costs SET hashes = hashes + 1
    WHERE new.hashed_password <> ''
    AND iterations = CAST(substr(new.hashed_password, instr(new.hashed_password, 'i=') + 2) AS INTEGER);
END;

CREATE TRIGGER password_costs_delete AFTER DELETE ON users WHEN old.hashed_password <> '' BEGIN
    UPDATE password_costs SET hashes = hashes - 1
    WHERE iterations = CAST(substr(old.hashed_password, instr(old.hashed_password, 'i=') + 2) AS INTEGER);
END;
