-- Sessions: every JWT (API token or page session cookie) carries the user's
-- token_version; logging out, changing the password or changing the role
-- bumps it, which ends every token issued before.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;
