-- Sign-in by email (src/store/email_sign_in.rs): one live sign-in per address, keyed by the
-- address as typed (any case is the same address, as in `users`). An email carries both a
-- link's token (256 bits) and a six-digit code; only their hashes are kept (the code's is an
-- HMAC under a key derived from JWT_SECRET, so a copy of the database cannot try all million
-- codes). A newer email replaces the row; the first success deletes it, so the link and the
-- code die together. tries: wrong and right codes sent, counted before the check in the
-- statement that checks; past 5 the row is dead for the link too. claim: set by the batch
-- that is using the row, for its later statements to find it. No user_id: the user is the
-- one with this address when the sign-in succeeds (created then, if EMAIL_SIGN_IN_SIGNUP).
-- The scheduled cleanup deletes rows past expires_at.
CREATE TABLE email_sign_ins (
    email      TEXT    PRIMARY KEY COLLATE NOCASE CHECK (length(email) <= 254),
    token_hash TEXT    NOT NULL UNIQUE,
    code_hash  TEXT    NOT NULL,
    tries      INTEGER NOT NULL DEFAULT 0,
    claim      TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX email_sign_ins_expires_at ON email_sign_ins (expires_at);
