ALTER TABLE plan_lines DROP COLUMN flags;
