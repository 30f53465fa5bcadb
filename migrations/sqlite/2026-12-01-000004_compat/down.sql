DROP TABLE compat_customers;
