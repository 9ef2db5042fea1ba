-- Daily stock snapshot as JSON Lines (columns by name). Replace <bucket>.
CREATE EXTERNAL TABLE IF NOT EXISTS inventory_snapshot_json (
  day string, sku string, location string,
  on_hand bigint, reserved bigint, in_transit bigint, available bigint,
  sold bigint, received bigint, refunded bigint, net_change bigint,
  avg_daily_sales_7d double, days_of_cover double,
  days_since_last_sale bigint, days_since_last_receipt bigint,
  sold_30d bigint, avg_on_hand_30d double, turnover_30d double,
  sell_through_30d_pct double, sales_change_7d_pct double, on_hand_change_7d bigint,
  unit_cost double, currency string, inventory_value double,
  age_0_30_days bigint, age_31_90_days bigint, age_91_180_days bigint, age_over_180_days bigint,
  age_unknown bigint, written_off bigint, written_off_30d bigint, shrinkage_value_30d double
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://<bucket>/reports/snapshot-jsonl/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2026-01-01,NOW',
  'storage.location.template' = 's3://<bucket>/reports/snapshot-jsonl/dt=${dt}/'
);
