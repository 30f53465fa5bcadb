-- Sync: where each connection's incremental pull stands (one cursor per
-- child account and entity, advanced in the transaction that stores the
-- batch), and the change-sequence indexes the read feeds page by.
CREATE TABLE sync_cursors (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    entity TEXT NOT NULL,
    cursor TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, entity)
);

-- Per-organisation automatic sync interval (minutes); absent or 0: off.
CREATE TABLE sync_schedules (
    organisation_id TEXT PRIMARY KEY,
    interval_minutes INTEGER NOT NULL,
    last_run_at TIMESTAMP
);

CREATE INDEX warehouses_seq ON warehouses(account_id, seq);
CREATE INDEX vendors_seq ON vendors(account_id, seq);
CREATE INDEX variants_seq ON variants(account_id, seq);
CREATE INDEX stock_levels_seq ON stock_levels(account_id, seq);
CREATE INDEX sales_orders_seq ON sales_orders(account_id, seq);
CREATE INDEX stock_orders_seq ON stock_orders(account_id, seq);
