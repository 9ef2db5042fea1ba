//! The DynamoDB adapter: one table, key builders in one place, every movement one conditional
//! `TransactWriteItems` (the level changes and the movement's lines, `MOV#…/LINE#nn`, which are
//! its audit and idempotency record). Each SKU's ledger (`LEDGER#<sku>`, newest first) is written
//! from the table's stream with the level's exact before and after, by the alert evaluator (see
//! [`ledger_entry`]). SDK errors stop here; callers see [`StoreError`] and [`MovementError`].

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use aws_sdk_dynamodb::{
    error::SdkError,
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, Select,
        TransactWriteItem, Update,
    },
    Client,
};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{context::BeforeTransmitInterceptorContextRef, Intercept},
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};

use crate::domain::{
    order_line_key, LevelChange, LocationId, LocationKind, Movement, MovementKind, MovementLine,
    Quantities, Refusal, SkuId, StockLevel,
};

pub use crate::schema::Item;

use crate::schema::{decode, LedgerEntryItem, LevelItem, LocationItem, QuantitiesItem, SkuItem};
pub use crate::schema::{entity, keys};

/// The one secondary index: SKU and location listings, and each SKU's ledger newest first.
pub const INDEX: &str = "gsi1";

/// Counts the HTTP requests a DynamoDB client sends (every attempt), so benchmarks report
/// requests per operation as measured rather than assumed.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(Arc<AtomicU64>);

impl RequestCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Failures of the table itself, as opposed to refusals of a movement.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, conflicts and timeouts that outlasted the retries: the caller may try again.
    #[error("the inventory table is busy: {0}")]
    Busy(String),
    /// A pagination cursor that this store did not issue.
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("inventory table request failed: {0}")]
    Failed(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy(_))
    }

    pub(crate) fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
        let message = aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string();
        match (&err, code.as_deref()) {
            (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_), _)
            | (
                _,
                Some(
                    "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "TransactionInProgressException",
                ),
            ) => Self::Busy(message),
            _ => Self::Failed(message),
        }
    }
}

use aws_sdk_dynamodb::error::ProvideErrorMetadata;

/// Why a movement was refused. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum MovementError {
    #[error("line {line} refused: {refusal:?}")]
    Refused {
        line: usize,
        sku: SkuId,
        location: LocationId,
        refusal: Refusal,
    },
    #[error("unknown SKU {0}")]
    SkuNotFound(SkuId),
    #[error("unknown location {0}")]
    LocationNotFound(LocationId),
    #[error("order {0} is already recorded")]
    OrderExists(String),
    #[error("unknown order {0}")]
    OrderNotFound(String),
    #[error("order {order_id} sold no {sku} at {location}")]
    NotInOrder {
        order_id: String,
        sku: SkuId,
        location: LocationId,
    },
    #[error("refund exceeds what order {order_id} sold: {refundable} left to refund")]
    RefundExceedsOrder { order_id: String, refundable: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything a movement's ledger entries record besides its lines.
#[derive(Debug, Clone)]
pub struct MovementRecord {
    /// `MOV#…`: derived from the caller and its idempotency key, so a replay hits the same items.
    pub partition: String,
    pub movement_id: String,
    pub actor: String,
    pub at: String,
    pub request_hash: String,
    /// The response body of the first execution, returned as-is on replay.
    pub response: String,
}

/// What a cancelled transaction says.
enum Explained {
    Outcome(MovementOutcome),
    /// These lines' counters must be written in another shape; nothing was refused.
    Reshape(Vec<(usize, CounterShape)>),
}

/// The result of executing a movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MovementOutcome {
    Applied,
    /// The idempotency key was used before: what the first execution stored.
    Replayed {
        request_hash: String,
        response: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Level(usize),
    SkuExists(usize),
    LocationExists(usize),
    Ledger(usize),
    /// The ledger entry of a line that changes no level (never refused).
    LedgerEntry,
    NewOrder,
    OrderClaim,
}

/// A movement as the DynamoDB transaction that applies it, with the role of each item so a
/// cancellation can be explained.
#[derive(Debug, Clone)]
pub struct MovementWrite {
    pub items: Vec<TransactWriteItem>,
    roles: Vec<Role>,
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Attribute names used in expressions; aliased so no reserved word can bite.
const NAMES: [(&str, &str); 20] = [
    ("#oh", "on_hand"),
    ("#rs", "reserved"),
    ("#it", "in_transit"),
    ("#av", "available"),
    ("#v", "version"),
    ("#u", "updated_at"),
    ("#lm", "last_movement"),
    ("#e", "entity"),
    ("#sku", "sku"),
    ("#loc", "location"),
    ("#c", "created_at"),
    ("#sh", "sold_h"),
    ("#sd", "sold_d"),
    ("#rd", "rcv_d"),
    ("#fd", "rfd_d"),
    ("#ch", "ctr_hour"),
    ("#ls", "last_sale_at"),
    ("#lr", "last_receipt_at"),
    ("#ix", keys::LEVEL_SHARD_ATTRIBUTE),
    ("#ud", "uncounted_day"),
];

fn names(expr: &str, cond: &str) -> HashMap<String, String> {
    NAMES
        .iter()
        .filter(|(alias, _)| {
            let used = |e: &str| {
                e.match_indices(alias).any(|(i, _)| {
                    !e[i + alias.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                })
            };
            used(expr) || used(cond)
        })
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Sets the identity attributes of a level the first time a movement creates it.
/// (Its shard of the level index too, which no later change touches: see [`keys::LEVEL_INDEX`].)
const INIT_LEVEL: &str = "#e = :entity, #sku = :sku, #loc = :loc, #ix = :ix, \
     #c = if_not_exists(#c, :now), #v = if_not_exists(#v, :zero) + :one, #u = :now, #lm = :mv";
/// Gives a level created by a movement that counts nothing its (empty) counters.
const INIT_COUNTERS: &str = ", #sh = if_not_exists(#sh, :zh), #sd = if_not_exists(#sd, :zd), \
     #rd = if_not_exists(#rd, :zd), #fd = if_not_exists(#fd, :zd), #ch = if_not_exists(#ch, :h)";
const BUMP_LEVEL: &str = "#v = #v + :one, #u = :now, #lm = :mv";

/// Which of a level's counters a movement line adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counter {
    Sold,
    Received,
    Refunded,
}

impl Counter {
    fn of(kind: MovementKind, change: LevelChange) -> Option<Self> {
        match (kind, change) {
            (MovementKind::Sale, LevelChange::Withdraw(_)) => Some(Self::Sold),
            (MovementKind::Receipt, LevelChange::Receive { .. }) => Some(Self::Received),
            (_, LevelChange::Restock(_)) => Some(Self::Refunded),
            (MovementKind::Sale, LevelChange::Commit { take, .. }) if take > 0 => Some(Self::Sold),
            _ => None,
        }
    }

    fn daily(self) -> &'static str {
        match self {
            Self::Sold => "#sd",
            Self::Received => "#rd",
            Self::Refunded => "#fd",
        }
    }
}

/// How a counting line's counters are written (the other lines have no counters to write).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterShape {
    /// The level exists and its counters are at the movement's hour: add to the current slots,
    /// under that condition. The first attempt of every movement.
    Current,
    /// The level as DynamoDB returned it on a cancellation had its counters at `head` (None: no
    /// counters yet): roll them forward to the movement's hour, under the condition that the
    /// head is still there.
    RollFrom { head: Option<i64> },
    /// The level does not exist yet: create it with its counters.
    Create,
}

/// The pieces of one level line's update: SET clauses, the condition, and the values they use.
struct LevelUpdate {
    set: Vec<String>,
    condition: String,
    values: Item,
}

fn zeros(len: i64) -> AttributeValue {
    AttributeValue::L(vec![n(0); len as usize])
}

fn ring_with(len: i64, at: i64, units: i64) -> AttributeValue {
    let mut v = vec![n(0); len as usize];
    v[crate::counters::slot(at, len)] = n(units);
    AttributeValue::L(v)
}

/// Adds a counting line's counter clauses for `hour` (the movement's) to `u`.
fn count(u: &mut LevelUpdate, counter: Counter, shape: CounterShape, hour: i64, q: i64) {
    use crate::counters::{rolled, slot, Rolled, DAYS, HOURS};
    let day = hour.div_euclid(24);
    let (hs, ds) = (slot(hour, HOURS), slot(day, DAYS));
    let own = counter.daily();
    u.values.insert(":h".into(), n(hour));
    match shape {
        CounterShape::Current => {
            if counter == Counter::Sold {
                u.set.push(format!("#sh[{hs}] = #sh[{hs}] + :q"));
            }
            u.set.push(format!("{own}[{ds}] = {own}[{ds}] + :q"));
            u.condition = format!("{} AND #ch = :h", u.condition);
        }
        CounterShape::Create => {
            let sold = if counter == Counter::Sold { q } else { 0 };
            u.values.insert(":lh".into(), ring_with(HOURS, hour, sold));
            for (list, value) in [("#sd", "sd"), ("#rd", "rd"), ("#fd", "fd")] {
                let units = if list == own { q } else { 0 };
                u.values
                    .insert(format!(":l{value}"), ring_with(DAYS, day, units));
                u.set.push(format!("{list} = :l{value}"));
            }
            u.set.push("#sh = :lh".into());
            u.set.push("#ch = :h".into());
            u.condition = "attribute_not_exists(pk)".into();
        }
        CounterShape::RollFrom { head } => {
            let (hourly, daily) = match head {
                Some(h) => (rolled(h, hour, HOURS), rolled(h.div_euclid(24), day, DAYS)),
                None => (Rolled::All, Rolled::All),
            };
            // Hourly sales: the rolled slots are emptied, the movement's own counted afresh; a
            // movement older than the head (another writer's clock ahead) adds into its slot
            // while it is still in the window.
            let old_hour_in_window = head.is_some_and(|h| h - hour < HOURS);
            let old_day_in_window = head.is_some_and(|h| h.div_euclid(24) - day < DAYS);
            match &hourly {
                Rolled::All => {
                    let sold = if counter == Counter::Sold { q } else { 0 };
                    u.values.insert(":lh".into(), ring_with(HOURS, hour, sold));
                    u.set.push("#sh = :lh".into());
                }
                Rolled::Slots(slots) => {
                    for s in slots {
                        if counter == Counter::Sold && *s == hs {
                            u.set.push(format!("#sh[{s}] = :q"));
                        } else {
                            u.set.push(format!("#sh[{s}] = :zero"));
                        }
                    }
                }
                Rolled::None if counter == Counter::Sold && old_hour_in_window => {
                    u.set.push(format!("#sh[{hs}] = #sh[{hs}] + :q"));
                }
                Rolled::None => {}
            }
            for (list, value) in [("#sd", "sd"), ("#rd", "rd"), ("#fd", "fd")] {
                let mine = list == own;
                match &daily {
                    Rolled::All => {
                        u.values.insert(
                            format!(":l{value}"),
                            ring_with(DAYS, day, if mine { q } else { 0 }),
                        );
                        u.set.push(format!("{list} = :l{value}"));
                    }
                    Rolled::Slots(slots) => {
                        for s in slots {
                            let v = if mine && *s == ds { ":q" } else { ":zero" };
                            u.set.push(format!("{list}[{s}] = {v}"));
                        }
                        if mine && !daily.contains(ds) {
                            u.set.push(format!("{list}[{ds}] = {list}[{ds}] + :q"));
                        }
                    }
                    Rolled::None if mine && old_day_in_window => {
                        u.set.push(format!("{list}[{ds}] = {list}[{ds}] + :q"));
                    }
                    Rolled::None => {}
                }
            }
            match head {
                Some(h) if h >= hour => {
                    u.values.insert(":oldh".into(), n(h));
                    u.condition = format!("{} AND #ch = :oldh", u.condition);
                }
                Some(h) => {
                    u.values.insert(":oldh".into(), n(h));
                    u.set.push("#ch = :h".into());
                    u.condition = format!("{} AND #ch = :oldh", u.condition);
                }
                None => {
                    u.set.push("#ch = :h".into());
                    u.condition = format!("{} AND attribute_not_exists(#ch)", u.condition);
                }
            }
        }
    }
}

/// The update (None: a condition check) and condition for one level line.
fn level_update(
    line: &MovementLine,
    shape: CounterShape,
    hour: i64,
) -> (Option<LevelUpdate>, String) {
    let (kind, change, q) = (line.kind, line.change, line.quantity());
    let mut u = LevelUpdate {
        set: Vec::new(),
        condition: String::new(),
        values: HashMap::new(),
    };
    let counter = Counter::of(kind, change);
    match change {
        LevelChange::Withdraw(_) => {
            u.set
                .push(format!("#oh = #oh - :q, #av = #av - :q, {BUMP_LEVEL}"));
            u.condition = "attribute_exists(pk) AND #av >= :q".into();
            if counter == Some(Counter::Sold) {
                u.set.push("#ls = :now".into());
            }
        }
        LevelChange::Receive {
            from_in_transit: true,
            ..
        } => {
            u.set.push(format!(
                "#oh = #oh + :q, #av = #av + :q, #it = #it - :q, {BUMP_LEVEL}"
            ));
            u.condition = "attribute_exists(pk) AND #it >= :q".into();
        }
        LevelChange::Receive { .. } => {
            u.set.push(format!(
                "#oh = if_not_exists(#oh, :zero) + :q, #av = if_not_exists(#av, :zero) + :q, \
                 #rs = if_not_exists(#rs, :zero), #it = if_not_exists(#it, :zero), #lr = :now, \
                 {INIT_LEVEL}"
            ));
            match counter {
                // A receipt counts: on an existing level first (the condition is the counter
                // head's), or it creates the level with its counters.
                Some(_) => {
                    u.condition = if shape == CounterShape::Create {
                        String::new()
                    } else {
                        "attribute_exists(pk)".into()
                    }
                }
                // A transfer's arrival counts nothing and may create the level.
                None => u.set.push(INIT_COUNTERS.trim_start_matches(", ").into()),
            }
        }
        LevelChange::Expect(_) => {
            u.set.push(format!(
                "#it = if_not_exists(#it, :zero) + :q, #oh = if_not_exists(#oh, :zero), \
                 #av = if_not_exists(#av, :zero), #rs = if_not_exists(#rs, :zero), {INIT_LEVEL}{INIT_COUNTERS}"
            ));
        }
        LevelChange::Restock(_) => {
            u.set
                .push(format!("#oh = #oh + :q, #av = #av + :q, {BUMP_LEVEL}"));
            u.condition = "attribute_exists(pk)".into();
        }
        LevelChange::Record => return (None, "attribute_exists(pk)".into()),
        LevelChange::Reserve(_) => {
            u.set
                .push(format!("#rs = #rs + :q, #av = #av - :q, {BUMP_LEVEL}"));
            u.condition = "attribute_exists(pk) AND #av >= :q".into();
        }
        LevelChange::Unreserve(_) => {
            u.set
                .push(format!("#rs = #rs - :q, #av = #av + :q, {BUMP_LEVEL}"));
            u.condition = "attribute_exists(pk) AND #rs >= :q".into();
        }
        LevelChange::Commit { take, held } => {
            u.set.push(format!(
                "#oh = #oh - :q, #rs = #rs - :held, #av = #av + :rel, {BUMP_LEVEL}"
            ));
            if take > 0 {
                u.set.push("#ls = :now".into());
            }
            u.values.insert(":held".into(), n(held.get()));
            u.values
                .insert(":rel".into(), n(i64::from(held.get()) - i64::from(take)));
            u.condition = "attribute_exists(pk) AND #rs >= :held".into();
        }
        LevelChange::Count { expected, .. } => {
            u.set.push(format!(
                "#oh = :counted, #av = :counted - if_not_exists(#rs, :zero), \
                 #rs = if_not_exists(#rs, :zero), #it = if_not_exists(#it, :zero), {INIT_LEVEL}{INIT_COUNTERS}"
            ));
            u.condition = match expected {
                None => "attribute_not_exists(pk) OR #rs <= :counted",
                Some(0) => "attribute_not_exists(pk) OR (#oh = :expected AND #rs <= :counted)",
                Some(_) => "#oh = :expected AND #rs <= :counted",
            }
            .into();
        }
    }
    if let Some(counter) = counter {
        count(&mut u, counter, shape, hour, i64::from(q));
    } else if matches!(
        change,
        LevelChange::Withdraw(_) | LevelChange::Receive { .. } | LevelChange::Count { .. }
    ) {
        // A change of on_hand the daily counters do not see (a count, a transfer): the day is
        // kept, so the report knows to put that day's stock back from the ledger.
        u.set.push("#ud = :day".into());
        u.values.insert(":day".into(), n(hour.div_euclid(24)));
    }
    let condition = u.condition.trim_start_matches(" AND ").to_owned();
    (Some(u), condition)
}

pub(crate) fn delta_attrs(item: &mut Item, change: LevelChange) {
    if let Some(d) = change.delta() {
        item.insert("d_on_hand".into(), n(d.on_hand));
        item.insert("d_available".into(), n(d.available));
        item.insert("d_in_transit".into(), n(d.in_transit));
        if d.reserved != 0 {
            item.insert("d_reserved".into(), n(d.reserved));
        }
    }
    if let LevelChange::Count { counted, expected } = change {
        item.insert("counted".into(), n(counted));
        if let Some(e) = expected {
            item.insert("expected".into(), n(e));
        }
    }
    if let LevelChange::Record = change {
        item.insert("restocked".into(), AttributeValue::Bool(false));
    }
    if let LevelChange::Restock(_) = change {
        item.insert("restocked".into(), AttributeValue::Bool(true));
    }
}

/// Builds the single transaction that applies `movement` (pure: no I/O), as its first attempt.
pub fn movement_write(table: &str, movement: &Movement, record: &MovementRecord) -> MovementWrite {
    let shapes = vec![CounterShape::Current; movement.lines.len()];
    movement_write_shaped(table, movement, record, &shapes)
}

/// The hour (since the epoch) of a movement's RFC 3339 time.
pub(crate) fn hour_of(at: &str) -> i64 {
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
        .div_euclid(3600)
}

/// [`movement_write`] with each line's counters written as `shapes` says (a retry after a
/// cancellation showed the level's counters elsewhere, or the level missing).
pub fn movement_write_shaped(
    table: &str,
    movement: &Movement,
    record: &MovementRecord,
    shapes: &[CounterShape],
) -> MovementWrite {
    let hour = hour_of(&record.at);
    let mut items = Vec::with_capacity(movement.lines.len() * 2 + 3);
    let mut roles = Vec::with_capacity(items.capacity());

    for (i, line) in movement.lines.iter().enumerate() {
        let shape = shapes.get(i).copied().unwrap_or(CounterShape::Current);
        items.push(level_write(
            table,
            line,
            shape,
            hour,
            &record.at,
            &ledger_ref(&record.partition, i),
        ));
        roles.push(Role::Level(i));

        if line.change.creates_level() {
            let sku_withdrawn_elsewhere = movement.lines.iter().any(|other| {
                other.sku == line.sku && matches!(other.change, LevelChange::Withdraw(_))
            });
            if !sku_withdrawn_elsewhere {
                items.push(exists_check(table, keys::sku(line.sku.as_str())));
                roles.push(Role::SkuExists(i));
            }
            items.push(exists_check(table, keys::location(line.location.as_str())));
            roles.push(Role::LocationExists(i));
        }
    }

    for (i, line) in movement.lines.iter().enumerate() {
        let mut item: Item = HashMap::from([
            ("pk".to_owned(), s(&record.partition)),
            ("sk".to_owned(), s(keys::movement_line(i))),
            ("entity".to_owned(), s(entity::MOVEMENT)),
            ("movement_id".to_owned(), s(&record.movement_id)),
            ("movement_kind".to_owned(), s(movement.kind.as_str())),
            ("kind".to_owned(), s(line.kind.as_str())),
            ("sku".to_owned(), s(line.sku.as_str())),
            ("location".to_owned(), s(line.location.as_str())),
            ("quantity".to_owned(), n(line.quantity())),
            ("actor".to_owned(), s(&record.actor)),
            ("at".to_owned(), s(&record.at)),
        ]);
        delta_attrs(&mut item, line.change);
        if let Some(r) = &movement.reference {
            item.insert("reference".into(), s(r));
        }
        if let Some(r) = &movement.reason {
            item.insert("reason".into(), s(r));
        }
        if let Some(o) = movement.new_order.as_ref() {
            item.insert("order_id".into(), s(o.as_str()));
        }
        if let Some(c) = movement.order_claim.as_ref() {
            item.insert("order_id".into(), s(c.order_id.as_str()));
        }
        // A line that changes no level leaves no stream record: its ledger entry is written here.
        let unchanged_level = matches!(line.change, LevelChange::Record);
        let entry = unchanged_level
            .then(|| ledger_entry(&item, &ledger_ref(&record.partition, i), None, None))
            .flatten();
        if i == 0 {
            item.insert("request_hash".into(), s(&record.request_hash));
            item.insert("response".into(), s(&record.response));
            item.insert("line_count".into(), n(movement.lines.len()));
        }
        if let Some(entry) = entry {
            items.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(table)
                            .set_item(Some(entry))
                            .build()
                            .expect("table and item are set"),
                    )
                    .build(),
            );
            roles.push(Role::LedgerEntry);
        }
        items.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build()
                        .expect("table and item are set"),
                )
                .build(),
        );
        roles.push(Role::Ledger(i));
    }

    if let Some(order_id) = &movement.new_order {
        let mut sold: Item = HashMap::new();
        for line in &movement.lines {
            sold.insert(
                order_line_key(&line.sku, &line.location),
                n(line.quantity()),
            );
        }
        let item: Item = HashMap::from([
            ("pk".to_owned(), s(keys::order(order_id.as_str()))),
            ("sk".to_owned(), s(keys::META)),
            ("entity".to_owned(), s(entity::ORDER)),
            ("order_id".to_owned(), s(order_id.as_str())),
            ("movement_id".to_owned(), s(&record.movement_id)),
            ("created_at".to_owned(), s(&record.at)),
            ("sold".to_owned(), AttributeValue::M(sold.clone())),
            ("refundable".to_owned(), AttributeValue::M(sold)),
        ]);
        items.push(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(table)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .expect("table and item are set"),
                )
                .build(),
        );
        roles.push(Role::NewOrder);
    }

    if let Some(claim) = &movement.order_claim {
        items.push(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(table)
                        .key("pk", s(keys::order(claim.order_id.as_str())))
                        .key("sk", s(keys::META))
                        .update_expression("SET #rf.#line = #rf.#line - :q")
                        .condition_expression("attribute_exists(pk) AND #rf.#line >= :q")
                        .expression_attribute_names("#rf", "refundable")
                        .expression_attribute_names(
                            "#line",
                            order_line_key(&claim.sku, &claim.location),
                        )
                        .expression_attribute_values(":q", n(claim.quantity.get()))
                        .return_values_on_condition_check_failure(
                            ReturnValuesOnConditionCheckFailure::AllOld,
                        )
                        .build()
                        .expect("table, key and expression are set"),
                )
                .build(),
        );
        roles.push(Role::OrderClaim);
    }

    MovementWrite { items, roles }
}

/// The update (or condition check) of one level line, as one item of a transaction: the
/// counters written in `shape` for `hour`, and `mv` (`partition|sort key`) as the level's
/// `last_movement`, which names the record its ledger entry is made from.
pub(crate) fn level_write(
    table: &str,
    line: &MovementLine,
    shape: CounterShape,
    hour: i64,
    at: &str,
    mv: &str,
) -> TransactWriteItem {
    let key = HashMap::from([
        ("pk".to_owned(), s(keys::sku(line.sku.as_str()))),
        ("sk".to_owned(), s(keys::location(line.location.as_str()))),
    ]);
    let (level, cond) = level_update(line, shape, hour);
    let (update, mut values) = match level {
        Some(u) => (Some(format!("SET {}", u.set.join(", "))), u.values),
        None => (None, HashMap::new()),
    };
    let mut put_value = |k: &str, v: AttributeValue| {
        let used = |e: &str| {
            e.match_indices(k)
                .any(|(i, _)| !e[i + k.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()))
        };
        if used(update.as_deref().unwrap_or("")) || used(&cond) {
            values.insert(k.to_owned(), v);
        }
    };
    put_value(":q", n(line.quantity()));
    put_value(":zero", n(0));
    put_value(":one", n(1));
    put_value(":now", s(at));
    // The ledger line this change is recorded under: the stream consumer annotates it with the
    // level's exact before and after values from the old and new images.
    put_value(":mv", s(mv));
    put_value(":entity", s(entity::STOCK_LEVEL));
    put_value(":sku", s(line.sku.as_str()));
    put_value(":loc", s(line.location.as_str()));
    put_value(
        ":ix",
        s(keys::level_shard(line.sku.as_str(), line.location.as_str())),
    );
    put_value(":zh", zeros(crate::counters::HOURS));
    put_value(":zd", zeros(crate::counters::DAYS));
    put_value(":h", n(hour));
    if let LevelChange::Count { counted, expected } = line.change {
        put_value(":counted", n(counted));
        if let Some(e) = expected {
            put_value(":expected", n(e));
        }
    }
    values.retain(|k, _| {
        let used = |e: &str| {
            e.match_indices(k.as_str())
                .any(|(i, _)| !e[i + k.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()))
        };
        used(update.as_deref().unwrap_or("")) || used(&cond)
    });
    let attr_names = names(update.as_deref().unwrap_or(""), &cond);
    let cond = (!cond.is_empty()).then_some(cond);
    let values = (!values.is_empty()).then_some(values);
    let item = match update {
        Some(update) => TransactWriteItem::builder().update(
            Update::builder()
                .table_name(table)
                .set_key(Some(key))
                .update_expression(update)
                .set_condition_expression(cond)
                .set_expression_attribute_names(Some(attr_names))
                .set_expression_attribute_values(values)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .expect("table, key and expression are set"),
        ),
        None => TransactWriteItem::builder().condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(key))
                .condition_expression(cond.unwrap_or_default())
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .expect("table, key and condition are set"),
        ),
    };
    item.build()
}

/// Attributes of a movement line that are its idempotency record, not part of the ledger.
const RECORD_ONLY: [&str; 5] = ["pk", "sk", "request_hash", "response", "line_count"];

/// The ledger entry of one movement line: the line as the movement recorded it (`line`, the
/// `MOV#…/LINE#nn` item), keyed into its SKU's ledger partition newest first, with the level's
/// exact quantities before and after when the change is known (from the stream's old and new
/// images). None when `line` is not a movement line.
pub fn ledger_entry(
    line: &Item,
    line_ref: &str,
    before: Option<&Quantities>,
    after: Option<&Quantities>,
) -> Option<Item> {
    let sku = get_s(line, "sku")?;
    let at = get_s(line, "at")?;
    let movement_id = get_s(line, "movement_id")?;
    let number: usize = get_s(line, "sk")?.strip_prefix("LINE#")?.parse().ok()?;
    let mut entry: Item = line
        .iter()
        .filter(|(k, _)| !RECORD_ONLY.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    entry.insert("pk".into(), s(keys::ledger(sku)));
    entry.insert("sk".into(), s(keys::ledger_sort(at, movement_id, number)));
    entry.insert("entity".into(), s(entity::LEDGER_ENTRY));
    entry.insert("movement".into(), s(line_ref));
    // Stock that arrived: listed in the receipts index, for its age.
    let arrived = matches!(get_s(line, "kind"), Some("receipt" | "transfer_in"));
    if let (true, Some(location)) = (arrived, get_s(line, "location")) {
        entry.insert(
            keys::RECEIPT_PARTITION_ATTRIBUTE.into(),
            s(keys::receipts(sku, location)),
        );
        entry.insert(
            keys::RECEIPT_SORT_ATTRIBUTE.into(),
            s(keys::ledger_sort(at, movement_id, number)),
        );
    }
    let q = |x: &Quantities| {
        AttributeValue::M(HashMap::from([
            ("on_hand".into(), n(x.on_hand)),
            ("reserved".into(), n(x.reserved)),
            ("in_transit".into(), n(x.in_transit)),
            ("available".into(), n(x.available)),
        ]))
    };
    if let Some(b) = before {
        entry.insert("before".into(), q(b));
    }
    if let Some(a) = after {
        entry.insert("after".into(), q(a));
    }
    Some(entry)
}

/// `<partition>|<sort key>` of a ledger line, as stored in a level's `last_movement`.
pub fn ledger_ref(partition: &str, line: usize) -> String {
    keys::line_ref(partition, line)
}

fn exists_check(table: &str, pk: String) -> TransactWriteItem {
    TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .key("pk", s(pk))
                .key("sk", s(keys::META))
                .condition_expression("attribute_exists(pk)")
                .build()
                .expect("table, key and condition are set"),
        )
        .build()
}

pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// The quantities of a level item (as a cancellation returns it).
fn quantities(item: &Item) -> Result<Quantities, StoreError> {
    decode::<QuantitiesItem>(entity::STOCK_LEVEL, item)
        .map(Into::into)
        .map_err(corrupt)
}

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

/// One ledger entry as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerEntry {
    pub movement_id: String,
    pub kind: MovementKind,
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<Quantities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restocked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The reservation of a hold, its extension, release or expiry, or of a sale that
    /// committed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation_id: Option<String>,
    /// Held units a commit gave back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<i64>,
    pub actor: String,
    pub at: String,
    /// The level's exact quantities before and after this line, written from the table's
    /// stream moments after the movement (absent until then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Quantities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Quantities>,
}

/// A page of a listing and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

fn corrupt(e: crate::schema::Malformed) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn sku_from_item(item: &Item) -> Result<Sku, StoreError> {
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

fn location_from_item(item: &Item) -> Result<Location, StoreError> {
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

fn level_from_item(item: &Item) -> Result<StockLevel, StoreError> {
    let i: LevelItem = decode(entity::STOCK_LEVEL, item).map_err(corrupt)?;
    Ok(StockLevel {
        location: LocationId::parse("location", &i.location)
            .map_err(|e| StoreError::Corrupt(e.message))?,
        quantities: i.quantities.into(),
        version: i.version.max(0) as u64,
        updated_at: i.updated_at,
    })
}

fn ledger_from_item(item: &Item) -> Result<LedgerEntry, StoreError> {
    let i: LedgerEntryItem = decode(entity::LEDGER_ENTRY, item).map_err(corrupt)?;
    Ok(LedgerEntry {
        movement_id: i.movement_id,
        kind: i.kind,
        sku: i.sku,
        location: i.location,
        quantity: i.quantity,
        delta: i.d_on_hand.map(|on_hand| Quantities {
            on_hand,
            available: i.d_available.unwrap_or(0),
            in_transit: i.d_in_transit.unwrap_or(0),
            reserved: i.d_reserved.unwrap_or(0),
        }),
        reservation_id: i.reservation_id,
        released: i.released,
        counted: i.counted,
        expected: i.expected,
        restocked: i.restocked,
        reference: i.reference,
        reason: i.reason,
        order_id: i.order_id,
        actor: i.actor,
        at: i.at,
        before: i.before.map(Into::into),
        after: i.after.map(Into::into),
    })
}

/// Encodes the last evaluated key of a page as an opaque cursor.
/// Writes `items` with `BatchWriteItem`, 25 a request, sending again whatever DynamoDB leaves
/// unprocessed (with backoff).
pub async fn batch_write(client: &Client, table: &str, items: Vec<Item>) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    for chunk in items.chunks(25) {
        let mut requests = chunk
            .iter()
            .map(|i| {
                PutRequest::builder()
                    .set_item(Some(i.clone()))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| StoreError::Failed(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut attempt = 0u32;
        while !requests.is_empty() {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt.min(6))).await;
            }
            attempt += 1;
            let out = client
                .batch_write_item()
                .request_items(table, std::mem::take(&mut requests))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .unwrap_or_default();
            if attempt > 8 && !requests.is_empty() {
                return Err(StoreError::Busy(format!(
                    "{} items still unprocessed",
                    requests.len()
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn encode_cursor(key: &Item) -> Option<String> {
    let map: std::collections::BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    serde_json::to_vec(&map)
        .ok()
        .map(|b| URL_SAFE_NO_PAD.encode(b))
}

/// Decodes a cursor, accepting only the index keys of the partition being listed.
pub(crate) fn decode_cursor(cursor: &str, partition: &str) -> Result<Item, StoreError> {
    decode_cursor_of(
        cursor,
        ["gsi1pk", "gsi1sk", "pk", "sk"],
        "gsi1pk",
        partition,
    )
}

/// Decodes a cursor that must hold exactly the `keys` and name `partition` in `partition_key`.
fn decode_cursor_of<const K: usize>(
    cursor: &str,
    keys: [&str; K],
    partition_key: &str,
    partition: &str,
) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let map: HashMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let valid = map.len() == keys.len()
        && keys.iter().all(|k| {
            map.get(*k)
                .is_some_and(|v| !v.is_empty() && v.len() <= 1024)
        })
        && map.get(partition_key).map(String::as_str) == Some(partition);
    if !valid {
        return Err(StoreError::InvalidCursor);
    }
    Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
}

/// The inventory table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

/// Retries a transaction only for conflicts between concurrent transactions on the same items.
/// Attempts of a movement's transaction when DynamoDB cancels it for a conflict with another
/// transaction on the same items; after that the caller gets 503 `busy` and retries with its key.
pub(crate) const TRANSACTION_ATTEMPTS: u32 = 5;

/// "Full jitter" backoff before retry `attempt` (1-based): uniform in 0..=10 ms × 2^attempt, so
/// transactions that conflicted once do not collide again in lockstep.
pub(crate) fn conflict_backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let cap = 10u64 << attempt.min(8);
    Duration::from_millis(rand::rng().random_range(1..=cap))
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates or replaces a SKU's catalogue entry; returns it and whether it was new.
    pub async fn put_sku(
        &self,
        sku: &SkuId,
        name: &str,
        attributes: &std::collections::BTreeMap<String, String>,
        cost: Option<&crate::domain::UnitCost>,
        supply: Option<&crate::domain::SupplyFacts>,
        now: &str,
    ) -> Result<(Sku, bool), StoreError> {
        let attrs: Item = attributes.iter().map(|(k, v)| (k.clone(), s(v))).collect();
        let base = "SET #e = :e, #sku = :sku, #n = :n, #a = :a, #c = if_not_exists(#c, :now), \
                    #u = :now, gsi1pk = :list, gsi1sk = :sku, #search = :search";
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::sku(sku.as_str())))
            .key("sk", s(keys::META))
            .expression_attribute_names("#uc", "unit_cost")
            .expression_attribute_names("#cur", "currency");
        // A PUT replaces the SKU: without a cost or supply facts, any earlier ones go.
        let mut set = base.to_owned();
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
            .key("pk", s(keys::location(location.as_str())))
            .key("sk", s(keys::META))
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
    async fn sku_partition(&self, sku: &SkuId) -> Result<Option<(Item, Vec<Item>)>, StoreError> {
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

    async fn exists(&self, pk: String) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(keys::META))
            .projection_expression("pk")
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(out.item.is_some())
    }

    /// Whether a SKU is in the catalogue.
    pub async fn sku_exists(&self, sku: &SkuId) -> Result<bool, StoreError> {
        self.exists(keys::sku(sku.as_str())).await
    }

    async fn index_page(
        &self,
        partition: &str,
        limit: i32,
        cursor: Option<&str>,
        newest_first: bool,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = cursor.map(|c| decode_cursor(c, partition)).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", s(partition))
            .scan_index_forward(!newest_first)
            .select(Select::AllAttributes)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| match StoreError::from_sdk(e) {
                // A cursor that decodes but points nowhere valid.
                StoreError::Failed(m) if m.contains("ValidationException") && cursor.is_some() => {
                    StoreError::InvalidCursor
                }
                other => other,
            })?;
        // Whenever DynamoDB says there is more: a page is also cut at 1 MB of items read, before
        // `limit` (a page can then come back with fewer items, or none, and a cursor).
        let next = out.last_evaluated_key.as_ref().and_then(encode_cursor);
        Ok((out.items.unwrap_or_default(), next))
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

    /// A SKU's ledger, newest first.
    pub async fn ledger(
        &self,
        sku: &SkuId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        let partition = keys::ledger(sku.as_str());
        let start = cursor
            .map(|c| decode_cursor_of(c, ["pk", "sk"], "pk", &partition))
            .transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(&partition))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| match StoreError::from_sdk(e) {
                StoreError::Failed(m) if m.contains("ValidationException") && cursor.is_some() => {
                    StoreError::InvalidCursor
                }
                other => other,
            })?;
        let next_cursor = out.last_evaluated_key.as_ref().and_then(encode_cursor);
        let items = out
            .items()
            .iter()
            .map(ledger_from_item)
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// Records a movement line in its SKU's ledger with the level's exact before and after (the
    /// stream's old and new images). Idempotent: a redelivered record finds the entry written.
    /// Reads the line (`partition|sort key` from the level's `last_movement`) first; a level
    /// change with no movement line (written by hand) records nothing.
    pub async fn record_ledger_entry(
        &self,
        line_ref: &str,
        before: Option<&Quantities>,
        after: &Quantities,
    ) -> Result<(), StoreError> {
        let Some((pk, sk)) = line_ref.split_once('|') else {
            return Ok(());
        };
        let line = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?
            .item;
        let zero = Quantities::default();
        let Some(entry) = line
            .as_ref()
            .and_then(|l| ledger_entry(l, line_ref, Some(before.unwrap_or(&zero)), Some(after)))
        else {
            return Ok(());
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// Applies a movement in one conditional transaction: every line or none.
    pub async fn execute(
        &self,
        movement: &Movement,
        record: &MovementRecord,
    ) -> Result<MovementOutcome, MovementError> {
        let mut shapes = vec![CounterShape::Current; movement.lines.len()];
        let mut conflicts = 0;
        // Each reshaping attempt learns a level's counter head from DynamoDB's answer; a few
        // are enough even when other writers roll the same counters meanwhile.
        for _ in 0..TRANSACTION_ATTEMPTS + 4 {
            let write = movement_write_shaped(&self.table, movement, record, &shapes);
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(write.items.clone()))
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(MovementOutcome::Applied),
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
                    e.cancellation_reasons().to_vec()
                }
                _ => return Err(StoreError::from_sdk(err).into()),
            };
            match self.explain(movement, &write.roles, &reasons).await {
                Ok(Explained::Outcome(outcome)) => return Ok(outcome),
                Ok(Explained::Reshape(lines)) => {
                    for (i, shape) in lines {
                        shapes[i] = shape;
                    }
                }
                Err(MovementError::Store(StoreError::Busy(m)))
                    if conflicts + 1 < TRANSACTION_ATTEMPTS =>
                {
                    conflicts += 1;
                    tracing::warn!(attempt = conflicts, reason = %m, "transaction conflict, retrying");
                    tokio::time::sleep(conflict_backoff(conflicts)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Busy("the level's counters kept moving".into()).into())
    }

    /// What the failed condition of level line `i` means: the line fits and its counters must
    /// be written in another shape (Ok), or it is refused (Err), as DynamoDB's answer shows
    /// (`item`: the level as it was, None when it does not exist).
    pub(crate) async fn explain_level(
        &self,
        i: usize,
        line: &MovementLine,
        item: Option<&Item>,
    ) -> Result<CounterShape, MovementError> {
        let counts = Counter::of(line.kind, line.change).is_some();
        let refusal = match item {
            Some(item) => {
                let current = quantities(item)?;
                match line.change.apply(Some(current)) {
                    Err(refusal) => refusal,
                    // The movement fits: the level's counters were not at the
                    // movement's hour. Roll them from where they are.
                    Ok(_) if counts => {
                        return Ok(CounterShape::RollFrom {
                            head: get_n(item, "ctr_hour"),
                        });
                    }
                    // The guard failed on DynamoDB but not here: the level changed
                    // between the two evaluations. Report what the guard protects.
                    Ok(_) => Refusal::InsufficientAvailable {
                        available: current.available,
                    },
                }
            }
            None => {
                if !self.exists(keys::sku(line.sku.as_str())).await? {
                    return Err(MovementError::SkuNotFound(line.sku.clone()));
                }
                if !self.exists(keys::location(line.location.as_str())).await? {
                    return Err(MovementError::LocationNotFound(line.location.clone()));
                }
                if counts && line.change.creates_level() {
                    return Ok(CounterShape::Create);
                }
                match line.change {
                    // Known SKU and location, never stocked there: nothing available.
                    LevelChange::Withdraw(_) | LevelChange::Reserve(_) => {
                        Refusal::InsufficientAvailable { available: 0 }
                    }
                    LevelChange::Receive { .. } => Refusal::InsufficientInTransit { in_transit: 0 },
                    LevelChange::Count {
                        expected: Some(expected),
                        ..
                    } => Refusal::StaleCount {
                        expected,
                        on_hand: 0,
                    },
                    _ => Refusal::NoLevel,
                }
            }
        };
        Err(MovementError::Refused {
            line: i,
            sku: line.sku.clone(),
            location: line.location.clone(),
            refusal,
        })
    }

    /// Turns the cancellation reasons of a movement's transaction into its outcome.
    async fn explain(
        &self,
        movement: &Movement,
        roles: &[Role],
        reasons: &[aws_sdk_dynamodb::types::CancellationReason],
    ) -> Result<Explained, MovementError> {
        let mut reshape = Vec::new();
        let failed = |r: &aws_sdk_dynamodb::types::CancellationReason| {
            r.code() == Some("ConditionalCheckFailed")
        };
        // A replay first: the ledger's first line exists, so the key was used before.
        for (role, reason) in roles.iter().zip(reasons) {
            if let (Role::Ledger(_), true) = (role, failed(reason)) {
                let item = reason.item().cloned().unwrap_or_default();
                return match (get_s(&item, "request_hash"), get_s(&item, "response")) {
                    (Some(h), Some(r)) => Ok(Explained::Outcome(MovementOutcome::Replayed {
                        request_hash: h.to_owned(),
                        response: r.to_owned(),
                    })),
                    // Only line 0 stores the response; any line's conflict means the same key.
                    _ => Err(StoreError::Corrupt("ledger entry without response".into()).into()),
                };
            }
        }
        for (role, reason) in roles.iter().zip(reasons) {
            if reason.code() == Some("TransactionConflict") {
                return Err(StoreError::Busy("transaction conflict".into()).into());
            }
            if !failed(reason) {
                continue;
            }
            let item = reason.item();
            match *role {
                Role::Level(i) => {
                    let shape = self.explain_level(i, &movement.lines[i], item).await?;
                    reshape.push((i, shape));
                    continue;
                }
                Role::SkuExists(i) => {
                    return Err(MovementError::SkuNotFound(movement.lines[i].sku.clone()))
                }
                Role::LocationExists(i) => {
                    return Err(MovementError::LocationNotFound(
                        movement.lines[i].location.clone(),
                    ))
                }
                Role::NewOrder => {
                    let id = movement.new_order.as_ref().map(|o| o.to_string());
                    return Err(MovementError::OrderExists(id.unwrap_or_default()));
                }
                Role::OrderClaim => {
                    let claim = movement
                        .order_claim
                        .as_ref()
                        .ok_or_else(|| StoreError::Corrupt("claim role without claim".into()))?;
                    let order_id = claim.order_id.to_string();
                    let Some(item) = item else {
                        return Err(MovementError::OrderNotFound(order_id));
                    };
                    let line_key = order_line_key(&claim.sku, &claim.location);
                    let refundable = item
                        .get("refundable")
                        .and_then(|v| v.as_m().ok())
                        .and_then(|m| m.get(&line_key))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok());
                    return Err(match refundable {
                        None => MovementError::NotInOrder {
                            order_id,
                            sku: claim.sku.clone(),
                            location: claim.location.clone(),
                        },
                        Some(refundable) => MovementError::RefundExceedsOrder {
                            order_id,
                            refundable,
                        },
                    });
                }
                Role::Ledger(_) | Role::LedgerEntry => {}
            }
        }
        if !reshape.is_empty() {
            return Ok(Explained::Reshape(reshape));
        }
        let codes: Vec<_> = reasons.iter().filter_map(|r| r.code()).collect();
        Err(StoreError::Failed(format!("transaction cancelled: {codes:?}")).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MovementLine, Quantity};

    fn record() -> MovementRecord {
        MovementRecord {
            partition: "MOV#abc".into(),
            movement_id: "mv_1".into(),
            actor: "shop".into(),
            at: "2026-01-01T00:00:00.000Z".into(),
            request_hash: "h".into(),
            response: "{}".into(),
        }
    }

    fn line(change: LevelChange, kind: MovementKind, loc: &str) -> MovementLine {
        MovementLine {
            kind,
            sku: SkuId::parse("sku", "A").unwrap(),
            location: LocationId::parse("location", loc).unwrap(),
            change,
        }
    }

    #[test]
    fn sale_is_one_guarded_update_and_one_ledger_put() {
        let m = Movement {
            kind: MovementKind::Sale,
            lines: vec![line(
                LevelChange::Withdraw(Quantity::parse("q", 2).unwrap()),
                MovementKind::Sale,
                "WH1",
            )],
            new_order: None,
            order_claim: None,
            reference: None,
            reason: None,
        };
        let w = movement_write("t", &m, &record());
        assert_eq!(w.items.len(), 2);
        let update = w.items[0].update().unwrap();
        // The stock guard, and the counters' head at the sale's hour.
        assert_eq!(
            update.condition_expression(),
            Some("attribute_exists(pk) AND #av >= :q AND #ch = :h")
        );
        let hour = hour_of(&record().at);
        let (hs, ds) = (hour.rem_euclid(48), hour.div_euclid(24).rem_euclid(32));
        let expr = update.update_expression();
        assert!(expr.contains("#av = #av - :q"));
        assert!(
            expr.contains(&format!("#sh[{hs}] = #sh[{hs}] + :q")),
            "{expr}"
        );
        assert!(
            expr.contains(&format!("#sd[{ds}] = #sd[{ds}] + :q")),
            "{expr}"
        );
        assert_eq!(update.expression_attribute_values().unwrap()[":h"], n(hour));
        let put = w.items[1].put().unwrap();
        assert_eq!(put.condition_expression(), Some("attribute_not_exists(pk)"));
        assert_eq!(get_s(put.item(), "response"), Some("{}"));
    }

    fn sale_of(q: u32) -> Movement {
        Movement {
            kind: MovementKind::Sale,
            lines: vec![line(
                LevelChange::Withdraw(Quantity::parse("q", q.into()).unwrap()),
                MovementKind::Sale,
                "WH1",
            )],
            new_order: None,
            order_claim: None,
            reference: None,
            reason: None,
        }
    }

    #[test]
    fn a_sale_after_the_counters_head_empties_exactly_the_slots_it_rolls_past() {
        let hour = hour_of(&record().at);
        let shape = CounterShape::RollFrom {
            head: Some(hour - 3),
        };
        let w = movement_write_shaped("t", &sale_of(2), &record(), &[shape]);
        let update = w.items[0].update().unwrap();
        let expr = update.update_expression();
        for back in 1..=2 {
            let s = (hour - back).rem_euclid(48);
            assert!(expr.contains(&format!("#sh[{s}] = :zero")), "{expr}");
        }
        let own = hour.rem_euclid(48);
        assert!(expr.contains(&format!("#sh[{own}] = :q")), "{expr}");
        // The hour before the old head stays, as does the old head itself.
        let kept = (hour - 3).rem_euclid(48);
        assert!(!expr.contains(&format!("#sh[{kept}] =")), "{expr}");
        assert!(expr.contains("#ch = :h"));
        assert_eq!(
            update.condition_expression(),
            Some("attribute_exists(pk) AND #av >= :q AND #ch = :oldh")
        );
        // Days later, every slot has rolled: whole rings are written.
        let shape = CounterShape::RollFrom {
            head: Some(hour - 24 * 40),
        };
        let w = movement_write_shaped("t", &sale_of(2), &record(), &[shape]);
        let update = w.items[0].update().unwrap();
        let expr = update.update_expression();
        assert!(
            expr.contains("#sh = :lh") && expr.contains("#sd = :lsd"),
            "{expr}"
        );
        let values = update.expression_attribute_values().unwrap();
        let ring = values[":lh"].as_l().unwrap();
        assert_eq!(ring.len(), 48);
        assert_eq!(ring[own as usize], n(2));
        assert_eq!(ring.iter().filter(|v| **v == n(0)).count(), 47);
    }

    #[test]
    fn a_first_receipt_creates_the_level_with_its_counter_rings() {
        let m = Movement {
            kind: MovementKind::Receipt,
            lines: vec![line(
                LevelChange::Receive {
                    quantity: Quantity::parse("q", 7).unwrap(),
                    from_in_transit: false,
                },
                MovementKind::Receipt,
                "WH1",
            )],
            new_order: None,
            order_claim: None,
            reference: None,
            reason: None,
        };
        let first = movement_write("t", &m, &record());
        assert_eq!(
            first.items[0].update().unwrap().condition_expression(),
            Some("attribute_exists(pk) AND #ch = :h")
        );
        let w = movement_write_shaped("t", &m, &record(), &[CounterShape::Create]);
        let update = w.items[0].update().unwrap();
        assert_eq!(
            update.condition_expression(),
            Some("attribute_not_exists(pk)")
        );
        let values = update.expression_attribute_values().unwrap();
        let day = hour_of(&record().at).div_euclid(24);
        let received = values[":lrd"].as_l().unwrap();
        assert_eq!(received.len(), 32);
        assert_eq!(received[day.rem_euclid(32) as usize], n(7));
        assert!(values[":lsd"].as_l().unwrap().iter().all(|v| *v == n(0)));
    }

    #[test]
    fn receipt_checks_that_sku_and_location_exist() {
        let m = Movement {
            kind: MovementKind::Receipt,
            lines: vec![line(
                LevelChange::Receive {
                    quantity: Quantity::parse("q", 2).unwrap(),
                    from_in_transit: false,
                },
                MovementKind::Receipt,
                "WH1",
            )],
            new_order: None,
            order_claim: None,
            reference: None,
            reason: None,
        };
        let w = movement_write("t", &m, &record());
        assert_eq!(
            w.roles,
            vec![
                Role::Level(0),
                Role::SkuExists(0),
                Role::LocationExists(0),
                Role::Ledger(0)
            ]
        );
    }

    #[test]
    fn expression_names_include_only_the_aliases_used() {
        let got = names("SET #oh = #oh - :q", "#av >= :q");
        assert_eq!(got.len(), 2);
        assert_eq!(got["#oh"], "on_hand");
        // "#loc" must not be picked up by "#lo…" style prefixes and vice versa.
        let got = names("SET #loc = :loc", "");
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["#loc"]);
    }

    #[test]
    fn conflict_backoff_is_jittered_within_a_doubling_cap() {
        for attempt in 1..=4 {
            let waits: std::collections::BTreeSet<_> =
                (0..200).map(|_| conflict_backoff(attempt)).collect();
            let cap = Duration::from_millis(10 << attempt);
            assert!(waits
                .iter()
                .all(|w| *w >= Duration::from_millis(1) && *w <= cap));
            assert!(
                waits.len() > 5,
                "attempt {attempt}: {waits:?} is not spread"
            );
        }
    }

    #[test]
    fn cursors_only_decode_for_their_own_partition() {
        let key: Item = HashMap::from([
            ("gsi1pk".to_owned(), s("LEDGER#A")),
            ("gsi1sk".to_owned(), s("t#m#00")),
            ("pk".to_owned(), s("MOV#x")),
            ("sk".to_owned(), s("LINE#00")),
        ]);
        let c = encode_cursor(&key).unwrap();
        assert_eq!(decode_cursor(&c, "LEDGER#A").unwrap(), key);
        assert!(matches!(
            decode_cursor(&c, "LEDGER#B"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(decode_cursor("not base64!", "LEDGER#A").is_err());
    }
}
