//! The nightly reconciliation at scale, on DynamoDB Local: 100,000 SKU-locations (25,000 SKUs ×
//! 4 locations), each with a ledger that adds up to it (a receipt and two sales, with the
//! versions and exact befores and afters the stream projector writes), as in a clean table.
//!
//! The parent seeds the table; a child process runs the reconciler as on AWS (one task per level
//! shard through the function's queue on moto's SQS, two workers) through a metering proxy,
//! twice: the first run (no checkpoints yet: every entry read, every checkpoint written) and a
//! steady run (nothing new since the checkpoints). Prints a table.
//!
//! Run: `cargo run --profile perf -p local-stack --bin reconcile-bench` (`-- --levels N`)

use anyhow::Context;
use local_stack::{
    batch,
    bench::{self, Child, Parent},
    project_root,
    seed::{bench_level_names, ledgered_level},
    template::Template,
};
use shared::{clock::Clock, config::ReportConfig, reconcile::RunReport};

const DAY: i64 = 86_400;

/// Level `i`'s items: the level and its three ledger entries, two days old.
fn items_of(i: usize, today: i64) -> Vec<local_stack::seed::Item> {
    let (sku, location) = bench_level_names("R", i);
    ledgered_level("bench", i, (&sku, &location), today - 2)
}

/// The child: one reconciliation run (named `args[1]`) through a metering proxy, as on AWS:
/// one task per level shard through the function's queue (moto's SQS), `args[2]` workers, the
/// last committing; prints one JSON line.
async fn run_child(child: Child) -> anyhow::Result<()> {
    let now: i64 = bench::number(&child.args[0], "now")?;
    let run = child.args[1].clone();
    let workers: usize = bench::number(&child.args[2], "workers")?;
    let template = Template::load(&project_root().join("template.yaml"))?;
    child
        .measure(|sdk| {
            let config = ReportConfig {
                table_name: child.table.clone(),
                bucket: child.bucket.clone(),
            };
            let sdk = sdk.clone();
            async move {
                let clock = Clock::from_fn(move || now * 1000);
                let job = batch::reconciliation(&sdk, &template, &config, clock, "reconcilebench")
                    .await?;
                let (_, drained) = job.run_tasks(&run, now, 1, workers).await?;
                let report: RunReport = job
                    .summary(&run)
                    .await?
                    .with_context(|| format!("the run did not commit: {drained:?}"))?;
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
    for (n, run) in ["first (no checkpoints)", "steady (nothing new)"]
        .into_iter()
        .enumerate()
    {
        let args = [now.to_string(), format!("bench-{n}"), "2".to_owned()];
        let r = bench::run_child(run, &parent.system, &args)?;
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
