DROP TABLE import_claims;
