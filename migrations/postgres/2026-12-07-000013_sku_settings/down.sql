DROP TABLE sku_settings;
