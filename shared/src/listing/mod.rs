//! The stock listing at catalogue scale (`GET /v1/levels`): every filter answered from an index
//! made for it, never a Scan, in a few DynamoDB requests per page.
//!
//! Two plans:
//! - **By availability** (a `location`, `available_max` or `below_threshold` filter): the
//!   keys-only `stock` index holds one small listing entry per level (`STK#<sku>#<location>`),
//!   partitioned by location (`STOCK#<location>`) and sorted by availability band, then SKU
//!   (`<band>#<sku>`, bands 0, 1, 2–3, 4–7, … of `available`). "At or below N" reads the bands up
//!   to N's and nothing above; rows come lowest band first. The stream projector writes an entry
//!   when a level is created and again only when its band changes, so a sale writes nothing to
//!   the index unless it crosses a power of two (and the sale's own write is unchanged).
//! - **By SKU** (otherwise: none, a SKU prefix, an attribute, a text search): the SKU list
//!   (`gsi1`, `SKUS`, in id order) with the attribute and text filters applied by DynamoDB
//!   (`FilterExpression`), then the levels of the SKUs found.
//!
//! Either way the levels and SKU entries of a page are read with `BatchGetItem` (up to 100 keys a
//! request), every filter is applied exactly to what was read (an entry's band may lag its level
//! by the stream's delay; a row is shown only if its level, as read, passes), and the cursor
//! resumes after the last level or SKU examined.

mod by_sku;

use self::by_sku::*;

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_sdk_dynamodb::{types::AttributeValue, Client};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use serde::{Deserialize, Serialize};

use crate::{
    alerts::rules::{Condition, Rule},
    domain::Quantities,
    schema::{entity, keys, Item, LevelItem, SkuItem},
    store::StoreError,
};

/// Rows per page by default, and at most (a CSV export page may be larger).
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 100;
pub const MAX_EXPORT_LIMIT: usize = 1000;
/// Index or SKU-list requests one page may make before it answers with what it has (and a
/// cursor): a page's cost is bounded even when a filter matches little.
const MAX_ROUNDS: usize = 12;
/// Keys read from the index per request, per location.
const INDEX_PAGE: i32 = 200;
/// SKU entries DynamoDB evaluates per filtered SKU-list request (before the filter; about 1 MB,
/// DynamoDB's own page), so a rare text is looked for through about 48,000 SKUs a page.
const SKU_PAGE: i32 = 4000;
/// Level keys the by-SKU plan reads for one page at most (SKUs × locations).
const MAX_LEVEL_KEYS: usize = 5000;

/// The availability band of a quantity: 0 for none (or less), else 1 + ⌊log2 n⌋ (1; 2–3; 4–7; …).
pub fn band(available: i64) -> u32 {
    if available <= 0 {
        0
    } else {
        64 - (available as u64).leading_zeros()
    }
}

/// The sort key of a level's listing entry: its band (two digits), then its SKU.
pub fn entry_sort(band: u32, sku: &str) -> String {
    format!("{band:02}#{sku}")
}

/// Above every band's sort keys (`~` sorts after every character a SKU id may hold).
fn band_ceiling(band: u32) -> String {
    format!("{band:02}#~")
}

/// Just after `sort` and before anything else that sorts after it (SKU ids hold no character
/// below `-`).
fn just_after(sort: &str) -> String {
    format!("{sort}\u{1}")
}

/// The listing entry of the level of `sku` at `location`, at `version` with `available`.
pub fn entry_item(sku: &str, location: &str, version: i64, available: i64) -> Item {
    let s = |v: String| AttributeValue::S(v);
    keys::item(
        keys::listing_entry(sku, location),
        keys::META,
        [
            ("entity", s(entity::LISTING_ENTRY.to_owned())),
            (
                keys::STOCK_PARTITION_ATTRIBUTE,
                s(keys::stock_partition(location)),
            ),
            (
                keys::STOCK_SORT_ATTRIBUTE,
                s(entry_sort(band(available), sku)),
            ),
            ("version", AttributeValue::N(version.to_string())),
        ],
    )
}

/// Writes the listing entry of a level after a change, if the level is new or its band moved
/// (`old`: its quantities before; None for a new level). Conditional on the version, so a
/// redelivered or older record never moves an entry back. Returns whether it wrote.
pub async fn index_level(
    client: &Client,
    table: &str,
    sku: &str,
    location: &str,
    version: i64,
    new: &Quantities,
    old: Option<&Quantities>,
) -> Result<bool, StoreError> {
    let now = band(new.available);
    if old.is_some_and(|o| band(o.available) == now) {
        return Ok(false);
    }
    let result = client
        .put_item()
        .table_name(table)
        .set_item(Some(entry_item(sku, location, version, new.available)))
        .condition_expression("attribute_not_exists(version) OR version < :v")
        .expression_attribute_values(":v", AttributeValue::N(version.to_string()))
        .send()
        .await;
    // None: a newer change wrote it already.
    Ok(crate::store::unless_condition_failed(result)?.is_some())
}

/// What `GET /v1/levels` filters on; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub location: Option<String>,
    /// available ≤ this.
    pub available_max: Option<i64>,
    /// available ≤ the threshold of an enabled low-stock or out-of-stock rule that selects the
    /// level.
    pub below_threshold: bool,
    pub sku_prefix: Option<String>,
    /// A catalogue attribute's exact value.
    pub attribute: Option<(String, String)>,
    /// A case-insensitive substring of the SKU id or its name (lower case here).
    pub text: Option<String>,
    /// The text as the caller typed it.
    pub text_as_typed: Option<String>,
}

impl Filter {
    fn by_availability(&self) -> bool {
        self.location.is_some() || self.available_max.is_some() || self.below_threshold
    }
}

/// One row: a level with its SKU's name, or a SKU that has no level yet (by-SKU plan only;
/// `location` and the quantities absent).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub sku: String,
    pub name: String,
    pub location: Option<String>,
    #[serde(flatten)]
    pub quantities: Option<Quantities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The highest threshold at which an enabled low-stock (or out-of-stock: 0) rule fires for
    /// this level; null when none selects it.
    pub alert_threshold: Option<i64>,
    /// available ≤ alert_threshold.
    pub below_threshold: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub items: Vec<Row>,
    pub next_cursor: Option<String>,
    /// Which plan answered (`availability` or `sku`): the order of the rows.
    pub order: &'static str,
}

/// Where a page resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "p")]
enum Cursor {
    /// After this listing entry (sort key, location) in the merged order of the locations.
    #[serde(rename = "a")]
    Availability { s: String, l: String },
    /// After this SKU.
    #[serde(rename = "k")]
    Sku { s: String },
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Result<Self, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::InvalidCursor)?;
        let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
        let ok = |s: &str| !s.is_empty() && s.len() <= 200 && !s.contains('\u{1}');
        match &c {
            Cursor::Availability { s, l } if ok(s) && ok(l) => Ok(c),
            Cursor::Sku { s } if ok(s) => Ok(c),
            _ => Err(StoreError::InvalidCursor),
        }
    }
}

/// The enabled rules that set a stock threshold, and the threshold each sets.
fn stock_threshold(rule: &Rule) -> Option<i64> {
    if !rule.enabled {
        return None;
    }
    match rule.condition {
        Condition::LowStock { threshold, .. } => Some(threshold),
        Condition::OutOfStock { .. } => Some(0),
        _ => None,
    }
}

/// The highest threshold of `rules` that selects this level (None: no rule does).
fn threshold_for(rules: &[Rule], sku: &SkuItem, location: &str) -> Option<i64> {
    rules
        .iter()
        .filter_map(|r| {
            let t = stock_threshold(r)?;
            r.selector
                .selects(&sku.sku, location, Some(&sku.attributes))
                .then_some(t)
        })
        .max()
}

pub use crate::schema::search_text;

fn sku_matches(filter: &Filter, sku: &SkuItem) -> bool {
    filter
        .sku_prefix
        .as_deref()
        .is_none_or(|p| sku.sku.starts_with(p))
        && filter
            .attribute
            .as_ref()
            .is_none_or(|(k, v)| sku.attributes.get(k) == Some(v))
        && filter
            .text
            .as_deref()
            .is_none_or(|q| search_text(&sku.sku, &sku.name).contains(q))
}

/// The listing over one table.
pub struct Listing<'a> {
    pub client: &'a Client,
    pub table: &'a str,
    /// Every location id (the by-availability plan reads each one's partition; the by-SKU plan
    /// reads each SKU's level at each).
    pub locations: &'a [String],
    /// Every rule (those that set a stock threshold are used).
    pub rules: &'a [Rule],
}

impl Listing<'_> {
    /// One page of rows.
    pub async fn page(
        &self,
        filter: &Filter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let cursor = cursor.map(Cursor::decode).transpose()?;
        if filter.by_availability() {
            match cursor {
                None | Some(Cursor::Availability { .. }) => {
                    self.by_availability(filter, limit, cursor).await
                }
                Some(_) => Err(StoreError::InvalidCursor),
            }
        } else {
            match cursor {
                None | Some(Cursor::Sku { .. }) => self.by_sku(filter, limit, cursor).await,
                Some(_) => Err(StoreError::InvalidCursor),
            }
        }
    }

    /// The highest band a page must read (None: every band).
    fn top_band(&self, filter: &Filter) -> Option<Option<u32>> {
        let mut cap: Option<i64> = filter.available_max;
        if filter.below_threshold {
            let t = self.rules.iter().filter_map(stock_threshold).max()?;
            cap = Some(cap.map_or(t, |c| c.min(t)));
        }
        Some(cap.map(band))
    }

    async fn by_availability(
        &self,
        filter: &Filter,
        limit: usize,
        cursor: Option<Cursor>,
    ) -> Result<Page, StoreError> {
        let done = |items| Page {
            items,
            next_cursor: None,
            order: "availability",
        };
        // No enabled stock rule: nothing is below a threshold.
        let Some(top) = self.top_band(filter) else {
            return Ok(done(Vec::new()));
        };
        if filter.available_max.is_some_and(|m| m < 0) {
            return Ok(done(Vec::new()));
        }
        let ceiling = band_ceiling(top.unwrap_or(99));
        let locations: Vec<&String> = match &filter.location {
            Some(l) => self.locations.iter().filter(|x| *x == l).collect(),
            None => self.locations.iter().collect(),
        };
        // One stream of entries per location, merged by (sort key, location).
        let mut streams: Vec<EntryStream> = locations
            .into_iter()
            .map(|location| {
                let from = match &cursor {
                    Some(Cursor::Availability { s, l }) if location.as_str() > l.as_str() => {
                        s.clone()
                    }
                    Some(Cursor::Availability { s, .. }) => just_after(s),
                    // The lowest sort key there is (DynamoDB takes no empty key value).
                    _ => entry_sort(0, ""),
                };
                EntryStream {
                    location: location.clone(),
                    from,
                    start: None,
                    buffer: std::collections::VecDeque::new(),
                    exhausted: false,
                }
            })
            .collect();
        let mut rows = Vec::new();
        let mut last: Option<(String, String)> = None;
        let mut skus: HashMap<String, Option<SkuItem>> = HashMap::new();
        // Entries taken from the streams but not examined (the page filled first).
        let mut left_over = false;
        let mut rounds = 0;
        loop {
            // Refill every stream that ran dry, so the merge below stays in order.
            for st in streams
                .iter_mut()
                .filter(|s| s.buffer.is_empty() && !s.exhausted)
            {
                st.fill(self.client, self.table, &ceiling).await?;
            }
            // The next entries in order, as many as the page still needs (at most 100; the
            // filters that drop some take further rounds), stopping where a stream must be read
            // again.
            let want = (limit - rows.len()).clamp(1, 100);
            let mut batch: Vec<(String, String)> = Vec::new();
            while batch.len() < want {
                let next = streams
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        s.buffer
                            .front()
                            .map(|e| (e.as_str(), s.location.as_str(), i))
                    })
                    .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
                let Some((_, _, i)) = next else { break };
                let st = &mut streams[i];
                let sort = st.buffer.pop_front().unwrap_or_default();
                batch.push((sort, st.location.clone()));
                if st.buffer.is_empty() && !st.exhausted {
                    break;
                }
            }
            if batch.is_empty() {
                break;
            }
            // (sort key, location, SKU); the SKU prefix needs no read.
            let candidates: Vec<(String, String, String)> = batch
                .into_iter()
                .map(|(sort, location)| {
                    let sku = sort.get(3..).unwrap_or_default().to_owned();
                    (sort, location, sku)
                })
                .collect();
            let wanted = candidates.iter().filter(|(_, _, sku)| {
                filter
                    .sku_prefix
                    .as_deref()
                    .is_none_or(|p| sku.starts_with(p))
            });
            let levels = self
                .read(wanted.map(|(_, l, s)| (s.as_str(), l.as_str())), &mut skus)
                .await?;
            for (n, (sort, location, sku)) in candidates.iter().enumerate() {
                if rows.len() >= limit {
                    left_over = n < candidates.len();
                    break;
                }
                last = Some((sort.clone(), location.clone()));
                let Some(level) = levels.get(&(sku.clone(), location.clone())) else {
                    continue;
                };
                let Some(Some(entry)) = skus.get(sku) else {
                    continue;
                };
                if let Some(row) = self.row(filter, entry, level) {
                    rows.push(row);
                }
            }
            rounds += 1;
            if rows.len() >= limit || rounds >= MAX_ROUNDS {
                break;
            }
        }
        let more = left_over || streams.iter().any(|s| !s.buffer.is_empty() || !s.exhausted);
        let next_cursor = match (more, last) {
            (true, Some((s, l))) => Some(Cursor::Availability { s, l }.encode()),
            _ => None,
        };
        Ok(Page {
            items: rows,
            next_cursor,
            order: "availability",
        })
    }

    /// A level's row, if every filter holds for it as read.
    fn row(&self, filter: &Filter, sku: &SkuItem, level: &LevelItem) -> Option<Row> {
        if !sku_matches(filter, sku) {
            return None;
        }
        let q: Quantities = level.quantities.into();
        if filter.available_max.is_some_and(|m| q.available > m) {
            return None;
        }
        if filter
            .location
            .as_ref()
            .is_some_and(|l| *l != level.location)
        {
            return None;
        }
        let threshold = threshold_for(self.rules, sku, &level.location);
        let below = threshold.is_some_and(|t| q.available <= t);
        if filter.below_threshold && !below {
            return None;
        }
        Some(Row {
            sku: sku.sku.clone(),
            name: sku.name.clone(),
            location: Some(level.location.clone()),
            quantities: Some(q),
            updated_at: Some(level.updated_at.clone()),
            alert_threshold: threshold,
            below_threshold: below,
        })
    }

    /// Reads the levels at (sku, location) and the SKU entries not read yet (into `skus`),
    /// 100 keys a request.
    async fn read<'k>(
        &self,
        wanted: impl Iterator<Item = (&'k str, &'k str)>,
        skus: &mut HashMap<String, Option<SkuItem>>,
    ) -> Result<HashMap<(String, String), LevelItem>, StoreError> {
        let mut keys_wanted: Vec<Item> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for (sku, location) in wanted {
            keys_wanted.push(keys::key(keys::sku(sku), keys::location(location)));
            if !skus.contains_key(sku) && seen.insert(sku.to_owned()) {
                keys_wanted.push(keys::key(keys::sku(sku), keys::META));
                skus.insert(sku.to_owned(), None);
            }
        }
        let mut levels = HashMap::new();
        for chunk in keys_wanted.chunks(crate::levels::BATCH) {
            for item in crate::levels::batch_get(self.client, self.table, chunk.to_vec()).await? {
                match item
                    .get("entity")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                {
                    Some(entity::SKU) => {
                        let s: SkuItem = crate::schema::decode(entity::SKU, &item)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        skus.insert(s.sku.clone(), Some(s));
                    }
                    Some(entity::STOCK_LEVEL) => {
                        let l: LevelItem = crate::schema::decode(entity::STOCK_LEVEL, &item)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                        levels.insert((l.sku.clone(), l.location.clone()), l);
                    }
                    _ => {}
                }
            }
        }
        Ok(levels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_double_and_sort_as_text() {
        let bands: Vec<u32> = [-3, 0, 1, 2, 3, 4, 7, 8, 1_000_000_000]
            .into_iter()
            .map(band)
            .collect();
        assert_eq!(bands, vec![0, 0, 1, 2, 2, 3, 3, 4, 30]);
        // Text order is band order, then SKU order.
        let mut keys = vec![
            entry_sort(band(9), "A"),
            entry_sort(band(0), "Z"),
            entry_sort(band(1), "B"),
            entry_sort(band(1), "A-1"),
        ];
        keys.sort();
        assert_eq!(keys, vec!["00#Z", "01#A-1", "01#B", "04#A"]);
        assert!(band_ceiling(1).as_str() > "01#zzzz" && band_ceiling(1).as_str() < "02#");
        assert!(just_after("01#A").as_str() < "01#A-");
        assert!(just_after("01#A").as_str() > "01#A");
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let c = Cursor::Availability {
            s: "01#A".into(),
            l: "WH1".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let k = Cursor::Sku { s: "B".into() };
        assert_eq!(Cursor::decode(&k.encode()).unwrap(), k);
        for bad in [
            "",
            "x",
            "e30",
            &URL_SAFE_NO_PAD.encode(br#"{"p":"k","s":""}"#),
        ] {
            assert!(Cursor::decode(bad).is_err(), "{bad}");
        }
    }
}
