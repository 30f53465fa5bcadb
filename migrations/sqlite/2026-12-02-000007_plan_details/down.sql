DELETE FROM plan_lines;
DELETE FROM plans;
ALTER TABLE plans DROP COLUMN summary;
DROP TABLE plan_details;
ALTER TABLE plan_lines ADD COLUMN accounts TEXT NOT NULL DEFAULT '[]';
CREATE TABLE plan_explanations (
    account_id TEXT NOT NULL,
    sku_key TEXT NOT NULL,
    explanation TEXT NOT NULL,
    PRIMARY KEY (account_id, sku_key)
);
