//! Alert rules as stored: created, replaced, read, listed and deleted, with the SKU profiles
//! rules are matched against.

use super::*;

pub(super) fn rule_from(item: &Item) -> Result<Rule, StoreError> {
    let i: RuleItem = decode(entity::RULE, item).map_err(corrupt)?;
    let body: RuleBody = serde_json::from_str(&i.body)
        .map_err(|e| StoreError::Corrupt(format!("rule body: {e}")))?;
    body.into_rule(i.rule_id, i.created_at, i.updated_at)
        .map_err(|e| StoreError::Corrupt(format!("stored rule invalid: {e:?}")))
}

/// The outcome of creating a rule under an idempotency key.
pub enum RuleCreated {
    Created(Rule),
    /// The key was used before: the stored rule and the hash of the request that made it.
    Existing {
        rule: Rule,
        request_hash: String,
    },
}

/// What the alert engine knows of a SKU from its catalogue entry: the name its messages show and
/// the attributes rule selectors match. A SKU sold before it was catalogued has neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkuProfile {
    pub name: Option<String>,
    pub attributes: std::collections::BTreeMap<String, String>,
}

impl AlertStore {
    /// Every rule and every silence still in force: the evaluator's cache, one query each.
    pub async fn load_rules_and_silences(
        &self,
        now: i64,
    ) -> Result<(Vec<Rule>, Vec<Silence>), StoreError> {
        let rules = self.all_read_as(RULES, rule_from, "rule").await?;
        let silences = self.list_silences(now).await?;
        Ok((rules, silences))
    }

    pub async fn create_rule(
        &self,
        rule: &Rule,
        body: &RuleBody,
        request_hash: &str,
    ) -> Result<RuleCreated, StoreError> {
        let item = keys::item(
            keys::rule(&rule.rule_id),
            keys::META,
            [
                ("entity", s(entity::RULE)),
                ("rule_id", s(&rule.rule_id)),
                ("body", s(serde_json::to_string(body).unwrap_or_default())),
                ("request_hash", s(request_hash)),
                ("created_at", s(&rule.created_at)),
                ("updated_at", s(&rule.updated_at)),
                (keys::INDEX_PARTITION, s(RULES)),
                (keys::INDEX_SORT, s(&rule.rule_id)),
            ],
        );
        let result = put_new(&self.client, &self.table, item)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(RuleCreated::Created(rule.clone())),
            Err(e) => {
                let existing = e
                    .as_service_error()
                    .and_then(|se| match se {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item().cloned(),
                        _ => None,
                    });
                match existing {
                    Some(item) => Ok(RuleCreated::Existing {
                        rule: rule_from(&item)?,
                        request_hash: get_s(&item, "request_hash").unwrap_or_default().into(),
                    }),
                    None => Err(sdk(e)),
                }
            }
        }
    }

    /// Replaces an existing rule; None when there is no such rule.
    pub async fn replace_rule(
        &self,
        rule_id: &str,
        body: &RuleBody,
        now: &str,
    ) -> Result<Option<Rule>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(rule_key(rule_id)))
            .update_expression("SET body = :b, updated_at = :now")
            .condition_expression(item_exists())
            .expression_attribute_values(":b", s(serde_json::to_string(body).unwrap_or_default()))
            .expression_attribute_values(":now", s(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match crate::store::unless_condition_failed(result)? {
            Some(out) => out.attributes.as_ref().map(rule_from).transpose(),
            None => Ok(None),
        }
    }

    pub async fn get_rule(&self, rule_id: &str) -> Result<Option<Rule>, StoreError> {
        let item = self.item(rule_key(rule_id)).await?;
        item.as_ref().map(rule_from).transpose()
    }

    /// Deletes a rule; false when there was none. Its open alerts stay in the inbox.
    pub async fn delete_rule(&self, rule_id: &str) -> Result<bool, StoreError> {
        self.delete(rule_key(rule_id)).await
    }

    pub async fn list_rules(
        &self,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Rule>, StoreError> {
        PageQuery::new(Partition::Index(RULES), limit, cursor)
            .send(&self.client, &self.table)
            .await?
            .try_map(rule_from)
    }

    /// A SKU's name and attributes (for selectors and messages).
    pub async fn sku_profile(&self, sku: &str) -> Result<SkuProfile, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::sku(sku), keys::META)))
            .send()
            .await
            .map_err(sdk)?;
        match out.item {
            None => Ok(SkuProfile::default()),
            Some(item) => decode::<SkuItem>(entity::SKU, &item)
                .map(|i| SkuProfile {
                    name: Some(i.name),
                    attributes: i.attributes,
                })
                .map_err(corrupt),
        }
    }

    /// [`sku_profile`](Self::sku_profile), read once into `slot` and reused from there.
    pub async fn sku_profile_once<'a>(
        &self,
        sku: &str,
        slot: &'a mut Option<SkuProfile>,
    ) -> Result<&'a SkuProfile, StoreError> {
        if slot.is_none() {
            *slot = Some(self.sku_profile(sku).await?);
        }
        Ok(slot.get_or_insert_with(SkuProfile::default))
    }
}
