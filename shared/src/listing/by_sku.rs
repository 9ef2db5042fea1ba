//! The listing in SKU order: the SKU list read page by page and each SKU's levels with it,
//! filtered as it goes.

use super::*;

/// One location's entries, read from the index in order.
pub(super) struct EntryStream {
    pub(super) location: String,
    /// The first sort key to read (inclusive).
    pub(super) from: String,
    pub(super) start: Option<Item>,
    pub(super) buffer: std::collections::VecDeque<String>,
    pub(super) exhausted: bool,
}

impl EntryStream {
    /// Reads the next entries (until some come, or the partition ends).
    pub(super) async fn fill(
        &mut self,
        client: &Client,
        table: &str,
        ceiling: &str,
    ) -> Result<(), StoreError> {
        if self.from.as_str() > ceiling {
            self.exhausted = true;
            return Ok(());
        }
        while self.buffer.is_empty() && !self.exhausted {
            self.fill_once(client, table, ceiling).await?;
        }
        Ok(())
    }

    pub(super) async fn fill_once(
        &mut self,
        client: &Client,
        table: &str,
        ceiling: &str,
    ) -> Result<(), StoreError> {
        let out = crate::levels::index_query(
            client,
            table,
            keys::STOCK_INDEX,
            keys::STOCK_PARTITION_ATTRIBUTE,
            keys::stock_partition(&self.location),
        )
        .key_condition_expression("#p = :p AND #s BETWEEN :lo AND :hi")
        .expression_attribute_names("#s", keys::STOCK_SORT_ATTRIBUTE)
        .expression_attribute_values(":lo", AttributeValue::S(self.from.clone()))
        .expression_attribute_values(":hi", AttributeValue::S(ceiling.to_owned()))
        .limit(INDEX_PAGE)
        .set_exclusive_start_key(self.start.take())
        .send()
        .await
        .map_err(StoreError::from_sdk)?;
        for item in out.items.unwrap_or_default() {
            if let Some(AttributeValue::S(sort)) = item.get(keys::STOCK_SORT_ATTRIBUTE) {
                self.buffer.push_back(sort.clone());
            }
        }
        match out.last_evaluated_key {
            Some(k) => self.start = Some(k),
            None => self.exhausted = true,
        }
        Ok(())
    }
}

impl Listing<'_> {
    pub(super) async fn by_sku(
        &self,
        filter: &Filter,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<Page, StoreError> {
        let after = match &cursor {
            Some(Cursor::Sku { s }) => Some(s.clone()),
            _ => None,
        };
        // Each SKU's level at every location is read: a page takes as many SKUs as keep that
        // under MAX_LEVEL_KEYS.
        let limit = limit.min((MAX_LEVEL_KEYS / self.locations.len().max(1)).max(1));
        let prefix = filter.sku_prefix.clone().unwrap_or_default();
        let mut lo = match &after {
            Some(a) if a.as_str() >= prefix.as_str() => just_after(a),
            _ => prefix.clone(),
        };
        let hi = format!("{prefix}~");
        // A cursor past this prefix's range (another filter's): nothing more.
        if lo > hi {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
                order: "sku",
            });
        }
        let mut found: Vec<SkuItem> = Vec::new();
        let mut start: Option<Item> = None;
        let mut exhausted = false;
        let mut rounds = 0;
        // A filtered page reads a few times what it needs first, then four times more each round
        // (up to DynamoDB's 1 MB page), so a common match costs little and a rare one ends soon.
        let mut evaluate = (limit as i32 * 4).max(100);
        while found.len() <= limit && rounds < MAX_ROUNDS {
            rounds += 1;
            let mut q = self
                .client
                .query()
                .table_name(self.table)
                .index_name(crate::store::INDEX)
                .expression_attribute_values(":p", AttributeValue::S(keys::SKU_LIST.to_owned()))
                .expression_attribute_values(":hi", AttributeValue::S(hi.clone()))
                // Unfiltered, one more than the page shows says whether there are more.
                .limit(if filter.attribute.is_none() && filter.text.is_none() {
                    (limit + 1 - found.len()) as i32
                } else {
                    let this = evaluate;
                    evaluate = (evaluate * 4).min(SKU_PAGE);
                    this
                })
                .set_exclusive_start_key(start.take());
            // DynamoDB takes no empty key value: from the start, only the upper bound.
            q = if lo.is_empty() {
                q.key_condition_expression("gsi1pk = :p AND gsi1sk <= :hi")
            } else {
                q.key_condition_expression("gsi1pk = :p AND gsi1sk BETWEEN :lo AND :hi")
                    .expression_attribute_values(":lo", AttributeValue::S(lo.clone()))
            };
            let mut conditions = Vec::new();
            if let Some((k, v)) = &filter.attribute {
                conditions.push("#attrs.#ak = :av");
                q = q
                    .expression_attribute_names("#attrs", "attributes")
                    .expression_attribute_names("#ak", k)
                    .expression_attribute_values(":av", AttributeValue::S(v.clone()));
            }
            if let Some(text) = &filter.text {
                // A SKU written before entries carried their search text is matched on its id
                // and name as typed (DynamoDB's `contains` knows no case).
                conditions.push(
                    "(contains(#search, :q) OR (attribute_not_exists(#search) AND \
                     (contains(sku, :q) OR contains(#name, :q) OR contains(sku, :raw) \
                     OR contains(#name, :raw))))",
                );
                q = q
                    .expression_attribute_names("#search", "search")
                    .expression_attribute_names("#name", "name")
                    .expression_attribute_values(":q", AttributeValue::S(text.clone()))
                    .expression_attribute_values(
                        ":raw",
                        AttributeValue::S(filter.text_as_typed.clone().unwrap_or(text.clone())),
                    );
            }
            if !conditions.is_empty() {
                q = q.filter_expression(conditions.join(" AND "));
            }
            let out = q.send().await.map_err(StoreError::from_sdk)?;
            for item in out.items.unwrap_or_default() {
                let s: SkuItem = crate::schema::decode(entity::SKU, &item)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                // DynamoDB's filter is exact for stored search text; the legacy fallback
                // (no search text) is case-sensitive there, so every match is checked here.
                if sku_matches(filter, &s) {
                    found.push(s);
                }
            }
            match out.last_evaluated_key {
                Some(k) => start = Some(k),
                None => {
                    exhausted = true;
                    break;
                }
            }
        }
        // More SKUs than the page takes: the page ends at the limit's SKU.
        let cut = found.len() > limit;
        found.truncate(limit);
        let levels = if self.locations.is_empty() || found.is_empty() {
            HashMap::new()
        } else {
            let pairs: Vec<(&str, &str)> = found
                .iter()
                .flat_map(|s| {
                    self.locations
                        .iter()
                        .map(move |l| (s.sku.as_str(), l.as_str()))
                })
                .collect();
            let mut known: HashMap<String, Option<SkuItem>> = found
                .iter()
                .map(|s| (s.sku.clone(), Some(s.clone())))
                .collect();
            self.read(pairs.into_iter(), &mut known).await?
        };
        let mut by_sku: BTreeMap<&str, Vec<&LevelItem>> = BTreeMap::new();
        for level in levels.values() {
            by_sku.entry(level.sku.as_str()).or_default().push(level);
        }
        let mut rows = Vec::new();
        for s in &found {
            let mut mine = by_sku.remove(s.sku.as_str()).unwrap_or_default();
            mine.sort_by(|a, b| a.location.cmp(&b.location));
            if mine.is_empty() {
                rows.push(Row {
                    sku: s.sku.clone(),
                    name: s.name.clone(),
                    location: None,
                    quantities: None,
                    updated_at: None,
                    alert_threshold: None,
                    below_threshold: false,
                });
            }
            for level in mine {
                if let Some(row) = self.row(filter, s, level) {
                    rows.push(row);
                }
            }
        }
        let last = found.last().map(|s| s.sku.clone());
        let next_cursor = if exhausted && !cut {
            None
        } else {
            match last {
                Some(s) => Some(Cursor::Sku { s }.encode()),
                // Out of rounds before any match: resume after what was read.
                None => {
                    lo = start
                        .as_ref()
                        .and_then(|k| k.get(keys::INDEX_SORT))
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or(lo);
                    Some(Cursor::Sku { s: lo }.encode())
                }
            }
        };
        Ok(Page {
            items: rows,
            next_cursor,
            order: "sku",
        })
    }
}
