//! The scheduled function's work: page through the stock levels (never holding the table), write
//! the day's snapshot, trend and alert datasets to S3 as CSV and JSON Lines with multipart
//! uploads (memory bounded by one part), an HTML summary with SVG charts and a manifest. It only
//! writes reports: the time-based alert rules are the alert clock's ([`crate::alerts::sweep`]).
//!
//! Layout (query engines read a dataset prefix directly; one format per prefix):
//! `reports/<dataset>/dt=YYYY-MM-DD/part-00000.csv`, `reports/<dataset>-jsonl/dt=…/part-00000.jsonl`
//! for `snapshot`, `trends`, `alerts`; `reports/summary/dt=…/index.html`;
//! `reports/manifests/dt=…/manifest.json`. A run rewrites the same keys: re-running a day (after a
//! timeout midway, say) replaces its objects.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::{types::AttributeValue, Client};
use aws_sdk_s3::{
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    alerts::evaluate::LevelSnapshot,
    domain::Quantities,
    reports::{self, LevelHistory, SECONDS_PER_DAY},
    store::{entity, Item, StoreError},
};

/// S3's smallest part (except the last one).
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Levels per Scan page.
const PAGE: i32 = 200;
/// Days in the trend series.
pub const TREND_DAYS: i64 = 28;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("S3: {0}")]
    S3(String),
}

fn s3_err<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_s3::error::SdkError<E, R>,
) -> ReportError {
    ReportError::S3(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}

/// One object written with a multipart upload, part by part.
struct ObjectWriter {
    key: String,
    content_type: &'static str,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    buffer: String,
    hash: Sha256,
    bytes: usize,
    rows: usize,
}

/// What the manifest says of each object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectEntry {
    pub key: String,
    pub rows: usize,
    pub bytes: usize,
    pub sha256: String,
}

impl ObjectWriter {
    fn new(key: String, content_type: &'static str) -> Self {
        Self {
            key,
            content_type,
            upload_id: None,
            parts: Vec::new(),
            buffer: String::new(),
            hash: Sha256::new(),
            bytes: 0,
            rows: 0,
        }
    }

    async fn flush(&mut self, w: &ReportWriter, last: bool) -> Result<(), ReportError> {
        if !last && self.buffer.len() < PART_BYTES {
            return Ok(());
        }
        if self.upload_id.is_none() {
            let created =
                w.s3.create_multipart_upload()
                    .bucket(&w.bucket)
                    .key(&self.key)
                    .content_type(self.content_type)
                    .send()
                    .await
                    .map_err(s3_err)?;
            self.upload_id = created.upload_id;
        }
        let body = std::mem::take(&mut self.buffer);
        self.hash.update(body.as_bytes());
        self.bytes += body.len();
        let number = self.parts.len() as i32 + 1;
        let part =
            w.s3.upload_part()
                .bucket(&w.bucket)
                .key(&self.key)
                .upload_id(self.upload_id.clone().unwrap_or_default())
                .part_number(number)
                .body(ByteStream::from(body.into_bytes()))
                .send()
                .await
                .map_err(s3_err)?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag)
                .build(),
        );
        Ok(())
    }

    async fn finish(mut self, w: &ReportWriter) -> Result<ObjectEntry, ReportError> {
        self.flush(w, true).await?;
        w.s3.complete_multipart_upload()
            .bucket(&w.bucket)
            .key(&self.key)
            .upload_id(self.upload_id.clone().unwrap_or_default())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts.clone()))
                    .build(),
            )
            .send()
            .await
            .map_err(s3_err)?;
        Ok(ObjectEntry {
            key: self.key,
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex::encode(self.hash.finalize()),
        })
    }
}

/// A dataset written in both formats.
struct Dataset {
    columns: &'static [&'static str],
    csv: ObjectWriter,
    jsonl: ObjectWriter,
}

impl Dataset {
    fn new(name: &str, day: i64, columns: &'static [&'static str]) -> Self {
        let mut csv = ObjectWriter::new(
            reports::object_key(name, day, "part-00000.csv"),
            "text/csv; charset=utf-8; header=present",
        );
        // The header row goes first, even for an empty dataset.
        reports::write_csv::<()>(&mut csv.buffer, columns, &[], true);
        Self {
            columns,
            csv,
            jsonl: ObjectWriter::new(
                reports::object_key(&format!("{name}-jsonl"), day, "part-00000.jsonl"),
                "application/x-ndjson",
            ),
        }
    }

    async fn push<T: Serialize>(
        &mut self,
        w: &ReportWriter,
        rows: &[T],
    ) -> Result<(), ReportError> {
        reports::write_csv(&mut self.csv.buffer, self.columns, rows, false);
        reports::write_jsonl(&mut self.jsonl.buffer, rows);
        self.csv.rows += rows.len();
        self.jsonl.rows += rows.len();
        self.csv.flush(w, false).await?;
        self.jsonl.flush(w, false).await
    }

    async fn finish(self, w: &ReportWriter) -> Result<Vec<ObjectEntry>, ReportError> {
        Ok(vec![self.csv.finish(w).await?, self.jsonl.finish(w).await?])
    }
}

/// The result of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub dt: String,
    pub objects: Vec<ObjectEntry>,
    pub levels: usize,
    pub alerts: usize,
    /// The day's alert episodes by rule kind.
    pub alerts_by_kind: BTreeMap<String, i64>,
}

fn unix(text: Option<&str>) -> Option<i64> {
    text.and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    })
}

/// A stock-level item as the report reads it (public for the benchmark).
pub fn history(item: &Item) -> Result<(LevelHistory, LevelSnapshot), crate::schema::Malformed> {
    use crate::counters::{unroll, DAYS, HOURS};
    let i: crate::schema::LevelItem = crate::schema::decode(entity::STOCK_LEVEL, item)?;
    let quantities: Quantities = i.quantities.into();
    // The counter rings, read back for the window ending at their head.
    let today = i.ctr_hour.div_euclid(24);
    let h = LevelHistory {
        sku: i.sku.clone(),
        location: i.location.clone(),
        quantities,
        sold: unroll(&i.sold_d, today, DAYS),
        received: unroll(&i.rcv_d, today, DAYS),
        refunded: unroll(&i.rfd_d, today, DAYS),
        last_sale_at: unix(i.last_sale_at.as_deref()),
        last_receipt_at: unix(i.last_receipt_at.as_deref()),
    };
    let snapshot = LevelSnapshot {
        sku: i.sku,
        location: i.location,
        quantities,
        sold_hourly: unroll(&i.sold_h, i.ctr_hour, HOURS),
        sold_daily: h.sold.clone(),
        last_sale_at: h.last_sale_at,
        last_receipt_at: h.last_receipt_at,
        created_at: unix(Some(&i.created_at)),
        version: i.version,
    };
    Ok((h, snapshot))
}

/// Writes the reports. Built once at init.
pub struct ReportWriter {
    dynamodb: Client,
    s3: aws_sdk_s3::Client,
    table: String,
    bucket: String,
}

impl ReportWriter {
    pub fn new(
        dynamodb: Client,
        s3: aws_sdk_s3::Client,
        table: impl Into<String>,
        bucket: impl Into<String>,
    ) -> Self {
        Self {
            dynamodb,
            s3,
            table: table.into(),
            bucket: bucket.into(),
        }
    }

    /// Runs for `day` (days since the epoch) at `now` (seconds).
    pub async fn run(&self, day: i64, now: i64) -> Result<Manifest, ReportError> {
        let started = std::time::Instant::now();
        let mut snapshot = Dataset::new("snapshot", day, reports::SNAPSHOT_COLUMNS);
        let mut trends = Dataset::new("trends", day, reports::TREND_COLUMNS);
        let mut sold_per_day: BTreeMap<i64, i64> = BTreeMap::new();
        let mut levels = 0;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(&self.table)
                .filter_expression("entity = :e")
                .expression_attribute_values(":e", AttributeValue::S(entity::STOCK_LEVEL.into()))
                .limit(PAGE)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            let mut snapshot_rows = Vec::new();
            let mut trend_rows = Vec::new();
            for item in page.items() {
                // One malformed level never blocks the day's report: it is logged and left out.
                let (h, _) = match history(item) {
                    Ok(read) => read,
                    Err(e) => {
                        tracing::error!(error = %e, pk = ?item.get("pk"), "level left out of the report");
                        continue;
                    }
                };
                levels += 1;
                snapshot_rows.push(reports::snapshot_row(&h, day, now));
                let rows = reports::trend_rows(&h, day, TREND_DAYS);
                for d in day - TREND_DAYS + 1..=day {
                    *sold_per_day.entry(d).or_default() += h.sold.get(&d).copied().unwrap_or(0);
                }
                trend_rows.extend(rows);
            }
            snapshot.push(self, &snapshot_rows).await?;
            trends.push(self, &trend_rows).await?;
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }

        // The alert report: episodes fired during the day.
        let mut alerts = Dataset::new("alerts", day, reports::ALERT_COLUMNS);
        let date = reports::date_of_day(day);
        let mut alert_rows = Vec::new();
        let mut by_severity: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_kind: BTreeMap<String, i64> = BTreeMap::new();
        let mut pages = self
            .dynamodb
            .query()
            .table_name(&self.table)
            .index_name(crate::store::INDEX)
            .key_condition_expression("gsi1pk = :p AND begins_with(gsi1sk, :d)")
            .expression_attribute_values(
                ":p",
                AttributeValue::S(crate::schema::keys::ALERT_LIST.into()),
            )
            .expression_attribute_values(":d", AttributeValue::S(date.clone()))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(StoreError::from_sdk)?;
            let a: crate::schema::AlertItem = match crate::schema::decode(entity::ALERT, &item) {
                Ok(a) => a,
                Err(e) => {
                    tracing::error!(error = %e, "alert left out of the report");
                    continue;
                }
            };
            *by_severity.entry(a.severity.clone()).or_default() += 1;
            *by_kind.entry(a.kind.clone()).or_default() += 1;
            alert_rows.push(reports::AlertRow {
                day: date.clone(),
                minutes_to_acknowledge: reports::minutes_between(
                    &a.fired_at,
                    a.acknowledged_at.as_deref(),
                ),
                minutes_to_resolve: reports::minutes_between(&a.fired_at, a.resolved_at.as_deref()),
                alert_id: a.alert_id,
                rule_id: a.rule_id,
                rule_name: a.rule_name,
                kind: a.kind,
                severity: a.severity,
                sku: a.sku,
                location: a.location,
                state: a.state,
                acknowledged_at: a.acknowledged_at,
                resolved_at: a.resolved_at,
                fired_at: a.fired_at,
            });
            if alert_rows.len() >= PAGE as usize {
                alerts.push(self, &std::mem::take(&mut alert_rows)).await?;
            }
        }
        alerts.push(self, &alert_rows).await?;
        let alert_count = alerts.csv.rows;

        let mut objects = Vec::new();
        objects.extend(snapshot.finish(self).await?);
        objects.extend(trends.finish(self).await?);
        objects.extend(alerts.finish(self).await?);

        let totals = vec![
            ("Stock levels".to_owned(), levels.to_string()),
            (
                "Units sold".to_owned(),
                sold_per_day.get(&day).copied().unwrap_or(0).to_string(),
            ),
            ("Alerts fired".to_owned(), alert_count.to_string()),
        ];
        let sold_chart: Vec<(String, f64)> = sold_per_day
            .iter()
            .map(|(d, v)| (reports::date_of_day(*d), *v as f64))
            .collect();
        let kind_chart: Vec<(String, f64)> = by_kind
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64))
            .collect();
        let severity_chart: Vec<(String, f64)> = by_severity
            .iter()
            .map(|(k, v)| (k.clone(), *v as f64))
            .collect();
        let html = reports::html_summary(
            day,
            &totals,
            &[
                (
                    "Units sold per day".to_owned(),
                    reports::svg_bars("Units sold per day", &sold_chart),
                ),
                (
                    "Alerts by severity".to_owned(),
                    reports::svg_bars("Alerts by severity", &severity_chart),
                ),
                (
                    "Alerts by kind".to_owned(),
                    reports::svg_bars("Alerts by kind", &kind_chart),
                ),
            ],
        );
        let mut summary = ObjectWriter::new(
            reports::object_key("summary", day, "index.html"),
            "text/html; charset=utf-8",
        );
        summary.buffer = html;
        summary.rows = 1;
        objects.push(summary.finish(self).await?);

        let manifest = Manifest {
            dt: date,
            objects,
            levels,
            alerts: alert_count,
            alerts_by_kind: by_kind,
        };
        let body = serde_json::to_vec_pretty(&manifest).unwrap_or_default();
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(reports::object_key("manifests", day, "manifest.json"))
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3_err)?;
        let rows: usize = manifest.objects.iter().map(|o| o.rows).sum();
        crate::metrics::emit(
            &[("Report", "daily")],
            &[
                ("ReportWritten", 1.0, crate::metrics::Unit::Count),
                ("ReportRows", rows as f64, crate::metrics::Unit::Count),
                (
                    "ReportDuration",
                    started.elapsed().as_secs_f64() * 1000.0,
                    crate::metrics::Unit::Milliseconds,
                ),
            ],
        );
        Ok(manifest)
    }

    /// Today's day number at `now`.
    pub fn day_of(now: i64) -> i64 {
        now.div_euclid(SECONDS_PER_DAY)
    }
}
