-- Demand analysis reads one variant's sale lines. A narrow secondary index
-- (account, variant) finds them without scanning the account's lines; the
-- import pays for it (measured in docs/ARCHITECTURE.md, "Demand reads").
CREATE INDEX sales_order_lines_variant ON sales_order_lines(account_id, variant_id);
