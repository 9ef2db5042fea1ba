//! DynamoDB Streams emulation around the evaluator, as Lambda's event source mapping does it:
//! read the table's stream, keep the records the template's filter criteria select, hand them to
//! the handler as a Lambda stream event in batches, and retry from the first failed record.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde_json::{json, Map, Value};
use shared::alerts::evaluator::Evaluator;
use tokio::task::JoinHandle;

/// How the template's event source mapping is configured.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    pub batch_size: usize,
    pub max_retries: u32,
    /// Filter criteria patterns (any must match).
    pub filters: Vec<Value>,
}

fn attribute_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::B(b) => json!({ "B": STANDARD.encode(b.as_ref()) }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => {
            json!({ "BS": v.iter().map(|b| STANDARD.encode(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": image_json(m) }),
        _ => Value::Null,
    }
}

fn image_json(m: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect::<Map<_, _>>(),
    )
}

/// A stream record as Lambda hands it to a function.
pub fn lambda_record(r: &Record, stream_arn: &str) -> Value {
    let d = r.dynamodb();
    let mut change = json!({
        "SequenceNumber": d.and_then(|d| d.sequence_number()),
        "SizeBytes": d.and_then(|d| d.size_bytes()),
        "StreamViewType": d.and_then(|d| d.stream_view_type()).map(|v| v.as_str()),
        "ApproximateCreationDateTime": d.and_then(|d| d.approximate_creation_date_time()).map(|t| t.secs()),
    });
    if let Some(d) = d {
        if let Some(k) = d.keys() {
            change["Keys"] = image_json(k);
        }
        if let Some(n) = d.new_image() {
            change["NewImage"] = image_json(n);
        }
        if let Some(o) = d.old_image() {
            change["OldImage"] = image_json(o);
        }
    }
    json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|e| e.as_str()),
        "eventVersion": r.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region().unwrap_or("us-east-1"),
        "eventSourceARN": stream_arn,
        "dynamodb": change,
    })
}

/// Whether a record matches an event-filter pattern (nested objects; leaf arrays list the
/// accepted values).
pub fn matches(pattern: &Value, record: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(k, p)| record.get(k).is_some_and(|r| matches(p, r))),
        Value::Array(accepted) => accepted.contains(record),
        other => other == record,
    }
}

/// Polls the table's stream and invokes the evaluator.
pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    iterator: Option<String>,
    backlog: Vec<Value>,
    evaluator: Arc<Evaluator>,
    config: MappingConfig,
    /// Batches given up after `max_retries` (what would go to the on-failure queue).
    pub dead_letters: Vec<Value>,
}

impl StreamPoller {
    /// Starts reading the stream of `stream_arn` from its start (an emulator's table is new).
    pub async fn new(
        client: aws_sdk_dynamodbstreams::Client,
        stream_arn: String,
        evaluator: Arc<Evaluator>,
        config: MappingConfig,
    ) -> anyhow::Result<Self> {
        let stream = client
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await
            .context("DescribeStream")?;
        let shard = stream
            .stream_description()
            .and_then(|d| d.shards().first())
            .and_then(|s| s.shard_id())
            .context("stream has no shard")?
            .to_owned();
        let iterator = client
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .context("GetShardIterator")?
            .shard_iterator;
        Ok(Self {
            client,
            stream_arn,
            iterator,
            backlog: Vec::new(),
            evaluator,
            config,
            dead_letters: Vec::new(),
        })
    }

    async fn fetch(&mut self) -> anyhow::Result<()> {
        while let Some(it) = self.iterator.clone() {
            let out = self
                .client
                .get_records()
                .shard_iterator(it)
                .limit(1000)
                .send()
                .await
                .context("GetRecords")?;
            self.iterator = out.next_shard_iterator.clone();
            let records = out.records();
            if records.is_empty() {
                break;
            }
            for r in records {
                let event = lambda_record(r, &self.stream_arn);
                if self.config.filters.is_empty()
                    || self.config.filters.iter().any(|f| matches(f, &event))
                {
                    self.backlog.push(event);
                }
            }
        }
        Ok(())
    }

    /// Delivers everything on the stream now, batch by batch; returns how many records the
    /// handler processed successfully. Like Lambda, a batch with failures is retried from its
    /// first failed record; after `max_retries` the rest goes to the on-failure destination.
    pub async fn drain(&mut self) -> anyhow::Result<usize> {
        self.fetch().await?;
        let mut done = 0;
        while !self.backlog.is_empty() {
            let take = self.backlog.len().min(self.config.batch_size);
            let mut batch: Vec<Value> = self.backlog.drain(..take).collect();
            let mut attempts = 0;
            loop {
                let response = self
                    .evaluator
                    .handle_json(json!({ "Records": batch }))
                    .await;
                let sequence = |r: &Value| {
                    r.pointer("/dynamodb/SequenceNumber")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let first_failed = response
                    .batch_item_failures
                    .iter()
                    .filter_map(|f| f.item_identifier.clone())
                    .filter_map(|id| {
                        batch
                            .iter()
                            .position(|r| sequence(r).as_deref() == Some(id.as_str()))
                    })
                    .min()
                    .or((!response.batch_item_failures.is_empty()).then_some(0));
                let Some(first) = first_failed else {
                    done += batch.len();
                    break;
                };
                done += first;
                batch.drain(..first);
                attempts += 1;
                if attempts > self.config.max_retries {
                    tracing::error!(
                        records = batch.len(),
                        "records failed after retries; sent to the on-failure destination"
                    );
                    self.dead_letters.append(&mut batch);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempts))).await;
            }
        }
        Ok(done)
    }

    /// Polls continuously (the local stack): alerts follow a sale within about a second.
    pub fn spawn(mut self, every: Duration) -> JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.drain().await {
                    tracing::warn!(error = %e, "stream poll failed");
                }
                tokio::time::sleep(every).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_select_stock_levels_only() {
        let pattern: Value =
            serde_json::from_str(r#"{"dynamodb":{"NewImage":{"entity":{"S":["stock_level"]}}}}"#)
                .unwrap();
        let level =
            json!({"dynamodb": {"NewImage": {"entity": {"S": "stock_level"}, "sku": {"S": "A"}}}});
        let alert = json!({"dynamodb": {"NewImage": {"entity": {"S": "alert"}}}});
        let removed = json!({"dynamodb": {"OldImage": {"entity": {"S": "stock_level"}}}});
        assert!(matches(&pattern, &level));
        assert!(!matches(&pattern, &alert));
        assert!(!matches(&pattern, &removed));
    }
}
