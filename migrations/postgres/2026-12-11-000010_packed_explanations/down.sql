DELETE FROM plan_lines;
DELETE FROM plans;
DROP TABLE plan_details;
CREATE TABLE plan_details (
    account_id TEXT NOT NULL,
    sku_key TEXT NOT NULL,
    accounts TEXT NOT NULL,
    explanation TEXT NOT NULL,
    supply TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, sku_key)
);
