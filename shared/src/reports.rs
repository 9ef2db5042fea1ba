//! Analyst reports, pure: the daily stock snapshot, the alert report and trend series as rows;
//! their encodings (CSV per RFC 4180 with a header row, JSON Lines); the S3 key layout
//! (`reports/<dataset>/dt=YYYY-MM-DD/…`) and a self-contained HTML summary with SVG charts.
//!
//! The scheduled function feeds these from pages of the table, so memory stays bounded by a page
//! and the per-day aggregates, not by the number of SKUs.

use std::{collections::BTreeMap, fmt::Write as _};

use serde::Serialize;

use crate::domain::Quantities;

pub const SECONDS_PER_DAY: i64 = 86_400;

/// `YYYY-MM-DD` of a day number (days since the epoch).
pub fn date_of_day(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * SECONDS_PER_DAY)
        .map(|t| {
            let d = t.date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        })
        .unwrap_or_default()
}

/// The S3 key of a dataset's object for a day: `reports/<dataset>/dt=YYYY-MM-DD/<file>`.
pub fn object_key(dataset: &str, day: i64, file: &str) -> String {
    format!("reports/{dataset}/dt={}/{file}", date_of_day(day))
}

/// Where a run writes its objects before the day is promoted: `reports/_staging/dt=YYYY-MM-DD/`
/// (outside every dataset's prefix, so no reader of a dataset sees a half-written day).
pub fn staging_prefix(day: i64) -> String {
    format!("reports/_staging/dt={}/", date_of_day(day))
}

/// The staging key of a final object key of `day`.
pub fn staged_key(day: i64, final_key: &str) -> String {
    format!(
        "{}{}",
        staging_prefix(day),
        final_key.strip_prefix("reports/").unwrap_or(final_key)
    )
}

/// One stock level as the report reads it: quantities and per-day movement counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelHistory {
    pub sku: String,
    pub location: String,
    pub quantities: Quantities,
    /// Units per day number.
    pub sold: BTreeMap<i64, i64>,
    pub received: BTreeMap<i64, i64>,
    pub refunded: BTreeMap<i64, i64>,
    pub written_off: BTreeMap<i64, i64>,
    pub last_sale_at: Option<i64>,
    pub last_receipt_at: Option<i64>,
    /// The last day a stocktake or transfer changed on_hand (the counters do not see those).
    pub uncounted_day: Option<i64>,
    /// End-of-day on_hand per day of the [`SERIES_DAYS`] ending with the report's day (filled by
    /// the report writer as of that day; empty otherwise).
    pub on_hand_by_day: BTreeMap<i64, i64>,
    /// The SKU's unit cost, when it has one.
    pub cost: Option<crate::domain::UnitCost>,
    /// The units on hand by age (filled by the report writer).
    pub age: StockAge,
}

/// The units on hand by how long ago they were received, first in first out: the units left are
/// the ones received last. Units beyond every receipt on record (opening stock, a count that
/// found more) are of unknown age.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StockAge {
    pub days_0_30: i64,
    pub days_31_90: i64,
    pub days_91_180: i64,
    pub days_over_180: i64,
    pub unknown: i64,
}

/// Ages `on_hand` units on `day` against `receipts` (day received, units), newest first.
pub fn fifo_age(on_hand: i64, receipts: &[(i64, i64)], day: i64) -> StockAge {
    let mut age = StockAge::default();
    let mut left = on_hand.max(0);
    for &(received, units) in receipts {
        if left == 0 {
            break;
        }
        let take = units.max(0).min(left);
        left -= take;
        let bucket = match day - received {
            ..=30 => &mut age.days_0_30,
            31..=90 => &mut age.days_31_90,
            91..=180 => &mut age.days_91_180,
            _ => &mut age.days_over_180,
        };
        *bucket += take;
    }
    age.unknown = left;
    age
}

/// Days of the end-of-day stock series: turnover's window (the trend shows the last 28).
pub const SERIES_DAYS: i64 = 30;

/// End-of-day on_hand for the [`SERIES_DAYS`] ending with `day`, put back from the day's
/// on_hand with the daily counters: the day before holds what the day received and had refunded
/// less, and what it sold more. Exact when no stocktake or transfer fell in the window (those
/// the counters do not see: the report writer reads the ledger for them).
pub fn on_hand_series_from_counters(level: &LevelHistory, day: i64) -> BTreeMap<i64, i64> {
    let get = |m: &BTreeMap<i64, i64>, d: i64| m.get(&d).copied().unwrap_or(0);
    let mut series = BTreeMap::new();
    let mut on_hand = level.quantities.on_hand;
    for d in (day - SERIES_DAYS + 1..=day).rev() {
        series.insert(d, on_hand);
        on_hand = on_hand - get(&level.received, d) - get(&level.refunded, d)
            + get(&level.sold, d)
            + get(&level.written_off, d);
    }
    series
}

/// One row of the stock snapshot dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotRow {
    /// The row's own day (`YYYY-MM-DD`); named apart from the `dt=` partition key, which query
    /// engines would let shadow a column of the same name.
    pub day: String,
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub in_transit: i64,
    pub available: i64,
    pub sold: i64,
    pub received: i64,
    pub refunded: i64,
    /// Net change of the day: received + refunded − sold − written off.
    pub net_change: i64,
    /// Average units sold per day over the last 7 days.
    pub avg_daily_sales_7d: f64,
    /// available ÷ that average; empty without sales.
    pub days_of_cover: Option<f64>,
    pub days_since_last_sale: Option<i64>,
    pub days_since_last_receipt: Option<i64>,
    /// Units sold over the 30 days ending with the day.
    pub sold_30d: i64,
    /// Average end-of-day on_hand over those 30 days.
    pub avg_on_hand_30d: f64,
    /// Turnover: units sold ÷ average on_hand, over 30 days; empty with no stock on average.
    pub turnover_30d: Option<f64>,
    /// Sell-through, %: units sold ÷ (units sold + on_hand at the end of the day), over 30 days;
    /// empty when both are zero.
    pub sell_through_30d_pct: Option<f64>,
    /// Rate of change of sales: the last 7 days against the 7 before, %; empty without sales
    /// in the 7 before.
    pub sales_change_7d_pct: Option<f64>,
    /// Change of on_hand over the last 7 days (end of the day against the end of 7 days before).
    pub on_hand_change_7d: i64,
    /// The SKU's unit cost and its currency (empty without one).
    pub unit_cost: Option<serde_json::Number>,
    pub currency: Option<String>,
    /// on_hand × unit_cost, at cost, in `currency`.
    pub inventory_value: Option<serde_json::Number>,
    /// Units on hand received 0–30, 31–90, 91–180 and over 180 days before the day, first in
    /// first out, and units older than every receipt on record.
    pub age_0_30_days: i64,
    pub age_31_90_days: i64,
    pub age_91_180_days: i64,
    pub age_over_180_days: i64,
    pub age_unknown: i64,
    /// Units written off on the day (damaged, expired, lost, stolen: `POST /v1/writeoffs`).
    pub written_off: i64,
    /// Units written off over the 30 days ending with the day.
    pub written_off_30d: i64,
    /// Those units at unit cost, in `currency`: the shrinkage (empty without a unit cost).
    pub shrinkage_value_30d: Option<serde_json::Number>,
}

pub const SNAPSHOT_COLUMNS: &[&str] = &[
    "day",
    "sku",
    "location",
    "on_hand",
    "reserved",
    "in_transit",
    "available",
    "sold",
    "received",
    "refunded",
    "net_change",
    "avg_daily_sales_7d",
    "days_of_cover",
    "days_since_last_sale",
    "days_since_last_receipt",
    "sold_30d",
    "avg_on_hand_30d",
    "turnover_30d",
    "sell_through_30d_pct",
    "sales_change_7d_pct",
    "on_hand_change_7d",
    "unit_cost",
    "currency",
    "inventory_value",
    "age_0_30_days",
    "age_31_90_days",
    "age_91_180_days",
    "age_over_180_days",
    "age_unknown",
    "written_off",
    "written_off_30d",
    "shrinkage_value_30d",
];

fn sum_days(map: &BTreeMap<i64, i64>, first: i64, last: i64) -> i64 {
    map.range(first..=last).map(|(_, v)| v).sum()
}

/// The snapshot row of a level for `day` (the level as it was at the end of that day).
pub fn snapshot_row(level: &LevelHistory, day: i64) -> SnapshotRow {
    let get = |m: &BTreeMap<i64, i64>| m.get(&day).copied().unwrap_or(0);
    let (sold, received, refunded) = (get(&level.sold), get(&level.received), get(&level.refunded));
    let written_off = get(&level.written_off);
    let written_off_30d = sum_days(&level.written_off, day - SERIES_DAYS + 1, day);
    let avg = sum_days(&level.sold, day - 6, day) as f64 / 7.0;
    // Calendar days between the day and the last sale or receipt.
    let since = |t: Option<i64>| t.map(|t| (day - t.div_euclid(SECONDS_PER_DAY)).max(0));
    let round = |v: f64, places: i32| {
        let f = 10f64.powi(places);
        (v * f).round() / f
    };
    let series = if level.on_hand_by_day.is_empty() {
        on_hand_series_from_counters(level, day)
    } else {
        level.on_hand_by_day.clone()
    };
    let end_on_hand = level.quantities.on_hand;
    let sold_30d = sum_days(&level.sold, day - SERIES_DAYS + 1, day);
    let avg_on_hand = series.values().sum::<i64>() as f64 / SERIES_DAYS as f64;
    let (last_7, previous_7) = (
        sum_days(&level.sold, day - 6, day),
        sum_days(&level.sold, day - 13, day - 7),
    );
    SnapshotRow {
        day: date_of_day(day),
        sku: level.sku.clone(),
        location: level.location.clone(),
        on_hand: level.quantities.on_hand,
        reserved: level.quantities.reserved,
        in_transit: level.quantities.in_transit,
        available: level.quantities.available,
        sold,
        received,
        refunded,
        net_change: received + refunded - sold - written_off,
        avg_daily_sales_7d: (avg * 100.0).round() / 100.0,
        days_of_cover: (avg > 0.0)
            .then(|| (level.quantities.available.max(0) as f64 / avg * 10.0).round() / 10.0),
        days_since_last_sale: since(level.last_sale_at),
        days_since_last_receipt: since(level.last_receipt_at),
        sold_30d,
        avg_on_hand_30d: round(avg_on_hand, 2),
        turnover_30d: (avg_on_hand > 0.0).then(|| round(sold_30d as f64 / avg_on_hand, 3)),
        sell_through_30d_pct: (sold_30d + end_on_hand > 0)
            .then(|| round(100.0 * sold_30d as f64 / (sold_30d + end_on_hand) as f64, 1)),
        sales_change_7d_pct: (previous_7 > 0)
            .then(|| round(100.0 * (last_7 - previous_7) as f64 / previous_7 as f64, 1)),
        on_hand_change_7d: end_on_hand - series.get(&(day - 7)).copied().unwrap_or(end_on_hand),
        unit_cost: level.cost.as_ref().map(|c| c.amount_number()),
        currency: level.cost.as_ref().map(|c| c.currency.clone()),
        inventory_value: level
            .cost
            .as_ref()
            .and_then(|c| c.value_of(end_on_hand).parse::<serde_json::Number>().ok()),
        age_0_30_days: level.age.days_0_30,
        age_31_90_days: level.age.days_31_90,
        age_91_180_days: level.age.days_91_180,
        age_over_180_days: level.age.days_over_180,
        age_unknown: level.age.unknown,
        written_off,
        written_off_30d,
        shrinkage_value_30d: level.cost.as_ref().and_then(|c| {
            c.value_of(written_off_30d)
                .parse::<serde_json::Number>()
                .ok()
        }),
    }
}

/// One row of the trend dataset: a level's totals for one day.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendRow {
    pub day: String,
    pub sku: String,
    pub location: String,
    pub sold: i64,
    pub received: i64,
    pub refunded: i64,
    /// on_hand at the end of the day.
    pub on_hand: i64,
}

pub const TREND_COLUMNS: &[&str] = &[
    "day", "sku", "location", "sold", "received", "refunded", "on_hand",
];

/// Daily totals and end-of-day stock of a level over the `days` days ending with `last_day`,
/// oldest first.
pub fn trend_rows(level: &LevelHistory, last_day: i64, days: i64) -> Vec<TrendRow> {
    let computed;
    let series = if level.on_hand_by_day.is_empty() {
        computed = on_hand_series_from_counters(level, last_day);
        &computed
    } else {
        &level.on_hand_by_day
    };
    (last_day - days + 1..=last_day)
        .map(|d| TrendRow {
            on_hand: series.get(&d).copied().unwrap_or(0),
            day: date_of_day(d),
            sku: level.sku.clone(),
            location: level.location.clone(),
            sold: level.sold.get(&d).copied().unwrap_or(0),
            received: level.received.get(&d).copied().unwrap_or(0),
            refunded: level.refunded.get(&d).copied().unwrap_or(0),
        })
        .collect()
}

/// One row of the alert report: an episode active during the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRow {
    pub day: String,
    pub alert_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub kind: String,
    pub severity: String,
    pub sku: String,
    pub location: String,
    pub state: String,
    pub fired_at: String,
    pub acknowledged_at: Option<String>,
    pub resolved_at: Option<String>,
    pub minutes_to_acknowledge: Option<i64>,
    pub minutes_to_resolve: Option<i64>,
}

pub const ALERT_COLUMNS: &[&str] = &[
    "day",
    "alert_id",
    "rule_id",
    "rule_name",
    "kind",
    "severity",
    "sku",
    "location",
    "state",
    "fired_at",
    "acknowledged_at",
    "resolved_at",
    "minutes_to_acknowledge",
    "minutes_to_resolve",
];

/// Minutes between two RFC 3339 times.
pub fn minutes_between(from: &str, to: Option<&str>) -> Option<i64> {
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .ok()
            .map(|t| t.unix_timestamp())
    };
    Some((parse(to?)? - parse(from)?).div_euclid(60))
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, or a tab or CR that
/// some of them strip first) gets a leading apostrophe, so it reads as text. Numbers are never
/// text cells, so a negative quantity stays a number.
pub fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

fn cell(v: &serde_json::Value) -> std::borrow::Cow<'_, str> {
    match v {
        serde_json::Value::Null => "".into(),
        serde_json::Value::String(s) => neutralise(s),
        other => other.to_string().into(),
    }
}

/// Appends rows to a CSV document (RFC 4180 through the `csv` crate: CRLF line ends, fields
/// quoted when they need it), in `columns` order, with text cells neutralised.
pub fn write_csv<T: Serialize>(out: &mut String, columns: &[&str], rows: &[T], header: bool) {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    if header {
        let _ = writer.write_record(columns);
    }
    for row in rows {
        let v = serde_json::to_value(row).unwrap_or_default();
        let _ = writer.write_record(columns.iter().map(|c| cell(&v[*c]).into_owned()));
    }
    // Writing to a Vec cannot fail, and every field is UTF-8.
    let bytes = writer.into_inner().unwrap_or_default();
    out.push_str(&String::from_utf8(bytes).unwrap_or_default());
}

/// Appends rows as JSON Lines.
pub fn write_jsonl<T: Serialize>(out: &mut String, rows: &[T]) {
    for row in rows {
        out.push_str(&serde_json::to_string(row).unwrap_or_default());
        out.push('\n');
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bar chart as inline SVG (no scripts, no external resources).
pub fn svg_bars(title: &str, points: &[(String, f64)]) -> String {
    let (w, h, pad) = (640.0, 240.0, 32.0);
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1.0);
    let bar = if points.is_empty() {
        0.0
    } else {
        (w - 2.0 * pad) / points.len() as f64
    };
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" aria-label="{t}"><title>{t}</title>"#,
        t = xml_escape(title)
    );
    let _ = write!(
        svg,
        r##"<line x1="{pad}" y1="{y}" x2="{x}" y2="{y}" stroke="#555"/>"##,
        y = h - pad,
        x = w - pad
    );
    for (i, (label, value)) in points.iter().enumerate() {
        let bh = (value / max) * (h - 2.0 * pad);
        let x = pad + i as f64 * bar;
        let _ = write!(
            svg,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}" fill="#2f6fb0"><title>{l}: {value}</title></rect>"##,
            y = h - pad - bh,
            bw = (bar * 0.8).max(1.0),
            l = xml_escape(label)
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            svg,
            r#"<text x="{pad}" y="{ty}" font-size="11">{a}</text><text x="{rx}" y="{ty}" font-size="11" text-anchor="end">{b}</text><text x="{pad}" y="16" font-size="11">max {max}</text>"#,
            ty = h - 10.0,
            rx = w - pad,
            a = xml_escape(&first.0),
            b = xml_escape(&last.0)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A self-contained HTML page (XHTML-compatible markup) with the day's summary and charts.
pub fn html_summary(day: i64, totals: &[(String, String)], charts: &[(String, String)]) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>\
         <title>Stock report {d}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}\
         svg{{max-width:100%;height:auto;border:1px solid #eee}}</style></head><body>\
         <h1>Stock report {d}</h1><table><tbody>",
        d = date_of_day(day)
    );
    for (k, v) in totals {
        let _ = write!(
            html,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            xml_escape(k),
            xml_escape(v)
        );
    }
    html.push_str("</tbody></table>");
    for (title, svg) in charts {
        let _ = write!(html, "<h2>{}</h2>{svg}", xml_escape(title));
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level() -> LevelHistory {
        LevelHistory {
            sku: "MUG, \"large\"".into(),
            location: "WH1".into(),
            quantities: Quantities {
                on_hand: 30,
                reserved: 2,
                in_transit: 5,
                available: 28,
            },
            sold: [(100, 7), (99, 7), (90, 50)].into(),
            received: [(100, 20)].into(),
            refunded: [(100, 1)].into(),
            written_off: BTreeMap::new(),
            last_sale_at: Some(100 * SECONDS_PER_DAY + 3600),
            last_receipt_at: Some(95 * SECONDS_PER_DAY),
            uncounted_day: None,
            on_hand_by_day: BTreeMap::new(),
            cost: None,
            age: StockAge::default(),
        }
    }

    #[test]
    fn snapshot_rows_follow_the_stock_rule_and_measure_cover() {
        let row = snapshot_row(&level(), 100);
        assert_eq!(row.day, "1970-04-11");
        assert_eq!(
            (row.sold, row.received, row.refunded, row.net_change),
            (7, 20, 1, 14)
        );
        assert_eq!(row.avg_daily_sales_7d, 2.0); // 14 units over 7 days (day 90 is outside)
        assert_eq!(row.days_of_cover, Some(14.0));
        assert_eq!(
            (row.days_since_last_sale, row.days_since_last_receipt),
            (Some(0), Some(5))
        );
    }

    #[test]
    fn csv_is_rfc_4180_with_a_header() {
        let mut out = String::new();
        let rows = vec![snapshot_row(&level(), 100)];
        write_csv(&mut out, SNAPSHOT_COLUMNS, &rows, true);
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert!(lines[0].starts_with("day,sku,location,on_hand"));
        assert!(lines[1]
            .starts_with("1970-04-11,\"MUG, \"\"large\"\"\",WH1,30,2,5,28,7,20,1,14,2.0,14.0,"));
        assert_eq!(lines.len(), 3); // header, row, and the empty string after the last CRLF
    }

    #[test]
    fn text_cells_that_spreadsheets_would_run_are_neutralised_and_numbers_are_not() {
        let mut out = String::new();
        let mut row = snapshot_row(&level(), 100);
        row.sku = "=HYPERLINK(\"http://x\")".into();
        row.location = "@SUM(A1)".into();
        row.net_change = -3;
        write_csv(&mut out, SNAPSHOT_COLUMNS, &[row], false);
        assert!(
            out.starts_with("1970-04-11,\"'=HYPERLINK(\"\"http://x\"\")\",'@SUM(A1),"),
            "{out}"
        );
        assert!(
            out.contains(",-3,"),
            "a negative number stays a number: {out}"
        );
        for (text, safe) in [
            ("+1", "'+1"),
            ("-x", "'-x"),
            ("\tcmd", "'\tcmd"),
            ("ok=1", "ok=1"),
        ] {
            assert_eq!(neutralise(text), safe);
        }
    }

    #[test]
    fn stock_is_put_back_day_by_day_and_turnover_and_sell_through_follow() {
        // on_hand 30 at the end of day 100, which received 20, had 1 refunded and sold 7; day 99
        // sold 7; day 90 sold 50.
        let series = on_hand_series_from_counters(&level(), 100);
        assert_eq!(series.len(), SERIES_DAYS as usize);
        assert_eq!((series[&100], series[&99], series[&98]), (30, 16, 23));
        assert_eq!((series[&91], series[&90], series[&89]), (23, 23, 73));
        let row = snapshot_row(&level(), 100);
        assert_eq!(row.sold_30d, 64);
        let avg = series.values().sum::<i64>() as f64 / 30.0;
        assert_eq!(row.avg_on_hand_30d, (avg * 100.0).round() / 100.0);
        assert_eq!(
            row.turnover_30d,
            Some((64.0 / avg * 1000.0).round() / 1000.0)
        );
        assert_eq!(row.sell_through_30d_pct, Some(68.1)); // 64 / (64 + 30)
        assert_eq!(row.sales_change_7d_pct, Some(-72.0)); // 14 in days 94-100 against 50
        assert_eq!(row.on_hand_change_7d, 30 - 23);
    }

    #[test]
    fn stock_is_aged_first_in_first_out() {
        // 50 on hand on day 200: the newest receipts hold them.
        let receipts = [(195, 10), (150, 15), (100, 20), (10, 100)];
        assert_eq!(
            fifo_age(50, &receipts, 200),
            StockAge {
                days_0_30: 10,
                days_31_90: 15,
                days_91_180: 20,
                days_over_180: 5,
                unknown: 0
            }
        );
        assert_eq!(
            fifo_age(8, &receipts, 200),
            StockAge {
                days_0_30: 8,
                ..StockAge::default()
            }
        );
        // More on hand than ever received: the rest is of unknown age.
        assert_eq!(fifo_age(150, &receipts, 200).unknown, 5);
        assert_eq!(fifo_age(0, &receipts, 200), StockAge::default());
        // Boundaries: 30 days is still 0-30, 31 is not; 180 is 91-180, 181 is over.
        assert_eq!(fifo_age(1, &[(170, 1)], 200).days_0_30, 1);
        assert_eq!(fifo_age(1, &[(169, 1)], 200).days_31_90, 1);
        assert_eq!(fifo_age(1, &[(20, 1)], 200).days_91_180, 1);
        assert_eq!(fifo_age(1, &[(19, 1)], 200).days_over_180, 1);
    }

    #[test]
    fn trends_cover_every_day_of_the_window() {
        let rows = trend_rows(&level(), 100, 3);
        let sold: Vec<i64> = rows.iter().map(|r| r.sold).collect();
        assert_eq!(sold, vec![0, 7, 7]);
        assert_eq!(rows[2].received, 20);
    }

    #[test]
    fn keys_are_partitioned_by_day_and_charts_are_escaped() {
        assert_eq!(
            object_key("snapshot", 100, "part-00000.csv"),
            "reports/snapshot/dt=1970-04-11/part-00000.csv"
        );
        let svg = svg_bars("Sold <units>", &[("a&b".into(), 3.0), ("c".into(), 1.0)]);
        assert!(
            svg.contains("Sold &lt;units&gt;")
                && svg.contains("a&amp;b")
                && svg.ends_with("</svg>")
        );
        assert_eq!(
            minutes_between("2026-01-01T00:00:00Z", Some("2026-01-01T01:30:59Z")),
            Some(90)
        );
        assert_eq!(minutes_between("2026-01-01T00:00:00Z", None), None);
    }
}
