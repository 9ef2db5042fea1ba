//! Request bodies as clients send them, and their validation into domain values. Unknown fields
//! are refused; every validation error names its field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::{
    parse_count, parse_text, FieldError, FieldErrors, LevelChange, LocationId, LocationKind,
    Movement, MovementKind, MovementLine, OrderClaim, OrderId, Quantity, ReasonCode, SkuId,
    SupplyFacts, UnitCost, MAX_ATTRIBUTES, MAX_LEAD_DAYS, MAX_ORDER_LINES,
};
pub use crate::movements::AdjustmentBody;

/// An optional field read by `parse`: `Some(None)` when absent, `None` with its error kept.
fn optional<T>(
    errors: &mut FieldErrors,
    field: &str,
    raw: &Option<String>,
    parse: impl FnOnce(&str, &str) -> Result<T, FieldError>,
) -> Option<Option<T>> {
    match raw {
        None => Some(None),
        Some(t) => errors.take(parse(field, t)).map(Some),
    }
}

fn opt_text(errors: &mut FieldErrors, field: &str, raw: &Option<String>) -> Option<Option<String>> {
    optional(errors, field, raw, parse_text)
}

/// A body's lines (`lines[i].sku`, `.location`, `.quantity`), every error kept: 1 to
/// [`MAX_ORDER_LINES`] of them (else `count_error` on `lines`), no two at the same SKU and
/// location, each quantity read by `quantity`.
fn lines_of<'a, Q>(
    e: &mut FieldErrors,
    lines: impl ExactSizeIterator<Item = (&'a str, &'a str, i64)>,
    count_error: &str,
    quantity: impl Fn(&str, i64) -> Result<Q, FieldError>,
) -> Vec<(SkuId, LocationId, Q)> {
    if lines.len() == 0 || lines.len() > MAX_ORDER_LINES {
        e.0.push(FieldError::new("lines", count_error));
    }
    let mut out: Vec<(SkuId, LocationId, Q)> = Vec::with_capacity(lines.len());
    for (i, (sku, location, q)) in lines.enumerate() {
        let sku = e.take(SkuId::parse(&format!("lines[{i}].sku"), sku));
        let location = e.take(LocationId::parse(&format!("lines[{i}].location"), location));
        let q = e.take(quantity(&format!("lines[{i}].quantity"), q));
        if let (Some(sku), Some(location), Some(q)) = (sku, location, q) {
            if out.iter().any(|(s, l, _)| *s == sku && *l == location) {
                e.0.push(FieldError::new(
                    format!("lines[{i}]"),
                    "repeats the SKU and location of an earlier line; merge them",
                ));
            }
            out.push((sku, location, q));
        }
    }
    out
}

impl OrderLineBody {
    fn parts(&self) -> (&str, &str, i64) {
        (&self.sku, &self.location, self.quantity)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuBody {
    pub name: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// What one unit cost (a decimal number), with `currency`: the report's inventory value.
    #[serde(default)]
    pub unit_cost: Option<serde_json::Number>,
    #[serde(default)]
    pub currency: Option<String>,
    /// Where the SKU is bought and how (replenishment); a PUT without it removes it.
    #[serde(default)]
    pub supply: Option<SupplyBody>,
}

/// A SKU's supply facts as a client sends them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupplyBody {
    #[serde(default)]
    pub supplier: Option<String>,
    #[serde(default)]
    pub lead_time_days: Option<i64>,
    #[serde(default)]
    pub min_order_qty: Option<i64>,
    #[serde(default)]
    pub pack_size: Option<i64>,
    #[serde(default)]
    pub lead_time_by_location: BTreeMap<String, i64>,
}

impl SupplyBody {
    fn validate(&self, e: &mut FieldErrors) -> Option<SupplyFacts> {
        let lead = |field: &str, v: i64| {
            u32::try_from(v)
                .ok()
                .filter(|d| *d <= MAX_LEAD_DAYS)
                .ok_or_else(|| {
                    FieldError::new(
                        field,
                        format!("must be a whole number of days from 0 to {MAX_LEAD_DAYS}"),
                    )
                })
        };
        let units = |field: &str, v: i64| {
            u32::try_from(v)
                .ok()
                .filter(|q| (1..=crate::domain::MAX_QUANTITY).contains(q))
                .ok_or_else(|| {
                    FieldError::new(
                        field,
                        format!(
                            "must be an integer from 1 to {}",
                            crate::domain::MAX_QUANTITY
                        ),
                    )
                })
        };
        let before = e.0.len();
        let supplier = match &self.supplier {
            None => None,
            Some(raw) => e.take(
                OrderId::parse("supply.supplier", raw)
                    .map(|_| raw.clone())
                    .map_err(|_| {
                        FieldError::new(
                            "supply.supplier",
                            "a supplier id is 1 to 64 of letters, digits and ._:- starting with a letter or digit",
                        )
                    }),
            ),
        };
        let lead_time_days = self
            .lead_time_days
            .and_then(|v| e.take(lead("supply.lead_time_days", v)));
        let min_order_qty = self
            .min_order_qty
            .and_then(|v| e.take(units("supply.min_order_qty", v)));
        let pack_size = self
            .pack_size
            .and_then(|v| e.take(units("supply.pack_size", v)));
        if self.lead_time_by_location.len() > 100 {
            e.0.push(FieldError::new(
                "supply.lead_time_by_location",
                "at most 100 locations",
            ));
        }
        let mut by_location = BTreeMap::new();
        for (loc, days) in &self.lead_time_by_location {
            let field = format!("supply.lead_time_by_location.{loc}");
            let loc = e.take(LocationId::parse(&field, loc));
            let days = e.take(lead(&field, *days));
            if let (Some(loc), Some(days)) = (loc, days) {
                by_location.insert(loc.to_string(), days);
            }
        }
        (e.0.len() == before).then_some(SupplyFacts {
            supplier,
            lead_time_days,
            min_order_qty,
            pack_size,
            lead_time_by_location: by_location,
        })
    }
}

/// A SKU as a PUT validated it.
pub struct SkuInput {
    pub name: String,
    pub attributes: BTreeMap<String, String>,
    pub cost: Option<UnitCost>,
    pub supply: Option<SupplyFacts>,
}

impl SkuBody {
    pub fn validate(&self) -> Result<SkuInput, Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let name = errors.take(parse_text("name", &self.name));
        let cost = match (&self.unit_cost, &self.currency) {
            (None, None) => Some(None),
            (Some(amount), Some(currency)) => {
                match UnitCost::parse(&amount.to_string(), currency) {
                    Ok(cost) => Some(Some(cost)),
                    Err(e) => {
                        errors.0.extend(e);
                        None
                    }
                }
            }
            (Some(_), None) => {
                errors
                    .0
                    .push(FieldError::new("currency", "is required with unit_cost"));
                None
            }
            (None, Some(_)) => {
                errors
                    .0
                    .push(FieldError::new("unit_cost", "is required with currency"));
                None
            }
        };
        if self.attributes.len() > MAX_ATTRIBUTES {
            errors.0.push(FieldError::new(
                "attributes",
                format!("at most {MAX_ATTRIBUTES} attributes"),
            ));
        }
        let mut attributes = BTreeMap::new();
        for (k, v) in &self.attributes {
            let field = format!("attributes.{k}");
            let key_ok = !k.is_empty()
                && k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !key_ok {
                errors.0.push(FieldError::new(
                    &field,
                    "attribute names are 1 to 64 letters, digits, '_' or '-'",
                ));
            }
            if let Some(v) = errors.take(parse_text(&field, v)) {
                attributes.insert(k.clone(), v);
            }
        }
        let supply = match &self.supply {
            None => Some(None),
            Some(b) => b.validate(&mut errors).map(Some),
        };
        errors.finish(|| {
            Some(SkuInput {
                name: name?,
                attributes,
                cost: cost?,
                supply: supply?,
            })
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationBody {
    pub name: String,
    pub kind: LocationKind,
    /// ISO 3166-1 alpha-2 country code, required for a country location.
    #[serde(default)]
    pub country: Option<String>,
}

impl LocationBody {
    pub fn validate(&self) -> Result<(String, LocationKind, Option<String>), Vec<FieldError>> {
        let mut errors = FieldErrors::default();
        let name = errors.take(parse_text("name", &self.name));
        let country = match &self.country {
            Some(c) if c.len() == 2 && c.chars().all(|c| c.is_ascii_uppercase()) => Some(c.clone()),
            Some(_) => {
                errors.0.push(FieldError::new(
                    "country",
                    "must be an ISO 3166-1 alpha-2 code such as DE",
                ));
                None
            }
            None if self.kind == LocationKind::Country => {
                errors.0.push(FieldError::new(
                    "country",
                    "is required for a country location",
                ));
                None
            }
            None => None,
        };
        errors.finish(|| Some((name?, self.kind, country)))
    }
}

/// A single-line sale.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleBody {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    #[serde(default)]
    pub reference: Option<String>,
    /// Recorded like a one-line order of this id, so a storefront can refund it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

/// One line of a multi-line order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLineBody {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    pub order_id: String,
    pub lines: Vec<OrderLineBody>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    /// When set, the refund is checked against what that order sold.
    #[serde(default)]
    pub order_id: Option<String>,
    /// `false` for goods damaged or never returned: recorded, no quantity changes.
    #[serde(default = "yes")]
    pub restock: bool,
    #[serde(default)]
    pub reason: Option<String>,
}

fn yes() -> bool {
    true
}

/// `POST /v1/writeoffs`: stock taken out of on_hand, with why.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteOffBody {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    /// One of [`ReasonCode`]'s codes.
    pub reason_code: String,
    #[serde(default)]
    pub note: Option<String>,
}

impl WriteOffBody {
    pub fn validate(&self) -> Result<Movement, Vec<FieldError>> {
        let mut e = FieldErrors::default();
        let level = level_line(&mut e, &self.sku, &self.location, self.quantity);
        let code = e.take(ReasonCode::parse("reason_code", &self.reason_code));
        let note = opt_text(&mut e, "note", &self.note);
        e.finish(|| {
            let mut movement = single(MovementKind::WriteOff, level?, LevelChange::Withdraw, None);
            movement.reason = note?;
            movement.reason_code = Some(code?);
            Some(movement)
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    /// Take the received quantity out of in_transit (a shipment announced with `incoming`).
    #[serde(default)]
    pub from_in_transit: bool,
    #[serde(default)]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncomingBody {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    #[serde(default)]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    pub sku: String,
    pub from: String,
    pub to: String,
    pub quantity: i64,
    #[serde(default)]
    pub reference: Option<String>,
}

/// A line's level and quantity (`sku`, `location`, `quantity`), each error kept.
fn level_line(
    e: &mut FieldErrors,
    sku: &str,
    location: &str,
    quantity: i64,
) -> Option<(SkuId, LocationId, Quantity)> {
    let sku = e.take(SkuId::parse("sku", sku));
    let location = e.take(LocationId::parse("location", location));
    let quantity = e.take(Quantity::parse("quantity", quantity));
    Some((sku?, location?, quantity?))
}

/// A movement of `kind` made of `lines`, with nothing else recorded.
fn movement(kind: MovementKind, lines: Vec<MovementLine>) -> Movement {
    Movement::of(kind, lines)
}

/// A movement of `kind` with one line at a level, `change` made of its quantity.
fn single(
    kind: MovementKind,
    (sku, location, quantity): (SkuId, LocationId, Quantity),
    change: impl FnOnce(Quantity) -> LevelChange,
    reference: Option<String>,
) -> Movement {
    let line = MovementLine {
        kind,
        sku,
        location,
        change: change(quantity),
    };
    Movement {
        reference,
        ..movement(kind, vec![line])
    }
}

impl SaleBody {
    pub fn validate(&self) -> Result<Movement, Vec<FieldError>> {
        let mut e = FieldErrors::default();
        let level = level_line(&mut e, &self.sku, &self.location, self.quantity);
        let reference = opt_text(&mut e, "reference", &self.reference);
        let order_id = optional(&mut e, "order_id", &self.order_id, OrderId::parse);
        e.finish(|| {
            let mut sale = single(
                MovementKind::Sale,
                level?,
                LevelChange::Withdraw,
                reference?,
            );
            sale.new_order = order_id?;
            Some(sale)
        })
    }
}

impl OrderBody {
    pub fn validate(&self) -> Result<Movement, Vec<FieldError>> {
        let mut e = FieldErrors::default();
        let order_id = e.take(OrderId::parse("order_id", &self.order_id));
        let lines = lines_of(
            &mut e,
            self.lines.iter().map(OrderLineBody::parts),
            &format!("an order has 1 to {MAX_ORDER_LINES} lines"),
            Quantity::parse,
        );
        e.finish(|| {
            let lines = lines
                .into_iter()
                .map(|(sku, location, q)| MovementLine {
                    kind: MovementKind::Sale,
                    sku,
                    location,
                    change: LevelChange::Withdraw(q),
                })
                .collect();
            Some(Movement {
                new_order: Some(order_id?),
                ..movement(MovementKind::Sale, lines)
            })
        })
    }
}

impl RefundBody {
    /// Whether only ops (the admin scope) may make this refund: it restocks without naming the
    /// order it refunds. A storefront's restocking refund names a recorded order and stays
    /// within what that order sold; one that restocks nothing (goods damaged or kept) needs none.
    pub fn needs_admin(&self) -> bool {
        self.restock && self.order_id.is_none()
    }

    pub fn validate(&self) -> Result<Movement, Vec<FieldError>> {
        let mut e = FieldErrors::default();
        let level = level_line(&mut e, &self.sku, &self.location, self.quantity);
        let order_id = optional(&mut e, "order_id", &self.order_id, OrderId::parse);
        let reason = opt_text(&mut e, "reason", &self.reason);
        e.finish(|| {
            let (sku, location, q) = level?;
            let order_claim = order_id?.map(|order_id| OrderClaim {
                order_id,
                sku: sku.clone(),
                location: location.clone(),
                quantity: q,
            });
            let restock = self.restock;
            let change = |q| {
                if restock {
                    LevelChange::Restock(q)
                } else {
                    LevelChange::Record
                }
            };
            Some(Movement {
                order_claim,
                reason: reason?,
                ..single(MovementKind::Refund, (sku, location, q), change, None)
            })
        })
    }
}

/// A one-line movement of `kind` with an optional `reference`: a receipt or an incoming
/// shipment.
fn referenced(
    kind: MovementKind,
    (sku, location, quantity): (&str, &str, i64),
    reference: &Option<String>,
    change: impl FnOnce(Quantity) -> LevelChange,
) -> Result<Movement, Vec<FieldError>> {
    let mut e = FieldErrors::default();
    let level = level_line(&mut e, sku, location, quantity);
    let reference = opt_text(&mut e, "reference", reference);
    e.finish(|| Some(single(kind, level?, change, reference?)))
}

impl ReceiptBody {
    pub fn validate(&self) -> Result<Movement, Vec<FieldError>> {
        let from_in_transit = self.from_in_transit;
        referenced(
            MovementKind::Receipt,
            (&self.sku, &self.location, self.quantity),
            &self.reference,
            |quantity| LevelChange::Receive {
                quantity,
                from_in_transit,
            },
        )
    }
}

impl IncomingBody {
    pub fn validate(&self) -> Result<Movement, Vec<FieldError>> {
        referenced(
            MovementKind::Incoming,
            (&self.sku, &self.location, self.quantity),
            &self.reference,
            LevelChange::Expect,
        )
    }
}

impl TransferBody {
    pub fn validate(&self) -> Result<Movement, Vec<FieldError>> {
        let mut e = FieldErrors::default();
        let sku = e.take(SkuId::parse("sku", &self.sku));
        let from = e.take(LocationId::parse("from", &self.from));
        let to = e.take(LocationId::parse("to", &self.to));
        let q = e.take(Quantity::parse("quantity", self.quantity));
        let reference = opt_text(&mut e, "reference", &self.reference);
        if from.is_some() && from == to {
            e.0.push(FieldError::new("to", "must differ from `from`"));
        }
        e.finish(|| {
            let (sku, q) = (sku?, q?);
            let lines = vec![
                MovementLine {
                    kind: MovementKind::TransferOut,
                    sku: sku.clone(),
                    location: from?,
                    change: LevelChange::Withdraw(q),
                },
                MovementLine {
                    kind: MovementKind::TransferIn,
                    sku,
                    location: to?,
                    change: LevelChange::Receive {
                        quantity: q,
                        from_in_transit: false,
                    },
                },
            ];
            Some(Movement {
                reference: reference?,
                ..movement(MovementKind::TransferOut, lines)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields a validation names, in order.
    fn fields<T: std::fmt::Debug>(validated: Result<T, Vec<FieldError>>) -> Vec<String> {
        validated
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn every_invalid_field_is_named_at_once() {
        let body = SaleBody {
            sku: "bad sku".into(),
            location: "".into(),
            quantity: 0,
            reference: None,
            order_id: None,
        };
        assert_eq!(fields(body.validate()), vec!["sku", "location", "quantity"]);
    }

    #[test]
    fn order_lines_are_named_by_index_and_duplicates_refused() {
        let line = |sku: &str, q| OrderLineBody {
            sku: sku.into(),
            location: "WH1".into(),
            quantity: q,
        };
        let body = OrderBody {
            order_id: "o-1".into(),
            lines: vec![line("A", 1), line("B", -1), line("A", 2)],
        };
        assert_eq!(
            fields(body.validate()),
            vec!["lines[1].quantity", "lines[2]"]
        );
        let empty = OrderBody {
            order_id: "o-1".into(),
            lines: vec![],
        };
        assert_eq!(empty.validate().unwrap_err()[0].field, "lines");
    }

    #[test]
    fn transfer_needs_two_locations() {
        let body = TransferBody {
            sku: "A".into(),
            from: "WH1".into(),
            to: "WH1".into(),
            quantity: 1,
            reference: None,
        };
        assert_eq!(body.validate().unwrap_err()[0].field, "to");
    }

    #[test]
    fn refund_not_restocked_records_only() {
        let body: RefundBody = serde_json::from_str(
            r#"{"sku":"A","location":"WH1","quantity":2,"restock":false,"order_id":"o-1"}"#,
        )
        .unwrap();
        let m = body.validate().unwrap();
        assert_eq!(m.lines[0].change, LevelChange::Record);
        assert_eq!(m.order_claim.unwrap().quantity.get(), 2);
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<SaleBody>(
            r#"{"sku":"A","location":"WH1","quantity":1,"price":3}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `price`"));
    }
}

/// `POST /v1/reservations`: hold every line for `ttl_minutes`, or nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    pub lines: Vec<OrderLineBody>,
    #[serde(default)]
    pub ttl_minutes: Option<i64>,
    /// The storefront's cart or checkout id, kept on the reservation and its ledger entries.
    #[serde(default)]
    pub reference: Option<String>,
}

fn ttl(field: &str, raw: Option<i64>) -> Result<i64, FieldError> {
    use crate::reservations::{DEFAULT_TTL_MINUTES, MAX_TTL_MINUTES, MIN_TTL_MINUTES};
    match raw {
        None => Ok(DEFAULT_TTL_MINUTES),
        Some(t) if (MIN_TTL_MINUTES..=MAX_TTL_MINUTES).contains(&t) => Ok(t),
        Some(_) => Err(FieldError::new(
            field,
            format!("must be an integer from {MIN_TTL_MINUTES} to {MAX_TTL_MINUTES} (minutes)"),
        )),
    }
}

impl HoldBody {
    pub fn validate(&self) -> Result<crate::reservations::HoldRequest, Vec<FieldError>> {
        use crate::reservations::{HoldLine, HoldRequest};
        let mut e = FieldErrors::default();
        let lines = lines_of(
            &mut e,
            self.lines.iter().map(OrderLineBody::parts),
            &format!("a reservation has 1 to {MAX_ORDER_LINES} lines"),
            Quantity::parse,
        );
        let ttl_minutes = e.take(ttl("ttl_minutes", self.ttl_minutes));
        let reference = opt_text(&mut e, "reference", &self.reference);
        e.finish(|| {
            Some(HoldRequest {
                lines: lines
                    .into_iter()
                    .map(|(sku, location, quantity)| HoldLine {
                        sku,
                        location,
                        quantity,
                    })
                    .collect(),
                ttl_minutes: ttl_minutes?,
                reference: reference?,
            })
        })
    }
}

/// `POST /v1/reservations/{id}/extend`: the hold runs out `ttl_minutes` from now.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    pub ttl_minutes: i64,
}

impl ExtendBody {
    pub fn validate(&self) -> Result<i64, Vec<FieldError>> {
        ttl("ttl_minutes", Some(self.ttl_minutes)).map_err(|e| vec![e])
    }
}

/// One line of a commit: how many of a held line the order takes (0 gives it all back).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitLineBody {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
}

/// `POST /v1/reservations/{id}/commit`: the hold becomes order `order_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitBody {
    pub order_id: String,
    /// What the order takes of each held line; absent: everything held. A held line not
    /// named takes nothing.
    #[serde(default)]
    pub lines: Option<Vec<CommitLineBody>>,
}

impl CommitBody {
    pub fn validate(
        &self,
    ) -> Result<(OrderId, Option<Vec<crate::reservations::Take>>), Vec<FieldError>> {
        use crate::reservations::Take;
        let mut e = FieldErrors::default();
        let order_id = e.take(OrderId::parse("order_id", &self.order_id));
        let mut takes = None;
        if let Some(lines) = &self.lines {
            let count = |field: &str, q| {
                parse_count(field, q).and_then(|q| {
                    if q > crate::domain::MAX_QUANTITY {
                        Err(FieldError::new(
                            field,
                            format!(
                                "must be an integer from 0 to {}",
                                crate::domain::MAX_QUANTITY
                            ),
                        ))
                    } else {
                        Ok(q)
                    }
                })
            };
            let lines = lines_of(
                &mut e,
                lines
                    .iter()
                    .map(|l| (l.sku.as_str(), l.location.as_str(), l.quantity)),
                &format!("a commit names 1 to {MAX_ORDER_LINES} lines, or none for all"),
                count,
            );
            takes = Some(
                lines
                    .into_iter()
                    .map(|(sku, location, quantity)| Take {
                        sku,
                        location,
                        quantity,
                    })
                    .collect(),
            );
        }
        e.finish(|| Some((order_id?, takes)))
    }
}
