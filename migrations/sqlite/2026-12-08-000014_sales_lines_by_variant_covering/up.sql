-- A variant's sale lines read from the index alone (the demand page, an
-- incremental replan): the index carries the columns those reads select
-- (the primary key's order and line ids come with every entry of an index
-- on a WITHOUT ROWID table), so no line is looked up in the table.
CREATE INDEX sales_order_lines_by_variant ON sales_order_lines(account_id, variant_id, quantity, unit_price);
DROP INDEX sales_order_lines_variant;
