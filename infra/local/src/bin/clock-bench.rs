//! The alert clock at scale, on DynamoDB Local: 100,000 stock levels, 10,000 open episodes over
//! 100 rules; 9,000 still hold (their level is still low) and 1,000 resolve (their level was
//! restocked without the stream telling). Plus one time-based rule (stock age 30 days) over every
//! level, of which 1,000 have stock 40 days old. Prints the run time and the capacity consumed
//! (metered by the proxy in front of DynamoDB Local) of:
//! - one tick: the episode walk and this minute's shard of the time-rule sweep;
//! - one full round of the sweep (all 60 shards, every level: what the clock does in an hour).
//!
//! Run: `cargo run --profile perf -p local-stack --bin clock-bench`

use std::{collections::HashMap, time::Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::{
    bench::{per_operation, Metered},
    jwt::JwtKey,
    seed::{level_item, n, s, Item},
    system::Options,
    Emulators,
};
use serde_json::json;
use shared::alerts::{
    rules::{fingerprint, RuleBody},
    store::RuleCreated,
};
use shared::schema::keys;

const LEVELS: usize = 100_000;
const EPISODES: usize = 10_000;
const RESOLVING: usize = 1_000;
const RULES: usize = 100;
/// Levels whose stock is older than the time-based rule's 30 days.
const AGED: usize = 1_000;

/// Level `i` at WH1, its stock last received at `received`.
fn level(i: usize, available: i64, hour: i64, received: &str) -> Item {
    let now = "2026-12-01T00:00:00.000Z";
    let mut level = level_item(&format!("B-{i:06}"), "WH1", available, received, hour);
    level.extend([
        ("created_at".into(), s(now)),
        ("updated_at".into(), s(now)),
        ("last_movement".into(), s(format!("MOV#{i:040}|LINE#00"))),
    ]);
    level
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let emulators = Emulators::start()?;
    let mut options = Options::loopback("clockbench", JwtKey::random());
    options.rule_cache = std::time::Duration::from_secs(600);
    let Metered { system, proxy, .. } = Metered::start(&emulators, options, "clock").await?;
    let store = system.evaluator.store().clone();
    let now = system.evaluator.now();
    let hour = now.div_euclid(3600);

    let started = Instant::now();
    let mut rules = Vec::new();
    for r in 0..RULES {
        let body: RuleBody = serde_json::from_value(json!({
            "name": format!("low B-{r:02}"), "kind": "low_stock", "threshold": 10, "clear_at": 20,
            "severity": "warning", "selector": { "sku_prefix": format!("B-00{r:02}") },
        }))?;
        let rule = body
            .clone()
            .into_rule(format!("rl_bench{r:03}"), "t".into(), "t".into())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        if let RuleCreated::Existing { .. } = store.create_rule(&rule, &body, "h").await? {
            anyhow::bail!("rule exists");
        }
        rules.push(rule);
    }
    let aged_rule: RuleBody = serde_json::from_value(json!({
        "name": "old stock", "kind": "stock_age", "days": 30, "severity": "info",
        "selector": { "sku_prefix": "B-" },
    }))?;
    let rule = aged_rule
        .clone()
        .into_rule("rl_benchaged".into(), "t".into(), "t".into())
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    store.create_rule(&rule, &aged_rule, "h").await?;
    let fmt = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .expect("time")
            .format(&time::format_description::well_known::Rfc3339)
            .expect("rfc3339")
    };
    let (fresh, old) = (fmt(now - 86_400), fmt(now - 40 * 86_400));
    // Levels: the first EPISODES are watched; the last RESOLVING of those were restocked; the
    // last AGED hold stock 40 days old.
    let levels: Vec<Item> = (0..LEVELS)
        .map(|i| {
            let restocked = (EPISODES - RESOLVING..EPISODES).contains(&i);
            let received = if i >= LEVELS - AGED { &old } else { &fresh };
            level(i, if restocked { 50 } else { 5 }, hour, received)
        })
        .collect();
    system.put_all(levels).await?;
    let mut episodes = Vec::new();
    for i in 0..EPISODES {
        let rule = &rules[i / (EPISODES / RULES)];
        let sku = format!("B-{i:06}");
        let alert_id = format!("al_bench{i:06}");
        let (tracker_pk, tracker_sk) = keys::tracker(&rule.rule_id, &sku, "WH1");
        episodes.push(keys::item(
            tracker_pk,
            tracker_sk,
            [
                ("entity", s("alert_tracker")),
                ("open", AttributeValue::Bool(true)),
                ("alert_id", s(&alert_id)),
                ("state", s("firing")),
                ("last_notified_at", n(now - 60)),
                ("level_version", n(1)),
                ("rule_id", s(&rule.rule_id)),
                ("sku", s(&sku)),
                ("location", s("WH1")),
                ("rule_fingerprint", s(fingerprint(rule))),
                (keys::INDEX_PARTITION, s(keys::EPISODE_LIST)),
                (keys::INDEX_SORT, s(format!("{}#{sku}#WH1", rule.rule_id))),
            ],
        ));
        episodes.push(keys::item(
            keys::alert(&alert_id),
            keys::META,
            [
                ("entity", s("alert")),
                ("alert_id", s(&alert_id)),
                ("rule_id", s(&rule.rule_id)),
                ("rule_name", s(&rule.name)),
                ("kind", s("low_stock")),
                ("severity", s("warning")),
                ("sku", s(&sku)),
                ("location", s("WH1")),
                ("state", s("firing")),
                ("fired_at", s("2026-12-01T00:00:00.000Z")),
                ("reminders", n(0)),
                ("observation", s("{\"available\":5}")),
                ("history", AttributeValue::L(vec![])),
                ("deliveries", AttributeValue::M(HashMap::new())),
            ],
        ));
    }
    system.put_all(episodes).await?;
    let seeded = started.elapsed();
    eprintln!("seeded {LEVELS} levels, {EPISODES} episodes and {RULES} rules in {seeded:.1?}");

    let before = proxy.capacity();
    let tick_started = Instant::now();
    let report = system.alert_clock.tick().await?;
    let took = tick_started.elapsed();
    let capacity = proxy.capacity().since(&before);
    anyhow::ensure!(report.failed == 0, "{report:?}");
    let left = store.indexed_episodes().await?;
    let still_open = left.iter().filter(|e| e.open).count();

    // A full round of the sweep: the cursor set back an hour, so the next tick reads all 60
    // shards (the episode walk in that tick finds the 9,000 still open and holds them).
    system
        .dynamodb
        .put_item()
        .table_name(&system.table)
        .set_item(Some(keys::key(keys::CLOCK_SWEEP, keys::META)))
        .item("entity", s("clock_cursor"))
        .item("through_minute", n(now.div_euclid(60) - 60))
        .send()
        .await?;
    let before_round = proxy.capacity();
    let round_started = Instant::now();
    let round = system.alert_clock.tick().await?;
    let round_took = round_started.elapsed();
    let round_capacity = proxy.capacity().since(&before_round);
    anyhow::ensure!(round.sweep.shards == 60, "{round:?}");
    anyhow::ensure!(round.sweep.levels == LEVELS, "{round:?}");

    println!(
        "Alert clock, one tick on DynamoDB Local ({} cores): {LEVELS} stock levels, {EPISODES} open \
         episodes over {RULES} rules ({RESOLVING} of them on restocked levels)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| measure | result |");
    println!("|---|---:|");
    println!(
        "| tick run time (episode walk + one sweep shard of {} levels) | {:.1} s |",
        report.sweep.levels,
        took.as_secs_f64()
    );
    println!(
        "| episodes per second | {:.0} |",
        EPISODES as f64 / took.as_secs_f64()
    );
    println!(
        "| low-stock episodes resolved (and out of the index) | {} |",
        EPISODES + report.sweep.opened - left.len()
    );
    println!(
        "| low-stock episodes still open (still low) | {} |",
        still_open - report.sweep.opened
    );
    println!("| writes | {} |", per_operation(&capacity.writes));
    println!("| write capacity consumed | {:.0} WCU |", capacity.total());
    println!(
        "| read capacity consumed | {:.0} RCU ({}) |",
        capacity.read_total(),
        per_operation(&capacity.reads)
    );
    println!(
        "| full sweep round (60 shards, {} levels) in one tick, with the episode walk | {:.1} s |",
        round.sweep.levels,
        round_took.as_secs_f64()
    );
    println!(
        "| time-based episodes opened by the sweep (all ticks) | {} |",
        report.sweep.opened + round.sweep.opened
    );
    println!(
        "| full round: read capacity | {:.0} RCU ({}) |",
        round_capacity.read_total(),
        per_operation(&round_capacity.reads)
    );
    println!(
        "| full round: write capacity | {:.0} WCU |",
        round_capacity.total()
    );
    println!(
        "| seeding (not timed above) | {:.1} s |",
        seeded.as_secs_f64()
    );
    Ok(())
}
