//! The daily replenishment run, fanned out ([`crate::fanout`]): one task per part of a level
//! shard (the level index, never a table scan). For each level a task carries the new days of
//! its daily sales into its forecast item, forecasts, plans, writes the item and the level's
//! reorder point when it moved, and writes its part of the S3 dataset
//! (`reports/replenishment/dt=…/part-000SS.csv`, `reports/replenishment-jsonl/dt=…/part-000SS.jsonl`).
//! The commit, once every task is done, writes the day's manifest.
//!
//! A level that cannot be read is counted and skipped. A plan that cannot be written fails its
//! task, after the rest of the task is planned; the retry plans only the levels this run has
//! not planned (the forecast item names the run that wrote it), so nothing is planned or
//! written twice. A later run the same day appends no history.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{plan, store, Demand, Plan};
use crate::{
    bucket::Bucket,
    domain::SupplyFacts,
    fanout::{DoneTask, FanoutError, Job, ShardJob, Task},
    levels,
    schema::{self, entity, keys, Item, RunItem, SkuItem},
    store::StoreError,
};

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

/// What a run did: the summary its commit writes as the day's manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub dt: String,
    /// The run's name (the day, for the nightly schedule).
    pub run: String,
    /// Its tasks (level shards × parts), and how many needed more than one attempt.
    pub tasks: u32,
    pub tasks_retried: usize,
    pub levels: usize,
    pub planned: usize,
    /// Of those, levels an attempt that did not finish had planned (a task retried after a
    /// failure or a kill): not planned or written again.
    pub already_planned: usize,
    /// Plans that call for an order.
    pub to_order: usize,
    /// Plans from a history too short to choose a method.
    pub fallback: usize,
    /// Levels whose reorder point was written (new or moved) by the attempts that finished.
    pub reorder_points_written: usize,
    /// Levels that could not be read (malformed): counted and skipped.
    pub failed: usize,
    pub objects: Vec<String>,
    /// The day's manifest (`reports/replenishment-manifests/dt=…/manifest.json`), written once
    /// every task's parts are: a day without one is incomplete.
    pub manifest: Option<String>,
}

/// What one task did, kept on the run until the commit sums them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardReport {
    pub levels: usize,
    pub planned: usize,
    /// Levels an earlier attempt of the same run had planned: not planned or written again.
    pub already_planned: usize,
    pub to_order: usize,
    pub fallback: usize,
    pub reorder_points_written: usize,
    pub failed: usize,
    pub objects: Vec<String>,
}

impl ShardReport {
    fn count(&mut self, p: &Plan) {
        self.planned += 1;
        self.to_order += usize::from(p.suggested > 0);
        self.fallback += usize::from(p.method == crate::forecast::Method::Fallback);
    }
}

/// The replenishment function's work: its tasks (one part of a level shard each) and the run's
/// commit ([`crate::fanout`]).
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

/// A level's stored forecast item, as the run reads it back.
struct StoredForecast {
    demand: Demand,
    plan: Plan,
    /// The run that wrote it.
    run: Option<String>,
}

impl ShardJob for Run {
    const JOB: Job = Job::Replenishment;

    /// Plans the task's levels as of the run's time: the history runs to the day before.
    async fn task(&self, task: &Task) -> Result<Value, FanoutError> {
        let today = task.as_of.div_euclid(86_400);
        let dt = crate::reports::date_of_day(today);
        let report = self.shard(task, today, &dt).await?;
        serde_json::to_value(report).map_err(|e| FanoutError::Task(e.to_string()))
    }

    /// Sums the tasks' reports and writes the day's manifest.
    async fn commit(&self, run: &RunItem, done: &[DoneTask]) -> Result<Value, FanoutError> {
        let mut report = RunReport {
            dt: crate::reports::date_of_day(run.as_of.div_euclid(86_400)),
            run: run.run.clone(),
            tasks: run.tasks,
            tasks_retried: done.iter().filter(|t| t.attempts > 1).count(),
            ..RunReport::default()
        };
        for task in done {
            let s: ShardReport = serde_json::from_value(task.result.clone())
                .map_err(|e| FanoutError::Task(format!("result of {}: {e}", task.id)))?;
            report.levels += s.levels;
            report.planned += s.planned;
            report.already_planned += s.already_planned;
            report.to_order += s.to_order;
            report.fallback += s.fallback;
            report.reorder_points_written += s.reorder_points_written;
            report.failed += s.failed;
            report.objects.extend(s.objects);
        }
        report.objects.sort();
        let key = format!(
            "reports/replenishment-manifests/dt={}/manifest.json",
            report.dt
        );
        report.manifest = Some(key.clone());
        let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
        self.put(&key, "application/json", body).await?;
        crate::metrics::counts(
            ("Function", "replenishment"),
            &[
                ("LevelsPlanned", report.planned),
                ("OrdersSuggested", report.to_order),
                ("LevelsNotPlanned", report.failed),
            ],
        );
        serde_json::to_value(report).map_err(|e| FanoutError::Task(e.to_string()))
    }
}

impl Run {
    async fn shard(&self, task: &Task, today: i64, dt: &str) -> Result<ShardReport, FanoutError> {
        let keys_of_shard = levels::shard_keys(&self.dynamodb, &self.table, task.shard).await?;
        let mut out = ShardReport::default();
        let mut plans: Vec<Plan> = Vec::new();
        let mut not_written = 0;
        for batch in task.slice(&keys_of_shard).chunks(levels::BATCH) {
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
            let (facts, mut stored) = self.context(&read).await?;
            // Each level with its plan, and the forecast item to write (none when an earlier
            // attempt of this run wrote it: its plan stands, and only a reorder point that
            // attempt could not write is written).
            let mut batch: Vec<(LevelRead, Plan, Option<Item>)> = Vec::new();
            for level in read {
                let key = (level.sku.clone(), level.location.clone());
                let earlier = stored.remove(&key);
                let earlier = match earlier {
                    Some(e) if e.run.as_deref() == Some(task.run.as_str()) => {
                        out.already_planned += 1;
                        batch.push((level, e.plan, None));
                        continue;
                    }
                    other => other,
                };
                let facts = facts.get(&level.sku).cloned().flatten();
                let demand = Demand::extend(
                    earlier.as_ref().map(|s| &s.demand),
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
                batch.push((level, p, Some(item)));
            }
            // Each forecast item (under the level version it was planned from, so a sale that
            // put the level in the list meanwhile is not undone), then the level's reorder point.
            let (client, table, run) = (&self.dynamodb, self.table.as_str(), task.run.as_str());
            let written: Vec<(Plan, Result<bool, StoreError>)> = stream::iter(batch)
                .map(|(level, p, item)| async move {
                    let written = match item {
                        Some(item) => {
                            store::put_forecast(client, table, item, level.version, run).await
                        }
                        None => Ok(()),
                    };
                    let moved = match written {
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
                        out.count(&p);
                        out.reorder_points_written += usize::from(moved);
                        plans.push(p);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, sku = %p.sku, location = %p.location, "plan not written");
                        not_written += 1;
                    }
                }
            }
        }
        if not_written > 0 {
            // The rest of the task is planned; its retry plans these alone.
            return Err(FanoutError::Task(format!(
                "{not_written} plans of task {} not written",
                task.id()
            )));
        }
        plans.sort_by(|a, b| (&a.sku, &a.location).cmp(&(&b.sku, &b.location)));
        out.objects = self.write_parts(task, dt, &plans).await?;
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
            HashMap<(String, String), StoredForecast>,
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
                    let run = store::planned_run(item).map(str::to_owned);
                    stored.insert(
                        (p.sku.clone(), p.location.clone()),
                        StoredForecast {
                            demand,
                            plan: p,
                            run,
                        },
                    );
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

    /// The task's parts of the day's dataset: `part-000SS` (`part-000SS-PP` when a shard is
    /// read in more than one part).
    async fn write_parts(
        &self,
        task: &Task,
        dt: &str,
        plans: &[Plan],
    ) -> Result<Vec<String>, StoreError> {
        let part = match task.parts {
            0 | 1 => format!("{:05}", task.shard),
            _ => format!("{:05}-{:02}", task.shard, task.part),
        };
        let rows: Vec<serde_json::Value> = plans.iter().map(dataset_row).collect();
        let mut csv = String::new();
        crate::reports::write_csv(&mut csv, COLUMNS, &rows, true);
        let mut jsonl = String::new();
        crate::reports::write_jsonl(&mut jsonl, &rows);
        let mut keys_written = Vec::new();
        for (key, content_type, body) in [
            (
                format!("reports/replenishment/dt={dt}/part-{part}.csv"),
                "text/csv; charset=utf-8",
                csv,
            ),
            (
                format!("reports/replenishment-jsonl/dt={dt}/part-{part}.jsonl"),
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
