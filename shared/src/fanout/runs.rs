//! The run records in the table: created by the coordinator, moved on by each task's worker,
//! committed once. Every write is conditional, so a task redone or a coordinator invoked twice
//! changes nothing it already changed.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::{types::AttributeValue, Client};

use super::task::Task;
use crate::{
    clock::rfc3339_seconds,
    schema::{self, entity, keys, Item, RunItem, Stored},
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

    /// Counts a start of `task` (how often each task was tried shows on the run).
    pub async fn started(&self, task: &Task) -> Result<(), StoreError> {
        self.update(keys::run(task.job.name(), &task.run))
            .update_expression("SET attempts.#t = if_not_exists(attempts.#t, :zero) + :one")
            .condition_expression(keys::PRESENT)
            .expression_attribute_names("#t", task.id())
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Records `task` done with its result: its result is kept, it leaves `pending`. Redone, it
    /// changes nothing (its first result stands). The run as it is after the write.
    pub async fn done(&self, task: &Task, result: &str) -> Result<RunItem, StoreError> {
        let update = self
            .update(keys::run(task.job.name(), &task.run))
            .update_expression("SET results.#t = :r REMOVE pending.#t")
            .condition_expression(format!(
                "{} AND attribute_exists(pending.#t)",
                keys::PRESENT
            ))
            .expression_attribute_names("#t", task.id())
            .expression_attribute_values(":r", s(result))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match unless_condition_failed(update)? {
            Some(out) => Self::decode(out.attributes.unwrap_or_default()),
            // Done already (by an earlier attempt or a duplicate message).
            None => self
                .get(task.job.name(), &task.run)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("run {} is gone", task.run))),
        }
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
                "{} AND size(pending) = :zero AND attribute_not_exists(committed_at) \
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
        pending: tasks.iter().map(|t| (t.id(), true)).collect(),
        results: BTreeMap::new(),
        attempts: BTreeMap::new(),
        started_at: rfc3339_seconds(as_of),
        commit_by: None,
        commit_until: None,
        committed_at: None,
        summary: None,
    }
}
