//! The nightly reconciliation at scale, on DynamoDB Local: 100,000 SKU-locations (25,000 SKUs ×
//! 4 locations), each with a ledger that adds up to it (a receipt and two sales, with the
//! versions and exact befores and afters the stream projector writes), as in a clean table.
//!
//! The parent seeds the table; a child process runs the reconciler through a metering proxy,
//! twice: the first run (no checkpoints yet: every entry read, every checkpoint written) and a
//! steady run (nothing new since the checkpoints). Prints a table.
//!
//! Run: `cargo run --profile perf -p local-stack --bin reconcile-bench` (`-- --levels N`)

use local_stack::{
    bench::{self, Child, Parent},
    seed::{bench_level_names, ledgered_level},
};

const DAY: i64 = 86_400;

/// Level `i`'s items: the level and its three ledger entries, two days old.
fn items_of(i: usize, today: i64) -> Vec<local_stack::seed::Item> {
    let (sku, location) = bench_level_names("R", i);
    ledgered_level("bench", i, (&sku, &location), today - 2)
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
