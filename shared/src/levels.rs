//! Reading stock levels without the rest of the table: the level index (`levels`, keys only,
//! 60 shards, see [`keys::LEVEL_INDEX`]) lists a shard's keys, and eventually consistent
//! `BatchGetItem`s (0.5 read units per level up to 4 KB) read the levels. The ledger, orders and
//! alerts are never touched. The alert clock's sweep and the report writer read levels this way.
//! Also the decoder of a level item into what both read from it.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::{
    operation::query::builders::QueryFluentBuilder,
    types::{AttributeValue, KeysAndAttributes},
    Client,
};

use crate::{
    counters::LevelSnapshot,
    domain::Quantities,
    reports::LevelHistory,
    schema::{entity, keys, Item, LevelItem, Malformed},
    store::StoreError,
};

/// Levels read per `BatchGetItem` (DynamoDB's limit).
pub const BATCH: usize = 100;
/// Attempts at keys DynamoDB left unprocessed (it does so under throttling).
const UNPROCESSED_ATTEMPTS: u32 = 6;

/// A query of one partition (`partition`) of the secondary index `index`, whose partition
/// attribute is `partition_attribute`: `#p` names the attribute and `:p` the partition, for a
/// key condition that starts `#p = :p`.
pub fn index_query(
    client: &Client,
    table: &str,
    index: &str,
    partition_attribute: &str,
    partition: String,
) -> QueryFluentBuilder {
    client
        .query()
        .table_name(table)
        .index_name(index)
        .expression_attribute_names("#p", partition_attribute)
        .expression_attribute_values(":p", AttributeValue::S(partition))
}

/// The table keys of every level in `shard` (the index holds nothing else), sorted.
pub async fn shard_keys(client: &Client, table: &str, shard: u32) -> Result<Vec<Item>, StoreError> {
    let shard = keys::level_shard_name(shard);
    let mut pages = index_query(
        client,
        table,
        keys::LEVEL_INDEX,
        keys::LEVEL_SHARD_ATTRIBUTE,
        shard,
    )
    .key_condition_expression("#p = :p")
    .into_paginator()
    .items()
    .send();
    let mut out = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(StoreError::from_sdk)?;
        if let Some((pk, sk)) = keys::of(&item) {
            out.push((pk.to_owned(), sk.to_owned()));
        }
    }
    // The index returns a shard in no defined order; sorted, a shard reads the same every time.
    out.sort();
    Ok(out.into_iter().map(|(pk, sk)| keys::key(pk, sk)).collect())
}

/// The items of `keys` (at most [`BATCH`]), retrying what DynamoDB leaves unprocessed with
/// exponential backoff. In no particular order.
pub async fn batch_get(
    client: &Client,
    table: &str,
    mut keys: Vec<Item>,
) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::with_capacity(keys.len());
    for attempt in 0..UNPROCESSED_ATTEMPTS {
        if keys.is_empty() {
            break;
        }
        if attempt > 0 {
            let ms = 25u64 << attempt;
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let request = KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut keys)))
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        let got = client
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        if let Some(mut responses) = got.responses {
            out.extend(responses.remove(table).unwrap_or_default());
        }
        keys = got
            .unprocessed_keys
            .and_then(|mut u| u.remove(table))
            .map(|k| k.keys)
            .unwrap_or_default();
    }
    if !keys.is_empty() {
        return Err(StoreError::Busy(format!(
            "{} levels still unprocessed after {UNPROCESSED_ATTEMPTS} attempts",
            keys.len()
        )));
    }
    Ok(out)
}

/// Seconds since the epoch of an RFC 3339 time.
pub fn unix(text: Option<&str>) -> Option<i64> {
    text.and_then(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    })
}

/// A stock level as the reports read it (with the item's creation and last change, seconds) and
/// as the rules see it.
pub struct DecodedLevel {
    pub history: LevelHistory,
    pub snapshot: LevelSnapshot,
    pub created_at: i64,
    /// `created_at` as the item writes it (the time of the movement that created the level).
    pub created_at_text: String,
    /// The newest day of the daily counters (days since the epoch): the level sold nothing
    /// after it.
    pub counted_to_day: i64,
    pub updated_at: i64,
}

/// Decodes a stock-level item.
pub fn decode(item: &Item) -> Result<DecodedLevel, Malformed> {
    use crate::counters::{unroll, DAYS, HOURS};
    let i: LevelItem = crate::schema::decode(entity::STOCK_LEVEL, item)?;
    let quantities: Quantities = i.quantities.into();
    // The counter rings, read back for the window ending at their head.
    let today = i.ctr_hour.div_euclid(24);
    let created_at = unix(Some(&i.created_at));
    let history = LevelHistory {
        sku: i.sku.clone(),
        location: i.location.clone(),
        quantities,
        sold: unroll(&i.sold_d, today, DAYS),
        received: unroll(&i.rcv_d, today, DAYS),
        refunded: unroll(&i.rfd_d, today, DAYS),
        written_off: unroll(&i.wo_d, today, DAYS),
        last_sale_at: unix(i.last_sale_at.as_deref()),
        last_receipt_at: unix(i.last_receipt_at.as_deref()),
        uncounted_day: i.uncounted_day,
        on_hand_by_day: BTreeMap::new(),
        cost: None,
        age: Default::default(),
    };
    let snapshot = LevelSnapshot {
        sku: i.sku,
        location: i.location,
        quantities,
        sold_hourly: unroll(&i.sold_h, i.ctr_hour, HOURS),
        sold_daily: history.sold.clone(),
        last_sale_at: history.last_sale_at,
        last_receipt_at: history.last_receipt_at,
        created_at,
        version: i.version,
        reorder_point: i.reorder_point,
        short_units: i.short_units.unwrap_or(0),
        recent_receipts: None,
    };
    Ok(DecodedLevel {
        history,
        snapshot,
        created_at: created_at.unwrap_or(0),
        created_at_text: i.created_at.clone(),
        counted_to_day: today,
        updated_at: unix(Some(&i.updated_at)).unwrap_or(i64::MAX),
    })
}

/// The receipts (and transfer arrivals) of the level of `sku` at `location` since `since` (unix
/// seconds), from the receipts index: (when, units), oldest first.
pub async fn receipts_since(
    client: &Client,
    table: &str,
    (sku, location): (&str, &str),
    since: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut pages = client
        .query()
        .table_name(table)
        .index_name(keys::RECEIPT_INDEX)
        .key_condition_expression("#p = :p AND #s >= :since")
        .expression_attribute_names("#p", keys::RECEIPT_PARTITION_ATTRIBUTE)
        .expression_attribute_names("#s", keys::RECEIPT_SORT_ATTRIBUTE)
        .expression_attribute_values(":p", AttributeValue::S(keys::receipts(sku, location)))
        .expression_attribute_values(
            ":since",
            AttributeValue::S(crate::clock::rfc3339_millis(since * 1000)),
        )
        .into_paginator()
        .items()
        .send();
    let mut out = Vec::new();
    while let Some(item) = pages.next().await {
        let item = item.map_err(StoreError::from_sdk)?;
        let at = match item.get(keys::RECEIPT_SORT_ATTRIBUTE) {
            Some(AttributeValue::S(sk)) => unix(sk.split('#').next()),
            _ => None,
        };
        if let (Some(at), Some(units)) = (at, crate::store::get_n(&item, "quantity")) {
            out.push((at, units));
        }
    }
    Ok(out)
}
