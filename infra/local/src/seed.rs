//! Catalogues seeded straight into the table, item by item as the API and the stream write
//! them, for the tests and benchmarks that need thousands of SKUs (the API would take minutes).

use std::collections::{BTreeMap, HashMap};

use futures_util::stream::{self, StreamExt, TryStreamExt};

use anyhow::Context;
use aws_sdk_dynamodb::{
    types::{AttributeValue, PutRequest, WriteRequest},
    Client,
};
use shared::{
    counters::{DAYS, HOURS},
    schema::{entity, keys},
};

pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
/// A number attribute.
pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
/// A ring of counters (`sold_d` and the like), slot by slot.
pub fn counters(slots: &[i64]) -> AttributeValue {
    AttributeValue::L(slots.iter().map(|v| n(*v)).collect())
}
/// The time `seconds` after the epoch as items hold it (RFC 3339 with milliseconds).
pub fn at(seconds: i64) -> String {
    shared::clock::rfc3339_millis(seconds * 1000)
}

/// A SKU's item with no attributes, created and last changed at `at`: what the benchmarks seed
/// for SKUs the catalogue listing need not find.
pub fn bare_sku_item(sku: &str, name: &str, at: &str) -> Item {
    keys::item(
        keys::sku(sku),
        keys::META,
        [
            ("entity", s(entity::SKU)),
            ("sku", s(sku)),
            ("name", s(name)),
            ("attributes", AttributeValue::M(HashMap::new())),
            ("created_at", s(at)),
            ("updated_at", s(at)),
        ],
    )
}

/// A SKU's catalogue entry, as `PUT /v1/skus/{sku}` writes it.
pub fn sku_item(sku: &str, name: &str, attributes: &BTreeMap<String, String>, at: &str) -> Item {
    let mut item = bare_sku_item(sku, name, at);
    item.extend([
        (
            "attributes".into(),
            AttributeValue::M(attributes.iter().map(|(k, v)| (k.clone(), s(v))).collect()),
        ),
        ("search".into(), s(shared::listing::search_text(sku, name))),
        (keys::INDEX_PARTITION.into(), s(keys::SKU_LIST)),
        (keys::INDEX_SORT.into(), s(sku)),
    ]);
    item
}

/// A stock level's quantities and counters: `on_hand` all available (nothing reserved or in
/// transit), daily sales `sold_d`, the other counters empty, as of hour `ctr_hour`. The caller
/// adds its version, times and last movement.
pub fn level_counters(
    sku: &str,
    location: &str,
    on_hand: i64,
    sold_d: &[i64],
    ctr_hour: i64,
) -> Item {
    let ring = |len: i64| counters(&vec![0; len as usize]);
    keys::item(
        keys::sku(sku),
        keys::location(location),
        [
            (
                keys::LEVEL_SHARD_ATTRIBUTE,
                s(keys::level_shard(sku, location)),
            ),
            ("entity", s(entity::STOCK_LEVEL)),
            ("sku", s(sku)),
            ("location", s(location)),
            ("on_hand", n(on_hand)),
            ("reserved", n(0)),
            ("in_transit", n(0)),
            ("available", n(on_hand)),
            ("ctr_hour", n(ctr_hour)),
            ("sold_h", ring(HOURS)),
            ("sold_d", counters(sold_d)),
            ("rcv_d", ring(DAYS)),
            ("rfd_d", ring(DAYS)),
        ],
    )
}

/// A stock level with `available` on hand (nothing reserved or in transit), as a receipt
/// creates it, with empty counters and no movement for the stream to put in the ledger.
pub fn level_item(sku: &str, location: &str, available: i64, at: &str, hour: i64) -> Item {
    let mut item = level_counters(sku, location, available, &[0; DAYS as usize], hour);
    item.extend([
        ("version".into(), n(1)),
        ("created_at".into(), s(at)),
        ("updated_at".into(), s(at)),
        ("last_receipt_at".into(), s(at)),
        ("last_movement".into(), s("seeded")),
    ]);
    item
}

/// Writes `items` with `BatchWriteItem`, 25 at a time, sending again whatever DynamoDB leaves
/// unprocessed.
pub async fn put_all(client: &Client, table: &str, items: Vec<Item>) -> anyhow::Result<()> {
    for chunk in items.chunks(25) {
        let mut requests = chunk
            .iter()
            .map(|i| {
                Ok(WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(i.clone())).build()?)
                    .build())
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        while !requests.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, std::mem::take(&mut requests))
                .send()
                .await
                .context("BatchWriteItem")?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
        }
    }
    Ok(())
}

/// Writes the items of `levels` levels (`items_of(i)` for level `i`), a thousand levels at a
/// time, 25 items to a `BatchWriteItem` and four of those in flight; returns how many items.
pub async fn put_levels(
    client: &Client,
    table: &str,
    levels: usize,
    items_of: impl Fn(usize) -> Vec<Item>,
) -> anyhow::Result<usize> {
    let mut written = 0;
    for start in (0..levels).step_by(1000) {
        let items: Vec<Item> = (start..(start + 1000).min(levels))
            .flat_map(&items_of)
            .collect();
        written += items.len();
        stream::iter(items.chunks(25))
            .map(|chunk| put_all(client, table, chunk.to_vec()))
            .buffer_unordered(4)
            .try_collect::<Vec<()>>()
            .await?;
    }
    Ok(written)
}

/// Locations per SKU in the benchmarks' catalogues: level `i` is SKU `i / 4` at location `i % 4`.
pub const BENCH_LOCATIONS: usize = 4;

/// Level `i`'s SKU (`<prefix>-<six digits>`) and location (`WH0`…`WH3`).
pub fn bench_level_names(prefix: &str, i: usize) -> (String, String) {
    (
        format!("{prefix}-{:06}", i / BENCH_LOCATIONS),
        format!("WH{}", i % BENCH_LOCATIONS),
    )
}

/// A level's quantities as a ledger entry's `before` or `after` holds them: `on_hand` all
/// available.
pub fn quantities_map(on_hand: i64) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("on_hand".into(), n(on_hand)),
        ("reserved".into(), n(0)),
        ("in_transit".into(), n(0)),
        ("available".into(), n(on_hand)),
    ]))
}

/// Level `i` of `sku` at `location` with a ledger that adds up to it, as the stream projector
/// writes one: a receipt of 100 and sales of 5 and 3 on `day` (92 on hand, version 3), with the
/// versions and exact befores and afters; movement ids carry `tag`. The level first, then its
/// three entries.
pub fn ledgered_level(tag: &str, i: usize, (sku, location): (&str, &str), day: i64) -> Vec<Item> {
    const DAY: i64 = 86_400;
    let movement = |k: usize| format!("MOV#{tag}{i}x{k}|LINE#00");
    let mut level = level_counters(sku, location, 92, &[0; DAYS as usize], day * 24);
    level.extend([
        ("version".into(), n(3)),
        ("created_at".into(), s(at(day * DAY))),
        ("updated_at".into(), s(at(day * DAY + 3 * 60))),
        ("last_movement".into(), s(movement(3))),
    ]);
    let mut items = vec![level];
    let steps = [
        ("receipt", 100, 0, 100),
        ("sale", 5, 100, 95),
        ("sale", 3, 95, 92),
    ];
    for (k, (kind, quantity, before, after)) in steps.iter().enumerate() {
        let when = at(day * DAY + (k as i64 + 1) * 60);
        let id = format!("mv_{tag}{i}x{}", k + 1);
        items.push(keys::item(
            keys::ledger(sku),
            keys::ledger_sort(&when, &id, 0),
            [
                ("entity", s(entity::LEDGER_ENTRY)),
                ("movement_id", s(&id)),
                ("movement", s(movement(k + 1))),
                ("kind", s(*kind)),
                ("sku", s(sku)),
                ("location", s(location)),
                ("quantity", n(*quantity)),
                ("actor", s("bench")),
                ("at", s(&when)),
                ("version", n(k as i64 + 1)),
                ("before", quantities_map(*before)),
                ("after", quantities_map(*after)),
            ],
        ));
    }
    items
}
