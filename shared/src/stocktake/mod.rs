//! Bulk stocktake import: a CSV of counts (sku, location, counted, optional expected and reason)
//! uploaded through `POST /v1/stocktakes` and applied asynchronously, one adjustment per line.
//!
//! - **Upload** (the API): the file's structure is checked at once (size, header, columns, line
//!   count); its lines are stored in chunks (`IMPORT#<id>` / `LINES#<hash>#<n>`), then the import
//!   item (`IMPORT#<id>` / `META`, status `queued`) is written last, under the condition that it
//!   is new. The import id comes from the caller and its Idempotency-Key, so the same upload again
//!   is the same import and changes nothing twice; the same key with another file is refused.
//! - **Apply** (the stream projector, started by the import item's stream record):
//!   each line becomes a stocktake adjustment through the same movement path as
//!   `POST /v1/adjustments`, under an idempotency key made of the import id and the line number,
//!   so a run that is cut off and started again applies nothing twice. Lines of one level are
//!   applied in file order, levels side by side. A line that fails (unknown SKU or location, a
//!   stale `expected`, a bad number, text that is not UTF-8) is recorded with its line number and
//!   problem; the others go on. Progress is written to the import item as it runs.
//! - **Result**: `GET /v1/stocktakes/{id}` (status, counts, first failures) and
//!   `GET /v1/stocktakes/{id}/result` (a CSV with one row per line).

mod apply;
mod file;

pub use self::{apply::*, file::*};

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::{types::AttributeValue, Client};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    domain::{FieldError, IdempotencyKey},
    movements::{self, Actor, AdjustmentBody, Channel, RecordError},
    schema::{entity, keys, Item},
    store::{MovementError, Store, StoreError},
};

/// The largest file taken, and the most lines.
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_IMPORT_LINES: usize = 20_000;
/// Lines stored per chunk item, and failures per failure item.
const CHUNK: usize = 500;
/// Levels applied side by side.
const AT_ONCE: usize = 16;
/// Progress is written every this many lines.
const PROGRESS_EVERY: usize = 250;
/// Import items expire (TTL) after 30 days.
const KEEP_SECONDS: i64 = 30 * 86_400;

/// The upload's idempotency key was used before for another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReused;

/// A line that was not applied, and why (a problem type and its detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub line: u64,
    pub sku: String,
    pub location: String,
    #[serde(rename = "type")]
    pub problem: String,
    pub detail: String,
}

/// An import as `GET /v1/stocktakes/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub import_id: String,
    /// `queued`, `running` or `done`.
    pub status: String,
    pub lines: u64,
    pub processed: u64,
    pub applied: u64,
    pub failed: u64,
    pub created_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(skip)]
    pub request_hash: String,
    #[serde(skip)]
    pub chunks: u64,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}
fn get_n(item: &Item, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn import_from(item: &Item) -> Result<Import, StoreError> {
    let need = |k: &str| {
        get_s(item, k).ok_or_else(|| StoreError::Corrupt(format!("import item without {k}")))
    };
    Ok(Import {
        import_id: need("import_id")?,
        status: need("status")?,
        lines: get_n(item, "lines"),
        processed: get_n(item, "processed"),
        applied: get_n(item, "applied"),
        failed: get_n(item, "failed"),
        created_by: need("created_by")?,
        created_at: need("created_at")?,
        started_at: get_s(item, "started_at"),
        finished_at: get_s(item, "finished_at"),
        request_hash: need("request_hash")?,
        chunks: get_n(item, "chunks"),
    })
}

/// The import id of a caller's upload under its Idempotency-Key.
pub fn import_id(subject: &str, key: &IdempotencyKey) -> String {
    let digest = Sha256::new()
        .chain_update(subject.as_bytes())
        .chain_update([0u8])
        .chain_update(b"stocktake")
        .chain_update([0u8])
        .chain_update(key.as_str().as_bytes())
        .finalize();
    format!("st_{}", &hex::encode(digest)[..20])
}

/// What an upload became.
pub enum Uploaded {
    Queued(Import),
    /// The same upload again: the import as it stands.
    Again(Import),
}

/// The import store and the worker, over one table.
pub struct Stocktakes {
    client: Client,
    table: String,
}

impl Stocktakes {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores an upload's lines and queues it (see the module's notes). `request_hash` is the
    /// file's digest: the same key with another file is refused.
    pub async fn upload(
        &self,
        id: &str,
        request_hash: &str,
        lines: &[Line],
        by: &str,
        now: i64,
        now_text: &str,
    ) -> Result<Result<Uploaded, KeyReused>, StoreError> {
        if let Some(existing) = self.get(id).await? {
            if existing.request_hash != request_hash {
                return Ok(Err(KeyReused));
            }
            // A run that stopped (every retry failed, or cut off): queued again, which starts
            // the function once more; it replays what was applied and applies the rest.
            let stalled = existing.status == "running"
                && existing
                    .started_at
                    .as_deref()
                    .and_then(|t| crate::levels::unix(Some(t)))
                    .is_some_and(|t| now - t > STALLED_SECONDS);
            if stalled {
                self.requeue(id).await?;
                return Ok(Ok(Uploaded::Again(Import {
                    status: "queued".into(),
                    ..existing
                })));
            }
            return Ok(Ok(Uploaded::Again(existing)));
        }
        let expires = n(now + KEEP_SECONDS);
        let chunks: Vec<Item> = lines
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                keys::item(
                    keys::import(id),
                    keys::import_lines(request_hash, i),
                    [
                        ("entity", s(entity::IMPORT_CHUNK)),
                        ("lines", s(serde_json::to_string(chunk).unwrap_or_default())),
                        ("expires_at", expires.clone()),
                    ],
                )
            })
            .collect();
        let count = chunks.len();
        crate::store::batch_write(&self.client, &self.table, chunks).await?;
        let import = Import {
            import_id: id.to_owned(),
            status: "queued".into(),
            lines: lines.len() as u64,
            processed: 0,
            applied: 0,
            failed: 0,
            created_by: by.to_owned(),
            created_at: now_text.to_owned(),
            started_at: None,
            finished_at: None,
            request_hash: request_hash.to_owned(),
            chunks: count as u64,
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keys::key(keys::import(id), keys::META)))
            .item("entity", s(entity::IMPORT))
            .item("import_id", s(id))
            .item("status", s("queued"))
            .item("lines", n(lines.len()))
            .item("chunks", n(count))
            .item("processed", n(0))
            .item("applied", n(0))
            .item("failed", n(0))
            .item("created_by", s(by))
            .item("created_at", s(now_text))
            .item("request_hash", s(request_hash))
            .item("expires_at", expires)
            .condition_expression(keys::ABSENT)
            .send()
            .await;
        match put {
            Ok(_) => Ok(Ok(Uploaded::Queued(import))),
            // Two uploads under one key at once: the other one's import stands.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                match self.get(id).await? {
                    Some(existing) if existing.request_hash == request_hash => {
                        Ok(Ok(Uploaded::Again(existing)))
                    }
                    _ => Ok(Err(KeyReused)),
                }
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// Puts a stopped import back in the queue (its `queued` change on the stream starts it).
    async fn requeue(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::import(id), keys::META)))
            .update_expression("SET #st = :q REMOVE started_at")
            .condition_expression("#st = :r")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":q", s("queued"))
            .expression_attribute_values(":r", s("running"))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Import>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::import(id), keys::META)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item.as_ref().map(import_from).transpose()
    }

    /// Every item of an import's partition whose sort key starts with `prefix`, in order.
    async fn items(&self, id: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(keys::import(id)))
            .expression_attribute_values(":p", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(StoreError::from_sdk)?);
        }
        Ok(out)
    }

    /// The lines of an import, in file order.
    pub async fn lines(&self, import: &Import) -> Result<Vec<Line>, StoreError> {
        let mut out = Vec::new();
        let prefix = keys::import_lines_prefix(&import.request_hash);
        for item in self.items(&import.import_id, &prefix).await? {
            let text = get_s(&item, "lines").unwrap_or_default();
            let chunk: Vec<Line> = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("import lines: {e}")))?;
            out.extend(chunk);
        }
        Ok(out)
    }

    /// The failed lines of a finished import, in line order.
    pub async fn failures(&self, id: &str) -> Result<Vec<Failure>, StoreError> {
        let mut out = Vec::new();
        for item in self.items(id, keys::IMPORT_FAILURES_PREFIX).await? {
            let text = get_s(&item, "failures").unwrap_or_default();
            let chunk: Vec<Failure> = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("import failures: {e}")))?;
            out.extend(chunk);
        }
        Ok(out)
    }

    async fn progress(
        &self,
        id: &str,
        status: &str,
        tally: &Tally,
        at: (&str, &str),
    ) -> Result<(), StoreError> {
        let (field, now) = at;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::import(id), keys::META)))
            .update_expression(
                "SET #st = :st, #pr = :p, #ap = :a, #fa = :f, #at = if_not_exists(#at, :now)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#pr", "processed")
            .expression_attribute_names("#ap", "applied")
            .expression_attribute_names("#fa", "failed")
            .expression_attribute_names("#at", field)
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":p", n(tally.processed))
            .expression_attribute_values(":a", n(tally.applied))
            .expression_attribute_values(":f", n(tally.failures.len()))
            .expression_attribute_values(":now", s(now))
            .condition_expression(keys::PRESENT)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_into_numbered_lines_in_any_column_order() {
        let lines = parse(
            b"\xEF\xBB\xBFLocation,SKU,Counted,reason\r\nWH1,HAT,5,shelf\r\n\r\n\"WH2\",\"C,1\",7,\n",
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                lines[0].number,
                lines[0].sku.as_str(),
                lines[0].counted.as_str()
            ),
            (2, "HAT", "5")
        );
        assert_eq!(lines[0].reason.as_deref(), Some("shelf"));
        assert_eq!(
            (
                lines[1].number,
                lines[1].sku.as_str(),
                lines[1].reason.clone()
            ),
            (4, "C,1", None)
        );
    }

    #[test]
    fn a_count_line_may_carry_a_reason_code() {
        let lines =
            parse(b"sku,location,counted,reason_code\nHAT,WH1,3,theft\nCAP,WH1,4,\n").unwrap();
        let codes: Vec<_> = lines.iter().map(|l| l.reason_code.as_deref()).collect();
        assert_eq!(codes, [Some("theft"), None]);
        // Stored with the line, so the import applies it as the count's reason code.
        let stored: Line =
            serde_json::from_str(&serde_json::to_string(&lines[0]).unwrap()).unwrap();
        assert_eq!(stored, lines[0]);
    }

    #[test]
    fn a_wrong_header_is_refused_whole_and_a_bad_line_is_kept_marked() {
        for (file, says) in [
            (&b""[..], "empty"),
            (b"sku,location\nA,WH1\n", "missing columns: counted"),
            (
                b"sku,location,counted,colour\nA,WH1,1,red\n",
                "unknown columns: colour",
            ),
            (b"sku,sku,location,counted\n", "twice"),
            (b"sku,location,counted\n", "no lines"),
            (b"\xff\xfesku,location,counted\n", "UTF-8"),
        ] {
            let e = parse(file).unwrap_err();
            let text = format!("{e:?}");
            assert!(text.contains(says), "{text}");
        }
        let lines = parse(b"sku,location,counted\nA,WH1,1\nB\xe9,WH1,2\nC\n").unwrap();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].unreadable.is_none());
        assert!(lines[1].unreadable.as_deref().unwrap().contains("UTF-8"));
        assert!(lines[2]
            .unreadable
            .as_deref()
            .unwrap()
            .contains("fewer cells"));
    }

    #[test]
    fn too_many_lines_are_refused() {
        let mut file = b"sku,location,counted\n".to_vec();
        for i in 0..=MAX_IMPORT_LINES {
            file.extend_from_slice(format!("S{i},WH1,1\n").as_bytes());
        }
        assert!(format!("{:?}", parse(&file).unwrap_err()).contains("split the file"));
    }
}
