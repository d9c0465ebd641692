-- One live refresh token per session. A rotation records the hash of the token it issued
-- (derived from the one it replaced, see src/security/opaque.rs), so a retry of the same
-- refresh within REFRESH_REUSE_SECONDS is answered with that token again rather than with a
-- second one: the session never forks into two chains that refresh apart.
--
-- Tokens used before this migration have no successor recorded; presented again within
-- their grace window (seconds after the deploy), they are refused rather than answered.
ALTER TABLE refresh_tokens ADD COLUMN successor_hash TEXT;
