//! Counts taken while trading: a count applies as of when the shelf was counted, keeping the
//! movements after it; an older count never undoes a newer one; a count whose level's ledger
//! is behind waits for it. Through the API and the stocktake import, on the controllable clock.

use serde_json::{json, Value};
use system_tests::*;

/// RFC 3339 (milliseconds, UTC) of `unix` seconds, as a counter's device would send it.
fn at(unix: i64) -> String {
    shared::clock::rfc3339_millis(unix * 1000)
}

fn count(sku: &str, counted: i64, counted_at: &str) -> Value {
    json!({ "sku": sku, "location": "WH1", "counted": counted, "reason": "cycle count",
            "counted_at": counted_at })
}

async fn upload(app: &TestApp, key: &str, file: &str) -> String {
    let auth = format!("Bearer {}", app.token(Role::Ops));
    let r = app
        .api
        .send(
            Method::POST,
            "/v1/stocktakes",
            &[
                ("authorization", &auth),
                ("idempotency-key", key),
                ("content-type", "text/csv"),
            ],
            Some(file.as_bytes().to_vec()),
        )
        .await
        .expect("HTTP call");
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.json());
    r.json()["import_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_count_imported_after_sales_keeps_the_sales_made_since_it_was_taken() {
    let app = spawn_stocked(&[("MUG", "WH1", 20)]).await;
    app.project().await;
    // 08:00: the shelf is counted at 10 (20 on the books: 10 went missing).
    app.advance_clock(60);
    let counted_at = at(app.now());
    // By 09:00, 3 are sold; the count is imported at 09:05.
    app.advance_clock(3600);
    app.sell("s-1", "MUG", 2).await;
    app.sell("s-2", "MUG", 1).await;
    app.project().await;
    app.advance_clock(300);
    let file = format!("sku,location,counted,counted_at\nMUG,WH1,10,{counted_at}\n");
    let id = upload(&app, "st-1", &file).await;
    assert_eq!(app.run_imports().await, 1);
    let done = app.read(&format!("/v1/stocktakes/{id}")).await;
    assert_eq!(
        (done["status"].as_str(), done["applied"].as_u64()),
        (Some("done"), Some(1)),
        "{done}"
    );
    // 10 counted, 3 sold since: 7 on the shelf, not 10 (3 phantom units) nor 17 - 3.
    assert_eq!(app.level("MUG", "WH1").await, Some((7, 0, 0, 7)));
    app.project().await;
    let ledger = app.ledger("MUG").await;
    assert_eq!(ledger[0]["kind"], "adjustment");
    assert_eq!(ledger[0]["counted"], 10);
    assert_eq!(ledger[0]["counted_at"], counted_at.as_str());
    assert_eq!(ledger[0]["moved_since"], -3);
    assert_eq!(ledger[0]["after"]["on_hand"], 7);

    // The same through the API: counted 9 an hour ago, received 4 since → 13.
    let earlier = at(app.now() - 60);
    app.advance_clock(60);
    app.receive("MUG", "WH1", 4).await;
    app.project().await;
    let body = app
        .created(
            "/v1/adjustments",
            Role::Ops,
            "adj-1",
            count("MUG", 9, &earlier),
        )
        .await;
    assert_eq!(body["lines"][0]["moved_since"], 4, "{body}");
    assert_eq!(body["lines"][0]["on_hand"], 13);
    assert_eq!(app.level("MUG", "WH1").await, Some((13, 0, 0, 13)));
}

#[tokio::test]
async fn of_two_counts_of_a_level_the_newer_stands_whatever_order_they_arrive_in() {
    let app = spawn_stocked(&[("LAMP", "WH1", 8)]).await;
    app.advance_clock(60);
    let older = at(app.now());
    app.advance_clock(60);
    let newer = at(app.now());
    app.advance_clock(60);
    // The newer count arrives first, by import; the older one after it, through the API.
    let id = upload(
        &app,
        "st-new",
        &format!("sku,location,counted,counted_at\nLAMP,WH1,5,{newer}\n"),
    )
    .await;
    app.run_imports().await;
    assert_eq!(
        app.read(&format!("/v1/stocktakes/{id}")).await["applied"],
        1
    );
    let r = app
        .post(
            "/v1/adjustments",
            Role::Ops,
            "adj-old",
            count("LAMP", 6, &older),
        )
        .await;
    let problem = assert_problem(&r, StatusCode::CONFLICT, "stale-count");
    assert_eq!(problem["latest_counted_at"], newer.as_str());
    assert_eq!(app.level("LAMP", "WH1").await, Some((5, 0, 0, 5)));
    let sku = app.read("/v1/skus/LAMP").await;
    assert_eq!(sku["levels"][0]["last_counted_at"], newer.as_str(), "{sku}");

    // Two imports of one level applied in reverse order: the older is refused line by line.
    let old_import = upload(
        &app,
        "st-old",
        &format!("sku,location,counted,counted_at\nLAMP,WH1,6,{older}\n"),
    )
    .await;
    app.run_imports().await;
    let done = app.read(&format!("/v1/stocktakes/{old_import}")).await;
    assert_eq!(done["failed"], 1, "{done}");
    assert_eq!(done["failures"][0]["type"], "/problems/stale-count");
    assert_eq!(app.level("LAMP", "WH1").await, Some((5, 0, 0, 5)));

    // A count at the very time of the newest applies (a recount of the same moment).
    app.created(
        "/v1/adjustments",
        Role::Ops,
        "adj-same",
        count("LAMP", 4, &newer),
    )
    .await;
    assert_eq!(app.level("LAMP", "WH1").await, Some((4, 0, 0, 4)));
}

#[tokio::test]
async fn a_count_waits_for_the_ledger_and_changes_nothing_until_it_has_caught_up() {
    let app = spawn_stocked(&[("CUP", "WH1", 12)]).await;
    app.project().await;
    app.advance_clock(60);
    let counted_at = at(app.now());
    app.advance_clock(60);
    app.sell("s-1", "CUP", 5).await;
    // The sale's ledger entry is not written yet (the stream has not been read): the sum of what
    // moved since the count cannot be trusted, so nothing is written.
    let r = app
        .post(
            "/v1/adjustments",
            Role::Ops,
            "adj-1",
            count("CUP", 10, &counted_at),
        )
        .await;
    assert_problem(&r, StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert_eq!(app.level("CUP", "WH1").await, Some((7, 0, 0, 7)));
    // Once it is, the same request applies: 10 counted, 5 sold since.
    app.project().await;
    app.created(
        "/v1/adjustments",
        Role::Ops,
        "adj-1",
        count("CUP", 10, &counted_at),
    )
    .await;
    assert_eq!(app.level("CUP", "WH1").await, Some((5, 0, 0, 5)));

    // An import waits without holding up the stream that would bring its ledger up to date
    // (the import runs on it): the file is uploaded, a sale follows on the stream, the import
    // finds the sale's entry missing, is queued again behind it, and applies on its next run.
    app.advance_clock(60);
    let second = at(app.now());
    app.advance_clock(60);
    let id = upload(
        &app,
        "st-1",
        &format!("sku,location,counted,counted_at\nCUP,WH1,3,{second}\n"),
    )
    .await;
    app.sell("s-2", "CUP", 1).await;
    assert_eq!(app.run_imports().await, 1);
    let waiting = app.read(&format!("/v1/stocktakes/{id}")).await;
    assert_eq!(waiting["status"], "queued", "{waiting}");
    assert_eq!(app.level("CUP", "WH1").await, Some((4, 0, 0, 4)));
    assert_eq!(app.run_imports().await, 1);
    let done = app.read(&format!("/v1/stocktakes/{id}")).await;
    assert_eq!(
        (done["status"].as_str(), done["applied"].as_u64()),
        (Some("done"), Some(1)),
        "{done}"
    );
    assert_eq!(app.level("CUP", "WH1").await, Some((2, 0, 0, 2)));
    assert_eq!(app.dead_letters().await, 0);
}

#[tokio::test]
async fn a_count_time_in_the_future_or_too_old_is_refused_naming_the_field() {
    let app = spawn_stocked(&[("PEN", "WH1", 3)]).await;
    for (key, when) in [
        ("f", at(app.now() + 3600)),
        ("o", at(app.now() - 31 * 86_400)),
        ("x", "yesterday".to_owned()),
    ] {
        let r = app
            .post("/v1/adjustments", Role::Ops, key, count("PEN", 1, &when))
            .await;
        let problem = assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation");
        assert_eq!(problem["errors"][0]["field"], "counted_at", "{problem}");
    }
    assert_eq!(app.level("PEN", "WH1").await, Some((3, 0, 0, 3)));
}

async fn hold(app: &TestApp, key: &str, quantity: i64) -> String {
    let body = json!({ "lines": [{ "sku": "BAG", "location": "WH1", "quantity": quantity }],
                       "ttl_minutes": 30 });
    let r = app
        .post("/v1/reservations", Role::Storefront, key, body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    r.json()["reservation_id"].as_str().unwrap().to_owned()
}

async fn step(app: &TestApp, id: &str, action: &str, body: Value) -> ApiResponse {
    let path = format!("/v1/reservations/{id}/{action}");
    app.post(&path, Role::Storefront, &format!("{action}-{id}"), body)
        .await
}

#[tokio::test]
async fn a_count_below_what_carts_hold_cuts_the_newest_holds_short_and_nothing_commits_missing_units(
) {
    let app = spawn_stocked(&[("BAG", "WH1", 5)]).await;
    app.create_rule(
        "r-1",
        json!({ "name": "Carts short", "kind": "holds_short", "severity": "critical",
                "channels": { "sms": true } }),
    )
    .await;
    // Three carts hold all 5: the oldest 2, then 2, then the newest 1.
    let oldest = hold(&app, "h-1", 2).await;
    app.advance_clock(1);
    let middle = hold(&app, "h-2", 2).await;
    app.advance_clock(1);
    let newest = hold(&app, "h-3", 1).await;
    app.project().await;
    assert_eq!(app.level("BAG", "WH1").await, Some((5, 5, 0, 0)));

    // The shelf holds 2: the count applies, and the newest holds are cut to fit.
    app.advance_clock(1);
    let counted = json!({ "sku": "BAG", "location": "WH1", "counted": 2, "reason": "cycle count" });
    app.created("/v1/adjustments", Role::Ops, "adj-1", counted)
        .await;
    assert_eq!(app.level("BAG", "WH1").await, Some((2, 2, 0, 0)));
    let line = |r: &Value| r["lines"][0].clone();
    let seen = app
        .read_as(&format!("/v1/reservations/{newest}"), Role::Storefront)
        .await;
    assert_eq!(seen["status"], "active");
    assert_eq!(
        (
            line(&seen)["quantity"].as_i64(),
            line(&seen)["short"].as_i64()
        ),
        (Some(0), Some(1)),
        "{seen}"
    );
    let seen = app
        .read_as(&format!("/v1/reservations/{middle}"), Role::Storefront)
        .await;
    assert_eq!(
        (
            line(&seen)["quantity"].as_i64(),
            line(&seen)["short"].as_i64()
        ),
        (Some(0), Some(2)),
        "{seen}"
    );
    let seen = app
        .read_as(&format!("/v1/reservations/{oldest}"), Role::Storefront)
        .await;
    assert_eq!(
        (line(&seen)["quantity"].as_i64(), line(&seen).get("short")),
        (Some(2), None),
        "{seen}"
    );
    app.process_stream().await;
    let ledger = app.ledger("BAG").await;
    assert_eq!(ledger[0]["kind"], "adjustment");
    assert_eq!(ledger[0]["after"]["reserved"], 2);
    // Ops hear of it once: 3 held units are not on the shelf.
    let open = app.alerts("state=firing").await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["kind"], "holds_short");
    let sent = app.published().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].subject.contains("3 held units"), "{sent:?}");

    // A cut hold commits nothing that is not there: not what it held before, not by default.
    let r = step(&app, &middle, "commit", json!({ "order_id": "web-2", "lines": [{ "sku": "BAG", "location": "WH1", "quantity": 2 }] })).await;
    let problem = assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cut short"),
        "{problem}"
    );
    let r = step(&app, &newest, "commit", json!({ "order_id": "web-3" })).await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(app.level("BAG", "WH1").await, Some((2, 2, 0, 0)));

    // The oldest cart still gets its 2; the cut carts are released and give back nothing.
    let r = step(&app, &oldest, "commit", json!({ "order_id": "web-1" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    for id in [&middle, &newest] {
        let r = step(&app, id, "release", json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    }
    assert_eq!(app.level("BAG", "WH1").await, Some((0, 0, 0, 0)));
    // Every cut hold closed: the alert resolves.
    app.process_stream().await;
    assert!(app.alerts("state=firing").await.is_empty());
    assert_eq!(
        app.published().await.len(),
        1,
        "no resolve notice was asked for"
    );
    assert_eq!(app.dead_letters().await, 0);
}
