//! A reservation's ledger entries. The stream evaluator meets a level changed by a hold, a
//! commit, a release or an expiry (`last_movement` = `RES#<id>|<event>#<line>`) and writes that
//! line's entry from the reservation item, with the level's exact before and after. A hold's
//! entry is listed in the `holds` index until the reservation closes; the closing entry takes
//! it out.

use std::collections::HashMap;

use aws_sdk_dynamodb::{types::AttributeValue, Client};

use super::{Event, Reservation, ReservedLine};
use crate::{
    domain::{LevelChange, MovementKind, Quantities, Quantity},
    schema::{entity, keys, Item},
    store::{delta_attrs, n, s, StoreError},
};

fn quantities(q: &Quantities) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("on_hand".into(), n(q.on_hand)),
        ("reserved".into(), n(q.reserved)),
        ("in_transit".into(), n(q.in_transit)),
        ("available".into(), n(q.available)),
    ]))
}

/// The sort key of line `line`'s entry for `event` at `at`.
fn entry_sort(r: &Reservation, event: Event, line: usize, at: &str) -> String {
    keys::ledger_sort(at, &format!("{}.{}", r.id, event.as_str()), line)
}

/// What `event` records for one held line: its kind, quantity and level change.
fn what(l: &ReservedLine, event: Event) -> Option<(MovementKind, i64, Option<LevelChange>)> {
    let held = Quantity::parse("quantity", l.quantity).ok()?;
    Some(match event {
        Event::Hold => (
            MovementKind::Hold,
            l.quantity,
            Some(LevelChange::Reserve(held)),
        ),
        Event::Release => (
            MovementKind::HoldRelease,
            l.quantity,
            Some(LevelChange::Unreserve(held)),
        ),
        Event::Expire => (
            MovementKind::HoldExpire,
            l.quantity,
            Some(LevelChange::Unreserve(held)),
        ),
        Event::Extend => (MovementKind::HoldExtend, l.quantity, None),
        Event::Commit => {
            let take = l.taken.unwrap_or(0).clamp(0, l.quantity);
            let change = LevelChange::Commit {
                take: take as u32,
                held,
            };
            if take > 0 {
                (MovementKind::Sale, take, Some(change))
            } else {
                (MovementKind::HoldRelease, l.quantity, Some(change))
            }
        }
    })
}

/// The ledger entry of line `line` of `r` for `event`, done at `at` by `actor`.
pub fn entry(
    r: &Reservation,
    event: Event,
    line: usize,
    at: &str,
    actor: &str,
    before: Option<&Quantities>,
    after: Option<&Quantities>,
) -> Option<Item> {
    let l = r.lines.get(line)?;
    let (kind, quantity, change) = what(l, event)?;
    let mut e: Item = keys::item(
        keys::ledger(&l.sku),
        entry_sort(r, event, line, at),
        [
            ("entity", s(entity::LEDGER_ENTRY)),
            ("movement_id", s(&r.id)),
            ("reservation_id", s(&r.id)),
            ("movement", s(super::ledger_ref(&r.id, event, line))),
            ("kind", s(kind.as_str())),
            ("sku", s(&l.sku)),
            ("location", s(&l.location)),
            ("quantity", n(quantity)),
            ("actor", s(actor)),
            ("at", s(at)),
        ],
    );
    match change {
        Some(c) => delta_attrs(&mut e, c),
        None => {
            for d in ["d_on_hand", "d_available", "d_in_transit"] {
                e.insert(d.into(), n(0));
            }
        }
    }
    if let Some(r) = &r.reference {
        e.insert("reference".into(), s(r));
    }
    if event == Event::Commit {
        if let Some(o) = &r.order_id {
            e.insert("order_id".into(), s(o));
        }
        let released = l.quantity - l.taken.unwrap_or(0);
        if released > 0 && l.taken.unwrap_or(0) > 0 {
            e.insert("released".into(), n(released));
        }
    }
    if event == Event::Hold {
        e.insert(
            keys::HOLD_PARTITION_ATTRIBUTE.into(),
            s(keys::holds(&l.sku)),
        );
        e.insert(
            keys::HOLD_SORT_ATTRIBUTE.into(),
            s(keys::hold_sort(&l.location, &r.id)),
        );
    }
    if let Some(b) = before {
        e.insert("before".into(), quantities(b));
    }
    if let Some(a) = after {
        e.insert("after".into(), quantities(a));
    }
    Some(e)
}

/// Records the ledger entry a level change names (`RES#<id>|<event>#<line>`), from the
/// reservation item. Idempotent: a redelivered record finds its entry written.
pub async fn record(
    client: &Client,
    table: &str,
    line_ref: &str,
    before: &Quantities,
    after: &Quantities,
    version: i64,
) -> Result<(), StoreError> {
    let Some((pk, sk)) = line_ref.split_once('|') else {
        return Ok(());
    };
    let Some((event, line)) = sk
        .split_once('#')
        .and_then(|(e, l)| Some((Event::parse(e)?, l.parse::<usize>().ok()?)))
    else {
        tracing::error!(
            line_ref,
            "level names a reservation step this release does not know"
        );
        return Ok(());
    };
    let item = client
        .get_item()
        .table_name(table)
        .set_key(Some(keys::key(pk, keys::META)))
        .consistent_read(true)
        .send()
        .await
        .map_err(StoreError::from_sdk)?
        .item;
    let Some(item) = item else {
        return Ok(());
    };
    let r = Reservation::from_item(&item)?;
    let (at, actor) = match event {
        Event::Hold => (Some(r.created_at.as_str()), Some(r.created_by.as_str())),
        _ => (r.closed_at.as_deref(), r.closed_by.as_deref()),
    };
    let (Some(at), Some(actor)) = (at, actor) else {
        return Ok(());
    };
    let Some(mut entry) = entry(&r, event, line, at, actor, Some(before), Some(after)) else {
        return Ok(());
    };
    entry.insert("version".into(), n(version));
    let put = client
        .put_item()
        .table_name(table)
        .set_item(Some(entry))
        .condition_expression(keys::ABSENT)
        .send()
        .await;
    // Written before (a redelivered record): nothing to do.
    crate::store::unless_condition_failed(put)?;
    if matches!(event, Event::Commit | Event::Release | Event::Expire) {
        // The hold is over: its entry leaves the `holds` index.
        let l = &r.lines[line];
        let removed = client
            .update_item()
            .table_name(table)
            .set_key(Some(keys::key(
                keys::ledger(&l.sku),
                entry_sort(&r, Event::Hold, line, &r.created_at),
            )))
            .update_expression("REMOVE #hp, #hs")
            .condition_expression(keys::PRESENT)
            .expression_attribute_names("#hp", keys::HOLD_PARTITION_ATTRIBUTE)
            .expression_attribute_names("#hs", keys::HOLD_SORT_ATTRIBUTE)
            .send()
            .await;
        crate::store::unless_condition_failed(removed)?;
    }
    Ok(())
}
