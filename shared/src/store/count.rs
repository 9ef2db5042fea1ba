//! A count's write (pure: no I/O, but for reading what refused it): the level's conditions that
//! make a count apply as of when it was taken (no newer count applied; the level as it was when
//! what moved since was summed), what its movement line records, and the holds a count below
//! them cuts short, written in the same transaction.

use super::*;

/// A count's level update: on-hand becomes `counted` plus what moved since; with holds cut
/// short, reserved becomes what they keep.
pub(super) fn level_update(u: &mut LevelUpdate, change: LevelChange) {
    let LevelChange::Count { expected, at, .. } = change else {
        return;
    };
    let target = change.count_target().unwrap_or(0);
    u.values.insert(":counted".into(), n(target));
    let moved = at.map_or(0, CountedAt::moved_on_hand);
    if let Some(e) = expected {
        u.values.insert(":expected".into(), n(i64::from(e) + moved));
    }
    let moved_since = at.and_then(|a| a.moved);
    let fits = match moved_since.and_then(|m| m.reserved.map(|r| (r, m.cut))) {
        // The holds were cut to fit: reserved becomes what they keep (the level is pinned to
        // the version they were read at), and the units cut stay in `short_units` until the
        // holds close.
        Some((r, cut)) => {
            u.set.push(format!(
                "#oh = :counted, #rs = :rs, #av = :av, #su = if_not_exists(#su, :zero) + :cut, \
                 #it = if_not_exists(#it, :zero), {INIT_LEVEL}{INIT_COUNTERS}"
            ));
            u.values.insert(":cut".into(), n(cut));
            u.values.insert(":rs".into(), n(r));
            u.values.insert(":av".into(), n(target - r));
            None
        }
        None => {
            u.set.push(format!(
                "#oh = :counted, #av = :counted - if_not_exists(#rs, :zero), \
                 #rs = if_not_exists(#rs, :zero), #it = if_not_exists(#it, :zero), \
                 {INIT_LEVEL}{INIT_COUNTERS}"
            ));
            Some("#rs <= :counted")
        }
    };
    // A count taken at `at`: none newer may have been applied, and the level must be as it was
    // when what moved after the count was summed (unchanged since the count, or at the version
    // the sum was made at).
    let mut fresh = Vec::new();
    if let Some(at) = at {
        // When the count was taken, when it was applied and what it found had moved since: a
        // recount of the same moment needs no ledger (see [`guard`]).
        u.set.push("#lc = :lc, #cap = :now, #cm = :cm".into());
        u.values.insert(":lc".into(), n(at.at_ms));
        u.values.insert(":cm".into(), n(at.moved_on_hand()));
        fresh.push("(attribute_not_exists(#lc) OR #lc <= :lc)");
        fresh.push(match at.moved {
            None => {
                u.values
                    .insert(":cat".into(), s(crate::clock::rfc3339_millis(at.at_ms)));
                "#u <= :cat"
            }
            Some(m) => {
                u.values.insert(":ver".into(), n(m.version));
                "#v = :ver"
            }
        });
    }
    if expected.is_some() {
        fresh.push("#oh = :expected");
    }
    fresh.extend(fits);
    let guard = fresh.join(" AND ");
    u.condition = match expected {
        Some(e) if e > 0 => guard,
        _ => format!("{} OR ({guard})", keys::ABSENT),
    };
}

/// What a count's movement line records besides `counted` and `expected`.
pub(super) fn line_attrs(item: &mut Item, change: LevelChange) {
    let LevelChange::Count {
        counted,
        expected,
        at,
    } = change
    else {
        return;
    };
    item.insert("counted".into(), n(counted));
    if let Some(e) = expected {
        item.insert("expected".into(), n(e));
    }
    if let Some(at) = at {
        item.insert(
            "counted_at".into(),
            s(crate::clock::rfc3339_millis(at.at_ms)),
        );
        item.insert("moved_since".into(), n(at.moved_on_hand()));
    }
}

/// The holds a count cut short, as its movement line records them.
pub(super) fn cuts_attr(item: &mut Item, cuts: &[HoldCut]) {
    if cuts.is_empty() {
        return;
    }
    let list = cuts
        .iter()
        .map(|c| {
            AttributeValue::M(HashMap::from([
                ("reservation_id".to_owned(), s(&c.reservation_id)),
                ("cut".to_owned(), n(c.was - c.held)),
                ("held".to_owned(), n(c.held)),
            ]))
        })
        .collect();
    item.insert("holds_cut".into(), AttributeValue::L(list));
}

/// The update that cuts one held line short, under the condition that its reservation is still
/// active and as the cut was worked out from (its version).
pub(super) fn hold_cut(table: &str, cut: &HoldCut) -> TransactWriteItem {
    let line = cut.line;
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(keys::key(
            keys::reservation(&cut.reservation_id),
            keys::META,
        )))
        .update_expression(format!(
            "SET #ln[{line}].#q = :held, #ln[{line}].#sh = :short, #v = #v + :one"
        ))
        .condition_expression("#st = :active AND #v = :rv")
        .expression_attribute_names("#ln", "lines")
        .expression_attribute_names("#q", "quantity")
        .expression_attribute_names("#sh", "short")
        .expression_attribute_names("#v", "version")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":held", n(cut.held))
        .expression_attribute_values(":short", n(cut.short_before + cut.was - cut.held))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":active", s("active"))
        .expression_attribute_values(":rv", n(cut.version))
        .build()
        .expect("table, key and expression are set");
    TransactWriteItem::builder().update(update).build()
}

/// Why a count taken at a time no longer applies to the level as it is (`item`), if it does
/// not: a newer count was applied, the level moved after the count (or since what moved was
/// summed), or the count is below what the level's holds keep.
pub(super) fn guard(change: LevelChange, item: &Item) -> Option<Refusal> {
    let LevelChange::Count { at: Some(at), .. } = change else {
        return None;
    };
    if let Some(latest_ms) = get_n(item, "last_count_ms").filter(|l| *l > at.at_ms) {
        return Some(Refusal::CountSuperseded { latest_ms });
    }
    let version = get_n(item, "version").unwrap_or(0);
    let moved = match at.moved {
        None => get_s(item, "updated_at")
            .is_some_and(|u| u > crate::clock::rfc3339_millis(at.at_ms).as_str()),
        Some(m) => version != m.version,
    };
    if moved {
        // The last change was a count taken at this same moment: it summed what moved since.
        let recount = (get_n(item, "last_count_ms") == Some(at.at_ms)
            && get_s(item, "updated_at").is_some()
            && get_s(item, "updated_at") == get_s(item, "count_applied_at"))
        .then(|| get_n(item, "count_moved").unwrap_or(0));
        return Some(Refusal::LevelMoved {
            version,
            last_movement: get_s(item, "last_movement").unwrap_or_default().to_owned(),
            recount,
        });
    }
    let reserved = get_n(item, "reserved").unwrap_or(0);
    let kept = at.moved.and_then(|m| m.reserved);
    (kept.is_none() && reserved > change.count_target().unwrap_or(0))
        .then_some(Refusal::ShortUnderHolds { version, reserved })
}

/// `item` (a closing hold's write of one level) also giving back the `short` units a count cut
/// from that held line: the level's `short_units` falls by them (what a `holds_short` alert
/// reads), so the alert resolves once every cut hold is closed. A line cut to nothing only
/// checked its level; it now updates it.
pub(crate) fn releasing_short(item: TransactWriteItem, short: i64) -> TransactWriteItem {
    if short <= 0 {
        return item;
    }
    // What the level's write was: its key, condition, names and values, and its SET (none for
    // a condition check).
    let (key, condition, names, values, set, answer) = if let Some(u) = item.update() {
        (
            u.key(),
            u.condition_expression(),
            u.expression_attribute_names(),
            u.expression_attribute_values(),
            format!("{}, ", u.update_expression()),
            u.return_values_on_condition_check_failure(),
        )
    } else if let Some(c) = item.condition_check() {
        (
            c.key(),
            Some(c.condition_expression()),
            c.expression_attribute_names(),
            c.expression_attribute_values(),
            "SET ".to_owned(),
            c.return_values_on_condition_check_failure(),
        )
    } else {
        return item;
    };
    let mut names = names.cloned().unwrap_or_default();
    names.insert("#su".into(), "short_units".into());
    let mut values = values.cloned().unwrap_or_default();
    values.insert(":su".into(), n(short));
    let table = item
        .update()
        .map(|u| u.table_name())
        .or_else(|| item.condition_check().map(|c| c.table_name()))
        .unwrap_or_default();
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key.clone()))
        .update_expression(format!("{set}#su = #su - :su"))
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .set_return_values_on_condition_check_failure(answer.cloned())
        .build()
        .expect("table, key and expression are set");
    TransactWriteItem::builder().update(update).build()
}
