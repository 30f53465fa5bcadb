DROP TABLE plan_calibrations;
