-- The nightly replenishment plans (CSV with a header row), one row per SKU and location. Replace
-- <bucket> with the ReportsBucketName output. Columns by position, as in the file (the row's own
-- day is `planned_on`; `dt` is the partition); partitions by projection. OpenCSVSerde reads
-- every column as text; cast in queries. A day is complete once its manifest exists
-- (reports/replenishment-manifests/dt=YYYY-MM-DD/manifest.json).
CREATE EXTERNAL TABLE IF NOT EXISTS inventory_replenishment (
  planned_on string,
  sku string,
  location string,
  supplier string,
  method string,
  history_days string,
  demand_per_day string,
  lead_time_days string,
  reorder_point string,
  safety_stock string,
  target string,
  available string,
  in_transit string,
  suggested string,
  pack_size string,
  min_order_qty string
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '"')
LOCATION 's3://<bucket>/reports/replenishment/'
TBLPROPERTIES (
  'skip.header.line.count' = '1',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2026-01-01,NOW',
  'storage.location.template' = 's3://<bucket>/reports/replenishment/dt=${dt}/'
);

-- What to order, by supplier, from the latest complete night:
-- SELECT supplier, sku, location, CAST(suggested AS integer) AS units
-- FROM inventory_replenishment
-- WHERE dt = (SELECT max(dt) FROM inventory_replenishment) AND CAST(suggested AS integer) > 0
-- ORDER BY supplier, location, sku;
