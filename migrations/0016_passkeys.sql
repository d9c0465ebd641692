-- Passkeys (WebAuthn): a user's credentials, by the credential id their authenticator made
-- (base64url). public_key is the COSE key as the authenticator gave it (base64url), verified
-- with on every sign-in; algorithm its COSE algorithm (-8 EdDSA, -7 ES256, -257 RS256).
-- sign_count: the authenticator's counter at the last sign-in (0 for those that keep none).
-- transports: the browser's hints, comma-separated. backup_eligible / backed_up: the BE and
-- BS flags (a synced passkey). name: the user's label, by default the device registered from.
CREATE TABLE passkeys (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   TEXT    NOT NULL UNIQUE CHECK (length(credential_id) <= 1364),
    public_key      TEXT    NOT NULL CHECK (length(public_key) <= 1024),
    algorithm       INTEGER NOT NULL CHECK (algorithm IN (-8, -7, -257)),
    sign_count      INTEGER NOT NULL DEFAULT 0,
    transports      TEXT    NOT NULL DEFAULT '' CHECK (length(transports) <= 64),
    backup_eligible INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
    backed_up       INTEGER NOT NULL CHECK (backed_up IN (0, 1)),
    name            TEXT    NOT NULL CHECK (length(name) <= 64),
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
);

CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- The WebAuthn user handle (`user.id` in creation options): 32 random bytes, base64url, made
-- at a user's first passkey registration and kept. Never the numeric id, so an authenticator
-- holds nothing that names the account.
ALTER TABLE users ADD COLUMN passkey_handle TEXT;
CREATE UNIQUE INDEX users_passkey_handle ON users (passkey_handle);

-- Challenges that were answered, by SHA-256. Challenges are sealed, not stored, so asking
-- for options writes nothing; the batch that writes a ceremony's result inserts its
-- challenge here, and a second insert of the same fails the whole batch: a challenge works
-- once. Kept until expires_at (5 minutes after issue), then deleted by the scheduled cleanup.
CREATE TABLE used_passkey_challenges (
    challenge_hash TEXT    PRIMARY KEY,
    expires_at     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX used_passkey_challenges_expires_at ON used_passkey_challenges (expires_at);
