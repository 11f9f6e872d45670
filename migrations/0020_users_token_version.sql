-- 0020_users_token_version.sql: a token version per user, so that a password
-- change ends every token issued before it.
--
-- Tokens carry the version they were signed with ("ver"; absent means 0) and
-- the API refuses a token whose version is not the user's current one. A new
-- password increments the column (api_sql.c, user_update). Existing users get
-- 0, which is what every token already issued carries, so the upgrade logs
-- nobody out. password_changed_by holds the SHA-256 (hex) of the token that
-- made the last change: that one session stays signed in (it could have
-- changed the password again anyway), every other earlier token is refused.
--
-- Online-safe: ADD COLUMN with a constant default is a catalog change since
-- PostgreSQL 11 (no table rewrite); its brief ACCESS EXCLUSIVE lock is bounded
-- by the migrator's lock_timeout and retried.

ALTER TABLE users ADD COLUMN IF NOT EXISTS token_version integer NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS password_changed_by text;
