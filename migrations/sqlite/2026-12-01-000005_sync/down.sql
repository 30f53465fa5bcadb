DROP INDEX stock_orders_seq;
DROP INDEX sales_orders_seq;
DROP INDEX stock_levels_seq;
DROP INDEX variants_seq;
DROP INDEX vendors_seq;
DROP INDEX warehouses_seq;
DROP TABLE sync_schedules;
DROP TABLE sync_cursors;
