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
