//! The alert engine's DynamoDB adapter: rules, silences, alert episodes (the inbox) and the
//! per-(rule, SKU, location) tracker that makes every transition a conditional write. None of
//! these items is a stock level, so the evaluator never writes what its stream filter lets in.

mod claims;
mod episodes;
mod inbox;
mod rulebook;
mod silences;

pub use self::{claims::*, episodes::*, inbox::*, rulebook::*, silences::*};

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    operation::{transact_write_items::TransactWriteItemsError, update_item::UpdateItemError},
    types::{
        AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
        Update,
    },
    Client,
};
use serde::Serialize;

use super::{
    deliveries::{Delivery, DeliveryStatus},
    evaluate::{AlertState, Observation, OpenEpisode},
    rules::{Rule, RuleBody, Severity},
};
use crate::store::{decode_cursor, encode_cursor, get_s, n, s, Item, Page, StoreError, INDEX};

pub use crate::schema::entity;
use crate::schema::{
    decode,
    keys::{self, ALERT_LIST as ALERTS, RULE_LIST as RULES, SILENCE_LIST as SILENCES},
    AlertItem, RuleItem, SilenceItem, SkuItem, TrackerItem,
};

fn rule_key(id: &str) -> HashMap<String, AttributeValue> {
    keys::key(keys::rule(id), keys::META)
}
fn alert_key(id: &str) -> HashMap<String, AttributeValue> {
    keys::key(keys::alert(id), keys::META)
}
fn tracker_key(rule_id: &str, sku: &str, location: &str) -> HashMap<String, AttributeValue> {
    let (pk, sk) = keys::tracker(rule_id, sku, location);
    keys::key(pk, sk)
}
fn silence_key(target: &str) -> HashMap<String, AttributeValue> {
    keys::key(keys::silence(target), keys::META)
}

fn corrupt(e: crate::schema::Malformed) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The status map entry of an owed delivery.
fn status_value(status: &DeliveryStatus) -> AttributeValue {
    serde_dynamo::to_attribute_value(status).unwrap_or(AttributeValue::Null(true))
}

/// The index partition of trackers the clock looks at: an open episode or deliveries owed. A
/// tracker leaves it once its episode is closed and nothing is owed.
use keys::EPISODE_LIST as EPISODES;

/// A filter expression with its attribute names and values.
type Filter = (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
);

#[derive(Debug, Clone)]
pub struct AlertStore {
    client: Client,
    table: String,
}

fn sdk<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    StoreError::from_sdk(e)
}

/// An update whose condition may not hold: the output when it held (and the write was made),
/// `None` when it did not (nothing written); any other failure is an error.
fn if_condition_held<R: std::fmt::Debug>(
    result: Result<
        aws_sdk_dynamodb::operation::update_item::UpdateItemOutput,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
            R,
        >,
    >,
) -> Result<Option<aws_sdk_dynamodb::operation::update_item::UpdateItemOutput>, StoreError> {
    match result {
        Ok(out) => Ok(Some(out)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk(e)),
    }
}

impl AlertStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item at `key`, read consistently (None when there is none).
    async fn item(&self, key: HashMap<String, AttributeValue>) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item)
    }

    /// Deletes the item at `key`; false when there was none.
    async fn delete(&self, key: HashMap<String, AttributeValue>) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.attributes.is_some())
    }

    async fn all_of(&self, partition: &str) -> Result<Vec<Item>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(partition))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(sdk)?);
        }
        Ok(out)
    }

    async fn page(
        &self,
        partition: &str,
        limit: i32,
        cursor: Option<&str>,
        newest_first: bool,
        filter: Option<Filter>,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = cursor.map(|c| decode_cursor(c, partition)).transpose()?;
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(partition))
            .scan_index_forward(!newest_first)
            .limit(limit)
            .set_exclusive_start_key(start);
        if let Some((expr, names, values)) = filter {
            q = q
                .filter_expression(expr)
                .set_expression_attribute_names(Some(names));
            for (k, v) in values {
                q = q.expression_attribute_values(k, v);
            }
        }
        let out = q.send().await.map_err(|e| match sdk(e) {
            StoreError::Failed(m) if m.contains("ValidationException") && cursor.is_some() => {
                StoreError::InvalidCursor
            }
            other => other,
        })?;
        let next = out.last_evaluated_key.as_ref().and_then(encode_cursor);
        Ok((out.items.unwrap_or_default(), next))
    }
}
