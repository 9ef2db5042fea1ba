//! The alert clock: what is owed because time passed, with no stock change: deliveries held by
//! quiet hours, reminders, window rules resolving, rule edits closing episodes, and notices that
//! outlived an SNS outage. Time moves with the app's clock; SNS faults come from the proxy.

use std::time::Duration;

use serde_json::json;
use system_tests::*;

#[tokio::test]
async fn an_out_of_stock_during_quiet_hours_is_sent_once_when_they_end_with_no_stock_change() {
    let app = spawn_stocked(&[("HAT", "WH1", 2)]).await;
    // Half past the hour (far from its edges), quiet for that UTC hour.
    let quiet = json!({ "quiet_hours": quiet_this_hour(&app) });
    app.create_rule("rule-1", out_of_stock(quiet)).await;
    app.sell("s1", "HAT", 2).await;
    app.process_stream().await;
    // In the inbox at once; the SMS waits.
    let alert = &app.alerts("state=firing").await[0];
    assert_eq!(alert["deliveries"]["fire:sms"]["status"], "pending");
    app.tick().await;
    assert!(app.notices().await.is_empty());
    // The quiet hour ends; nothing else happens (sales are refused: no stock change).
    end_the_hour(&app);
    app.tick().await;
    assert_eq!(app.notices().await, vec!["HAT fire"]);
    app.tick().await;
    assert_eq!(app.notices().await, vec!["HAT fire"], "sent once");
    let alert = &app.alerts("state=firing").await[0];
    assert_eq!(alert["deliveries"]["fire:sms"]["status"], "sent");
}

#[tokio::test]
async fn an_unacknowledged_alert_reminds_every_repeat_interval_and_stops_after_acknowledge() {
    let app = spawn_stocked(&[("HAT", "WH1", 1)]).await;
    let every_half_hour = json!({ "repeat_minutes": 30 });
    app.create_rule("rule-1", out_of_stock(every_half_hour))
        .await;
    app.sell("s1", "HAT", 1).await;
    app.process_stream().await;
    assert_eq!(app.notices().await, vec!["HAT fire"]);
    app.advance_clock(29 * 60);
    app.tick().await;
    assert_eq!(app.notices().await.len(), 1, "not before the interval");
    app.advance_clock(60 + 1);
    app.tick().await;
    app.tick().await;
    assert_eq!(app.notices().await, vec!["HAT fire", "HAT remind"]);
    app.advance_clock(30 * 60 + 1);
    app.tick().await;
    assert_eq!(app.notices().await.len(), 3);
    let id = app.first_alert_id("state=firing").await;
    let r = app
        .post(
            &format!("/v1/alerts/{id}/acknowledge"),
            Role::Ops,
            "ack-1",
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    app.advance_clock(3 * 3600);
    app.tick().await;
    assert_eq!(
        app.notices().await.len(),
        3,
        "no reminder after acknowledge"
    );
    assert_eq!(app.alerts("").await[0]["reminders"], 2);
}

#[tokio::test]
async fn a_velocity_alert_resolves_when_its_window_passes_and_fires_again_on_a_later_burst() {
    let app = spawn_stocked(&[("GUM", "WH1", 100)]).await;
    let fast = json!({ "name": "Fast", "kind": "sales_velocity", "window_hours": 1, "min_units": 5,
                       "severity": "warning", "notify_on_resolve": true, "channels": { "sms": true } });
    app.create_rule("rule-1", fast).await;
    app.sell("burst-1", "GUM", 6).await;
    app.process_stream().await;
    assert_eq!(app.notices().await, vec!["GUM fire"]);
    // Two hours pass without a sale: the window holds no burst any more.
    app.advance_clock(2 * 3600);
    app.tick().await;
    assert_eq!(app.notices().await, vec!["GUM fire", "GUM resolve"]);
    assert_eq!(app.alerts("state=resolved").await.len(), 1);
    // A later burst is a new episode.
    app.sell("burst-2", "GUM", 5).await;
    app.process_stream().await;
    assert_eq!(
        app.notices().await,
        vec!["GUM fire", "GUM resolve", "GUM fire"]
    );
    assert_eq!(app.alerts("state=firing").await.len(), 1);
}

#[tokio::test]
async fn a_velocity_alert_near_its_threshold_holds_until_the_rate_is_clearly_below_it() {
    let app = spawn_stocked(&[("GUM", "WH1", 100)]).await;
    // At least 10 sold in an hour fires; it resolves under 5 (the default: half).
    let fast = json!({ "name": "Fast", "kind": "sales_velocity", "window_hours": 1, "min_units": 10,
                       "severity": "warning", "notify_on_resolve": true, "channels": { "sms": true } });
    app.create_rule("rule-1", fast).await;
    let to_next_hour = 3600 - app.now().rem_euclid(3600);
    app.sell("burst", "GUM", 10).await;
    app.process_stream().await;
    assert_eq!(app.notices().await, vec!["GUM fire"]);
    // 20 minutes into the next hour, 40 of the burst hour's 60 minutes are still in the window:
    // about 6.7 sold, under the threshold but not under the clear level. It holds.
    app.advance_clock(to_next_hour + 20 * 60);
    app.tick().await;
    assert_eq!(app.notices().await, vec!["GUM fire"]);
    assert_eq!(app.alerts("state=firing").await.len(), 1);
    // At 45 minutes past, 2.5 are: clearly below. It resolves, once.
    app.advance_clock(25 * 60);
    app.tick().await;
    app.tick().await;
    assert_eq!(app.notices().await, vec!["GUM fire", "GUM resolve"]);
}

#[tokio::test]
async fn disabling_changing_or_deleting_a_rule_closes_its_open_episodes() {
    let app = spawn_app().await;
    for sku in ["A", "B", "C", "D"] {
        app.stocked(sku, "WH1", 1).await;
    }
    let rule = |sku: &str| {
        json!({ "name": format!("Out {sku}"), "kind": "out_of_stock", "severity": "warning",
                "selector": { "sku": sku }, "notify_on_resolve": true, "channels": { "sms": true } })
    };
    let a = app.create_rule("rule-a", rule("A")).await;
    let b = app.create_rule("rule-b", rule("B")).await;
    let c = app.create_rule("rule-c", rule("C")).await;
    let d = app.create_rule("rule-d", rule("D")).await;
    for sku in ["A", "B", "C", "D"] {
        app.sell(&format!("s-{sku}"), sku, 1).await;
    }
    app.process_stream().await;
    assert_eq!(app.alerts("state=firing").await.len(), 4);

    // A is disabled, B changes kind, C is deleted.
    let mut disabled = rule("A");
    disabled["enabled"] = json!(false);
    app.replaced(&format!("/v1/rules/{a}"), disabled).await;
    app.replaced(&format!("/v1/rules/{b}"), as_low_stock(rule("B")))
        .await;
    let r = app.delete(&format!("/v1/rules/{c}"), Role::Ops).await;
    assert!(r.status.is_success(), "{:?}", r.json());
    // D is deleted and created again with the same Idempotency-Key and content: the same id,
    // but another rule, which does not inherit the old one's episode.
    let r = app.delete(&format!("/v1/rules/{d}"), Role::Ops).await;
    assert!(r.status.is_success(), "{:?}", r.json());
    app.advance_clock(1);
    assert_eq!(app.create_rule("rule-d", rule("D")).await, d);

    let report = app.tick().await;
    assert_eq!(report.closed_for_rule_change, 4, "{report:?}");
    let resolved = app.alerts("state=resolved").await;
    assert_eq!(resolved.len(), 4);
    assert!(resolved.iter().all(|a| a["resolved_by"] == "rule-changed"));
    // The rules that still exist and ask for it send the resolved notice; the deleted one cannot.
    let mut sent = app.notices().await;
    sent.sort();
    assert_eq!(
        sent,
        vec![
            "A fire",
            "A resolve",
            "B fire",
            "B resolve",
            "C fire",
            "D fire",
            "D resolve"
        ]
    );
    // Nothing is left for the clock; another tick changes nothing.
    assert_eq!(app.tick().await.episodes, 0);
}

#[tokio::test]
async fn an_sns_outage_delays_a_notice_but_loses_none_and_sends_none_twice() {
    let app = spawn_stocked(&[("HAT", "WH1", 1)]).await;
    app.create_rule("rule-1", out_of_stock(json!({}))).await;
    app.process_stream().await;
    let three_seconds = Schedule::For(Duration::from_secs(3));
    app.fail(Service::Sns, "Publish", Fault::ServerError, three_seconds);
    app.sell("s1", "HAT", 1).await;
    // The stream fails no record for it (nothing reaches a failure queue): the notice stays
    // owed on the episode, for the clock.
    app.process_stream().await;
    assert_eq!(app.dead_letters().await, 0);
    assert!(app.notices().await.is_empty());
    app.tick().await;
    assert!(app.notices().await.is_empty(), "SNS is still down");
    tokio::time::sleep(Duration::from_secs(3)).await;
    app.tick().await;
    assert_eq!(app.notices().await, vec!["HAT fire"]);
    app.tick().await;
    assert_eq!(app.notices().await, vec!["HAT fire"], "sent once");
}

#[tokio::test]
async fn the_local_stacks_clock_moves_through_its_endpoint_and_runs_the_alert_clock() {
    let app = spawn_stocked(&[("HAT", "WH1", 1)]).await;
    let hourly = json!({ "repeat_minutes": 60 });
    app.create_rule("rule-1", out_of_stock(hourly)).await;
    app.sell("s1", "HAT", 1).await;
    app.process_stream().await;
    let before = app.now();
    let ops = app.token(Role::Ops);
    let read_only = app.token(Role::ReadOnly);
    let advance = |token: &str, seconds: i64| {
        let body = json!({ "advance_seconds": seconds });
        let token = token.to_owned();
        let app = &app;
        async move {
            app.api
                .call(
                    Method::POST,
                    "/_local/clock",
                    Some(&token),
                    None,
                    Some(&body),
                )
                .await
                .expect("HTTP call")
        }
    };
    let r = advance(&ops, 3601).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert!(app.now() - before >= 3601);
    // The alert clock ran at the new time: the reminder went out.
    assert_eq!(r.json()["alert_clock"]["episodes"], 1);
    assert_eq!(app.notices().await, vec!["HAT fire", "HAT remind"]);
    // Only ops may move it, and only forward by a sane amount.
    assert_eq!(advance(&read_only, 60).await.status, StatusCode::FORBIDDEN);
    assert_eq!(advance(&ops, -60).await.status, StatusCode::BAD_REQUEST);
}

/// Sets a level's receipt and sale times (and creation) `days` back, as if it had sat untouched.
async fn age_level(app: &TestApp, sku: &str, location: &str, days: i64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let then = time::OffsetDateTime::from_unix_timestamp(app.now() - days * 86_400)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    app.dynamodb
        .update_item()
        .table_name(&app.table)
        .key("pk", AttributeValue::S(format!("SKU#{sku}")))
        .key("sk", AttributeValue::S(format!("LOC#{location}")))
        .update_expression("SET last_sale_at = :t, last_receipt_at = :t, created_at = :t")
        .expression_attribute_values(":t", AttributeValue::S(then))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn dead_stock_fires_from_the_clock_with_no_stock_change_once_and_resolves_on_a_sale() {
    let app = spawn_stocked(&[("OLD", "WH1", 12), ("FRESH", "WH1", 12)]).await;
    let dead = json!({ "name": "Dead stock", "kind": "no_sale", "days": 3, "severity": "info",
                       "channels": { "sms": true } });
    app.create_rule("rule-1", dead).await;
    app.tick().await;
    assert!(app.alerts("").await.is_empty());

    // Two days on, FRESH sells; OLD does not.
    app.advance_clock(2 * 86_400);
    app.sell("s1", "FRESH", 1).await;
    app.process_stream().await;
    app.tick().await;
    // Three days since OLD was stocked, with nothing happening to it. DynamoDB throttles the
    // sweep's reads twice on the way: the SDK's retries absorb it.
    app.advance_clock(86_400 + 60);
    app.fail(
        Service::DynamoDb,
        "BatchGetItem",
        Fault::Throttle,
        Schedule::Times(2),
    );
    let report = app.tick().await;
    assert_eq!(app.dynamodb_proxy.injected().len(), 2);
    // The tick caught up a whole round of shards (every level) after the day without ticks.
    assert_eq!(report.sweep.shards, 60, "{report:?}");
    assert_eq!(
        (report.sweep.levels, report.sweep.opened),
        (2, 1),
        "{report:?}"
    );
    assert_eq!(app.notices().await, vec!["OLD fire"]);
    let alert = &app.alerts("state=firing").await[0];
    assert_eq!(alert["kind"], "no_sale");
    assert_eq!(alert["location"], "WH1");
    assert_eq!(alert["observation"]["idle_days"], 3);

    // Later ticks read one shard a minute (two when the wall clock's minute turned between
    // them) and send nothing more: one notice per episode.
    for _ in 0..3 {
        app.advance_clock(60);
        let report = app.tick().await;
        assert!((1..=2).contains(&report.sweep.shards), "{report:?}");
        assert_eq!(report.sweep.opened, 0, "{report:?}");
    }
    app.advance_clock(86_400);
    app.tick().await;
    assert_eq!(app.notices().await, vec!["OLD fire"]);

    // A sale: the next tick resolves it (the episode walk re-evaluates open episodes).
    app.sell("s2", "OLD", 1).await;
    app.process_stream().await;
    app.advance_clock(60);
    app.tick().await;
    let alert = &app.alerts("").await[0];
    assert_eq!(alert["state"], "resolved", "{alert}");
    // The report writer only writes reports: it opens and sends nothing.
    let now = app.now();
    let manifest = app.reports.run(now / 86_400, now).await.unwrap();
    assert_eq!(manifest.alerts, 0, "the alert fired on an earlier day");
    assert_eq!(app.notices().await, vec!["OLD fire"]);
}

#[tokio::test]
async fn the_sweep_sees_every_level_once_an_hour_and_a_broken_level_blocks_none() {
    let app = spawn_app().await;
    let skus: Vec<String> = (0..20).map(|i| format!("AGED-{i:02}")).collect();
    for sku in &skus {
        app.stocked(sku, "WH1", 5).await;
    }
    // A level item someone broke by hand (no quantities), in the index like the others.
    app.put_broken_level("BROKEN").await;
    let old = json!({ "name": "Old stock", "kind": "stock_age", "days": 30, "severity": "warning",
                      "channels": { "sms": true } });
    app.create_rule("rule-1", old).await;
    app.tick().await;
    for sku in &skus {
        age_level(&app, sku, "WH1", 31).await;
    }
    // An hour of ticks, one a minute: every level read, every episode opened once. (The wall
    // clock moves too, so a tick may read the next minute's shard as well, and the last ones may
    // read a shard a second time: it opens nothing then.)
    let (mut shards, mut levels, mut opened, mut skipped) = (0, 0, 0, 0);
    for _ in 0..60 {
        app.advance_clock(60);
        let report = app.tick().await;
        assert!((1..=2).contains(&report.sweep.shards), "{report:?}");
        shards += report.sweep.shards;
        levels += report.sweep.levels;
        opened += report.sweep.opened;
        skipped += report.sweep.skipped;
    }
    assert!(shards >= 60, "{shards}");
    assert_eq!(opened, 20);
    assert!(levels >= 20 && skipped >= 1, "{levels} {skipped}");
    let mut fired: Vec<String> = app
        .alerts("state=firing")
        .await
        .iter()
        .map(|a| a["sku"].as_str().unwrap().to_owned())
        .collect();
    fired.sort();
    assert_eq!(fired, skus);
    assert_eq!(app.notices().await.len(), 20);
}

/// Moves the app's clock to half past the current UTC hour and returns a quiet-hours setting for
/// that hour alone.
fn quiet_this_hour(app: &TestApp) -> serde_json::Value {
    app.advance_clock((1800 - app.now().rem_euclid(3600)).rem_euclid(3600));
    let hour = app.now().div_euclid(3600).rem_euclid(24);
    json!({ "start_hour": hour, "end_hour": (hour + 1) % 24 })
}

/// `rule` changed into a low-stock rule at 5 (which closes the episodes it has open).
fn as_low_stock(mut rule: serde_json::Value) -> serde_json::Value {
    rule["kind"] = json!("low_stock");
    rule["threshold"] = json!(5);
    rule
}

/// Moves the app's clock just past the end of the current UTC hour.
fn end_the_hour(app: &TestApp) {
    app.advance_clock(3600 - app.now().rem_euclid(3600) + 1);
}

#[tokio::test]
async fn days_of_cover_and_stock_drop_resolve_when_their_window_passes_and_fire_again_later() {
    let app = spawn_app().await;
    // Half past eleven at night (UTC), so the two hours below cross midnight: a one-day window
    // slides through it and does not start empty.
    app.advance_clock((84_600 - app.now().rem_euclid(86_400)).rem_euclid(86_400));
    app.stocked("COV", "WH1", 100).await;
    app.stocked("DROP", "WH1", 10).await;
    // Each rule watches its own SKU, and says when it resolves.
    let watching = |sku: &str, rule: serde_json::Value| {
        merged(
            json!({ "severity": "warning", "notify_on_resolve": true, "selector": { "sku": sku },
                    "channels": { "sms": true } }),
            rule,
        )
    };
    let cover =
        json!({ "name": "Cover", "kind": "days_of_cover", "lookback_days": 1, "max_days": 10 });
    let drop =
        json!({ "name": "Drop", "kind": "stock_drop", "window_hours": 1, "drop_percent": 50 });
    app.create_rule("rule-cover", watching("COV", cover)).await;
    app.create_rule("rule-drop", watching("DROP", drop)).await;
    // 40 sold in a day leaves 60: 1.5 days of cover. 6 of 10 gone within the hour: a 60 % drop.
    app.sell("cov-1", "COV", 40).await;
    app.sell("drop-1", "DROP", 6).await;
    app.process_stream().await;
    let mut sent = app.notices().await;
    sent.sort();
    assert_eq!(sent, vec!["COV fire", "DROP fire"]);

    // Two hours without a sale: the drop's window is empty. Cover still holds (a day's look).
    app.advance_clock(2 * 3600);
    app.tick().await;
    assert_eq!(app.notices().await[2..], ["DROP resolve"]);
    // Two days without a sale: no rate of sale, so no days-of-cover alarm either.
    app.advance_clock(2 * 86_400);
    app.tick().await;
    assert_eq!(app.notices().await[2..], ["DROP resolve", "COV resolve"]);
    assert_eq!(app.alerts("state=firing").await.len(), 0);
    assert_eq!(app.tick().await.episodes, 0, "nothing left for the clock");

    // Later bursts are new episodes.
    app.sell("cov-2", "COV", 50).await; // 10 left at 50 a day
    app.sell("drop-2", "DROP", 3).await; // 3 of 4
    app.process_stream().await;
    let mut later = app.notices().await[4..].to_vec();
    later.sort();
    assert_eq!(later, vec!["COV fire", "DROP fire"]);
    assert_eq!(app.alerts("state=firing").await.len(), 2);
    assert_eq!(app.alerts("state=resolved").await.len(), 2);
}

#[tokio::test]
async fn a_resolved_notice_held_by_quiet_hours_goes_out_for_its_own_alert_before_the_next_fired() {
    let app = spawn_stocked(&[("HAT", "WH1", 1)]).await;
    let quiet = quiet_this_hour(&app);
    let quiet = json!({ "notify_on_resolve": true, "quiet_hours": quiet });
    app.create_rule("rule-1", out_of_stock(quiet)).await;
    // Out, back in, out again: all inside the quiet hour, so every notice waits.
    app.sell("s1", "HAT", 1).await;
    app.process_stream().await;
    app.receive("HAT", "WH1", 2).await;
    app.process_stream().await;
    app.sell("s2", "HAT", 2).await;
    app.process_stream().await;
    assert!(app.notices().await.is_empty());
    let first = app.first_alert_id("state=resolved").await;
    let second = app.first_alert_id("state=firing").await;

    end_the_hour(&app);
    app.tick().await;
    // In the order things happened, each for its own alert.
    assert_eq!(
        app.notices().await,
        vec!["HAT fire", "HAT resolve", "HAT fire"]
    );
    let first = app.read(&format!("/v1/alerts/{first}")).await;
    assert_eq!(first["deliveries"]["fire:sms"]["status"], "sent", "{first}");
    assert_eq!(
        first["deliveries"]["resolve:sms"]["status"], "sent",
        "{first}"
    );
    let second = app.read(&format!("/v1/alerts/{second}")).await;
    assert_eq!(second["deliveries"]["fire:sms"]["status"], "sent");
    assert!(
        second["deliveries"].get("resolve:sms").is_none(),
        "{second}"
    );
    app.tick().await;
    assert_eq!(app.notices().await.len(), 3, "sent once");
}

#[tokio::test]
async fn a_channel_whose_fired_notice_is_retrying_holds_back_its_resolved_notice() {
    let app = spawn_stocked(&[("GUM", "WH1", 100)]).await;
    let quiet = quiet_this_hour(&app);
    let fast = json!({ "name": "Fast", "kind": "sales_velocity", "window_hours": 1, "min_units": 5,
                       "severity": "warning", "notify_on_resolve": true, "channels": { "sms": true },
                       "quiet_hours": quiet });
    app.create_rule("rule-1", fast).await;
    app.sell("burst", "GUM", 6).await;
    app.process_stream().await;
    assert!(
        app.notices().await.is_empty(),
        "quiet: the fired notice waits"
    );
    // The quiet hour ends and the window has passed: the clock resolves, and both notices are
    // owed. SNS fails every attempt of the first publish (the fired one) and then recovers.
    end_the_hour(&app);
    app.advance_clock(3600);
    app.fail_next_publish();
    let first = app.alert_clock.tick().await.expect("tick");
    assert_eq!(
        first.failed, 0,
        "a notice SNS cannot take stays owed: {first:?}"
    );
    assert!(
        app.notices().await.is_empty(),
        "the resolved notice must not overtake the fired one"
    );
    let alert = &app.alerts("state=resolved").await[0];
    assert_eq!(alert["deliveries"]["fire:sms"]["status"], "retrying");
    assert_eq!(alert["deliveries"]["resolve:sms"]["status"], "pending");
    app.tick().await;
    assert_eq!(app.notices().await, vec!["GUM fire", "GUM resolve"]);
    app.tick().await;
    assert_eq!(app.notices().await.len(), 2, "sent once");
    assert_eq!(app.tick().await.episodes, 0);
}

#[tokio::test]
async fn notices_owed_when_a_rule_changes_or_goes_are_sent_in_their_time_or_dropped_with_a_reason()
{
    let app = spawn_stocked(&[("A", "WH1", 1), ("B", "WH1", 1)]).await;
    let quiet = quiet_this_hour(&app);
    let rule = |sku: &str| {
        json!({ "name": format!("Out {sku}"), "kind": "out_of_stock", "severity": "warning",
                "selector": { "sku": sku }, "notify_on_resolve": true,
                "channels": { "sms": true }, "quiet_hours": quiet })
    };
    let a = app.create_rule("rule-a", rule("A")).await;
    let b = app.create_rule("rule-b", rule("B")).await;
    app.sell("s-a", "A", 1).await;
    app.sell("s-b", "B", 1).await;
    app.process_stream().await;
    assert!(app.notices().await.is_empty(), "quiet");
    // A changes kind (its episode closes; the closing notice waits for the quiet hour to end);
    // B is deleted with its fired notice still owed.
    app.replaced(&format!("/v1/rules/{a}"), as_low_stock(rule("A")))
        .await;
    let r = app.delete(&format!("/v1/rules/{b}"), Role::Ops).await;
    assert!(r.status.is_success(), "{:?}", r.json());
    let report = app.tick().await;
    assert_eq!(report.closed_for_rule_change, 2, "{report:?}");
    assert!(app.notices().await.is_empty(), "still quiet");
    // B's notice has nothing left to go out with: recorded as failed, with the reason.
    let gone = app
        .alerts("state=resolved")
        .await
        .into_iter()
        .find(|a| a["sku"] == "B")
        .unwrap();
    assert_eq!(gone["deliveries"]["fire:sms"]["status"], "failed", "{gone}");
    assert!(gone["deliveries"]["fire:sms"]["reason"]
        .as_str()
        .unwrap()
        .contains("deleted"));

    end_the_hour(&app);
    app.tick().await;
    assert_eq!(app.notices().await, vec!["A fire", "A resolve"]);
    app.tick().await;
    assert_eq!(app.notices().await.len(), 2, "sent once");
    assert_eq!(app.tick().await.episodes, 0, "every tracker settled");
}

#[tokio::test]
async fn a_thousand_reminders_from_the_clock_leave_the_alert_item_the_same_size() {
    let app = spawn_stocked(&[("PEN", "WH1", 1)]).await;
    let every_five_minutes = json!({ "severity": "info", "repeat_minutes": 5 });
    app.create_rule("rule-1", out_of_stock(every_five_minutes))
        .await;
    app.sell("s1", "PEN", 1).await;
    app.process_stream().await;
    let id = app.first_alert_id("").await;
    let mut sizes = Vec::new();
    for i in 1..=1000 {
        app.advance_clock(5 * 60 + 1);
        app.tick().await;
        if i == 10 || i == 1000 {
            sizes.push(item_bytes(&app.alert_item(&id).await));
        }
    }
    let alert = &app.alerts("").await[0];
    assert_eq!(alert["reminders"], 1000);
    assert_eq!(alert["history"].as_array().unwrap().len(), 1, "{alert}");
    assert_eq!(app.published().await.len(), 1001);
    // Ten reminders or a thousand: the same item, give or take the counter's digits.
    assert!(sizes[1] <= sizes[0] + 2, "{sizes:?}");
    assert!(sizes[1] < 16 * 1024, "{sizes:?}");
}
