//! Paging (pages of a partition, of the table or of its index, and their opaque cursors), batch
//! writes, and the single-item reads and writes every store makes alike.

use aws_sdk_dynamodb::operation::{
    put_item::builders::PutItemFluentBuilder, query::builders::QueryFluentBuilder,
};

use super::*;

/// A page of a listing and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

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

/// Encodes the last evaluated key of a page as an opaque cursor.
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
        [
            keys::INDEX_PARTITION,
            keys::INDEX_SORT,
            keys::PARTITION,
            keys::SORT,
        ],
        keys::INDEX_PARTITION,
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

/// The partition a listing reads: one of the general index ([`INDEX`], every attribute
/// projected) or one of the table itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partition<'a> {
    Index(&'a str),
    Table(&'a str),
}

impl Partition<'_> {
    /// A query of the partition's items, in sort key order.
    fn query(self, client: &Client, table: &str) -> QueryFluentBuilder {
        let (index, attribute, partition) = match self {
            Self::Index(p) => (Some(INDEX.to_owned()), keys::INDEX_PARTITION, p),
            Self::Table(p) => (None, keys::PARTITION, p),
        };
        client
            .query()
            .table_name(table)
            .set_index_name(index)
            .key_condition_expression(format!("{attribute} = :p"))
            .expression_attribute_values(":p", s(partition))
    }

    /// The start key a cursor names: only a key of an item of this partition is accepted.
    fn start(self, cursor: &str) -> Result<Item, StoreError> {
        match self {
            Self::Index(p) => decode_cursor(cursor, p),
            Self::Table(p) => {
                decode_cursor_of(cursor, [keys::PARTITION, keys::SORT], keys::PARTITION, p)
            }
        }
    }
}

/// A filter expression with its attribute names and values.
pub(crate) type Filter = (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
);

impl<T> Page<T> {
    /// The page with each item read as a `U` (the first that cannot be read fails it).
    pub(crate) fn try_map<U, E>(self, read: impl FnMut(&T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.iter().map(read).collect::<Result<_, _>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// A page to read: of which partition, from which cursor (a page's `next_cursor`) on, how many
/// items read at the most, in which order, keeping which items.
#[derive(Debug, Clone)]
pub(crate) struct PageQuery<'a> {
    partition: Partition<'a>,
    limit: i32,
    cursor: Option<&'a str>,
    newest_first: bool,
    filter: Option<Filter>,
}

impl<'a> PageQuery<'a> {
    /// The page from `cursor` on, oldest first (in sort key order), every item kept.
    pub(crate) fn new(partition: Partition<'a>, limit: i32, cursor: Option<&'a str>) -> Self {
        Self {
            partition,
            limit,
            cursor,
            newest_first: false,
            filter: None,
        }
    }

    pub(crate) fn newest_first(self, newest_first: bool) -> Self {
        Self {
            newest_first,
            ..self
        }
    }

    /// Keeps only the items `filter` matches (the page may then hold fewer than `limit`).
    pub(crate) fn filter(self, filter: Option<Filter>) -> Self {
        Self { filter, ..self }
    }

    pub(crate) async fn send(self, client: &Client, table: &str) -> Result<Page<Item>, StoreError> {
        let Self {
            partition,
            limit,
            cursor,
            newest_first,
            filter,
        } = self;
        let start = cursor.map(|c| partition.start(c)).transpose()?;
        let mut query = partition
            .query(client, table)
            .scan_index_forward(!newest_first)
            .select(Select::AllAttributes)
            .limit(limit)
            .set_exclusive_start_key(start);
        if let Some((expression, names, values)) = filter {
            query = query
                .filter_expression(expression)
                .set_expression_attribute_names(Some(names));
            for (k, v) in values {
                query = query.expression_attribute_values(k, v);
            }
        }
        let out = query
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
        Ok(Page {
            next_cursor: out.last_evaluated_key.as_ref().and_then(encode_cursor),
            items: out.items.unwrap_or_default(),
        })
    }
}

/// Every item of `partition`, across as many pages as it takes.
pub(crate) async fn all_of(
    client: &Client,
    table: &str,
    partition: Partition<'_>,
) -> Result<Vec<Item>, StoreError> {
    partition
        .query(client, table)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(StoreError::from_sdk)
}

/// The item at `key`, read consistently (None when there is none).
pub(crate) async fn read_item(
    client: &Client,
    table: &str,
    key: Item,
) -> Result<Option<Item>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(StoreError::from_sdk)?;
    Ok(out.item)
}

/// The condition of a write that may only find its item there.
pub(crate) fn item_exists() -> String {
    format!("attribute_exists({})", keys::PARTITION)
}

/// The condition of a write that may only create its item.
pub(crate) fn item_absent() -> String {
    format!("attribute_not_exists({})", keys::PARTITION)
}

/// A put of `item` that only creates it: it fails its condition where the key is taken.
pub(crate) fn put_new(client: &Client, table: &str, item: Item) -> PutItemFluentBuilder {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(item_absent())
}

impl Store {
    /// A page of the index partition `partition`, with its next cursor.
    pub(super) async fn index_page(
        &self,
        partition: &str,
        limit: i32,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let page = PageQuery::new(Partition::Index(partition), limit, cursor)
            .newest_first(newest_first)
            .send(&self.client, &self.table)
            .await?;
        Ok((page.items, page.next_cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_accepted_only_by_the_partition_that_issued_it() {
        let ledger_key = keys::key("LEDGER#A", "2024-01-01T00:00:00Z#m#01");
        let cursor = encode_cursor(&ledger_key).unwrap();
        assert_eq!(
            Partition::Table("LEDGER#A").start(&cursor).unwrap(),
            ledger_key
        );
        assert!(Partition::Table("LEDGER#B").start(&cursor).is_err());
        // An index listing's cursor names the index keys too: a table key is not one.
        assert!(Partition::Index("LEDGER#A").start(&cursor).is_err());

        let mut listed = keys::key("RULE#r1", keys::META);
        listed.insert(keys::INDEX_PARTITION.into(), s("RULES"));
        listed.insert(keys::INDEX_SORT.into(), s("r1"));
        let cursor = encode_cursor(&listed).unwrap();
        assert_eq!(Partition::Index("RULES").start(&cursor).unwrap(), listed);
        assert!(Partition::Index("ALERTS").start(&cursor).is_err());
        assert!(Partition::Table("RULE#r1").start(&cursor).is_err());
    }

    #[test]
    fn a_page_read_as_its_items_keeps_its_cursor_and_fails_on_the_first_bad_item() {
        let page = Page {
            items: vec!["1", "2"],
            next_cursor: Some("c".to_owned()),
        };
        let read = page.clone().try_map(|i| i.parse::<i32>()).unwrap();
        assert_eq!(read.items, vec![1, 2]);
        assert_eq!(read.next_cursor.as_deref(), Some("c"));
        let bad = Page {
            items: vec!["1", "x"],
            ..page
        };
        assert!(bad.try_map(|i| i.parse::<i32>()).is_err());
    }
}
