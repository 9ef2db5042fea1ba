-- Alert episodes fired each day, with times to acknowledge and resolve (JSON Lines).
CREATE EXTERNAL TABLE IF NOT EXISTS inventory_alerts (
  day string, alert_id string, rule_id string, rule_name string, kind string, severity string,
  sku string, location string, state string,
  fired_at string, acknowledged_at string, resolved_at string,
  minutes_to_acknowledge bigint, minutes_to_resolve bigint
)
PARTITIONED BY (dt string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
LOCATION 's3://<bucket>/reports/alerts-jsonl/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '2026-01-01,NOW',
  'storage.location.template' = 's3://<bucket>/reports/alerts-jsonl/dt=${dt}/'
);
