-- A line's explanation is stored compressed (LZ4 of its JSON, the
-- uncompressed size first): 2.4 KB of JSON a line took a page of its own
-- and was most of what a full replan wrote. Plans are derived data: the
-- stored ones are dropped and recomputed on the next read.
DELETE FROM plan_lines;
DELETE FROM plans;
DROP TABLE plan_details;
CREATE TABLE plan_details (
    account_id TEXT NOT NULL,
    sku_key TEXT NOT NULL,
    accounts TEXT NOT NULL,
    explanation BLOB NOT NULL,
    supply TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, sku_key)
);
