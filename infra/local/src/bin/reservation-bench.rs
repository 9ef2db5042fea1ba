//! Checkout holds on AWS's own engine (DynamoDB Local), through the local API:
//!
//! - a hold's latency against a sale's, interleaved in one run (the target: hold p50 at most
//!   1.2 × sale p50);
//! - the write capacity of each step, all-in (its transaction and the stream evaluator's writes
//!   for it), as DynamoDB reports it (`ReturnConsumedCapacity: INDEXES`, through the metering
//!   proxy);
//! - `GET /v1/availability` for a listing page of 48 pairs against one `GET /v1/skus/{sku}`;
//! - the expiry sweep of 10,000 expired holds: its time, requests and write units.
//!
//! Run: `cargo run --profile perf -p local-stack --bin reservation-bench` (about 3 minutes).

use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::ensure;
use futures_util::{stream, StreamExt};
use http::Method;
use local_stack::{
    bench::{per_operation, percentile_ms as percentile, Metered},
    jwt::JwtKey,
    proxy::Capacity,
    system::Options,
    Emulators,
};
use serde_json::{json, Value};
use shared::{clock::Clock, store::RequestCounter};

/// Sales and holds timed, each.
const TIMED: usize = 400;
/// Holds the expiry sweep gives back.
const EXPIRED: usize = 10_000;
/// SKUs they are spread over (a hold per SKU-location at a time would be unrealistic).
const SWEEP_SKUS: usize = 200;

/// One call and how long it took.
async fn timed(
    b: &mut Metered,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<(Duration, Value)> {
    let started = Instant::now();
    let v = b.call(method, path, body).await?;
    Ok((started.elapsed(), v))
}

fn hold(lines: &[(&str, &str, i64)], ttl: i64) -> Value {
    json!({
        "lines": lines.iter().map(|(s, l, q)| json!({"sku": s, "location": l, "quantity": q})).collect::<Vec<_>>(),
        "ttl_minutes": ttl,
    })
}

fn index_units(c: &Capacity) -> String {
    let parts: Vec<String> = c
        .indexes
        .iter()
        .filter(|(_, v)| **v > 0.0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let emulators = Emulators::start()?;
    let offset = Arc::new(AtomicI64::new(0));
    let counter = RequestCounter::default();
    let mut options = Options::loopback("resbench", JwtKey::random());
    options.clock = Clock::offset(offset.clone());
    options.counter = Some(counter.clone());
    let mut b = Metered::start(&emulators, options, "rb").await?;
    for loc in ["WH1", "WH2", "WH3"] {
        b.call(
            Method::PUT,
            &format!("/v1/locations/{loc}"),
            Some(json!({"name": loc, "kind": "warehouse"})),
        )
        .await?;
    }
    let mut skus: Vec<String> = ["SALE", "HOLD", "A", "B", "C"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    skus.extend((0..48).map(|i| format!("P{i:02}")));
    skus.extend((0..SWEEP_SKUS).map(|i| format!("X{i:03}")));
    eprintln!("seeding {} SKUs...", skus.len());
    for sku in &skus {
        b.call(
            Method::PUT,
            &format!("/v1/skus/{sku}"),
            Some(json!({"name": format!("Product {sku}")})),
        )
        .await?;
        b.call(
            Method::POST,
            "/v1/receipts",
            Some(json!({"sku": sku, "location": "WH1", "quantity": 1_000_000})),
        )
        .await?;
    }
    for sku in ["A", "B", "C"] {
        b.call(
            Method::POST,
            "/v1/receipts",
            Some(json!({"sku": sku, "location": "WH2", "quantity": 1000})),
        )
        .await?;
    }
    b.system.drain_stream().await?;

    // 1. Hold against sale, interleaved, one at a time (the stream is not processed meanwhile).
    eprintln!("timing {TIMED} sales and {TIMED} holds...");
    let (mut sales, mut holds) = (Vec::new(), Vec::new());
    for _ in 0..TIMED {
        sales.push(
            timed(
                &mut b,
                Method::POST,
                "/v1/sales",
                Some(json!({"sku": "SALE", "location": "WH1", "quantity": 1})),
            )
            .await?
            .0,
        );
        holds.push(
            timed(
                &mut b,
                Method::POST,
                "/v1/reservations",
                Some(hold(&[("HOLD", "WH1", 1)], 1440)),
            )
            .await?
            .0,
        );
    }
    sales.sort();
    holds.sort();
    b.system.drain_stream().await?;

    // 2. Write units per step.
    let mut rows: Vec<(&str, Capacity)> = Vec::new();
    let (c, _) = b
        .measure(
            "/v1/sales",
            json!({"sku": "A", "location": "WH1", "quantity": 1}),
        )
        .await?;
    rows.push(("sale (for comparison)", c));
    let (c, r) = b
        .measure("/v1/reservations", hold(&[("A", "WH1", 2)], 15))
        .await?;
    rows.push(("hold, 1 line", c));
    let id1 = r["reservation_id"].as_str().unwrap_or_default().to_owned();
    let (c, r) = b
        .measure(
            "/v1/reservations",
            hold(&[("A", "WH1", 1), ("B", "WH1", 1), ("C", "WH2", 1)], 15),
        )
        .await?;
    rows.push(("hold, 3 lines", c));
    let id3 = r["reservation_id"].as_str().unwrap_or_default().to_owned();
    let (c, _) = b
        .measure(
            &format!("/v1/reservations/{id1}/extend"),
            json!({"ttl_minutes": 30}),
        )
        .await?;
    rows.push(("extend, 1 line", c));
    let (c, _) = b
        .measure(
            &format!("/v1/reservations/{id1}/commit"),
            json!({"order_id": "bench-1"}),
        )
        .await?;
    rows.push(("commit, 1 line", c));
    let (c, _) = b.measure(&format!("/v1/reservations/{id3}/commit"), json!({"order_id": "bench-3", "lines": [{"sku": "A", "location": "WH1", "quantity": 1}, {"sku": "B", "location": "WH1", "quantity": 0}]})).await?;
    rows.push(("commit, 3 lines (one taken, two released)", c));
    let (_, r) = b
        .measure("/v1/reservations", hold(&[("A", "WH1", 1)], 15))
        .await?;
    let id = r["reservation_id"].as_str().unwrap_or_default().to_owned();
    let (c, _) = b
        .measure(&format!("/v1/reservations/{id}/release"), json!({}))
        .await?;
    rows.push(("release, 1 line", c));
    let (_, r) = b
        .measure("/v1/reservations", hold(&[("B", "WH1", 1)], 1))
        .await?;
    let expiring = r["reservation_id"].as_str().unwrap_or_default().to_owned();
    offset.fetch_add(61, Ordering::Relaxed);
    b.system.drain_stream().await?;
    let before = b.proxy.capacity();
    let one = b.system.expiry.sweep().await?;
    ensure!(
        one.expired == 1,
        "expected the one hold {expiring} to expire: {one:?}"
    );
    b.system.drain_stream().await?;
    rows.push((
        "expiry, 1 line (by the sweep)",
        b.proxy.capacity().since(&before),
    ));

    // 3. Availability for a listing page against one SKU read.
    eprintln!("timing availability...");
    let pairs: Vec<String> = (0..48).map(|i| format!("P{i:02}@WH1")).collect();
    let page = format!("/v1/availability?items={}", pairs.join(","));
    let (mut eventual, mut strong, mut one_sku) = (Vec::new(), Vec::new(), Vec::new());
    let mut read_units = [0.0f64; 3];
    let mut requests = [0u64; 3];
    for i in 0..200 {
        for (k, path) in [
            page.clone(),
            format!("{page}&consistency=strong"),
            format!("/v1/skus/P{:02}", i % 48),
        ]
        .iter()
        .enumerate()
        {
            let before = b.proxy.capacity();
            let sent = counter.get();
            let (t, v) = timed(&mut b, Method::GET, path, None).await?;
            if k < 2 {
                ensure!(v["items"].as_array().map(Vec::len) == Some(48), "{v}");
            }
            read_units[k] += b.proxy.capacity().since(&before).read_total();
            requests[k] += counter.get() - sent;
            [&mut eventual, &mut strong, &mut one_sku][k].push(t);
        }
    }
    for v in [&mut eventual, &mut strong, &mut one_sku] {
        v.sort();
    }

    // 4. The expiry sweep of 10,000 expired holds.
    eprintln!("holding {EXPIRED} carts...");
    let token = b.token.clone();
    let api = b.api.clone();
    let held: Vec<bool> = stream::iter(0..EXPIRED)
        .map(|i| {
            let (api, token) = (api.clone(), token.clone());
            async move {
                let body = hold(&[(&format!("X{:03}", i % SWEEP_SKUS), "WH1", 1)], 15);
                api.call(
                    Method::POST,
                    "/v1/reservations",
                    Some(&token),
                    Some(&format!("sweep-{i}")),
                    Some(&body),
                )
                .await
                .map(|r| r.status.is_success())
                .unwrap_or(false)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    ensure!(held.iter().all(|h| *h), "some holds failed");
    eprintln!("processing their stream records...");
    b.system.drain_stream().await?;
    offset.fetch_add(16 * 60, Ordering::Relaxed);
    eprintln!("sweeping...");
    let before = b.proxy.capacity();
    let started = Instant::now();
    let report = b.system.expiry.sweep().await?;
    let sweep_time = started.elapsed();
    let sweep_cost = b.proxy.capacity().since(&before);
    ensure!(
        report.expired == EXPIRED as u64 && report.failed == 0,
        "{report:?}"
    );
    let started = Instant::now();
    b.system.drain_stream().await?;
    let stream_time = started.elapsed();
    let all_in = b.proxy.capacity().since(&before);

    println!("## Checkout holds (DynamoDB Local through the local API, one request at a time)");
    println!();
    println!("| operation | p50 ms | p90 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    for (name, v) in [
        ("sale (POST /v1/sales, 1 line)", &sales),
        ("hold (POST /v1/reservations, 1 line)", &holds),
    ] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 0.99)
        );
    }
    println!();
    println!(
        "Hold p50 / sale p50 = **{:.2}** ({TIMED} of each, interleaved; target ≤ 1.2).",
        percentile(&holds, 0.5) / percentile(&sales, 0.5)
    );
    println!();
    println!("### Write capacity per step (all-in: the transaction, its index writes and the stream evaluator's writes for it)");
    println!();
    println!("| step | writes | table WCU | index WCU | total WCU |");
    println!("|---|---|---:|---|---:|");
    for (name, c) in &rows {
        println!(
            "| {name} | {} | {} | {} | **{}** |",
            per_operation(&c.writes),
            c.table,
            index_units(c),
            c.total()
        );
    }
    println!();
    println!("### A listing page: `GET /v1/availability` with 48 pairs against `GET /v1/skus/{{sku}}` (200 of each)");
    println!();
    println!("| request | p50 ms | p90 ms | DynamoDB requests | read units (DynamoDB Local) |");
    println!("|---|---:|---:|---:|---:|");
    for (k, (name, v)) in [
        ("availability, 48 pairs, eventual", &eventual),
        ("availability, 48 pairs, strong", &strong),
        ("one SKU (GET /v1/skus/{sku})", &one_sku),
    ]
    .into_iter()
    .enumerate()
    {
        println!(
            "| {name} | {:.2} | {:.2} | {:.1} | {:.1} |",
            percentile(v, 0.5),
            percentile(v, 0.9),
            requests[k] as f64 / 200.0,
            read_units[k] / 200.0
        );
    }
    println!();
    println!("### The expiry sweep of {EXPIRED} expired holds (over {SWEEP_SKUS} SKUs)");
    println!();
    println!(
        "One pass: **{:.1} s** ({:.0} holds/s), {} (plus 16 index queries), {:.0} WCU ({:.1} per hold: table {}, {}), {:.0} read units. The stream evaluator's ledger entries for them took {:.1} s more; all-in {:.0} WCU ({:.1} per hold).",
        sweep_time.as_secs_f64(),
        EXPIRED as f64 / sweep_time.as_secs_f64(),
        per_operation(&sweep_cost.writes),
        sweep_cost.total(),
        sweep_cost.total() / EXPIRED as f64,
        sweep_cost.table,
        index_units(&sweep_cost),
        sweep_cost.read_total(),
        stream_time.as_secs_f64(),
        all_in.total(),
        all_in.total() / EXPIRED as f64,
    );
    Ok(())
}
