//! Paging (index pages and their opaque cursors) and batch writes.

use super::*;

/// A page of a listing and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Encodes the last evaluated key of a page as an opaque cursor.
/// Writes `items` with `BatchWriteItem`, 25 a request, sending again whatever DynamoDB leaves
/// unprocessed (with backoff).
pub async fn batch_write(client: &Client, table: &str, items: Vec<Item>) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    for chunk in items.chunks(25) {
        let mut requests = chunk
            .iter()
            .map(|i| {
                PutRequest::builder()
                    .set_item(Some(i.clone()))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| StoreError::Failed(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut attempt = 0u32;
        while !requests.is_empty() {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6))).await;
            }
            attempt += 1;
            let out = client
                .batch_write_item()
                .request_items(table, std::mem::take(&mut requests))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            if attempt > 8 && !requests.is_empty() {
                return Err(StoreError::Busy(format!(
                    "{} items still unprocessed",
                    requests.len()
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn encode_cursor(key: &Item) -> Option<String> {
    let map: std::collections::BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    serde_json::to_vec(&map)
        .ok()
        .map(|b| URL_SAFE_NO_PAD.encode(b))
}

/// Decodes a cursor, accepting only the index keys of the partition being listed.
pub(crate) fn decode_cursor(cursor: &str, partition: &str) -> Result<Item, StoreError> {
    decode_cursor_of(
        cursor,
        ["gsi1pk", "gsi1sk", "pk", "sk"],
        "gsi1pk",
        partition,
    )
}

/// Decodes a cursor that must hold exactly the `keys` and name `partition` in `partition_key`.
pub(crate) fn decode_cursor_of<const K: usize>(
    cursor: &str,
    keys: [&str; K],
    partition_key: &str,
    partition: &str,
) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let map: HashMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let valid = map.len() == keys.len()
        && keys.iter().all(|k| {
            map.get(*k)
                .is_some_and(|v| !v.is_empty() && v.len() <= 1024)
        })
        && map.get(partition_key).map(String::as_str) == Some(partition);
    if !valid {
        return Err(StoreError::InvalidCursor);
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

impl Store {
    pub(super) async fn index_page(
        &self,
        partition: &str,
        limit: i32,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = cursor.map(|c| decode_cursor(c, partition)).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(partition))
            .scan_index_forward(!newest_first)
            .select(Select::AllAttributes)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| match StoreError::from_sdk(e) {
                // A cursor that decodes but points nowhere valid.
                StoreError::Failed(m) if m.contains("ValidationException") && cursor.is_some() => {
                    StoreError::InvalidCursor
                }
                other => other,
            })?;
        // Whenever DynamoDB says there is more: a page is also cut at 1 MB of items read, before
        // `limit` (a page can then come back with fewer items, or none, and a cursor).
        let next = out.last_evaluated_key.as_ref().and_then(encode_cursor);
        Ok((out.items.unwrap_or_default(), next))
    }
}
