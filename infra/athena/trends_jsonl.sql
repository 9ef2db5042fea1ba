-- Daily totals per SKU and location over the 28 days up to each report day (JSON Lines).
CREATE EXTERNAL TABLE IF NOT EXISTS inventory_trends (
  day string, sku string, location string, sold bigint, received bigint, refunded bigint,
  on_hand bigint
)
PARTITIONED BY (report_dt string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://<bucket>/reports/trends-jsonl/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.report_dt.type' = 'date',
  'projection.report_dt.format' = 'yyyy-MM-dd',
  'projection.report_dt.range' = '2026-01-01,NOW',
  'storage.location.template' = 's3://<bucket>/reports/trends-jsonl/dt=${report_dt}/'
);
