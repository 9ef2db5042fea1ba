//! The batch runs' items ([`crate::fanout`]): one record per run of a job fanned out over the
//! level shards, and one item per task of it, all under the run's partition.

use serde::{Deserialize, Serialize};

use super::{entity, Stored};

/// `RUN#<job>#<run>` / `META`: one run of a fanned-out job.
///
/// `remaining` counts the tasks not yet done (each task's first completion takes one off, in
/// the transaction that records its result). `commit_by`/`commit_until` are the commit's claim
/// (a lease, so a committer that dies is replaced once it runs out); `committed_at` and
/// `summary` are the commit itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunItem {
    pub job: String,
    pub run: String,
    /// The time every task works as of (seconds): the coordinator's when the run began.
    pub as_of: i64,
    /// Each level shard is read in this many parts, one task each.
    pub parts: u32,
    pub tasks: u32,
    pub remaining: u32,
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

/// `RUN#<job>#<run>` / `TASK#<id>`: one task of a run, from its first start: how often it was
/// started, and once done, its result (JSON) for the commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTaskItem {
    pub task: String,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<String>,
}
