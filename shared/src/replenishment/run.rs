//! The daily replenishment run: every level, shard by shard of the level index (never a table
//! scan), a few shards at once. For each level it carries the new days of its daily sales into
//! its forecast item, forecasts, plans, writes the items (`BatchWriteItem`, 25 a request) and
//! the level's reorder point when it moved, and adds a row to its shard's part of the S3 dataset
//! (`reports/replenishment/dt=…/part-000SS.csv`, `reports/replenishment-jsonl/dt=…/part-000SS.jsonl`).
//!
//! One level that cannot be read or written is counted and skipped; a shard that cannot be read
//! is reported (`shards_failed`) and the rest go on. A rerun the same day appends no history
//! and writes the same plans for the same stock, so retrying a failed run is safe.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use super::{plan, store, Demand, Plan};
use crate::{
    bucket::Bucket,
    domain::SupplyFacts,
    levels,
    schema::{self, entity, keys, Item, SkuItem},
    store::StoreError,
};

/// Shards read at once.
const SHARDS_AT_ONCE: usize = 4;
/// Writes in flight within a shard.
const WRITES_AT_ONCE: usize = 16;

/// The dataset's columns (CSV; the JSON Lines rows carry the whole plan).
pub const COLUMNS: &[&str] = &[
    "planned_on",
    "sku",
    "location",
    "supplier",
    "method",
    "history_days",
    "demand_per_day",
    "lead_time_days",
    "reorder_point",
    "safety_stock",
    "target",
    "available",
    "in_transit",
    "suggested",
    "pack_size",
    "min_order_qty",
];

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunReport {
    pub dt: String,
    pub levels: usize,
    pub planned: usize,
    /// Plans that call for an order.
    pub to_order: usize,
    /// Plans from a history too short to choose a method.
    pub fallback: usize,
    /// Levels whose reorder point was written (new or moved).
    pub reorder_points_written: usize,
    /// Levels that could not be read, planned or written (skipped).
    pub failed: usize,
    pub shards_failed: Vec<u32>,
    pub objects: Vec<String>,
    /// The day's manifest (`reports/replenishment-manifests/dt=…/manifest.json`), written once
    /// every shard's parts are: a day without one is incomplete.
    pub manifest: Option<String>,
}

#[derive(Default)]
struct ShardReport {
    levels: usize,
    planned: usize,
    to_order: usize,
    fallback: usize,
    reorder_points_written: usize,
    failed: usize,
    objects: Vec<String>,
}

/// The scheduled run's dependencies.
pub struct Run {
    pub dynamodb: Client,
    pub table: String,
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
}

/// What the level's item says, decoded for planning.
struct LevelRead {
    sku: String,
    location: String,
    quantities: crate::domain::Quantities,
    sold: BTreeMap<i64, i64>,
    counted_to_day: i64,
    first_day: i64,
    reorder_point: Option<i64>,
    /// The level's version as read: what its plan is made from.
    version: i64,
}

impl Run {
    /// Plans every level as of `now` (seconds): the history runs to the day before.
    pub async fn run(&self, now: i64) -> RunReport {
        let today = now.div_euclid(86_400);
        let dt = crate::reports::date_of_day(today);
        let outcomes: Vec<(u32, Result<ShardReport, StoreError>)> =
            stream::iter(0..keys::LEVEL_SHARDS)
                .map(|shard| {
                    let dt = dt.clone();
                    async move { (shard, self.shard(shard, today, &dt).await) }
                })
                .buffer_unordered(SHARDS_AT_ONCE)
                .collect()
                .await;
        let mut report = RunReport {
            dt,
            ..RunReport::default()
        };
        for (shard, outcome) in outcomes {
            match outcome {
                Ok(s) => {
                    report.levels += s.levels;
                    report.planned += s.planned;
                    report.to_order += s.to_order;
                    report.fallback += s.fallback;
                    report.reorder_points_written += s.reorder_points_written;
                    report.failed += s.failed;
                    report.objects.extend(s.objects);
                }
                Err(e) => {
                    tracing::error!(shard, error = %e, "replenishment shard not planned");
                    report.shards_failed.push(shard);
                }
            }
        }
        report.shards_failed.sort_unstable();
        report.objects.sort();
        if report.shards_failed.is_empty() {
            let key = format!(
                "reports/replenishment-manifests/dt={}/manifest.json",
                report.dt
            );
            let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
            match self.put(&key, "application/json", body).await {
                Ok(()) => report.manifest = Some(key),
                Err(e) => tracing::error!(error = %e, "replenishment manifest not written"),
            }
        }
        crate::metrics::counts(
            ("Function", "replenishment"),
            &[
                ("LevelsPlanned", report.planned),
                ("OrdersSuggested", report.to_order),
                (
                    "LevelsNotPlanned",
                    report.failed + report.shards_failed.len(),
                ),
            ],
        );
        report
    }

    async fn shard(&self, shard: u32, today: i64, dt: &str) -> Result<ShardReport, StoreError> {
        let keys_of_shard = levels::shard_keys(&self.dynamodb, &self.table, shard).await?;
        let mut out = ShardReport::default();
        let mut plans: Vec<Plan> = Vec::new();
        for batch in keys_of_shard.chunks(levels::BATCH) {
            let items = levels::batch_get(&self.dynamodb, &self.table, batch.to_vec()).await?;
            let mut read = Vec::new();
            for item in &items {
                out.levels += 1;
                match levels::decode(item) {
                    Ok(l) => read.push(LevelRead {
                        sku: l.snapshot.sku,
                        location: l.snapshot.location,
                        quantities: l.snapshot.quantities,
                        sold: l.history.sold,
                        counted_to_day: l.counted_to_day,
                        first_day: l.created_at.div_euclid(86_400),
                        reorder_point: l.snapshot.reorder_point,
                        version: l.snapshot.version,
                    }),
                    Err(e) => {
                        tracing::error!(error = %e, "level unreadable; not planned");
                        out.failed += 1;
                    }
                }
            }
            let (facts, stored) = self.context(&read).await?;
            let batch: Vec<(LevelRead, Plan, Item)> = read
                .into_iter()
                .map(|level| {
                    let facts = facts.get(&level.sku).cloned().flatten();
                    let stored = stored.get(&(level.sku.clone(), level.location.clone()));
                    let demand = Demand::extend(
                        stored,
                        &level.sold,
                        level.counted_to_day,
                        level.first_day,
                        today - 1,
                    );
                    let p = plan(
                        &level.sku,
                        &level.location,
                        facts.as_ref(),
                        &demand,
                        &level.quantities,
                        dt,
                    );
                    let item = store::to_item(&demand, &p);
                    (level, p, item)
                })
                .collect();
            // Each forecast item (under the level version it was planned from, so a sale that
            // put the level in the list meanwhile is not undone), then the level's reorder point.
            let (client, table) = (&self.dynamodb, self.table.as_str());
            let written: Vec<(Plan, Result<bool, StoreError>)> = stream::iter(batch)
                .map(|(level, p, item)| async move {
                    let moved = match store::put_forecast(client, table, item, level.version).await
                    {
                        Ok(()) => self.write_reorder_point(&level, &p).await,
                        Err(e) => Err(e),
                    };
                    (p, moved)
                })
                .buffer_unordered(WRITES_AT_ONCE)
                .collect()
                .await;
            for (p, moved) in written {
                match moved {
                    Ok(moved) => {
                        out.planned += 1;
                        out.to_order += usize::from(p.suggested > 0);
                        out.fallback += usize::from(p.method == crate::forecast::Method::Fallback);
                        out.reorder_points_written += usize::from(moved);
                        plans.push(p);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, sku = %p.sku, location = %p.location, "plan not written");
                        out.failed += 1;
                    }
                }
            }
        }
        plans.sort_by(|a, b| (&a.sku, &a.location).cmp(&(&b.sku, &b.location)));
        out.objects = self.write_parts(shard, dt, &plans).await?;
        Ok(out)
    }

    /// The supply facts of the batch's SKUs and the stored forecast items of its levels.
    #[allow(clippy::type_complexity)]
    async fn context(
        &self,
        read: &[LevelRead],
    ) -> Result<
        (
            HashMap<String, Option<SupplyFacts>>,
            HashMap<(String, String), Demand>,
        ),
        StoreError,
    > {
        let mut skus: Vec<&str> = read.iter().map(|l| l.sku.as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        let metas = levels::batch_get(
            &self.dynamodb,
            &self.table,
            skus.iter()
                .map(|s| keys::key(keys::sku(s), keys::META))
                .collect(),
        )
        .await?;
        let mut facts: HashMap<String, Option<SupplyFacts>> = HashMap::new();
        for item in &metas {
            match schema::decode::<SkuItem>(entity::SKU, item) {
                Ok(s) => {
                    facts.insert(s.sku, s.supply);
                }
                Err(e) => {
                    tracing::error!(error = %e, "SKU unreadable; planned with default supply")
                }
            }
        }
        let forecasts = levels::batch_get(
            &self.dynamodb,
            &self.table,
            read.iter()
                .map(|l| store::key(&l.sku, &l.location))
                .collect(),
        )
        .await?;
        let mut stored = HashMap::new();
        for item in &forecasts {
            match store::from_item(item) {
                Ok((demand, p)) => {
                    stored.insert((p.sku, p.location), demand);
                }
                // Unreadable: the history starts again from the level's counters.
                Err(e) => tracing::error!(error = %e, "forecast item unreadable; history restarts"),
            }
        }
        Ok((facts, stored))
    }

    /// Writes the level's reorder point when it moved (the level's stock is not touched: a
    /// condition on the level's existence and on the value). True when it was written.
    async fn write_reorder_point(&self, level: &LevelRead, p: &Plan) -> Result<bool, StoreError> {
        // With no demand forecast there is nothing to reorder: the level has no reorder point.
        let wanted = (p.demand_per_day > 0.0).then_some(p.reorder_point);
        if wanted == level.reorder_point {
            return Ok(false);
        }
        store::set_reorder_point(
            &self.dynamodb,
            &self.table,
            &level.sku,
            &level.location,
            wanted,
        )
        .await
    }

    async fn write_parts(
        &self,
        shard: u32,
        dt: &str,
        plans: &[Plan],
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<serde_json::Value> = plans.iter().map(dataset_row).collect();
        let mut csv = String::new();
        crate::reports::write_csv(&mut csv, COLUMNS, &rows, true);
        let mut jsonl = String::new();
        crate::reports::write_jsonl(&mut jsonl, &rows);
        let mut keys_written = Vec::new();
        for (key, content_type, body) in [
            (
                format!("reports/replenishment/dt={dt}/part-{shard:05}.csv"),
                "text/csv; charset=utf-8",
                csv,
            ),
            (
                format!("reports/replenishment-jsonl/dt={dt}/part-{shard:05}.jsonl"),
                "application/x-ndjson",
                jsonl,
            ),
        ] {
            self.put(&key, content_type, body.into_bytes()).await?;
            keys_written.push(key);
        }
        Ok(keys_written)
    }
}

impl Run {
    async fn put(&self, key: &str, content_type: &str, body: Vec<u8>) -> Result<(), StoreError> {
        Bucket::new(self.s3.clone(), &self.bucket)
            .put(key, content_type, body)
            .await
            .map_err(|e| StoreError::Failed(e.to_string()))
    }
}

/// A plan as a dataset row: its day is `planned_on`, never `dt`, which query engines take from
/// the `dt=` partition of the path (a column of that name would be shadowed).
fn dataset_row(plan: &Plan) -> serde_json::Value {
    let mut row = serde_json::to_value(plan).unwrap_or_default();
    if let Some(map) = row.as_object_mut() {
        if let Some(day) = map.remove("dt") {
            map.insert("planned_on".into(), day);
        }
    }
    row
}
