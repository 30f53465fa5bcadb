-- The catalogue calibration an account's plan lines are computed with: fitted
-- once per planning date (and engine version) on the account's own lines'
-- series when its plan is first computed whole that day, then read by every
-- replan of that day, whole or incremental, so that both compute the same
-- lines. Only the current planning date's is kept.
CREATE TABLE plan_calibrations (
    account_id TEXT NOT NULL,
    planning_date DATE NOT NULL,
    version TEXT NOT NULL,
    calibration TEXT NOT NULL,
    fitted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, planning_date, version)
);
