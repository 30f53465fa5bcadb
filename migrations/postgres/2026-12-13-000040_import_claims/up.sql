-- A large import of new sales orders writes their lines first, in short
-- transactions, and makes them visible with their order headers in a last
-- one (lines are only read through their headers). Each order it writes
-- early is claimed here until then: another writer that creates the same
-- order takes the claim over (and removes the early lines), and the next
-- start removes the lines of claims a killed import left.
CREATE TABLE import_claims (
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    order_id TEXT NOT NULL,
    import_key TEXT NOT NULL,
    PRIMARY KEY (account_id, order_id)
);
