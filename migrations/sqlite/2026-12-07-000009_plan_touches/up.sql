-- What each write touched, for incremental replanning: per account and data
-- version, the variants whose plan inputs changed (`*`: anything, e.g. a
-- catalogue or warehouse change). A data version without a row here was
-- bumped by something else (a setting): its plans are recomputed whole.
-- Rows older than every plan that reads them are deleted by the planner.
CREATE TABLE plan_touches (
    account_id TEXT NOT NULL,
    data_version BIGINT NOT NULL,
    variant_id TEXT NOT NULL,
    PRIMARY KEY (account_id, data_version, variant_id)
);
