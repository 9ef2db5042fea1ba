//! Batch work fanned out over the level shards: a coordinator records a run and queues one task
//! per shard part; workers (the same function, fed by the queue) do one task each; the worker
//! that finds every task done commits the run's output, once.
//!
//! - **Idempotent tasks.** The run record (`RUN#<job>#<run>`, [`runs`]) counts the tasks not
//!   yet done, and each task's item holds its result once done. A task already done is not done
//!   again (a duplicate message, a coordinator invoked
//!   twice); a task redone after a failure or a killed worker skips what its earlier attempt
//!   finished (each job keeps its own marks: replenishment, the run that planned a level).
//! - **A failed task is retried alone**, by the queue (the message comes back after its
//!   visibility timeout; after three receives it goes to the dead-letter queue, which alarms).
//!   Invoked again, the coordinator sends what is still pending: a run resumes, it never
//!   restarts.
//! - **Committed once.** The commit (a job's manifest) is claimed on the run record with a lease
//!   ([`COMMIT_LEASE`]), written, then recorded; a committer that fails gives its claim back, one
//!   that is killed loses it when the lease runs out, and the message it was working on comes
//!   back to finish the commit.

pub mod queue;
pub mod runs;
pub mod task;

use std::future::Future;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::Serialize;
use serde_json::Value;

pub use queue::TaskQueue;
pub use runs::Runs;
pub use task::{is_queue_event, requested_run, tasks, FanoutError, Job, Task};

use crate::{clock::Clock, schema::RunItem};

/// How long a commit's claim holds (seconds): a worker function's longest run.
pub const COMMIT_LEASE: i64 = 900;

/// A job whose work is done in tasks of a level shard each, then committed once.
pub trait ShardJob: Send + Sync {
    const JOB: Job;

    /// Does one task, idempotently (a redo skips what an earlier attempt of the same run
    /// finished): its result, kept on the run for the commit.
    fn task(&self, task: &Task) -> impl Future<Output = Result<Value, FanoutError>> + Send;

    /// Writes the run's output once every task is done, from their results (in task order):
    /// a summary of what it wrote.
    fn commit(
        &self,
        run: &RunItem,
        done: &[DoneTask],
    ) -> impl Future<Output = Result<Value, FanoutError>> + Send;
}

/// A task done, as the commit reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct DoneTask {
    pub id: String,
    /// Times it was started (more than one: it failed, or its worker was stopped, and was
    /// done again).
    pub attempts: u32,
    pub result: Value,
}

/// What a coordinator's start did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Started {
    pub job: Job,
    pub run: String,
    pub tasks: u32,
    /// Tasks sent to the queue now.
    pub sent: usize,
    /// The run existed: only its pending tasks were sent.
    pub resumed: bool,
    pub committed: bool,
}

/// Starts runs: records the run, then queues its tasks.
#[derive(Clone)]
pub struct Coordinator {
    runs: Runs,
    queue: TaskQueue,
    clock: Clock,
}

impl Coordinator {
    pub fn new(runs: Runs, queue: TaskQueue, clock: Clock) -> Self {
        Self { runs, queue, clock }
    }

    /// Starts run `run` of `job` as of `as_of`, each shard in `parts` tasks; or, when the run
    /// exists, sends its pending tasks again (as of its own time, in its own parts).
    pub async fn start(
        &self,
        job: Job,
        run: &str,
        as_of: i64,
        parts: u32,
    ) -> Result<Started, FanoutError> {
        let all = tasks(job, run, as_of, parts);
        let mut record = runs::new_run(job.name(), run, as_of, parts.max(1), &all);
        record.started_at = crate::clock::rfc3339_millis(self.clock.now_millis());
        if self.runs.create(&record).await?.is_some() {
            self.queue.send(&all).await?;
            return Ok(Started {
                job,
                run: run.to_owned(),
                tasks: record.tasks,
                sent: all.len(),
                resumed: false,
                committed: false,
            });
        }
        let existing = self
            .runs
            .get(job.name(), run)
            .await?
            .ok_or_else(|| FanoutError::Task(format!("run {run} vanished")))?;
        if existing.committed_at.is_some() {
            return Ok(Started {
                job,
                run: run.to_owned(),
                tasks: existing.tasks,
                sent: 0,
                resumed: true,
                committed: true,
            });
        }
        let done: std::collections::BTreeSet<String> = self
            .runs
            .tasks(job.name(), run)
            .await?
            .into_iter()
            .filter(|t| t.result.is_some())
            .map(|t| t.task)
            .collect();
        let mut again: Vec<Task> = tasks(job, run, existing.as_of, existing.parts)
            .into_iter()
            .filter(|t| !done.contains(&t.id()))
            .collect();
        if again.is_empty() {
            // Every task done but not committed: one of them again makes a worker commit.
            again = tasks(job, run, existing.as_of, existing.parts);
            again.truncate(1);
        }
        self.queue.send(&again).await?;
        Ok(Started {
            job,
            run: run.to_owned(),
            tasks: existing.tasks,
            sent: again.len(),
            resumed: true,
            committed: false,
        })
    }
}

impl Coordinator {
    /// The morning check: is `run` committed? (`RunLate` 0, else 1.) If not, it is started, or
    /// its pending tasks are sent again.
    pub async fn check(
        &self,
        job: Job,
        run: &str,
        now: i64,
        parts: u32,
    ) -> Result<Started, FanoutError> {
        let started = self.start(job, run, now, parts).await?;
        crate::metrics::counts(
            ("Job", job.name()),
            &[("RunLate", usize::from(!started.committed))],
        );
        Ok(started)
    }
}

/// What one task's message came to.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome {
    /// Done now, or found done; other tasks are pending, or another worker commits.
    Done,
    /// Done, and it was the last: the run committed with this summary.
    Committed(Value),
}

/// Does a job's tasks from the queue's messages, and commits runs.
pub struct Worker<J> {
    job: J,
    runs: Runs,
    clock: Clock,
}

impl<J: ShardJob> Worker<J> {
    pub fn new(job: J, runs: Runs, clock: Clock) -> Self {
        Self { job, runs, clock }
    }

    pub fn job(&self) -> &J {
        &self.job
    }

    /// Every message of the batch, one after another: the messages that failed are reported
    /// (the queue gives them again later, and to the dead-letter queue after its receives).
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            let id = record.message_id.clone().unwrap_or_default();
            let outcome = match Task::parse(record.body.as_deref().unwrap_or_default()) {
                Ok(task) => self.run_task(&task).await,
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                tracing::error!(message_id = %id, error = %e, job = J::JOB.name(), "task failed");
                crate::metrics::count("TasksFailed", ("Job", J::JOB.name()));
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        response
    }

    /// Does `task` unless its run has it done, then commits the run if every task is done.
    pub async fn run_task(&self, task: &Task) -> Result<TaskOutcome, FanoutError> {
        if task.job != J::JOB {
            return Err(FanoutError::Message(format!(
                "a {} task sent to the {} worker",
                task.job.name(),
                J::JOB.name()
            )));
        }
        let (job, name) = (task.job.name(), task.run.as_str());
        let run = self
            .runs
            .get(job, name)
            .await?
            .ok_or_else(|| FanoutError::Message(format!("no run {name}")))?;
        if run.committed_at.is_some() {
            return Ok(TaskOutcome::Done);
        }
        let done = self
            .runs
            .task(task)
            .await?
            .is_some_and(|t| t.result.is_some());
        if !done {
            self.runs.started(task).await?;
            let result = self.job.task(task).await?;
            self.runs
                .done(task, &result.to_string(), self.clock.now())
                .await?;
        }
        let run = self
            .runs
            .get(job, name)
            .await?
            .ok_or_else(|| FanoutError::Message(format!("no run {name}")))?;
        self.commit_if_done(run).await
    }

    async fn commit_if_done(&self, run: RunItem) -> Result<TaskOutcome, FanoutError> {
        if run.remaining > 0 || run.committed_at.is_some() {
            return Ok(TaskOutcome::Done);
        }
        let now = self.clock.now();
        let by = format!("{}-{}", self.clock.now_millis(), rand::random::<u32>());
        if !self
            .runs
            .claim_commit(&run, &by, now, now + COMMIT_LEASE)
            .await?
        {
            // Committed, or another worker is committing (its message stays until it has).
            return Ok(TaskOutcome::Done);
        }
        let done = self
            .runs
            .tasks(&run.job, &run.run)
            .await?
            .into_iter()
            .filter_map(|t| {
                let result = t.result?;
                Some(
                    serde_json::from_str(&result)
                        .map(|result| DoneTask {
                            id: t.task.clone(),
                            attempts: t.attempts,
                            result,
                        })
                        .map_err(|e| {
                            FanoutError::Task(format!("result of {} unreadable: {e}", t.task))
                        }),
                )
            })
            .collect::<Result<Vec<DoneTask>, _>>();
        let summary = match done {
            Ok(done) => self.job.commit(&run, &done).await,
            Err(e) => Err(e),
        };
        let summary = match summary {
            Ok(summary) => summary,
            Err(e) => {
                // Given back, so this message's retry can commit at once.
                if let Err(release) = self.runs.release_commit(&run, &by).await {
                    tracing::error!(error = %release, "commit claim not given back; it runs out");
                }
                return Err(e);
            }
        };
        if self
            .runs
            .commit(&run, &by, self.clock.now(), &summary.to_string())
            .await?
        {
            crate::metrics::count("RunsCommitted", ("Job", J::JOB.name()));
            Ok(TaskOutcome::Committed(summary))
        } else {
            tracing::warn!(run = %run.run, "commit claim lost to another worker");
            Ok(TaskOutcome::Done)
        }
    }
}
