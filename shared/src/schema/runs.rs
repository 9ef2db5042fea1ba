//! The batch runs' items ([`crate::fanout`]): one per run of a job fanned out over the level
//! shards, the record that makes its tasks idempotent and its commit happen once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{entity, Stored};

/// `RUN#<job>#<run>` / `META`: one run of a fanned-out job.
///
/// `pending` names the tasks not yet done (a map, so a task is taken out with one idempotent
/// `REMOVE`); `results` keeps each done task's result (JSON) for the commit; `attempts` counts
/// the times each task was started. `commit_by`/`commit_until` are the commit's claim (a lease,
/// so a committer that dies is replaced once it runs out); `committed_at` and `summary` are the
/// commit itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunItem {
    pub job: String,
    pub run: String,
    /// The time every task works as of (seconds): the coordinator's when the run began.
    pub as_of: i64,
    /// Each level shard is read in this many parts, one task each.
    pub parts: u32,
    pub tasks: u32,
    pub pending: BTreeMap<String, bool>,
    pub results: BTreeMap<String, String>,
    pub attempts: BTreeMap<String, u32>,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_until: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committed_at: Option<String>,
    /// What the commit wrote (JSON), as the job's commit returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

impl Stored for RunItem {
    const ENTITY: &'static str = entity::BATCH_RUN;
    fn key(&self) -> (String, String) {
        super::keys::run(&self.job, &self.run)
    }
}
