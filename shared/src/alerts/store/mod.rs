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
    config::http::HttpResponse,
    error::SdkError,
    operation::{transact_write_items::TransactWriteItemsError, update_item::UpdateItemError},
    types::{
        builders::UpdateBuilder, AttributeValue, Put, ReturnValue,
        ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
    },
    Client,
};
use serde::Serialize;

use super::{
    deliveries::{Delivery, DeliveryStatus},
    evaluate::{AlertState, Observation, OpenEpisode},
    rules::{Rule, RuleBody, Severity},
};
use crate::store::{
    get_s, item_absent, item_exists, n, put_new, read_item, s, Filter, Item, Page, PageQuery,
    Partition, StoreError,
};

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
        read_item(&self.client, &self.table, key).await
    }

    /// An update of the item at `key`.
    fn update(&self, key: HashMap<String, AttributeValue>) -> UpdateBuilder {
        Update::builder().table_name(&self.table).set_key(Some(key))
    }

    /// Writes `items` in one transaction: all of them or, when one's condition fails, none.
    async fn write_all(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError, HttpResponse>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
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

    /// Every item of the index partition `partition`.
    async fn all_of(&self, partition: &str) -> Result<Vec<Item>, StoreError> {
        crate::store::all_of(&self.client, &self.table, Partition::Index(partition)).await
    }

    /// Every item of the index partition `partition` that reads as a `T`: one that does not is
    /// logged and left out, so one bad item never hides the rest.
    async fn all_read_as<T>(
        &self,
        partition: &str,
        read: fn(&Item) -> Result<T, StoreError>,
        what: &str,
    ) -> Result<Vec<T>, StoreError> {
        Ok(self
            .all_of(partition)
            .await?
            .iter()
            .filter_map(|i| {
                read(i)
                    .map_err(|e| tracing::error!(error = %e, "skipping {what}"))
                    .ok()
            })
            .collect())
    }
}
