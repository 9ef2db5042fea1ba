//! The projector: what must never be lost of a stock change, written from the table's stream by
//! a path that touches DynamoDB alone. For every stock-level change it writes
//!
//! - the movement's ledger entry, with the level's exact before and after;
//! - the level's entry in the stock listing, when it is new or its availability band moved;
//! - the level's place in the replenishment list, when the change crosses its reorder point;
//!
//! and it starts the stocktake imports queued on the same stream (an import applies its lines as
//! stock movements, DynamoDB alone too).
//!
//! Alerting reads the same changes as the stream's other reader (a DynamoDB stream serves at most
//! two readers per shard): it may fall behind, retry or fail without holding a projection back,
//! and nothing here waits on SNS or SES.

use aws_lambda_events::streams::DynamoDbEventResponse;
use serde_json::Value;

use crate::{
    clock::Clock,
    domain::Quantities,
    stocktake::{Describe, ImportWorker},
    store::{Store, StoreError},
    stream::{parse_record, process_in_order, LevelChange, StreamBatch},
};

/// Why one record could not be projected; it is retried.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("malformed stream record: {0}")]
    Malformed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The projector: built once at init, shared by every invocation.
pub struct Projector {
    store: Store,
    imports: ImportWorker,
}

impl Projector {
    /// `describe` names a refused import line's problem (the wiring hands in the HTTP layer's
    /// [`crate::api::stocktakes::describe_refusal`]).
    pub fn new(store: Store, clock: Clock, describe: Describe) -> Self {
        Self {
            imports: ImportWorker::new(store.clone(), clock, describe),
            store,
        }
    }

    /// Handles one stream batch. A record that fails is reported in `batchItemFailures` and
    /// retried; once a record of a level fails, that level's later records in the batch are
    /// reported too (held back, so a level's projections keep their order); the other levels go
    /// on.
    pub async fn handle(&self, batch: StreamBatch) -> DynamoDbEventResponse {
        process_in_order(&batch, "stream-projector", |raw| self.one(raw)).await
    }

    /// [`handle`](Self::handle) for an event built as a JSON value.
    pub async fn handle_json(&self, event: Value) -> DynamoDbEventResponse {
        self.handle(StreamBatch::from_value(&event)).await
    }

    async fn one(&self, raw: &str) -> Result<(), ProjectionError> {
        match parse_record(raw) {
            Ok(Some(change)) => Ok(self.project(&change).await?),
            // Not a stock level: a queued stocktake import (the mapping's filter passes those).
            Ok(None) => {
                let record: Value = serde_json::from_str(raw)
                    .map_err(|e| ProjectionError::Malformed(e.to_string()))?;
                Ok(self.imports.run_queued(&record).await?)
            }
            Err(e) => Err(ProjectionError::Malformed(e)),
        }
    }

    /// Writes the projections of one stock-level change. Each write is idempotent (a redelivered
    /// record writes nothing new).
    pub async fn project(&self, change: &LevelChange) -> Result<(), StoreError> {
        let LevelChange {
            new,
            old,
            ledger_ref,
            ..
        } = change;
        match ledger_ref {
            // A checkout hold's step: its entry is made from the reservation item.
            Some(reference) if reference.starts_with(&crate::schema::keys::reservation("")) => {
                crate::reservations::ledger::record(
                    self.store.client(),
                    self.store.table(),
                    reference,
                    old.as_ref().unwrap_or(&Quantities::default()),
                    &new.quantities,
                    new.version,
                )
                .await?
            }
            Some(reference) => {
                self.store
                    .record_ledger_entry(reference, old.as_ref(), &new.quantities, new.version)
                    .await?
            }
            None => {}
        }
        crate::listing::index_level(
            self.store.client(),
            self.store.table(),
            &new.sku,
            &new.location,
            new.version,
            &new.quantities,
            old.as_ref(),
        )
        .await?;
        crate::replenishment::store::index_due(
            self.store.client(),
            self.store.table(),
            new,
            old.as_ref(),
        )
        .await
    }
}
