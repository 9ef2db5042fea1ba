//! The scheduled function's reports and time-based rules, against the emulator's S3, DynamoDB
//! and SNS: totals that match the movements, files that standard readers load, identical
//! objects when a day is written twice, and a stale SKU alerted once.

use std::process::Command;

use serde_json::{json, Value};
use system_tests::*;

const DAY: i64 = 86_400;

/// Parses CSV with Python's standard `csv` module (from the project's virtualenv).
fn csv_rows(bytes: &[u8]) -> Vec<serde_json::Map<String, Value>> {
    let script = "import csv, io, json, sys\n\
                  rows = list(csv.DictReader(io.StringIO(sys.stdin.read(), newline='')))\n\
                  print(json.dumps(rows))";
    let mut child = Command::new(local_stack::moto::Moto::python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the csv module refused the file");
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
    let mut child = Command::new(local_stack::moto::Moto::python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(html).unwrap();
    child.wait().unwrap().success()
}

async fn movement(app: &TestApp, path: &str, role: Role, key: &str, body: Value) {
    let r = app.post(path, role, key, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{path}: {:?}", r.json());
}

#[tokio::test]
async fn report_totals_match_the_movements_and_files_load_with_standard_readers() {
    let app = spawn_app().await;
    app.stocked("A", "WH1", 20).await;
    app.create_sku("B").await;
    app.receive("B", "WH1", 10).await;
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
    let key = |name: &str| {
        manifest
            .objects
            .iter()
            .find(|o| o.key.contains(name))
            .unwrap()
            .key
            .clone()
    };
    let snapshot_key = key("reports/snapshot/dt=");
    assert!(snapshot_key.ends_with("/part-00000.csv"), "{snapshot_key}");

    let rows = csv_rows(&app.object(&snapshot_key).await);
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
    let jsonl = String::from_utf8(app.object(&key("reports/snapshot-jsonl/")).await).unwrap();
    let objects: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2);
    let trends = csv_rows(&app.object(&key("reports/trends/")).await);
    assert_eq!(trends.len(), 2 * 28);
    let today_a = trends
        .iter()
        .find(|r| r["sku"] == "A" && r["day"] == a["day"])
        .unwrap();
    assert_eq!(n(today_a, "sold"), 9);

    let html = app.object(&key("reports/summary/")).await;
    assert!(well_formed(&html), "{}", String::from_utf8_lossy(&html));
    assert!(String::from_utf8_lossy(&html).contains("<svg"));
}

#[tokio::test]
async fn writing_the_same_day_twice_yields_identical_objects() {
    let app = spawn_app().await;
    app.stocked("A", "WH1", 20).await;
    movement(
        &app,
        "/v1/sales",
        Role::Storefront,
        "s1",
        json!({ "sku": "A", "location": "WH1", "quantity": 4 }),
    )
    .await;
    let now = app.now();
    let first = app.reports.run(now / DAY, now).await.unwrap();
    let mut before = Vec::new();
    for o in &first.objects {
        before.push(app.object(&o.key).await);
    }
    let second = app.reports.run(now / DAY, now + 60).await.unwrap();
    assert_eq!(first, second);
    for (o, bytes) in second.objects.iter().zip(before) {
        assert_eq!(app.object(&o.key).await, bytes, "{}", o.key);
    }
}

#[tokio::test]
async fn the_reports_api_lists_days_and_signs_urls_that_download_the_objects() {
    let app = spawn_app().await;
    app.stocked("A", "WH1", 5).await;
    let now = app.now();
    let manifest = app.reports.run(now / DAY, now).await.unwrap();

    let list = app.get("/v1/reports", Role::ReadOnly).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.json());
    assert_eq!(list.json()["items"][0]["dt"], manifest.dt.as_str());

    let day = app
        .get(&format!("/v1/reports/{}", manifest.dt), Role::ReadOnly)
        .await
        .json();
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
    let anonymous = app.call(Method::GET, "/v1/reports", None, None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}
