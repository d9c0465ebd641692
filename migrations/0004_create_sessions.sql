-- Account status and token invalidation. An inactive user can neither log in nor use a
-- token. Every access token carries the user's token_version ("ver"); raising it (password
-- change or reset, deactivation) makes every token issued before unusable at once.
ALTER TABLE users ADD COLUMN is_active INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1));
ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;

-- A session is one login: a family of refresh tokens, each replacing the one before.
-- Revoking it (logout, a refresh token presented twice, a password change) ends every
-- token of the family.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) WITHOUT ROWID;

CREATE INDEX sessions_user_id ON sessions (user_id);

-- Refresh tokens, by the SHA-256 of the token: the tokens themselves are never stored.
-- A used token is kept until it expires, so that presenting it again is recognised as reuse.
CREATE TABLE refresh_tokens (
    token_hash TEXT    PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;

CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
