//! The nightly replenishment run at scale, on DynamoDB Local and moto's S3: 100,000
//! SKU-locations (25,000 SKUs × 4 locations, a quarter of the SKUs with supply facts), each with
//! 179 days of demand already in its forecast item and yesterday's sales in its level's daily
//! counters, as on any night of a shop that has run for half a year. The demand is of five
//! kinds (smooth, weekly, trending, intermittent, new), seeded.
//!
//! The parent seeds the table; a child process runs the replenishment as it runs on AWS (the
//! coordinator queues one task per level shard on moto's SQS, `--workers` workers take them, the
//! last commits) through a metering proxy, so the run's time, read and write units and peak
//! memory (VmHWM, of the one process running every worker) are its own. With several worker
//! counts (`--workers 1,2,4`) each runs the whole night again, a run of its own. Prints a table.
//!
//! Run: `cargo run --profile perf -p local-stack --bin replenishment-bench` (`-- --levels N
//! --workers 1,2,4`)

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::{
    batch,
    bench::{self, Child, Parent},
    project_root,
    seed::{at, bare_sku_item, level_counters, n, s, Item},
    template::Template,
};
use shared::{
    clock::Clock,
    config::ReportConfig,
    counters::{slot, DAYS},
    domain::Quantities,
    replenishment::{self, run::RunReport, Demand},
};

const LOCATIONS: usize = 4;
const DAY: i64 = 86_400;
/// Days of demand already carried into each forecast item (the run adds yesterday).
const STORED_DAYS: usize = 179;

fn names(i: usize) -> (String, String) {
    (
        format!("P-{:06}", i / LOCATIONS),
        format!("WH{}", i % LOCATIONS),
    )
}

/// A seeded uniform number in [0, 1) for level `i`, day `d`.
fn noise(i: usize, d: i64) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (d as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 29;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Units level `i` sold on day `d` (`age` days before today), by its kind.
fn demand(i: usize, d: i64, age: i64) -> i64 {
    let u = noise(i, d);
    let v = match i % 5 {
        0 => 6.0 + 4.0 * (u - 0.5),
        1 => [4.0, 5.0, 5.0, 6.0, 9.0, 12.0, 3.0][d.rem_euclid(7) as usize] * (0.8 + 0.4 * u),
        2 => (2.0 + (180 - age) as f64 * 0.05) * (0.7 + 0.6 * u),
        3 => {
            if u < 0.2 {
                1.0 + 6.0 * noise(i + 7, d)
            } else {
                0.0
            }
        }
        _ => {
            if age < 10 {
                3.0 * u + 1.0
            } else {
                0.0
            }
        }
    };
    v.round() as i64
}

/// Level `i`'s items: the level (yesterday's sales in its counters), its forecast item with the
/// 179 days before, and (once per SKU) the SKU item.
fn items_of(i: usize, today: i64, template: &replenishment::Plan) -> Vec<Item> {
    let (sku, location) = names(i);
    let yesterday = today - 1;
    let new = i % 5 == 4;
    let mut sold_d = vec![0; DAYS as usize];
    for age in 1..DAYS {
        sold_d[slot(today - age, DAYS)] = demand(i, today - age, age);
    }
    let on_hand = 20 + (i % 200) as i64;
    let created = if new { today - 10 } else { today - 200 };
    let mut level = level_counters(&sku, &location, on_hand, &sold_d, yesterday * 24 + 20);
    level.extend([
        ("version".into(), n(200)),
        ("created_at".into(), s(at(created * DAY))),
        ("updated_at".into(), s(at(yesterday * DAY + 3600))),
        ("last_movement".into(), s("MOV#bench|LINE#00")),
    ]);
    let mut items = vec![level];
    if !new {
        let stored = Demand {
            daily: (2..=STORED_DAYS as i64 + 1)
                .rev()
                .map(|age| demand(i, today - age, age))
                .collect(),
            last_day: today - 2,
        };
        let plan = replenishment::Plan {
            sku: sku.clone(),
            location: location.clone(),
            ..template.clone()
        };
        items.push(replenishment::store::to_item(&stored, &plan));
    }
    if i.is_multiple_of(LOCATIONS) {
        let mut item = bare_sku_item(&sku, &format!("Product {sku}"), &at(created * DAY));
        if (i / LOCATIONS).is_multiple_of(4) {
            let facts = AttributeValue::M(HashMap::from([
                (
                    "supplier".into(),
                    s(format!("SUP-{}", (i / LOCATIONS) % 40)),
                ),
                ("lead_time_days".into(), n(3 + (i % 11) as i64)),
                ("min_order_qty".into(), n(24)),
                ("pack_size".into(), n(6)),
            ]));
            item.insert("supply".into(), facts);
        }
        items.push(item);
    }
    items
}

/// The child: one run through a metering proxy, its tasks drained by `workers` workers; prints
/// one JSON line.
async fn run_child(child: Child) -> anyhow::Result<()> {
    let now: i64 = bench::number(&child.args[0], "now")?;
    let workers: usize = bench::number(&child.args[1], "workers")?;
    let template = Template::load(&project_root().join("template.yaml"))?;
    child
        .measure(|sdk| {
            let config = ReportConfig {
                table_name: child.table.clone(),
                bucket: child.bucket.clone(),
            };
            let prefix = format!("replenishbench-{workers}");
            let sdk = sdk.clone();
            async move {
                let job = batch::replenishment(&sdk, &template, &config, Clock::system(), &prefix)
                    .await?;
                let run = format!("bench-{workers}");
                let (started, drained) = job.run_tasks(&run, now, 1, workers).await?;
                let report: RunReport = job
                    .summary(&run)
                    .await?
                    .with_context(|| format!("the run did not commit: {drained:?}"))?;
                Ok(serde_json::json!({
                    "levels": report.levels, "planned": report.planned,
                    "to_order": report.to_order, "fallback": report.fallback,
                    "failed": report.failed, "tasks": started.tasks,
                    "invocations": drained.invocations, "task_failures": drained.failed,
                    "busy_ms": drained.busy_ms, "longest_ms": drained.longest_ms,
                    "rops": report.reorder_points_written,
                }))
            }
        })
        .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bench::run_seeded("replenishbench", 100_000, run_child, seed_and_run).await
}

/// The parent: seeds the table, then has the child run and prints its figures.
async fn seed_and_run(parent: Parent) -> anyhow::Result<()> {
    let levels = parent.levels;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let today = now.div_euclid(DAY);
    // One plan stands in for every stored item's previous plan (the run replaces it).
    let template = replenishment::plan(
        "P",
        "WH0",
        None,
        &Demand {
            daily: vec![5; 60],
            last_day: today - 2,
        },
        &Quantities::default(),
        &shared::reports::date_of_day(today - 1),
    );

    let (written, seeded) = parent.seed(|i| items_of(i, today, &template)).await?;

    let workers: Vec<usize> = bench::option(
        &std::env::args().collect::<Vec<_>>(),
        "--workers",
        "4".to_owned(),
    )?
    .split(',')
    .map(|w| bench::number(w, "workers"))
    .collect::<anyhow::Result<_>>()?;
    println!(
        "Nightly replenishment on DynamoDB Local: {levels} SKU-locations, {written} items seeded \
         in {seeded:.0} s\n"
    );
    println!("| workers | levels | planned | to order | fallback | failed | reorder points written | tasks | run time | per task (mean / longest) | read units | write units | per level (read / write) | peak memory (VmHWM) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut last = serde_json::Value::Null;
    for w in workers {
        let r = bench::run_child("run", &parent.system, &[now.to_string(), w.to_string()])?;
        let secs = r["seconds"].as_f64().unwrap_or(0.0);
        let planned = r["levels"].as_f64().unwrap_or(1.0).max(1.0);
        let (rcu, wcu) = (
            r["rcu"].as_f64().unwrap_or(0.0),
            r["wcu"].as_f64().unwrap_or(0.0),
        );
        let invocations = r["invocations"].as_f64().unwrap_or(1.0).max(1.0);
        println!(
            "| {w} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {:.1} s / {:.1} s | {:.0} | {:.0} | {:.2} / {:.2} | {:.1} MiB |",
            r["levels"],
            r["planned"],
            r["to_order"],
            r["fallback"],
            r["failed"],
            r["rops"],
            r["tasks"],
            secs,
            r["busy_ms"].as_f64().unwrap_or(0.0) / invocations / 1000.0,
            r["longest_ms"].as_f64().unwrap_or(0.0) / 1000.0,
            rcu,
            wcu,
            rcu / planned,
            wcu / planned,
            bench::peak_mib(&r)
        );
        last = r;
    }
    println!(
        "\nwrites by operation (last run): {}\nread units by operation (last run): {}",
        last["writes"], last["reads"]
    );
    Ok(())
}
