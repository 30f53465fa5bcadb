-- Forecast edits: what a merchant knows that no model can (a promotion, a
-- new listing, a product being dropped), per account, target (a SKU or a
-- group: category, vendor, brand, tag) and calendar month. `target_key` is
-- what the target matches (a SKU normalised, a group value as given); one
-- edit per account, target and month (a PUT upserts). `value` is decimal
-- text (a month's quantity or a percent), null for `no_demand`.
CREATE TABLE forecast_edits (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    target_key TEXT NOT NULL,
    month TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT,
    note TEXT,
    created_at TIMESTAMP NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (account_id, target_kind, target_key, month)
);
-- Every change of an edit (created, updated, deleted), kept after the edit
-- expires or is deleted.
CREATE TABLE forecast_edit_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    edit_id TEXT NOT NULL,
    action TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    month TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT,
    note TEXT,
    at TIMESTAMP NOT NULL,
    by_user TEXT NOT NULL
);
CREATE INDEX forecast_edit_history_account ON forecast_edit_history (account_id, seq);
