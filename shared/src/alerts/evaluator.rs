//! The DynamoDB Streams handler: every stock-level change is evaluated against the matching
//! rules; episodes open, remind and resolve through conditional writes, and notifications go out
//! once. A record that cannot be processed is reported in `batchItemFailures`; the rest of the
//! batch is processed.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_json::Value;
use tokio::sync::Mutex;

pub use super::driver::Trigger;
use super::{
    evaluate::RuleSet,
    notify::{Notifier, NotifyError},
    rules::Rule,
    store::{silenced, AlertStore, Silence},
    stream::{parse_record, record_ids, LevelChange, StreamBatch},
};
use crate::{clock::Clock, store::StoreError};

/// Why one record could not be processed; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("malformed stream record: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

struct RuleCache {
    loaded: Instant,
    rules: Arc<RuleSet>,
    silences: Arc<Vec<Silence>>,
}

/// The evaluator: built once at init, shared by every invocation.
pub struct Evaluator {
    pub(super) store: AlertStore,
    /// Writes the SKU ledgers from the stream.
    pub(super) ledger: crate::store::Store,
    pub(super) notifier: Notifier,
    refresh: Duration,
    pub(super) clock: Clock,
    cache: Mutex<Option<RuleCache>>,
}

impl Evaluator {
    pub fn new(store: AlertStore, notifier: Notifier, refresh: Duration, clock: Clock) -> Self {
        Self {
            ledger: crate::store::Store::new(store.client().clone(), store.table()),
            store,
            notifier,
            refresh,
            clock,
            cache: Mutex::new(None),
        }
    }

    pub fn store(&self) -> &AlertStore {
        &self.store
    }

    /// Rules and silences, reloaded at most every `refresh` (one query each), never per record.
    async fn rules(&self) -> Result<(Arc<RuleSet>, Arc<Vec<Silence>>), StoreError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref() {
            if c.loaded.elapsed() < self.refresh {
                return Ok((c.rules.clone(), c.silences.clone()));
            }
        }
        let (rules, silences) = self.store.load_rules_and_silences(self.clock.now()).await?;
        let rules = RuleSet::new(rules);
        let entry = RuleCache {
            loaded: Instant::now(),
            rules: Arc::new(rules),
            silences: Arc::new(silences),
        };
        let out = (entry.rules.clone(), entry.silences.clone());
        *cache = Some(entry);
        Ok(out)
    }

    /// Handles one stream batch; failed records are reported in `batchItemFailures` (by sequence
    /// number) and the rest of the batch is processed, in order: once a record of a level fails,
    /// the later records of that level in the batch are not processed but reported failed too,
    /// so a level's notifications never go out of order (a RESOLVED before the FIRED it ends).
    /// Records of other levels go on.
    pub async fn handle(&self, batch: StreamBatch) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        let mut blocked: std::collections::HashSet<(String, String)> = Default::default();
        for raw in &batch.records {
            let ids = record_ids(raw.get());
            let span = tracing::info_span!("record", sequence = %ids.sequence);
            let _enter = span.enter();
            let result = match &ids.level {
                Some(level) if blocked.contains(level) => {
                    tracing::warn!("an earlier record of this level failed; held back for order");
                    Err(None)
                }
                _ => match parse_record(raw.get()) {
                    Ok(Some(change)) => self.process(change).await.map_err(Some),
                    Ok(None) => Ok(()),
                    Err(e) => Err(Some(RecordError::Malformed(e))),
                },
            };
            if let Err(e) = result {
                if let Some(e) = e {
                    tracing::error!(error = %e, "record failed; reported for retry");
                }
                if let Some(level) = ids.level {
                    blocked.insert(level);
                }
                let mut failure = DynamoDbBatchItemFailure::default();
                failure.item_identifier = Some(ids.sequence);
                response.batch_item_failures.push(failure);
            }
        }
        if !response.batch_item_failures.is_empty() {
            crate::metrics::emit(
                &[("Function", "alert-evaluator")],
                &[(
                    "StreamRecordsFailed",
                    response.batch_item_failures.len() as f64,
                    crate::metrics::Unit::Count,
                )],
            );
        }
        response
    }

    /// [`handle`](Self::handle) for an event built as a JSON value.
    pub async fn handle_json(&self, event: Value) -> DynamoDbEventResponse {
        self.handle(StreamBatch::from_value(&event)).await
    }

    /// Evaluates one stock-level change.
    pub async fn process(&self, change: LevelChange) -> Result<(), RecordError> {
        let LevelChange {
            event_id,
            new,
            old,
            ledger_ref,
        } = change;

        // The movement line that made this change enters its SKU's ledger with the level's exact
        // before and after values.
        if let Some(reference) = &ledger_ref {
            self.ledger
                .record_ledger_entry(reference, old.as_ref(), &new.quantities)
                .await?;
        }

        // The level's entry in the stock listing, when it is new or its availability band moved.
        crate::listing::index_level(
            self.ledger.client(),
            self.ledger.table(),
            &new.sku,
            &new.location,
            new.version,
            &new.quantities,
            old.as_ref(),
        )
        .await?;
        // The level's place in the replenishment list, when the change crosses its reorder point.
        crate::replenishment::store::index_due(
            self.ledger.client(),
            self.ledger.table(),
            &new,
            old.as_ref(),
        )
        .await?;

        let (rules, silences) = self.rules().await?;
        let now = self.clock.now();
        let silenced = |rule: &Rule| silenced(&silences, &rule.rule_id, &new.sku);
        let mut profile = None;
        for (rule, verdict) in rules.due(&new, old.as_ref(), now) {
            if !self
                .selects(rule, &new.sku, &new.location, &mut profile)
                .await?
            {
                continue;
            }
            self.drive(
                rule,
                &new,
                verdict,
                Trigger::Stream {
                    event_id: &event_id,
                    version: new.version,
                },
                silenced(rule),
                &mut profile,
            )
            .await?;
        }
        Ok(())
    }

    /// The evaluator's clock time (seconds).
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
