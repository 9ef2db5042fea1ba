//! Operations at catalogue scale: the server-side stock listing and its filters over ten
//! thousand SKUs, the daily counters, bulk alert actions and the stocktake import.

use std::collections::{BTreeMap, BTreeSet};

use local_stack::seed;
use serde_json::{json, Value};
use system_tests::*;

const SKUS: usize = 10_000;

fn brand(i: usize) -> &'static str {
    ["acme", "zeta", "nova"][i % 3]
}

/// Every SKU at WH1; every third also at WH2; every tenth at FR (sold out there).
fn levels_of(i: usize) -> Vec<(&'static str, i64)> {
    let mut out = vec![("WH1", (i % 50) as i64)];
    if i.is_multiple_of(3) {
        out.push(("WH2", (i % 13) as i64));
    }
    if i.is_multiple_of(10) {
        out.push(("FR", 0));
    }
    out
}

fn sku_name(i: usize) -> (String, String) {
    let colour = if i.is_multiple_of(7) { "Blue" } else { "Red" };
    (format!("SKU-{i:05}"), format!("{colour} widget {i}"))
}

/// Every row a filter should give, from the table read in full (the reference the listing is
/// compared with): (sku, location, available).
type Expected = BTreeSet<(String, String, i64)>;

/// A seeded SKU: id, name, brand and its levels (location, available).
type Seeded = (String, String, &'static str, Vec<(&'static str, i64)>);

struct Catalogue {
    skus: Vec<Seeded>,
}

impl Catalogue {
    fn rows(&self, keep: impl Fn(&str, &str, &str, &str, i64) -> bool) -> Expected {
        let mut out = Expected::new();
        for (sku, name, brand, levels) in &self.skus {
            for (loc, available) in levels {
                if keep(sku, name, brand, loc, *available) {
                    out.insert((sku.clone(), (*loc).to_owned(), *available));
                }
            }
        }
        out
    }
}

/// Every page of `GET /v1/levels?<query>`, following the cursors; the rows, and the pages.
async fn all_pages(app: &TestApp, query: &str) -> (Vec<Value>, usize) {
    let sep = if query.is_empty() { "" } else { "&" };
    let pages = app
        .pages(&format!("/v1/levels?{query}{sep}limit=100"))
        .await;
    (pages.concat(), pages.len())
}

fn as_set(rows: &[Value]) -> Expected {
    rows.iter()
        .filter(|r| !r["location"].is_null())
        .map(|r| {
            (
                r["sku"].as_str().unwrap().to_owned(),
                r["location"].as_str().unwrap().to_owned(),
                r["available"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_filter_returns_the_complete_result_over_ten_thousand_skus() {
    let app = spawn_app_on_own_engine().await;
    for loc in ["WH1", "WH2", "FR"] {
        app.create_location(loc).await;
    }
    let at = "2026-11-30T08:00:00.000Z";
    let hour = app.now().div_euclid(3600);
    let mut catalogue = Catalogue { skus: Vec::new() };
    let mut items = Vec::new();
    for i in 0..SKUS {
        let (sku, name) = sku_name(i);
        let attrs = BTreeMap::from([("brand".to_owned(), brand(i).to_owned())]);
        items.push(seed::sku_item(&sku, &name, &attrs, at));
        let levels = levels_of(i);
        for (loc, available) in &levels {
            items.push(seed::level_item(&sku, loc, *available, at, hour));
            // Its listing entry, as the stream evaluator writes it for a new level (the next
            // test watches the evaluator keep entries up to date as stock changes).
            items.push(shared::listing::entry_item(&sku, loc, 1, *available));
        }
        catalogue.skus.push((sku, name, brand(i), levels));
    }
    // Two SKUs with no stock anywhere yet.
    for sku in ["ZZ-NEW-1", "ZZ-NEW-2"] {
        items.push(seed::sku_item(sku, "Not stocked", &BTreeMap::new(), at));
    }
    let started = std::time::Instant::now();
    // Four writers at a time.
    let mut writers = tokio::task::JoinSet::new();
    for chunk in items.chunks(1000) {
        let (client, table, chunk) = (app.dynamodb.clone(), app.table.clone(), chunk.to_vec());
        writers.spawn(async move { seed::put_all(&client, &table, chunk).await });
        if writers.len() >= 4 {
            writers.join_next().await.unwrap().unwrap().expect("seed");
        }
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap().expect("seed");
    }
    eprintln!("seeded in {:?}", started.elapsed());
    // Low stock for acme at 5 or less; sold out anywhere.
    app.create_rule(
        "low-acme",
        json!({ "name": "Acme low", "kind": "low_stock", "threshold": 5, "clear_at": 8,
                "severity": "warning", "selector": { "attribute": { "name": "brand", "value": "acme" } } }),
    )
    .await;
    app.create_rule(
        "out",
        json!({ "name": "Out", "kind": "out_of_stock", "severity": "critical" }),
    )
    .await;
    let below = |_: &str, _: &str, b: &str, _: &str, a: i64| a <= 0 || (b == "acme" && a <= 5);

    type Keep = Box<dyn Fn(&str, &str, &str, &str, i64) -> bool>;
    let cases: Vec<(&str, Keep)> = vec![
        ("", Box::new(|_, _, _, _, _| true)),
        ("location=WH2", Box::new(|_, _, _, l, _| l == "WH2")),
        ("available_max=3", Box::new(|_, _, _, _, a| a <= 3)),
        (
            "location=FR&available_max=0",
            Box::new(|_, _, _, l, a| l == "FR" && a <= 0),
        ),
        ("below_threshold=true", Box::new(below)),
        (
            "below_threshold=true&location=WH1",
            Box::new(move |s, n, b, l, a| l == "WH1" && below(s, n, b, l, a)),
        ),
        (
            "sku_prefix=SKU-012",
            Box::new(|s, _, _, _, _| s.starts_with("SKU-012")),
        ),
        (
            "attribute=brand:zeta",
            Box::new(|_, _, b, _, _| b == "zeta"),
        ),
        (
            "q=BLUE",
            Box::new(|_, n, _, _, _| n.to_lowercase().contains("blue")),
        ),
        (
            "q=sku-0999",
            Box::new(|s, _, _, _, _| s.to_lowercase().contains("sku-0999")),
        ),
        (
            "q=blue&available_max=10&attribute=brand:nova",
            Box::new(|_, n, b, _, a| n.contains("Blue") && a <= 10 && b == "nova"),
        ),
        (
            "sku_prefix=SKU-05&below_threshold=true",
            Box::new(move |s, n, b, l, a| s.starts_with("SKU-05") && below(s, n, b, l, a)),
        ),
    ];
    for (query, keep) in &cases {
        let listed = std::time::Instant::now();
        let (rows, pages) = all_pages(&app, query).await;
        eprintln!(
            "{query}: {} rows, {pages} pages in {:?}",
            rows.len(),
            listed.elapsed()
        );
        let expected = catalogue.rows(keep);
        let got = as_set(&rows);
        assert_eq!(
            got.len(),
            rows.iter().filter(|r| !r["location"].is_null()).count(),
            "{query}: a row twice"
        );
        let missing: Vec<_> = expected.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(&expected).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{query}: {} expected, {} got over {pages} pages; missing {missing:?}, extra {extra:?}",
            expected.len(),
            got.len()
        );
        // Names come with the rows; the threshold is the one that applies.
        for r in rows.iter().filter(|r| !r["location"].is_null()).take(200) {
            let i: usize = r["sku"].as_str().unwrap()[4..].parse().unwrap();
            assert_eq!(r["name"], sku_name(i).1.as_str());
            let expect_threshold = if brand(i) == "acme" { 5 } else { 0 };
            assert_eq!(r["alert_threshold"], expect_threshold, "{r}");
        }
    }
    // Orders: by SKU without a location or availability filter (the unstocked SKUs too, with no
    // location); lowest availability band first with one.
    let (rows, _) = all_pages(&app, "").await;
    let skus: Vec<&str> = rows.iter().map(|r| r["sku"].as_str().unwrap()).collect();
    let mut sorted = skus.clone();
    sorted.sort();
    assert_eq!(skus, sorted);
    assert_eq!(rows.len(), catalogue.rows(|_, _, _, _, _| true).len() + 2);
    assert!(rows
        .iter()
        .any(|r| r["sku"] == "ZZ-NEW-1" && r["location"].is_null()));
    let (rows, _) = all_pages(&app, "available_max=20").await;
    let bands: Vec<u32> = rows
        .iter()
        .map(|r| shared::listing::band(r["available"].as_i64().unwrap()))
        .collect();
    assert!(bands.windows(2).all(|w| w[0] <= w[1]), "band order");
}

#[tokio::test]
async fn the_listing_follows_stock_changes_and_refuses_bad_parameters() {
    let app = spawn_stocked(&[("HAT", "WH1", 40), ("CAP", "WH1", 3)]).await;
    app.process_stream().await;
    let skus = |r: &ApiResponse| -> Vec<String> {
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap().to_owned())
            .collect()
    };
    let low = app.get("/v1/levels?available_max=5", Role::ReadOnly).await;
    assert_eq!(skus(&low), vec!["CAP"]);
    // A sale moves HAT down through the bands; the stream moves its entry with it.
    app.sell("s1", "HAT", 36).await;
    app.process_stream().await;
    let low = app.get("/v1/levels?available_max=5", Role::ReadOnly).await;
    assert_eq!(skus(&low), vec!["CAP", "HAT"], "{:?}", low.json());
    assert_eq!(low.json()["items"][1]["available"], 4);
    assert_eq!(low.json()["order"], "availability");
    // A receipt moves it back up.
    app.receive("HAT", "WH1", 100).await;
    app.process_stream().await;
    let low = app.get("/v1/levels?available_max=5", Role::ReadOnly).await;
    assert_eq!(skus(&low), vec!["CAP"]);

    // CSV export: the header, the rows, formula-like names neutralised.
    let r = app
        .put(
            "/v1/skus/CAP",
            Role::Ops,
            json!({ "name": "=HYPERLINK(\"x\")", "attributes": {} }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let csv = app.get("/v1/levels?format=csv", Role::ReadOnly).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "sku,name,location,on_hand,reserved,in_transit,available,alert_threshold,below_threshold,updated_at"
    );
    assert!(
        lines[1].starts_with("CAP,\"'=HYPERLINK(\"\"x\"\")\",WH1,3,0,0,3,,false,"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("HAT,Product HAT,WH1,104,0,0,104,"),
        "{text}"
    );
    assert_eq!(lines.len(), 3);

    for bad in [
        "available_max=-1",
        "available_max=x",
        "below_threshold=yes",
        "sku_prefix=%24%24",
        "attribute=nocolon",
        "q=",
        "format=xml",
        "limit=0",
        "limit=101",
        "cursor=garbage",
        "colour=red",
    ] {
        let r = app.get(&format!("/v1/levels?{bad}"), Role::ReadOnly).await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
    }
    // A cursor of one plan is refused by the other.
    let first = app.read("/v1/levels?available_max=500&limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let r = app
        .get(
            &format!("/v1/levels?limit=1&cursor={cursor}"),
            Role::ReadOnly,
        )
        .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
}

#[tokio::test]
async fn the_daily_counters_show_each_days_units_per_location_without_the_ledger() {
    let app = spawn_app().await;
    app.stocked("HAT", "WH1", 50).await; // received today
    app.create_location("WH2").await;
    app.receive("HAT", "WH2", 10).await;
    app.sell("d0-1", "HAT", 3).await;
    app.advance_clock(86_400);
    app.sell("d1-1", "HAT", 2).await;
    app.sell("d1-2", "HAT", 4).await;
    let r = app.get("/v1/skus/HAT/daily?days=3", Role::ReadOnly).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let body = r.json();
    let days: Vec<(i64, i64, i64)> = body["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["sold"].as_i64().unwrap(),
                d["received"].as_i64().unwrap(),
                d["refunded"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(days, vec![(0, 0, 0), (3, 60, 0), (6, 0, 0)]);
    let today = shared::reports::date_of_day(app.now().div_euclid(86_400));
    assert_eq!(body["days"][2]["day"], today.as_str());
    let wh2 = body["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["location"] == "WH2")
        .unwrap();
    assert_eq!(wh2["days"][1]["received"], 10);
    for bad in ["days=0", "days=33", "days=x", "weeks=2"] {
        let r = app
            .get(&format!("/v1/skus/HAT/daily?{bad}"), Role::ReadOnly)
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
    }
    let r = app.get("/v1/skus/NOPE/daily", Role::ReadOnly).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "sku-not-found");
}

#[tokio::test]
async fn a_bulk_acknowledge_of_a_hundred_alerts_answers_for_each_and_refuses_the_resolved() {
    let app = spawn_app().await;
    app.create_location("WH1").await;
    for i in 0..100 {
        let sku = format!("B-{i:03}");
        app.create_sku(&sku).await;
        app.receive(&sku, "WH1", 1).await;
    }
    app.create_rule(
        "out",
        json!({ "name": "Out", "kind": "out_of_stock", "severity": "warning" }),
    )
    .await;
    for i in 0..100 {
        app.sell(&format!("s-{i}"), &format!("B-{i:03}"), 1).await;
    }
    app.process_stream().await;
    let firing = Value::from(
        app.pages("/v1/alerts?state=firing&limit=100")
            .await
            .concat(),
    );
    let mut ids: Vec<String> = each(&firing, "alert_id")
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 100);
    ids.sort();
    // Three are resolved by hand first.
    for id in &ids[10..13] {
        let r = app
            .post(
                &format!("/v1/alerts/{id}/resolve"),
                Role::Ops,
                id,
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    }
    let r = app
        .post(
            "/v1/alerts/bulk",
            Role::Ops,
            "bulk-1",
            json!({ "action": "acknowledge", "alert_ids": ids }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let body = r.json();
    assert_eq!(
        (body["succeeded"].as_u64(), body["failed"].as_u64()),
        (Some(97), Some(3))
    );
    let results = body["results"].as_array().unwrap();
    // One result per id, in the order sent.
    let order: Vec<&str> = results
        .iter()
        .map(|r| r["alert_id"].as_str().unwrap())
        .collect();
    assert_eq!(order, ids.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, r) in results.iter().enumerate() {
        if (10..13).contains(&i) {
            assert_eq!(r["status"], 409, "{r}");
            assert_eq!(r["problem"]["type"], "/problems/alert-state-conflict");
            assert!(
                r["problem"]["detail"]
                    .as_str()
                    .unwrap()
                    .contains("resolved"),
                "{r}"
            );
        } else {
            assert_eq!(r["status"], 200, "{r}");
            assert_eq!(r["state"], "acknowledged");
        }
    }
    assert_eq!(app.alerts("state=acknowledged&limit=100").await.len(), 97);
    assert_eq!(app.alerts("state=resolved&limit=100").await.len(), 3);

    // Silence the SKUs of a few alerts (one id unknown): each SKU once.
    let r = app
        .post(
            "/v1/alerts/bulk",
            Role::Ops,
            "bulk-2",
            json!({ "action": "silence_sku", "alert_ids": [ids[0], ids[1], "al_nothere"],
                    "minutes": 60, "reason": "restock on its way" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let body = r.json();
    assert_eq!(body["results"][2]["status"], 404);
    assert_eq!(
        body["results"][2]["problem"]["type"],
        "/problems/alert-not-found"
    );
    let silences = app.read("/v1/silences").await;
    assert_eq!(silences["items"].as_array().unwrap().len(), 2, "{silences}");

    // Refused whole, and nothing done: a bad action, too many ids, an id twice, silence
    // without its minutes, a read-only token.
    for (body, field) in [
        (
            json!({ "action": "delete", "alert_ids": [ids[0]] }),
            "action",
        ),
        (
            json!({ "action": "resolve", "alert_ids": (0..101).map(|i| format!("al_{i}")).collect::<Vec<_>>() }),
            "alert_ids",
        ),
        (
            json!({ "action": "resolve", "alert_ids": [ids[0], ids[0]] }),
            "alert_ids[1]",
        ),
        (
            json!({ "action": "silence_rule", "alert_ids": [ids[0]], "reason": "x" }),
            "minutes",
        ),
    ] {
        let r = app
            .post("/v1/alerts/bulk", Role::Ops, "bulk-bad", body)
            .await;
        let p = assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    let r = app
        .post(
            "/v1/alerts/bulk",
            Role::ReadOnly,
            "bulk-ro",
            json!({ "action": "resolve", "alert_ids": [ids[0]] }),
        )
        .await;
    assert_edge_forbidden(&r);
    assert_eq!(app.alerts("state=resolved&limit=100").await.len(), 3);
}

/// Uploads a stocktake file.
async fn upload(
    app: &TestApp,
    role: Role,
    key: &str,
    content_type: &str,
    file: Vec<u8>,
) -> ApiResponse {
    let auth = format!("Bearer {}", app.token(role));
    app.api
        .send(
            Method::POST,
            "/v1/stocktakes",
            &[
                ("authorization", &auth),
                ("idempotency-key", key),
                ("content-type", content_type),
            ],
            Some(file),
        )
        .await
        .expect("HTTP call")
}

#[tokio::test]
async fn a_thousand_line_stocktake_applies_the_good_lines_reports_the_bad_and_changes_nothing_twice(
) {
    let app = spawn_app().await;
    app.create_location("WH1").await;
    let at = "2026-11-30T08:00:00.000Z";
    let hour = app.now().div_euclid(3600);
    let mut items = Vec::new();
    for i in 0..990 {
        let sku = format!("ST-{i:04}");
        items.push(seed::sku_item(&sku, "Counted thing", &BTreeMap::new(), at));
        items.push(seed::level_item(&sku, "WH1", 10, at, hour));
    }
    seed::put_all(&app.dynamodb, &app.table, items)
        .await
        .expect("seed");
    // 980 good lines (every other one with the right `expected`), and 20 bad ones spread
    // through the file: unknown SKUs, stale counts, bad numbers, a formula, an unknown place.
    let mut file = String::from("sku,location,counted,expected,reason\n");
    let mut bad: BTreeMap<u64, &str> = BTreeMap::new();
    let mut good = 0;
    for row in 0..1000u64 {
        let line = row + 2; // the header is line 1
        let i = row as usize;
        let text = match row % 50 {
            7 if bad.len() < 20 => {
                let (text, problem) = match bad.len() % 5 {
                    0 => (format!("NOPE-{row},WH1,5,,"), "/problems/sku-not-found"),
                    1 => (
                        format!("ST-{:04},WH1,5,99,", 980 + bad.len() / 5),
                        "/problems/stale-count",
                    ),
                    2 => (
                        format!("ST-{:04},WH1,twelve,,", 984 + bad.len() / 5),
                        "/problems/validation",
                    ),
                    3 => ("=SUM(A1:A9),WH1,5,,".to_owned(), "/problems/validation"),
                    _ => (
                        format!("ST-{:04},MARS,5,,", bad.len()),
                        "/problems/location-not-found",
                    ),
                };
                bad.insert(line, problem);
                text
            }
            _ => {
                let sku = format!("ST-{:04}", i - bad.len());
                good += 1;
                if i.is_multiple_of(2) {
                    format!("{sku},WH1,{},10,shelf count\n", 20 + i % 5)
                        .trim_end()
                        .to_owned()
                } else {
                    format!("{sku},WH1,{},,", 20 + i % 5)
                }
            }
        };
        file.push_str(&text);
        file.push('\n');
    }
    assert_eq!((good, bad.len()), (980, 20));
    // The month's count, uploaded by ops (again and again below: one import).
    let upload_count = || {
        upload(
            &app,
            Role::Ops,
            "count-2026-11",
            "text/csv",
            file.clone().into_bytes(),
        )
    };

    let r = upload_count().await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
    let queued = r.json();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["lines"], 1000);
    let id = queued["import_id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("/v1/stocktakes/{id}")
    );
    let r = app
        .get(&format!("/v1/stocktakes/{id}/result"), Role::ReadOnly)
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "import-not-finished");

    // The function the new import's stream record starts.
    assert_eq!(app.run_imports().await, 1);
    let done = app.read(&format!("/v1/stocktakes/{id}")).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        (
            done["processed"].as_u64(),
            done["applied"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some(1000), Some(980), Some(20))
    );
    let reported: BTreeMap<u64, String> = done["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeMap<u64, String> = bad.iter().map(|(l, p)| (*l, (*p).to_owned())).collect();
    assert_eq!(reported, expected);
    // The counts are in the levels, and each in the SKU's ledger.
    assert_eq!(app.level("ST-0000", "WH1").await, Some((20, 0, 0, 20)));
    assert_eq!(app.level("ST-0003", "WH1").await, Some((23, 0, 0, 23)));
    let ledger = app.ledger("ST-0000").await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["kind"], "adjustment");
    assert_eq!(ledger[0]["reason"], "shelf count");
    // Stale or unknown lines changed nothing.
    assert_eq!(app.level("ST-0980", "WH1").await, Some((10, 0, 0, 10)));

    // The result: a row per line, the failed ones with their problem; the formula neutralised.
    let r = app
        .get(&format!("/v1/stocktakes/{id}/result"), Role::ReadOnly)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let mut reader = csv_rows(&text);
    assert_eq!(
        reader.remove(0),
        vec!["line", "sku", "location", "counted", "expected", "status", "problem", "detail"]
    );
    assert_eq!(reader.len(), 1000);
    assert_eq!(reader.iter().filter(|r| r[5] == "failed").count(), 20);
    assert!(reader
        .iter()
        .any(|r| r[1] == "'=SUM(A1:A9)" && r[5] == "failed"));

    // The same upload again is the same import: nothing applied twice.
    let r = upload_count().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.headers["idempotent-replayed"], "true");
    assert_eq!(r.json()["import_id"], id.as_str());
    assert_eq!(r.json()["status"], "done");
    assert_eq!(app.run_imports().await, 0, "no new import");
    // A run that stopped (left running, its retries spent): the same upload again after 20
    // minutes queues it once more, and the rerun replays every line: nothing changes twice.
    app.dynamodb
        .update_item()
        .table_name(&app.table)
        .key("pk", AttributeValue::S(format!("IMPORT#{id}")))
        .key("sk", AttributeValue::S("META".into()))
        .update_expression("SET #s = :r, started_at = :t")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":r", AttributeValue::S("running".into()))
        .expression_attribute_values(
            ":t",
            AttributeValue::S(done["started_at"].as_str().unwrap().into()),
        )
        .send()
        .await
        .unwrap();
    let r = upload_count().await;
    assert_eq!(r.json()["status"], "running", "not stalled yet");
    assert_eq!(app.run_imports().await, 0);
    app.advance_clock(21 * 60);
    let r = upload_count().await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json()["status"], "queued", "stalled: queued again");
    assert_eq!(app.run_imports().await, 1);
    let again = app.read(&format!("/v1/stocktakes/{id}")).await;
    assert_eq!(
        (
            again["status"].as_str(),
            again["applied"].as_u64(),
            again["failed"].as_u64()
        ),
        (Some("done"), Some(980), Some(20))
    );
    assert_eq!(app.ledger("ST-0000").await.len(), 1);
    assert_eq!(app.level("ST-0000", "WH1").await, Some((20, 0, 0, 20)));
    // The same key with another file is refused.
    let r = upload(
        &app,
        Role::Ops,
        "count-2026-11",
        "text/csv",
        b"sku,location,counted\nST-0000,WH1,1\n".to_vec(),
    )
    .await;
    assert_problem(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    );
}

/// A CSV's rows as cells (quotes and doubled quotes undone).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted && chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                '"' => quoted = !quoted,
                ',' if !quoted => cells.push(std::mem::take(&mut cell)),
                c => cell.push(c),
            }
        }
        cells.push(cell);
        rows.push(cells);
    }
    rows
}

#[tokio::test]
async fn hostile_stocktake_files_get_a_clear_error_and_never_a_5xx() {
    let app = spawn_stocked(&[("HAT", "WH1", 5)]).await;
    // Whole-file refusals, each with a reason a person can act on.
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str, &str)> = vec![
        (
            "missing",
            b"sku,qty\nHAT,1\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "missing columns: location, counted",
        ),
        (
            "utf16",
            b"\xff\xfes\x00k\x00u\x00\n\x00".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "UTF-8",
        ),
        (
            "empty",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "empty",
        ),
        (
            "big",
            {
                let mut f = b"sku,location,counted\n".to_vec();
                while f.len() <= 2 * 1024 * 1024 {
                    f.extend_from_slice(b"HAT,WH1,1\n");
                }
                f
            },
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "",
        ),
    ];
    for (key, file, status, slug, says) in cases {
        let r = upload(&app, Role::Ops, key, "text/csv", file).await;
        let p = assert_problem(&r, status, slug);
        assert!(p.to_string().contains(says), "{key}: {p}");
    }
    // 100 MB: API Gateway's own limit (10 MB) refuses it before any function runs.
    let huge = vec![b'a'; 100 * 1024 * 1024];
    let r = upload(&app, Role::Ops, "huge", "text/csv", huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let r = upload(&app, Role::Ops, "json", "application/json", b"{}".to_vec()).await;
    let p = assert_problem(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    );
    assert!(p["detail"].as_str().unwrap().contains("text/csv"));
    let r = upload(
        &app,
        Role::ReadOnly,
        "ro",
        "text/csv",
        b"sku,location,counted\nHAT,WH1,1\n".to_vec(),
    )
    .await;
    assert_edge_forbidden(&r);
    assert_eq!(app.run_imports().await, 0, "nothing was queued");
    assert_eq!(app.level("HAT", "WH1").await, Some((5, 0, 0, 5)));

    // Line by line: text that is not UTF-8, a formula, too few cells, a negative count: each
    // line refused with its reason; the good line applied.
    let file = b"sku,location,counted\nHAT,WH1,7\nCAF\xc9,WH1,1\n=cmd|' /C calc'!A0,WH1,1\nHAT\nHAT,WH1,-3\n".to_vec();
    let r = upload(&app, Role::Ops, "lines", "text/csv", file).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
    let id = r.json()["import_id"].as_str().unwrap().to_owned();
    app.run_imports().await;
    let done = app.read(&format!("/v1/stocktakes/{id}")).await;
    assert_eq!(
        (done["applied"].as_u64(), done["failed"].as_u64()),
        (Some(1), Some(4)),
        "{done}"
    );
    let details: Vec<String> = done["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["line"], f["detail"]))
        .collect();
    // Each failed line, and what its detail names.
    assert!(details.len() >= 4, "{details:?}");
    for (detail, (line, names)) in details.iter().zip([
        ("3 ", "UTF-8"),
        ("4 ", "sku"),
        ("5 ", "fewer cells"),
        ("6 ", "counted"),
    ]) {
        assert!(
            detail.starts_with(line) && detail.contains(names),
            "{details:?}"
        );
    }
    assert_eq!(app.level("HAT", "WH1").await, Some((7, 0, 0, 7)));

    // 500 lines whose reasons are 1,000 bytes (too long: each line is refused): stored and
    // reported like any others, though together they are more than a DynamoDB item holds.
    let mut file = String::from("sku,location,counted,reason\n");
    for i in 0..500 {
        file.push_str(&format!(
            "HAT,WH1,{i},\"{}\"\n",
            "a \"\"quoted\"\" note ".repeat(50)
        ));
    }
    assert!(file.len() > 400 * 1024, "{} bytes", file.len());
    let r = upload(&app, Role::Ops, "long", "text/csv", file.into_bytes()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
    let id = r.json()["import_id"].as_str().unwrap().to_owned();
    app.run_imports().await;
    let done = app.read(&format!("/v1/stocktakes/{id}")).await;
    assert_eq!(
        (
            done["processed"].as_u64(),
            done["applied"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some(500), Some(0), Some(500)),
        "{}",
        done["status"]
    );
    let failures = done["failures"].as_array().unwrap();
    assert!(failures
        .iter()
        .all(|f| f["detail"].as_str().unwrap().contains("reason")));
    assert_eq!(app.level("HAT", "WH1").await, Some((7, 0, 0, 7)));
    let r = app
        .get("/v1/stocktakes/st_00000000000000000000", Role::ReadOnly)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "import-not-found");
    let r = app.get("/v1/stocktakes/nope", Role::ReadOnly).await;
    assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
}
