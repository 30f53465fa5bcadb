DROP TABLE stock_order_history;
DROP TABLE stock_order_meta;
