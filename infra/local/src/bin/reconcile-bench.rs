//! The nightly reconciliation at scale, on DynamoDB Local: 100,000 SKU-locations (25,000 SKUs ×
//! 4 locations), each with a ledger that adds up to it (a receipt and two sales, with the
//! versions and exact befores and afters the stream projector writes), as in a clean table.
//!
//! The parent seeds the table; a child process runs the reconciler through a metering proxy,
//! twice: the first run (no checkpoints yet: every entry read, every checkpoint written) and a
//! steady run (nothing new since the checkpoints). Prints a table.
//!
//! Run: `cargo run --profile perf -p local-stack --bin reconcile-bench` (`-- --levels N`)

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::{
    bench::{self, Child, Parent},
    seed::{at, level_counters, n, s, Item},
};
use shared::{
    counters::DAYS,
    schema::{entity, keys},
};

const LOCATIONS: usize = 4;
const DAY: i64 = 86_400;

fn names(i: usize) -> (String, String) {
    (
        format!("R-{:06}", i / LOCATIONS),
        format!("WH{}", i % LOCATIONS),
    )
}

fn quantities(on_hand: i64) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("on_hand".into(), n(on_hand)),
        ("reserved".into(), n(0)),
        ("in_transit".into(), n(0)),
        ("available".into(), n(on_hand)),
    ]))
}

/// Level `i`'s items: the level (a receipt of 100 and sales of 5 and 3: 92 on hand, version 3)
/// and its three ledger entries, two days old.
fn items_of(i: usize, today: i64) -> Vec<Item> {
    let (sku, location) = names(i);
    let day = today - 2;
    let steps = [
        ("receipt", 100, 0, 100),
        ("sale", 5, 100, 95),
        ("sale", 3, 95, 92),
    ];
    let movement = |k: usize| format!("MOV#bench{i}x{k}|LINE#00");
    let mut level = level_counters(&sku, &location, 92, &[0; DAYS as usize], day * 24);
    level.extend([
        ("version".into(), n(3)),
        ("created_at".into(), s(at(day * DAY))),
        ("updated_at".into(), s(at(day * DAY + 3 * 60))),
        ("last_movement".into(), s(movement(3))),
    ]);
    let mut items = vec![level];
    for (k, (kind, quantity, before, after)) in steps.iter().enumerate() {
        let when = at(day * DAY + (k as i64 + 1) * 60);
        let id = format!("mv_bench{i}x{}", k + 1);
        items.push(keys::item(
            keys::ledger(&sku),
            keys::ledger_sort(&when, &id, 0),
            [
                ("entity", s(entity::LEDGER_ENTRY)),
                ("movement_id", s(&id)),
                ("movement", s(movement(k + 1))),
                ("kind", s(*kind)),
                ("sku", s(&sku)),
                ("location", s(&location)),
                ("quantity", n(*quantity)),
                ("actor", s("bench")),
                ("at", s(&when)),
                ("version", n(k as i64 + 1)),
                ("before", quantities(*before)),
                ("after", quantities(*after)),
            ],
        ));
    }
    items
}

/// The child: one reconciler run through a metering proxy; prints one JSON line.
async fn run_child(child: Child) -> anyhow::Result<()> {
    let now: i64 = bench::number(&child.args[0], "now")?;
    child
        .measure(|sdk| {
            let reconciler = shared::reconcile::Reconciler::new(
                shared::store::Store::new(aws_sdk_dynamodb::Client::new(sdk), &child.table),
                shared::clock::Clock::from_fn(move || now * 1000),
            );
            async move {
                let report = reconciler.run().await;
                Ok(serde_json::json!({
                    "levels": report.levels, "clean": report.clean, "drift": report.drift,
                    "behind": report.behind, "entries": report.entries, "failed": report.failed,
                }))
            }
        })
        .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bench::run_seeded("reconcilebench", 100_000, run_child, seed_and_run).await
}

/// The parent: seeds the table, then has the child run twice and prints its figures.
async fn seed_and_run(parent: Parent) -> anyhow::Result<()> {
    let levels = parent.levels;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let today = now.div_euclid(DAY);
    let (written, seeded) = parent.seed(|i| items_of(i, today)).await?;
    println!(
        "Nightly reconciliation on DynamoDB Local: {levels} SKU-locations, {written} items seeded \
         in {seeded:.0} s\n"
    );
    println!("| run | levels | clean | drift | behind | entries proved | run time | per level | read units | write units | peak memory (VmHWM) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in ["first (no checkpoints)", "steady (nothing new)"] {
        let r = bench::run_child(run, &parent.system, &[now.to_string()])?;
        let secs = r["seconds"].as_f64().unwrap_or(0.0);
        println!(
            "| {run} | {} | {} | {} | {} | {} | {:.1} s | {:.2} ms | {:.0} | {:.0} | {:.1} MiB |",
            r["levels"],
            r["clean"],
            r["drift"],
            r["behind"],
            r["entries"],
            secs,
            secs * 1000.0 / r["levels"].as_f64().unwrap_or(1.0).max(1.0),
            r["rcu"].as_f64().unwrap_or(0.0),
            r["wcu"].as_f64().unwrap_or(0.0),
            bench::peak_mib(&r)
        );
        eprintln!(
            "{run}: writes by operation: {}; read units by operation: {}",
            r["writes"], r["reads"]
        );
    }
    Ok(())
}
