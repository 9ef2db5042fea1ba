//! The scheduled function's work: the day's stock snapshot, trend and alert datasets as CSV and
//! JSON Lines, an HTML summary with SVG charts, and a manifest. It only writes reports: the
//! time-based alert rules are the alert clock's ([`crate::alerts::sweep`]).
//!
//! **Only levels are read.** The levels come from the level index's 60 shards ([`crate::levels`]),
//! one task per shard ([`crate::fanout`]: the function queues them and takes them from its
//! queue, as many at once as its queue mapping allows), never from a table scan (the ledger, kept forever, is most of the
//! table). A shard is read in key order, 100 levels per `BatchGetItem`, and written as its own
//! part (`part-000SS`), so memory holds a few batches and one part buffer per object, whatever
//! the number of levels, and each part's bytes depend only on the data.
//!
//! **As of the end of the day** ([`as_of`]): re-running a day after more trading writes the same
//! bytes. A day can be re-run while its trend window is still in the levels' daily counters
//! ([`MAX_RERUN_DAYS`]); an older day is refused rather than written with figures that are gone.
//!
//! **Checkpointed and atomic.** Parts go to a staging prefix (`reports/_staging/dt=…/`); each
//! shard's task records its result on the day's run, so a task that fails is retried alone and
//! a resumed run reads only the shards left. When every task is done, the last one commits: it
//! copies the parts to their final keys, removes final keys of the day that the run did not
//! write, and then writes the manifest. The
//! manifest is the commit: `GET /v1/reports`, the console and the Athena views show a day only
//! once it has one, and a run that fails before then leaves the previous complete day as it was.
//!
//! Layout (query engines read a dataset prefix directly; one format per prefix):
//! `reports/<dataset>/dt=YYYY-MM-DD/part-000SS.csv`, `reports/<dataset>-jsonl/dt=…/part-000SS.jsonl`
//! for `snapshot`, `trends` (one part per shard) and `alerts` (one part);
//! `reports/summary/dt=…/index.html`; `reports/manifests/dt=…/manifest.json`.

use crate::history as as_of;
mod objects;
mod summary;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bucket::{Bucket, BucketError};
pub use objects::ObjectEntry;
use objects::{Dataset, ObjectWriter};

use crate::{
    counters::DAYS,
    fanout::{DoneTask, FanoutError, Job, ShardJob, Task},
    levels,
    reports::{self, SECONDS_PER_DAY, SERIES_DAYS},
    schema::{keys, Item, RunItem},
    store::StoreError,
};

/// Days in the trend series.
pub const TREND_DAYS: i64 = 28;
/// How many days back a day can be (re-)written: the daily counters keep [`DAYS`] days, and the
/// stock series (turnover's 30 days, of which the trend shows 28) needs [`SERIES_DAYS`] of them.
pub const MAX_RERUN_DAYS: i64 = DAYS - SERIES_DAYS;
/// Batches of a shard read at once (their rows are written in key order).
const BATCHES_AT_ONCE: usize = 4;
/// Alert rows per write.
const ALERT_PAGE: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("S3: {0}")]
    S3(String),
    #[error(
        "{day} is more than {MAX_RERUN_DAYS} days back: its trend window has left the daily \
         counters, so it cannot be written as it was"
    )]
    TooOld { day: String },
    #[error("{day} has not begun: a day is written once it has")]
    NotBegun { day: String },
}

impl From<ReportError> for FanoutError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Store(e) => Self::Store(e),
            other => Self::Task(other.to_string()),
        }
    }
}

impl ShardJob for ReportWriter {
    const JOB: Job = Job::Report;

    /// Stages one shard's snapshot and trend parts.
    async fn task(&self, task: &Task) -> Result<Value, FanoutError> {
        let done = self.shard(Self::day_as_of(task.as_of), task.shard).await?;
        serde_json::to_value(done).map_err(|e| FanoutError::Task(e.to_string()))
    }

    /// Writes the alerts dataset and the summary, promotes the staged parts and writes the
    /// manifest.
    async fn commit(&self, run: &RunItem, done: &[DoneTask]) -> Result<Value, FanoutError> {
        let mut shards = BTreeMap::new();
        for task in done {
            let d: ShardDone = serde_json::from_value(task.result.clone())
                .map_err(|e| FanoutError::Task(format!("result of {}: {e}", task.id)))?;
            shards.insert(d.shard, d);
        }
        let started_at = crate::clock::millis_of(&run.started_at).unwrap_or(0);
        let manifest = self
            .finish(Self::day_as_of(run.as_of), shards, started_at)
            .await?;
        serde_json::to_value(manifest).map_err(|e| FanoutError::Task(e.to_string()))
    }
}

impl From<BucketError> for ReportError {
    fn from(e: BucketError) -> Self {
        Self::S3(e.0)
    }
}

/// The result of one run: the commit record of the day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub dt: String,
    /// The figures are those at this time (the end of the day).
    pub as_of: String,
    pub objects: Vec<ObjectEntry>,
    pub levels: usize,
    pub alerts: usize,
    /// The day's alert episodes by rule kind.
    pub alerts_by_kind: BTreeMap<String, i64>,
    /// Inventory value at cost at the end of the day, per currency (exact decimals), over the
    /// SKUs that have a unit cost.
    pub inventory_value: BTreeMap<String, String>,
}

/// What one shard's task did (its result, kept on the run): enough to write the manifest and
/// the summary without reading the shard again.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ShardDone {
    shard: u32,
    levels: usize,
    /// Units sold per day over the trend window, summed over the shard's levels.
    sold_per_day: BTreeMap<i64, i64>,
    /// Inventory value at cost per currency, in ten-thousandths (as text: exact).
    #[serde(default)]
    value_by_currency: BTreeMap<String, String>,
    /// Stock totals over the shard's levels (for the summary's turnover, sell-through and age).
    #[serde(default)]
    stock: StockTotals,
    objects: Vec<ObjectEntry>,
    /// Levels read from their ledger as well (changed after the day).
    #[serde(default)]
    from_ledger: usize,
}

/// Stock totals the summary shows, summed exactly (integers) over levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct StockTotals {
    on_hand: i64,
    sold_30d: i64,
    /// End-of-day on_hand summed over the 30 days (units × days).
    unit_days_30d: i64,
    /// Units by age: 0–30, 31–90, 91–180, >180 days, unknown.
    age: [i64; 5],
}

impl StockTotals {
    fn add(&mut self, o: &StockTotals) {
        self.on_hand += o.on_hand;
        self.sold_30d += o.sold_30d;
        self.unit_days_30d += o.unit_days_30d;
        for (a, b) in self.age.iter_mut().zip(o.age) {
            *a += b;
        }
    }
}

/// The day's totals the summary shows.
#[derive(Clone, Copy)]
struct DayTotals<'a> {
    levels: usize,
    alerts: usize,
    sold_per_day: &'a BTreeMap<i64, i64>,
    inventory_value: &'a BTreeMap<String, String>,
    stock: StockTotals,
    by_kind: &'a BTreeMap<String, i64>,
    by_severity: &'a BTreeMap<String, i64>,
}

/// What a run read and wrote, beyond the manifest (for tests and the benchmark).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunStats {
    /// Shards read in this run (the others were done by an earlier, failed run).
    pub shards_read: usize,
    /// Levels read from their ledger as well (changed after the day, or a stocktake or transfer
    /// in the stock series window).
    pub levels_from_ledger: usize,
}

/// Writes the reports. Built once at init.
pub struct ReportWriter {
    dynamodb: Client,
    bucket: Bucket,
    table: String,
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
            bucket: Bucket::new(s3, bucket),
            table: table.into(),
        }
    }

    /// Refuses a day that cannot be written as it was at its end (see [`MAX_RERUN_DAYS`]), or
    /// that has not begun, at `now`.
    pub fn admit(day: i64, now: i64) -> Result<(), ReportError> {
        if day < Self::day_of(now) - MAX_RERUN_DAYS {
            return Err(ReportError::TooOld {
                day: reports::date_of_day(day),
            });
        }
        if day > Self::day_of(now) {
            return Err(ReportError::NotBegun {
                day: reports::date_of_day(day),
            });
        }
        Ok(())
    }

    /// The time a run of `day` works as of: the end of the day.
    pub fn as_of(day: i64) -> i64 {
        (day + 1) * SECONDS_PER_DAY
    }

    /// The day a run as of `as_of` writes.
    fn day_as_of(as_of: i64) -> i64 {
        as_of.div_euclid(SECONDS_PER_DAY) - 1
    }

    /// The commit of `day` from its shards' results: the alerts dataset and the summary, the
    /// staged parts promoted, then the manifest (the commit itself); `started_at` (seconds) is
    /// when the run began.
    async fn finish(
        &self,
        day: i64,
        done: BTreeMap<u32, ShardDone>,
        started_at: i64,
    ) -> Result<Manifest, ReportError> {
        let b = &self.bucket;
        let staging = reports::staging_prefix(day);
        let (alert_objects, alert_count, by_kind, by_severity) = self.alerts(day).await?;
        let levels: usize = done.values().map(|d| d.levels).sum();
        let mut sold_per_day: BTreeMap<i64, i64> = BTreeMap::new();
        for d in done.values() {
            for (day, units) in &d.sold_per_day {
                *sold_per_day.entry(*day).or_default() += units;
            }
        }
        let mut value_by_currency: BTreeMap<String, i128> = BTreeMap::new();
        for d in done.values() {
            for (currency, v) in &d.value_by_currency {
                *value_by_currency.entry(currency.clone()).or_default() +=
                    v.parse::<i128>().unwrap_or(0);
            }
        }
        let mut stock = StockTotals::default();
        for d in done.values() {
            stock.add(&d.stock);
        }
        let inventory_value: BTreeMap<String, String> = value_by_currency
            .into_iter()
            .map(|(c, v)| (c, crate::domain::UnitCost::format_ten_thousandths(v)))
            .collect();
        let summary = self
            .summary(
                day,
                &DayTotals {
                    levels,
                    alerts: alert_count,
                    sold_per_day: &sold_per_day,
                    inventory_value: &inventory_value,
                    stock,
                    by_kind: &by_kind,
                    by_severity: &by_severity,
                },
            )
            .await?;

        let mut objects: Vec<ObjectEntry> = done.into_values().flat_map(|d| d.objects).collect();
        objects.extend(alert_objects);
        objects.push(summary);
        objects.sort_by(|a, b| a.key.cmp(&b.key));

        self.promote(day, &objects).await?;
        let manifest = Manifest {
            dt: reports::date_of_day(day),
            as_of: crate::clock::rfc3339_millis((day + 1) * SECONDS_PER_DAY * 1000),
            objects,
            levels,
            alerts: alert_count,
            alerts_by_kind: by_kind,
            inventory_value,
        };
        // One line: Athena's JSON reader (infra/athena/committed_days.sql) reads a row per line.
        let mut body = serde_json::to_vec(&manifest).unwrap_or_default();
        body.push(b'\n');
        // The commit: from here on readers see the day.
        b.put(
            &reports::object_key("manifests", day, "manifest.json"),
            "application/json",
            body,
        )
        .await?;
        // Staging has served; what a failed clean-up leaves expires.
        let cleared = async {
            let parts = b.list(&staging).await?;
            b.delete(&parts).await
        };
        if let Err(e) = cleared.await {
            tracing::warn!(error = %e, "report: staging left behind");
        }

        let rows: usize = manifest.objects.iter().map(|o| o.rows).sum();
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let now = now_ms.div_euclid(1000);
        let mut figures = vec![
            ("ReportWritten", 1.0, crate::metrics::Unit::Count),
            ("ReportRows", rows as f64, crate::metrics::Unit::Count),
            (
                "ReportDuration",
                (now_ms - started_at).max(0) as f64,
                crate::metrics::Unit::Milliseconds,
            ),
        ];
        // Last night's report written (late, by a re-run after the alarm): no longer missing.
        if day == Self::day_of(now) - 1 {
            figures.push(("ReportMissing", 0.0, crate::metrics::Unit::Count));
        }
        crate::metrics::emit(&[("Report", "daily")], &figures);
        Ok(manifest)
    }

    /// Reads one shard and stages its snapshot and trend parts: what it did.
    async fn shard(&self, day: i64, shard: u32) -> Result<ShardDone, ReportError> {
        let b = &self.bucket;
        let stem = format!("part-{shard:05}");
        let mut snapshot = Dataset::new("snapshot", day, &stem, reports::SNAPSHOT_COLUMNS);
        let mut trends = Dataset::new("trends", day, &stem, reports::TREND_COLUMNS);
        let mut marker = ShardDone {
            shard,
            ..ShardDone::default()
        };
        let mut from_ledger = 0;
        let mut values: BTreeMap<String, i128> = BTreeMap::new();
        let keys = levels::shard_keys(&self.dynamodb, &self.table, shard).await?;
        let chunks: Vec<Vec<Item>> = keys.chunks(levels::BATCH).map(<[Item]>::to_vec).collect();
        // `buffered` keeps the chunks' order, so the rows come out in key order.
        let mut batches = stream::iter(chunks)
            .map(|chunk| self.batch(chunk, day))
            .buffered(BATCHES_AT_ONCE);
        while let Some(batch) = batches.try_next().await? {
            let mut snapshot_rows = Vec::with_capacity(batch.len());
            let mut trend_rows = Vec::with_capacity(batch.len() * TREND_DAYS as usize);
            for (h, changed) in batch {
                from_ledger += usize::from(changed);
                marker.levels += 1;
                let series: i64 = h.on_hand_by_day.values().sum();
                marker.stock.add(&StockTotals {
                    on_hand: h.quantities.on_hand,
                    sold_30d: h
                        .sold
                        .range(day - SERIES_DAYS + 1..=day)
                        .map(|(_, v)| v)
                        .sum(),
                    unit_days_30d: series,
                    age: [
                        h.age.days_0_30,
                        h.age.days_31_90,
                        h.age.days_91_180,
                        h.age.days_over_180,
                        h.age.unknown,
                    ],
                });
                if let Some(cost) = &h.cost {
                    *values.entry(cost.currency.clone()).or_default() +=
                        i128::from(h.quantities.on_hand) * i128::from(cost.ten_thousandths);
                }
                snapshot_rows.push(reports::snapshot_row(&h, day));
                for d in day - TREND_DAYS + 1..=day {
                    *marker.sold_per_day.entry(d).or_default() +=
                        h.sold.get(&d).copied().unwrap_or(0);
                }
                trend_rows.extend(reports::trend_rows(&h, day, TREND_DAYS));
            }
            snapshot.push(b, &snapshot_rows).await?;
            trends.push(b, &trend_rows).await?;
        }
        marker.value_by_currency = values
            .into_iter()
            .map(|(c, v)| (c, v.to_string()))
            .collect();
        marker.objects.extend(snapshot.finish(b).await?);
        marker.objects.extend(trends.finish(b).await?);
        marker.from_ledger = from_ledger;
        Ok(marker)
    }

    /// The levels of one chunk of keys, in the chunk's order, as of the end of `day` (with
    /// whether each was put back from its ledger). Levels that did not exist yet are left out,
    /// and so is a malformed one (logged): it never blocks the day's report.
    async fn batch(
        &self,
        chunk: Vec<Item>,
        day: i64,
    ) -> Result<Vec<(reports::LevelHistory, bool)>, ReportError> {
        let order: Vec<(String, String)> = chunk.iter().map(key_of).collect();
        let items = levels::batch_get(&self.dynamodb, &self.table, chunk).await?;
        let mut by_key: HashMap<(String, String), Item> =
            items.into_iter().map(|i| (key_of(&i), i)).collect();
        let costs = self.costs(&order, day).await?;
        let mut out = Vec::with_capacity(order.len());
        for key in order {
            let Some(item) = by_key.remove(&key) else {
                continue; // deleted since the index listed it
            };
            let level = match levels::decode(&item) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, pk = %key.0, sk = %key.1, "level left out of the report");
                    continue;
                }
            };
            if let Some((mut h, from_ledger)) =
                as_of::level(&self.dynamodb, &self.table, level, day).await?
            {
                h.cost = costs.get(&h.sku).cloned();
                h.age = as_of::age(&self.dynamodb, &self.table, &h, day).await?;
                out.push((h, from_ledger));
            }
        }
        Ok(out)
    }

    /// Copies the staged objects to their final keys, then removes the day's final keys this run
    /// did not write (a part that no longer exists).
    async fn promote(&self, day: i64, objects: &[ObjectEntry]) -> Result<(), ReportError> {
        let b = &self.bucket;
        for chunk in objects.chunks(16) {
            let copies: Vec<_> = chunk
                .iter()
                .map(|o| {
                    let from = reports::staged_key(day, &o.key);
                    let to = o.key.clone();
                    async move { b.copy(&from, &to).await }
                })
                .collect();
            futures_util::future::try_join_all(copies).await?;
        }
        let written: std::collections::HashSet<&str> =
            objects.iter().map(|o| o.key.as_str()).collect();
        let mut stale = Vec::new();
        for dataset in DATASETS {
            let prefix = reports::object_key(dataset, day, "");
            for key in b.list(&prefix).await? {
                if !written.contains(key.as_str()) {
                    stale.push(key);
                }
            }
        }
        Ok(b.delete(&stale).await?)
    }

    /// Whether `day`'s report is committed (its manifest is written), as the morning check asks;
    /// emits `ReportMissing` (1 or 0), which the `DailyReportMissing` alarm watches.
    pub async fn check(&self, day: i64) -> Result<bool, ReportError> {
        let key = reports::object_key("manifests", day, "manifest.json");
        let committed = self.bucket.get(&key).await?.is_some();
        if !committed {
            tracing::error!(day = %reports::date_of_day(day), "no daily report is committed");
        }
        crate::metrics::counts(
            ("Report", "daily"),
            &[("ReportMissing", usize::from(!committed))],
        );
        Ok(committed)
    }

    /// Today's day number at `now`.
    pub fn day_of(now: i64) -> i64 {
        now.div_euclid(SECONDS_PER_DAY)
    }
}

/// Every dataset prefix a day has (the manifest is written apart, last).
const DATASETS: &[&str] = &[
    "snapshot",
    "snapshot-jsonl",
    "trends",
    "trends-jsonl",
    "alerts",
    "alerts-jsonl",
    "summary",
];

fn key_of(item: &Item) -> (String, String) {
    let (pk, sk) = keys::of(item).unwrap_or_default();
    (pk.to_owned(), sk.to_owned())
}
