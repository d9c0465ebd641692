-- A session records the token version of the credentials it was started with. It is
-- created only while the user still has that version (INSERT … SELECT … WHERE), and a
-- refresh requires it to be the user's current one: a login that checked a password about to
-- change, or a session from before a change, cannot be refreshed. Live sessions get their
-- user's current version.
ALTER TABLE sessions ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET token_version = (SELECT token_version FROM users WHERE users.id = sessions.user_id);

-- Attempt counters for login and signup (src/security/throttle.rs). Every attempt is counted
-- before it is checked, so this counts attempts, not failures, and each counter carries the
-- end of its own window (login and signup windows differ). Replaces login_failures, which is
-- left in place for the Worker version that still runs while a deploy rolls out (migrations
-- are applied first); a later migration drops it. Its counters live at most 15 minutes.
CREATE TABLE attempts (
    key        TEXT    PRIMARY KEY,
    count      INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
