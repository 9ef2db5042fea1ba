-- Daily stock snapshot (CSV with a header row). Replace <bucket> with the ReportsBucketName output.
-- Columns by position, as in the file (its first column is the row's own day); partitions by
-- projection: no crawler, no MSCK REPAIR. OpenCSVSerde reads every column as text; cast in queries.
CREATE EXTERNAL TABLE IF NOT EXISTS inventory_snapshot (
  day string,
  sku string,
  location string,
  on_hand string,
  reserved string,
  in_transit string,
  available string,
  sold string,
  received string,
  refunded string,
  net_change string,
  avg_daily_sales_7d string,
  days_of_cover string,
  days_since_last_sale string,
  days_since_last_receipt string,
  sold_30d string,
  avg_on_hand_30d string,
  turnover_30d string,
  sell_through_30d_pct string,
  sales_change_7d_pct string,
  on_hand_change_7d string,
  unit_cost string,
  currency string,
  inventory_value string,
  age_0_30_days string,
  age_31_90_days string,
  age_91_180_days string,
  age_over_180_days string,
  age_unknown string,
  written_off string,
  written_off_30d string,
  shrinkage_value_30d string
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.apache.hadoop.hive.serde2.OpenCSVSerde'
WITH SERDEPROPERTIES ('separatorChar' = ',', 'quoteChar' = '"')
LOCATION 's3://<bucket>/reports/snapshot/'
TBLPROPERTIES (
  'skip.header.line.count' = '1',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2026-01-01,NOW',
  'storage.location.template' = 's3://<bucket>/reports/snapshot/dt=${dt}/'
);
