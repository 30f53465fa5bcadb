-- The supply plan. Each plan line keeps what its weekly projection is
-- computed from (the order plan's engine input, compact JSON), so that a list
-- of supply plans runs no forecast. Plans are derived data: the stored ones
-- are dropped and recomputed on the next read.
DELETE FROM plan_lines;
DELETE FROM plan_details;
DELETE FROM plans;
ALTER TABLE plan_details ADD COLUMN supply TEXT NOT NULL DEFAULT '';
-- A merchant's quantity for one week of a SKU's supply plan: it replaces the
-- recommended order of the week starting on first_day until deleted.
CREATE TABLE supply_overrides (
    account_id TEXT NOT NULL,
    sku_key TEXT NOT NULL,
    first_day DATE NOT NULL,
    quantity REAL NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, sku_key, first_day)
);
