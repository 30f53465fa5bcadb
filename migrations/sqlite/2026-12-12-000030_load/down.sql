-- Plans are derived data: dropped, recomputed on the next read.
DELETE FROM plan_lines;
DELETE FROM plan_details;
DELETE FROM plans;
ALTER TABLE plans DROP COLUMN lines_key;
