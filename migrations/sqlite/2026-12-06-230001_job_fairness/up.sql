-- The job claim orders organisations by their last started job of a kind and
-- counts their running jobs: both read by (organisation, kind).
CREATE INDEX jobs_organisation ON jobs(organisation_id, kind, started_at);
