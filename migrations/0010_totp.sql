-- A second factor: TOTP (RFC 6238), with recovery codes, and logins waiting for their code.

-- A user's TOTP secret, sealed with AES-256-GCM under the MFA_ENCRYPTION_KEY secret
-- ("v1." and base64url of nonce, ciphertext and tag; the user's id is the associated data),
-- so a copy of the database alone yields no second factor. enabled_at NULL: set up, waiting
-- for its first code. last_step: the last 30-second time step whose code was accepted; a code
-- is accepted only for a later one (UPDATE … WHERE last_step < ?step), so none works twice.
CREATE TABLE totp_factors (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret     TEXT    NOT NULL CHECK (length(secret) <= 256),
    created_at INTEGER NOT NULL,
    enabled_at INTEGER,
    last_step  INTEGER NOT NULL DEFAULT 0
);

-- Single-use recovery codes, by the SHA-256 of the code (80 random bits each): the codes
-- themselves are never stored. Using one deletes it.
CREATE TABLE totp_recovery_codes (
    code_hash TEXT    PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE INDEX totp_recovery_codes_user_id ON totp_recovery_codes (user_id);

-- Logins whose password was right, waiting for the second factor: the mfa_token, by its
-- SHA-256, good for five minutes and only while the user keeps the token version it was
-- issued under (a password change ends it). claimed_by: a value unique to the request whose
-- code was accepted, written in the statement that decides it; a claimed token is used up.
CREATE TABLE mfa_tokens (
    token_hash    TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_version INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    claimed_by    TEXT
) WITHOUT ROWID;

CREATE INDEX mfa_tokens_user_id ON mfa_tokens (user_id);
CREATE INDEX mfa_tokens_expires_at ON mfa_tokens (expires_at);
