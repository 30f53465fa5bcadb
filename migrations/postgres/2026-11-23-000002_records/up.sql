-- Child-account records fed by imports and syncs. Decimals are stored as
-- exact text; `seq` is the account's ever-increasing change sequence;
-- `fingerprint` hashes the content (without updated_at) to detect unchanged
-- records without loading them.
CREATE TABLE warehouses (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    removed BOOLEAN NOT NULL,
    fingerprint BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE vendors (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    currency TEXT,
    lead_time_days INTEGER,
    minimum_order_quantity TEXT,
    pack_size TEXT,
    updated_at TIMESTAMP NOT NULL,
    removed BOOLEAN NOT NULL,
    fingerprint BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE variants (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    id TEXT NOT NULL,
    sku TEXT NOT NULL,
    sku_norm TEXT NOT NULL,
    barcode TEXT,
    title TEXT,
    product_id TEXT,
    product_title TEXT,
    vendor_id TEXT,
    vendors TEXT,
    brand TEXT,
    category TEXT,
    tags TEXT,
    cost_price TEXT,
    retail_price TEXT,
    currency TEXT,
    tracked BOOLEAN NOT NULL,
    lead_time_days INTEGER,
    min_stock TEXT,
    max_stock TEXT,
    components TEXT,
    assembly BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    removed BOOLEAN NOT NULL,
    fingerprint BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX variants_sku ON variants(account_id, sku_norm);

CREATE TABLE stock_levels (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    variant_id TEXT NOT NULL,
    warehouse_id TEXT NOT NULL,
    on_hand TEXT NOT NULL,
    allocated TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    fingerprint BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, variant_id, warehouse_id)
);

-- Change points of available stock: a row only where the value changes.
-- `reading_at` is the updated_at of the reading that set the day, so the
-- last reading of a day wins even when readings arrive out of order.
CREATE TABLE stock_history (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    variant_id TEXT NOT NULL,
    warehouse_id TEXT NOT NULL,
    day DATE NOT NULL,
    available TEXT NOT NULL,
    reading_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, variant_id, warehouse_id, day)
);

CREATE TABLE sales_orders (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    id TEXT NOT NULL,
    ordered_at TIMESTAMP NOT NULL,
    warehouse_id TEXT,
    currency TEXT NOT NULL,
    cancelled BOOLEAN NOT NULL,
    removed BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    fingerprint BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE sales_order_lines (
    account_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    line_id TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    quantity TEXT NOT NULL,
    unit_price TEXT,
    PRIMARY KEY (account_id, order_id, line_id)
);
-- No index by variant: one costs more than half of a bulk import's time
-- (random-position B-tree inserts); per-variant reads scan the account's
-- lines, which the primary key clusters.

CREATE TABLE stock_orders (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    vendor_id TEXT,
    source_warehouse_id TEXT,
    destination_warehouse_id TEXT,
    expected_at DATE,
    currency TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    removed BOOLEAN NOT NULL,
    fingerprint BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE stock_order_lines (
    account_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    line_id TEXT,
    variant_id TEXT NOT NULL,
    quantity TEXT NOT NULL,
    received_quantity TEXT,
    unit_cost TEXT,
    PRIMARY KEY (account_id, order_id, line_no)
);

CREATE TABLE imports (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    entity TEXT NOT NULL,
    format TEXT NOT NULL,
    user_email TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status TEXT NOT NULL,
    counts TEXT NOT NULL,
    problems TEXT NOT NULL
);
CREATE INDEX imports_account ON imports(account_id, started_at);
