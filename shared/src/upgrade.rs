//! Upgrades that carry old data along: a versioned, idempotent, resumable backfill that brings
//! the items earlier releases wrote up to what this release's indexes and reports need. The
//! deploy runs it (the `upgrade` function, invoked until it answers `complete`); the local stack
//! runs it at start.
//!
//! Data versions (a run applies, in one scan, every step above the table's version):
//!
//! 1. **Indexes of the first releases.** A level gets its shard of the `levels` index
//!    (`lvl_shard`, set only when a movement created the level: without it the alert clock's
//!    sweep, the reports, replenishment and reconciliation never see the level) and its stock
//!    listing entry (`STK#<sku>#<location>`, band of its availability: without it the listing by
//!    location or availability misses it); a receipt's or transfer's arrival ledger entry gets its
//!    place in the `receipts` index (without it the report cannot date the stock: unknown age); a
//!    SKU entry gets its search text (and the SKU list's keys if it lacks them).
//! 2. **The alerts-by-day index.** An alert gets its keys of the `alert_days` index (`ad_pk`,
//!    `ad_sk`, from when it fired): the daily report reads a day's alerts there, and no longer
//!    from `gsi1`, which holds rules and SKUs too.
//!
//! How a run goes: a parallel Scan of the table in [`SEGMENTS`] segments, a page at a time,
//! returning only the items a step may change. Each fix is a conditional write that changes
//! nothing already right (a level's shard only where it has none, a listing entry only where none
//! is as new, a receipt's index keys only where absent), so a second run, or two runs at once,
//! write nothing twice. After a page's fixes the segment's cursor is saved (`UPGRADE` / `META`);
//! a run that stops (its budget spent, or killed midway) resumes after the last saved page and
//! redoes at most one page per segment. When every segment is done the table's version moves to
//! the target. A table already at [`CURRENT`] costs one read.

use std::{
    collections::{BTreeMap, HashSet},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::{
    clock::Clock,
    levels::batch_get,
    listing,
    schema::{decode, entity, keys, search_text, Item, Stored, UpgradeItem, UpgradeSegment},
    store::{get_n, get_s, n, s, unless_condition_failed, Store, StoreError},
};

/// The data version this release needs.
pub const CURRENT: i64 = 2;
/// Scan segments of a run (fixed for a run: its cursors are per segment).
pub const SEGMENTS: usize = 8;
/// Items a scan page evaluates (DynamoDB stops sooner at 1 MB).
const PAGE: i32 = 1000;
/// Fixes written side by side within a page.
const WRITES_AT_ONCE: usize = 16;

/// How much one run may do before it saves where it is and answers: `complete: false`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// Scan pages, over every segment.
    pub pages: Option<usize>,
    /// No page starts after this.
    pub until: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Self::default()
    }
    pub fn pages(pages: usize) -> Self {
        Self {
            pages: Some(pages),
            until: None,
        }
    }
    pub fn time(run: Duration) -> Self {
        Self {
            pages: None,
            until: Some(Instant::now() + run),
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpgradeReport {
    /// The table's data version when the run began, and when it ended.
    pub from_version: i64,
    pub version: i64,
    /// Every item is at [`CURRENT`].
    pub complete: bool,
    /// Scan pages read, and the items they returned (only those a step may change).
    pub pages: usize,
    pub items: usize,
    /// Fixes written.
    pub levels_sharded: usize,
    pub levels_listed: usize,
    pub receipts_indexed: usize,
    pub skus_indexed: usize,
    pub alerts_indexed: usize,
}

impl UpgradeReport {
    fn add(&mut self, other: &Self) {
        self.pages += other.pages;
        self.items += other.items;
        self.levels_sharded += other.levels_sharded;
        self.levels_listed += other.levels_listed;
        self.receipts_indexed += other.receipts_indexed;
        self.skus_indexed += other.skus_indexed;
        self.alerts_indexed += other.alerts_indexed;
    }
}

/// One fix a page needs, and the count it adds to.
enum Fix {
    Shard(Item),
    List(Item),
    Receipt(Item),
    Sku(Item),
    Alert(Item),
}

/// Runs the data upgrade.
#[derive(Debug, Clone)]
pub struct Upgrader {
    store: Store,
    clock: Clock,
}

impl Upgrader {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// The upgrade's progress, if a run ever began.
    pub async fn state(&self) -> Result<Option<UpgradeItem>, StoreError> {
        let out = self
            .store
            .client()
            .get_item()
            .table_name(self.store.table())
            .set_key(Some(keys::key(keys::UPGRADE, keys::META)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item
            .map(|item| decode::<UpgradeItem>(entity::UPGRADE, &item))
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// Brings the table's data to [`CURRENT`], or as far as `budget` allows (run again to go on).
    pub async fn run(&self, budget: Budget) -> Result<UpgradeReport, StoreError> {
        let state = self.begin().await?;
        let mut report = UpgradeReport {
            from_version: state.version,
            version: state.version,
            ..Default::default()
        };
        if state.version >= CURRENT {
            report.complete = true;
            return Ok(report);
        }
        let pages = AtomicUsize::new(0);
        let todo: Vec<(usize, UpgradeSegment)> = state
            .segments
            .iter()
            .filter(|(_, seg)| !seg.done)
            .filter_map(|(k, seg)| Some((k.parse().ok()?, seg.clone())))
            .collect();
        let total = state.segments.len();
        let results: Vec<Result<(UpgradeReport, bool), StoreError>> = stream::iter(todo)
            .map(|(segment, progress)| {
                self.segment(state.version, (segment, total), progress, &budget, &pages)
            })
            .buffer_unordered(SEGMENTS)
            .collect()
            .await;
        let mut all_done = true;
        for result in results {
            let (tally, done) = result?;
            report.add(&tally);
            all_done &= done;
        }
        if all_done {
            self.finish().await?;
            report.version = CURRENT;
            report.complete = true;
        }
        Ok(report)
    }

    /// The run's state: the table's, or a new run toward [`CURRENT`] (every segment unstarted).
    async fn begin(&self) -> Result<UpgradeItem, StoreError> {
        for _ in 0..3 {
            let old = self.state().await?;
            if let Some(state) = &old {
                if state.version >= CURRENT || state.target == CURRENT {
                    return Ok(state.clone());
                }
            }
            let now = self.clock.rfc3339();
            let fresh = UpgradeItem {
                version: old.as_ref().map_or(0, |o| o.version),
                target: CURRENT,
                segments: (0..SEGMENTS)
                    .map(|k| (k.to_string(), UpgradeSegment::default()))
                    .collect(),
                started_at: now.clone(),
                updated_at: now,
            };
            let put = self
                .store
                .client()
                .put_item()
                .table_name(self.store.table())
                .set_item(Some(fresh.to_item()))
                .condition_expression("attribute_not_exists(pk) OR #t < :t")
                .expression_attribute_names("#t", "target")
                .expression_attribute_values(":t", n(CURRENT))
                .send()
                .await;
            if unless_condition_failed(put)?.is_some() {
                return Ok(fresh);
            }
            // Another run began it first: read its state.
        }
        Err(StoreError::Busy(
            "the upgrade's state keeps changing".into(),
        ))
    }

    /// One segment from its cursor, page by page, while the budget lasts. Returns what it fixed
    /// and whether the segment is done.
    async fn segment(
        &self,
        from: i64,
        (segment, total): (usize, usize),
        mut progress: UpgradeSegment,
        budget: &Budget,
        pages: &AtomicUsize,
    ) -> Result<(UpgradeReport, bool), StoreError> {
        let mut tally = UpgradeReport::default();
        loop {
            let spent = budget
                .pages
                .is_some_and(|max| pages.fetch_add(1, Ordering::SeqCst) >= max);
            if spent || budget.until.is_some_and(|t| Instant::now() >= t) {
                return Ok((tally, false));
            }
            let out = self
                .scan(from, segment, total, progress.cursor.as_ref())
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            let items = out.items.unwrap_or_default();
            tally.pages += 1;
            tally.items += items.len();
            self.fix(from, items, &mut tally).await?;
            progress.pages += 1;
            progress.cursor = out.last_evaluated_key.map(|key| {
                key.into_iter()
                    .filter_map(|(k, v)| Some((k, v.as_s().ok()?.clone())))
                    .collect()
            });
            progress.done = progress.cursor.is_none();
            self.save(segment, &progress).await?;
            if progress.done {
                return Ok((tally, true));
            }
        }
    }

    /// One page of a segment: only the items a step above version `from` may change.
    fn scan(
        &self,
        from: i64,
        segment: usize,
        total: usize,
        cursor: Option<&BTreeMap<String, String>>,
    ) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder {
        let start = cursor.map(|c| c.iter().map(|(k, v)| (k.clone(), s(v))).collect());
        // Each step's candidates, with the names and values its clause uses.
        let mut clauses = Vec::new();
        let mut names = vec![("#e", "entity")];
        let mut values = Vec::new();
        if from < 1 {
            clauses.push(
                "#e = :level \
                 OR (#e = :sku AND (attribute_not_exists(#search) OR attribute_not_exists(#gp))) \
                 OR (#e = :entry AND (#k = :receipt OR #k = :arrival) \
                     AND attribute_not_exists(#rp))",
            );
            names.extend([
                ("#k", "kind"),
                ("#search", "search"),
                ("#gp", keys::INDEX_PARTITION),
                ("#rp", keys::RECEIPT_PARTITION_ATTRIBUTE),
            ]);
            values.extend([
                (":level", entity::STOCK_LEVEL),
                (":sku", entity::SKU),
                (":entry", entity::LEDGER_ENTRY),
                (":receipt", "receipt"),
                (":arrival", "transfer_in"),
            ]);
        }
        if from < 2 {
            clauses.push("(#e = :alert AND attribute_not_exists(#ap))");
            names.push(("#ap", keys::ALERT_DAY_PARTITION_ATTRIBUTE));
            values.push((":alert", entity::ALERT));
        }
        let mut scan = self
            .store
            .client()
            .scan()
            .table_name(self.store.table())
            .segment(segment as i32)
            .total_segments(total as i32)
            .limit(PAGE)
            .set_exclusive_start_key(start)
            .filter_expression(clauses.join(" OR "))
            // What the fixes read (a name no clause uses is still needed here).
            .projection_expression(
                "pk, sk, #e, #sku, #loc, #name, #kind, #v, #av, #ix, #txt, #gpk, #gsk, #rpk, \
                 #apk, #aid, #fa",
            )
            .expression_attribute_names("#sku", "sku")
            .expression_attribute_names("#loc", "location")
            .expression_attribute_names("#name", "name")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#av", "available")
            .expression_attribute_names("#ix", keys::LEVEL_SHARD_ATTRIBUTE)
            .expression_attribute_names("#txt", "search")
            .expression_attribute_names("#gpk", keys::INDEX_PARTITION)
            .expression_attribute_names("#gsk", keys::INDEX_SORT)
            .expression_attribute_names("#rpk", keys::RECEIPT_PARTITION_ATTRIBUTE)
            .expression_attribute_names("#apk", keys::ALERT_DAY_PARTITION_ATTRIBUTE)
            .expression_attribute_names("#aid", "alert_id")
            .expression_attribute_names("#fa", "fired_at");
        for (name, attribute) in names {
            scan = scan.expression_attribute_names(name, attribute);
        }
        for (value, text) in values {
            scan = scan.expression_attribute_values(value, s(text));
        }
        scan
    }

    /// What a page's items need (the steps above version `from`), written side by side.
    async fn fix(
        &self,
        from: i64,
        items: Vec<Item>,
        tally: &mut UpgradeReport,
    ) -> Result<(), StoreError> {
        let mut fixes = Vec::new();
        let mut levels = Vec::new();
        for item in items {
            match get_s(&item, "entity") {
                Some(entity::STOCK_LEVEL) if from < 1 => {
                    if !item.contains_key(keys::LEVEL_SHARD_ATTRIBUTE) {
                        fixes.push(Fix::Shard(item.clone()));
                    }
                    levels.push(item);
                }
                Some(entity::SKU) if from < 1 => fixes.push(Fix::Sku(item)),
                Some(entity::LEDGER_ENTRY) if from < 1 => fixes.push(Fix::Receipt(item)),
                Some(entity::ALERT) if from < 2 => fixes.push(Fix::Alert(item)),
                _ => {}
            }
        }
        fixes.extend(self.unlisted(levels).await?.into_iter().map(Fix::List));
        let written: Vec<Option<&'static str>> = stream::iter(fixes)
            .map(|fix| self.write(fix))
            .buffer_unordered(WRITES_AT_ONCE)
            .try_collect()
            .await?;
        for what in written.into_iter().flatten() {
            match what {
                "shard" => tally.levels_sharded += 1,
                "listing" => tally.levels_listed += 1,
                "receipt" => tally.receipts_indexed += 1,
                "alert" => tally.alerts_indexed += 1,
                _ => tally.skus_indexed += 1,
            }
        }
        Ok(())
    }

    /// The levels among `levels` that have no listing entry.
    async fn unlisted(&self, levels: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let entry_of = |level: &Item| {
            Some(keys::listing_entry(
                get_s(level, "sku")?,
                get_s(level, "location")?,
            ))
        };
        let mut listed = HashSet::new();
        for chunk in levels.chunks(100) {
            let wanted = chunk
                .iter()
                .filter_map(entry_of)
                .map(|pk| keys::key(pk, keys::META))
                .collect();
            for entry in batch_get(self.store.client(), self.store.table(), wanted).await? {
                if let Some((pk, _)) = keys::of(&entry) {
                    listed.insert(pk.to_owned());
                }
            }
        }
        Ok(levels
            .into_iter()
            .filter(|level| entry_of(level).is_some_and(|pk| !listed.contains(&pk)))
            .collect())
    }

    /// Writes one fix unless the item is right already; names the count it adds to.
    async fn write(&self, fix: Fix) -> Result<Option<&'static str>, StoreError> {
        let client = self.store.client();
        let table = self.store.table();
        let (written, what) = match fix {
            Fix::Shard(level) => {
                let (Some(key), Some(sku), Some(location)) = (
                    keys::key_of(&level),
                    get_s(&level, "sku"),
                    get_s(&level, "location"),
                ) else {
                    return Ok(None);
                };
                let shard = keys::level_shard(sku, location);
                (
                    self.fill(key, &[(keys::LEVEL_SHARD_ATTRIBUTE, shard)])
                        .await?,
                    "shard",
                )
            }
            Fix::List(level) => {
                let (Some(sku), Some(location), Some(version)) = (
                    get_s(&level, "sku"),
                    get_s(&level, "location"),
                    get_n(&level, "version"),
                ) else {
                    return Ok(None);
                };
                let available = get_n(&level, "available").unwrap_or(0);
                // As the stream projector writes it: never over a newer change's entry.
                let result = client
                    .put_item()
                    .table_name(table)
                    .set_item(Some(listing::entry_item(sku, location, version, available)))
                    .condition_expression("attribute_not_exists(version) OR version < :v")
                    .expression_attribute_values(":v", n(version))
                    .send()
                    .await;
                (unless_condition_failed(result)?.is_some(), "listing")
            }
            Fix::Receipt(entry) => {
                let (Some((pk, sk)), Some(sku), Some(location)) = (
                    keys::of(&entry),
                    get_s(&entry, "sku"),
                    get_s(&entry, "location"),
                ) else {
                    return Ok(None);
                };
                // The entry's sort key is the receipts index's sort key (time, movement, line).
                let attributes = [
                    (
                        keys::RECEIPT_PARTITION_ATTRIBUTE,
                        keys::receipts(sku, location),
                    ),
                    (keys::RECEIPT_SORT_ATTRIBUTE, sk.to_owned()),
                ];
                let written = self.fill(keys::key(pk, sk), &attributes).await?;
                (written, "receipt")
            }
            Fix::Sku(item) => {
                let (Some(key), Some(sku)) = (keys::key_of(&item), get_s(&item, "sku")) else {
                    return Ok(None);
                };
                let name = get_s(&item, "name").unwrap_or_default();
                // A PUT since the scan wrote its own search text: kept.
                let result = client
                    .update_item()
                    .table_name(table)
                    .set_key(Some(key))
                    .update_expression(
                        "SET #search = if_not_exists(#search, :search), \
                         #gp = if_not_exists(#gp, :list), #gs = if_not_exists(#gs, :sku)",
                    )
                    .condition_expression(
                        "attribute_exists(pk) AND \
                         (attribute_not_exists(#search) OR attribute_not_exists(#gp))",
                    )
                    .expression_attribute_names("#search", "search")
                    .expression_attribute_names("#gp", keys::INDEX_PARTITION)
                    .expression_attribute_names("#gs", keys::INDEX_SORT)
                    .expression_attribute_values(":search", s(search_text(sku, name)))
                    .expression_attribute_values(":list", s(keys::SKU_LIST))
                    .expression_attribute_values(":sku", s(sku))
                    .send()
                    .await;
                (unless_condition_failed(result)?.is_some(), "sku")
            }
            Fix::Alert(alert) => {
                let (Some(key), Some(alert_id), Some(fired_at)) = (
                    keys::key_of(&alert),
                    get_s(&alert, "alert_id"),
                    get_s(&alert, "fired_at"),
                ) else {
                    return Ok(None);
                };
                let attributes = [
                    (
                        keys::ALERT_DAY_PARTITION_ATTRIBUTE,
                        keys::alert_day(fired_at),
                    ),
                    (
                        keys::ALERT_DAY_SORT_ATTRIBUTE,
                        keys::alert_day_sort(fired_at, alert_id),
                    ),
                ];
                (self.fill(key, &attributes).await?, "alert")
            }
        };
        Ok(written.then_some(what))
    }

    /// Sets `attributes` (index keys, all missing together) on the item at `key`, if it still
    /// exists and the first of them is still missing. Whether it wrote.
    async fn fill(&self, key: Item, attributes: &[(&str, String)]) -> Result<bool, StoreError> {
        let mut update = self
            .store
            .client()
            .update_item()
            .table_name(self.store.table())
            .set_key(Some(key))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(#a0)");
        let mut set = Vec::new();
        for (i, (name, value)) in attributes.iter().enumerate() {
            update = update
                .expression_attribute_names(format!("#a{i}"), *name)
                .expression_attribute_values(format!(":a{i}"), s(value));
            set.push(format!("#a{i} = :a{i}"));
        }
        let result = update
            .update_expression(format!("SET {}", set.join(", ")))
            .send()
            .await;
        Ok(unless_condition_failed(result)?.is_some())
    }

    /// Saves a segment's progress (never behind what another run saved).
    async fn save(&self, segment: usize, progress: &UpgradeSegment) -> Result<(), StoreError> {
        let value = serde_dynamo::to_attribute_value(progress)
            .map_err(|e| StoreError::Failed(format!("upgrade progress: {e}")))?;
        let result = self
            .store
            .client()
            .update_item()
            .table_name(self.store.table())
            .set_key(Some(keys::key(keys::UPGRADE, keys::META)))
            .update_expression("SET #segs.#seg = :progress, #u = :now")
            .condition_expression("#t = :t AND #segs.#seg.#pages < :pages")
            .expression_attribute_names("#segs", "segments")
            .expression_attribute_names("#seg", segment.to_string())
            .expression_attribute_names("#pages", "pages")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_names("#t", "target")
            .expression_attribute_values(":progress", value)
            .expression_attribute_values(":pages", n(progress.pages))
            .expression_attribute_values(":now", s(self.clock.rfc3339()))
            .expression_attribute_values(":t", n(CURRENT))
            .send()
            .await;
        // Not written: another run is further along this segment.
        unless_condition_failed(result)?;
        Ok(())
    }

    /// Every segment is done: the table is at the target.
    async fn finish(&self) -> Result<(), StoreError> {
        let result = self
            .store
            .client()
            .update_item()
            .table_name(self.store.table())
            .set_key(Some(keys::key(keys::UPGRADE, keys::META)))
            .update_expression("SET #v = :t, #u = :now")
            .condition_expression("#t = :t")
            .expression_attribute_names("#v", "version")
            .expression_attribute_names("#t", "target")
            .expression_attribute_names("#u", "updated_at")
            .expression_attribute_values(":t", n(CURRENT))
            .expression_attribute_values(":now", s(self.clock.rfc3339()))
            .send()
            .await;
        unless_condition_failed(result)?;
        Ok(())
    }
}
