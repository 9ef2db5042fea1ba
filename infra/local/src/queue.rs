//! A function's SQS event source, emulated on moto's SQS: the queue and its dead-letter queue
//! created as `template.yaml` defines them, and workers that receive the messages, hand each
//! batch to the function as Lambda would (an SQS event), delete what succeeded and give back
//! what failed (visible again after `retry_after`; after the queue's `maxReceiveCount`
//! receives, SQS itself moves a message to the dead-letter queue). A handler that runs past
//! `timeout` is dropped mid-task, as Lambda stops a function at its timeout: its messages come
//! back. The local stack, the tests and the benchmarks drive the same worker code this way, with
//! as many workers at once as they ask for.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::{
    types::{MessageSystemAttributeName, QueueAttributeName},
    Client,
};

use crate::template::{QueueMapping, Template};

/// What handles a batch: the worker function.
pub type TaskHandler = Arc<
    dyn Fn(SqsEvent) -> Pin<Box<dyn Future<Output = anyhow::Result<SqsBatchResponse>> + Send>>
        + Send
        + Sync,
>;

/// A function's task queue and its dead-letter queue on the emulator.
#[derive(Debug, Clone)]
pub struct TaskQueues {
    pub url: String,
    pub arn: String,
    pub dead_letter_url: String,
    pub mapping: QueueMapping,
}

impl TaskQueues {
    /// Creates the queues of `function`'s SQS event source, named `<prefix>-<logical id>`.
    pub async fn create(
        sqs: &Client,
        template: &Template,
        function: &str,
        prefix: &str,
    ) -> anyhow::Result<Self> {
        let mapping = template.queue_mapping(function)?;
        let dead_letter_url = sqs
            .create_queue()
            .queue_name(format!("{prefix}-{}", mapping.dead_letter))
            .send()
            .await
            .context("CreateQueue (dead letters)")?
            .queue_url
            .context("queue without URL")?;
        let dead_letter_arn = queue_arn(sqs, &dead_letter_url).await?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": mapping.max_receives,
        });
        let url = sqs
            .create_queue()
            .queue_name(format!("{prefix}-{}", mapping.queue))
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                mapping.visibility_timeout.to_string(),
            )
            .send()
            .await
            .context("CreateQueue")?
            .queue_url
            .context("queue without URL")?;
        let arn = queue_arn(sqs, &url).await?;
        Ok(Self {
            url,
            arn,
            dead_letter_url,
            mapping,
        })
    }
}

async fn queue_arn(sqs: &Client, url: &str) -> anyhow::Result<String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("GetQueueAttributes")?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("queue without ARN")
}

/// Messages waiting in a queue: visible, and received but not yet deleted.
pub async fn depth(sqs: &Client, url: &str) -> anyhow::Result<(u64, u64)> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .context("GetQueueAttributes")?
        .attributes
        .unwrap_or_default();
    let count = |name| {
        attributes
            .get(&name)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((
        count(QueueAttributeName::ApproximateNumberOfMessages),
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drained {
    pub invocations: usize,
    pub messages: usize,
    /// Messages a handler reported failed (or that were in a batch whose handler failed).
    pub failed: usize,
    /// Invocations stopped at the timeout.
    pub timed_out: usize,
    /// The invocations' time, added up, and the longest one's (milliseconds).
    pub busy_ms: usize,
    pub longest_ms: usize,
}

/// The event source mapping of one queue onto one handler.
#[derive(Clone)]
pub struct QueueDriver {
    sqs: Client,
    queues: TaskQueues,
    handler: TaskHandler,
    /// The function's timeout here: a handler still running then is dropped.
    pub timeout: Duration,
    /// How long a failed message stays invisible before it is received again (on AWS, the
    /// queue's visibility timeout; short here so tests and benchmarks need not wait).
    pub retry_after: Duration,
    /// A drain gives up after this long (every loop here ends by itself).
    pub deadline: Duration,
}

impl QueueDriver {
    pub fn new(sqs: Client, queues: TaskQueues, handler: TaskHandler) -> Self {
        Self {
            sqs,
            queues,
            handler,
            timeout: Duration::from_secs(900),
            retry_after: Duration::ZERO,
            deadline: Duration::from_secs(3_600),
        }
    }

    pub fn queues(&self) -> &TaskQueues {
        &self.queues
    }

    /// Empties the queue: the messages of workers stopped with the whole local stack (a test
    /// that drops a drain midway) would come back only after their visibility timeout. Their
    /// run resumes from its record when it is started again.
    pub async fn purge(&self) -> anyhow::Result<()> {
        self.sqs
            .purge_queue()
            .queue_url(&self.queues.url)
            .send()
            .await
            .context("PurgeQueue")?;
        Ok(())
    }

    /// Runs `workers` workers (at most the mapping's maximum concurrency) until the queue has
    /// nothing visible or in flight: every message done, or moved to the dead-letter queue.
    pub async fn drain(&self, workers: usize) -> anyhow::Result<Drained> {
        let workers = workers.clamp(1, self.queues.mapping.max_concurrency.max(1));
        let stats: Arc<[AtomicUsize; 6]> = Arc::new(Default::default());
        let until = Instant::now() + self.deadline;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let (driver, stats) = (self.clone(), stats.clone());
            tasks.spawn(async move { driver.work(&stats, until).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.context("queue worker panicked")??;
        }
        let [invocations, messages, failed, timed_out, busy, longest] =
            stats.each_ref().map(|a| a.load(Ordering::Relaxed));
        Ok(Drained {
            invocations,
            messages,
            failed,
            timed_out,
            busy_ms: busy,
            longest_ms: longest,
        })
    }

    async fn work(&self, stats: &[AtomicUsize; 6], until: Instant) -> anyhow::Result<()> {
        let url = &self.queues.url;
        loop {
            anyhow::ensure!(
                Instant::now() < until,
                "the queue was not drained within {:?}",
                self.deadline
            );
            let received = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(self.queues.mapping.batch_size.clamp(1, 10))
                .visibility_timeout(self.timeout.as_secs() as i32 + 5)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .context("ReceiveMessage")?
                .messages
                .unwrap_or_default();
            if received.is_empty() {
                let (visible, in_flight) = depth(&self.sqs, url).await?;
                if visible + in_flight == 0 {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let records: Vec<SqsMessage> = received
                .iter()
                .map(|m| {
                    let mut record = SqsMessage::default();
                    record.message_id = m.message_id.clone();
                    record.receipt_handle = m.receipt_handle.clone();
                    record.body = m.body.clone();
                    record.attributes = m
                        .attributes
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                        .collect();
                    record.event_source = Some("aws:sqs".into());
                    record.event_source_arn = Some(self.queues.arn.clone());
                    record.aws_region = Some("us-east-1".into());
                    record
                })
                .collect();
            let mut event = SqsEvent::default();
            event.records = records;
            stats[0].fetch_add(1, Ordering::Relaxed);
            stats[1].fetch_add(received.len(), Ordering::Relaxed);
            let invoked = Instant::now();
            let outcome = tokio::time::timeout(self.timeout, (self.handler)(event)).await;
            let ms = invoked.elapsed().as_millis() as usize;
            stats[4].fetch_add(ms, Ordering::Relaxed);
            stats[5].fetch_max(ms, Ordering::Relaxed);
            let failed: Vec<String> = match outcome {
                Ok(Ok(response)) => response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| f.item_identifier)
                    .collect(),
                Ok(Err(e)) => {
                    eprintln!("queue worker: the handler failed: {e:#}");
                    received
                        .iter()
                        .filter_map(|m| m.message_id.clone())
                        .collect()
                }
                Err(_) => {
                    stats[3].fetch_add(1, Ordering::Relaxed);
                    received
                        .iter()
                        .filter_map(|m| m.message_id.clone())
                        .collect()
                }
            };
            stats[2].fetch_add(failed.len(), Ordering::Relaxed);
            for m in &received {
                let handle = m.receipt_handle.clone().unwrap_or_default();
                if failed.iter().any(|f| Some(f) == m.message_id.as_ref()) {
                    self.sqs
                        .change_message_visibility()
                        .queue_url(url)
                        .receipt_handle(handle)
                        .visibility_timeout(self.retry_after.as_secs() as i32)
                        .send()
                        .await
                        .context("ChangeMessageVisibility")?;
                } else {
                    self.sqs
                        .delete_message()
                        .queue_url(url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .context("DeleteMessage")?;
                }
            }
        }
    }
}

/// The bodies of the messages in a queue now (received and given back at once).
pub async fn peek(sqs: &Client, url: &str) -> anyhow::Result<Vec<String>> {
    let mut bodies = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..100 {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .send()
            .await
            .context("ReceiveMessage")?
            .messages
            .unwrap_or_default();
        if received.is_empty() {
            break;
        }
        for m in received {
            bodies.extend(m.body);
            handles.extend(m.receipt_handle);
        }
    }
    for handle in handles {
        sqs.change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .context("ChangeMessageVisibility")?;
    }
    Ok(bodies)
}
