-- Plan explanations live apart from the plan lines: a list query sorts and
-- pages narrow rows (a few hundred bytes) instead of rows carrying a
-- kilobytes-long explanation each. Plans are derived data: the stored ones
-- are dropped and recomputed by the job worker on the next read.
DELETE FROM plan_lines;
DELETE FROM plans;
ALTER TABLE plan_lines DROP COLUMN explanation;
CREATE TABLE plan_explanations (
    account_id TEXT NOT NULL,
    sku_key TEXT NOT NULL,
    explanation TEXT NOT NULL,
    PRIMARY KEY (account_id, sku_key)
);
