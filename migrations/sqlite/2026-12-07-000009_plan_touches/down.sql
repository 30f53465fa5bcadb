DROP TABLE plan_touches;
