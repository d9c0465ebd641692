-- Email verification: existing users start unverified (the seed marks its superuser
-- verified). It only ever goes from 0 to 1: a user's email cannot be changed.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));

-- Single-use tokens sent by email: password recovery ('reset') and email verification
-- ('verify'), by the SHA-256 of the token: the tokens themselves are never stored. A token
-- works only while the user still has the email it was sent to and, for a reset, the token
-- version it was issued under: any password change, reset or deactivation ends it.
CREATE TABLE email_tokens (
    token_hash    TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose       TEXT    NOT NULL CHECK (purpose IN ('reset', 'verify')),
    email         TEXT    NOT NULL,
    token_version INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX email_tokens_user_id ON email_tokens (user_id, purpose);
