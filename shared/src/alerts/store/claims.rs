//! Owed notices: claimed with a lease before they are sent, then recorded as sent, retrying or
//! failed (claim, then send, then record).

use super::*;

/// A delivery still owed for an episode, in its stored form ([`Delivery::key`]).
pub type Pending = String;

/// A sender's claim on an owed delivery: who holds it, and until when (seconds) nobody else may
/// take it; `now` is the claimant's clock time.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    pub owner: &'a str,
    pub now: i64,
    pub until: i64,
}

/// What a claim on an owed delivery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This sender holds it now, and alone may send it.
    Held,
    /// Another sender's claim on it is in force.
    Taken,
    /// It is owed no more (sent or settled by another sender).
    Settled,
}

impl AlertStore {
    /// Claims an owed delivery for one sender until `until` (seconds): a conditional write on the
    /// episode's tracker that holds only while the delivery is still owed (under its stored key,
    /// `stored`) and nobody else's claim on it is in force. The claim is the tracker's attribute
    /// `lease#<delivery key>` ([`keys::lease`]); recording the delivery removes it.
    pub async fn claim_delivery(
        &self,
        episode: &EpisodeKey<'_>,
        delivery: &Delivery,
        stored: &str,
        lease: &Lease<'_>,
    ) -> Result<Claim, StoreError> {
        let claim = AttributeValue::M(HashMap::from([
            ("by".to_owned(), s(lease.owner)),
            ("until".to_owned(), n(lease.until)),
        ]));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(tracker_key(
                episode.rule_id,
                episode.sku,
                episode.location,
            )))
            .update_expression("SET #lease = :claim")
            .condition_expression(
                "(contains(pending, :stored) OR contains(pending, :key)) \
                 AND (attribute_not_exists(#lease) OR #lease.#until <= :now)",
            )
            .expression_attribute_names("#lease", keys::lease(&delivery.key()))
            .expression_attribute_names("#until", "until")
            .expression_attribute_values(":claim", claim)
            .expression_attribute_values(":stored", s(stored))
            .expression_attribute_values(":key", s(delivery.key()))
            .expression_attribute_values(":now", n(lease.now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Held),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let owed = c.item().and_then(|t| t.get("pending")).is_some_and(|p| {
                        p.as_ss()
                            .is_ok_and(|p| p.iter().any(|k| k == stored || *k == delivery.key()))
                    });
                    Ok(if owed { Claim::Taken } else { Claim::Settled })
                }
                _ => Err(sdk(e)),
            },
        }
    }

    /// Records how a delivery went: on the alert (its `deliveries` map, for the inbox) and on the
    /// tracker, in one transaction: once it is settled for good (sent, or refused for good) it is
    /// owed no more; either way the sender's claim on it ends (a delivery being retried stays
    /// owed, for whoever claims it next).
    pub async fn record_delivery(
        &self,
        episode: &EpisodeKey<'_>,
        delivery: &Delivery,
        status: &DeliveryStatus,
    ) -> Result<(), StoreError> {
        let key = delivery.slot();
        let alert = self
            .update(alert_key(&delivery.alert_id))
            .update_expression("SET #dl.#k = :st")
            .condition_expression(item_exists())
            .expression_attribute_names("#dl", "deliveries")
            .expression_attribute_names("#k", &key)
            .expression_attribute_values(":st", status_value(status))
            .build()
            .map_err(|e| StoreError::Failed(e.to_string()))?;
        let settled = !matches!(status, DeliveryStatus::Retrying { .. });
        let tracker = || {
            let update = self
                .update(tracker_key(episode.rule_id, episode.sku, episode.location))
                .expression_attribute_names("#lease", keys::lease(&delivery.key()));
            let update = if settled {
                // Its stored key, and the form written before deliveries named their alert.
                update
                    .update_expression("DELETE pending :e REMOVE #lease")
                    .expression_attribute_values(
                        ":e",
                        AttributeValue::Ss(vec![delivery.key(), delivery.slot()]),
                    )
            } else {
                update.update_expression("REMOVE #lease")
            };
            update
                .build()
                .map_err(|e| StoreError::Failed(e.to_string()))
        };
        let items = vec![
            TransactWriteItem::builder().update(alert).build(),
            TransactWriteItem::builder().update(tracker()?).build(),
        ];
        match self.write_all(items).await {
            Ok(_) => Ok(()),
            // The alert is gone (deleted by hand): settle the tracker alone.
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    matches!(se, TransactWriteItemsError::TransactionCanceledException(c)
                        if c.cancellation_reasons().first().and_then(|r| r.code())
                            == Some("ConditionalCheckFailed"))
                }) =>
            {
                let u = tracker()?;
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(u.key))
                    .update_expression(u.update_expression)
                    .set_expression_attribute_names(u.expression_attribute_names)
                    .set_expression_attribute_values(u.expression_attribute_values)
                    .send()
                    .await
                    .map_err(sdk)?;
                Ok(())
            }
            Err(e) => Err(sdk(e)),
        }
    }
}
