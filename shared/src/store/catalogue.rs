//! The catalogue: SKUs and locations, written by the admin routes and read with their levels.

use super::*;

/// A SKU's catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sku {
    pub sku: SkuId,
    pub name: String,
    pub attributes: std::collections::BTreeMap<String, String>,
    /// What one unit cost, in `currency` (absent: no cost recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_cost: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Where it is bought and how (replenishment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supply: Option<crate::domain::SupplyFacts>,
    pub created_at: String,
    pub updated_at: String,
}

/// A location (warehouse or country).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub location: LocationId,
    pub name: String,
    pub kind: LocationKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub(super) fn sku_from_item(item: &Item) -> Result<Sku, StoreError> {
    let i: SkuItem = decode(entity::SKU, item).map_err(corrupt)?;
    let cost = match (&i.unit_cost, &i.currency) {
        (Some(amount), Some(currency)) => Some(
            crate::domain::UnitCost::parse(amount, currency)
                .map_err(|_| StoreError::Corrupt(format!("unit cost {amount} {currency}")))?,
        ),
        _ => None,
    };
    Ok(Sku {
        sku: SkuId::parse("sku", &i.sku).map_err(|e| StoreError::Corrupt(e.message))?,
        name: i.name,
        attributes: i.attributes,
        unit_cost: cost.as_ref().map(|c| c.amount_number()),
        currency: cost.map(|c| c.currency),
        supply: i.supply,
        created_at: i.created_at,
        updated_at: i.updated_at,
    })
}

pub(super) fn location_from_item(item: &Item) -> Result<Location, StoreError> {
    let i: LocationItem = decode(entity::LOCATION, item).map_err(corrupt)?;
    Ok(Location {
        location: LocationId::parse("location", &i.location)
            .map_err(|e| StoreError::Corrupt(e.message))?,
        name: i.name,
        kind: i.kind,
        country: i.country,
        created_at: i.created_at,
        updated_at: i.updated_at,
    })
}

pub(super) fn level_from_item(item: &Item) -> Result<StockLevel, StoreError> {
    let i: LevelItem = decode(entity::STOCK_LEVEL, item).map_err(corrupt)?;
    Ok(StockLevel {
        location: LocationId::parse("location", &i.location)
            .map_err(|e| StoreError::Corrupt(e.message))?,
        quantities: i.quantities.into(),
        version: i.version.max(0) as u64,
        updated_at: i.updated_at,
        last_counted_at: i.last_count_ms.map(crate::clock::rfc3339_millis),
    })
}

/// The day a SKU's cost history gives to the cost it had before its history began (before the
/// first PUT that recorded one): in force on every earlier day.
pub const EARLIEST: &str = "0000-00-00";

impl Store {
    /// Creates or replaces a SKU's catalogue entry; returns it and whether it was new. The unit
    /// cost in force from today (or none) is kept in the SKU's cost history (`cost_history`,
    /// by day), so a report of an earlier day values it at that day's cost.
    pub async fn put_sku(
        &self,
        sku: &SkuId,
        name: &str,
        attributes: &std::collections::BTreeMap<String, String>,
        cost: Option<&crate::domain::UnitCost>,
        supply: Option<&crate::domain::SupplyFacts>,
        now: &str,
    ) -> Result<(Sku, bool), StoreError> {
        let today = now.get(..10).unwrap_or(now).to_owned();
        let entry = |c: Option<&crate::domain::UnitCost>| {
            AttributeValue::M(
                c.map(|c| {
                    HashMap::from([
                        ("unit_cost".to_owned(), s(&c.amount)),
                        ("currency".to_owned(), s(&c.currency)),
                    ])
                })
                .unwrap_or_default(),
            )
        };
        // Today's entry into the history the SKU has; a SKU with none yet (new, or written
        // before costs had a history) gets one holding its earlier cost as in force before.
        let mut history = ("#ch.#day = :entry".to_owned(), entry(cost));
        for _ in 0..2 {
            match self
                .write_sku(sku, (name, attributes), (cost, supply), now, &history)
                .await
            {
                Err(StoreError::Failed(m)) if m.contains("document path") => {
                    let old = read_item(
                        &self.client,
                        &self.table,
                        keys::key(keys::sku(sku.as_str()), keys::META),
                    )
                    .await?;
                    let earlier = old.as_ref().and_then(|i| {
                        let (amount, currency) = (get_s(i, "unit_cost")?, get_s(i, "currency")?);
                        crate::domain::UnitCost::parse(amount, currency).ok()
                    });
                    let all = HashMap::from([
                        (EARLIEST.to_owned(), entry(earlier.as_ref())),
                        (today.clone(), entry(cost)),
                    ]);
                    history = ("#ch = :entry".to_owned(), AttributeValue::M(all));
                }
                other => return other,
            }
        }
        Err(StoreError::Failed(
            "the SKU's cost history could not be written".into(),
        ))
    }

    async fn write_sku(
        &self,
        sku: &SkuId,
        (name, attributes): (&str, &std::collections::BTreeMap<String, String>),
        (cost, supply): (
            Option<&crate::domain::UnitCost>,
            Option<&crate::domain::SupplyFacts>,
        ),
        now: &str,
        (history, entry): &(String, AttributeValue),
    ) -> Result<(Sku, bool), StoreError> {
        let attrs: Item = attributes.iter().map(|(k, v)| (k.clone(), s(v))).collect();
        let base = "SET #e = :e, #sku = :sku, #n = :n, #a = :a, #c = if_not_exists(#c, :now), \
                    #u = :now, gsi1pk = :list, gsi1sk = :sku, #search = :search";
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::sku(sku.as_str()), keys::META)))
            .expression_attribute_names("#uc", "unit_cost")
            .expression_attribute_names("#cur", "currency")
            .expression_attribute_names("#ch", "cost_history")
            .expression_attribute_values(":entry", entry.clone());
        if history.contains("#day") {
            update = update.expression_attribute_names("#day", now.get(..10).unwrap_or(now));
        }
        // A PUT replaces the SKU: without a cost or supply facts, any earlier ones go.
        let mut set = format!("{base}, {history}");
        let mut remove = Vec::new();
        match cost {
            Some(c) => {
                set.push_str(", #uc = :uc, #cur = :cur");
                update = update
                    .expression_attribute_values(":uc", s(&c.amount))
                    .expression_attribute_values(":cur", s(&c.currency));
            }
            None => remove.push("#uc, #cur"),
        }
        update = update.expression_attribute_names("#sp", "supply");
        match supply {
            Some(f) => {
                set.push_str(", #sp = :sp");
                let value = serde_dynamo::to_attribute_value(f)
                    .map_err(|e| StoreError::Failed(format!("supply facts: {e}")))?;
                update = update.expression_attribute_values(":sp", value);
            }
            None => remove.push("#sp"),
        }
        let expression = if remove.is_empty() {
            set
        } else {
            format!("{set} REMOVE {}", remove.join(", "))
        };
        update = update.update_expression(expression);
        let out = update
            .expression_attribute_names("#e", "entity")
            .expression_attribute_names("#sku", "sku")
            .expression_attribute_names("#n", "name")
            .expression_attribute_names("#search", "search")
            .expression_attribute_values(
                ":search",
                s(crate::schema::search_text(sku.as_str(), name)),
            )
            .expression_attribute_names("#a", "attributes")
            .expression_attribute_names("#c", "created_at")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_values(":e", s(entity::SKU))
            .expression_attribute_values(":sku", s(sku.as_str()))
            .expression_attribute_values(":n", s(name))
            .expression_attribute_values(":a", AttributeValue::M(attrs))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":list", s(keys::SKU_LIST))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let item = out
            .attributes
            .ok_or_else(|| StoreError::Corrupt("update returned no attributes".into()))?;
        let sku = sku_from_item(&item)?;
        let created = sku.created_at == now;
        Ok((sku, created))
    }

    /// Creates or replaces a location; returns it and whether it was new.
    pub async fn put_location(
        &self,
        location: &LocationId,
        name: &str,
        kind: LocationKind,
        country: Option<&str>,
        now: &str,
    ) -> Result<(Location, bool), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(
                keys::location(location.as_str()),
                keys::META,
            )))
            .expression_attribute_names("#e", "entity")
            .expression_attribute_names("#loc", "location")
            .expression_attribute_names("#n", "name")
            .expression_attribute_names("#k", "kind")
            .expression_attribute_names("#c", "created_at")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_names("#cc", "country")
            .expression_attribute_values(":e", s(entity::LOCATION))
            .expression_attribute_values(":loc", s(location.as_str()))
            .expression_attribute_values(":n", s(name))
            .expression_attribute_values(":k", s(kind.as_str()))
            .expression_attribute_values(":now", s(now))
            .expression_attribute_values(":list", s(keys::LOCATION_LIST))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        let base = "SET #e = :e, #loc = :loc, #n = :n, #k = :k, #c = if_not_exists(#c, :now), \
                    #u = :now, gsi1pk = :list, gsi1sk = :loc";
        update = match country {
            Some(cc) => update
                .update_expression(format!("{base}, #cc = :cc"))
                .expression_attribute_values(":cc", s(cc)),
            None => update.update_expression(format!("{base} REMOVE #cc")),
        };
        let out = update.send().await.map_err(StoreError::from_sdk)?;
        let item = out
            .attributes
            .ok_or_else(|| StoreError::Corrupt("update returned no attributes".into()))?;
        let location = location_from_item(&item)?;
        let created = location.created_at == now;
        Ok((location, created))
    }

    /// A SKU with its stock level at every location, read consistently in one query.
    pub async fn get_sku(&self, sku: &SkuId) -> Result<Option<(Sku, Vec<StockLevel>)>, StoreError> {
        let Some((meta, items)) = self.sku_partition(sku).await? else {
            return Ok(None);
        };
        let levels = items
            .iter()
            .map(level_from_item)
            .collect::<Result<_, _>>()?;
        Ok(Some((sku_from_item(&meta)?, levels)))
    }

    /// A SKU's partition read strongly consistent: its catalogue item and its stock-level items
    /// (None when the SKU is not in the catalogue).
    pub(super) async fn sku_partition(
        &self,
        sku: &SkuId,
    ) -> Result<Option<(Item, Vec<Item>)>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::sku(sku.as_str())))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut meta = None;
        let mut levels = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(StoreError::from_sdk)?;
            match get_s(&item, "entity") {
                Some(entity::SKU) => meta = Some(item),
                Some(entity::STOCK_LEVEL) => levels.push(item),
                _ => {}
            }
        }
        Ok(meta.map(|m| (m, levels)))
    }

    pub(super) async fn exists(&self, pk: String) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(pk, keys::META)))
            .projection_expression(keys::PARTITION)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item.is_some())
    }

    /// Whether a SKU is in the catalogue.
    pub async fn sku_exists(&self, sku: &SkuId) -> Result<bool, StoreError> {
        self.exists(keys::sku(sku.as_str())).await
    }

    /// SKUs in id order.
    pub async fn list_skus(
        &self,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Sku>, StoreError> {
        let (items, next_cursor) = self
            .index_page(keys::SKU_LIST, limit, cursor, false)
            .await?;
        let items = items.iter().map(sku_from_item).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// Locations in id order.
    pub async fn list_locations(
        &self,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<Location>, StoreError> {
        let (items, next_cursor) = self
            .index_page(keys::LOCATION_LIST, limit, cursor, false)
            .await?;
        let items = items
            .iter()
            .map(location_from_item)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// Every location's id, in id order (the listing reads each one's partition).
    pub async fn all_location_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.list_locations(100, cursor.as_deref()).await?;
            out.extend(page.items.into_iter().map(|l| l.location.to_string()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The stock-level items of a SKU (None when the SKU is not in the catalogue).
    pub async fn sku_level_items(&self, sku: &SkuId) -> Result<Option<Vec<Item>>, StoreError> {
        Ok(self.sku_partition(sku).await?.map(|(_, levels)| levels))
    }
}
