//! Alerts end to end: rules through the API, stock changes through the API, the evaluator fed by
//! the table's stream, notifications observed in the emulator's SNS and SES, the inbox through
//! the API.

use serde_json::json;
use system_tests::*;

fn recipient(app: &TestApp) -> String {
    format!("ops-{}@shop.example", app.table)
}

#[tokio::test]
async fn crossing_a_threshold_notifies_once_and_restocking_resolves_it() {
    let app = spawn_stocked(&[("CAP", "WH1", 20)]).await;
    let to = recipient(&app);
    app.create_rule(
        "rule-1",
        json!({
            "name": "Caps running low", "kind": "low_stock", "threshold": 5, "clear_at": 10,
            "severity": "critical", "selector": { "sku_prefix": "CAP" },
            "channels": { "sms": true, "email": [to] }, "notify_on_resolve": true
        }),
    )
    .await;

    app.sell("s1", "CAP", 10).await; // 10 left: above the threshold
    app.process_stream().await;
    assert!(app.published().await.is_empty());

    app.sell("s2", "CAP", 6).await; // 4 left: fires
    app.process_stream().await;
    let published = app.published().await;
    assert_eq!(published.len(), 1);
    let p = &published[0];
    for (k, v) in [
        ("severity", "critical"),
        ("sku", "CAP"),
        ("location", "WH1"),
        ("kind", "low_stock"),
        ("event", "fire"),
    ] {
        assert_eq!(p.attributes[k], v, "{k}");
    }
    let sms = p.message["sms"].as_str().unwrap();
    assert!(
        sms.chars().count() <= 160 && sms.contains("CAP") && sms.contains("4 available"),
        "{sms}"
    );
    let full = p.message["default"].as_str().unwrap();
    assert!(
        full.contains("Product CAP")
            && full.contains("threshold of 5")
            && full.contains("What to do"),
        "{full}"
    );

    let emails = app.emails_to(&to).await;
    assert_eq!(emails.len(), 1);
    assert!(emails[0]["subject"].as_str().unwrap().contains("CAP"));
    let body = emails[0]["body"].as_str().unwrap();
    assert!(
        body.contains("WH1") && body.contains("Available now: 4") && body.contains("reorder"),
        "{body}"
    );

    let inbox = app.alerts("state=firing").await;
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0]["sku"], "CAP");
    assert_eq!(inbox[0]["severity"], "critical");
    let alert_id = inbox[0]["alert_id"].as_str().unwrap().to_owned();

    // More sales below the threshold: nothing new, never one notice per sale.
    app.sell("s3", "CAP", 1).await;
    app.sell("s4", "CAP", 1).await;
    app.process_stream().await;
    assert_eq!(app.published().await.len(), 1);
    assert_eq!(app.emails_to(&to).await.len(), 1);
    assert_eq!(app.alerts("").await.len(), 1);

    // Restocked to 7: between threshold and clear level, the alert holds.
    app.receive("CAP", "WH1", 5).await;
    app.process_stream().await;
    assert_eq!(app.alerts("state=firing").await.len(), 1);

    // Restocked above the clear level: resolved, with a resolution notice.
    app.receive("CAP", "WH1", 10).await;
    app.process_stream().await;
    let published = app.published().await;
    assert_eq!(published.len(), 2);
    assert_eq!(published[1].attributes["event"], "resolve");
    assert!(published[1].message["sms"]
        .as_str()
        .unwrap()
        .contains("RESOLVED"));
    assert_eq!(app.emails_to(&to).await.len(), 2);
    let alert = app.read(&format!("/v1/alerts/{alert_id}")).await;
    assert_eq!(alert["state"], "resolved");
    assert_eq!(each(&alert["history"], "event"), ["fired", "resolved"]);
}

#[tokio::test]
async fn ledger_entries_get_the_levels_exact_before_and_after() {
    let app = spawn_stocked(&[("MUG", "WH1", 9)]).await;
    app.sell("s1", "MUG", 4).await;
    app.process_stream().await;
    let ledger = app.ledger("MUG").await;
    assert_eq!(ledger[0]["kind"], "sale");
    assert_eq!(ledger[0]["before"]["available"], 9);
    assert_eq!(ledger[0]["after"]["available"], 5);
    assert_eq!(ledger[1]["kind"], "receipt");
    assert_eq!(ledger[1]["before"]["on_hand"], 0);
    assert_eq!(ledger[1]["after"]["on_hand"], 9);
}

#[tokio::test]
async fn a_batch_delivered_twice_notifies_once_and_a_bad_record_fails_alone() {
    let app = spawn_stocked(&[("PEN", "WH1", 3)]).await;
    app.create_rule("rule-1", out_of_stock(json!({}))).await;
    app.sell("s1", "PEN", 3).await;
    let records = app.stream_records().await;
    let malformed = json!({ "eventID": "bad-1", "eventName": "MODIFY", "dynamodb": {
        "SequenceNumber": "999", "NewImage": { "entity": { "S": "stock_level" }, "sku": { "N": "not a sku" } } } });
    let mut batch = vec![malformed];
    batch.extend(records.iter().cloned());

    assert_eq!(app.evaluate_batch(&batch).await, vec!["999"]);
    assert_eq!(
        app.published().await.len(),
        1,
        "the rest of the batch was processed"
    );

    let again = app.evaluate_batch(&records).await;
    assert!(again.is_empty(), "failed records: {again:?}");
    assert_eq!(
        app.published().await.len(),
        1,
        "redelivery sends nothing twice"
    );
    assert_eq!(app.alerts("").await.len(), 1);
}

#[tokio::test]
async fn a_failed_send_stays_owed_without_failing_the_record_and_goes_out_once() {
    let app = spawn_stocked(&[("HAT", "WH1", 2)]).await;
    let warning = json!({ "severity": "warning" });
    app.create_rule("rule-1", out_of_stock(warning)).await;
    // SNS answers 5xx to every attempt (past the SDK's own retries): the notice stays owed on its
    // episode; the record does not fail (alerting never holds the stream back for SNS).
    app.fail_next_publish();
    app.sell("s1", "HAT", 2).await;
    let records = app.stream_records().await;
    let response = app.evaluate_batch(&records).await;
    assert!(response.is_empty(), "failed records: {response:?}");
    let firing = app.alerts("state=firing").await;
    assert_eq!(firing.len(), 1, "the episode is open, its notice owed");
    assert_eq!(firing[0]["deliveries"]["fire:sms"]["status"], "retrying");
    assert!(app.published().await.is_empty());

    // SNS is healthy again: the alert clock sends it once; later ticks and a redelivered
    // record send nothing more.
    app.tick().await;
    assert_eq!(app.published().await.len(), 1);
    app.tick().await;
    app.evaluate_batch(&records).await;
    assert_eq!(app.published().await.len(), 1);
    let firing = app.alerts("state=firing").await;
    assert_eq!(firing[0]["deliveries"]["fire:sms"]["status"], "sent");
}

#[tokio::test]
async fn an_address_ses_rejects_is_recorded_as_failed_for_good_and_blocks_nothing() {
    let app = spawn_stocked(&[("HAT", "WH1", 4)]).await;
    let bad = format!("bounce-{}@shop.example", app.table);
    let channels = json!({ "sms": true, "email": [bad] });
    let resolving = json!({ "notify_on_resolve": true, "channels": channels });
    app.create_rule("rule-1", low_stock(2, 3, resolving)).await;
    app.process_stream().await;
    // SES refuses the address for good (as it does a sandbox or suppressed recipient).
    let reject = Fault::Reject {
        code: "MessageRejected".into(),
        message: "Email address is not verified.".into(),
    };
    let send = FaultRule::new(Service::Ses, "SendEmail", reject, Schedule::Always);
    app.inject(send.containing(&bad));
    app.sell("s1", "HAT", 2).await; // 2 left: fires
    let records = app.stream_records().await;
    let response = app.evaluate_batch(&records).await;
    assert!(response.is_empty(), "failed records: {response:?}");
    // The SMS went out; the email is recorded as refused, with SES's reason; nothing is owed.
    assert_eq!(app.published().await.len(), 1);
    let alert = &app.alerts("state=firing").await[0];
    assert_eq!(alert["deliveries"]["fire:sms"]["status"], "sent");
    let email = &alert["deliveries"]["fire:email"];
    assert_eq!(email["status"], "failed");
    assert!(
        email["reason"].as_str().unwrap().contains("not verified"),
        "{email}"
    );
    // Redelivered, the record sends nothing again and the refusal is not retried.
    let again = app.evaluate_batch(&records).await;
    assert!(again.is_empty(), "failed records: {again:?}");
    assert_eq!(app.published().await.len(), 1);
    let ses_attempts = app.faults_answered("SendEmail");
    assert_eq!(ses_attempts, 1, "a refusal is never retried");
    // Later records of the SKU go through: restocking resolves, the SMS notice goes out.
    app.receive("HAT", "WH1", 5).await;
    app.process_stream().await;
    assert_eq!(app.dead_letters().await, 0);
    assert_eq!(app.published().await.len(), 2);
    assert_eq!(app.alerts("state=resolved").await.len(), 1);
    // The daily report still completes, with the refusal in force, and shows the episode.
    let now = app.now();
    let manifest = app
        .reports
        .run(now.div_euclid(86_400), now)
        .await
        .expect("the daily report completes");
    assert_eq!(manifest.alerts, 1, "{manifest:?}");
}

#[tokio::test]
async fn notices_sns_cannot_take_wait_for_the_clock_and_keep_their_order_per_level() {
    let app = spawn_stocked(&[("HAT", "WH1", 2), ("CAP", "WH1", 5)]).await;
    let warning = json!({ "severity": "warning", "notify_on_resolve": true });
    app.create_rule("rule-1", out_of_stock(warning)).await;
    app.process_stream().await;
    // SNS fails every attempt of the first publish (5xx, past the SDK's own retries).
    app.fail_next_publish();
    app.sell("s1", "HAT", 2).await; // out of stock: FIRED owed
    app.receive("HAT", "WH1", 3).await; // back in stock: RESOLVED owed
    app.sell("s2", "CAP", 5).await; // another level, out of stock too
    let records = app.stream_records().await;
    let response = app.evaluate_batch(&records).await;
    // No record fails; after the first failed publish the batch sends nothing more on SMS (one
    // failed call per outage, not one per notice); every notice stays owed.
    assert!(response.is_empty(), "failed records: {response:?}");
    assert!(app.published().await.is_empty());
    let publishes = app.faults_answered("Publish");
    assert_eq!(publishes, 5, "one notice's attempts, no more");
    // The clock (SNS healthy again) sends each level's notices in order, each once.
    app.tick().await;
    app.tick().await;
    let published = app.published().await;
    let sms = sms_by_sku(&published);
    assert_eq!(sms["HAT"], ["fire", "resolve"]);
    assert_eq!(sms["CAP"], ["fire"]);
    assert_eq!(published.len(), 3);
}

#[tokio::test]
async fn velocity_fires_on_a_burst_and_stays_quiet_on_a_trickle() {
    let app = spawn_stocked(&[("HOT", "WH1", 100), ("SLOW", "WH1", 100)]).await;
    app.create_rule("rule-1",
        json!({ "name": "Selling fast", "kind": "sales_velocity", "window_hours": 1, "min_units": 10,
                "severity": "info", "channels": { "sms": true } }),
    )
    .await;
    for i in 0..4 {
        app.sell(&format!("hot-{i}"), "HOT", 3).await;
    }
    app.sell("slow-1", "SLOW", 2).await;
    app.process_stream().await;
    let firing = app.alerts("state=firing").await;
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0]["sku"], "HOT");
    assert_eq!(firing[0]["kind"], "sales_velocity");
    assert_eq!(firing[0]["observation"]["sold"], 12.0);
    assert_eq!(app.published().await.len(), 1);
}

/// A sales history made through the API: `per_day` units sold on each of the last `days` days
/// (the clock of the API and the evaluator goes back, then forward a day at a time).
async fn sales_history(app: &TestApp, sku: &str, days: i64, per_day: i64) {
    app.advance_clock(-days * 86_400);
    for d in 0..days {
        app.sell(&format!("history-{sku}-{d}"), sku, per_day).await;
        app.advance_clock(86_400);
    }
}

#[tokio::test]
async fn days_of_cover_predicts_a_stock_out_and_ignores_slow_movers() {
    let app = spawn_stocked(&[("FAST", "WH1", 110), ("SLOW", "WH1", 47)]).await;
    sales_history(&app, "FAST", 7, 10).await; // ~10 a day: 4 days of cover
    sales_history(&app, "SLOW", 7, 1).await; // ~1 a day: 40 days of cover
    app.process_stream().await;
    app.create_rule(
        "rule-1",
        json!({ "name": "Cover", "kind": "days_of_cover", "lookback_days": 7, "max_days": 5,
                "severity": "warning", "channels": { "email": [recipient(&app)] } }),
    )
    .await;
    app.sell("f1", "FAST", 1).await;
    app.sell("s1", "SLOW", 1).await;
    app.process_stream().await;
    let firing = app.alerts("state=firing").await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0]["sku"], "FAST");
    let cover = firing[0]["observation"]["days_of_cover"].as_f64().unwrap();
    assert!((3.0..5.0).contains(&cover), "{cover}");
    let emails = app.emails_to(&recipient(&app)).await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0]["body"]
            .as_str()
            .unwrap()
            .contains("days of cover")
            || emails[0]["subject"]
                .as_str()
                .unwrap()
                .contains("days of cover")
    );
}

#[tokio::test]
async fn a_silence_suppresses_alerts_until_it_expires() {
    let app = spawn_stocked(&[("VASE", "WH1", 10)]).await;
    app.create_rule("rule-1",
        json!({ "name": "Low", "kind": "low_stock", "threshold": 5, "severity": "warning", "channels": { "sms": true } }),
    )
    .await;
    let silence = json!({ "sku": "VASE", "minutes": 30, "reason": "stocktake" });
    app.created("/v1/silences", Role::Ops, "si-1", silence)
        .await;
    let listed = app.read("/v1/silences").await;
    assert_eq!(listed["items"][0]["silence_id"], "sku:VASE");

    app.sell("s1", "VASE", 6).await;
    app.process_stream().await;
    assert!(app.alerts("").await.is_empty());
    assert!(app.published().await.is_empty());

    // Half an hour later the silence has ended; the next change fires.
    app.advance_clock(31 * 60);
    app.sell("s2", "VASE", 1).await;
    app.process_stream().await;
    assert_eq!(app.alerts("state=firing").await.len(), 1);
    assert_eq!(app.published().await.len(), 1);
}

#[tokio::test]
async fn a_silence_ends_early_by_its_id_encoded_or_not() {
    let app = spawn_app().await;
    app.create_sku("VASE").await;
    for (key, encoded) in [("si-1", "sku%3AVASE"), ("si-2", "sku:VASE")] {
        let silence = json!({ "sku": "VASE", "minutes": 30, "reason": "stocktake" });
        app.created("/v1/silences", Role::Ops, key, silence).await;
        let ended = app
            .delete(&format!("/v1/silences/{encoded}"), Role::Ops)
            .await;
        assert_eq!(ended.status, StatusCode::NO_CONTENT, "{encoded}");
        let listed = app.read("/v1/silences").await;
        assert_eq!(listed["items"], json!([]), "{encoded}");
    }
}

#[tokio::test]
async fn acknowledged_alerts_are_not_reminded_and_can_be_resolved_by_hand() {
    let app = spawn_stocked(&[("A", "WH1", 10), ("B", "WH1", 10)]).await;
    let reminding = json!({ "channels": { "sms": true }, "repeat_minutes": 30 });
    app.create_rule("rule-1", low_stock(5, 8, reminding)).await;
    app.sell("a1", "A", 6).await;
    app.sell("b1", "B", 6).await;
    app.process_stream().await;
    assert_eq!(app.published().await.len(), 2);
    let a = app.first_alert_id("sku=A").await;

    let acknowledge = format!("/v1/alerts/{a}/acknowledge");
    let acked = app.post_bare(&acknowledge, Role::Ops).await;
    assert_eq!(acked.status, StatusCode::OK, "{:?}", acked.json());
    assert_eq!(acked.json()["state"], "acknowledged");
    assert_eq!(acked.json()["acknowledged_by"], "ops-1");
    let again = app.post_bare(&acknowledge, Role::Ops).await;
    assert_problem(&again, StatusCode::CONFLICT, "alert-state-conflict");

    // Before the repeat interval: nothing. After it: only the unacknowledged one is reminded.
    app.sell("a2", "A", 1).await;
    app.sell("b2", "B", 1).await;
    app.process_stream().await;
    assert_eq!(app.published().await.len(), 2);
    app.advance_clock(31 * 60);
    app.sell("a3", "A", 1).await;
    app.sell("b3", "B", 1).await;
    app.process_stream().await;
    let published = app.published().await;
    assert_eq!(published.len(), 3);
    assert_eq!(published[2].attributes["event"], "remind");
    assert_eq!(published[2].attributes["sku"], "B");

    let resolved = app
        .post_bare(&format!("/v1/alerts/{a}/resolve"), Role::Ops)
        .await;
    assert_eq!(resolved.json()["state"], "resolved");
    assert_eq!(resolved.json()["resolved_by"], "ops-1");
    let filtered = app.alerts("state=firing&severity=warning").await;
    assert_eq!(filtered.len(), 1);
    assert_eq!(filtered[0]["sku"], "B");
    let readonly = app.post_bare(&acknowledge, Role::ReadOnly).await;
    assert_edge_forbidden(&readonly);
}

#[tokio::test]
async fn rules_are_managed_through_the_api_and_invalid_ones_refused() {
    let app = spawn_app().await;
    let body = json!({ "name": "Low", "kind": "low_stock", "threshold": 5, "severity": "warning" });
    let created = app.post("/v1/rules", Role::Ops, "r-1", body.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json()["rule_id"].as_str().unwrap().to_owned();
    assert_eq!(created.json()["clear_at"], 6);
    let replay = app.post("/v1/rules", Role::Ops, "r-1", body).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json()["rule_id"], id.as_str());

    let updated = app
        .put(&format!("/v1/rules/{id}"), Role::Ops, json!({ "name": "Low", "kind": "low_stock", "threshold": 3, "clear_at": 9, "severity": "critical", "enabled": false }))
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.json());
    let got = app.read(&format!("/v1/rules/{id}")).await;
    assert_eq!(
        (got["threshold"].clone(), got["enabled"].clone()),
        (json!(3), json!(false))
    );
    assert_eq!(
        app.read("/v1/rules").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Invalid rules, and the field each names first.
    for (key, rule, field) in [
        (
            "r-2",
            json!({ "name": "x", "kind": "low_stock", "threshold": 5, "clear_at": 2, "severity": "warning" }),
            "clear_at",
        ),
        (
            "r-3",
            json!({ "name": "x", "kind": "sometimes", "severity": "loud" }),
            "severity",
        ),
    ] {
        let bad = app.post("/v1/rules", Role::Ops, key, rule).await;
        let p = assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(p["errors"][0]["field"], field, "{key}: {p}");
    }
    let bad = app
        .post("/v1/rules", Role::Ops, "r-4", json!({ "name": "x", "kind": "days_of_cover", "lookback_days": 90, "max_days": 5, "severity": "info", "channels": { "email": ["nobody"] } }))
        .await;
    assert_invalid(&bad, &["lookback_days", "channels.email[0]"], "r-4");
    let storefront = app
        .post("/v1/rules", Role::Storefront, "r-5", json!({}))
        .await;
    assert_edge_forbidden(&storefront);

    for (path, status, slug) in [
        (
            "/v1/rules/rl_nothing",
            StatusCode::NOT_FOUND,
            "rule-not-found",
        ),
        (
            "/v1/alerts/bad%20id",
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
        ),
        (
            "/v1/alerts?state=open",
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
        ),
    ] {
        assert_problem(&app.get(path, Role::ReadOnly).await, status, slug);
    }
    let rule = format!("/v1/rules/{id}");
    let deleted = app.delete(&rule, Role::Ops).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = app.delete(&rule, Role::Ops).await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "rule-not-found");
}
