//! The data upgrade at scale, on DynamoDB Local: 100,000 SKU-locations (25,000 SKUs × 4
//! locations) as the first releases wrote them: levels without their shard of the levels index
//! and without listing entries, receipts outside the receipts index, SKU entries without search
//! text; each level with a ledger of a receipt and two sales (425,000 items in all).
//!
//! The parent seeds the table; a child process runs the upgrade through a metering proxy three
//! times: the first run (every old item fixed), a run on the upgraded table (at the version: one
//! read), and a run from scratch over the upgraded data (its state removed: the whole scan, no
//! write). Prints a table.
//!
//! Run: `cargo run --profile perf -p local-stack --bin upgrade-bench` (`-- --levels N`)

use std::collections::BTreeMap;

use local_stack::{
    bench::{self, Child, Parent},
    seed::{at, bench_level_names, ledgered_level, sku_item, Item, BENCH_LOCATIONS},
};
use shared::schema::keys;

const DAY: i64 = 86_400;

/// Level `i`'s items in their old shapes: the level (a receipt of 100 and sales of 5 and 3: 92
/// on hand, 40 days ago) without `lvl_shard`, its three ledger entries (the receipt without the
/// receipts index's keys), and for the SKU's first location the SKU entry without search text.
fn items_of(i: usize, today: i64) -> Vec<Item> {
    let (sku, location) = bench_level_names("U", i);
    let day = today - 40;
    let mut items = ledgered_level("up", i, (&sku, &location), day);
    items[0].remove(keys::LEVEL_SHARD_ATTRIBUTE);
    if i.is_multiple_of(BENCH_LOCATIONS) {
        let mut entry = sku_item(
            &sku,
            &format!("Product {sku}"),
            &BTreeMap::new(),
            &at(day * DAY),
        );
        entry.remove("search");
        items.push(entry);
    }
    items
}

/// The child: one upgrade run through a metering proxy; prints one JSON line.
async fn run_child(child: Child) -> anyhow::Result<()> {
    child
        .measure(|sdk| {
            let upgrader = shared::upgrade::Upgrader::new(
                shared::store::Store::new(aws_sdk_dynamodb::Client::new(sdk), &child.table),
                shared::clock::Clock::system(),
            );
            async move {
                let report = upgrader.run(shared::upgrade::Budget::unlimited()).await?;
                Ok(serde_json::to_value(report)?)
            }
        })
        .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bench::run_seeded("upgradebench", 100_000, run_child, seed_and_run).await
}

/// The parent: seeds the table, then has the child run three times and prints its figures.
async fn seed_and_run(parent: Parent) -> anyhow::Result<()> {
    let levels = parent.levels;
    let today = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(DAY);
    let (written, seeded) = parent.seed(|i| items_of(i, today)).await?;
    println!(
        "Data upgrade on DynamoDB Local: {levels} SKU-locations in old shapes, {written} items \
         seeded in {seeded:.0} s\n"
    );
    println!("| run | complete | scan pages | items returned | levels sharded | levels listed | receipts indexed | SKUs indexed | run time | read units | write units | peak memory (VmHWM) |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let runs = [
        "first (old shapes)",
        "again (at the version)",
        "from scratch (upgraded data)",
    ];
    for run in runs {
        if run.starts_with("from scratch") {
            parent
                .system
                .dynamodb
                .delete_item()
                .table_name(&parent.system.table)
                .set_key(Some(keys::key(keys::UPGRADE, keys::META)))
                .send()
                .await?;
        }
        let r = bench::run_child(run, &parent.system, &[])?;
        println!(
            "| {run} | {} | {} | {} | {} | {} | {} | {} | {:.1} s | {:.0} | {:.0} | {:.1} MiB |",
            r["complete"],
            r["pages"],
            r["items"],
            r["levels_sharded"],
            r["levels_listed"],
            r["receipts_indexed"],
            r["skus_indexed"],
            r["seconds"].as_f64().unwrap_or(0.0),
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
