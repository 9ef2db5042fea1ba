-- The nightly replenishment plans as JSON Lines, with the 28-day forecast and its band as arrays.
CREATE EXTERNAL TABLE IF NOT EXISTS inventory_replenishment_plans (
  planned_on string, sku string, location string, supplier string,
  lead_time_days int, review_days int, pack_size int, min_order_qty int, service_level double,
  method string, method_note string, history_days int, demand_per_day double,
  forecast array<double>, band_low array<double>, band_high array<double>,
  reorder_point bigint, safety_stock double, target double,
  available bigint, in_transit bigint, suggested bigint, holdout_mae double
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://<bucket>/reports/replenishment-jsonl/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2026-01-01,NOW',
  'storage.location.template' = 's3://<bucket>/reports/replenishment-jsonl/dt=${dt}/'
);
