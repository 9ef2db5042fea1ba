//! Alert evaluator throughput against DynamoDB Local: a 1,000-record stream batch with 1,000 rules
//! loaded and nothing due, timed through `Evaluator::handle` as Lambda would invoke it; and the
//! same for records made by real sales through the API (each also writes its SKU's ledger entry:
//! one GetItem of the movement line and one PutItem).
//!
//! Run: `cargo run --profile perf -p local-stack --bin evaluator-bench`

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use http::Method;
use local_stack::{
    client::ApiClient,
    jwt::JwtKey,
    streams::StreamReader,
    system::{Options, System},
    Emulators,
};
use serde_json::{json, Value};
use shared::alerts::{
    rules::RuleBody,
    store::{AlertStore, RuleCreated},
};
use shared::schema::keys;

const RULES: usize = 1000;
const LEVELS: usize = 1000;
const SALES: usize = 300;

fn level_item(i: usize, available: i64) -> std::collections::HashMap<String, AttributeValue> {
    let s = |v: String| AttributeValue::S(v);
    let n = |v: i64| AttributeValue::N(v.to_string());
    [
        (keys::PARTITION, s(keys::sku(&format!("B-{i:04}")))),
        (keys::SORT, s(keys::location("WH1"))),
        ("entity", s("stock_level".into())),
        ("sku", s(format!("B-{i:04}"))),
        ("location", s("WH1".into())),
        ("on_hand", n(available)),
        ("reserved", n(0)),
        ("in_transit", n(0)),
        ("available", n(available)),
        ("version", n(1000 - available + 1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let emulators = Emulators::start()?;
    let key = JwtKey::random();
    let mut options = Options::loopback("evbench", key.clone());
    options.rule_cache = std::time::Duration::from_secs(600);
    let mut system = System::start(&emulators.endpoints(), options).await?;
    let store = AlertStore::new(system.dynamodb.clone(), &system.table);

    // 1,000 rules: one low-stock rule per SKU (threshold 10), as a shop with per-SKU thresholds.
    let started = Instant::now();
    for i in 0..RULES {
        let body: RuleBody = serde_json::from_value(json!({
            "name": format!("low B-{i:04}"), "kind": "low_stock", "threshold": 10, "clear_at": 20,
            "severity": "warning", "selector": { "sku": format!("B-{i:04}") }, "channels": { "sms": true }
        }))?;
        let rule = body
            .into_rule(format!("rl_{i:04}"), String::new(), String::new())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if !matches!(
            store.create_rule(&rule, &body, "bench").await?,
            RuleCreated::Created(_)
        ) {
            anyhow::bail!("rule exists");
        }
    }
    eprintln!("{RULES} rules created in {:.1?}", started.elapsed());

    // 1,000 levels, then one change to each: 1,000 MODIFY records, nothing due.
    system
        .put_all((0..LEVELS).map(|i| level_item(i, 1000)).collect())
        .await?;
    system.poller.drain().await?; // the INSERTs: also loads the rule cache
    system
        .put_all((0..LEVELS).map(|i| level_item(i, 999)).collect())
        .await?;
    let stream: Vec<Value> = stream_records(&system).await?;
    let batch: Vec<Value> = stream[stream.len().saturating_sub(LEVELS)..].to_vec();
    assert!(batch.iter().all(|r| r["eventName"] == "MODIFY"));
    let elapsed = evaluate(&system, batch).await;
    let quiet_rate = LEVELS as f64 / elapsed.as_secs_f64();

    // Records from real sales through the API: each writes its ledger entry (GetItem + PutItem).
    let api = ApiClient::new(system.gateway.base_url());
    let token = key.mint(
        "bench",
        "inventory/sell inventory/admin inventory/read",
        3600,
    );
    let call = |method: Method, path: String, idem: Option<String>, body: Value| {
        let (api, token) = (api.clone(), token.clone());
        async move {
            let request = format!("{method} {path}");
            api.call(method, &path, Some(&token), idem.as_deref(), Some(&body))
                .await?
                .success(request)
        }
    };
    call(
        Method::PUT,
        "/v1/locations/WH1".into(),
        None,
        json!({"name": "WH1", "kind": "warehouse"}),
    )
    .await?;
    call(
        Method::PUT,
        "/v1/skus/B-0001".into(),
        None,
        json!({"name": "bench"}),
    )
    .await?;
    call(
        Method::POST,
        "/v1/receipts".into(),
        Some("r".into()),
        json!({"sku": "B-0001", "location": "WH1", "quantity": 100000}),
    )
    .await?;
    system.poller.drain().await?;
    for i in 0..SALES {
        call(
            Method::POST,
            "/v1/sales".into(),
            Some(format!("s{i}")),
            json!({"sku": "B-0001", "location": "WH1", "quantity": 1}),
        )
        .await?;
    }
    let stream = stream_records(&system).await?;
    let levels: Vec<Value> = stream
        .into_iter()
        .filter(|r| r.pointer("/dynamodb/NewImage/entity/S") == Some(&json!("stock_level")))
        .collect();
    let sales = levels[levels.len().saturating_sub(SALES)..].to_vec();
    let sales_elapsed = evaluate(&system, sales).await;
    let sales_rate = SALES as f64 / sales_elapsed.as_secs_f64();

    println!(
        "Alert evaluator against DynamoDB Local ({} cores), {RULES} rules loaded:\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("| batch | records | time | records/s | per record |");
    println!("|---|---:|---:|---:|---:|");
    println!(
        "| nothing due (level changes without a movement line) | {LEVELS} | {:.1} ms | {:.0} | {:.1} µs |",
        elapsed.as_secs_f64() * 1e3,
        quiet_rate,
        elapsed.as_secs_f64() * 1e6 / LEVELS as f64
    );
    println!(
        "| nothing due (sales through the API: each reads its movement line and writes its ledger entry) | {SALES} | {:.1} ms | {:.0} | {:.1} µs |",
        sales_elapsed.as_secs_f64() * 1e3,
        sales_rate,
        sales_elapsed.as_secs_f64() * 1e6 / SALES as f64
    );
    Ok(())
}

/// How long the evaluator takes over `records` as one batch, as Lambda would hand it them.
async fn evaluate(system: &System, records: Vec<Value>) -> Duration {
    let started = Instant::now();
    let response = system
        .evaluator
        .handle_json(json!({ "Records": records }))
        .await;
    let elapsed = started.elapsed();
    assert!(response.batch_item_failures.is_empty());
    elapsed
}

async fn stream_records(system: &System) -> anyhow::Result<Vec<Value>> {
    StreamReader::for_table(&system.sdk, &system.endpoints.dynamodb, &system.table)
        .await?
        .read()
        .await
}
