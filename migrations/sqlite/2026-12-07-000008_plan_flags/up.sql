-- Plan lines carry flags for what a merchant should confirm before ordering
-- (a long stockout, no recent sales, a late open order): a JSON array that
-- list reads return and `?flag=` filters on. Plans are derived data: the
-- stored ones are dropped and recomputed on the next read.
DELETE FROM plan_details;
DELETE FROM plan_lines;
DELETE FROM plans;
ALTER TABLE plan_lines ADD COLUMN flags TEXT NOT NULL DEFAULT '[]';
