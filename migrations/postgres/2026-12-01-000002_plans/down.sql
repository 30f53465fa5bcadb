DROP TABLE exchange_rates;
DROP TABLE warehouse_settings;
DROP TABLE sku_links;
DROP TABLE plan_lines;
DROP TABLE plans;
DROP TABLE jobs;
