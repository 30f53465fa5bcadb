CREATE INDEX sales_order_lines_variant ON sales_order_lines(account_id, variant_id);
DROP INDEX sales_order_lines_by_variant;
