//! Reconciliation: proving that every level's on-hand, reserved and in-transit are what its
//! ledger adds up to (the proof itself, pure, is [`crate::proof`]). Two ways in:
//!
//! - **One SKU, on demand** (`GET /v1/skus/{sku}/reconciliation`, admin): each of its levels
//!   against its whole ledger, strongly consistent.
//! - **Every level, on a schedule** (the `reconciler` function, nightly): shard by shard of the
//!   level index, each level from its checkpoint (`RECON#<sku>` / `LOC#<location>`: the version
//!   and ledger position proved last time), so a run reads only the entries written since. A
//!   clean level's checkpoint moves on; drift is logged with the entries involved, counted
//!   (`LedgerDrift`) and alarmed; a level whose last change is not in its ledger yet (the stream
//!   is a moment behind) is left for the next run.

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fanout::{DoneTask, FanoutError, Job, ShardJob, Task};
use crate::proof::{self, Finding, LevelNow, Start};
use crate::schema::RunItem;
use crate::{
    domain::{LocationId, Quantities, SkuId},
    schema::{decode, entity, keys, CheckpointItem, Item, LevelItem, Stored},
    store::{Store, StoreError},
};

/// Levels proved side by side.
const AT_ONCE: usize = 16;
/// How far before a checkpoint's last entry a run reads again: an entry written later can sort
/// a little earlier (its writer's clock), and the versions sort out which were proved.
const REREAD_MS: i64 = 5 * 60_000;
/// Drifting levels a run's answer lists (all are logged).
const LISTED: usize = 100;

/// One level's proof.
#[derive(Debug, Clone, Serialize)]
pub struct LevelProof {
    pub sku: String,
    pub location: String,
    /// The version the proof started from (0: the ledger's beginning).
    pub from_version: i64,
    #[serde(flatten)]
    pub finding: Finding,
}

/// A SKU's levels, proved.
#[derive(Debug, Clone, Serialize)]
pub struct SkuProof {
    pub sku: String,
    pub checked_at: String,
    pub drift: bool,
    pub levels: Vec<LevelProof>,
}

/// What a scheduled run did (and each of its tasks: the commit sums them).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunReport {
    pub levels: usize,
    pub clean: usize,
    pub drift: usize,
    pub behind: usize,
    /// Ledger entries read and proved.
    pub entries: usize,
    /// Levels that could not be read or proved (the table unavailable past its retries).
    pub failed: usize,
    /// The first drifting levels' proofs.
    pub drifting: Vec<Value>,
}

impl ShardJob for Reconciler {
    const JOB: Job = Job::Reconciliation;

    /// Proves the task's levels, each from its checkpoint.
    async fn task(&self, task: &Task) -> Result<Value, FanoutError> {
        let mut report = RunReport::default();
        self.run_shard(task, &mut report).await?;
        serde_json::to_value(report).map_err(|e| FanoutError::Task(e.to_string()))
    }

    /// Sums the tasks' reports; drift is counted (`LedgerDrift`, alarmed) and was logged by the
    /// task that found it.
    async fn commit(&self, _run: &RunItem, done: &[DoneTask]) -> Result<Value, FanoutError> {
        let mut report = RunReport::default();
        for task in done {
            let r: RunReport = serde_json::from_value(task.result.clone())
                .map_err(|e| FanoutError::Task(format!("result of {}: {e}", task.id)))?;
            report.levels += r.levels;
            report.clean += r.clean;
            report.drift += r.drift;
            report.behind += r.behind;
            report.entries += r.entries;
            report.failed += r.failed;
            let room = LISTED.saturating_sub(report.drifting.len());
            report.drifting.extend(r.drifting.into_iter().take(room));
        }
        crate::metrics::counts(
            ("Function", "reconciler"),
            &[
                ("LevelsReconciled", report.clean),
                ("LedgerDrift", report.drift),
                ("LedgerBehind", report.behind),
                ("ReconciliationFailed", report.failed),
            ],
        );
        serde_json::to_value(report).map_err(|e| FanoutError::Task(e.to_string()))
    }
}

/// A level item as a proof reads it.
fn level_now(item: &Item) -> Option<(SkuId, LocationId, LevelNow)> {
    let i: LevelItem = decode(entity::STOCK_LEVEL, item).ok()?;
    let level = LevelNow {
        quantities: i.quantities.into(),
        version: i.version,
        last_movement: i.last_movement,
        updated_ms: crate::clock::millis_of(&i.updated_at).unwrap_or(0),
    };
    Some((
        SkuId::parse("sku", &i.sku).ok()?,
        LocationId::parse("location", &i.location).ok()?,
        level,
    ))
}

/// Reconciles levels against their ledgers.
pub struct Reconciler {
    store: Store,
    clock: crate::clock::Clock,
}

impl Reconciler {
    pub fn new(store: Store, clock: crate::clock::Clock) -> Self {
        Self { store, clock }
    }

    /// Proves one level from `start`.
    async fn prove(
        &self,
        (sku, location, level): &(SkuId, LocationId, LevelNow),
        start: Start,
    ) -> Result<LevelProof, StoreError> {
        // Unchanged since its checkpoint (same version, same quantities): nothing to read.
        if start.version > 0
            && level.version == start.version
            && level.quantities == start.quantities
        {
            return Ok(LevelProof {
                sku: sku.to_string(),
                location: location.to_string(),
                from_version: start.version,
                finding: Finding::Clean {
                    checkpoint: start,
                    entries: 0,
                },
            });
        }
        let from = match crate::clock::millis_of(start.sort.split('#').next().unwrap_or("")) {
            Some(ms) => crate::clock::rfc3339_millis(ms - REREAD_MS),
            None => String::new(),
        };
        let steps = self.store.ledger_steps(sku, location, &from).await?;
        let finding = proof::check(&start, &steps, level, self.clock.now_millis());
        Ok(LevelProof {
            sku: sku.to_string(),
            location: location.to_string(),
            from_version: start.version,
            finding,
        })
    }

    /// Every level of `sku` against its whole ledger (None: no such SKU).
    pub async fn sku(&self, sku: &SkuId) -> Result<Option<SkuProof>, StoreError> {
        let Some(items) = self.store.sku_level_items(sku).await? else {
            return Ok(None);
        };
        let mut levels = Vec::new();
        for level in items.iter().filter_map(level_now) {
            levels.push(self.prove(&level, Start::default()).await?);
        }
        let drift = levels
            .iter()
            .any(|l| matches!(l.finding, Finding::Drift(_)));
        crate::metrics::counts(
            ("Function", "stock-query"),
            &[("LedgerDrift", usize::from(drift))],
        );
        Ok(Some(SkuProof {
            sku: sku.to_string(),
            checked_at: self.clock.rfc3339(),
            drift,
            levels,
        }))
    }

    /// Proves the levels of one task (a part of a level shard), each from its checkpoint.
    async fn run_shard(&self, task: &Task, report: &mut RunReport) -> Result<(), StoreError> {
        let client = self.store.client();
        let table = self.store.table();
        let level_keys = crate::levels::shard_keys(client, table, task.shard).await?;
        for chunk in task.slice(&level_keys).chunks(crate::levels::BATCH) {
            let items = crate::levels::batch_get(client, table, chunk.to_vec()).await?;
            let levels: Vec<_> = items.iter().filter_map(level_now).collect();
            let checkpoint_keys = levels
                .iter()
                .map(|(s, l, _)| {
                    keys::key(keys::checkpoint(s.as_str()), keys::location(l.as_str()))
                })
                .collect();
            let checkpoints: std::collections::HashMap<(String, String), Start> =
                crate::levels::batch_get(client, table, checkpoint_keys)
                    .await?
                    .iter()
                    .filter_map(|i| decode::<CheckpointItem>(entity::CHECKPOINT, i).ok())
                    .map(|c| {
                        let start = Start {
                            quantities: Quantities {
                                on_hand: c.on_hand,
                                reserved: c.reserved,
                                in_transit: c.in_transit,
                                available: c.on_hand - c.reserved,
                            },
                            version: c.version,
                            sort: c.ledger_sort,
                        };
                        ((c.sku, c.location), start)
                    })
                    .collect();
            let proving: Vec<_> = levels
                .into_iter()
                .map(|level| {
                    let key = (level.0.to_string(), level.1.to_string());
                    let start = checkpoints.get(&key).cloned().unwrap_or_default();
                    async move { (self.prove(&level, start.clone()).await, start) }
                })
                .collect();
            let proofs: Vec<_> = stream::iter(proving)
                .buffer_unordered(AT_ONCE)
                .collect()
                .await;
            for (proof, start) in proofs {
                let proof = proof?;
                report.levels += 1;
                match &proof.finding {
                    Finding::Clean {
                        checkpoint,
                        entries,
                    } => {
                        report.clean += 1;
                        report.entries += entries;
                        if *checkpoint != start {
                            self.save(&proof, checkpoint).await?;
                        }
                    }
                    Finding::Behind { .. } => report.behind += 1,
                    Finding::Drift(d) => {
                        report.drift += 1;
                        report.entries += d.entries;
                        tracing::error!(
                            drift = %serde_json::to_string(&proof).unwrap_or_default(),
                            "a level does not agree with its ledger"
                        );
                        if report.drifting.len() < LISTED {
                            report
                                .drifting
                                .push(serde_json::to_value(&proof).unwrap_or_default());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn save(&self, proof: &LevelProof, checkpoint: &Start) -> Result<(), StoreError> {
        let item = CheckpointItem {
            sku: proof.sku.clone(),
            location: proof.location.clone(),
            version: checkpoint.version,
            ledger_sort: checkpoint.sort.clone(),
            on_hand: checkpoint.quantities.on_hand,
            reserved: checkpoint.quantities.reserved,
            in_transit: checkpoint.quantities.in_transit,
            checked_at: self.clock.rfc3339(),
        };
        self.store
            .client()
            .put_item()
            .table_name(self.store.table())
            .set_item(Some(item.to_item()))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }
}
