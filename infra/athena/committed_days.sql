-- The days whose run committed: one row per manifest (reports/manifests/dt=…/manifest.json, one
-- JSON object per file). A run writes its manifest last, after every part of the day is in place,
-- so the views below show a day only once it is whole. Replace <bucket>; run after the tables.
CREATE EXTERNAL TABLE IF NOT EXISTS inventory_report_days (
  as_of string, levels bigint, alerts bigint
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://<bucket>/reports/manifests/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2026-01-01,NOW',
  'storage.location.template' = 's3://<bucket>/reports/manifests/dt=${dt}/'
);

CREATE OR REPLACE VIEW inventory_snapshot_committed AS
SELECT s.* FROM inventory_snapshot s JOIN inventory_report_days d ON s.dt = d.dt;

CREATE OR REPLACE VIEW inventory_snapshot_json_committed AS
SELECT s.* FROM inventory_snapshot_json s JOIN inventory_report_days d ON s.dt = d.dt;

CREATE OR REPLACE VIEW inventory_trends_committed AS
SELECT t.* FROM inventory_trends t JOIN inventory_report_days d ON t.report_dt = d.dt;

CREATE OR REPLACE VIEW inventory_alerts_committed AS
SELECT a.* FROM inventory_alerts a JOIN inventory_report_days d ON a.dt = d.dt;
