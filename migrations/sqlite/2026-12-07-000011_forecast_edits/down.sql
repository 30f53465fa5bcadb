DROP TABLE forecast_edit_history;
DROP TABLE forecast_edits;
