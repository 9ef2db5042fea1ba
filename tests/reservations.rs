//! Checkout holds: hold, extend, release, commit and expiry as a storefront and the schedule
//! drive them, on DynamoDB Local, as time passes and under faults.

use std::sync::Arc;

use futures_util::future::join_all;
use serde_json::{json, Value};
use system_tests::*;

fn hold_body(lines: &[(&str, &str, i64)], ttl: i64) -> Value {
    json!({
        "lines": lines.iter().map(|(s, l, q)| json!({"sku": s, "location": l, "quantity": q})).collect::<Vec<_>>(),
        "ttl_minutes": ttl,
    })
}

async fn hold(app: &TestApp, key: &str, lines: &[(&str, &str, i64)], ttl: i64) -> ApiResponse {
    app.post(
        "/v1/reservations",
        Role::Storefront,
        key,
        hold_body(lines, ttl),
    )
    .await
}

async fn held(app: &TestApp, key: &str, lines: &[(&str, &str, i64)], ttl: i64) -> String {
    let r = hold(app, key, lines, ttl).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    r.json()["reservation_id"].as_str().unwrap().to_owned()
}

async fn step(app: &TestApp, id: &str, action: &str, body: Value) -> ApiResponse {
    step_as(app, Role::Storefront, id, action, body).await
}

/// A step of hold `id` as `role` (its key names the action and the hold).
async fn step_as(app: &TestApp, role: Role, id: &str, action: &str, body: Value) -> ApiResponse {
    let path = format!("/v1/reservations/{id}/{action}");
    app.post(&path, role, &format!("{action}-{id}"), body).await
}

/// The ledger's entries of one kind.
fn kinds(ledger: &[Value], kind: &str) -> usize {
    ledger.iter().filter(|e| e["kind"] == kind).count()
}

/// The ledger of one location agrees with itself line by line: each entry's `after` is its
/// `before` plus its delta, with available = on_hand - reserved; and the entries chain from an
/// empty level to `last` (every state an entry starts from is where another ended, or the
/// empty level), whatever order concurrent entries were recorded in.
fn assert_ledger_chains(ledger: &[Value], location: &str, last: Value) {
    let entries: Vec<&Value> = ledger
        .iter()
        .filter(|e| e["location"] == location && e.get("after").is_some())
        .collect();
    let mut starts: Vec<String> = Vec::new();
    let mut ends: Vec<String> =
        vec![json!({"on_hand": 0, "reserved": 0, "in_transit": 0, "available": 0}).to_string()];
    for e in &entries {
        let (b, a) = (&e["before"], &e["after"]);
        for q in ["on_hand", "reserved", "available"] {
            let d = e["delta"][q].as_i64().unwrap_or(0);
            assert_eq!(
                a[q].as_i64().unwrap() - b[q].as_i64().unwrap(),
                d,
                "{q} of {e}"
            );
        }
        assert_eq!(
            a["available"].as_i64().unwrap(),
            a["on_hand"].as_i64().unwrap() - a["reserved"].as_i64().unwrap(),
            "{e}"
        );
        starts.push(b.to_string());
        ends.push(a.to_string());
    }
    starts.push(last.to_string());
    starts.sort();
    ends.sort();
    assert_eq!(starts, ends, "the ledger does not chain to {last}");
}

fn level_json(on_hand: i64, reserved: i64) -> Value {
    json!({"on_hand": on_hand, "reserved": reserved, "in_transit": 0, "available": on_hand - reserved})
}

#[tokio::test]
async fn a_hold_is_extended_partly_committed_as_an_order_and_refunded_against_it() {
    let app = spawn_stocked(&[("TEE", "WH1", 10)]).await;
    let r = hold(&app, "cart-1", &[("TEE", "WH1", 3)], 15).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let body = r.json();
    let id = body["reservation_id"].as_str().unwrap().to_owned();
    assert_eq!(body["status"], "active");
    assert_eq!(body["lines"][0]["quantity"], 3);
    assert!(body["expires_at"].as_str().unwrap() > body["created_at"].as_str().unwrap());
    assert_eq!(app.level("TEE", "WH1").await, Some((10, 3, 0, 7)));

    // Held units cannot be sold to another cart.
    let walk_in = json!({"sku": "TEE", "location": "WH1", "quantity": 8});
    let r = app
        .post("/v1/sales", Role::Storefront, "walk-in", walk_in)
        .await;
    let p = assert_problem(&r, StatusCode::CONFLICT, "insufficient-stock");
    assert_eq!(p["available"], 7);

    // Read it, and see it among the SKU's active holds.
    let got = app
        .get(&format!("/v1/reservations/{id}"), Role::Storefront)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.json()["status"], "active");
    app.process_stream().await;
    let list = app.get("/v1/skus/TEE/reservations", Role::Storefront).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.json());
    let items = list.json()["items"].as_array().cloned().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["reservation_id"], id.as_str());
    assert_eq!(items[0]["quantity"], 3);

    // Ten minutes on, the shopper asks for more time.
    app.advance_clock(600);
    let ext = step(&app, &id, "extend", json!({"ttl_minutes": 30})).await;
    assert_eq!(ext.status, StatusCode::OK, "{:?}", ext.json());
    assert_eq!(ext.json()["extensions"], 1);
    assert_eq!(ext.json()["expires_in_seconds"], 1800);

    // The order takes 2 of the 3: on_hand and reserved fall, the third unit is available again.
    let two =
        json!({"order_id": "ORD-1", "lines": [{"sku": "TEE", "location": "WH1", "quantity": 2}]});
    let commit = step(&app, &id, "commit", two.clone()).await;
    assert_eq!(commit.status, StatusCode::CREATED, "{:?}", commit.json());
    let c = commit.json();
    assert_eq!(c["status"], "committed");
    assert_eq!(c["order_id"], "ORD-1");
    assert_eq!(c["lines"][0]["taken"], 2);
    assert_eq!(app.level("TEE", "WH1").await, Some((8, 0, 0, 8)));

    // The same commit again is answered as before; any other step is refused.
    let again = step(&app, &id, "commit", two).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = step(&app, &id, "commit", json!({"order_id": "ORD-2"})).await;
    assert_problem(&other, StatusCode::CONFLICT, "reservation-closed");
    let rel = step(&app, &id, "release", json!({})).await;
    assert_problem(&rel, StatusCode::CONFLICT, "reservation-closed");
    let ext = step(&app, &id, "extend", json!({"ttl_minutes": 5})).await;
    assert_problem(&ext, StatusCode::CONFLICT, "reservation-closed");
    assert_eq!(app.level("TEE", "WH1").await, Some((8, 0, 0, 8)));

    // The commit is an order of its storefront: another storefront cannot refund it (to it the
    // order does not exist); its own refunds work against it, and no more than it sold.
    let refund = |quantity: i64| json!({"sku": "TEE", "location": "WH1", "quantity": quantity, "order_id": "ORD-1"});
    let r = app
        .post("/v1/refunds", Role::OtherStorefront, "rf-b", refund(1))
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "order-not-found");
    assert_eq!(app.level("TEE", "WH1").await, Some((8, 0, 0, 8)));
    app.created("/v1/refunds", Role::Storefront, "rf-1", refund(2))
        .await;
    let r = app
        .post("/v1/refunds", Role::Storefront, "rf-2", refund(1))
        .await;
    assert_problem(&r, StatusCode::CONFLICT, "refund-exceeds-order");

    // Every step is in the SKU's ledger, and the ledger adds up.
    let ledger = app.ledger("TEE").await;
    assert_eq!(kinds(&ledger, "hold"), 1);
    assert_eq!(kinds(&ledger, "hold_extend"), 1);
    assert_eq!(kinds(&ledger, "sale"), 1);
    assert_eq!(kinds(&ledger, "refund"), 1);
    let sale = ledger.iter().find(|e| e["kind"] == "sale").unwrap();
    assert_eq!(sale["quantity"], 2);
    assert_eq!(sale["released"], 1);
    assert_eq!(sale["order_id"], "ORD-1");
    assert_eq!(sale["reservation_id"], id.as_str());
    assert_ledger_chains(&ledger, "WH1", level_json(10, 0));
    // Closed: no longer among the SKU's holds.
    let list = app.get("/v1/skus/TEE/reservations", Role::Storefront).await;
    assert_eq!(list.json()["items"], json!([]));
}

#[tokio::test]
async fn a_thousand_carts_race_for_a_hundred_units_then_half_commit_and_half_expire() {
    let app = Arc::new(spawn_stocked(&[("DROP", "WH1", 100)]).await);
    let token = app.token(Role::Storefront);
    let calls = (0..1000).map(|i| (format!("cart-{i}"), hold_body(&[("DROP", "WH1", 1)], 5)));
    let mut ids = Vec::new();
    let mut refused = 0;
    for r in app.post_all("/v1/reservations", &token, calls).await {
        match r.status {
            StatusCode::CREATED => {
                ids.push(r.json()["reservation_id"].as_str().unwrap().to_owned())
            }
            StatusCode::CONFLICT => {
                assert_eq!(r.json()["type"], "/problems/insufficient-stock");
                assert_eq!(r.json()["line"], 0);
                refused += 1;
            }
            s => panic!("{s}: {:?}", r.json()),
        }
    }
    assert_eq!((ids.len(), refused), (100, 900));
    assert_eq!(app.level("DROP", "WH1").await, Some((100, 100, 0, 0)));

    // Fifty shoppers pay; the other fifty walk away and their holds run out.
    let commits = ids[..50].iter().enumerate().map(|(i, id)| {
        let app = app.clone();
        let id = id.clone();
        async move {
            step(&app, &id, "commit", json!({"order_id": format!("ORD-{i}")}))
                .await
                .status
        }
    });
    assert!(join_all(commits)
        .await
        .iter()
        .all(|s| *s == StatusCode::CREATED));
    assert_eq!(app.level("DROP", "WH1").await, Some((50, 50, 0, 0)));
    app.advance_clock(5 * 60 + 1);
    let report = app.expire_holds().await;
    assert_eq!((report.due, report.expired), (50, 50), "{report:?}");
    assert_eq!(app.level("DROP", "WH1").await, Some((50, 0, 0, 50)));
    // The next pass finds nothing more to do.
    assert_eq!(app.expire_holds().await.due, 0);

    let ledger = app.ledger("DROP").await;
    assert_eq!(kinds(&ledger, "hold"), 100);
    assert_eq!(kinds(&ledger, "sale"), 50);
    assert_eq!(kinds(&ledger, "hold_expire"), 50);
    assert_ledger_chains(&ledger, "WH1", level_json(50, 0));
    for id in &ids[50..] {
        let r = app
            .get(&format!("/v1/reservations/{id}"), Role::Storefront)
            .await;
        assert_eq!(r.json()["status"], "expired");
        assert_eq!(r.json()["closed_by"], "system:hold-expiry");
    }
}

#[tokio::test]
async fn a_commit_racing_the_expiry_of_its_hold_has_exactly_one_outcome() {
    let app = Arc::new(spawn_stocked(&[("RACE", "WH1", 200)]).await);
    // The storefront's commit arrives a hair before the hold's end by its clock, while the
    // sweep's clock (another machine) is a hair past it: both may act, only one may win.
    let offset = app.clock_offset();
    let sweep = shared::reservations::expiry::ExpirySweep::new(
        shared::store::Store::new(app.dynamodb.clone(), &app.table),
        shared::clock::Clock::from_fn(move || {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
            now as i64 + offset.load(std::sync::atomic::Ordering::Relaxed) * 1000 + 1000
        }),
    );
    let (mut committed, mut expired) = (0, 0);
    for round in 0..10 {
        let ids =
            join_all(
                (0..20).map(|i| {
                    let app = app.clone();
                    async move {
                        held(&app, &format!("race-{round}-{i}"), &[("RACE", "WH1", 1)], 1).await
                    }
                }),
            )
            .await;
        // Just under a minute on by the API's clock, just over by the sweep's.
        app.advance_clock(59);
        // The commits arrive spread over the sweep's pass.
        let commits = join_all(ids.iter().enumerate().map(|(i, id)| {
            let app = app.clone();
            let id = id.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(3 * i as u64)).await;
                step(&app, &id, "commit", json!({"order_id": format!("O-{id}")})).await
            }
        }));
        let (commits, report) = tokio::join!(commits, sweep.sweep());
        let report = report.unwrap();
        for (id, c) in ids.iter().zip(&commits) {
            let status = app
                .read_as(&format!("/v1/reservations/{id}"), Role::Storefront)
                .await["status"]
                .clone();
            match c.status {
                StatusCode::CREATED => {
                    assert_eq!(status, "committed");
                    committed += 1;
                }
                StatusCode::CONFLICT => {
                    assert_eq!(c.json()["type"], "/problems/reservation-expired");
                    assert_eq!(status, "expired");
                    expired += 1;
                }
                s => panic!("{s}: {:?}", c.json()),
            }
        }
        assert_eq!(report.failed, 0, "{report:?}");
        // Next round's holds start from the API's clock as it is.
        app.advance_clock(2);
        let _ = sweep.sweep().await.unwrap();
    }
    assert_eq!(committed + expired, 200);
    eprintln!("{committed} commits won, {expired} expiries won");
    // The stock shows exactly what won: every committed unit sold, every expired one back.
    assert_eq!(
        app.level("RACE", "WH1").await,
        Some((200 - committed, 0, 0, 200 - committed))
    );
    let ledger = app.ledger("RACE").await;
    assert_eq!(kinds(&ledger, "sale") as i64, committed);
    assert_eq!(kinds(&ledger, "hold_expire") as i64, expired);
    assert_ledger_chains(&ledger, "WH1", level_json(200 - committed, 0));
}

#[tokio::test]
async fn concurrent_replays_of_a_hold_hold_once() {
    let app = Arc::new(spawn_stocked(&[("ONE", "WH1", 10)]).await);
    let replies = join_all((0..25).map(|_| {
        let app = app.clone();
        async move { hold(&app, "same-cart", &[("ONE", "WH1", 4)], 15).await }
    }))
    .await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
            r.json()["reservation_id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert!(replies
        .iter()
        .any(|r| r.header("idempotent-replayed") == Some("true")));
    assert_eq!(app.level("ONE", "WH1").await, Some((10, 4, 0, 6)));
    // The same key with another cart is refused, and changes nothing.
    let other = hold(&app, "same-cart", &[("ONE", "WH1", 5)], 15).await;
    assert_problem(
        &other,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    );
    assert_eq!(app.level("ONE", "WH1").await, Some((10, 4, 0, 6)));
}

#[tokio::test]
async fn a_three_line_hold_with_one_short_line_holds_nothing() {
    let app = spawn_stocked(&[("A", "WH1", 5), ("B", "WH1", 2), ("C", "WH2", 9)]).await;
    let cart = [("A", "WH1", 3), ("B", "WH1", 3), ("C", "WH2", 1)];
    let r = hold(&app, "cart", &cart, 15).await;
    let p = assert_problem(&r, StatusCode::CONFLICT, "insufficient-stock");
    assert_eq!(
        (p["line"].clone(), p["sku"].clone()),
        (json!(1), json!("B"))
    );
    assert_eq!(p["available"], 2);
    assert_eq!(app.level("A", "WH1").await, Some((5, 0, 0, 5)));
    assert_eq!(app.level("B", "WH1").await, Some((2, 0, 0, 2)));
    assert_eq!(app.level("C", "WH2").await, Some((9, 0, 0, 9)));
    // An unknown SKU and a known SKU never stocked at the location are refused as such.
    let r = hold(&app, "cart-2", &[("NOPE", "WH1", 1)], 15).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "sku-not-found");
    let r = hold(&app, "cart-3", &[("A", "WH2", 1)], 15).await;
    let p = assert_problem(&r, StatusCode::CONFLICT, "insufficient-stock");
    assert_eq!(p["available"], 0);
    // The same cart once B has the stock holds all three.
    app.receive("B", "WH1", 1).await;
    let r = hold(&app, "cart-4", &cart, 15).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(app.level("B", "WH1").await, Some((3, 3, 0, 0)));
}

#[tokio::test]
async fn holds_run_out_on_time_as_the_clock_passes_and_cannot_be_committed_after() {
    let app = spawn_stocked(&[("TICK", "WH1", 6)]).await;
    let a = held(&app, "a", &[("TICK", "WH1", 2)], 1).await;
    let b = held(&app, "b", &[("TICK", "WH1", 2)], 1).await;
    let c = held(&app, "c", &[("TICK", "WH1", 1)], 3).await;
    assert_eq!(app.level("TICK", "WH1").await, Some((6, 5, 0, 1)));

    // One second before the end nothing is due.
    app.advance_clock(59);
    assert_eq!(app.expire_holds().await.due, 0);
    assert_eq!(app.level("TICK", "WH1").await, Some((6, 5, 0, 1)));

    // Past it, a commit is refused at once and gives the stock back on the spot, even before
    // the sweep comes round; the sweep takes the other.
    app.advance_clock(2);
    let late = step(&app, &a, "commit", json!({"order_id": "LATE"})).await;
    let p = assert_problem(&late, StatusCode::CONFLICT, "reservation-expired");
    assert_eq!(p["reservation_id"], a.as_str());
    assert_eq!(app.level("TICK", "WH1").await, Some((6, 3, 0, 3)));
    let got = app
        .get(&format!("/v1/reservations/{b}"), Role::Storefront)
        .await;
    assert_eq!(got.json()["status"], "expired");
    assert_eq!(got.json()["stock_released"], false);
    let report = app.expire_holds().await;
    assert_eq!((report.due, report.expired), (1, 1), "{report:?}");
    assert_eq!(app.level("TICK", "WH1").await, Some((6, 1, 0, 5)));
    let ext = step(&app, &b, "extend", json!({"ttl_minutes": 10})).await;
    assert_problem(&ext, StatusCode::CONFLICT, "reservation-expired");
    let rel = step(&app, &b, "release", json!({})).await;
    assert_problem(&rel, StatusCode::CONFLICT, "reservation-expired");

    // An extension moves the end: the longer hold outlives its first time.
    let ext = step(&app, &c, "extend", json!({"ttl_minutes": 5})).await;
    assert_eq!(ext.status, StatusCode::OK, "{:?}", ext.json());
    app.advance_clock(3 * 60);
    assert_eq!(app.expire_holds().await.due, 0);
    // Released early, then released again: the same answer, nothing more given back.
    let rel = step(&app, &c, "release", json!({})).await;
    assert_eq!(rel.status, StatusCode::OK, "{:?}", rel.json());
    assert_eq!(rel.json()["status"], "released");
    let rel = step(&app, &c, "release", json!({})).await;
    assert_eq!(rel.status, StatusCode::OK);
    assert_eq!(rel.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.level("TICK", "WH1").await, Some((6, 0, 0, 6)));
    // A released hold cannot be committed or extended.
    let late = step(&app, &c, "commit", json!({"order_id": "AFTER"})).await;
    let p = assert_problem(&late, StatusCode::CONFLICT, "reservation-closed");
    assert_eq!(p["reservation_status"], "released");
    let ext = step(&app, &c, "extend", json!({"ttl_minutes": 5})).await;
    assert_problem(&ext, StatusCode::CONFLICT, "reservation-closed");
    app.advance_clock(10 * 60);
    assert_eq!(app.expire_holds().await.due, 0);
    let ledger = app.ledger("TICK").await;
    assert_eq!(kinds(&ledger, "hold_expire"), 2);
    assert_eq!(kinds(&ledger, "hold_release"), 1);
    assert_ledger_chains(&ledger, "WH1", level_json(6, 0));
}

#[tokio::test]
async fn the_expiry_sweep_survives_throttling_and_gives_each_hold_back_once() {
    let app = spawn_stocked(&[("SLOW", "WH1", 40)]).await;
    for i in 0..40 {
        held(&app, &format!("t-{i}"), &[("SLOW", "WH1", 1)], 1).await;
    }
    app.advance_clock(61);
    // DynamoDB throttles half the expiry transactions (past the SDK's retries) and fails some
    // with a 500: those holds wait for the next pass, the others are given back now.
    let half = Schedule::Probability(0.5);
    app.fail(
        Service::DynamoDb,
        "TransactWriteItems",
        Fault::Throttle,
        half,
    );
    let first = app.expire_holds().await;
    app.dynamodb_proxy.heal();
    assert_eq!(first.due, 40);
    assert!(first.failed > 0 && first.expired > 0, "{first:?}");
    let (_, reserved, _, available) = app.level("SLOW", "WH1").await.unwrap();
    assert_eq!(reserved as u64, first.failed);
    assert_eq!(available as u64, first.expired);
    let second = app.expire_holds().await;
    assert_eq!((second.due, second.expired), (first.failed, first.failed));
    assert_eq!(app.level("SLOW", "WH1").await, Some((40, 0, 0, 40)));
    let ledger = app.ledger("SLOW").await;
    assert_eq!(kinds(&ledger, "hold_expire"), 40);
    assert_ledger_chains(&ledger, "WH1", level_json(40, 0));
}

#[tokio::test]
async fn a_wave_of_carts_raises_a_low_stock_alert_because_rules_see_available() {
    let app = spawn_stocked(&[("WAVE", "WH1", 10)]).await;
    let wave = json!({"selector": {"sku_prefix": "WAVE"}, "channels": {"sms": true}});
    app.create_rule("rule-wave", low_stock(3, 6, wave)).await;
    for i in 0..4 {
        held(&app, &format!("w-{i}"), &[("WAVE", "WH1", 2)], 15).await;
    }
    app.process_stream().await;
    let alerts = app.alerts("state=firing").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["sku"], "WAVE");
}

#[tokio::test]
async fn availability_answers_a_listing_page_and_lists_unknown_skus() {
    let app = spawn_stocked(&[("P1", "WH1", 5), ("P2", "WH2", 3)]).await;
    app.create_location("WH1").await;
    held(&app, "cart", &[("P1", "WH1", 2)], 15).await;
    let body = app
        .read("/v1/availability?items=P1@WH1,P2@WH1,P2@WH2,GHOST@WH1")
        .await;
    assert_eq!(body["consistency"], "eventual");
    assert_eq!(body["unknown_skus"], json!(["GHOST"]));
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        (items[0]["available"].clone(), items[0]["reserved"].clone()),
        (json!(3), json!(2))
    );
    assert_eq!(items[1]["stocked"], false);
    assert_eq!(items[2]["available"], 3);
    // SKUs with every location they are stocked at, strongly consistent.
    let strong = app
        .read("/v1/availability?skus=P1,P2&consistency=strong")
        .await;
    let items = strong["items"].as_array().cloned().unwrap();
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(strong["consistency"], "strong");
    // 101 pairs, both forms at once, a bad pair: refused with the parameter named.
    let many: Vec<String> = (0..101).map(|i| format!("S{i}@WH1")).collect();
    for query in [
        format!("items={}", many.join(",")),
        "items=P1@WH1&skus=P1".to_owned(),
        "items=P1".to_owned(),
        "items=P1@WH1&consistency=maybe".to_owned(),
        "".to_owned(),
        "skus=P1&colour=red".to_owned(),
    ] {
        let r = app
            .get(&format!("/v1/availability?{query}"), Role::ReadOnly)
            .await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
    }
}

/// A hostile request: method, path, Idempotency-Key, body, and the status it must get.
type Case = (
    Method,
    String,
    Option<&'static str>,
    Option<&'static [u8]>,
    StatusCode,
);

#[tokio::test]
async fn hostile_input_on_every_reservation_route_gets_a_clear_4xx() {
    let app = spawn_stocked(&[("H", "WH1", 5)]).await;
    let id = held(&app, "h", &[("H", "WH1", 1)], 15).await;
    let sell = app.token(Role::Storefront);
    let cases: Vec<Case> = vec![
        (Method::POST, "/v1/reservations".into(), Some("k1"), Some(b"{"), StatusCode::BAD_REQUEST),
        (Method::POST, "/v1/reservations".into(), Some("k2"), Some(b"[]"), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, "/v1/reservations".into(), Some("k3"), Some(br#"{"lines":[]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, "/v1/reservations".into(), Some("k4"), Some(br#"{"lines":[{"sku":"H","location":"WH1","quantity":0}]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, "/v1/reservations".into(), Some("k5"), Some(br#"{"lines":[{"sku":"H","location":"WH1","quantity":1}],"ttl_minutes":1441}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, "/v1/reservations".into(), Some("k6"), Some(br#"{"lines":[{"sku":"H","location":"WH1","quantity":1},{"sku":"H","location":"WH1","quantity":1}]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, "/v1/reservations".into(), Some("k7"), Some(br#"{"lines":[{"sku":"H","location":"WH1","quantity":1e9}]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, "/v1/reservations".into(), Some("k8"), Some(br#"{"lines":[{"sku":"../x","location":"WH1","quantity":1}]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, "/v1/reservations".into(), Some("k9"), Some(br#"{"lines":[{"sku":"H","location":"WH1","quantity":1}],"extra":1}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, "/v1/reservations".into(), None, Some(br#"{"lines":[{"sku":"H","location":"WH1","quantity":1}]}"#), StatusCode::BAD_REQUEST),
        (Method::GET, "/v1/reservations/nope".into(), None, None, StatusCode::BAD_REQUEST),
        (Method::GET, "/v1/reservations/rs_000000000000000000000000".into(), None, None, StatusCode::NOT_FOUND),
        (Method::POST, "/v1/reservations/rs_000000000000000000000000/commit".into(), None, Some(br#"{"order_id":"X"}"#), StatusCode::NOT_FOUND),
        (Method::POST, "/v1/reservations/rs_000000000000000000000000/release".into(), None, None, StatusCode::NOT_FOUND),
        (Method::POST, format!("/v1/reservations/{id}/extend"), None, Some(br#"{"ttl_minutes":0}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, format!("/v1/reservations/{id}/extend"), None, Some(br#"{}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, format!("/v1/reservations/{id}/release"), None, Some(br#"{"why":"x"}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, format!("/v1/reservations/{id}/commit"), None, Some(br#"{"order_id":""}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, format!("/v1/reservations/{id}/commit"), None, Some(br#"{"order_id":"O","lines":[{"sku":"H","location":"WH1","quantity":2}]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, format!("/v1/reservations/{id}/commit"), None, Some(br#"{"order_id":"O","lines":[{"sku":"Z","location":"WH1","quantity":1}]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, format!("/v1/reservations/{id}/commit"), None, Some(br#"{"order_id":"O","lines":[{"sku":"H","location":"WH1","quantity":0}]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::POST, format!("/v1/reservations/{id}/commit"), None, Some(br#"{"order_id":"O","lines":[{"sku":"H","location":"WH1","quantity":-1}]}"#), StatusCode::UNPROCESSABLE_ENTITY),
        (Method::GET, "/v1/skus/H/reservations?limit=0".into(), None, None, StatusCode::BAD_REQUEST),
        (Method::GET, "/v1/skus/H/reservations?cursor=bm9wZQ".into(), None, None, StatusCode::BAD_REQUEST),
        (Method::GET, "/v1/skus/H/reservations?location=%2F".into(), None, None, StatusCode::BAD_REQUEST),
    ];
    for (method, path, key, body, status) in cases {
        let mut headers = vec![("authorization", format!("Bearer {sell}"))];
        if let Some(k) = key {
            headers.push(("idempotency-key", k.to_owned()));
        }
        if body.is_some() {
            headers.push(("content-type", "application/json".to_owned()));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let r = app
            .api
            .send(method.clone(), &path, &headers, body.map(<[u8]>::to_vec))
            .await
            .unwrap();
        assert_eq!(r.status, status, "{method} {path}: {:?}", r.json());
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{method} {path}"
        );
    }
    // Nothing changed: the one hold is still the only one, and still active.
    assert_eq!(app.level("H", "WH1").await, Some((5, 1, 0, 4)));
    let r = app
        .get(&format!("/v1/reservations/{id}"), Role::Storefront)
        .await;
    assert_eq!(r.json()["status"], "active");
    // A read-only token may read but not hold.
    let r = app
        .post(
            "/v1/reservations",
            Role::ReadOnly,
            "ro",
            hold_body(&[("H", "WH1", 1)], 5),
        )
        .await;
    assert_edge_forbidden(&r);
}

#[tokio::test]
async fn one_run_of_the_expiry_function_gives_back_a_hold_at_its_time_not_a_minute_later() {
    let app = spawn_stocked(&[("SOON", "WH1", 3)]).await;
    let id = held(&app, "soon", &[("SOON", "WH1", 3)], 1).await;
    // The schedule starts a run 58 s into the hold's minute: nothing is due yet, but the hold
    // falls due 2 s into the run, which waits for it instead of leaving it to the next run.
    app.advance_clock(58);
    let started = std::time::Instant::now();
    let report = app
        .expiry
        .run_for(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!((report.expired, report.failed), (1, 0), "{report:?}");
    assert!(report.passes >= 2, "{report:?}");
    assert!(waited.as_millis() >= 1_000, "{waited:?}");
    // Given back within a second of its end (by the same clock), and the run stopped then.
    let r = app
        .read_as(&format!("/v1/reservations/{id}"), Role::Storefront)
        .await;
    assert_eq!(r["status"], "expired");
    let at = |field: &str| {
        time::OffsetDateTime::parse(
            r[field].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let late = at("closed_at") - at("expires_at");
    assert!(
        late >= time::Duration::ZERO && late < time::Duration::seconds(1),
        "{late}"
    );
    assert!(waited.as_secs() < 10, "{waited:?}");
    assert_eq!(app.level("SOON", "WH1").await, Some((3, 0, 0, 3)));
}

#[tokio::test]
async fn a_five_line_cart_commits_on_levels_that_sold_nothing_for_hours() {
    let app = spawn_app().await;
    let skus = ["Q1", "Q2", "Q3", "Q4", "Q5"];
    for sku in skus {
        app.stocked(sku, "WH1", 10).await;
    }
    // Hours later no level has counted anything this hour: each line's counters must be rolled
    // forward, all learned from one cancelled attempt.
    app.advance_clock(3 * 3600);
    let lines: Vec<(&str, &str, i64)> = skus.iter().map(|s| (*s, "WH1", 2)).collect();
    let id = held(&app, "big-cart", &lines, 15).await;
    let before = app.requests.get();
    let r = step(&app, &id, "commit", json!({"order_id": "BIG-1"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    // The read, the cancelled attempt, and the attempt that applied (plus the explaining reads).
    let sent = app.requests.get() - before;
    assert!(sent <= 4, "{sent} requests");
    for sku in skus {
        assert_eq!(app.level(sku, "WH1").await, Some((8, 0, 0, 8)));
        let daily = app
            .get(&format!("/v1/skus/{sku}/daily?days=1"), Role::ReadOnly)
            .await;
        assert_eq!(daily.status, StatusCode::OK, "{:?}", daily.json());
        assert_eq!(daily.json()["days"][0]["sold"], 2, "{:?}", daily.json());
    }
}

#[tokio::test]
async fn a_skus_holds_are_listed_page_by_page_and_a_cursor_of_another_location_is_refused() {
    let app = spawn_stocked(&[("PAGE", "WH1", 10), ("PAGE", "WH2", 10)]).await;
    for i in 0..3 {
        held(&app, &format!("p-{i}"), &[("PAGE", "WH1", 1)], 15).await;
    }
    held(&app, "p-wh2", &[("PAGE", "WH2", 1)], 15).await;
    app.process_stream().await;
    let wh1 = "/v1/skus/PAGE/reservations?location=WH1&limit=2";
    let pages = app.pages_as(wh1, Role::Storefront).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 1], "{pages:?}");
    let cursor = app.read_as(wh1, Role::Storefront).await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let all = app
        .read_as("/v1/skus/PAGE/reservations", Role::Storefront)
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4, "{all}");
    // A cursor serves only the listing it came from.
    for path in [
        format!("/v1/skus/PAGE/reservations?location=WH2&cursor={cursor}"),
        format!("/v1/skus/OTHER/reservations?cursor={cursor}"),
    ] {
        let r = app.get(&path, Role::ReadOnly).await;
        assert_problem(&r, StatusCode::BAD_REQUEST, "invalid-parameter");
    }
}

#[tokio::test]
async fn an_expiry_index_shard_that_cannot_be_read_holds_back_only_its_own_holds() {
    let app = spawn_stocked(&[("SHARD", "WH1", 12)]).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(held(&app, &format!("s-{i}"), &[("SHARD", "WH1", 1)], 1).await);
    }
    let broken = shared::schema::keys::expiry_shard(&ids[0]);
    let in_broken = ids
        .iter()
        .filter(|id| shared::schema::keys::expiry_shard(id) == broken)
        .count() as u64;
    app.advance_clock(61);
    let query = FaultRule::new(
        Service::DynamoDb,
        "Query",
        Fault::ServerError,
        Schedule::Always,
    );
    app.inject(query.containing(&broken));
    let first = app.expire_holds().await;
    app.dynamodb_proxy.heal();
    assert_eq!(first.shards_failed, 1, "{first:?}");
    assert_eq!(first.expired, 12 - in_broken, "{first:?}");
    let second = app.expire_holds().await;
    assert_eq!(
        (second.expired, second.shards_failed),
        (in_broken, 0),
        "{second:?}"
    );
    assert_eq!(app.level("SHARD", "WH1").await, Some((12, 0, 0, 12)));
}

#[tokio::test]
async fn a_hold_belongs_to_the_storefront_that_made_it_and_lives_one_day_at_most() {
    let app = spawn_stocked(&[("MUG", "WH1", 10)]).await;
    let id = held(&app, "cart-a", &[("MUG", "WH1", 2)], 15).await;
    app.process_stream().await;
    let other = Role::OtherStorefront;

    // Another storefront cannot read, list, extend, release or commit it: to it the hold does
    // not exist.
    let r = app.get(&format!("/v1/reservations/{id}"), other).await;
    assert_problem(&r, StatusCode::NOT_FOUND, "reservation-not-found");
    let listed = app.read_as("/v1/skus/MUG/reservations", other).await;
    assert_eq!(listed["items"], json!([]), "{listed}");
    for (action, body) in [
        ("extend", json!({"ttl_minutes": 60})),
        ("release", json!({})),
        ("commit", json!({"order_id": "THEFT-1"})),
    ] {
        let r = step_as(&app, other, &id, action, body).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "reservation-not-found");
    }
    // Nor can it take the hold over by replaying its Idempotency-Key.
    let r = app
        .post(
            "/v1/reservations",
            other,
            "cart-a",
            hold_body(&[("MUG", "WH1", 2)], 15),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_ne!(r.json()["reservation_id"], id.as_str(), "its own hold");
    assert_eq!(r.json()["owner"], "shop-2");
    // Nothing of the first hold changed; 4 units are held in all.
    assert_eq!(app.level("MUG", "WH1").await, Some((10, 4, 0, 6)));
    let mine = app
        .read_as(&format!("/v1/reservations/{id}"), Role::Storefront)
        .await;
    assert_eq!(
        (&mine["status"], &mine["extensions"], &mine["owner"]),
        (&json!("active"), &json!(0), &json!("shop-1"))
    );
    // Its owner lists only its own; ops list and read both.
    app.process_stream().await;
    let listed = app
        .read_as("/v1/skus/MUG/reservations", Role::Storefront)
        .await;
    let ids: Vec<&Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["reservation_id"])
        .collect();
    assert_eq!(ids, vec![&json!(id)]);
    let all = app.read_as("/v1/skus/MUG/reservations", Role::Ops).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");
    let r = app.get(&format!("/v1/reservations/{id}"), Role::Ops).await;
    assert_eq!(r.status, StatusCode::OK);

    // A hold lives at most a day from its creation, however it is extended.
    app.advance_clock(10 * 60);
    let r = step(&app, &id, "extend", json!({"ttl_minutes": 1440})).await;
    let p = assert_problem(&r, StatusCode::CONFLICT, "hold-lifetime-exceeded");
    assert_eq!(p["max_lifetime_minutes"], 1440);
    assert_eq!(p["created_at"], mine["created_at"]);
    let created = time::OffsetDateTime::parse(
        mine["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let latest = time::OffsetDateTime::parse(
        p["latest_expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(latest - created, time::Duration::hours(24));
    assert_eq!(
        app.read_as(&format!("/v1/reservations/{id}"), Role::Storefront)
            .await["extensions"],
        0
    );
    // Within the limit is fine: 23 h 40 min from now is a little under a day after its creation.
    let r = step(&app, &id, "extend", json!({"ttl_minutes": 1420})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert!(r.json()["expires_at"].as_str().unwrap() < p["latest_expires_at"].as_str().unwrap());
    assert_eq!(r.json()["extensions"], 1);
    // The same extend retried (its answer lost, say) is answered as before and moves nothing.
    app.advance_clock(60);
    let again = step(&app, &id, "extend", json!({"ttl_minutes": 1420})).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.json());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json()["expires_at"], r.json()["expires_at"]);
    assert_eq!(again.json()["extensions"], 1);
    // The same key for another extend is refused.
    let reused = step(&app, &id, "extend", json!({"ttl_minutes": 30})).await;
    assert_problem(
        &reused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    );
    // Ops release the other storefront's hold (an admin acts on any).
    let their = app.read_as("/v1/skus/MUG/reservations", other).await["items"][0]["reservation_id"]
        .as_str()
        .map(str::to_owned);
    let their = their.expect("the second storefront lists its own hold");
    let r = step_as(&app, Role::Ops, &their, "release", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    assert_eq!(app.level("MUG", "WH1").await, Some((10, 2, 0, 8)));
}
