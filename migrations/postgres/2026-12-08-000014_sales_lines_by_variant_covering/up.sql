-- A variant's sale lines read from the index alone (the demand page, an
-- incremental replan): the index carries the columns those reads select.
CREATE INDEX sales_order_lines_by_variant ON sales_order_lines(account_id, variant_id)
    INCLUDE (order_id, line_id, quantity, unit_price);
DROP INDEX sales_order_lines_variant;
