//! Snapshot aggregation in-process, as the report writer does it page by page: stock-level items
//! (with their counter rings: 48 hourly and 32 daily slots of sales, receipts and refunds) into
//! snapshot and trend rows, encoded
//! as CSV and JSON Lines into part buffers that are dropped at 5 MiB (uploaded, in the function).
//! Prints rows per second and the peak resident memory for 10,000, 100,000 and 300,000 levels, each in
//! its own process so the peaks are independent.
//!
//! Run: `cargo run --profile perf -p local-stack --bin report-bench`

use std::{collections::HashMap, time::Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use shared::{levels, report_writer::TREND_DAYS, reports};

const PAGE: usize = 200;
const PART: usize = 5 * 1024 * 1024;
const DAY: i64 = 20_785;

fn item(i: usize) -> HashMap<String, AttributeValue> {
    use shared::counters::{slot, DAYS, HOURS};
    let s = |v: String| AttributeValue::S(v);
    let n = |v: i64| AttributeValue::N(v.to_string());
    let ring =
        |len: i64, at: &dyn Fn(i64) -> i64| AttributeValue::L((0..len).map(|j| n(at(j))).collect());
    let head = DAY * 24 + 12;
    let sold_d = ring(DAYS, &|j| (i as i64 + j) % 7);
    let day = |units: i64| {
        move |j: i64| {
            if j == slot(DAY, DAYS) as i64 {
                units
            } else {
                0
            }
        }
    };
    [
        ("entity", s("stock_level".into())),
        ("sku", s(format!("SKU-{i:06}"))),
        ("location", s(format!("WH{}", i % 4))),
        ("on_hand", n(100 + (i % 50) as i64)),
        ("reserved", n(0)),
        ("in_transit", n(5)),
        ("available", n(100 + (i % 50) as i64)),
        ("version", n(40)),
        ("created_at", s("2026-10-01T01:00:00.000Z".into())),
        ("updated_at", s("2026-11-28T01:00:00.000Z".into())),
        ("last_sale_at", s("2026-11-28T01:00:00.000Z".into())),
        ("last_receipt_at", s("2026-11-20T01:00:00.000Z".into())),
        (
            "last_movement",
            s("MOV#0000000000000000000000000000000000000000|LINE#00".into()),
        ),
        ("ctr_hour", n(head)),
        ("sold_h", ring(HOURS, &|j| (i as i64 + j) % 3)),
        ("sold_d", sold_d),
        ("rcv_d", ring(DAYS, &day(12))),
        ("rfd_d", ring(DAYS, &day(1))),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Aggregates `levels` levels page by page; returns (rows written, seconds).
fn run(levels: usize) -> (usize, f64) {
    let (mut csv, mut jsonl, mut trend_csv, mut trend_jsonl) =
        (String::new(), String::new(), String::new(), String::new());
    let mut rows = 0;
    let mut elapsed = 0.0;
    for start in (0..levels).step_by(PAGE) {
        // Building the page stands in for the Scan; it is not timed.
        let page: Vec<_> = (start..(start + PAGE).min(levels)).map(item).collect();
        let t = Instant::now();
        let mut snapshot = Vec::with_capacity(page.len());
        let mut trends = Vec::with_capacity(page.len() * TREND_DAYS as usize);
        for it in &page {
            let h = levels::decode(it).expect("level").history;
            snapshot.push(reports::snapshot_row(&h, DAY));
            trends.extend(reports::trend_rows(&h, DAY, TREND_DAYS));
        }
        reports::write_csv(&mut csv, reports::SNAPSHOT_COLUMNS, &snapshot, false);
        reports::write_jsonl(&mut jsonl, &snapshot);
        reports::write_csv(&mut trend_csv, reports::TREND_COLUMNS, &trends, false);
        reports::write_jsonl(&mut trend_jsonl, &trends);
        rows += snapshot.len() + trends.len();
        for buffer in [&mut csv, &mut jsonl, &mut trend_csv, &mut trend_jsonl] {
            if buffer.len() >= PART {
                // The function uploads this part; here it is dropped.
                std::hint::black_box(std::mem::take(buffer));
            }
        }
        elapsed += t.elapsed().as_secs_f64();
    }
    (rows, elapsed)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(n) = args
        .iter()
        .position(|a| a == "--levels")
        .and_then(|i| args.get(i + 1))
    {
        let levels: usize = n.parse().expect("--levels N");
        let (rows, secs) = run(levels);
        println!("{levels} {rows} {secs} {}", peak_rss_kib());
        return;
    }
    println!("Snapshot aggregation in-process (one process per size; CSV + JSON Lines, snapshot + 28-day trends):\n");
    println!("| stock levels | rows written | time | levels/s | rows/s | peak memory (VmHWM) |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for levels in [10_000, 100_000, 300_000] {
        let out = std::process::Command::new(std::env::current_exe().expect("self"))
            .args(["--levels", &levels.to_string()])
            .output()
            .expect("run the measurement");
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = text.split_whitespace().collect();
        let (rows, secs, kib): (f64, f64, f64) = (
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].parse().unwrap(),
        );
        println!(
            "| {levels} | {rows:.0} | {secs:.2} s | {:.0} | {:.0} | {:.1} MiB |",
            levels as f64 / secs,
            rows / secs,
            kib / 1024.0
        );
    }
}
