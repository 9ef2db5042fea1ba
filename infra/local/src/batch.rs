//! A fanned-out job run here as on AWS ([`shared::fanout`]): the coordinator records the run and
//! sends its tasks to the job's queue on moto's SQS, and the queue's driver hands them to the same
//! worker code the function runs, with as many workers at once as asked.

use std::sync::Arc;

use anyhow::Context;
use shared::{
    fanout::{Coordinator, Job, Runs, ShardJob, Started, Worker},
    report_writer::{Manifest, ReportWriter, RunStats},
};

use crate::queue::{Drained, QueueDriver, TaskHandler, TaskQueues};

/// One fanned-out job of the system.
pub struct BatchJob<J> {
    pub coordinator: Coordinator,
    pub worker: Arc<Worker<J>>,
    pub driver: QueueDriver,
    pub runs: Runs,
}

impl<J: ShardJob + 'static> BatchJob<J> {
    pub fn new(
        coordinator: Coordinator,
        worker: Worker<J>,
        runs: Runs,
        sqs: aws_sdk_sqs::Client,
        queues: TaskQueues,
    ) -> Self {
        let worker = Arc::new(worker);
        let handler_worker = worker.clone();
        let handler: TaskHandler = Arc::new(move |event| {
            let worker = handler_worker.clone();
            Box::pin(async move { Ok(worker.handle(event).await) })
        });
        Self {
            coordinator,
            worker,
            driver: QueueDriver::new(sqs, queues, handler),
            runs,
        }
    }

    /// Starts run `run` as of `now` (each shard in `parts` tasks) and drains its queue with
    /// `workers` workers.
    pub async fn run_tasks(
        &self,
        run: &str,
        now: i64,
        parts: u32,
        workers: usize,
    ) -> anyhow::Result<(Started, Drained)> {
        let started = self.coordinator.start(J::JOB, run, now, parts).await?;
        let drained = self.driver.drain(workers).await?;
        Ok((started, drained))
    }

    /// What the run's commit wrote, once it has committed.
    pub async fn summary<T: serde::de::DeserializeOwned>(
        &self,
        run: &str,
    ) -> anyhow::Result<Option<T>> {
        let record = self
            .runs
            .get(J::JOB.name(), run)
            .await?
            .with_context(|| format!("no run {run}"))?;
        record
            .summary
            .map(|s| serde_json::from_str(&s).context("the run's summary"))
            .transpose()
    }

    /// A name for a run started at `now` outside the schedule (the schedule's is the day).
    pub fn run_name(now: i64) -> String {
        let day = shared::reports::date_of_day(now.div_euclid(86_400));
        format!("{day}-{}", now.rem_euclid(86_400))
    }
}

/// The job the replenishment function runs.
pub type Replenishment = BatchJob<shared::replenishment::run::Run>;

impl Replenishment {
    /// One whole run as of `now`: started, drained with `workers` workers, and its commit's
    /// report (an error if it did not commit: a task is in the dead-letter queue).
    pub async fn plan(
        &self,
        now: i64,
        workers: usize,
    ) -> anyhow::Result<shared::replenishment::run::RunReport> {
        let run = Self::run_name(now);
        let (_, drained) = self.run_tasks(&run, now, 1, workers).await?;
        self.summary(&run).await?.with_context(|| {
            format!("replenishment run {run} did not commit ({drained:?}): a task failed")
        })
    }
}

/// A job of the system: its queues created as the template defines `function`'s, named after
/// `prefix`.
pub async fn job<J: ShardJob + 'static>(
    sdk: &aws_config::SdkConfig,
    template: &crate::template::Template,
    config: &shared::config::ReportConfig,
    (clock, prefix): (shared::clock::Clock, &str),
    (function, job): (&str, J),
) -> anyhow::Result<BatchJob<J>> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queues = TaskQueues::create(&sqs, template, function, prefix).await?;
    let fanout = shared::config::FanoutConfig {
        table_name: config.table_name.clone(),
        queue_url: queues.url.clone(),
    };
    let (coordinator, worker) = shared::config::fanout(sdk, &fanout, clock, job);
    let runs = Runs::new(aws_sdk_dynamodb::Client::new(sdk), &config.table_name);
    Ok(BatchJob::new(coordinator, worker, runs, sqs, queues))
}

/// The replenishment job for the system.
pub async fn replenishment(
    sdk: &aws_config::SdkConfig,
    template: &crate::template::Template,
    config: &shared::config::ReportConfig,
    clock: shared::clock::Clock,
    prefix: &str,
) -> anyhow::Result<Replenishment> {
    let planner = shared::config::replenishment_from_sdk(sdk, config);
    job(
        sdk,
        template,
        config,
        (clock, prefix),
        ("ReplenishmentFunction", planner),
    )
    .await
}

/// The report writer's job.
pub type Reports = BatchJob<ReportWriter>;

impl Reports {
    /// Writes `day` as its function would at `now`: a run of the day (resumed if one is not
    /// committed; a new one, `<day>.<n>`, once it is), its tasks drained by two workers. The
    /// day's manifest, or an error when the day was refused or the run did not commit.
    pub async fn run(&self, day: i64, now: i64) -> anyhow::Result<Manifest> {
        self.run_with_stats(day, now).await.map(|(m, _)| m)
    }

    /// [`Self::run`], with what this run read.
    pub async fn run_with_stats(&self, day: i64, now: i64) -> anyhow::Result<(Manifest, RunStats)> {
        ReportWriter::admit(day, now)?;
        let date = shared::reports::date_of_day(day);
        let mut run = date.clone();
        for n in 1.. {
            match self.runs.get(Job::Report.name(), &run).await? {
                Some(r) if r.committed_at.is_some() => run = format!("{date}.{n}"),
                _ => break,
            }
        }
        self.coordinator
            .start(Job::Report, &run, ReportWriter::as_of(day), 1)
            .await?;
        let drained = self.driver.drain(2).await?;
        let manifest: Manifest = self.summary(&run).await?.with_context(|| {
            format!("the report run {run} did not commit ({drained:?}): a task failed")
        })?;
        let results = self.runs.tasks(Job::Report.name(), &run).await?;
        let levels_from_ledger = results
            .iter()
            .filter_map(|t| t.result.as_deref())
            .filter_map(|r| serde_json::from_str::<serde_json::Value>(r).ok())
            .filter_map(|r| r["from_ledger"].as_u64())
            .sum::<u64>() as usize;
        let stats = RunStats {
            shards_read: drained.messages - drained.failed,
            levels_from_ledger,
        };
        Ok((manifest, stats))
    }

    /// The morning check of `day` as the function runs it: whether it is committed (and, if
    /// not, its run resumed, not drained).
    pub async fn check(&self, day: i64) -> anyhow::Result<bool> {
        Ok(self.worker.job().check(day).await?)
    }
}

/// The report writer's job for the system.
pub async fn reports(
    sdk: &aws_config::SdkConfig,
    template: &crate::template::Template,
    config: &shared::config::ReportConfig,
    clock: shared::clock::Clock,
    prefix: &str,
) -> anyhow::Result<Reports> {
    let writer = shared::config::report_writer_from_sdk(sdk, config);
    job(
        sdk,
        template,
        config,
        (clock, prefix),
        ("ReportWriterFunction", writer),
    )
    .await
}

/// The reconciler's job.
pub type Reconciliation = BatchJob<shared::reconcile::Reconciler>;

impl Reconciliation {
    /// One whole run as of `now` (a run of its own), drained by two workers: its commit's
    /// report, or an error if it did not commit.
    pub async fn reconcile(&self, now: i64) -> anyhow::Result<shared::reconcile::RunReport> {
        let run = Self::run_name(now);
        let (_, drained) = self.run_tasks(&run, now, 1, 2).await?;
        self.summary(&run).await?.with_context(|| {
            format!("reconciliation run {run} did not commit ({drained:?}): a task failed")
        })
    }
}

/// The reconciler's job for the system (its table is `config`'s; it reads no bucket).
pub async fn reconciliation(
    sdk: &aws_config::SdkConfig,
    template: &crate::template::Template,
    config: &shared::config::ReportConfig,
    clock: shared::clock::Clock,
    prefix: &str,
) -> anyhow::Result<Reconciliation> {
    let store = shared::store::Store::new(aws_sdk_dynamodb::Client::new(sdk), &config.table_name);
    let reconciler = shared::reconcile::Reconciler::new(store, clock.clone());
    job(
        sdk,
        template,
        config,
        (clock, prefix),
        ("ReconcilerFunction", reconciler),
    )
    .await
}
