DROP INDEX sales_order_lines_variant;
