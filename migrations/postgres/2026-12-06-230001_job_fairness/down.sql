DROP INDEX jobs_organisation;
