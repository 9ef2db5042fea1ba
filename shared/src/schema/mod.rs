//! The table's schema in one place: every entity type, every key builder, and a typed item for
//! each entity, read through `serde_dynamo`. A required attribute that is missing or of the wrong
//! type is an error ([`decode`]), never a silent 0 or "". (The alert evaluator's measured
//! stream-image decoder reads the level's attributes straight from the stream JSON; it follows
//! the same names.)

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::domain::{LocationKind, MovementKind, Quantities};

pub type Item = HashMap<String, AttributeValue>;

/// Entity types written to the `entity` attribute; the alert evaluator's stream filter selects
/// `stock_level` alone.
pub mod entity {
    pub const SKU: &str = "sku";
    pub const LOCATION: &str = "location";
    pub const STOCK_LEVEL: &str = "stock_level";
    pub const MOVEMENT: &str = "movement";
    pub const LEDGER_ENTRY: &str = "ledger_entry";
    pub const ORDER: &str = "order";
    pub const RULE: &str = "rule";
    pub const ALERT: &str = "alert";
    pub const TRACKER: &str = "alert_tracker";
    pub const SILENCE: &str = "silence";
    pub const CLOCK_CURSOR: &str = "clock_cursor";
    pub const LISTING_ENTRY: &str = "listing_entry";
    pub const IMPORT: &str = "stocktake_import";
    pub const IMPORT_CHUNK: &str = "stocktake_chunk";
    pub const RESERVATION: &str = "reservation";
    pub const FORECAST: &str = "forecast";
    pub const CHECKPOINT: &str = "reconciliation_checkpoint";
    pub const UPGRADE: &str = "data_upgrade";
    pub const BATCH_RUN: &str = "batch_run";
    pub const BATCH_TASK: &str = "batch_task";
}

/// Key builders: every key of the table is spelled here and nowhere else.
pub mod keys {
    use std::collections::HashMap;

    use aws_sdk_dynamodb::types::AttributeValue;

    /// Keys that are a prefix and one id (`SKU#<sku>`…): one line each.
    macro_rules! prefixed {
        ($($(#[$doc:meta])* $name:ident($arg:ident) => $prefix:literal;)*) => {
            $($(#[$doc])* pub fn $name($arg: &str) -> String {
                format!(concat!($prefix, "{}"), $arg)
            })*
        };
    }
    prefixed! {
        /// The stock listing's index partition of a location (`stk_pk`).
        stock_partition(location) => "STOCK#";
        /// A stocktake import's partition: the import (`META`), its lines and its failures.
        import(import_id) => "IMPORT#";
        /// A reservation (checkout hold): `RES#<id>` / `META`.
        reservation(reservation_id) => "RES#";
        /// The holds index's partition of a SKU (`hold_pk`).
        holds(sku) => "HOLDS#";
        /// A SKU's demand histories and forecasts, one item per location (`LOC#<location>`), apart
        /// from the SKU's partition so reading a SKU with its levels does not read them.
        forecast(sku) => "FCST#";
        /// A SKU's partition: its catalogue entry (`META`) and its levels (one per location).
        sku(sku) => "SKU#";
        /// A location: the partition of its entry, and the sort key of each level at it.
        location(location) => "LOC#";
        order(order) => "ORDER#";
        /// A movement's partition, from the caller and its idempotency key (a hash).
        movement(scope_hex) => "MOV#";
        /// The partition of a SKU's ledger entries.
        ledger(sku) => "LEDGER#";
        /// A SKU's reconciliation checkpoints, one per location (`LOC#<location>`): how far its
        /// ledger was proved to agree with its level.
        checkpoint(sku) => "RECON#";
        rule(rule_id) => "RULE#";
        alert(alert_id) => "ALERT#";
        /// A silence of `rule:<id>` or `sku:<sku>`.
        silence(target) => "SILENCE#";
    }

    /// The sort keys of an import's line chunks, `LINES#<request hash>#<chunk>` (the prefix of an
    /// upload's chunks is [`import_lines_prefix`]), and of its failure chunks.
    pub fn import_lines_prefix(request_hash: &str) -> String {
        format!("LINES#{}#", &request_hash[..12.min(request_hash.len())])
    }
    pub fn import_lines(request_hash: &str, chunk: usize) -> String {
        format!("{}{chunk:04}", import_lines_prefix(request_hash))
    }
    pub const IMPORT_FAILURES_PREFIX: &str = "FAILED#";
    pub fn import_failures(chunk: usize) -> String {
        format!("{IMPORT_FAILURES_PREFIX}{chunk:04}")
    }

    /// The sort key of every item that is alone in its partition.
    pub const META: &str = "META";
    /// Index partitions (`gsi1pk`) of the listings.
    pub const SKU_LIST: &str = "SKUS";
    pub const LOCATION_LIST: &str = "LOCATIONS";
    pub const RULE_LIST: &str = "RULES";
    pub const ALERT_LIST: &str = "ALERTS";
    pub const SILENCE_LIST: &str = "SILENCES";
    /// Trackers with an open episode or deliveries owed (what the alert clock walks).
    pub const EPISODE_LIST: &str = "EPISODES";

    /// The sparse, keys-only index of stock levels (`levels`): every level carries the partition
    /// `lvl_shard` = `LEVELS#nn`, one of [`LEVEL_SHARDS`], set when a movement creates it and
    /// never changed after, so stock changes cost the index nothing. Whoever must see every level
    /// (the alert clock's time-rule sweep) reads it shard by shard, never the ledger.
    pub const LEVEL_INDEX: &str = "levels";
    pub const LEVEL_SHARD_ATTRIBUTE: &str = "lvl_shard";
    pub const LEVEL_SHARDS: u32 = 60;

    /// The shard of the level of `sku` at `location`: a stable hash (FNV-1a), the same in every
    /// process and release.
    pub fn level_shard(sku: &str, location: &str) -> String {
        let bytes: Vec<u8> = sku.bytes().chain([0]).chain(location.bytes()).collect();
        level_shard_name(fnv1a(&bytes) % LEVEL_SHARDS)
    }
    pub fn level_shard_name(shard: u32) -> String {
        format!("LEVELS#{shard:02}")
    }

    /// The sparse index of receipts (`receipts`): a receipt's or a transfer's arrival ledger
    /// entry carries `rcpt_pk` = `RCPT#<sku>#<location>` and `rcpt_sk` = its time, so the daily
    /// report reads a level's receipts newest first (stock age, first in first out) without the
    /// rest of its SKU's ledger. Sales write nothing to it.
    pub const RECEIPT_INDEX: &str = "receipts";
    pub const RECEIPT_PARTITION_ATTRIBUTE: &str = "rcpt_pk";
    pub const RECEIPT_SORT_ATTRIBUTE: &str = "rcpt_sk";
    pub fn receipts(sku: &str, location: &str) -> String {
        format!("RCPT#{sku}#{location}")
    }
    /// The stock listing's index (`stock`, keys only, see [`crate::listing`]): one listing entry
    /// per level (`STK#<sku>#<location>`), written by the stream evaluator when the level is
    /// created and when its availability band changes, with `stk_pk` = `STOCK#<location>` and
    /// `stk_sk` = `<band>#<sku>`.
    pub const STOCK_INDEX: &str = "stock";
    pub const STOCK_PARTITION_ATTRIBUTE: &str = "stk_pk";
    pub const STOCK_SORT_ATTRIBUTE: &str = "stk_sk";
    pub fn listing_entry(sku: &str, location: &str) -> String {
        format!("STK#{sku}#{location}")
    }
    /// The index of active holds by expiry (`expiry`, see [`crate::reservations`]): an active
    /// reservation carries `exp_pk` = `HOLDEXP#nn` (one of [`EXPIRY_SHARDS`], from its id) and
    /// `exp_sk` = `<expiry in ms, 13 digits>#<id>`; both are removed when it closes, so the
    /// expiry sweep reads only what is still held.
    pub const EXPIRY_INDEX: &str = "expiry";
    pub const EXPIRY_PARTITION_ATTRIBUTE: &str = "exp_pk";
    pub const EXPIRY_SORT_ATTRIBUTE: &str = "exp_sk";
    pub const EXPIRY_SHARDS: u32 = 16;
    pub fn expiry_shard(reservation_id: &str) -> String {
        expiry_shard_name(fnv1a(reservation_id.as_bytes()) % EXPIRY_SHARDS)
    }
    pub fn expiry_shard_name(shard: u32) -> String {
        format!("HOLDEXP#{shard:02}")
    }
    pub fn expiry_sort(expires_ms: i64, reservation_id: &str) -> String {
        format!("{expires_ms:013}#{reservation_id}")
    }
    /// The index of a SKU's holds (`holds`, keys only): a hold's ledger entry carries `hold_pk`
    /// = `HOLDS#<sku>` and `hold_sk` = `<location>#<reservation id>` until the reservation
    /// closes (the stream evaluator removes them with the closing entry).
    pub const HOLD_INDEX: &str = "holds";
    pub const HOLD_PARTITION_ATTRIBUTE: &str = "hold_pk";
    pub const HOLD_SORT_ATTRIBUTE: &str = "hold_sk";
    pub fn hold_sort(location: &str, reservation_id: &str) -> String {
        format!("{location}#{reservation_id}")
    }

    /// The index of alerts by the day they fired (`alert_days`, see
    /// [`crate::schema::AlertDayItem`]): an alert carries `ad_pk` = `ALERTDAY#<YYYY-MM-DD>` and
    /// `ad_sk` = `<fired at>#<alert id>`, and the index projects only what the daily report's
    /// alerts dataset reads, so its reader sees no rule, SKU or delivery attribute.
    pub const ALERT_DAY_INDEX: &str = "alert_days";
    pub const ALERT_DAY_PARTITION_ATTRIBUTE: &str = "ad_pk";
    pub const ALERT_DAY_SORT_ATTRIBUTE: &str = "ad_sk";
    pub fn alert_day(date: &str) -> String {
        format!("ALERTDAY#{}", &date[..10.min(date.len())])
    }
    pub fn alert_day_sort(fired_at: &str, alert_id: &str) -> String {
        format!("{fired_at}#{alert_id}")
    }

    /// FNV-1a: a stable hash, the same in every process and release.
    fn fnv1a(bytes: &[u8]) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for b in bytes {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
        h
    }

    /// The alert clock's progress through the level shards.
    pub const CLOCK_SWEEP: &str = "CLOCK#SWEEP";
    /// How far the table's data has been brought up to the current release (`UPGRADE` /
    /// `META`, see [`crate::upgrade`]).
    pub const UPGRADE: &str = "UPGRADE";
    /// A batch run's record (`RUN#<job>#<run>` / `META`, see [`crate::fanout`]).
    pub const RUN_PREFIX: &str = "RUN#";
    pub fn run(job: &str, run: &str) -> (String, String) {
        (format!("{RUN_PREFIX}{job}#{run}"), META.into())
    }
    /// A run's task item: in the run's partition, `TASK#<id>`.
    pub const RUN_TASK_PREFIX: &str = "TASK#";
    pub fn run_task(job: &str, run: &str, task: &str) -> (String, String) {
        (
            format!("{RUN_PREFIX}{job}#{run}"),
            format!("{RUN_TASK_PREFIX}{task}"),
        )
    }

    /// The replenishment list's index partition (`gsi1pk`): a forecast item whose level needed
    /// an order when it was planned carries it, with `gsi1sk` from [`replenishment_sort`].
    pub const REPLENISHMENT_LIST: &str = "REPLEN";
    /// Where a suggestion sorts in the list: by supplier (`~` for none, last), location, SKU.
    pub fn replenishment_sort(supplier: Option<&str>, location: &str, sku: &str) -> String {
        format!("{}#{location}#{sku}", supplier.unwrap_or("~"))
    }

    pub fn movement_line(line: usize) -> String {
        format!("LINE#{line:02}")
    }
    /// Ledger entries sort by time, then movement and line (listed newest first).
    pub fn ledger_sort(at: &str, movement_id: &str, line: usize) -> String {
        format!("{at}#{movement_id}#{line:02}")
    }
    /// `<partition>|<sort key>` of a movement line, as a level's `last_movement` names it.
    pub fn line_ref(partition: &str, line: usize) -> String {
        format!("{partition}|{}", movement_line(line))
    }
    /// The tracker of one (rule, SKU, location): partition and sort key.
    pub fn tracker(rule_id: &str, sku: &str, location: &str) -> (String, String) {
        (format!("TRACK#{rule_id}"), format!("{sku}#{location}"))
    }
    /// The tracker's attribute holding a sender's claim on one owed delivery (its key,
    /// `<alert>/<event>:<channel>`): a map of `by` (the claimant) and `until` (seconds).
    pub fn lease(delivery: &str) -> String {
        format!("lease#{delivery}")
    }

    /// The table's primary key attributes, and those of its general index (`gsi1`): spelled
    /// here alone.
    pub const PARTITION: &str = "pk";
    pub const SORT: &str = "sk";
    pub const INDEX_PARTITION: &str = "gsi1pk";
    pub const INDEX_SORT: &str = "gsi1sk";
    /// Conditions on an item's existence.
    pub const ABSENT: &str = "attribute_not_exists(pk)";
    pub const PRESENT: &str = "attribute_exists(pk)";

    /// A primary key as the SDK takes it.
    pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PARTITION.to_owned(), AttributeValue::S(pk.into())),
            (SORT.to_owned(), AttributeValue::S(sk.into())),
        ])
    }

    /// An item: its primary key and `attributes`.
    pub fn item<K: Into<String>>(
        pk: impl Into<String>,
        sk: impl Into<String>,
        attributes: impl IntoIterator<Item = (K, AttributeValue)>,
    ) -> HashMap<String, AttributeValue> {
        let mut item = key(pk, sk);
        item.extend(attributes.into_iter().map(|(k, v)| (k.into(), v)));
        item
    }

    /// The partition and sort key of a stored item (or of a key), if it has them.
    pub fn of(item: &HashMap<String, AttributeValue>) -> Option<(&str, &str)> {
        let part = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
        };
        Some((part(PARTITION)?, part(SORT)?))
    }

    /// Just the primary key of a stored item (what a `GetItem`, `UpdateItem` or
    /// `DeleteItem` of it takes).
    pub fn key_of(
        item: &HashMap<String, AttributeValue>,
    ) -> Option<HashMap<String, AttributeValue>> {
        of(item).map(|(pk, sk)| key(pk, sk))
    }
}

/// Why an item could not be read as its type.
#[derive(Debug, thiserror::Error)]
#[error("{entity} item is malformed: {reason}")]
pub struct Malformed {
    pub entity: &'static str,
    pub reason: String,
}

/// Reads `item` as a `T` (one of the item types below).
pub fn decode<T: DeserializeOwned>(entity: &'static str, item: &Item) -> Result<T, Malformed> {
    serde_dynamo::from_item(item.clone()).map_err(|e| Malformed {
        entity,
        reason: e.to_string(),
    })
}

/// An item type that is written whole: its entity and its key, so that the item it writes
/// carries both (and no caller spells them).
pub trait Stored: Serialize {
    const ENTITY: &'static str;
    /// The partition and sort key of this item.
    fn key(&self) -> (String, String);

    /// The item as it is put: its attributes, its key and its `entity`.
    fn to_item(&self) -> Item {
        let (pk, sk) = self.key();
        let mut item: Item = serde_dynamo::to_item(self).expect("an item type serialises to a map");
        item.extend(keys::key(pk, sk));
        item.insert("entity".into(), AttributeValue::S(Self::ENTITY.into()));
        item
    }
}

/// The four quantities of a level (also a ledger entry's `before` and `after`).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct QuantitiesItem {
    pub on_hand: i64,
    pub reserved: i64,
    pub in_transit: i64,
    pub available: i64,
}

impl From<QuantitiesItem> for Quantities {
    fn from(q: QuantitiesItem) -> Self {
        Quantities {
            on_hand: q.on_hand,
            reserved: q.reserved,
            in_transit: q.in_transit,
            available: q.available,
        }
    }
}

/// `SKU#<sku>` / `META`.
#[derive(Debug, Clone, Deserialize)]
pub struct SkuItem {
    pub sku: String,
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    /// A decimal amount as text (exact), with its ISO 4217 currency.
    #[serde(default)]
    pub unit_cost: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub supply: Option<crate::domain::SupplyFacts>,
    pub created_at: String,
    pub updated_at: String,
}

/// `LOC#<location>` / `META`.
#[derive(Debug, Clone, Deserialize)]
pub struct LocationItem {
    pub location: String,
    pub name: String,
    pub kind: LocationKind,
    #[serde(default)]
    pub country: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// `SKU#<sku>` / `LOC#<location>`: a stock level with its counter rings (see
/// [`crate::counters`]).
#[derive(Debug, Clone, Deserialize)]
pub struct LevelItem {
    pub sku: String,
    pub location: String,
    #[serde(flatten)]
    pub quantities: QuantitiesItem,
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub last_sale_at: Option<String>,
    #[serde(default)]
    pub last_receipt_at: Option<String>,
    /// The movement line that made the last change (`partition|sort key`).
    pub last_movement: String,
    /// The hour the counters have counted up to.
    pub ctr_hour: i64,
    pub sold_h: Vec<i64>,
    pub sold_d: Vec<i64>,
    pub rcv_d: Vec<i64>,
    pub rfd_d: Vec<i64>,
    /// Units written off per day; absent on a level that has had no write-off since before
    /// write-offs existed.
    #[serde(default)]
    pub wo_d: Vec<i64>,
    /// The last day a line the counters do not count (a stocktake, a transfer) changed on_hand.
    #[serde(default)]
    pub uncounted_day: Option<i64>,
    /// When the latest count applied was taken (ms): an older count is refused.
    #[serde(default)]
    pub last_count_ms: Option<i64>,
    /// Held units counts cut short whose holds are still open.
    #[serde(default)]
    pub short_units: Option<i64>,
    /// Set by the replenishment run ([`crate::replenishment`]): what `reorder_point` rules
    /// compare available + in_transit with. Stock changes never write it.
    #[serde(default)]
    pub reorder_point: Option<i64>,
}

/// `FCST#<sku>` / `LOC#<location>`: a level's daily demand history and its latest forecast and
/// reorder plan (see [`crate::replenishment`]), written by the daily replenishment run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastItem {
    /// Units sold per day, oldest first, the last on `demand_day` (at most 180 days).
    pub demand: Vec<i64>,
    /// The day (days since the epoch) of the last value of `demand`.
    pub demand_day: i64,
    #[serde(flatten)]
    pub plan: crate::planning::Plan,
}

impl Stored for ForecastItem {
    const ENTITY: &'static str = entity::FORECAST;
    fn key(&self) -> (String, String) {
        (
            keys::forecast(&self.plan.sku),
            keys::location(&self.plan.location),
        )
    }
}

/// `RECON#<sku>` / `LOC#<location>`: how far a level's ledger was proved to agree with the
/// level (the reconciliation's checkpoint): the level at `version`, whose last ledger entry sorts
/// at `ledger_sort`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointItem {
    pub sku: String,
    pub location: String,
    pub version: i64,
    pub ledger_sort: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub in_transit: i64,
    pub checked_at: String,
}

impl Stored for CheckpointItem {
    const ENTITY: &'static str = entity::CHECKPOINT;
    fn key(&self) -> (String, String) {
        (keys::checkpoint(&self.sku), keys::location(&self.location))
    }
}

/// `UPGRADE` / `META`: the data upgrade's progress (see [`crate::upgrade`]). `version` is the
/// data version every item is at; a run toward `target` keeps each scan segment's cursor, so a
/// run that stops (its time is up, or it is killed) resumes where the segment's last page ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradeItem {
    pub version: i64,
    pub target: i64,
    pub segments: BTreeMap<String, UpgradeSegment>,
    pub started_at: String,
    pub updated_at: String,
}

/// One scan segment's progress: pages done, and where the next page starts (`None` with
/// `done`: the segment is finished; `None` without: it has not started).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpgradeSegment {
    pub pages: i64,
    pub done: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<BTreeMap<String, String>>,
}

impl Stored for UpgradeItem {
    const ENTITY: &'static str = entity::UPGRADE;
    fn key(&self) -> (String, String) {
        (keys::UPGRADE.into(), keys::META.into())
    }
}

/// `LEDGER#<sku>` / `<at>#<movement>#<line>`: one movement line in its SKU's ledger, with the
/// level's exact quantities before and after it (absent for a line that changed no level).
#[derive(Debug, Clone, Deserialize)]
pub struct LedgerEntryItem {
    pub movement_id: String,
    pub kind: MovementKind,
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    pub actor: String,
    pub at: String,
    #[serde(default)]
    pub d_on_hand: Option<i64>,
    #[serde(default)]
    pub d_available: Option<i64>,
    #[serde(default)]
    pub d_in_transit: Option<i64>,
    #[serde(default)]
    pub d_reserved: Option<i64>,
    #[serde(default)]
    pub reservation_id: Option<String>,
    #[serde(default)]
    pub released: Option<i64>,
    #[serde(default)]
    pub counted: Option<i64>,
    #[serde(default)]
    pub expected: Option<i64>,
    /// When a count was taken, and how the level's on-hand moved after it (kept on top).
    #[serde(default)]
    pub counted_at: Option<String>,
    #[serde(default)]
    pub moved_since: Option<i64>,
    /// The level's version after this line (absent on entries written before versions were).
    #[serde(default)]
    pub version: Option<i64>,
    #[serde(default)]
    pub restocked: Option<bool>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub reason_code: Option<crate::domain::ReasonCode>,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub before: Option<QuantitiesItem>,
    #[serde(default)]
    pub after: Option<QuantitiesItem>,
}

/// `ORDER#<order>` / `META`: what an order sold and what is left to refund, per
/// `<sku>@<location>` line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderItem {
    pub order_id: String,
    pub movement_id: String,
    pub created_at: String,
    pub sold: BTreeMap<String, i64>,
    pub refundable: BTreeMap<String, i64>,
    /// The checkout hold the order committed, if it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<String>,
    /// The client whose order it is (only it, and admin, may refund it); absent on orders
    /// recorded before orders had owners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl Stored for OrderItem {
    const ENTITY: &'static str = entity::ORDER;
    fn key(&self) -> (String, String) {
        (keys::order(&self.order_id), keys::META.into())
    }
}

/// One line of a reservation: what it holds, and once committed what the order took.
#[derive(Debug, Clone, Deserialize)]
pub struct HoldLineItem {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    #[serde(default)]
    pub taken: Option<i64>,
    /// Units a count cut from the line (`quantity` is what it still holds).
    #[serde(default)]
    pub short: Option<i64>,
}

/// `RES#<id>` / `META`: a reservation (checkout hold) and how it ended.
#[derive(Debug, Clone, Deserialize)]
pub struct ReservationItem {
    pub reservation_id: String,
    /// `active`, `committed`, `released` or `expired`.
    pub status: String,
    pub lines: Vec<HoldLineItem>,
    pub created_at: String,
    pub created_by: String,
    /// The client whose hold it is; absent on holds made before holds had owners.
    #[serde(default)]
    pub owner: Option<String>,
    /// When the hold runs out (ms since the epoch, and as RFC 3339).
    pub hold_until_ms: i64,
    pub hold_until: String,
    pub request_hash: String,
    pub version: i64,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub extended: i64,
    #[serde(default)]
    pub closed_at: Option<String>,
    #[serde(default)]
    pub closed_by: Option<String>,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub commit_hash: Option<String>,
    /// The last extend's caller-scoped Idempotency-Key, and the `ttl_minutes` it asked for.
    #[serde(default)]
    pub extend_key: Option<String>,
    #[serde(default)]
    pub extend_ttl: Option<i64>,
}

/// A SKU entry's `search` attribute: its id and name in lower case, as the text filter compares.
pub fn search_text(sku: &str, name: &str) -> String {
    format!("{}\n{}", sku.to_lowercase(), name.to_lowercase())
}

mod alerts;
mod runs;
pub use alerts::*;
pub use runs::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: i64) -> AttributeValue {
        AttributeValue::N(v.to_string())
    }
    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    #[test]
    fn a_missing_required_attribute_is_an_error_not_a_zero() {
        let mut item: Item = HashMap::from([
            ("location".into(), s("WH1")),
            ("on_hand".into(), n(5)),
            ("reserved".into(), n(0)),
            ("in_transit".into(), n(0)),
            ("available".into(), n(5)),
        ]);
        let err = decode::<QuantitiesItem>("level", &{
            let mut i = item.clone();
            i.remove("available");
            i
        })
        .unwrap_err();
        assert!(err.reason.contains("available"), "{err}");
        item.insert("available".into(), s("five"));
        assert!(decode::<QuantitiesItem>("level", &item).is_err());
        item.insert("available".into(), n(5));
        let q: Quantities = decode::<QuantitiesItem>("level", &item).unwrap().into();
        assert_eq!(q.available, 5);
    }

    #[test]
    fn an_item_carries_its_key_and_gives_it_back() {
        let item = keys::item("SKU#A", keys::META, [("name", s("Mug"))]);
        assert_eq!(keys::of(&item), Some(("SKU#A", "META")));
        assert_eq!(keys::key_of(&item), Some(keys::key("SKU#A", "META")));
        assert_eq!(item.get("name"), Some(&s("Mug")));
        assert_eq!(keys::of(&HashMap::from([("pk".to_owned(), s("x"))])), None);
    }

    #[test]
    fn an_alert_as_its_day_index_projects_it_decodes() {
        let item: Item = ALERT_DAY_PROJECTION
            .iter()
            .map(|k| (k.to_string(), s("x")))
            .collect();
        assert!(decode::<AlertDayItem>(entity::ALERT, &item).is_ok());
        // Every attribute the report needs is projected: without one, the item is malformed.
        let mut short = item.clone();
        short.remove("rule_name");
        assert!(decode::<AlertDayItem>(entity::ALERT, &short).is_err());
    }

    #[test]
    fn keys_are_spelled_once() {
        assert_eq!(keys::sku("A"), "SKU#A");
        assert_eq!(keys::location("WH1"), "LOC#WH1");
        assert_eq!(keys::line_ref("MOV#x", 1), "MOV#x|LINE#01");
        assert_eq!(
            keys::tracker("rl_1", "A", "WH1"),
            ("TRACK#rl_1".to_owned(), "A#WH1".to_owned())
        );
    }

    #[test]
    fn levels_spread_over_every_shard_and_keep_theirs() {
        // Pinned: a level's shard never changes between releases (it is stored on the level).
        assert_eq!(keys::level_shard("A", "WH1"), keys::level_shard("A", "WH1"));
        assert_ne!(keys::level_shard("AB", "C"), keys::level_shard("A", "BC"));
        let mut counts = vec![0u32; keys::LEVEL_SHARDS as usize];
        for i in 0..60_000 {
            let shard = keys::level_shard(&format!("SKU-{i:05}"), "WH1");
            let n: usize = shard.trim_start_matches("LEVELS#").parse().unwrap();
            counts[n] += 1;
        }
        // 1,000 each on average; none empty or more than twice as full as another.
        let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
        assert!(*min > 0 && max / min < 2, "{counts:?}");
    }
}
