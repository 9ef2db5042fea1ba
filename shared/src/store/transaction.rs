//! A movement as the one DynamoDB transaction that applies it (pure: no I/O): each level line's
//! conditional update with its counters, the movement's lines as its audit and idempotency record.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Level(usize),
    SkuExists(usize),
    LocationExists(usize),
    Ledger(usize),
    /// The ledger entry of a line that changes no level (never refused).
    LedgerEntry,
    NewOrder,
    OrderClaim,
    /// A hold a count cuts short ([`Movement::holds_cut`]).
    HoldCut(usize),
}

/// A movement as the DynamoDB transaction that applies it, with the role of each item so a
/// cancellation can be explained.
#[derive(Debug, Clone)]
pub struct MovementWrite {
    pub items: Vec<TransactWriteItem>,
    pub(super) roles: Vec<Role>,
}

/// Attribute names used in expressions; aliased so no reserved word can bite.
pub(super) const NAMES: [(&str, &str); 25] = [
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
    ("#wd", "wo_d"),
    ("#ch", "ctr_hour"),
    ("#ls", "last_sale_at"),
    ("#lr", "last_receipt_at"),
    ("#ix", keys::LEVEL_SHARD_ATTRIBUTE),
    ("#ud", "uncounted_day"),
    ("#lc", "last_count_ms"),
    ("#su", "short_units"),
    ("#cap", "count_applied_at"),
    ("#cm", "count_moved"),
];

pub(super) fn names(expr: &str, cond: &str) -> HashMap<String, String> {
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
pub(super) const INIT_LEVEL: &str = "#e = :entity, #sku = :sku, #loc = :loc, #ix = :ix, \
     #c = if_not_exists(#c, :now), #v = if_not_exists(#v, :zero) + :one, #u = :now, #lm = :mv";
/// Gives a level created by a movement that counts nothing its (empty) counters.
pub(super) const INIT_COUNTERS: &str =
    ", #sh = if_not_exists(#sh, :zh), #sd = if_not_exists(#sd, :zd), \
     #rd = if_not_exists(#rd, :zd), #fd = if_not_exists(#fd, :zd), #wd = if_not_exists(#wd, :zd), \
     #ch = if_not_exists(#ch, :h)";
pub(super) const BUMP_LEVEL: &str = "#v = #v + :one, #u = :now, #lm = :mv";

/// Which of a level's counters a movement line adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Counter {
    Sold,
    Received,
    Refunded,
    WrittenOff,
}

impl Counter {
    pub(super) fn of(kind: MovementKind, change: LevelChange) -> Option<Self> {
        match (kind, change) {
            (MovementKind::Sale, LevelChange::Withdraw(_)) => Some(Self::Sold),
            (MovementKind::Receipt, LevelChange::Receive { .. }) => Some(Self::Received),
            (_, LevelChange::Restock(_)) => Some(Self::Refunded),
            (MovementKind::Sale, LevelChange::Commit { take, .. }) if take > 0 => Some(Self::Sold),
            (MovementKind::WriteOff, LevelChange::Withdraw(_)) => Some(Self::WrittenOff),
            _ => None,
        }
    }

    pub(super) fn daily(self) -> &'static str {
        match self {
            Self::Sold => "#sd",
            Self::Received => "#rd",
            Self::Refunded => "#fd",
            Self::WrittenOff => "#wd",
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
    /// head is still there. `written_off_ring`: whether it has its write-off ring.
    RollFrom {
        head: Option<i64>,
        written_off_ring: bool,
    },
    /// The level does not exist yet: create it with its counters.
    Create,
}

/// The pieces of one level line's update: SET clauses, the condition, and the values they use.
pub(super) struct LevelUpdate {
    pub(super) set: Vec<String>,
    pub(super) condition: String,
    pub(super) values: Item,
}

pub(super) fn zeros(len: i64) -> AttributeValue {
    AttributeValue::L(vec![n(0); len as usize])
}

pub(super) fn ring_with(len: i64, at: i64, units: i64) -> AttributeValue {
    let mut v = vec![n(0); len as usize];
    v[crate::counters::slot(at, len)] = n(units);
    AttributeValue::L(v)
}

/// The daily rings, by alias and value-name suffix. Write-offs came last: a level written before
/// them may have no `#wd` until a write-off or an uncounted change gives it one.
const DAILY: [(&str, &str); 4] = [("#sd", "sd"), ("#rd", "rd"), ("#fd", "fd"), ("#wd", "wd")];

/// Adds a counting line's counter clauses for `hour` (the movement's) to `u`.
pub(super) fn count(u: &mut LevelUpdate, counter: Counter, shape: CounterShape, hour: i64, q: i64) {
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
            if counter == Counter::WrittenOff {
                // A level from before write-offs has no ring yet: refused here, then given one.
                u.condition = format!("{} AND attribute_exists(#wd)", u.condition);
            }
        }
        CounterShape::Create => {
            let sold = if counter == Counter::Sold { q } else { 0 };
            u.values.insert(":lh".into(), ring_with(HOURS, hour, sold));
            for (list, value) in DAILY {
                let units = if list == own { q } else { 0 };
                u.values
                    .insert(format!(":l{value}"), ring_with(DAYS, day, units));
                u.set.push(format!("{list} = :l{value}"));
            }
            u.set.push("#sh = :lh".into());
            u.set.push("#ch = :h".into());
            u.condition = keys::ABSENT.into();
        }
        CounterShape::RollFrom {
            head,
            written_off_ring,
        } => {
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
            for (list, value) in DAILY {
                let mine = list == own;
                if list == "#wd" && !written_off_ring {
                    // No ring to roll: a write-off starts one, anything else leaves it absent.
                    if mine {
                        u.values
                            .insert(format!(":l{value}"), ring_with(DAYS, day, q));
                        u.set.push(format!("{list} = :l{value}"));
                    }
                    continue;
                }
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

/// A transaction's put of `item`, under `condition` (with the item it found returned when the
/// condition fails, if `old_on_failure`).
pub(crate) fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    old_on_failure: bool,
) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned));
    let put = if old_on_failure {
        put.return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
    } else {
        put
    };
    TransactWriteItem::builder()
        .put(put.build().expect("table and item are set"))
        .build()
}

/// The update (None: a condition check) and condition for one level line.
pub(super) fn level_update(
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
            u.condition = format!("{} AND #av >= :q", keys::PRESENT);
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
            u.condition = format!("{} AND #it >= :q", keys::PRESENT);
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
                        keys::PRESENT.into()
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
            u.condition = keys::PRESENT.into();
        }
        LevelChange::Record => return (None, keys::PRESENT.into()),
        LevelChange::Reserve(_) => {
            u.set
                .push(format!("#rs = #rs + :q, #av = #av - :q, {BUMP_LEVEL}"));
            u.condition = format!("{} AND #av >= :q", keys::PRESENT);
        }
        LevelChange::Unreserve(_) => {
            u.set
                .push(format!("#rs = #rs - :q, #av = #av + :q, {BUMP_LEVEL}"));
            u.condition = format!("{} AND #rs >= :q", keys::PRESENT);
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
            u.condition = format!("{} AND #rs >= :held", keys::PRESENT);
        }
        LevelChange::Count { .. } => super::count::level_update(&mut u, change),
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
    super::count::line_attrs(item, change);
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
        let mut item: Item = keys::item(
            &record.partition,
            keys::movement_line(i),
            [
                ("entity".to_owned(), s(entity::MOVEMENT)),
                ("movement_id".to_owned(), s(&record.movement_id)),
                ("movement_kind".to_owned(), s(movement.kind.as_str())),
                ("kind".to_owned(), s(line.kind.as_str())),
                ("sku".to_owned(), s(line.sku.as_str())),
                ("location".to_owned(), s(line.location.as_str())),
                ("quantity".to_owned(), n(line.quantity())),
                ("actor".to_owned(), s(&record.actor)),
                ("at".to_owned(), s(&record.at)),
            ],
        );
        delta_attrs(&mut item, line.change);
        super::count::cuts_attr(&mut item, &movement.holds_cut);
        if let Some(r) = &movement.reference {
            item.insert("reference".into(), s(r));
        }
        if let Some(r) = &movement.reason {
            item.insert("reason".into(), s(r));
        }
        if let Some(c) = movement.reason_code {
            item.insert("reason_code".into(), s(c.as_str()));
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
            items.push(put(table, entry, None, false));
            roles.push(Role::LedgerEntry);
        }
        items.push(put(table, item, Some(keys::ABSENT), true));
        roles.push(Role::Ledger(i));
    }

    if let Some(order_id) = &movement.new_order {
        let sold: std::collections::BTreeMap<String, i64> = movement
            .lines
            .iter()
            .map(|line| {
                (
                    order_line_key(&line.sku, &line.location),
                    i64::from(line.quantity()),
                )
            })
            .collect();
        let order = OrderItem {
            order_id: order_id.as_str().into(),
            movement_id: record.movement_id.clone(),
            created_at: record.at.clone(),
            refundable: sold.clone(),
            sold,
            reservation_id: None,
            owner: Some(record.owner.clone()),
        };
        items.push(put(table, order.to_item(), Some(keys::ABSENT), false));
        roles.push(Role::NewOrder);
    }

    if let Some(claim) = &movement.order_claim {
        // Only its own client (or admin) refunds an order; one recorded before orders had owners
        // has none.
        let mut condition = format!("{} AND #rf.#line >= :q", keys::PRESENT);
        let mut update = Update::builder()
            .table_name(table)
            .set_key(Some(keys::key(
                keys::order(claim.order_id.as_str()),
                keys::META,
            )))
            .update_expression("SET #rf.#line = #rf.#line - :q")
            .expression_attribute_names("#rf", "refundable")
            .expression_attribute_names("#line", order_line_key(&claim.sku, &claim.location))
            .expression_attribute_values(":q", n(claim.quantity.get()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if !record.any_owner {
            condition.push_str(" AND (attribute_not_exists(#ow) OR #ow = :ow)");
            update = update
                .expression_attribute_names("#ow", "owner")
                .expression_attribute_values(":ow", s(&record.owner));
        }
        items.push(
            TransactWriteItem::builder()
                .update(
                    update
                        .condition_expression(condition)
                        .build()
                        .expect("table, key and expression are set"),
                )
                .build(),
        );
        roles.push(Role::OrderClaim);
    }

    for (i, cut) in movement.holds_cut.iter().enumerate() {
        items.push(super::count::hold_cut(table, cut));
        roles.push(Role::HoldCut(i));
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
    let key = keys::key(
        keys::sku(line.sku.as_str()),
        keys::location(line.location.as_str()),
    );
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

pub(super) fn exists_check(table: &str, pk: String) -> TransactWriteItem {
    TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(table)
                .set_key(Some(keys::key(pk, keys::META)))
                .condition_expression(keys::PRESENT)
                .build()
                .expect("table, key and condition are set"),
        )
        .build()
}
