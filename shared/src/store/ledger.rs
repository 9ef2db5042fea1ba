//! Each SKU's ledger (`LEDGER#<sku>`, newest first): the entry the stream projector makes of a
//! movement line with the level's exact before and after, and the entries read back.

use super::*;
use crate::proof::LedgerStep;

/// Attributes of a movement line that are its idempotency record, not part of the ledger.
pub(super) const RECORD_ONLY: [&str; 5] = [
    keys::PARTITION,
    keys::SORT,
    "request_hash",
    "response",
    "line_count",
];

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
    let number: usize = get_s(line, keys::SORT)?
        .strip_prefix("LINE#")?
        .parse()
        .ok()?;
    let mut entry: Item = line
        .iter()
        .filter(|(k, _)| !RECORD_ONLY.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    entry.extend(keys::key(
        keys::ledger(sku),
        keys::ledger_sort(at, movement_id, number),
    ));
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

/// One entry as reconciliation and a count read it (its `before` and `after`, exact).
fn ledger_step(item: &Item) -> LedgerStep {
    let quantities = |k: &str| {
        let m = item.get(k).and_then(|v| v.as_m().ok());
        let n = |f: &str| {
            m.and_then(|m| m.get(f))
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Quantities {
            on_hand: n("on_hand"),
            reserved: n("reserved"),
            in_transit: n("in_transit"),
            available: n("available"),
        }
    };
    let text = |k: &str| get_s(item, k).unwrap_or_default().to_owned();
    LedgerStep {
        sort: text(keys::SORT),
        movement_id: text("movement_id"),
        kind: text("kind"),
        at: text("at"),
        version: get_n(item, "version"),
        movement: get_s(item, "movement").map(str::to_owned),
        before: quantities("before"),
        after: quantities("after"),
    }
}

/// `<partition>|<sort key>` of a ledger line, as stored in a level's `last_movement`.
pub fn ledger_ref(partition: &str, line: usize) -> String {
    keys::line_ref(partition, line)
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
    /// When a count was taken, and how the level's on-hand moved after it (kept on top).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_since: Option<i64>,
    /// The level's version after this line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restocked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A write-off's reason, or a count's when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<crate::domain::ReasonCode>,
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

pub(super) fn ledger_from_item(item: &Item) -> Result<LedgerEntry, StoreError> {
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
        counted_at: i.counted_at,
        moved_since: i.moved_since,
        version: i.version,
        restocked: i.restocked,
        reference: i.reference,
        reason: i.reason,
        reason_code: i.reason_code,
        order_id: i.order_id,
        actor: i.actor,
        at: i.at,
        before: i.before.map(Into::into),
        after: i.after.map(Into::into),
    })
}

impl Store {
    /// A SKU's ledger, newest first.
    pub async fn ledger(
        &self,
        sku: &SkuId,
        limit: i32,
        cursor: Option<&str>,
    ) -> Result<Page<LedgerEntry>, StoreError> {
        let partition = keys::ledger(sku.as_str());
        PageQuery::new(Partition::Table(&partition), limit, cursor)
            .newest_first(true)
            .send(&self.client, &self.table)
            .await?
            .try_map(ledger_from_item)
    }

    /// How much a level's on-hand moved after `at_ms` (milliseconds), summed from its ledger's
    /// exact befores and afters; None while the ledger has not caught up with the level as it
    /// is (`level`: its version and last movement, no entry for it yet). Entries at `at_ms`
    /// itself count as before it, and counts applied since (taken no later than `at_ms`) are
    /// not movements of the shelf. Consistent reads.
    pub async fn on_hand_moved_since(
        &self,
        sku: &SkuId,
        location: &LocationId,
        at_ms: i64,
        level: &(i64, String),
    ) -> Result<Option<i64>, StoreError> {
        let (version, last_movement) = level;
        // Sort keys are `<at>#<movement>#<line>`: `<at>$` sorts after every entry at `at`.
        let after = format!("{}$", crate::clock::rfc3339_millis(at_ms));
        let steps = self.ledger_steps(sku, location, &after).await?;
        // An entry newer than the level as it was read is left out: the count is written
        // against that version, which then fails and sums again.
        let steps = steps
            .iter()
            .filter(|s| s.version.is_none_or(|v| v <= *version));
        let (mut moved, mut caught_up) = (0, false);
        for s in steps {
            caught_up |=
                s.version == Some(*version) || s.movement.as_deref() == Some(last_movement);
            // A count applied since was taken no later than this one (a later one would have
            // made this one stale): what it changed is older news than this count.
            if s.kind != MovementKind::Adjustment.as_str() {
                moved += s.after.on_hand - s.before.on_hand;
            }
        }
        Ok(caught_up.then_some(moved))
    }

    /// The entries of `location`'s level in `sku`'s ledger that changed it, sorted after
    /// `after` (a sort key, or a prefix of one), oldest first. Consistent reads; the ledger is
    /// one partition per SKU, so every location's entries in the range are read and passed over.
    pub async fn ledger_steps(
        &self,
        sku: &SkuId,
        location: &LocationId,
        after: &str,
    ) -> Result<Vec<LedgerStep>, StoreError> {
        let mut start = None;
        let mut steps = Vec::new();
        // DynamoDB takes no empty key value: from the ledger's beginning, no lower bound.
        let range = match after {
            "" => "#pk = :pk",
            _ => "#pk = :pk AND #sk > :after",
        };
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression(range)
                .filter_expression("#loc = :loc AND attribute_exists(#a)")
                .projection_expression("#sk, #loc, #b, #a, #v, #m, #k, #id, #at")
                .expression_attribute_names("#pk", keys::PARTITION)
                .expression_attribute_names("#sk", keys::SORT)
                .expression_attribute_names("#loc", "location")
                .expression_attribute_names("#b", "before")
                .expression_attribute_names("#a", "after")
                .expression_attribute_names("#v", "version")
                .expression_attribute_names("#m", "movement")
                .expression_attribute_names("#k", "kind")
                .expression_attribute_names("#id", "movement_id")
                .expression_attribute_names("#at", "at")
                .set_expression_attribute_values(Some(
                    [
                        (":pk", s(keys::ledger(sku.as_str()))),
                        (":loc", s(location.as_str())),
                        (":after", s(after)),
                    ]
                    .into_iter()
                    .filter(|(k, _)| *k != ":after" || !after.is_empty())
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect(),
                ))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            steps.extend(page.items().iter().map(ledger_step));
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return Ok(steps);
            }
        }
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
        version: i64,
    ) -> Result<(), StoreError> {
        let Some((pk, sk)) = line_ref.split_once('|') else {
            return Ok(());
        };
        let line = read_item(&self.client, &self.table, keys::key(pk, sk)).await?;
        let zero = Quantities::default();
        let Some(mut entry) = line
            .as_ref()
            .and_then(|l| ledger_entry(l, line_ref, Some(before.unwrap_or(&zero)), Some(after)))
        else {
            return Ok(());
        };
        // The level's version after this line: how a reader knows the ledger has caught up.
        entry.insert("version".into(), n(version));
        // Written before (a redelivered record): nothing to do.
        unless_condition_failed(put_new(&self.client, &self.table, entry).send().await)?;
        Ok(())
    }
}
