-- A plan's lines are written in short transactions under a key of their own
-- (`<account>#<generation>`) and made the account's plan by pointing its
-- header at that key in one small last transaction; readers follow the
-- header. Stored plans keep their lines under the account's id.
ALTER TABLE plans ADD COLUMN lines_key TEXT NOT NULL DEFAULT '';
UPDATE plans SET lines_key = account_id;
