//! The scheduled function's reports against DynamoDB Local and moto's S3: totals that match the
//! movements, files that standard readers (Python's csv, DuckDB) load, figures as of the end of
//! the day (byte-identical when the day is written again after more trading), end-of-day stock
//! through a stocktake, and a run that fails midway showing nothing new.

use std::process::Command;

use serde_json::{json, Value};
use system_tests::*;

const DAY: i64 = 86_400;

/// Runs a Python `script` (from the project's virtualenv) on `input`; its output and errors.
fn python(script: &str, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(local_stack::moto::Moto::python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Parses CSV with Python's standard `csv` module.
fn csv_rows(bytes: &[u8]) -> Vec<serde_json::Map<String, Value>> {
    let script = "import csv, io, json, sys\n\
                  rows = list(csv.DictReader(io.StringIO(sys.stdin.read(), newline='')))\n\
                  print(json.dumps(rows))";
    let out = python(script, bytes);
    assert!(
        out.status.success(),
        "the csv module refused the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .unwrap()
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect()
}

/// Checks that an HTML page is well-formed markup with Python's XML parser.
fn well_formed(html: &[u8]) -> bool {
    let script =
        "import sys, xml.dom.minidom\nxml.dom.minidom.parseString(sys.stdin.buffer.read())";
    python(script, html).status.success()
}

async fn movement(app: &TestApp, path: &str, role: Role, key: &str, body: Value) {
    let r = app.post(path, role, key, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {:?}", r.json());
}

#[tokio::test]
async fn report_totals_match_the_movements_and_files_load_with_standard_readers() {
    let app = spawn_stocked(&[("A", "WH1", 20), ("B", "WH1", 10)]).await;
    let line = |sku: &str, q: i64| json!({ "sku": sku, "location": "WH1", "quantity": q });
    movement(&app, "/v1/sales", Role::Storefront, "s1", line("A", 7)).await;
    movement(&app, "/v1/sales", Role::Storefront, "s2", line("A", 2)).await;
    movement(&app, "/v1/refunds", Role::Ops, "r1", line("A", 1)).await;
    movement(&app, "/v1/receipts", Role::Ops, "p1", line("A", 5)).await;
    movement(&app, "/v1/sales", Role::Storefront, "s3", line("B", 3)).await;
    app.process_stream().await;

    let now = app.now();
    let day = now / DAY;
    let manifest = app.reports.run(day, now).await.expect("report run");
    assert_eq!(manifest.levels, 2);
    // Each dataset is one part per level-index shard: read them all, as a query engine would.
    let mut snapshot_parts = 0;
    let mut rows = Vec::new();
    let mut trends = Vec::new();
    let mut jsonl_objects = 0;
    for o in &manifest.objects {
        if o.key.starts_with("reports/snapshot/dt=") {
            assert!(
                o.key.ends_with(".csv") && o.key.contains("/part-000"),
                "{}",
                o.key
            );
            snapshot_parts += 1;
            rows.extend(csv_rows(&app.object(&o.key).await));
        } else if o.key.starts_with("reports/trends/dt=") {
            trends.extend(csv_rows(&app.object(&o.key).await));
        } else if o.key.starts_with("reports/snapshot-jsonl/") {
            let text = String::from_utf8(app.object(&o.key).await).unwrap();
            for line in text.lines() {
                let _: Value = serde_json::from_str(line).unwrap();
                jsonl_objects += 1;
            }
        }
    }
    assert_eq!(snapshot_parts, 60, "one part per shard");
    assert_eq!(rows.len(), 2);
    let a = rows.iter().find(|r| r["sku"] == "A").expect("row for A");
    let b = rows.iter().find(|r| r["sku"] == "B").expect("row for B");
    let n = |r: &serde_json::Map<String, Value>, k: &str| {
        r[k].as_str().unwrap().parse::<i64>().unwrap()
    };
    assert_eq!(
        (n(a, "sold"), n(a, "received"), n(a, "refunded")),
        (9, 25, 1)
    );
    assert_eq!(n(a, "on_hand"), 20 - 9 + 1 + 5);
    assert_eq!(n(a, "net_change"), 25 + 1 - 9);
    assert_eq!(
        (n(b, "sold"), n(b, "received"), n(b, "on_hand")),
        (3, 10, 7)
    );
    assert_eq!(a["days_since_last_sale"], "0");

    // JSON Lines: one object per line, the same rows.
    assert_eq!(jsonl_objects, 2);
    assert_eq!(trends.len(), 2 * 28);
    let today_a = trends
        .iter()
        .find(|r| r["sku"] == "A" && r["day"] == a["day"])
        .unwrap();
    assert_eq!(n(today_a, "sold"), 9);
    let key = |name: &str| {
        manifest
            .objects
            .iter()
            .find(|o| o.key.contains(name))
            .unwrap()
            .key
            .clone()
    };

    let html = app.object(&key("reports/summary/")).await;
    assert!(well_formed(&html), "{}", String::from_utf8_lossy(&html));
    assert!(String::from_utf8_lossy(&html).contains("<svg"));
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// The bucket's listing under `prefix` (its first page).
async fn bucket_listing(
    app: &TestApp,
    prefix: &str,
) -> aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output {
    app.s3
        .list_objects_v2()
        .bucket(&app.bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap()
}

/// Every object of a day under `reports/` (not staging), with its SHA-256.
async fn day_objects(app: &TestApp, date: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for o in bucket_listing(app, "reports/").await.contents() {
        let key = o.key().unwrap().to_owned();
        if key.contains(&format!("/dt={date}/")) && !key.starts_with("reports/_staging/") {
            let bytes = app.object(&key).await;
            out.push((key, sha256(&bytes)));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_day_written_again_after_more_trading_is_byte_identical() {
    let app = spawn_stocked(&[("A", "WH1", 20), ("B", "WH1", 8)]).await;
    movement(
        &app,
        "/v1/sales",
        Role::Storefront,
        "s1",
        json!({ "sku": "A", "location": "WH1", "quantity": 4 }),
    )
    .await;
    // The stream writes the ledger entries (with each level's quantities after the line).
    app.process_stream().await;
    let now = app.now();
    let day = now / DAY;
    let first = app.reports.run(day, now).await.unwrap();
    let before = day_objects(&app, &first.dt).await;
    assert_eq!(
        before.len(),
        first.objects.len() + 1,
        "objects and the manifest"
    );
    for o in &first.objects {
        assert!(
            before.contains(&(o.key.clone(), o.sha256.clone())),
            "{} as the manifest says",
            o.key
        );
    }

    // The next day: sales, a receipt, a count and a level that did not exist on the day.
    app.advance_clock(DAY);
    let line = |sku: &str, q: i64| json!({ "sku": sku, "location": "WH1", "quantity": q });
    movement(&app, "/v1/sales", Role::Storefront, "s2", line("A", 3)).await;
    movement(&app, "/v1/receipts", Role::Ops, "p2", line("A", 50)).await;
    movement(&app, "/v1/sales", Role::Storefront, "s3", line("B", 8)).await;
    app.stocked("C", "WH1", 9).await;
    app.process_stream().await;
    assert_eq!(app.level("A", "WH1").await.unwrap().0, 20 - 4 - 3 + 50);

    let (again, stats) = app.reports.run_with_stats(day, app.now()).await.unwrap();
    assert_eq!(stats.levels_from_ledger, 2, "A and B changed after the day");
    assert_eq!(again, first);
    assert_eq!(day_objects(&app, &first.dt).await, before);
}

/// Rows of a dataset's CSV parts for `sku`, in day order.
async fn rows_of(
    app: &TestApp,
    manifest: &shared::report_writer::Manifest,
    prefix: &str,
    sku: &str,
) -> Vec<serde_json::Map<String, Value>> {
    let mut rows = Vec::new();
    for o in &manifest.objects {
        if o.key.starts_with(prefix) && o.key.ends_with(".csv") {
            rows.extend(
                csv_rows(&app.object(&o.key).await)
                    .into_iter()
                    .filter(|r| r["sku"] == sku),
            );
        }
    }
    rows.sort_by(|a, b| a["day"].as_str().cmp(&b["day"].as_str()));
    rows
}

#[tokio::test]
async fn the_trend_shows_end_of_day_stock_through_a_stocktake_and_stays_put_when_re_run() {
    let app = spawn_app().await;
    let line = |sku: &str, q: i64| json!({ "sku": sku, "location": "WH1", "quantity": q });
    let count = |counted: i64| json!({ "sku": "A", "location": "WH1", "counted": counted, "reason": "stocktake" });
    // Three days back: A gets 20 and sells 5.
    app.advance_clock(-3 * DAY);
    app.stocked("A", "WH1", 20).await;
    movement(&app, "/v1/sales", Role::Storefront, "s1", line("A", 5)).await;
    // Two days back: a stocktake finds 12 (the counters do not see it); B gets 10.
    app.advance_clock(DAY);
    movement(&app, "/v1/adjustments", Role::Ops, "c1", count(12)).await;
    app.stocked("B", "WH1", 10).await;
    // Yesterday: A sells 2 and receives 6.
    app.advance_clock(DAY);
    movement(&app, "/v1/sales", Role::Storefront, "s2", line("A", 2)).await;
    movement(&app, "/v1/receipts", Role::Ops, "p1", line("A", 6)).await;
    // Today: A sells 1, B sells 3.
    app.advance_clock(DAY);
    movement(&app, "/v1/sales", Role::Storefront, "s3", line("A", 1)).await;
    movement(&app, "/v1/sales", Role::Storefront, "s4", line("B", 3)).await;
    app.process_stream().await;

    let now = app.now();
    let day = now / DAY;
    let (manifest, stats) = app.reports.run_with_stats(day, now).await.unwrap();
    assert_eq!(stats.levels_from_ledger, 1, "A: a stocktake in the window");
    let on_hand = |rows: &[serde_json::Map<String, Value>]| -> Vec<i64> {
        rows.iter()
            .map(|r| r["on_hand"].as_str().unwrap().parse().unwrap())
            .collect()
    };
    let a = rows_of(&app, &manifest, "reports/trends/", "A").await;
    assert_eq!(a.len(), 28);
    assert_eq!(on_hand(&a)[24..], [15, 12, 16, 15]);
    assert!(
        on_hand(&a)[..24].iter().all(|&q| q == 0),
        "{:?}",
        on_hand(&a)
    );
    let b = rows_of(&app, &manifest, "reports/trends/", "B").await;
    assert_eq!(on_hand(&b)[25..], [10, 10, 7]);

    let snapshot = rows_of(&app, &manifest, "reports/snapshot/", "A").await;
    let a_row = &snapshot[0];
    assert_eq!(a_row["sold_30d"], "8");
    assert_eq!(a_row["on_hand"], "15");
    assert_eq!(a_row["on_hand_change_7d"], "15");
    // 58 units-days over 30 days: 15 + 12 + 16 + 15 = 58.
    assert_eq!(a_row["avg_on_hand_30d"], "1.93");
    assert_eq!(a_row["turnover_30d"], "4.138");
    assert_eq!(a_row["sell_through_30d_pct"], "34.8"); // 8 / (8 + 15)

    // Tomorrow: another stocktake and a sale; today's report, written again, is the same.
    let before = day_objects(&app, &manifest.dt).await;
    app.advance_clock(DAY);
    movement(&app, "/v1/adjustments", Role::Ops, "c2", count(30)).await;
    movement(&app, "/v1/sales", Role::Storefront, "s5", line("B", 1)).await;
    app.process_stream().await;
    let again = app.reports.run(day, app.now()).await.unwrap();
    assert_eq!(again, manifest);
    assert_eq!(day_objects(&app, &manifest.dt).await, before);
}

#[tokio::test]
async fn stock_on_hand_is_aged_first_in_first_out_from_its_receipts() {
    let app = spawn_app().await;
    let line = |q: i64| json!({ "sku": "OLD", "location": "WH1", "quantity": q });
    app.create_location("WH1").await;
    app.create_sku("OLD").await;
    // Receipts 200, 100, 40 and 0 days back, 10, 10, 10 and 5 units; 4 sold 3 days back.
    for (back, key, units) in [(200, "p1", 10), (100, "p2", 10), (40, "p3", 10)] {
        app.advance_clock(-back * DAY);
        movement(&app, "/v1/receipts", Role::Ops, key, line(units)).await;
        app.advance_clock(back * DAY);
    }
    app.advance_clock(-3 * DAY);
    movement(&app, "/v1/sales", Role::Storefront, "s1", line(4)).await;
    app.advance_clock(3 * DAY);
    movement(&app, "/v1/receipts", Role::Ops, "p4", line(5)).await;
    // A second SKU whose stock came from a count, not a receipt: its age is unknown.
    app.create_sku("COUNTED").await;
    app.stocked("COUNTED", "WH1", 3).await;
    movement(
        &app,
        "/v1/adjustments",
        Role::Ops,
        "c1",
        json!({ "sku": "COUNTED", "location": "WH1", "counted": 8, "reason": "found" }),
    )
    .await;
    app.process_stream().await;

    let now = app.now();
    let manifest = app.reports.run(now / DAY, now).await.unwrap();
    let old = &rows_of(&app, &manifest, "reports/snapshot/", "OLD").await[0];
    assert_eq!(old["on_hand"], "31");
    // First in, first out: the 4 sold came out of the oldest units.
    let ages = |r: &serde_json::Map<String, Value>| {
        [
            "age_0_30_days",
            "age_31_90_days",
            "age_91_180_days",
            "age_over_180_days",
            "age_unknown",
        ]
        .map(|k| r[k].as_str().unwrap().parse::<i64>().unwrap())
    };
    assert_eq!(ages(old), [5, 10, 10, 6, 0]);
    let counted = &rows_of(&app, &manifest, "reports/snapshot/", "COUNTED").await[0];
    assert_eq!(ages(counted), [3, 0, 0, 0, 5]);
    // The summary totals them, with turnover and sell-through over every level.
    let summary = manifest
        .objects
        .iter()
        .find(|o| o.key.starts_with("reports/summary/"))
        .unwrap();
    let html = String::from_utf8(app.object(&summary.key).await).unwrap();
    for row in [
        "<th scope=\"row\">Units on hand</th><td>39</td>",
        "<th scope=\"row\">Units on hand received 0-30 days ago</th><td>8</td>",
        "<th scope=\"row\">Units on hand received over 180 days ago</th><td>6</td>",
        "<th scope=\"row\">Units on hand of unknown age</th><td>5</td>",
        "<th scope=\"row\">Sell-through, 30 days</th><td>9.3 %</td>",
    ] {
        assert!(html.contains(row), "{row} in {html}");
    }
    assert!(html.contains("Turnover, 30 days"), "{html}");
}

#[tokio::test]
async fn a_shard_that_keeps_failing_shows_nothing_new_and_the_resumed_run_reads_only_it() {
    let app = spawn_app().await;
    app.advance_clock(-DAY);
    for sku in ["A", "B", "C", "D"] {
        app.stocked(sku, "WH1", 10).await;
    }
    app.advance_clock(DAY);
    app.process_stream().await;
    let now = app.now();
    let day = now / DAY - 1;
    let date = shared::reports::date_of_day(day);
    // S3 refuses the staged parts of A's shard (their rows name it) until healed.
    let reject = || local_stack::proxy::FaultRule {
        service: local_stack::proxy::Service::S3,
        operation: None,
        body_contains: Some("\"sku\":\"A\"".into()),
        fault: local_stack::proxy::Fault::Reject {
            code: "AccessDenied".into(),
            message: "injected".into(),
        },
        schedule: local_stack::proxy::Schedule::Always,
    };

    // Its task fails three times and waits in the failure queue; the run does not commit.
    app.moto_proxy.inject(reject());
    assert!(app.reports.run(day, now).await.is_err());
    assert!(
        day_objects(&app, &date).await.is_empty(),
        "nothing of the day is visible"
    );
    assert_problem(
        &app.get(&format!("/v1/reports/{date}"), Role::ReadOnly)
            .await,
        StatusCode::NOT_FOUND,
        "report-not-found",
    );
    let listed = app.read("/v1/reports").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
    assert!(
        !app.reports.check(day).await.unwrap(),
        "the morning check sees it"
    );

    // Healed, the run resumed reads the one shard left and commits the day.
    app.moto_proxy.heal();
    let (manifest, stats) = app.reports.run_with_stats(day, now).await.unwrap();
    assert_eq!(stats.shards_read, 1);
    assert_eq!(manifest.levels, 4);
    let committed = day_objects(&app, &date).await;
    assert_eq!(committed.len(), manifest.objects.len() + 1);
    let staged = bucket_listing(&app, "reports/_staging/").await;
    assert_eq!(
        staged.key_count(),
        Some(0),
        "staging is cleared after the commit"
    );

    // A run cut off midway (its workers stopped, as Lambda's timeout ends them) shows nothing
    // new either, and resumed, it commits the same bytes.
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(150),
        app.reports.run(day, now),
    )
    .await;
    assert!(cut.is_err(), "the run was cut off before it finished");
    assert_eq!(day_objects(&app, &date).await, committed);
    app.reports.driver.purge().await.unwrap();
    app.reports.run(day, now).await.unwrap();
    assert_eq!(day_objects(&app, &date).await, committed);

    // A later run that fails leaves the committed day as it was.
    app.moto_proxy.inject(reject());
    assert!(app.reports.run(day, now).await.is_err());
    assert_eq!(day_objects(&app, &date).await, committed);
    let r = app
        .get(&format!("/v1/reports/{date}"), Role::ReadOnly)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["levels"], 4);
}

#[tokio::test]
async fn a_day_beyond_the_counters_window_is_refused() {
    let app = spawn_app().await;
    let now = app.now();
    let old = now / DAY - shared::report_writer::MAX_RERUN_DAYS - 1;
    let e = app.reports.run(old, now).await.unwrap_err();
    assert!(e.to_string().contains("cannot be written as it was"), "{e}");
}

#[tokio::test]
async fn the_reports_api_lists_days_and_signs_urls_that_download_the_objects() {
    let app = spawn_stocked(&[("A", "WH1", 5)]).await;
    let now = app.now();
    let manifest = app.reports.run(now / DAY, now).await.unwrap();

    let list = app.get("/v1/reports", Role::ReadOnly).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.json());
    assert_eq!(list.json()["items"][0]["dt"], manifest.dt.as_str());

    let day = app.read(&format!("/v1/reports/{}", manifest.dt)).await;
    let objects = day["objects"].as_array().unwrap();
    assert_eq!(objects.len(), manifest.objects.len());
    let snapshot = objects
        .iter()
        .find(|o| o["key"].as_str().unwrap().starts_with("reports/snapshot/"))
        .unwrap();
    let url = snapshot["url"].as_str().unwrap();
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=900"),
        "{url}"
    );
    let downloaded = local_stack::client::ApiClient::new("")
        .send(Method::GET, url, &[], None)
        .await
        .unwrap();
    assert_eq!(downloaded.status, StatusCode::OK);
    assert_eq!(
        downloaded.body.to_vec(),
        app.object(snapshot["key"].as_str().unwrap()).await
    );

    assert_problem(
        &app.get("/v1/reports/2020-01-01", Role::ReadOnly).await,
        StatusCode::NOT_FOUND,
        "report-not-found",
    );
    assert_problem(
        &app.get("/v1/reports/yesterday", Role::ReadOnly).await,
        StatusCode::BAD_REQUEST,
        "invalid-parameter",
    );
    let anonymous = app
        .api
        .call(Method::GET, "/v1/reports", None, None, None)
        .await
        .expect("HTTP call");
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// Runs DuckDB (from the project's virtualenv) over a directory laid out like the bucket, as an
/// analyst would point it at a download of `reports/`, and returns what the query printed.
fn duckdb(root: &std::path::Path, sql: &str) -> Value {
    let script = "import duckdb, json, sys\n\
                  con = duckdb.connect()\n\
                  con.execute(\"SET file_search_path = '\" + sys.argv[1] + \"'\")\n\
                  rows = con.sql(sys.argv[2]).fetchall()\n\
                  print(json.dumps(rows, default=str))";
    let out = Command::new(local_stack::moto::Moto::python())
        .args(["-c", script])
        .arg(root)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "DuckDB refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn analysts_read_every_dataset_with_duckdb_and_the_totals_match_the_api() {
    let app = spawn_app().await;
    for (sku, quantity) in [("A", 20), ("B", 9), ("C", 5)] {
        app.stocked(sku, "WH1", quantity).await;
    }
    app.stocked("A", "WH2", 4).await;
    // A rule whose name reads like a formula, firing for B.
    app.create_rule(
        "rule-1",
        json!({ "name": "=HYPERLINK(\"http://evil.example\")", "kind": "low_stock",
                "threshold": 7, "clear_at": 9, "severity": "warning",
                "selector": { "sku_prefix": "B" }, "channels": { "sms": true } }),
    )
    .await;
    app.sell("s1", "A", 6).await;
    app.sell("s2", "B", 2).await;
    // A has a unit cost; B and C have none.
    app.replaced(
        "/v1/skus/A",
        json!({ "name": "A", "unit_cost": 2.5, "currency": "EUR" }),
    )
    .await;
    app.process_stream().await;
    let now = app.now();
    let manifest = app.reports.run(now / DAY, now).await.unwrap();
    // 14 + 4 units of A at 2.5 EUR.
    assert_eq!(
        manifest.inventory_value,
        [("EUR".to_owned(), "45".to_owned())].into()
    );

    // The bucket's objects, downloaded as they are keyed.
    let root = std::env::temp_dir().join(format!("inventory-duckdb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for o in &manifest.objects {
        let path = root.join(&o.key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, app.object(&o.key).await).unwrap();
    }

    let mut on_hand_api = 0;
    for (sku, location) in [("A", "WH1"), ("B", "WH1"), ("C", "WH1"), ("A", "WH2")] {
        on_hand_api += app.level(sku, location).await.unwrap().0;
    }
    let snapshot = duckdb(
        &root,
        "SELECT count(*), sum(on_hand), sum(sold), min(dt), min(day), max(day) \
         FROM read_csv('reports/snapshot/dt=*/*.csv', hive_partitioning = true)",
    );
    assert_eq!(
        snapshot[0],
        json!([4, on_hand_api, 8, manifest.dt, manifest.dt, manifest.dt])
    );
    let value = duckdb(
        &root,
        // CSV carries no types: a part whose sample has no cost reads the column as text, so
        // the analyst casts (Athena's DDL declares the types); JSON Lines too, where a column is
        // null in every row DuckDB samples.
        "SELECT sum(inventory_value::DOUBLE), min(currency), count(unit_cost) \
         FROM read_csv('reports/snapshot/dt=*/*.csv', hive_partitioning = true)",
    );
    assert_eq!(value[0], json!([45.0, "EUR", 2]));
    let value_jsonl = duckdb(
        &root,
        "SELECT sum(inventory_value::DOUBLE), sum(unit_cost::DOUBLE) \
         FROM read_json('reports/snapshot-jsonl/dt=*/*.jsonl', hive_partitioning = true)",
    );
    assert_eq!(value_jsonl[0], json!([45.0, 5.0]));
    let jsonl = duckdb(
        &root,
        "SELECT count(*), sum(on_hand), sum(sold) \
         FROM read_json('reports/snapshot-jsonl/dt=*/*.jsonl', hive_partitioning = true)",
    );
    assert_eq!(jsonl[0], json!([4, on_hand_api, 8]));
    // The trend's day axis survives the partition: 28 days per level, all in one report.
    let trends = duckdb(
        &root,
        "SELECT count(*), count(DISTINCT day), count(DISTINCT dt), sum(sold), max(day) \
         FROM read_csv('reports/trends/dt=*/*.csv', hive_partitioning = true)",
    );
    assert_eq!(trends[0], json!([4 * 28, 28, 1, 8, manifest.dt]));
    let trends_jsonl = duckdb(
        &root,
        "SELECT count(DISTINCT day), sum(sold) \
         FROM read_json('reports/trends-jsonl/dt=*/*.jsonl', hive_partitioning = true)",
    );
    assert_eq!(trends_jsonl[0], json!([28, 8]));
    // A rule name that reads like a formula is text in the CSV, the name itself in JSON Lines.
    let alerts = duckdb(
        &root,
        "SELECT sku, rule_name, day, dt \
         FROM read_csv('reports/alerts/dt=*/*.csv', hive_partitioning = true)",
    );
    assert_eq!(
        alerts,
        json!([[
            "B",
            "'=HYPERLINK(\"http://evil.example\")",
            manifest.dt,
            manifest.dt
        ]])
    );
    let alerts_jsonl = duckdb(
        &root,
        "SELECT rule_name FROM read_json('reports/alerts-jsonl/dt=*/*.jsonl')",
    );
    assert_eq!(
        alerts_jsonl,
        json!([["=HYPERLINK(\"http://evil.example\")"]])
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[tokio::test]
async fn a_day_written_again_after_a_price_change_values_its_stock_at_that_days_cost() {
    let app = spawn_stocked(&[("A", "WH1", 10)]).await;
    app.replaced(
        "/v1/skus/A",
        json!({ "name": "A", "unit_cost": 2, "currency": "EUR" }),
    )
    .await;
    app.process_stream().await;
    let now = app.now();
    let day = now / DAY;
    let first = app.reports.run(day, now).await.unwrap();
    assert_eq!(
        first.inventory_value,
        [("EUR".to_owned(), "20".to_owned())].into()
    );
    let before = day_objects(&app, &first.dt).await;

    // The next day the price goes up; the day before is written again, then the new day.
    app.advance_clock(DAY);
    app.replaced(
        "/v1/skus/A",
        json!({ "name": "A", "unit_cost": 3, "currency": "EUR" }),
    )
    .await;
    let now = app.now();
    let again = app.reports.run(day, now).await.unwrap();
    assert_eq!(again.inventory_value, first.inventory_value);
    assert_eq!(day_objects(&app, &first.dt).await, before, "byte-identical");
    let next = app.reports.run(day + 1, now).await.unwrap();
    assert_eq!(
        next.inventory_value,
        [("EUR".to_owned(), "30".to_owned())].into()
    );
    // The SKU as the API shows it carries today's cost.
    assert_eq!(app.read("/v1/skus/A").await["unit_cost"], 3.0);
}
