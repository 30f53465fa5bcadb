DROP TABLE supply_overrides;
ALTER TABLE plan_details DROP COLUMN supply;
