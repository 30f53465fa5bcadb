-- A master's per-child figures move out of the plan lines, next to the
-- explanations: a list query sorts and pages rows of a few hundred bytes
-- (on a master with ten children the figures were most of a row), and reads
-- the details of the page's rows only. A plan's header keeps a summary of its
-- lines (what to order by urgency, the vendors, categories and brands), so
-- that the order-plan page does not scan the lines for it. Plans are derived
-- data: the stored ones are dropped and recomputed on the next read.
DELETE FROM plan_lines;
DELETE FROM plans;
DROP TABLE plan_explanations;
ALTER TABLE plan_lines DROP COLUMN accounts;
CREATE TABLE plan_details (
    account_id TEXT NOT NULL,
    sku_key TEXT NOT NULL,
    accounts TEXT NOT NULL,
    explanation TEXT NOT NULL,
    PRIMARY KEY (account_id, sku_key)
);
ALTER TABLE plans ADD COLUMN summary TEXT NOT NULL DEFAULT '{}';
