-- A merchant's marks on a SKU of an account's plan, by normalised SKU: "not
-- for reorder" keeps the line in the plan (its stock and demand still count)
-- with an order quantity of 0 and a flag saying so.
CREATE TABLE sku_settings (
    account_id TEXT NOT NULL,
    sku_key TEXT NOT NULL,
    sku TEXT NOT NULL,
    not_for_reorder BOOLEAN NOT NULL,
    note TEXT,
    updated_at TIMESTAMP NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (account_id, sku_key)
);
