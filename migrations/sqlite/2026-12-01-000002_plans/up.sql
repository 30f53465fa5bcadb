-- Planning: background jobs, stored plans and their lines, and the master's
-- roll-up settings (links, per-warehouse include flags, exchange rates).

-- A job is a row, so it survives a restart and several server processes can
-- share the queue: a worker claims a job by setting its lease; a lease that
-- runs out (the process died) makes the job claimable again.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    account_id TEXT NOT NULL,
    status TEXT NOT NULL,
    progress_done BIGINT NOT NULL DEFAULT 0,
    progress_total BIGINT NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until TIMESTAMP,
    detail TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
CREATE INDEX jobs_status ON jobs(status, created_at);
CREATE INDEX jobs_account ON jobs(account_id, kind, status);

-- The plan of an account as last computed: the version of its inputs it was
-- computed from (stale when the inputs' version moved on).
CREATE TABLE plans (
    account_id TEXT PRIMARY KEY,
    inputs_version TEXT NOT NULL,
    planning_date DATE NOT NULL,
    computed_at TIMESTAMP NOT NULL,
    line_count BIGINT NOT NULL,
    seconds DOUBLE PRECISION NOT NULL
);

-- One line per variant (child) or per normalised SKU (master).
CREATE TABLE plan_lines (
    account_id TEXT NOT NULL,
    sku_key TEXT NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    vendor TEXT NOT NULL,
    category TEXT NOT NULL,
    brand TEXT NOT NULL,
    tags TEXT NOT NULL,
    available DOUBLE PRECISION NOT NULL,
    on_order DOUBLE PRECISION NOT NULL,
    demand_per_day DOUBLE PRECISION NOT NULL,
    lead_time_days DOUBLE PRECISION NOT NULL,
    days_of_stock DOUBLE PRECISION NOT NULL,
    coverage_demand DOUBLE PRECISION NOT NULL,
    safety_stock DOUBLE PRECISION NOT NULL,
    reorder_point DOUBLE PRECISION NOT NULL,
    order_quantity DOUBLE PRECISION NOT NULL,
    order_by DATE,
    days_of_cover DOUBLE PRECISION,
    urgency TEXT NOT NULL,
    urgency_rank INTEGER NOT NULL,
    forecast_method TEXT NOT NULL,
    unit_cost DOUBLE PRECISION,
    order_value DOUBLE PRECISION,
    accounts TEXT NOT NULL,
    explanation TEXT NOT NULL,
    PRIMARY KEY (account_id, sku_key)
);
CREATE INDEX plan_lines_urgency ON plan_lines(account_id, urgency_rank, order_by);
CREATE INDEX plan_lines_order_quantity ON plan_lines(account_id, order_quantity);
CREATE INDEX plan_lines_order_by ON plan_lines(account_id, order_by);
CREATE INDEX plan_lines_vendor ON plan_lines(account_id, vendor);
CREATE INDEX plan_lines_category ON plan_lines(account_id, category);

-- Explicit links: the child's variant joins the master row of `sku`.
CREATE TABLE sku_links (
    master_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    variant_id TEXT NOT NULL,
    sku TEXT NOT NULL,
    PRIMARY KEY (master_id, account_id, variant_id)
);

-- Per-warehouse refinement of a child's include flags.
CREATE TABLE warehouse_settings (
    master_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    warehouse_id TEXT NOT NULL,
    include_stock BOOLEAN NOT NULL,
    include_sales BOOLEAN NOT NULL,
    PRIMARY KEY (master_id, account_id, warehouse_id)
);

-- Exchange rates per organisation: 1 `from` = `rate` `to` from `day` on.
CREATE TABLE exchange_rates (
    organisation_id TEXT NOT NULL,
    day DATE NOT NULL,
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    rate DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (organisation_id, from_currency, to_currency, day)
);
