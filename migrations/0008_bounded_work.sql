-- What an unauthenticated client can make the database hold and do is bounded.
--
-- The scheduled cleanup deletes by expiry from these three tables; without an index each of
-- its bounded DELETEs scanned the whole table to find its rows.
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
CREATE INDEX attempts_expires_at ON attempts (expires_at);
CREATE INDEX email_tokens_expires_at ON email_tokens (expires_at);

-- A password reset claims its token before it hashes the new password: the request whose
-- UPDATE sets claimed_until runs the one hash; others with the same token are refused without
-- hashing until the claim lapses (a claimant that never finished frees the token again).
ALTER TABLE email_tokens ADD COLUMN claimed_until INTEGER;
