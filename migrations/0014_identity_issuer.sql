-- Identities keyed by who vouches for them, and every sign-in code bound to the page that
-- began its sign-in. SQLite cannot change a primary key or make a column NOT NULL in place,
-- so both tables are rebuilt; nothing refers to either.

-- An identity is (issuer, subject): OpenID Connect Core §5.7 makes only that pair stable, so
-- a deployment pointed at another issuer (OIDC_ISSUER, GITHUB_URL) gets new identities,
-- which link or not by the email rules, rather than signing its users into the accounts of
-- the old issuer's users who had the same `sub`. issuer: the ID token's `iss` (Google:
-- https://accounts.google.com; oidc: OIDC_ISSUER as configured) or, for GitHub, which has
-- none, GITHUB_URL without a trailing slash. One identity per provider per user stays (the
-- unique index below): unlinking names the provider alone.
--
-- Existing rows are filled from the provider they came from. A migration cannot read the
-- Worker's vars, so:
-- - google: https://accounts.google.com, the only issuer the code ever accepted for it;
-- - github: https://github.com, GITHUB_URL's default; a deployment that set GITHUB_URL to
--   another GitHub (Enterprise Server, the local stand-in) must set its rows' issuer to it;
-- - oidc: '' (not recorded), which matches no configured issuer (OIDC_ISSUER must be an
--   http(s) URL): a guess could hand old accounts to whoever the issuer is now. Until the
--   operator records the issuer the rows came from, those identities do not sign in.
-- The commands, and how to find the value, are in docs/deploying.md ("Identities keyed by
-- issuer"). The column defaults to '' so that the release before this one, which does not
-- name it, still links identities if it is rolled back to; they are then not recorded
-- either, and the same command records them.
CREATE TABLE identities_by_issuer (
    provider   TEXT    NOT NULL CHECK (provider IN ('google', 'github', 'oidc')),
    issuer     TEXT    NOT NULL DEFAULT '' CHECK (length(issuer) <= 1024),
    subject    TEXT    NOT NULL CHECK (length(subject) <= 255),
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      TEXT    NOT NULL CHECK (length(email) <= 254),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;

INSERT INTO identities_by_issuer (provider, issuer, subject, user_id, email, created_at)
SELECT provider,
       CASE provider
           WHEN 'google' THEN 'https://accounts.google.com'
           WHEN 'github' THEN 'https://github.com'
           ELSE ''
       END,
       subject, user_id, email, created_at
FROM identities;

DROP TABLE identities;
ALTER TABLE identities_by_issuer RENAME TO identities;
CREATE UNIQUE INDEX identities_user_provider ON identities (user_id, provider);

-- Every sign-in code carries the S256 challenge of the page that began the sign-in, and is
-- exchanged only with its verifier: a code without one, which anyone holding it could
-- exchange (an attacker's own, planted in a victim's page), cannot be stored. Codes live 60
-- seconds; those without a challenge are not carried over. The release before this one
-- stored such codes for sign-ins begun without a challenge: on this schema those sign-ins
-- fail and write nothing, which is what this release's `authorize` does to them first.
CREATE TABLE sign_in_codes_bound (
    code_hash        TEXT    PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_version    INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    client_challenge TEXT    NOT NULL CHECK (length(client_challenge) = 43)
) WITHOUT ROWID;

INSERT INTO sign_in_codes_bound (code_hash, user_id, token_version, expires_at, client_challenge)
SELECT code_hash, user_id, token_version, expires_at, client_challenge
FROM sign_in_codes
WHERE length(client_challenge) = 43;

DROP TABLE sign_in_codes;
ALTER TABLE sign_in_codes_bound RENAME TO sign_in_codes;
CREATE INDEX sign_in_codes_user_id ON sign_in_codes (user_id);
CREATE INDEX sign_in_codes_expires_at ON sign_in_codes (expires_at);
