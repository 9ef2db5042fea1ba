//! Reading the reservations through their indexes: a SKU's active holds (`holds`, page by page
//! with an opaque cursor) and the holds due (`expiry`, shard by shard).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::{
    error::ProvideErrorMetadata, operation::query::builders::QueryFluentBuilder,
    types::KeysAndAttributes,
};

use super::*;
use crate::{
    levels::index_query,
    schema::HoldLineItem,
    store::{decode_cursor_of, encode_cursor, get_s, Page},
};

/// Rounds of resending the reservations DynamoDB left unprocessed.
const ROUNDS: u32 = 6;

/// One active hold of a SKU at one location, as the SKU's holds listing shows it.
#[derive(Debug, Clone)]
pub struct SkuHold {
    pub location: String,
    pub quantity: i64,
    pub reservation: Reservation,
}

/// The `holds` index position a page of `sku`'s holds (at `location`, if named) ended at, from
/// its cursor: a cursor of another SKU's or location's listing is refused.
fn holds_start(
    cursor: &str,
    sku: &SkuId,
    location: Option<&LocationId>,
) -> Result<Item, StoreError> {
    let start = decode_cursor_of(
        cursor,
        [
            keys::PARTITION,
            keys::SORT,
            keys::HOLD_PARTITION_ATTRIBUTE,
            keys::HOLD_SORT_ATTRIBUTE,
        ],
        keys::HOLD_PARTITION_ATTRIBUTE,
        &keys::holds(sku.as_str()),
    )?;
    let of_ledger = keys::of(&start).is_some_and(|(pk, _)| pk == keys::ledger(sku.as_str()));
    let in_location = location.is_none_or(|l| {
        get_s(&start, keys::HOLD_SORT_ATTRIBUTE)
            .is_some_and(|hs| hs.starts_with(&keys::hold_sort(l.as_str(), "")))
    });
    if of_ledger && in_location {
        Ok(start)
    } else {
        Err(StoreError::InvalidCursor)
    }
}

/// The id and lines of a due hold, from its `expiry` index entry.
fn due_hold(item: &Item) -> Option<(String, Vec<ReservedLine>)> {
    let (_, id) = get_s(item, keys::EXPIRY_SORT_ATTRIBUTE)?.split_once('#')?;
    let lines: Vec<HoldLineItem> =
        serde_dynamo::from_attribute_value(item.get("lines")?.clone()).ok()?;
    let lines = lines
        .into_iter()
        .map(|l| ReservedLine {
            taken: None,
            ..ReservedLine::from(l)
        })
        .collect();
    Some((id.to_owned(), lines))
}

impl Reservations {
    /// A page of `sku`'s active holds (at `location` alone, if named) in the `holds` index's
    /// order, each read from its reservation, so one closed a moment ago is left out.
    pub async fn of_sku(
        &self,
        sku: &SkuId,
        location: Option<&LocationId>,
        limit: i32,
        cursor: Option<&str>,
        now_ms: i64,
    ) -> Result<Page<SkuHold>, StoreError> {
        let start = cursor.map(|c| holds_start(c, sku, location)).transpose()?;
        let start_given = start.is_some();
        let partition = keys::holds(sku.as_str());
        let q = index_query(
            self.client(),
            self.table(),
            keys::HOLD_INDEX,
            keys::HOLD_PARTITION_ATTRIBUTE,
            partition,
        )
        .limit(limit)
        .set_exclusive_start_key(start);
        let q = match location {
            Some(l) => q
                .key_condition_expression("#p = :p AND begins_with(#s, :l)")
                .expression_attribute_names("#s", keys::HOLD_SORT_ATTRIBUTE)
                .expression_attribute_values(":l", s(keys::hold_sort(l.as_str(), ""))),
            None => q.key_condition_expression("#p = :p"),
        };
        let out = q.send().await.map_err(|e| {
            // A start key DynamoDB will not take is a cursor this listing did not issue.
            if start_given && e.code() == Some("ValidationException") {
                StoreError::InvalidCursor
            } else {
                StoreError::from_sdk(e)
            }
        })?;
        let entries: Vec<(String, String)> = out
            .items()
            .iter()
            .filter_map(|i| get_s(i, keys::HOLD_SORT_ATTRIBUTE))
            .filter_map(|s| s.rsplit_once('#'))
            .map(|(l, id)| (l.to_owned(), id.to_owned()))
            .collect();
        let reservations = self
            .get_all(entries.iter().map(|(_, id)| id.as_str()).collect())
            .await?;
        let items = entries
            .into_iter()
            .filter_map(|(location, id)| {
                let r = reservations.get(&id)?;
                if r.status_at(now_ms) != Status::Active {
                    return None;
                }
                let line = r
                    .lines
                    .iter()
                    .find(|l| l.sku == sku.as_str() && l.location == location)?;
                Some(SkuHold {
                    quantity: line.quantity,
                    location,
                    reservation: r.clone(),
                })
            })
            .collect();
        Ok(Page {
            items,
            next_cursor: out.last_evaluated_key().and_then(encode_cursor),
        })
    }

    /// Every open hold on one level (`sku` at `location`), past its expiry or not (its units
    /// stay reserved until the sweep gives them back), read strongly consistent from its
    /// reservation; the `holds` index that lists them follows the stream by a moment.
    pub async fn on_level(
        &self,
        sku: &SkuId,
        location: &LocationId,
    ) -> Result<Vec<Reservation>, StoreError> {
        let mut ids = BTreeSet::new();
        let mut start = None;
        loop {
            let out = index_query(
                self.client(),
                self.table(),
                keys::HOLD_INDEX,
                keys::HOLD_PARTITION_ATTRIBUTE,
                keys::holds(sku.as_str()),
            )
            .key_condition_expression("#p = :p AND begins_with(#s, :l)")
            .expression_attribute_names("#s", keys::HOLD_SORT_ATTRIBUTE)
            .expression_attribute_values(":l", s(keys::hold_sort(location.as_str(), "")))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
            ids.extend(
                out.items()
                    .iter()
                    .filter_map(|i| get_s(i, keys::HOLD_SORT_ATTRIBUTE))
                    .filter_map(|s| s.rsplit_once('#'))
                    .map(|(_, id)| id.to_owned()),
            );
            start = out.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
        let found = self
            .get_all(ids.iter().map(String::as_str).collect())
            .await?;
        Ok(found
            .into_values()
            .filter(|r| r.status == Status::Active)
            .collect())
    }

    /// The reservations of `ids`, read strongly consistent, by id. One unreadable is logged and
    /// left out, not the whole answer.
    async fn get_all(
        &self,
        ids: BTreeSet<&str>,
    ) -> Result<HashMap<String, Reservation>, StoreError> {
        let mut reservations = HashMap::new();
        if ids.is_empty() {
            return Ok(reservations);
        }
        let ka = KeysAndAttributes::builder()
            .set_keys(Some(
                ids.iter()
                    .map(|id| keys::key(keys::reservation(id), keys::META))
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        let mut request = HashMap::from([(self.table().to_owned(), ka)]);
        for round in 0..ROUNDS {
            let resp = self
                .client()
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in resp
                .responses
                .and_then(|mut r| r.remove(self.table()))
                .unwrap_or_default()
            {
                match Reservation::from_item(&item) {
                    Ok(r) => {
                        reservations.insert(r.id.clone(), r);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reservation unreadable; left out of the listing")
                    }
                }
            }
            request = resp.unprocessed_keys.unwrap_or_default();
            if request.values().all(|k| k.keys().is_empty()) {
                break;
            }
            if round == ROUNDS - 1 {
                return Err(StoreError::Busy(
                    "the table kept reservations of the listing unprocessed".into(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 << round)).await;
        }
        Ok(reservations)
    }

    /// A query of one shard of the expiry index (`#p` and `#s` its keys, `:p` the shard).
    fn expiry_query(&self, shard: u32) -> QueryFluentBuilder {
        index_query(
            self.client(),
            self.table(),
            keys::EXPIRY_INDEX,
            keys::EXPIRY_PARTITION_ATTRIBUTE,
            keys::expiry_shard_name(shard),
        )
        .expression_attribute_names("#s", keys::EXPIRY_SORT_ATTRIBUTE)
    }

    /// The active holds of expiry shard `shard` due at `now_ms`, with their lines: at most
    /// `most` index entries are read (the next pass takes the rest).
    pub async fn due_in_shard(
        &self,
        shard: u32,
        now_ms: i64,
        most: usize,
    ) -> Result<Vec<(String, Vec<ReservedLine>)>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .expiry_query(shard)
            .key_condition_expression("#p = :p AND #s <= :upto")
            .expression_attribute_values(":upto", s(keys::expiry_sort(now_ms, "~")))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(StoreError::from_sdk)?;
            match due_hold(&item) {
                Some(due) => out.push(due),
                None => tracing::error!(?item, "expiry index entry unreadable; skipped"),
            }
            if out.len() >= most {
                break;
            }
        }
        Ok(out)
    }

    /// The earliest expiry in `(after_ms, until_ms]` of an active hold of expiry shard `shard`.
    pub async fn next_due_in_shard(
        &self,
        shard: u32,
        after_ms: i64,
        until_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        let out = self
            .expiry_query(shard)
            .key_condition_expression("#p = :p AND #s BETWEEN :from AND :to")
            .expression_attribute_values(":from", s(keys::expiry_sort(after_ms, "~")))
            .expression_attribute_values(":to", s(keys::expiry_sort(until_ms, "~")))
            .limit(1)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.items().first().and_then(|i| {
            get_s(i, keys::EXPIRY_SORT_ATTRIBUTE)
                .and_then(|v| v.split_once('#'))
                .and_then(|(ms, _)| ms.parse::<i64>().ok())
        }))
    }
}
