//! What each movement costs in DynamoDB write capacity, on AWS's own engine (DynamoDB Local).
//!
//! Every DynamoDB call of the system (the API, the stream evaluator) goes through the metering
//! proxy, which asks for `ReturnConsumedCapacity: INDEXES` on every write and sums what DynamoDB
//! reports per table and index. A movement's cost is everything written between sending it and the
//! evaluator having processed its stream records: the transaction, its index writes, and the
//! evaluator's own writes for it. Measured on a fresh level and again after 30 days of hourly
//! trading (the clock of the API and the evaluator moves an hour between sales), with the level
//! and ledger item sizes and the hot-SKU ceiling they imply.
//!
//! Run: `cargo run --profile perf -p local-stack --bin cost-bench`

use std::sync::{
    atomic::{AtomicI64, Ordering},
    Arc,
};

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use http::Method;
use local_stack::{
    bench::{per_operation, Metered},
    jwt::JwtKey,
    proxy::Capacity,
    system::Options,
    Emulators,
};
use serde_json::{json, Value};
use shared::clock::Clock;
use shared::schema::keys;

const DAYS: i64 = 30;

/// DynamoDB's item size: attribute names plus values (strings by UTF-8 length, numbers about one
/// byte per two digits plus one, maps and lists 3 bytes plus one per element), as its docs count.
fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => {
            let digits = n.trim_start_matches('-').replace('.', "");
            let digits = digits.trim_start_matches('0');
            digits.len().div_ceil(2) + 1
        }
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        _ => 0,
    }
}

fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// The system, metered, with the clock of the API and the evaluator `offset` seconds ahead.
struct Bench {
    metered: Metered,
    offset: Arc<AtomicI64>,
}

impl Bench {
    async fn call(&mut self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        self.metered.call(method, path, Some(body)).await
    }

    /// A movement of `quantity` units of `sku` at `location` (a receipt, a sale).
    async fn post_units(
        &mut self,
        path: &str,
        sku: &str,
        location: &str,
        quantity: i64,
    ) -> anyhow::Result<Value> {
        let body = json!({ "sku": sku, "location": location, "quantity": quantity });
        self.call(Method::POST, path, body).await
    }

    /// The capacity one movement costs, all-in: its own writes and the evaluator's for it.
    async fn measure(&mut self, path: &str, body: Value) -> anyhow::Result<Capacity> {
        Ok(self.metered.measure(path, body).await?.0)
    }

    async fn item(
        &self,
        pk: &str,
        sk: &str,
    ) -> anyhow::Result<std::collections::HashMap<String, AttributeValue>> {
        let system = &self.metered.system;
        system
            .dynamodb
            .get_item()
            .table_name(&system.table)
            .set_key(Some(keys::key(pk, sk)))
            .send()
            .await?
            .item
            .with_context(|| format!("{pk} {sk} not found"))
    }

    /// The sizes of the newest ledger entry of a SKU and of the movement line it records.
    async fn newest_ledger_sizes(&self, sku: &str) -> anyhow::Result<(usize, usize)> {
        let system = &self.metered.system;
        let page = system
            .dynamodb
            .query()
            .table_name(&system.table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(format!("LEDGER#{sku}")))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await?;
        let entry = page.items().first().context("no ledger entry")?;
        let line = entry["movement"]
            .as_s()
            .map_err(|_| anyhow::anyhow!("entry without movement"))?;
        let (pk, sk) = line.split_once('|').context("movement reference")?;
        Ok((item_size(entry), item_size(&self.item(pk, sk).await?)))
    }

    fn advance_hours(&self, hours: i64) {
        self.offset.fetch_add(hours * 3600, Ordering::Relaxed);
    }

    /// The level in one state: a row of each movement's capacity (`state` in the table), then
    /// the level's size and a sale's line and ledger entry sizes (`sizes_state` in the table).
    async fn measure_state(
        &mut self,
        state: &'static str,
        sizes_state: &'static str,
        order: u64,
        rows: &mut Vec<Row>,
        sizes: &mut Vec<Sizes>,
    ) -> anyhow::Result<()> {
        for (name, path, body) in movements(order) {
            rows.push(Row {
                state,
                movement: name,
                capacity: self.measure(path, body).await?,
            });
        }
        let level = item_size(&self.item("SKU#A", "LOC#WH1").await?);
        self.measure(
            "/v1/sales",
            json!({ "sku": "A", "location": "WH1", "quantity": 1 }),
        )
        .await?;
        let (entry, line) = self.newest_ledger_sizes("A").await?;
        sizes.push((sizes_state, level, line, entry));
        Ok(())
    }
}

fn movements(order: u64) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "sale",
            "/v1/sales",
            json!({ "sku": "A", "location": "WH1", "quantity": 1 }),
        ),
        (
            "3-line order",
            "/v1/orders",
            json!({ "order_id": format!("ord-{order}"), "lines": [
                { "sku": "A", "location": "WH1", "quantity": 1 },
                { "sku": "B", "location": "WH1", "quantity": 1 },
                { "sku": "C", "location": "WH1", "quantity": 1 },
            ] }),
        ),
        (
            "receipt",
            "/v1/receipts",
            json!({ "sku": "A", "location": "WH1", "quantity": 5 }),
        ),
        (
            "refund (restocked)",
            "/v1/refunds",
            json!({ "sku": "A", "location": "WH1", "quantity": 1, "order_id": format!("ord-{order}") }),
        ),
        (
            "transfer",
            "/v1/transfers",
            json!({ "sku": "A", "from": "WH1", "to": "WH2", "quantity": 1 }),
        ),
    ]
}

struct Row {
    state: &'static str,
    movement: &'static str,
    capacity: Capacity,
}

/// A state of the level, and its item's size, a sale's movement line's and its ledger entry's.
type Sizes = (&'static str, usize, usize, usize);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let emulators = Emulators::start()?;
    let offset = Arc::new(AtomicI64::new(0));
    let mut options = Options::loopback("costbench", JwtKey::random());
    options.clock = Clock::offset(offset.clone());
    let mut bench = Bench {
        metered: Metered::start(&emulators, options, "cost").await?,
        offset,
    };
    for loc in ["WH1", "WH2"] {
        bench
            .call(
                Method::PUT,
                &format!("/v1/locations/{loc}"),
                json!({ "name": loc, "kind": "warehouse" }),
            )
            .await?;
    }
    for sku in ["A", "B", "C"] {
        bench
            .call(
                Method::PUT,
                &format!("/v1/skus/{sku}"),
                json!({ "name": format!("Product {sku}") }),
            )
            .await?;
        bench
            .post_units("/v1/receipts", sku, "WH1", 100_000)
            .await?;
    }
    bench.post_units("/v1/receipts", "A", "WH2", 10).await?;
    bench.metered.system.drain_stream().await?;

    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    let mut order = 0;
    order += 1;
    bench
        .measure_state("fresh level", "fresh", order, &mut rows, &mut sizes)
        .await?;

    // 30 days of hourly trading: a sale every hour, a receipt and a refund every day.
    eprintln!("trading hourly for {DAYS} days...");
    let trading_started = bench.metered.proxy.capacity();
    for hour in 0..DAYS * 24 {
        bench.advance_hours(1);
        bench.post_units("/v1/sales", "A", "WH1", 2).await?;
        if hour % 24 == 0 {
            order += 1;
            bench
                .call(Method::POST, "/v1/orders", json!({ "order_id": format!("day-{order}"), "lines": [{ "sku": "A", "location": "WH1", "quantity": 1 }] }))
                .await?;
            bench.post_units("/v1/receipts", "A", "WH1", 20).await?;
            bench
                .call(Method::POST, "/v1/refunds", json!({ "sku": "A", "location": "WH1", "quantity": 1, "order_id": format!("day-{order}") }))
                .await?;
        }
        if hour % 6 == 0 {
            bench.metered.system.drain_stream().await?;
        }
    }
    bench.metered.system.drain_stream().await?;
    let trading = bench.metered.proxy.capacity().since(&trading_started);
    order += 1;
    bench
        .measure_state(
            "after 30 days",
            "after 30 days of hourly trading",
            order,
            &mut rows,
            &mut sizes,
        )
        .await?;

    println!("## Write capacity per movement (DynamoDB Local, ReturnConsumedCapacity=INDEXES)");
    println!();
    println!("Every write the movement causes, summed: its transaction (table and index) and the stream evaluator's writes for it.");
    println!();
    println!("| level | movement | writes | refused attempts | table WCU | gsi1 WCU | total WCU |");
    println!("|---|---|---|---|---:|---:|---:|");
    for r in &rows {
        let refused = per_operation(&r.capacity.refused);
        println!(
            "| {} | {} | {} | {} | {} | {} | **{}** |",
            r.state,
            r.movement,
            per_operation(&r.capacity.writes),
            if refused.is_empty() { "-" } else { &refused },
            r.capacity.table,
            r.capacity.indexes.get("gsi1").copied().unwrap_or(0.0),
            r.capacity.total()
        );
    }
    println!();
    println!();
    let written: u64 = trading.writes.values().sum();
    let refused: u64 = trading.refused.values().sum();
    println!(
        "30 days of hourly trading (a 2-unit sale every hour; an order, a receipt and a refund \
         every day): {written} metered writes, {:.0} WCU, and {refused} refused attempts: the first \
         write of each hour finds the level's counters at an older hour and is sent again, \
         rolled forward (see `shared/src/counters.rs`).",
        trading.total()
    );
    println!();
    println!(
        "Item sizes as DynamoDB counts them, and a sale by AWS's published per-item rule (a \
         transactional write costs 2 WCU per started KB of each item, a standard write 1): \
         level and movement line in the transaction, the ledger entry written from the stream."
    );
    println!();
    println!("| level | level item | sale's movement line | its ledger entry | sale by the per-item rule | the sale's write on the level item | sales/s per SKU-location (1,000 WCU/s per item) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (state, level, line, entry) in sizes {
        let kb = |b: usize| b.div_ceil(1024).max(1);
        let level_units = 2 * kb(level);
        let sale = level_units + 2 * kb(line) + kb(entry);
        println!(
            "| {state} | {level} B | {line} B | {entry} B | **{sale} WCU** | {level_units} WCU | {} |",
            1000 / level_units
        );
    }
    Ok(())
}
