DROP TABLE accounts;
DROP TABLE server_settings;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE organisations;
