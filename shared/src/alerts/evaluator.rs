//! The DynamoDB Streams handler of alerting: every stock-level change is evaluated against the
//! matching rules; episodes open, remind and resolve through conditional writes, and their
//! notices are claimed, sent and recorded once. A notice that cannot go out now (SNS or SES
//! failing or slow) stays owed on its episode for the alert clock: it never fails a record. A
//! record fails (`batchItemFailures`, retried) only when DynamoDB does; the rest of the batch is
//! processed. The projections of a change (ledger, listing, replenishment list) are not written
//! here but by the stream projector ([`crate::projections`]), so alerting can fall behind or
//! fail without holding them back.

use aws_lambda_events::streams::DynamoDbEventResponse;
use serde_json::Value;

pub use super::{
    driver::Trigger,
    engine::{Evaluator, RecordError},
};
use super::{evaluate::State, outage, rules::Rule, store::silenced};
use crate::stream::{parse_record, process_in_order, LevelChange, StreamBatch};

impl Evaluator {
    /// Handles one stream batch; failed records are reported in `batchItemFailures` (by sequence
    /// number) and the rest of the batch is processed, in order: once a record of a level fails,
    /// the later records of that level in the batch are not processed but reported failed too,
    /// so a level's notifications never go out of order (a RESOLVED before the FIRED it ends).
    /// Records of other levels go on.
    pub async fn handle(&self, batch: StreamBatch) -> DynamoDbEventResponse {
        // Boxed: the batch future is deep, and the scope would nest it deeper still.
        outage::scoped(Box::pin(self.handle_batch(batch))).await
    }

    async fn handle_batch(&self, batch: StreamBatch) -> DynamoDbEventResponse {
        process_in_order(&batch, "alert-evaluator", |raw| async move {
            match parse_record(raw) {
                Ok(Some(change)) => self.process(change).await,
                Ok(None) => Ok(()),
                Err(e) => Err(RecordError::Malformed(e)),
            }
        })
        .await
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
            old_short_units,
            ..
        } = change;

        let (rules, silences) = self.rules().await?;
        let mut new = new;
        if let Some(hours) = rules.stock_drop_hours(&new) {
            self.read_receipts(&mut new, hours).await?;
        }
        let now = self.clock.now();
        let silenced = |rule: &Rule| silenced(&silences, &rule.rule_id, &new.sku);
        let mut profile = None;
        let before = old.as_ref().map(|quantities| State {
            quantities,
            short_units: old_short_units,
        });
        for (rule, verdict) in rules.due(&new, before, now) {
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
}
