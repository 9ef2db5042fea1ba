//! Replenishment: sales history in, a forecast, a reorder point and a suggested order out, a
//! `reorder_point` alert sent once, and an accepted suggestion that raises in_transit, on
//! DynamoDB Local and moto, as days pass.

use serde_json::{json, Value};
use system_tests::*;

async fn replenishment(app: &TestApp, query: &str) -> Vec<Value> {
    let r = app
        .get(&format!("/v1/replenishment?{query}"), Role::ReadOnly)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    r.json()["items"].as_array().cloned().unwrap()
}

/// The dataset row of `sku` at `location` among a run's JSON Lines parts.
async fn dataset_row(app: &TestApp, objects: &[String], sku: &str, location: &str) -> Value {
    for key in objects.iter().filter(|k| k.ends_with(".jsonl")) {
        let text = String::from_utf8(app.object(key).await).unwrap();
        for line in text.lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            if row["sku"] == sku && row["location"] == location {
                return row;
            }
        }
    }
    panic!("no row for {sku} at {location} in {objects:?}");
}

#[tokio::test]
async fn history_in_a_plan_out_an_alert_once_and_an_accepted_order_in_transit() {
    let app = spawn_app().await;
    app.create_location("WH1").await;
    let r = app
        .put(
            "/v1/skus/TEE",
            Role::Ops,
            json!({ "name": "Tee", "supply": { "supplier": "ACME", "lead_time_days": 5,
                    "min_order_qty": 24, "pack_size": 12 } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    app.receive("TEE", "WH1", 400).await;
    // A second SKU with no supply facts and only a few days of sales.
    app.create_sku("NEW").await;
    app.create_rule(
        "rule-rop",
        json!({ "name": "Reorder", "kind": "reorder_point", "severity": "warning",
                "notify_on_resolve": true, "channels": { "sms": true } }),
    )
    .await;

    // Thirty days of ten a day.
    for day in 0..30 {
        app.sell(&format!("tee-{day}"), "TEE", 10).await;
        if day == 26 {
            app.receive("NEW", "WH1", 20).await;
        }
        if day >= 26 {
            app.sell(&format!("new-{day}"), "NEW", 2).await;
        }
        app.advance_clock(86_400);
    }
    app.process_stream().await;
    assert!(app.notices().await.is_empty(), "no reorder point yet");

    // A level someone broke by hand: it is counted and skipped, the others are planned.
    app.put_broken_level("BROKEN").await;

    let run = app.plan_replenishment().await;
    assert_eq!(
        (
            run.levels,
            run.planned,
            run.failed,
            run.tasks,
            run.tasks_retried
        ),
        (3, 2, 1, 60, 0),
        "{run:?}"
    );
    assert_eq!(
        run.objects.len(),
        120,
        "a CSV and a JSON Lines part per shard"
    );
    let tee = dataset_row(&app, &run.objects, "TEE", "WH1").await;
    // 30 complete days of 10: 10 a day ahead; reorder at 6 days (5 lead + 1 to the next check).
    assert_eq!(tee["history_days"], 30);
    assert_eq!(tee["method"], "ses");
    assert_eq!(tee["demand_per_day"], 10.0);
    assert_eq!(tee["forecast"].as_array().unwrap().len(), 28);
    assert_eq!(tee["reorder_point"], 60);
    assert_eq!(tee["supplier"], "ACME");
    assert_eq!(
        (tee["available"].as_i64(), tee["suggested"].as_i64()),
        (Some(100), Some(0))
    );
    // The new SKU falls back to the mean of its four days, and says so.
    let new = dataset_row(&app, &run.objects, "NEW", "WH1").await;
    assert_eq!(new["method"], "fallback");
    assert_eq!(new["history_days"], 4);
    assert!(
        new["method_note"].as_str().unwrap().contains("only 4 days"),
        "{new}"
    );
    let csv = String::from_utf8(
        app.object(
            &run.objects
                .iter()
                .find(|k| k.ends_with(".csv"))
                .unwrap()
                .clone(),
        )
        .await,
    )
    .unwrap();
    assert!(
        csv.starts_with("planned_on,sku,location,supplier,method,"),
        "{csv}"
    );
    // The day is complete: its manifest says what the run did.
    let manifest: Value =
        serde_json::from_slice(&app.object(run.manifest.as_deref().unwrap()).await).unwrap();
    assert_eq!(
        (manifest["planned"].as_i64(), manifest["failed"].as_i64()),
        (Some(2), Some(1))
    );

    // TEE is above its reorder point: nothing to order, nothing sent for it. NEW (12 left at about 2
    // a day, 8 days of protection) is listed, last: it has no supplier.
    app.process_stream().await;
    let listed = replenishment(&app, "").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        (listed[0]["sku"].as_str(), listed[0]["position"].as_i64()),
        (Some("NEW"), Some(12))
    );
    assert!(replenishment(&app, "supplier=ACME").await.is_empty());
    // Its reorder point, new on the level, put it at or below: the plan's write sends the alert.
    assert_eq!(app.notices().await, vec!["NEW fire"]);

    // A sale takes the position to 55, at or below 60: one alert, and the order is listed.
    app.sell("tee-burst", "TEE", 45).await;
    app.process_stream().await;
    app.sell("tee-more", "TEE", 5).await;
    app.process_stream().await;
    assert_eq!(app.notices().await, vec!["NEW fire", "TEE fire"]);
    let listed = replenishment(&app, "supplier=ACME").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let order = &listed[0];
    assert_eq!(
        (order["sku"].as_str(), order["location"].as_str()),
        (Some("TEE"), Some("WH1"))
    );
    assert_eq!(order["position"], 50);
    assert_eq!(order["reorder_point"], 60);
    // Up to 12 days (5 lead + 7 review) of 10 = 120, less 50 = 70: six packs of 12 = 72.
    assert_eq!(order["suggested"], 72);
    assert_eq!(order["history"].as_array().unwrap().len(), 30);
    assert_eq!(order["band_low"].as_array().unwrap().len(), 28);
    assert_eq!(
        replenishment(&app, "supplier=ACME&location=WH1")
            .await
            .len(),
        1
    );
    assert_eq!(replenishment(&app, "location=WH1").await.len(), 2);
    assert!(replenishment(&app, "supplier=OTHER").await.is_empty());
    assert!(replenishment(&app, "location=WH2").await.is_empty());
    for bad in [
        "supplier=",
        "supplier=a%20b",
        "location=",
        "colour=red",
        "limit=0",
        "cursor=x",
    ] {
        let r = app
            .get(&format!("/v1/replenishment?{bad}"), Role::ReadOnly)
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
    }

    // The suggestion accepted: an incoming shipment of 72 raises in_transit, the position is
    // 122, the alert resolves and the list is empty.
    app.created(
        "/v1/incoming",
        Role::Ops,
        "accept-tee",
        json!({ "sku": "TEE", "location": "WH1", "quantity": 72, "reference": "REPL-TEE" }),
    )
    .await;
    assert_eq!(app.level("TEE", "WH1").await, Some((50, 0, 72, 50)));
    app.process_stream().await;
    assert_eq!(
        app.notices().await,
        vec!["NEW fire", "TEE fire", "TEE resolve"]
    );
    assert!(replenishment(&app, "supplier=ACME").await.is_empty());

    // The next day's run adds that day (50 sold) to the history; a rerun adds nothing.
    app.advance_clock(86_400);
    let next = app.plan_replenishment().await;
    let again = app.plan_replenishment().await;
    let row = dataset_row(&app, &next.objects, "TEE", "WH1").await;
    assert_eq!(row["history_days"], 31);
    assert_eq!(row["in_transit"], 72);
    assert_eq!(dataset_row(&app, &again.objects, "TEE", "WH1").await, row);
    app.process_stream().await;
    assert_eq!(app.notices().await.len(), 3, "nothing more sent");
}

#[tokio::test]
async fn a_reorder_point_that_rises_overnight_fires_from_the_clock_with_no_stock_change() {
    let app = spawn_stocked(&[("MUG", "WH1", 80)]).await;
    app.create_rule(
        "rule-rop",
        json!({ "name": "Reorder", "kind": "reorder_point", "severity": "warning",
                "channels": { "sms": true } }),
    )
    .await;
    // Three weeks of 2 a day: reorder point 8 days (7 default lead + 1) × 2 = 16; 38 left.
    for day in 0..21 {
        app.sell(&format!("mug-{day}"), "MUG", 2).await;
        app.advance_clock(86_400);
    }
    let first = app.plan_replenishment().await;
    let row = dataset_row(&app, &first.objects, "MUG", "WH1").await;
    assert_eq!(row["reorder_point"], 16, "{row}");
    // A week of 3 a day leaves 17, still above 16: no alert from the sales.
    for day in 21..28 {
        app.sell(&format!("mug-{day}"), "MUG", 3).await;
        app.advance_clock(86_400);
    }
    app.process_stream().await;
    app.tick().await;
    assert!(app.notices().await.is_empty());
    // The demand rose: the night's plan raises the reorder point above the position, and the
    // clock's sweep, not a sale, sends the alert (within the hour every level is swept).
    let second = app.plan_replenishment().await;
    let row = dataset_row(&app, &second.objects, "MUG", "WH1").await;
    assert!(row["reorder_point"].as_i64().unwrap() > 17, "{row}");
    for _ in 0..61 {
        app.advance_clock(60);
        app.tick().await;
    }
    assert_eq!(app.notices().await, vec!["MUG fire"]);
    // The plan's write on the level, on the stream, sends nothing more.
    app.process_stream().await;
    assert_eq!(app.notices().await, vec!["MUG fire"]);
    assert_eq!(app.alerts("state=firing").await.len(), 1);
}

#[tokio::test]
async fn a_refused_write_fails_its_task_alone_and_the_retry_plans_what_is_left() {
    use local_stack::proxy::{Fault, FaultRule, Schedule, Service};
    let app = spawn_app().await;
    app.create_location("WH1").await;
    for sku in ["CUP", "FLAKY"] {
        app.create_sku(sku).await;
        app.receive(sku, "WH1", 500).await;
    }
    for day in 0..20 {
        for sku in ["CUP", "FLAKY"] {
            app.sell(&format!("{sku}-{day}"), sku, 3).await;
        }
        app.advance_clock(86_400);
    }
    // DynamoDB throttles the forecast items twice (the SDK retries), and refuses FLAKY's reorder
    // point once, permanently.
    app.dynamodb_proxy.inject(FaultRule::new(
        Service::DynamoDb,
        "BatchWriteItem",
        Fault::Throttle,
        Schedule::Times(2),
    ));
    app.dynamodb_proxy.inject(
        FaultRule::new(
            Service::DynamoDb,
            "UpdateItem",
            Fault::Reject {
                code: "ValidationException".into(),
                message: "refused".into(),
            },
            Schedule::Times(1),
        )
        .containing("SKU#FLAKY"),
    );
    // FLAKY's task fails and is retried alone; the run commits with both planned.
    let run = app.plan_replenishment().await;
    assert_eq!(
        (run.planned, run.failed, run.tasks_retried),
        (2, 0, 1),
        "{run:?}"
    );
    let cup = dataset_row(&app, &run.objects, "CUP", "WH1").await;
    assert_eq!(cup["history_days"], 20);
    let flaky = dataset_row(&app, &run.objects, "FLAKY", "WH1").await;
    assert_eq!(flaky["history_days"], 20);
    let level = app
        .dynamodb
        .get_item()
        .table_name(&app.table)
        .key("pk", AttributeValue::S("SKU#FLAKY".into()))
        .key("sk", AttributeValue::S("LOC#WH1".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        level["reorder_point"],
        AttributeValue::N(flaky["reorder_point"].to_string()),
        "the retry wrote FLAKY's reorder point"
    );
    // Another run the same day adds no day to either history, and moves no reorder point.
    let again = app.plan_replenishment().await;
    assert_eq!(
        (again.planned, again.failed, again.reorder_points_written),
        (2, 0, 0),
        "{again:?}"
    );
    assert_eq!(dataset_row(&app, &again.objects, "CUP", "WH1").await, cup);
    assert_eq!(
        dataset_row(&app, &again.objects, "FLAKY", "WH1").await,
        flaky
    );
}

#[tokio::test]
async fn a_sale_that_lists_a_level_while_its_plan_is_being_written_keeps_it_listed() {
    let app = spawn_stocked(&[("TEE", "WH1", 200)]).await;
    for day in 0..10 {
        app.sell(&format!("tee-{day}"), "TEE", 10).await;
        app.advance_clock(86_400);
    }
    app.process_stream().await;
    // 10 a day: a reorder point of 80 (7 days' default lead + 1); 100 left, not listed.
    let run = app.plan_replenishment().await;
    assert_eq!((run.planned, run.failed), (1, 0), "{run:?}");
    assert!(replenishment(&app, "").await.is_empty());
    let version = app.read("/v1/skus/TEE").await["levels"][0]["version"]
        .as_i64()
        .unwrap();
    // The next night's run reads the level at that version and plans it unlisted...
    let key = shared::replenishment::store::key("TEE", "WH1");
    let mut planned = app
        .dynamodb
        .get_item()
        .table_name(&app.table)
        .set_key(Some(key))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    for listing in ["gsi1pk", "gsi1sk", "listed_version", "planned_version"] {
        planned.remove(listing);
    }
    // ...a sale takes the position to 75 meanwhile, and its projection lists the level...
    app.sell("tee-burst", "TEE", 25).await;
    app.process_stream().await;
    assert_eq!(replenishment(&app, "").await.len(), 1);
    // ...and then the run's write lands: the newer decision (the sale's) stands.
    shared::replenishment::store::put_forecast(
        &app.dynamodb,
        &app.table,
        planned,
        version,
        "earlier",
    )
    .await
    .unwrap();
    let listed = replenishment(&app, "").await;
    assert_eq!(
        listed.len(),
        1,
        "the sale's list entry was dropped: {listed:?}"
    );
    assert_eq!(listed[0]["position"], 75);
}

/// Two SKUs whose levels at WH1 fall in the same level shard (one task plans both).
fn same_shard_pair() -> (String, String) {
    let mut first_of_shard = std::collections::HashMap::new();
    for i in 0..1_000 {
        let sku = format!("K{i:03}");
        let shard = shared::schema::keys::level_shard(&sku, "WH1");
        if let Some(first) = first_of_shard.insert(shard, sku.clone()) {
            return (first, sku);
        }
    }
    unreachable!("60 shards, 1,000 SKUs")
}

/// A shop of `skus` at WH1 with three weeks of sales: something to plan.
async fn trading(skus: &[&str]) -> TestApp {
    let app = spawn_app().await;
    app.create_location("WH1").await;
    for sku in skus {
        app.create_sku(sku).await;
        app.receive(sku, "WH1", 500).await;
    }
    for day in 0..21 {
        for sku in skus {
            app.sell(&format!("{sku}-{day}"), sku, 3).await;
        }
        app.advance_clock(86_400);
    }
    app.process_stream().await;
    app
}

#[tokio::test]
async fn a_worker_killed_in_the_middle_of_a_task_is_replaced_and_the_run_commits_once() {
    use local_stack::{
        batch::Replenishment,
        proxy::{Fault, FaultRule, Schedule, Service},
    };
    let (first, second) = same_shard_pair();
    let app = trading(&[&first, &second, "OTHER"]).await;
    // The second level's forecast write hangs past the worker's timeout: the function is
    // stopped with the first level of its task planned and the second not.
    app.dynamodb_proxy.inject(
        FaultRule::new(
            Service::DynamoDb,
            "PutItem",
            Fault::Hang(std::time::Duration::from_secs(30)),
            Schedule::Times(1),
        )
        .containing(&format!("FCST#{second}")),
    );
    let job = &app.replenishment;
    let run = Replenishment::run_name(app.now());
    job.coordinator
        .start(shared::fanout::Job::Replenishment, &run, app.now(), 1)
        .await
        .unwrap();
    let mut driver = job.driver.clone();
    driver.timeout = std::time::Duration::from_secs(5);
    let drained = driver.drain(2).await.unwrap();
    assert_eq!(
        (drained.timed_out, drained.messages),
        (1, 61),
        "{drained:?}"
    );
    // The task came back; its retry planned the second level and left the first as it was.
    let report: shared::replenishment::run::RunReport =
        job.summary(&run).await.unwrap().expect("committed");
    assert_eq!(
        (report.planned, report.already_planned, report.tasks_retried),
        (3, 1, 1),
        "{report:?}"
    );
    for sku in [&first, &second, "OTHER"] {
        let row = dataset_row(&app, &report.objects, sku, "WH1").await;
        assert_eq!(row["history_days"], 21, "{sku}: {row}");
    }
    // A duplicate of a done task, or the schedule's retry, changes nothing: still one commit.
    let record = job.runs.get("replenishment", &run).await.unwrap().unwrap();
    let task = shared::fanout::tasks(shared::fanout::Job::Replenishment, &run, app.now(), 1)
        .swap_remove(5);
    assert_eq!(
        job.worker.run_task(&task).await.unwrap(),
        shared::fanout::TaskOutcome::Done
    );
    let again = job
        .coordinator
        .start(shared::fanout::Job::Replenishment, &run, app.now(), 1)
        .await
        .unwrap();
    assert_eq!((again.sent, again.committed), (0, true));
    let after = job.runs.get("replenishment", &run).await.unwrap().unwrap();
    assert_eq!(
        (&after.committed_at, &after.summary),
        (&record.committed_at, &record.summary)
    );
}

#[tokio::test]
async fn a_task_that_fails_three_times_waits_in_the_failure_queue_and_the_check_finishes_the_run() {
    use local_stack::{
        batch::Replenishment,
        proxy::{Fault, FaultRule, Schedule, Service},
        queue,
    };
    let (first, second) = same_shard_pair();
    let app = trading(&[&first, &second, "OTHER"]).await;
    // The second level's reorder point is refused until the fault is healed.
    app.dynamodb_proxy.inject(
        FaultRule::new(
            Service::DynamoDb,
            "UpdateItem",
            Fault::Reject {
                code: "ValidationException".into(),
                message: "refused".into(),
            },
            Schedule::Always,
        )
        .containing(&format!("SKU#{second}")),
    );
    let job = &app.replenishment;
    let run = Replenishment::run_name(app.now());
    let (started, drained) = job.run_tasks(&run, app.now(), 1, 2).await.unwrap();
    assert_eq!(started.sent, 60);
    // Three receives, three failures: then SQS moved it to the failure queue. No commit.
    assert_eq!(drained.failed, 3, "{drained:?}");
    let sqs = aws_sdk_sqs::Client::new(&app.sdk);
    let failed = queue::peek(&sqs, &job.driver.queues().dead_letter_url)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    let task = shared::fanout::Task::parse(&failed[0]).unwrap();
    assert_eq!(
        task.shard,
        shared::schema::keys::level_shard(&second, "WH1")
            .trim_start_matches("LEVELS#")
            .parse::<u32>()
            .unwrap()
    );
    assert!(job.summary::<Value>(&run).await.unwrap().is_none());
    let record = job.runs.get("replenishment", &run).await.unwrap().unwrap();
    assert_eq!(record.remaining, 1);
    let tasks = job.runs.tasks("replenishment", &run).await.unwrap();
    let stuck: Vec<_> = tasks.iter().filter(|t| t.result.is_none()).collect();
    assert_eq!(stuck.len(), 1, "{tasks:?}");
    assert_eq!(
        (stuck[0].task.as_str(), stuck[0].attempts),
        (task.id().as_str(), 3)
    );

    // Healed, the morning check sends the pending task again; the run commits, the first
    // level of the task planned once.
    app.dynamodb_proxy.heal();
    let checked = job
        .coordinator
        .check(shared::fanout::Job::Replenishment, &run, app.now(), 1)
        .await
        .unwrap();
    assert_eq!(
        (checked.sent, checked.resumed, checked.committed),
        (1, true, false)
    );
    job.driver.drain(2).await.unwrap();
    let report: shared::replenishment::run::RunReport =
        job.summary(&run).await.unwrap().expect("committed");
    assert_eq!(
        (report.planned, report.already_planned, report.tasks_retried),
        (3, 2, 1),
        "{report:?}"
    );
    // OTHER's, and the second level's at last (the first's was written by an attempt that
    // failed, and not again).
    assert_eq!(report.reorder_points_written, 2);
    let rop = |sku: String| {
        let app = &app;
        async move {
            app.dynamodb
                .get_item()
                .table_name(&app.table)
                .key("pk", AttributeValue::S(format!("SKU#{sku}")))
                .key("sk", AttributeValue::S("LOC#WH1".into()))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
                .get("reorder_point")
                .cloned()
        }
    };
    assert!(rop(first).await.is_some() && rop(second).await.is_some());
}
