//! Stream-record decoding: a DynamoDB Streams record of a stock level, read straight from its
//! JSON into what its two readers need ([`LevelChange`]: the projector and the alert
//! evaluator), and a batch kept as raw records so one malformed record cannot fail the others.

use std::{borrow::Cow, collections::BTreeMap};

use serde::Deserialize;
use serde_json::{value::RawValue, Value};

use crate::counters::LevelSnapshot;
use crate::domain::Quantities;

/// Seconds since the epoch of an RFC 3339 UTC time as this system writes them
/// (`2026-11-28T03:01:57.649Z`), without a general parser; other forms fall back to one.
pub fn unix_of(text: Option<&str>) -> Option<i64> {
    let t = text?;
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        b.get(r)?.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let fast = (b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && t.ends_with('Z'))
        .then(|| {
            let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
            let (hh, mm, ss) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
            // Days from the civil date (Howard Hinnant's algorithm).
            let y = if m <= 2 { y - 1 } else { y };
            let era = y.div_euclid(400);
            let yoe = y - era * 400;
            let mp = (m + 9) % 12;
            let doy = (153 * mp + 2) / 5 + d - 1;
            let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
            let days = era * 146_097 + doe - 719_468;
            Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
        })
        .flatten();
    fast.or_else(|| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    })
}

// A stream record, read straight from its JSON (DynamoDB attribute-value form) into the few
// attributes the evaluator uses, borrowing strings from the input. Going through
// aws_lambda_events' generic `EventRecord` and serde_dynamo images cost ~50 µs per record with
// sales counters on the item; this costs a few.

#[derive(Deserialize)]
struct S<'a> {
    #[serde(rename = "S", borrow)]
    s: Cow<'a, str>,
}

#[derive(Deserialize)]
struct N<'a> {
    #[serde(rename = "N", borrow)]
    n: Cow<'a, str>,
}

impl N<'_> {
    fn int(&self) -> Result<i64, String> {
        self.n
            .parse()
            .map_err(|_| format!("not an integer: {}", self.n))
    }
}

/// A counter ring (`{"L": [{"N": "3"}, ...]}`, see [`crate::counters`]) read straight into its
/// slot values.
struct Ring(Vec<i64>);

impl<'de> Deserialize<'de> for Ring {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct L<'a> {
            #[serde(rename = "L", borrow)]
            l: Vec<N<'a>>,
        }
        let list = L::deserialize(d)?;
        list.l
            .iter()
            .map(N::int)
            .collect::<Result<Vec<_>, _>>()
            .map(Ring)
            .map_err(serde::de::Error::custom)
    }
}

/// The attributes of a stock-level item the evaluator reads from a stream image.
#[derive(Deserialize)]
struct Image<'a> {
    #[serde(borrow)]
    entity: Option<S<'a>>,
    #[serde(borrow)]
    sku: Option<S<'a>>,
    #[serde(borrow)]
    location: Option<S<'a>>,
    #[serde(borrow)]
    on_hand: Option<N<'a>>,
    #[serde(borrow)]
    reserved: Option<N<'a>>,
    #[serde(borrow)]
    in_transit: Option<N<'a>>,
    #[serde(borrow)]
    available: Option<N<'a>>,
    #[serde(borrow)]
    version: Option<N<'a>>,
    sold_h: Option<Ring>,
    sold_d: Option<Ring>,
    #[serde(borrow)]
    ctr_hour: Option<N<'a>>,
    #[serde(borrow)]
    last_sale_at: Option<S<'a>>,
    #[serde(borrow)]
    last_receipt_at: Option<S<'a>>,
    #[serde(borrow)]
    created_at: Option<S<'a>>,
    #[serde(borrow)]
    last_movement: Option<S<'a>>,
    #[serde(borrow)]
    reorder_point: Option<N<'a>>,
    #[serde(borrow)]
    short_units: Option<N<'a>>,
}

/// The old image: only its quantities matter (the counters of the new image stand in).
#[derive(Deserialize)]
struct OldImage<'a> {
    #[serde(borrow)]
    entity: Option<S<'a>>,
    #[serde(borrow)]
    on_hand: Option<N<'a>>,
    #[serde(borrow)]
    reserved: Option<N<'a>>,
    #[serde(borrow)]
    in_transit: Option<N<'a>>,
    #[serde(borrow)]
    available: Option<N<'a>>,
    #[serde(borrow)]
    last_movement: Option<S<'a>>,
    #[serde(borrow)]
    short_units: Option<N<'a>>,
}

#[derive(Deserialize)]
struct Change<'a> {
    #[serde(rename = "NewImage", borrow)]
    new_image: Option<Image<'a>>,
    #[serde(rename = "OldImage", borrow)]
    old_image: Option<OldImage<'a>>,
}

fn int(v: &Option<N<'_>>) -> Result<i64, String> {
    v.as_ref()
        .map(N::int)
        .transpose()
        .map(Option::unwrap_or_default)
}

#[derive(Deserialize)]
struct StreamRecord<'a> {
    #[serde(rename = "eventID", borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    dynamodb: Change<'a>,
}

fn buckets(ring: &Option<Ring>, head: Option<i64>, len: i64) -> BTreeMap<i64, i64> {
    match (ring, head) {
        (Some(r), Some(head)) => crate::counters::unroll(&r.0, head, len),
        _ => BTreeMap::new(),
    }
}

impl Image<'_> {
    fn is_level(&self) -> bool {
        self.entity
            .as_ref()
            .is_some_and(|e| e.s == crate::schema::entity::STOCK_LEVEL)
    }

    fn snapshot(&self) -> Result<LevelSnapshot, String> {
        let head = self.ctr_hour.as_ref().map(N::int).transpose()?;
        let text = |v: &Option<S<'_>>, name: &str| {
            v.as_ref()
                .map(|s| s.s.to_string())
                .ok_or_else(|| format!("stock level without {name}"))
        };
        Ok(LevelSnapshot {
            sku: text(&self.sku, "sku")?,
            location: text(&self.location, "location")?,
            quantities: Quantities {
                on_hand: int(&self.on_hand)?,
                reserved: int(&self.reserved)?,
                in_transit: int(&self.in_transit)?,
                available: self
                    .available
                    .as_ref()
                    .ok_or("stock level without available")?
                    .int()?,
            },
            sold_hourly: buckets(&self.sold_h, head, crate::counters::HOURS),
            sold_daily: buckets(
                &self.sold_d,
                head.map(|h| h.div_euclid(24)),
                crate::counters::DAYS,
            ),
            last_sale_at: unix_of(self.last_sale_at.as_ref().map(|s| s.s.as_ref())),
            last_receipt_at: unix_of(self.last_receipt_at.as_ref().map(|s| s.s.as_ref())),
            created_at: unix_of(self.created_at.as_ref().map(|s| s.s.as_ref())),
            version: int(&self.version)?,
            reorder_point: self.reorder_point.as_ref().map(N::int).transpose()?,
            short_units: self
                .short_units
                .as_ref()
                .map(N::int)
                .transpose()?
                .unwrap_or(0),
            recent_receipts: None,
        })
    }
}

/// What identifies a record even when the rest of it cannot be read: its sequence number (what
/// `batchItemFailures` names) and the level's key.
struct RecordIds {
    sequence: String,
    level: Option<(String, String)>,
}

fn record_ids(json: &str) -> RecordIds {
    #[derive(Deserialize)]
    struct Text {
        #[serde(rename = "S")]
        s: String,
    }
    #[derive(Deserialize)]
    struct Keys {
        pk: Option<Text>,
        sk: Option<Text>,
    }
    #[derive(Deserialize)]
    struct Dynamo {
        #[serde(rename = "SequenceNumber")]
        sequence: Option<String>,
        #[serde(rename = "Keys")]
        keys: Option<Keys>,
    }
    #[derive(Deserialize)]
    struct Ids {
        #[serde(rename = "eventID")]
        event_id: Option<String>,
        dynamodb: Option<Dynamo>,
    }
    let ids = serde_json::from_str::<Ids>(json).ok();
    let dynamo = ids.as_ref().and_then(|i| i.dynamodb.as_ref());
    RecordIds {
        sequence: dynamo
            .and_then(|d| d.sequence.clone())
            .or_else(|| ids.as_ref().and_then(|i| i.event_id.clone()))
            .unwrap_or_default(),
        level: dynamo
            .and_then(|d| d.keys.as_ref())
            .and_then(|k| Some((k.pk.as_ref()?.s.clone(), k.sk.as_ref()?.s.clone()))),
    }
}

/// A stock-level change as the evaluator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelChange {
    pub event_id: String,
    pub new: LevelSnapshot,
    /// The level's quantities before the change (None for a new level).
    pub old: Option<Quantities>,
    /// Held units counts had cut short before the change.
    pub old_short_units: i64,
    /// The movement line that made the change (`partition|sort key`), when the change is a new
    /// movement (not the same one again, as a retried write or a hand edit would show).
    pub ledger_ref: Option<String>,
}

/// Parses one stream record (its JSON text). `Ok(None)` for items that are not stock levels
/// (the event source's filter normally keeps them away).
pub fn parse_record(json: &str) -> Result<Option<LevelChange>, String> {
    let record: StreamRecord<'_> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let Some(image) = record.dynamodb.new_image.as_ref().filter(|i| i.is_level()) else {
        return Ok(None);
    };
    let new_movement = image.last_movement.as_ref().map(|m| m.s.as_ref());
    let old_movement = record
        .dynamodb
        .old_image
        .as_ref()
        .and_then(|o| o.last_movement.as_ref())
        .map(|m| m.s.as_ref());
    let ledger_ref = new_movement
        .filter(|m| old_movement != Some(*m))
        .map(str::to_owned);
    let old = match record.dynamodb.old_image.as_ref() {
        Some(o)
            if o.entity
                .as_ref()
                .is_some_and(|e| e.s == crate::schema::entity::STOCK_LEVEL) =>
        {
            Some(Quantities {
                on_hand: int(&o.on_hand)?,
                reserved: int(&o.reserved)?,
                in_transit: int(&o.in_transit)?,
                available: int(&o.available)?,
            })
        }
        _ => None,
    };
    let old_short_units = record
        .dynamodb
        .old_image
        .as_ref()
        .and_then(|o| o.short_units.as_ref())
        .map(N::int)
        .transpose()?
        .unwrap_or(0);
    Ok(Some(LevelChange {
        event_id: record.event_id.into_owned(),
        new: image.snapshot()?,
        old,
        old_short_units,
        ledger_ref,
    }))
}

/// Runs `process` on each record of a batch, in order, and answers Lambda with the records that
/// failed (`batchItemFailures`, by sequence number; they are retried). Once a record of a level
/// fails, that level's later records in the batch are not processed but reported failed too, so
/// a level's changes are handled in order; the records of other levels go on. `function` names
/// the reader in the `StreamRecordsFailed` metric.
pub async fn process_in_order<'a, F, Fut, E>(
    batch: &'a StreamBatch,
    function: &str,
    mut process: F,
) -> aws_lambda_events::streams::DynamoDbEventResponse
where
    F: FnMut(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut response = aws_lambda_events::streams::DynamoDbEventResponse::default();
    let mut blocked: std::collections::HashSet<(String, String)> = Default::default();
    for raw in &batch.records {
        let ids = record_ids(raw.get());
        let span = tracing::info_span!("record", sequence = %ids.sequence);
        let _enter = span.enter();
        let failed = match &ids.level {
            Some(level) if blocked.contains(level) => {
                tracing::warn!("an earlier record of this level failed; held back for order");
                true
            }
            // Boxed: a record's work is a deep future, and this loop would nest it in every
            // function's handler (past the compiler's layout depth for the projector's).
            _ => match Box::pin(process(raw.get())).await {
                Ok(()) => false,
                Err(e) => {
                    tracing::error!(error = %e, "record failed; reported for retry");
                    true
                }
            },
        };
        if failed {
            if let Some(level) = ids.level {
                blocked.insert(level);
            }
            let mut failure = aws_lambda_events::streams::DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(ids.sequence);
            response.batch_item_failures.push(failure);
        }
    }
    if !response.batch_item_failures.is_empty() {
        crate::metrics::counts(
            ("Function", function),
            &[("StreamRecordsFailed", response.batch_item_failures.len())],
        );
    }
    response
}

/// A stream batch as Lambda delivers it: each record kept as raw JSON, so one malformed record
/// cannot fail the whole batch's deserialisation.
#[derive(Debug, Deserialize)]
pub struct StreamBatch {
    #[serde(rename = "Records", default)]
    pub records: Vec<Box<RawValue>>,
}

impl StreamBatch {
    /// From a JSON value (`{"Records": [...]}`), for callers that built one.
    pub fn from_value(event: &Value) -> Self {
        serde_json::from_value(event.clone()).unwrap_or(Self {
            records: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_like_a_general_rfc3339_parser() {
        for t in [
            "1970-01-01T00:00:00.000Z",
            "2026-11-28T03:01:57.649Z",
            "2024-02-29T23:59:59.999Z",
            "2000-03-01T12:00:00Z",
            "2031-12-31T00:00:01.5Z",
        ] {
            let general =
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                    .unwrap()
                    .unix_timestamp();
            assert_eq!(unix_of(Some(t)), Some(general), "{t}");
        }
        assert_eq!(
            unix_of(Some("2026-11-28T03:01:57+01:00")),
            unix_of(Some("2026-11-28T02:01:57.000Z"))
        );
        assert_eq!(unix_of(Some("yesterday")), None);
    }

    #[test]
    fn records_parse_into_level_changes_and_other_items_are_skipped() {
        let level = r#"{"eventID":"e1","eventName":"MODIFY","dynamodb":{"SequenceNumber":"7",
            "NewImage":{"entity":{"S":"stock_level"},"sku":{"S":"A"},"location":{"S":"WH1"},
              "on_hand":{"N":"5"},"available":{"N":"4"},"reserved":{"N":"1"},"version":{"N":"3"},
              "sold_h":{"L":[{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"0"},{"N":"2"},{"N":"1"}]},"ctr_hour":{"N":"11"},"last_movement":{"S":"MOV#x|LINE#00"}},
            "OldImage":{"entity":{"S":"stock_level"},"sku":{"S":"A"},"location":{"S":"WH1"},
              "on_hand":{"N":"6"},"available":{"N":"5"},"version":{"N":"2"}}}}"#;
        let change = parse_record(level).unwrap().unwrap();
        assert_eq!(change.new.quantities.available, 4);
        assert_eq!(change.new.sold_hourly, BTreeMap::from([(10, 2), (11, 1)]));
        assert_eq!(change.old.unwrap().available, 5);
        assert_eq!(change.ledger_ref.as_deref(), Some("MOV#x|LINE#00"));
        let alert = r#"{"eventID":"e2","dynamodb":{"NewImage":{"entity":{"S":"alert"}}}}"#;
        assert_eq!(parse_record(alert).unwrap(), None);
        let broken = r#"{"eventID":"e3","dynamodb":{"NewImage":{"entity":{"S":"stock_level"},"sku":{"S":"A"}}}}"#;
        assert!(parse_record(broken).is_err());
    }
}
