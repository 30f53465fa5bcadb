DROP TABLE plan_explanations;
DELETE FROM plan_lines;
DELETE FROM plans;
ALTER TABLE plan_lines ADD COLUMN explanation TEXT NOT NULL DEFAULT '{}';
