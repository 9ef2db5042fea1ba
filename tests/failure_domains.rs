//! Failure domains: what must never be lost of a stock change (its ledger entry, listing band and
//! replenishment-list place) is written by the stream projector, which touches DynamoDB alone, so
//! an SNS or SES outage (5xx, throttling, unreachable, hanging past the SDK's timeouts) loses and
//! delays none of it; alerting falls behind, keeps every notice owed on its episode, and sends
//! each once, in order per level, when the providers return. Each owed notice is claimed before
//! it is sent, so racing senders send it once, and a sender killed between sending and recording
//! delays a second send until its claim's lease runs out.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use futures_util::future::join_all;
use serde_json::{json, Value};
use shared::{alerts::driver::LEASE_SECONDS, schema::keys};
use system_tests::*;

const LEVELS: usize = 50;

fn sku(i: usize) -> String {
    format!("P{i:02}")
}

/// WH1 and the test's `LEVELS` SKUs, each with `quantity` received there; their names.
async fn levels(app: &TestApp, quantity: i64) -> Vec<String> {
    app.create_location("WH1").await;
    let skus: Vec<String> = (0..LEVELS).map(sku).collect();
    for s in &skus {
        app.create_sku(s).await;
        app.receive(s, "WH1", quantity).await;
    }
    skus
}

fn recipient(app: &TestApp) -> String {
    format!("ops-{}@shop.example", app.table)
}

/// SNS `Publish` and SES `SendEmail` both answer `fault` from now on (what was injected before is
/// healed first).
fn providers_fail(app: &TestApp, fault: Fault) {
    app.moto_proxy.heal();
    for (service, operation) in [(Service::Sns, "Publish"), (Service::Ses, "SendEmail")] {
        app.fail(service, operation, fault.clone(), Schedule::Always);
    }
}

/// A level item's quantities and reorder point, read from the table as they are now.
async fn level_item(app: &TestApp, sku: &str) -> (i64, i64, i64, Option<i64>) {
    let item = app
        .dynamodb
        .get_item()
        .table_name(&app.table)
        .set_key(Some(keys::key(keys::sku(sku), keys::location("WH1"))))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .map(|v| v.parse::<i64>().unwrap())
    };
    (
        n("on_hand").unwrap(),
        n("available").unwrap(),
        n("in_transit").unwrap_or(0),
        n("reorder_point"),
    )
}

/// The SKUs the stock listing finds at WH1 with at most `max` available.
async fn listed_at_most(app: &TestApp, max: i64) -> BTreeSet<String> {
    app.skus_listed(&format!(
        "/v1/levels?location=WH1&available_max={max}&limit=100"
    ))
    .await
}

/// The SKUs on the replenishment list.
async fn to_reorder(app: &TestApp) -> BTreeSet<String> {
    app.skus_listed("/v1/replenishment?limit=100").await
}

#[tokio::test]
async fn an_sns_and_ses_outage_loses_no_projection_and_each_owed_notice_goes_out_once_in_order() {
    // Short SNS and SES timeouts, so a hanging provider costs seconds, not minutes; not so short
    // that a slow answer from a loaded emulator counts as a failure (a notice the provider took
    // but answered after the timeout is sent again: at least once, see docs/limits.md).
    let app = spawn_app_with(|o| o.notify_timeout = Duration::from_secs(2)).await;
    let skus = levels(&app, 36).await;
    let to = recipient(&app);
    let channels = json!({ "sms": true, "email": [to] });
    let resolving = json!({ "notify_on_resolve": true, "channels": channels });
    app.create_rule("rule-low", low_stock(10, 15, resolving))
        .await;
    // Two days of 3 a day, then the nightly plan: a reorder point on every level.
    for day in 0..2 {
        join_all(skus.iter().map(|s| {
            let app = &app;
            async move { app.sell(&format!("{s}-h{day}"), s, 3).await }
        }))
        .await;
        app.advance_clock(86_400);
    }
    app.process_stream().await;
    app.plan_replenishment().await;
    app.process_stream().await;
    assert!(app.published().await.is_empty());

    // Ten minutes of controllable time with SNS and SES failing every way they fail, while
    // 1,000 sales (20 a level, 30 → 10: the alert fires on each) and then 50 receipts (10 → 20:
    // it resolves) flow. The projector runs; alerting runs too, and owes every notice.
    let faults = [
        Fault::ServerError,
        Fault::ServerError,
        Fault::Throttle,
        Fault::Throttle,
        Fault::Unreachable,
        Fault::Unreachable,
        Fault::Hang(Duration::from_secs(30)),
        Fault::Hang(Duration::from_secs(30)),
        Fault::ServerError,
        Fault::Throttle,
    ];
    for (minute, fault) in faults.into_iter().enumerate() {
        providers_fail(&app, fault);
        join_all(skus.iter().map(|s| {
            let app = &app;
            async move {
                for n in 0..2 {
                    app.sell(&format!("{s}-m{minute}-{n}"), s, 1).await;
                }
            }
        }))
        .await;
        if minute == 9 {
            // Every level is at 10 now: the listing finds each at or below 10, none above.
            app.project().await;
            assert_eq!(listed_at_most(&app, 10).await.len(), LEVELS);
            assert!(listed_at_most(&app, 9).await.is_empty());
            for s in &skus {
                app.receive(s, "WH1", 10).await;
            }
        }
        app.process_stream().await;
        app.tick().await;
        app.advance_clock(60);
    }

    // While SNS and SES are still down: every projection is exact.
    assert!(app.published().await.is_empty());
    assert!(app.emails_to(&to).await.is_empty());
    for s in &skus {
        let (on_hand, available, _, _) = level_item(&app, s).await;
        assert_eq!((on_hand, available), (20, 20), "{s}");
        let ledger = app.ledger(s).await;
        // 2 + 20 sales and 2 receipts, each with the level's exact before and after: newest
        // first, each entry's before is the next older one's after.
        assert_eq!(ledger.len(), 24, "{s}: {ledger:?}");
        assert_eq!(ledger.iter().filter(|e| e["kind"] == "sale").count(), 22);
        assert_eq!(ledger[0]["after"]["on_hand"], 20, "{s}");
        for pair in ledger.windows(2) {
            assert_eq!(pair[0]["before"], pair[1]["after"], "{s}: {pair:?}");
        }
    }
    assert_eq!(listed_at_most(&app, 20).await.len(), LEVELS);
    assert!(listed_at_most(&app, 15).await.is_empty());
    let mut due = BTreeSet::new();
    for s in &skus {
        let (_, available, in_transit, reorder_point) = level_item(&app, s).await;
        let reorder_point = reorder_point.expect("the plan set a reorder point");
        if available + in_transit <= reorder_point {
            due.insert(s.clone());
        }
    }
    assert!(!due.is_empty(), "the plan puts levels on the list");
    assert_eq!(to_reorder(&app).await, due);
    // The day's report states the stock as it is.
    let now = app.now();
    let manifest = app.reports.run(now.div_euclid(86_400), now).await.unwrap();
    let mut reported = BTreeMap::new();
    for o in &manifest.objects {
        if o.key.starts_with("reports/snapshot-jsonl/") {
            let text = String::from_utf8(app.object(&o.key).await).unwrap();
            for line in text.lines() {
                let row: Value = serde_json::from_str(line).unwrap();
                reported.insert(
                    row["sku"].as_str().unwrap().to_owned(),
                    row["on_hand"].as_i64().unwrap(),
                );
            }
        }
    }
    assert_eq!(reported.len(), LEVELS);
    assert!(
        reported.values().all(|&on_hand| on_hand == 20),
        "{reported:?}"
    );
    assert_eq!(app.dead_letters().await, 0);

    // SNS and SES return: each owed notice goes out once, in order per level.
    app.moto_proxy.heal();
    app.tick().await;
    app.tick().await;
    app.process_stream().await;
    let sms = sms_by_sku(&app.published().await);
    let emails = emails_by_sku(&app.emails_to(&to).await);
    for s in &skus {
        assert_eq!(sms.get(s).unwrap(), &["fire", "resolve"], "{s}");
        assert_eq!(emails.get(s).unwrap(), &["fire", "resolve"], "{s}");
    }
    assert_eq!(sms.len(), LEVELS);
    assert_eq!(emails.len(), LEVELS);
}

#[tokio::test]
async fn two_clock_ticks_and_a_stream_batch_racing_over_100_owed_notices_send_each_once() {
    let app = spawn_app().await;
    let skus = levels(&app, 1).await;
    let to = recipient(&app);
    let channels = json!({ "channels": { "sms": true, "email": [to] } });
    app.create_rule("rule-out", out_of_stock(channels)).await;
    app.process_stream().await;
    // Every level sells out while SNS and SES are down: 50 SMS and 50 emails owed.
    providers_fail(&app, Fault::ServerError);
    for s in &skus {
        app.sell(&format!("{s}-out"), s, 1).await;
    }
    app.process_stream().await;
    assert_eq!(app.alerts("state=firing&limit=100").await.len(), LEVELS);
    assert!(app.published().await.is_empty());
    app.moto_proxy.heal();
    // The stream's records again (as a retried batch would bring them) and two overlapping ticks.
    let records = app.stream_records().await;
    let batch = json!({ "Records": records });
    let (first, second, stream) = tokio::join!(
        app.alert_clock.tick(),
        app.alert_clock.tick(),
        app.evaluator.handle_json(batch),
    );
    first.unwrap();
    second.unwrap();
    assert!(stream.batch_item_failures.is_empty());
    app.tick().await;
    let sms = sms_by_sku(&app.published().await);
    let emails = emails_by_sku(&app.emails_to(&to).await);
    for s in &skus {
        assert_eq!(sms.get(s).map(Vec::len), Some(1), "{s}: {sms:?}");
        assert_eq!(emails.get(s).map(Vec::len), Some(1), "{s}: {emails:?}");
    }
    for alert in app.alerts("state=firing&limit=100").await {
        assert_eq!(alert["deliveries"]["fire:sms"]["status"], "sent");
        assert_eq!(alert["deliveries"]["fire:email"]["status"], "sent");
    }
}

#[tokio::test]
async fn a_tick_killed_between_sending_and_recording_sends_again_only_after_the_lease_once() {
    let app = spawn_stocked(&[("HAT", "WH1", 1)]).await;
    app.create_rule("rule-out", out_of_stock(json!({}))).await;
    app.process_stream().await;
    providers_fail(&app, Fault::ServerError);
    app.sell("s1", "HAT", 1).await;
    app.process_stream().await;
    assert!(app.notices().await.is_empty());
    app.moto_proxy.heal();
    // The tick claims the notice and sends it; recording it hangs, and the tick is killed there.
    let hang = Fault::Hang(Duration::from_secs(60));
    let record = FaultRule::new(
        Service::DynamoDb,
        "TransactWriteItems",
        hang,
        Schedule::Always,
    );
    app.inject(record.containing("#dl.#k"));
    let clock = app.alert_clock.clone();
    let tick = tokio::spawn(async move { clock.tick().await });
    for _ in 0..200 {
        if !app.notices().await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.notices().await, vec!["HAT fire"]);
    tick.abort();
    assert!(tick.await.unwrap_err().is_cancelled());
    app.dynamodb_proxy.heal();
    let alert = &app.alerts("state=firing").await[0];
    assert_ne!(alert["deliveries"]["fire:sms"]["status"], "sent");

    // Within the lease nobody sends it again, however often the clock runs.
    app.tick().await;
    app.advance_clock(LEASE_SECONDS - 5);
    app.tick().await;
    assert_eq!(app.notices().await, vec!["HAT fire"]);
    // Once the lease has run out, the clock sends it again, once, and records it.
    app.advance_clock(10);
    app.tick().await;
    app.tick().await;
    assert_eq!(app.notices().await, vec!["HAT fire", "HAT fire"]);
    let alert = &app.alerts("state=firing").await[0];
    assert_eq!(alert["deliveries"]["fire:sms"]["status"], "sent");
}
