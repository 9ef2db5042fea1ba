//! The queue of a job's tasks (SQS): the coordinator sends one message per task; the worker
//! function consumes them (its event source mapping on AWS, the local stack's queue driver here).

use aws_sdk_sqs::{types::SendMessageBatchRequestEntry, Client};

use super::task::{FanoutError, Task};

/// Entries per `SendMessageBatch` (SQS's limit).
const BATCH: usize = 10;
/// Attempts at entries SQS refused for a reason it may not repeat.
const ATTEMPTS: u32 = 4;

/// One job's task queue.
#[derive(Clone)]
pub struct TaskQueue {
    client: Client,
    url: String,
}

impl TaskQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends every task, ten a request, again whatever entries SQS failed (up to
    /// [`ATTEMPTS`] times each): an error names those it could not send.
    pub async fn send(&self, tasks: &[Task]) -> Result<(), FanoutError> {
        for chunk in tasks.chunks(BATCH) {
            let mut left: Vec<&Task> = chunk.iter().collect();
            for attempt in 0..ATTEMPTS {
                if left.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                let entries = left
                    .iter()
                    .enumerate()
                    .map(|(i, task)| {
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(task.body())
                            .build()
                            .map_err(|e| FanoutError::Queue(e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .client
                    .send_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| {
                        FanoutError::Queue(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
                    })?;
                let failed: Vec<usize> = out
                    .failed
                    .iter()
                    .filter_map(|f| f.id.parse().ok())
                    .collect();
                left = failed
                    .into_iter()
                    .filter_map(|i| left.get(i).copied())
                    .collect();
            }
            if !left.is_empty() {
                let ids: Vec<String> = left.iter().map(|t| t.id()).collect();
                return Err(FanoutError::Queue(format!(
                    "tasks not sent: {}",
                    ids.join(", ")
                )));
            }
        }
        Ok(())
    }
}
