//! What a storefront's listing page shows: available and reserved for many (SKU, location)
//! pairs at once, read with `BatchGetItem` (100 keys a request, sent together), eventually
//! consistent unless asked (which costs twice the read units). A SKU none of whose asked levels
//! exists has its catalogue item read after, so an unknown SKU is listed as unknown, and a known
//! one never stocked at a location shows 0.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures_util::future::join_all;
use serde::Serialize;

use crate::{
    schema::{entity, keys, Item},
    store::{get_n, get_s, Store, StoreError},
};

/// Keys per `BatchGetItem` request (DynamoDB's limit).
const BATCH: usize = 100;
/// Rounds of resending the keys DynamoDB left unprocessed.
const ROUNDS: u32 = 6;

/// One level as the availability answer shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Available {
    pub sku: String,
    pub location: String,
    pub available: i64,
    pub reserved: i64,
    pub on_hand: i64,
    /// False for a known SKU never stocked at the location (all quantities 0).
    pub stocked: bool,
}

/// The answer: the levels asked for, and the SKUs the catalogue does not have.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub consistency: &'static str,
    pub items: Vec<Available>,
    pub unknown_skus: Vec<String>,
    /// `BatchGetItem` requests sent (resends included).
    #[serde(skip)]
    pub requests: u32,
}

/// The levels of `pairs` (in order). `all_stocked`: list only the levels that exist (a SKU
/// asked for at every location), not a 0 line for each location where it never was.
pub async fn read(
    store: &Store,
    pairs: &[(String, String)],
    consistent: bool,
    all_stocked: bool,
) -> Result<Answer, StoreError> {
    let mut requests = 0;
    // The levels first; only a SKU with a level missing needs its catalogue item read, to tell
    // an unknown SKU from one never stocked there (a listing page's SKUs are mostly stocked).
    let levels = get_all(
        store,
        pairs
            .iter()
            .map(|(sku, loc)| keys::key(keys::sku(sku), keys::location(loc)))
            .collect(),
        consistent,
        &mut requests,
    )
    .await?;
    let stocked: BTreeSet<&str> = pairs
        .iter()
        .filter(|(sku, loc)| levels.contains_key(&(keys::sku(sku), keys::location(loc))))
        .map(|(sku, _)| sku.as_str())
        .collect();
    let unsure: BTreeSet<&str> = pairs
        .iter()
        .map(|(sku, _)| sku.as_str())
        .filter(|sku| !stocked.contains(sku))
        .collect();
    let metas = get_all(
        store,
        unsure
            .iter()
            .map(|sku| keys::key(keys::sku(sku), keys::META.to_owned()))
            .collect(),
        consistent,
        &mut requests,
    )
    .await?;
    let known = |sku: &str| {
        stocked.contains(sku) || metas.contains_key(&(keys::sku(sku), keys::META.to_owned()))
    };
    let mut unknown_skus: Vec<String> = unsure
        .iter()
        .filter(|sku| !known(sku))
        .map(|s| (*s).to_owned())
        .collect();
    unknown_skus.sort();
    let mut items = Vec::new();
    for (sku, loc) in pairs {
        if !known(sku) {
            continue;
        }
        let level = levels
            .get(&(keys::sku(sku), keys::location(loc)))
            .filter(|i| get_s(i, "entity") == Some(entity::STOCK_LEVEL));
        match level {
            Some(l) => items.push(Available {
                sku: sku.clone(),
                location: loc.clone(),
                available: get_n(l, "available").unwrap_or(0),
                reserved: get_n(l, "reserved").unwrap_or(0),
                on_hand: get_n(l, "on_hand").unwrap_or(0),
                stocked: true,
            }),
            None if !all_stocked => items.push(Available {
                sku: sku.clone(),
                location: loc.clone(),
                available: 0,
                reserved: 0,
                on_hand: 0,
                stocked: false,
            }),
            None => {}
        }
    }
    Ok(Answer {
        consistency: if consistent { "strong" } else { "eventual" },
        items,
        unknown_skus,
        requests,
    })
}

/// The items of `wanted`, by key, read 100 keys a request with every request sent at once.
async fn get_all(
    store: &Store,
    wanted: Vec<HashMap<String, AttributeValue>>,
    consistent: bool,
    requests: &mut u32,
) -> Result<BTreeMap<(String, String), Item>, StoreError> {
    let chunks: Vec<_> = wanted.chunks(BATCH).map(<[_]>::to_vec).collect();
    let results = join_all(
        chunks
            .into_iter()
            .map(|chunk| batch_get(store, chunk, consistent)),
    )
    .await;
    let mut found = BTreeMap::new();
    for r in results {
        let (items, sent) = r?;
        *requests += sent;
        for item in items {
            if let Some((pk, sk)) = keys::of(&item) {
                found.insert((pk.to_owned(), sk.to_owned()), item);
            }
        }
    }
    Ok(found)
}

/// One `BatchGetItem` of up to 100 keys, resending what DynamoDB leaves unprocessed.
async fn batch_get(
    store: &Store,
    keys: Vec<HashMap<String, AttributeValue>>,
    consistent: bool,
) -> Result<(Vec<Item>, u32), StoreError> {
    let mut pending = keys;
    let mut out = Vec::new();
    let mut sent = 0;
    for round in 0..ROUNDS {
        if pending.is_empty() {
            break;
        }
        let ka = KeysAndAttributes::builder()
            .set_keys(Some(std::mem::take(&mut pending)))
            .consistent_read(consistent)
            .projection_expression("pk, sk, entity, available, reserved, on_hand")
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        sent += 1;
        let resp = store
            .client()
            .batch_get_item()
            .request_items(store.table(), ka)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        if let Some(items) = resp.responses.and_then(|mut r| r.remove(store.table())) {
            out.extend(items);
        }
        if let Some(left) = resp
            .unprocessed_keys
            .and_then(|mut u| u.remove(store.table()))
        {
            pending = left.keys;
            if !pending.is_empty() {
                tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
            }
        }
    }
    if !pending.is_empty() {
        return Err(StoreError::Busy(
            "the table kept keys of the availability read unprocessed".into(),
        ));
    }
    Ok((out, sent))
}
