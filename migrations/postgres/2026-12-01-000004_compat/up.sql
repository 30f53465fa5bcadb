-- Customers of the StockTrim-compatible API (`/compat/stocktrim/api/Customers`):
-- the native model has no customer entity, so they are kept here as the
-- compatible API sent them (the DTO as JSON), keyed by their code.
CREATE TABLE compat_customers (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    code TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, code)
);
