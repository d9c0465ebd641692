-- Signed-in devices (GET /api/v1/auth/sessions): what a session shows its user. Each is set
-- at login; last_used_at again at every refresh (not at every request, which would make each
-- read a write). All may be NULL: sessions from before this migration, and those the Worker
-- version still running during a deploy starts (migrations are applied first), have none.
-- user_agent holds a summary such as "Firefox on macOS", never the header itself; country and
-- city are Cloudflare's geolocation of the login's address (request.cf).
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN country TEXT;
ALTER TABLE sessions ADD COLUMN city TEXT;
