//! DynamoDB Streams emulation around the evaluator, as Lambda's event source mapping does it:
//! read the table's stream, keep the records the template's filter criteria select, hand them to
//! the handler as a Lambda stream event in batches, and retry from the first failed record.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use anyhow::{bail, Context};
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde_json::{json, Value};
use shared::alerts::evaluator::Evaluator;
use tokio::task::JoinHandle;

use crate::client::ApiClient;

/// How the template's event source mapping is configured.
#[derive(Debug, Clone)]
pub struct MappingConfig {
    pub batch_size: usize,
    pub max_retries: u32,
    /// Filter criteria patterns (any must match).
    pub filters: Vec<Value>,
}

/// DynamoDB Local's `GetRecords` writes an empty map attribute as `{}` where DynamoDB writes
/// `{"M":{}}` (seen with DynamoDB Local 3.3.1: a level's empty sales counters, a SKU without
/// attributes), which the SDK refuses to parse. The reader below takes `GetRecords` as JSON and
/// puts those values right; everything else in a record passes through untouched.
fn fix_value(v: &mut Value) {
    let Value::Object(m) = v else { return };
    if m.is_empty() {
        m.insert("M".into(), json!({}));
        return;
    }
    if let Some(Value::Object(inner)) = m.get_mut("M") {
        inner.values_mut().for_each(fix_value);
    } else if let Some(Value::Array(items)) = m.get_mut("L") {
        items.iter_mut().for_each(fix_value);
    }
}

/// Reads a table's stream through the Streams API from its start, in Lambda's record shape.
/// DescribeStream and GetShardIterator go through the SDK; GetRecords is sent as the JSON
/// request the SDK would send and read as JSON (see [`fix_value`]).
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    http: ApiClient,
    stream_arn: String,
    shard: String,
    last_sequence: Option<String>,
}

impl StreamReader {
    /// Opens the stream of `table` at its trim horizon.
    pub async fn for_table(
        sdk: &aws_config::SdkConfig,
        endpoint: &str,
        table: &str,
    ) -> anyhow::Result<Self> {
        let stream_arn = aws_sdk_dynamodb::Client::new(sdk)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .context("DescribeTable")?
            .table
            .and_then(|t| t.latest_stream_arn)
            .context("table has no stream")?;
        let client = aws_sdk_dynamodbstreams::Client::new(sdk);
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
        Ok(Self {
            client,
            http: ApiClient::new(endpoint),
            stream_arn,
            shard,
            last_sequence: None,
        })
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// One `GetRecords` call: up to 1,000 records, and the next iterator.
    async fn page(&self, iterator: &str) -> anyhow::Result<(Vec<Value>, Option<String>)> {
        let body = json!({ "ShardIterator": iterator, "Limit": 1000 });
        let response = self
            .http
            .send(
                http::Method::POST,
                "/",
                &[
                    ("content-type", "application/x-amz-json-1.0"),
                    ("x-amz-target", "DynamoDBStreams_20120810.GetRecords"),
                    (
                        "authorization",
                        "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, \
                         SignedHeaders=host, Signature=0",
                    ),
                ],
                Some(body.to_string().into_bytes()),
            )
            .await
            .context("GetRecords")?;
        let mut page = response.json();
        if !response.status.is_success() {
            bail!(
                "GetRecords: {} {}",
                response.status,
                page.get("Message")
                    .or_else(|| page.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
        }
        let next = page
            .get("NextShardIterator")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut records = match page.get_mut("Records").map(Value::take) {
            Some(Value::Array(records)) => records,
            _ => Vec::new(),
        };
        for record in &mut records {
            if let Some(Value::Object(change)) = record.get_mut("dynamodb") {
                for image in ["Keys", "NewImage", "OldImage"] {
                    if let Some(Value::Object(attrs)) = change.get_mut(image) {
                        attrs.values_mut().for_each(fix_value);
                    }
                }
            }
            record["awsRegion"] = json!("us-east-1");
            record["eventSourceARN"] = json!(self.stream_arn);
        }
        Ok((records, next))
    }

    /// Every record written since the last read.
    ///
    /// DynamoDB Local numbers stream records across all of its tables, yet the `NextShardIterator`
    /// it returns points at "last + 1", which another table may own; reading from there is then
    /// refused as trimmed (seen with tables written concurrently). So every page starts from a
    /// fresh iterator after the last record seen, as a consumer resuming from a checkpoint does.
    pub async fn read(&mut self) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        while let Some(it) = self.iterator_after_last().await? {
            let (records, _) = self.page(&it).await?;
            let Some(last) = records
                .last()
                .and_then(|r| r.pointer("/dynamodb/SequenceNumber"))
                .and_then(Value::as_str)
            else {
                break;
            };
            self.last_sequence = Some(last.to_owned());
            out.extend(records);
        }
        Ok(out)
    }

    async fn iterator_after_last(&self) -> anyhow::Result<Option<String>> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&self.shard);
        let request = match &self.last_sequence {
            Some(seq) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        Ok(request
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "GetShardIterator: {}",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e)
                )
            })?
            .shard_iterator)
    }
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

/// A stream function's handler: a Lambda stream event in, its batch response out.
pub type Handler =
    Arc<dyn Fn(Value) -> Pin<Box<dyn Future<Output = DynamoDbEventResponse> + Send>> + Send + Sync>;

/// Polls the table's stream and invokes one function's handler (the alert evaluator, the stream
/// projector), as that function's event source mapping would.
pub struct StreamPoller {
    reader: StreamReader,
    backlog: Vec<Value>,
    handler: Handler,
    config: MappingConfig,
    /// Batches given up after `max_retries` (what would go to the on-failure queue).
    pub dead_letters: Vec<Value>,
}

impl StreamPoller {
    /// Starts reading the stream from its start (an emulator's table is new).
    pub fn new(reader: StreamReader, evaluator: Arc<Evaluator>, config: MappingConfig) -> Self {
        let handler: Handler = Arc::new(move |event| {
            let evaluator = evaluator.clone();
            Box::pin(async move { evaluator.handle_json(event).await })
        });
        Self::with_handler(reader, handler, config)
    }

    pub fn with_handler(reader: StreamReader, handler: Handler, config: MappingConfig) -> Self {
        Self {
            reader,
            backlog: Vec::new(),
            handler,
            config,
            dead_letters: Vec::new(),
        }
    }

    async fn fetch(&mut self) -> anyhow::Result<()> {
        for event in self.reader.read().await? {
            if self.config.filters.is_empty()
                || self.config.filters.iter().any(|f| matches(f, &event))
            {
                self.backlog.push(event);
            }
        }
        Ok(())
    }

    /// Reads past everything on the stream now without delivering it (a benchmark's seeded
    /// items, which no function would have seen as changes).
    pub async fn discard(&mut self) -> anyhow::Result<usize> {
        self.fetch().await?;
        let n = self.backlog.len();
        self.backlog.clear();
        Ok(n)
    }

    /// Delivers everything on the stream now, batch by batch; returns how many records the
    /// handler processed successfully. Like Lambda, a batch with failures is retried from its
    /// first failed record; after `max_retries` the rest goes to the on-failure destination.
    pub async fn drain(&mut self) -> anyhow::Result<usize> {
        self.drain_counting(&|_| true).await
    }

    /// [`drain`](Self::drain), counting only the records processed successfully that `counted`
    /// picks (the projector's queued imports, say, among its stock changes).
    pub async fn drain_counting(
        &mut self,
        counted: &(dyn Fn(&Value) -> bool + Sync),
    ) -> anyhow::Result<usize> {
        self.fetch().await?;
        let mut done = 0;
        while !self.backlog.is_empty() {
            let take = self.backlog.len().min(self.config.batch_size);
            let mut batch: Vec<Value> = self.backlog.drain(..take).collect();
            let mut attempts = 0;
            loop {
                let response = (self.handler)(json!({ "Records": batch })).await;
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
                    done += batch.iter().filter(|r| counted(r)).count();
                    break;
                };
                done += batch[..first].iter().filter(|r| counted(r)).count();
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
    fn empty_maps_become_map_values_at_any_depth() {
        let mut v = json!({});
        fix_value(&mut v);
        assert_eq!(v, json!({"M": {}}));
        let mut v = json!({"M": {"a": {}, "b": {"N": "1"}, "c": {"L": [{}]}}});
        fix_value(&mut v);
        assert_eq!(
            v,
            json!({"M": {"a": {"M": {}}, "b": {"N": "1"}, "c": {"L": [{"M": {}}]}}})
        );
    }

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
