//! The run records in the table: created by the coordinator, moved on by each task's worker,
//! committed once. A run's partition holds its record and one item per task started, so a
//! run of any number of tasks keeps its record small. Every write is conditional, so a task
//! redone or a coordinator invoked twice changes nothing it already changed.

use aws_sdk_dynamodb::{
    operation::transact_write_items::TransactWriteItemsError,
    types::{AttributeValue, TransactWriteItem, Update},
    Client,
};

use super::task::Task;
use crate::{
    clock::rfc3339_seconds,
    schema::{self, entity, keys, Item, RunItem, RunTaskItem, Stored},
    store::{unless_condition_failed, StoreError},
};

/// The run records of one table.
#[derive(Clone)]
pub struct Runs {
    client: Client,
    table: String,
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

impl Runs {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    /// An update of the run record `(pk, sk)`.
    fn update(
        &self,
        (pk, sk): (String, String),
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(pk, sk)))
    }

    fn decode(item: Item) -> Result<RunItem, StoreError> {
        schema::decode::<RunItem>(entity::BATCH_RUN, &item)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The run, read strongly consistent.
    pub async fn get(&self, job: &str, run: &str) -> Result<Option<RunItem>, StoreError> {
        let (pk, sk) = keys::run(job, run);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item.map(Self::decode).transpose()
    }

    /// Creates the run with every task pending; `None` when it exists already.
    pub async fn create(&self, run: &RunItem) -> Result<Option<()>, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(run.to_item()))
            .condition_expression(keys::ABSENT)
            .send()
            .await;
        Ok(unless_condition_failed(put)?.map(|_| ()))
    }

    /// The task's item, read strongly consistent: none when it never started.
    pub async fn task(&self, task: &Task) -> Result<Option<RunTaskItem>, StoreError> {
        let (pk, sk) = keys::run_task(task.job.name(), &task.run, &task.id());
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item
            .map(|item| {
                schema::decode::<RunTaskItem>(entity::BATCH_TASK, &item)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    /// Every task item of a run (started tasks; done ones carry their result), strongly
    /// consistent, in task order.
    pub async fn tasks(&self, job: &str, run: &str) -> Result<Vec<RunTaskItem>, StoreError> {
        let (pk, _) = keys::run(job, run);
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :task)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":task", s(keys::RUN_TASK_PREFIX))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(StoreError::from_sdk)?;
            out.push(
                schema::decode::<RunTaskItem>(entity::BATCH_TASK, &item)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            );
        }
        Ok(out)
    }

    /// Counts a start of `task` (how often each task was tried shows on its item).
    pub async fn started(&self, task: &Task) -> Result<(), StoreError> {
        self.update(keys::run_task(task.job.name(), &task.run, &task.id()))
            .update_expression("SET #task = :id, entity = :entity ADD attempts :one")
            .expression_attribute_names("#task", "task")
            .expression_attribute_values(":id", s(task.id()))
            .expression_attribute_values(":entity", s(entity::BATCH_TASK))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Records `task` done with its result, and takes it off the run's remaining tasks, in one
    /// transaction: only the first completion counts (a redone task's result is not kept).
    /// True when this was the first.
    pub async fn done(&self, task: &Task, result: &str, now: i64) -> Result<bool, StoreError> {
        let job = task.job.name();
        let (tpk, tsk) = keys::run_task(job, &task.run, &task.id());
        let (rpk, rsk) = keys::run(job, &task.run);
        let record = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::key(tpk, tsk)))
            .update_expression("SET #result = :r, done_at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#result)")
            .expression_attribute_names("#result", "result")
            .expression_attribute_values(":r", s(result))
            .expression_attribute_values(":at", s(rfc3339_seconds(now)))
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        let count = Update::builder()
            .table_name(&self.table)
            .set_key(Some(keys::key(rpk, rsk)))
            .update_expression("SET remaining = remaining - :one")
            .condition_expression(format!("{} AND remaining > :zero", keys::PRESENT))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        // Tasks of one run finishing together conflict on its record: tried again, jittered.
        for attempt in 0..6u32 {
            let sent = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(record.clone()).build())
                .transact_items(TransactWriteItem::builder().update(count.clone()).build())
                .send()
                .await;
            let err = match sent {
                Ok(_) => return Ok(true),
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    e.cancellation_reasons().to_vec()
                }
                _ => return Err(StoreError::from_sdk(err)),
            };
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            match (code(0), code(1)) {
                ("ConditionalCheckFailed", _) => return Ok(false),
                (_, "ConditionalCheckFailed") => {
                    return Err(StoreError::Corrupt(format!(
                        "run {} has no task left to count {}",
                        task.run,
                        task.id()
                    )))
                }
                _ if attempt < 5 => {
                    let ms = rand::random_range(1..=10u64 << attempt);
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
                _ => return Err(StoreError::from_sdk(err)),
            }
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Claims the run's commit for `by` until `until` (seconds): only when every task is done,
    /// the run is not committed, and no other claim is alive at `now`. True when claimed.
    pub async fn claim_commit(
        &self,
        run: &RunItem,
        by: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let update = self
            .update(run.key())
            .update_expression("SET commit_by = :by, commit_until = :until")
            .condition_expression(format!(
                "{} AND remaining = :zero AND attribute_not_exists(committed_at) \
                 AND (attribute_not_exists(commit_until) OR commit_until < :now)",
                keys::PRESENT
            ))
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        Ok(unless_condition_failed(update)?.is_some())
    }

    /// Commits the run claimed by `by`, with what the commit wrote. False when the claim was
    /// lost meanwhile (its lease ran out and another committer took it).
    pub async fn commit(
        &self,
        run: &RunItem,
        by: &str,
        now: i64,
        summary: &str,
    ) -> Result<bool, StoreError> {
        let update = self
            .update(run.key())
            .update_expression(
                "SET committed_at = :at, summary = :s REMOVE commit_by, commit_until",
            )
            .condition_expression("commit_by = :by AND attribute_not_exists(committed_at)")
            .expression_attribute_values(":by", s(by))
            .expression_attribute_values(":at", s(rfc3339_seconds(now)))
            .expression_attribute_values(":s", s(summary))
            .send()
            .await;
        Ok(unless_condition_failed(update)?.is_some())
    }
}

impl Runs {
    /// Gives back a commit claim held by `by` (its commit failed), so a retry need not wait
    /// for the lease.
    pub async fn release_commit(&self, run: &RunItem, by: &str) -> Result<(), StoreError> {
        let update = self
            .update(run.key())
            .update_expression("REMOVE commit_by, commit_until")
            .condition_expression("commit_by = :by")
            .expression_attribute_values(":by", s(by))
            .send()
            .await;
        unless_condition_failed(update)?;
        Ok(())
    }
}

/// A new run's record: every task pending.
pub fn new_run(job: &str, run: &str, as_of: i64, parts: u32, tasks: &[Task]) -> RunItem {
    RunItem {
        job: job.to_owned(),
        run: run.to_owned(),
        as_of,
        parts,
        tasks: u32::try_from(tasks.len()).unwrap_or(u32::MAX),
        remaining: u32::try_from(tasks.len()).unwrap_or(u32::MAX),
        started_at: rfc3339_seconds(as_of),
        commit_by: None,
        commit_until: None,
        committed_at: None,
        summary: None,
    }
}
