//! The daily report at scale, on DynamoDB Local and moto's S3: 100,000 SKU-locations (25,000
//! SKUs × 4 locations) with 30 days of counters, beside a ledger of 31 entries per level (an
//! opening receipt, in the receipts index, and a sale a day)
//! (3,000,000 items) that a table scan would have to read and the report must not, and the SKU
//! items (half with a unit cost). 1 % of the
//! levels changed after the report's day (their figures are put back from the ledger) and 1 % had
//! a stocktake in the window (their stock series comes from the ledger).
//!
//! The parent seeds the table; a child process runs the report through a metering proxy, so the
//! run's time, read capacity and peak memory (VmHWM) are its own. Prints a table.
//!
//! Run: `cargo run --profile perf -p local-stack --bin report-bench` (`-- --levels N` for another size)

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
    schema::keys,
};

const LOCATIONS: usize = 4;
const LEDGER_DAYS: i64 = 30;
const DAY: i64 = 86_400;

use local_stack::seed::quantities_map as quantities;

/// Level `i`'s SKU and location.
fn names(i: usize) -> (String, String) {
    local_stack::seed::bench_level_names("R", i)
}

/// Units level `i` sold on day `d` (0 to 6).
fn sold(i: usize, d: i64) -> i64 {
    (i as i64 + d).rem_euclid(7)
}

/// Level `i` as of `today` (its report day is `today - 1`), with its ledger: one sale a day.
fn level_and_ledger(i: usize, today: i64) -> Vec<Item> {
    let (sku, location) = names(i);
    let first = today - LEDGER_DAYS;
    let changed_after = i.is_multiple_of(100);
    let stocktake = i % 100 == 1;
    let last_day = if changed_after { today } else { today - 1 };
    // Stock starts at 500 and falls by each day's sale.
    let mut on_hand = 500;
    let mut items = Vec::with_capacity(LEDGER_DAYS as usize + 2);
    let mut sold_d = vec![0; DAYS as usize];
    // A ledger entry of `delta` units, leaving `after` on hand, as the stream writes it.
    let entry = |movement_id: &str, kind: &str, actor: &str, at: &str, delta: i64, after: i64| {
        keys::item(
            keys::ledger(&sku),
            keys::ledger_sort(at, movement_id, 0),
            [
                ("entity", s("ledger_entry")),
                ("movement_id", s(movement_id)),
                ("movement", s(format!("MOV#{movement_id}|LINE#00"))),
                ("kind", s(kind)),
                ("sku", s(sku.clone())),
                ("location", s(location.clone())),
                ("quantity", n(delta.abs())),
                ("actor", s(actor)),
                ("at", s(at)),
                ("d_on_hand", n(delta)),
                ("d_available", n(delta)),
                ("d_in_transit", n(0)),
                ("after", quantities(after)),
            ],
        )
    };
    // The opening receipt of 500 units (in the receipts index, as the stream writes it).
    let opening = format!("mv_{i:07}_open");
    let opened_at = at(first * DAY);
    let mut receipt = entry(&opening, "receipt", "ops-bench", &opened_at, 500, 500);
    receipt.extend([
        (
            keys::RECEIPT_PARTITION_ATTRIBUTE.into(),
            s(keys::receipts(&sku, &location)),
        ),
        (
            keys::RECEIPT_SORT_ATTRIBUTE.into(),
            s(keys::ledger_sort(&opened_at, &opening, 0)),
        ),
    ]);
    items.push(receipt);
    for d in first..=last_day {
        let q = sold(i, d).max(1);
        let t = d * DAY + 3600 * 9 + (i % 3600) as i64;
        let movement_id = format!("mv_{i:07}_{d}");
        let mut sale = entry(
            &movement_id,
            "sale",
            "storefront-bench",
            &at(t),
            -q,
            on_hand - q,
        );
        sale.insert("before".into(), quantities(on_hand));
        items.push(sale);
        on_hand -= q;
        if d > today - DAYS {
            sold_d[slot(d, DAYS)] += q;
        }
    }
    let last_sale = last_day * DAY + 3600 * 9 + (i % 3600) as i64;
    let mut level = level_counters(&sku, &location, on_hand, &sold_d, last_day * 24 + 9);
    level.extend([
        ("version".into(), n(LEDGER_DAYS + 1)),
        ("created_at".into(), s(at(first * DAY))),
        ("updated_at".into(), s(at(last_sale))),
        ("last_sale_at".into(), s(at(last_sale))),
        ("last_receipt_at".into(), s(at(first * DAY))),
        ("last_movement".into(), s("MOV#bench|LINE#00")),
    ]);
    if stocktake {
        level.insert("uncounted_day".into(), n(today - 5));
    }
    items.push(level);
    // The SKU item, once per SKU: half the SKUs have a unit cost.
    if i.is_multiple_of(LOCATIONS) {
        let mut item = bare_sku_item(&sku, &format!("Product {sku}"), &at(first * DAY));
        if (i / LOCATIONS).is_multiple_of(2) {
            item.insert("unit_cost".into(), s("4.25"));
            item.insert("currency".into(), s("EUR"));
        }
        items.push(item);
    }
    items
}

/// The child: one report run through a metering proxy; prints one JSON line.
async fn run_report(child: Child) -> anyhow::Result<()> {
    let (day, now): (i64, i64) = (child.args[0].parse()?, child.args[1].parse()?);
    child
        .measure(|sdk| {
            let config = ReportConfig {
                table_name: child.table.clone(),
                bucket: child.bucket.clone(),
            };
            let sdk = sdk.clone();
            async move {
                // As on AWS: one task per level shard through the function's queue (moto's
                // SQS), taken by two workers, the last one committing.
                let template = Template::load(&project_root().join("template.yaml"))?;
                let writer =
                    batch::reports(&sdk, &template, &config, Clock::system(), "reportbench")
                        .await?;
                let (manifest, stats) = writer.run_with_stats(day, now).await?;
                let rows: usize = manifest.objects.iter().map(|o| o.rows).sum();
                let bytes: usize = manifest.objects.iter().map(|o| o.bytes).sum();
                Ok(serde_json::json!({
                    "levels": manifest.levels, "rows": rows, "bytes": bytes,
                    "objects": manifest.objects.len(), "from_ledger": stats.levels_from_ledger,
                    "value": manifest.inventory_value,
                }))
            }
        })
        .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    bench::run_seeded("reportbench", 100_000, run_report, seed_and_report).await
}

/// The parent: seeds the table, then has the child run and prints its figures.
async fn seed_and_report(parent: Parent) -> anyhow::Result<()> {
    let levels = parent.levels;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let today = now.div_euclid(DAY);

    // A thousand levels at a time (about 31,000 items).
    let (written, seeded) = parent.seed(|i| level_and_ledger(i, today)).await?;

    let r = bench::run_child(
        "report run",
        &parent.system,
        &[(today - 1).to_string(), now.to_string()],
    )?;
    println!(
        "Daily report on DynamoDB Local: {levels} SKU-locations, {written} items in the table \
         ({} ledger entries), seeded in {seeded:.0} s\n",
        written - levels - levels / LOCATIONS
    );
    println!("inventory value: {}\n", r["value"]);
    println!("| levels | rows written | objects | bytes | levels from the ledger | run time | read units | peak memory (VmHWM) |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {} | {} | {:.1} MiB | {} | {:.1} s | {:.0} | {:.1} MiB |",
        r["levels"],
        r["rows"],
        r["objects"],
        r["bytes"].as_f64().unwrap_or(0.0) / 1048576.0,
        r["from_ledger"],
        r["seconds"].as_f64().unwrap_or(0.0),
        r["rcu"].as_f64().unwrap_or(0.0),
        bench::peak_mib(&r)
    );
    println!("\nread units by operation: {}", r["reads"]);
    Ok(())
}
