//! Alert evaluator CPU per stream record with 1,000 rules loaded, without I/O: the Lambda stream
//! record's JSON into old and new level snapshots (with 48 hourly and 30 daily sales buckets),
//! and the rule set's matching and evaluation (`RuleSet::due`).
//!
//! Two records: one for a SKU with its own low-stock rule that is nowhere near due (the common
//! case), and one that crosses its threshold (one rule due).
//!
//! Run: `cargo bench -p shared --bench evaluator_cpu`

use std::{hint::black_box, time::Duration};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use shared::{
    alerts::{
        evaluate::{RuleSet, State},
        rules::{Rule, RuleBody},
    },
    stream::parse_record,
};

const NOW: i64 = 1_800_000_000;

fn rule(i: usize, body: Value) -> Rule {
    let body: RuleBody = serde_json::from_value(body).expect("rule body");
    body.into_rule(format!("rl_{i:04}"), String::new(), String::new())
        .expect("valid rule")
}

/// 1,000 rules: 850 SKU-specific low-stock rules, 100 prefix rules, 30 velocity rules per
/// location and 20 days-of-cover rules for everything.
fn rules() -> RuleSet {
    let mut rules = Vec::new();
    for i in 0..850 {
        rules.push(rule(
            i,
            json!({"name": "low", "kind": "low_stock", "threshold": 10, "clear_at": 20,
            "severity": "warning", "selector": {"sku": format!("SKU-{i:04}")}}),
        ));
    }
    for i in 0..100 {
        rules.push(rule(
            850 + i,
            json!({"name": "family", "kind": "out_of_stock", "severity": "critical",
            "selector": {"sku_prefix": format!("FAM{i:02}-")}}),
        ));
    }
    for i in 0..30 {
        rules.push(rule(
            950 + i,
            json!({"name": "fast", "kind": "sales_velocity", "window_hours": 24,
            "min_units": 500, "severity": "info", "selector": {"location": format!("WH{i}")}}),
        ));
    }
    for i in 0..20 {
        rules.push(rule(
            980 + i,
            json!({"name": "cover", "kind": "days_of_cover", "lookback_days": 14,
            "max_days": 1.0 + i as f64 / 10.0, "severity": "warning"}),
        ));
    }
    let set = RuleSet::new(rules);
    assert_eq!(set.len(), 1000);
    set
}

fn image(sku: &str, available: i64, version: i64) -> Value {
    let hour = NOW / 3600;
    let day = NOW / 86_400;
    let hourly: serde_json::Map<String, Value> = (0..48)
        .map(|h| (format!("h{}", hour - h), json!({"N": "2"})))
        .collect();
    let daily: serde_json::Map<String, Value> = (0..30)
        .map(|d| (format!("d{}", day - d), json!({"N": "2"})))
        .collect();
    json!({
        "pk": {"S": format!("SKU#{sku}")}, "sk": {"S": "LOC#WH1"}, "entity": {"S": "stock_level"},
        "sku": {"S": sku}, "location": {"S": "WH1"},
        "on_hand": {"N": available.to_string()}, "reserved": {"N": "0"}, "in_transit": {"N": "0"},
        "available": {"N": available.to_string()}, "version": {"N": version.to_string()},
        "updated_at": {"S": "2027-01-15T08:00:00.000Z"}, "created_at": {"S": "2026-01-01T00:00:00.000Z"},
        "last_sale_at": {"S": "2027-01-15T08:00:00.000Z"}, "last_receipt_at": {"S": "2027-01-01T00:00:00.000Z"},
        "last_movement": {"S": "MOV#0123456789abcdef0123456789abcdef01234567|LINE#00"},
        "sold_h": {"M": hourly}, "sold_d": {"M": daily}
    })
}

fn record(sku: &str, before: i64, after: i64) -> Value {
    json!({
        "eventID": "7de3041dd709b024af6f29e4fa13d34c", "eventName": "MODIFY", "eventVersion": "1.1",
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/inventory/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": 1800000000, "SequenceNumber": "1100000000017454423009",
            "SizeBytes": 1200, "StreamViewType": "NEW_AND_OLD_IMAGES",
            "Keys": {"pk": {"S": format!("SKU#{sku}")}, "sk": {"S": "LOC#WH1"}},
            "NewImage": image(sku, after, 42), "OldImage": image(sku, before, 41)
        }
    })
}

/// From the record's JSON text (as the runtime hands the batch over) to the rules that are due.
fn evaluate(rules: &RuleSet, raw: &str) -> usize {
    let change = parse_record(raw).expect("record").expect("a stock level");
    let before = change.old.as_ref().map(|quantities| State {
        quantities,
        short_units: change.old_short_units,
    });
    rules.due(&change.new, before, NOW).len()
}

fn bench(c: &mut Criterion) {
    let rules = rules();
    let quiet = record("SKU-0042", 120, 119).to_string();
    let crossing = record("SKU-0042", 11, 10).to_string();
    assert_eq!(evaluate(&rules, &quiet), 0, "nothing due");
    assert_eq!(
        evaluate(&rules, &crossing),
        1,
        "only the SKU low-stock rule is due"
    );

    let mut g = c.benchmark_group("evaluator_record_1000_rules");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    g.bench_function("nothing_due", |b| {
        b.iter(|| evaluate(&rules, black_box(&quiet)))
    });
    g.bench_function("one_rule_due", |b| {
        b.iter(|| evaluate(&rules, black_box(&crossing)))
    });
    let new = parse_record(&quiet).unwrap().unwrap().new;
    g.bench_function("match_and_evaluate_only", |b| {
        let before = State {
            quantities: &new.quantities,
            short_units: 0,
        };
        b.iter(|| rules.due(black_box(&new), Some(before), NOW).len())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
