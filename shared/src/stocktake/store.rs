//! The stocktake imports' items: an import (`IMPORT#<id>` / `META`), its lines in chunks and,
//! once applied, its failures in chunks (see [`crate::stocktake`]). Every item expires (TTL).

use aws_sdk_dynamodb::{types::AttributeValue, Client};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{
    schema::{entity, keys, Item},
    store::{Store, StoreError},
};

/// Most lines stored per chunk item, and failures per failure item.
const CHUNK: usize = 500;
/// Most bytes of JSON one chunk item holds, far under DynamoDB's 400 KB item limit whatever the
/// lines say: 500 lines with 1 KB reasons (unreadable lines are stored too) would pass it, and the
/// upload would then fail on every try.
const CHUNK_BYTES: usize = 200 * 1024;

/// `items` as JSON arrays in order, each of at most [`CHUNK`] items and [`CHUNK_BYTES`] bytes (an
/// item larger than that alone: a line's cells are bounded far below it).
fn json_chunks<T: Serialize>(items: &[T]) -> Vec<String> {
    let mut out = Vec::new();
    let (mut current, mut count) = (String::from("["), 0);
    for item in items {
        let text = serde_json::to_string(item).unwrap_or_default();
        if count > 0 && (count == CHUNK || current.len() + text.len() + 2 > CHUNK_BYTES) {
            current.push(']');
            out.push(std::mem::replace(&mut current, String::from("[")));
            count = 0;
        }
        if count > 0 {
            current.push(',');
        }
        current.push_str(&text);
        count += 1;
    }
    if count > 0 {
        current.push(']');
        out.push(current);
    }
    out
}

/// The chunk items of `items` under `sort_key(i)`, the JSON in `attribute`.
fn chunk_items<T: Serialize>(
    id: &str,
    items: &[T],
    attribute: &str,
    sort_key: impl Fn(usize) -> String,
    expires_at: i64,
) -> Vec<Item> {
    json_chunks(items)
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            keys::item(
                keys::import(id),
                sort_key(i),
                [
                    ("entity", s(entity::IMPORT_CHUNK)),
                    (attribute, s(&text)),
                    ("expires_at", n(expires_at)),
                ],
            )
        })
        .collect()
}

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
    /// Times the import was queued again after its first run.
    #[serde(skip)]
    pub runs: u64,
}

/// How far an import has come, as its item shows it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub processed: u64,
    pub applied: u64,
    pub failed: u64,
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
        runs: get_n(item, "runs"),
    })
}

/// The imports of one table.
pub struct ImportStore {
    client: Client,
    table: String,
}

impl ImportStore {
    pub fn of(store: &Store) -> Self {
        Self {
            client: store.client().clone(),
            table: store.table().to_owned(),
        }
    }

    /// Stores `import`'s lines in chunks (and counts them on it), then the import item last,
    /// under the condition that it is new; false when an import of that id exists already (then
    /// nothing of this one is visible: its chunks sit under their own request hash).
    pub async fn create<L: Serialize>(
        &self,
        import: &mut Import,
        lines: &[L],
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let id = import.import_id.clone();
        let expires = n(expires_at);
        let hash = import.request_hash.clone();
        let chunks = chunk_items(
            &id,
            lines,
            "lines",
            |i| keys::import_lines(&hash, i),
            expires_at,
        );
        import.chunks = chunks.len() as u64;
        crate::store::batch_write(&self.client, &self.table, chunks).await?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keys::key(keys::import(&id), keys::META)))
            .item("entity", s(entity::IMPORT))
            .item("import_id", s(&id))
            .item("status", s(&import.status))
            .item("lines", n(import.lines))
            .item("chunks", n(import.chunks))
            .item("processed", n(0))
            .item("applied", n(0))
            .item("failed", n(0))
            .item("created_by", s(&import.created_by))
            .item("created_at", s(&import.created_at))
            .item("request_hash", s(&import.request_hash))
            .item("expires_at", expires)
            .condition_expression(keys::ABSENT)
            .send()
            .await;
        Ok(crate::store::unless_condition_failed(put)?.is_some())
    }

    /// Stores an applied import's failures, in line order, in chunks.
    pub async fn put_failures(
        &self,
        id: &str,
        failures: &[Failure],
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let chunks = chunk_items(id, failures, "failures", keys::import_failures, expires_at);
        crate::store::batch_write(&self.client, &self.table, chunks).await
    }

    /// Puts a stopped import back in the queue (its `queued` change on the stream starts it).
    pub async fn requeue(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::import(id), keys::META)))
            .update_expression("SET #st = :q ADD runs :one REMOVE started_at")
            .condition_expression("#st = :r")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":q", s("queued"))
            .expression_attribute_values(":r", s("running"))
            .expression_attribute_values(":one", n(1))
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
    pub async fn lines<L: DeserializeOwned>(&self, import: &Import) -> Result<Vec<L>, StoreError> {
        let mut out = Vec::new();
        let prefix = keys::import_lines_prefix(&import.request_hash);
        for item in self.items(&import.import_id, &prefix).await? {
            let text = get_s(&item, "lines").unwrap_or_default();
            let chunk: Vec<L> = serde_json::from_str(&text)
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

    /// Writes how far an import has come (`at`: the time attribute to set once, and its value).
    pub async fn progress(
        &self,
        id: &str,
        status: &str,
        progress: Progress,
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
            .expression_attribute_values(":p", n(progress.processed))
            .expression_attribute_values(":a", n(progress.applied))
            .expression_attribute_values(":f", n(progress.failed))
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
    fn chunks_stay_under_their_byte_and_item_bounds_and_keep_every_item_in_order() {
        let long: Vec<String> = (0..1200)
            .map(|i| format!("{i:04}{}", "x".repeat(1000)))
            .collect();
        let chunks = json_chunks(&long);
        assert!(
            chunks.iter().all(|c| c.len() <= CHUNK_BYTES),
            "a chunk over the bound"
        );
        assert_eq!(chunks.len(), 6, "203 items of about 1 KB a chunk");
        let back: Vec<String> = chunks
            .iter()
            .flat_map(|c| serde_json::from_str::<Vec<String>>(c).unwrap())
            .collect();
        assert_eq!(back, long);
        // Small items: 500 a chunk.
        let small: Vec<u32> = (0..1001).collect();
        let sizes: Vec<usize> = json_chunks(&small)
            .iter()
            .map(|c| serde_json::from_str::<Vec<u32>>(c).unwrap().len())
            .collect();
        assert_eq!(sizes, [500, 500, 1]);
        assert!(json_chunks::<u32>(&[]).is_empty());
    }
}
