//! A fanned-out job's task: its message, its place in a run, and the events that start a run.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{schema::keys, store::StoreError};

/// The jobs fanned out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Job {
    Replenishment,
    Report,
    Reconciliation,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Self::Replenishment => "replenishment",
            Self::Report => "report",
            Self::Reconciliation => "reconciliation",
        }
    }
}

/// One task: a part of one level shard, in one run. The queue's message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub job: Job,
    pub run: String,
    /// The time the run works as of (seconds).
    pub as_of: i64,
    pub shard: u32,
    pub part: u32,
    pub parts: u32,
}

impl Task {
    /// The task's name in its run: `<shard>.<part>`.
    pub fn id(&self) -> String {
        format!("{:02}.{}", self.shard, self.part)
    }

    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A message body as a task.
    pub fn parse(body: &str) -> Result<Self, FanoutError> {
        let task: Self =
            serde_json::from_str(body).map_err(|e| FanoutError::Message(format!("{e}: {body}")))?;
        if task.parts == 0 || task.part >= task.parts || task.shard >= keys::LEVEL_SHARDS {
            return Err(FanoutError::Message(format!("no such task: {body}")));
        }
        Ok(task)
    }

    /// This task's part of its shard's keys (sorted, so every attempt takes the same part).
    pub fn slice<'a, T>(&self, keys: &'a [T]) -> &'a [T] {
        let parts = self.parts.max(1) as usize;
        let size = keys.len().div_ceil(parts);
        let start = (self.part as usize * size).min(keys.len());
        &keys[start..(start + size).min(keys.len())]
    }
}

/// Every task of a run: each level shard in `parts` parts.
pub fn tasks(job: Job, run: &str, as_of: i64, parts: u32) -> Vec<Task> {
    let parts = parts.max(1);
    (0..keys::LEVEL_SHARDS)
        .flat_map(|shard| {
            (0..parts).map(move |part| Task {
                job,
                run: run.to_owned(),
                as_of,
                shard,
                part,
                parts,
            })
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("task queue: {0}")]
    Queue(String),
    #[error("not a task: {0}")]
    Message(String),
    #[error("{0}")]
    Task(String),
}

/// True for an event the queue's event source mapping sent (a worker's), false for the
/// schedule's (a coordinator's).
pub fn is_queue_event(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// The run a coordinator's event asks for: `run` (a name), else the day of `now` (one run a
/// day: invoked again the same day, the coordinator resumes it); each shard in `parts` tasks
/// (1 when not given, at most 100).
pub fn requested_run(event: &Value, now: i64) -> Result<(String, u32), FanoutError> {
    let run = match event.get("run") {
        None => crate::reports::date_of_day(now.div_euclid(86_400)),
        Some(Value::String(r))
            if (1..=64).contains(&r.len())
                && r.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
        {
            r.clone()
        }
        Some(other) => {
            return Err(FanoutError::Message(format!(
                "run must be 1 to 64 letters, digits or -_.: ({other})"
            )))
        }
    };
    let parts = match event.get("parts") {
        None => 1,
        Some(p) => p
            .as_u64()
            .filter(|p| (1..=100).contains(p))
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| FanoutError::Message(format!("parts must be 1 to 100 ({p})")))?,
    };
    Ok((run, parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scheduled_event_asks_for_the_day_in_one_part_and_a_queue_event_is_told_apart() {
        let scheduled = serde_json::json!({ "time": "2026-12-07T01:30:00Z", "detail": {} });
        assert!(!is_queue_event(&scheduled));
        assert_eq!(
            requested_run(&scheduled, 1_796_601_600 + 5_400).unwrap(),
            ("2026-12-07".to_owned(), 1)
        );
        let asked = serde_json::json!({ "run": "rerun-2", "parts": 10 });
        assert_eq!(
            requested_run(&asked, 0).unwrap(),
            ("rerun-2".to_owned(), 10)
        );
        for bad in [
            serde_json::json!({ "run": "" }),
            serde_json::json!({ "run": "a/b" }),
            serde_json::json!({ "run": 7 }),
            serde_json::json!({ "parts": 0 }),
            serde_json::json!({ "parts": 101 }),
            serde_json::json!({ "parts": "2" }),
        ] {
            assert!(requested_run(&bad, 0).is_err(), "{bad}");
        }
        let queued = serde_json::json!({ "Records": [{ "eventSource": "aws:sqs", "body": "{}" }] });
        assert!(is_queue_event(&queued));
    }

    #[test]
    fn a_run_has_every_shard_in_every_part_once() {
        let all = tasks(Job::Replenishment, "2026-12-07", 7, 3);
        assert_eq!(all.len(), keys::LEVEL_SHARDS as usize * 3);
        let ids: std::collections::BTreeSet<String> = all.iter().map(Task::id).collect();
        assert_eq!(ids.len(), all.len());
        assert_eq!(all[4].id(), "01.1");
    }

    #[test]
    fn the_parts_of_a_shard_cover_its_keys_once_in_order() {
        let keys: Vec<u32> = (0..10).collect();
        for parts in 1..=12 {
            let mut seen = Vec::new();
            for task in tasks(Job::Replenishment, "r", 0, parts)
                .iter()
                .take(parts as usize)
            {
                seen.extend_from_slice(task.slice(&keys));
            }
            assert_eq!(seen, keys, "{parts} parts");
        }
    }

    #[test]
    fn a_message_that_is_no_task_is_refused_with_its_text() {
        let task = &tasks(Job::Replenishment, "r", 0, 2)[3];
        assert_eq!(Task::parse(&task.body()).unwrap(), *task);
        for body in [
            "{}",
            "not json",
            r#"{"job":"replenishment","run":"r","as_of":0,"shard":60,"part":0,"parts":1}"#,
            r#"{"job":"replenishment","run":"r","as_of":0,"shard":1,"part":2,"parts":2}"#,
            r#"{"job":"payroll","run":"r","as_of":0,"shard":1,"part":0,"parts":1}"#,
        ] {
            assert!(
                matches!(Task::parse(body), Err(FanoutError::Message(m)) if m.contains(body)),
                "{body}"
            );
        }
    }
}
