//! Catalogue-scale benchmark on DynamoDB Local: `GET /v1/levels` over 100,000 SKU-locations
//! (50,000 SKUs at two warehouses), p50 and p99 of a first page of 50 per filter, with the
//! DynamoDB requests and read units each page costs; then a 10,000-line stocktake import: lines
//! per second and write units per line (the import's own writes, and the stream's after it).
//!
//! `cargo run --release -p local-stack --bin catalogue-bench [-- --skus N --lines N]`

use std::{collections::BTreeMap, time::Instant};

use http::Method;
use local_stack::{
    bench::{option, percentile_ms as percentile, Metered},
    jwt::JwtKey,
    seed,
    system::Options,
    Emulators,
};
use shared::store::RequestCounter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let skus: usize = option(&args, "--skus", 50_000)?;
    let lines: usize = option(&args, "--lines", 10_000)?;
    let rounds: usize = option(&args, "--rounds", 30)?;

    let emulators = Emulators::start()?;
    let key = JwtKey::random();
    let counter = RequestCounter::default();
    let mut options = Options::loopback("catalogue-bench", key.clone());
    options.counter = Some(counter.clone());
    let Metered {
        mut system,
        proxy: meter,
        api,
        ..
    } = Metered::start(&emulators, options, "bench").await?;
    let ops = format!(
        "Bearer {}",
        key.mint("ops-bench", "inventory/admin inventory/read", 3600)
    );
    let call = |method: Method, path: String, body: Option<Vec<u8>>, ctype: &'static str| {
        let (api, ops) = (&api, &ops);
        async move {
            let key = format!("bench-{}", path.len());
            let r = api
                .send(
                    method,
                    &path,
                    &[
                        ("authorization", ops.as_str()),
                        ("content-type", ctype),
                        ("idempotency-key", &key),
                    ],
                    body,
                )
                .await?;
            anyhow::ensure!(
                r.status.is_success(),
                "{path}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
            Ok::<_, anyhow::Error>(r)
        }
    };
    for loc in ["WH1", "WH2"] {
        call(
            Method::PUT,
            format!("/v1/locations/{loc}"),
            Some(format!(r#"{{"name":"Warehouse {loc}","kind":"warehouse"}}"#).into_bytes()),
            "application/json",
        )
        .await?;
    }
    for (id, rule) in [
        (
            "low",
            r#"{"name":"Low acme","kind":"low_stock","threshold":5,"clear_at":8,"severity":"warning","selector":{"attribute":{"name":"brand","value":"acme"}}}"#,
        ),
        (
            "out",
            r#"{"name":"Out","kind":"out_of_stock","severity":"critical"}"#,
        ),
    ] {
        let r = api
            .send(
                Method::POST,
                "/v1/rules",
                &[
                    ("authorization", ops.as_str()),
                    ("content-type", "application/json"),
                    ("idempotency-key", id),
                ],
                Some(rule.as_bytes().to_vec()),
            )
            .await?;
        anyhow::ensure!(r.status.is_success(), "rule: {}", r.status);
    }

    // The catalogue: every SKU at WH1 (available 0-199), every SKU at WH2 (0-49), names with a
    // colour, three brands.
    let seeding = Instant::now();
    let at = "2026-11-30T08:00:00.000Z";
    let hour = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(3600);
    let mut items = Vec::new();
    for i in 0..skus {
        let sku = format!("SKU-{i:06}");
        let colour = ["Blue", "Red", "Green", "Black", "White", "Grey", "Pink"][i % 7];
        let attrs = BTreeMap::from([(
            "brand".to_owned(),
            ["acme", "zeta", "nova"][i % 3].to_owned(),
        )]);
        items.push(seed::sku_item(
            &sku,
            &format!("{colour} widget {i}"),
            &attrs,
            at,
        ));
        for (loc, available) in [("WH1", (i % 200) as i64), ("WH2", (i % 50) as i64)] {
            items.push(seed::level_item(&sku, loc, available, at, hour));
            items.push(shared::listing::entry_item(&sku, loc, 1, available));
        }
    }
    let total = items.len();
    let mut writers = tokio::task::JoinSet::new();
    for chunk in items.chunks(2000) {
        let (client, table, chunk) = (
            system.dynamodb.clone(),
            system.table.clone(),
            chunk.to_vec(),
        );
        writers.spawn(async move { seed::put_all(&client, &table, chunk).await });
        if writers.len() >= 4 {
            writers.join_next().await.expect("a writer")??;
        }
    }
    while let Some(done) = writers.join_next().await {
        done??;
    }
    // The seeded items are no stock changes: both stream mappings start after them.
    system.poller.discard().await?;
    system.projector_poller.discard().await?;
    eprintln!(
        "seeded {total} items ({} levels) in {:.0} s",
        skus * 2,
        seeding.elapsed().as_secs_f64()
    );

    println!(
        "GET /v1/levels on DynamoDB Local: {} SKU-locations ({} SKUs at 2 locations), first page of 50, {rounds} requests each\n",
        skus * 2,
        skus
    );
    println!(
        "| filter | order | rows | p50 | p99 | DynamoDB requests / page | read units / page |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for filter in [
        "",
        "location=WH2",
        "available_max=3",
        "available_max=0&location=WH1",
        "below_threshold=true",
        "sku_prefix=SKU-0123",
        "attribute=brand:zeta",
        "q=blue",
        "q=widget%2049999",
        "q=blue&available_max=10",
    ] {
        let path = if filter.is_empty() {
            "/v1/levels?limit=50".to_owned()
        } else {
            format!("/v1/levels?{filter}&limit=50")
        };
        let mut times = Vec::with_capacity(rounds);
        let before = (meter.capacity(), counter.get());
        let mut rows = 0;
        let mut order = String::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let r = call(Method::GET, path.clone(), None, "application/json").await?;
            times.push(started.elapsed());
            let body: serde_json::Value = serde_json::from_slice(&r.body)?;
            rows = body["items"].as_array().map_or(0, Vec::len);
            order = body["order"].as_str().unwrap_or_default().to_owned();
        }
        let used = meter.capacity().since(&before.0);
        let requests = (counter.get() - before.1) as f64 / rounds as f64;
        times.sort();
        println!(
            "| `{}` | {order} | {rows} | {:.1} ms | {:.1} ms | {requests:.1} | {:.1} |",
            if filter.is_empty() { "(none)" } else { filter },
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            used.read_total() / rounds as f64
        );
    }

    // A stocktake of `lines` lines over the first SKUs at WH1.
    let mut file = String::from("sku,location,counted\n");
    for i in 0..lines {
        file.push_str(&format!("SKU-{:06},WH1,{}\n", i % skus, 100 + i % 7));
    }
    let before = meter.capacity();
    let upload = Instant::now();
    let r = call(
        Method::POST,
        "/v1/stocktakes".to_owned(),
        Some(file.into_bytes()),
        "text/csv",
    )
    .await?;
    let upload_ms = upload.elapsed().as_secs_f64() * 1000.0;
    let stored = meter.capacity().since(&before);
    let id = serde_json::from_slice::<serde_json::Value>(&r.body)?["import_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let before = meter.capacity();
    let started = Instant::now();
    system.projector_poller.drain().await?;
    let run = started.elapsed().as_secs_f64();
    let applied = meter.capacity().since(&before);
    let before = meter.capacity();
    let stream = Instant::now();
    system.poller.drain().await?;
    let stream_s = stream.elapsed().as_secs_f64();
    let after = meter.capacity().since(&before);
    let done: serde_json::Value = serde_json::from_slice(
        &call(
            Method::GET,
            format!("/v1/stocktakes/{id}"),
            None,
            "application/json",
        )
        .await?
        .body,
    )?;
    println!(
        "\nStocktake import of {lines} lines ({} applied, {} failed): upload {upload_ms:.0} ms \
         ({:.0} WCU to store the lines), applied in {run:.1} s = {:.0} lines/s, {:.1} WCU per \
         line by the import (writes {:?}); then the stream evaluator's ledger and listing \
         entries, {stream_s:.1} s, {:.1} WCU per line",
        done["applied"],
        done["failed"],
        stored.total(),
        lines as f64 / run,
        applied.total() / lines as f64,
        applied.writes,
        after.total() / lines as f64
    );
    Ok(())
}
