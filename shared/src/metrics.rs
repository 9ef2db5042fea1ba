//! CloudWatch metrics in the embedded metric format (EMF): one JSON line on stdout per event,
//! which Lambda's log agent turns into metrics in the `Inventory` namespace with no API call and
//! no extra latency. The alarms and the dashboard in `template.yaml` read these.
//!
//! Emitted: `MovementsAccepted` / `MovementsRefused` (by `Kind`; refused also by `Reason`),
//! `AlertsFired` / `AlertsResolved` (by `Kind`), `DeliveriesSent` / `DeliveriesFailed` (by
//! `Channel`; failed is "refused for good"), `StreamRecordsFailed`, and the report run's
//! `ReportWritten`, `ReportRows` and `ReportDuration`.

use serde_json::{json, Map, Value};

/// The namespace of every metric.
pub const NAMESPACE: &str = "Inventory";

/// A metric's unit (the EMF names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// The EMF line for `metrics` (name, value, unit) under `dimensions` (name, value), at
/// `timestamp_ms`.
pub fn emf_line(
    dimensions: &[(&str, &str)],
    metrics: &[(&str, f64, Unit)],
    timestamp_ms: i64,
) -> String {
    let mut line = Map::new();
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics
                    .iter()
                    .map(|(name, _, unit)| json!({ "Name": name, "Unit": unit.as_str() }))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions {
        line.insert((*k).to_owned(), json!(v));
    }
    for (name, value, _) in metrics {
        line.insert((*name).to_owned(), json!(value));
    }
    Value::Object(line).to_string()
}

/// Prints one EMF line (stdout, where Lambda collects it).
pub fn emit(dimensions: &[(&str, &str)], metrics: &[(&str, f64, Unit)]) {
    let now = time::OffsetDateTime::now_utc();
    let ms = now.unix_timestamp() * 1000 + i64::from(now.millisecond());
    println!("{}", emf_line(dimensions, metrics, ms));
}

/// Counts under one dimension (`Function`, `Report`…), each a whole number of events.
pub fn counts(dimension: (&str, &str), counts: &[(&str, usize)]) {
    let metrics: Vec<(&str, f64, Unit)> = counts
        .iter()
        .map(|(name, n)| (*name, *n as f64, Unit::Count))
        .collect();
    emit(&[dimension], &metrics);
}

/// One event counted once under one dimension.
pub fn count(name: &str, dimension: (&str, &str)) {
    emit(&[dimension], &[(name, 1.0, Unit::Count)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_what_cloudwatch_reads_as_metrics() {
        let line: Value = serde_json::from_str(&emf_line(
            &[("Kind", "sale")],
            &[("MovementsAccepted", 1.0, Unit::Count)],
            1_764_547_200_000,
        ))
        .unwrap();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Inventory");
        assert_eq!(directive["Dimensions"], json!([["Kind"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{ "Name": "MovementsAccepted", "Unit": "Count" }])
        );
        assert_eq!(line["_aws"]["Timestamp"], 1_764_547_200_000i64);
        // Every dimension and metric named in the directive is a member of the line itself.
        assert_eq!(line["Kind"], "sale");
        assert_eq!(line["MovementsAccepted"], 1.0);
    }
}
