-- Foundation: tenants, users, credentials, server settings and accounts.
CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    -- bumped inside every transaction that adds or attaches accounts, so
    -- concurrent creations serialise on this row (the master rule).
    accounts_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX users_organisation ON users(organisation_id);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    account_ids TEXT,
    read_only BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);

CREATE TABLE server_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    master_id TEXT REFERENCES accounts(id),
    currency TEXT NOT NULL,
    timezone TEXT NOT NULL,
    connection_kind TEXT,
    connection_settings TEXT,
    connection_secret TEXT,
    include_stock BOOLEAN NOT NULL,
    include_sales BOOLEAN NOT NULL,
    lead_time_days INTEGER NOT NULL,
    days_of_stock INTEGER NOT NULL,
    service_level DOUBLE NOT NULL,
    last_synced_at TIMESTAMP,
    change_seq BIGINT NOT NULL DEFAULT 0,
    data_version BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX accounts_organisation ON accounts(organisation_id);
CREATE UNIQUE INDEX accounts_one_master ON accounts(organisation_id) WHERE kind = 'master';
