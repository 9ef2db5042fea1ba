//! Write-offs (`POST /v1/writeoffs`): stock taken out of on_hand with a reason code, seen in the
//! ledger, the daily counters and the snapshot report (units and shrinkage at unit cost); refused
//! with a clear problem when it cannot be, changing nothing; on a level written before write-offs
//! existed (no write-off ring yet) as on any other. Stocktake counts carry a reason code too.

use serde_json::{json, Value};
use shared::schema::keys;
use system_tests::*;

const DAY: i64 = 86_400;

fn write_off(sku: &str, quantity: i64, code: &str) -> Value {
    json!({ "sku": sku, "location": "WH1", "quantity": quantity, "reason_code": code })
}

/// The day's snapshot rows from the JSON Lines dataset, by SKU.
async fn snapshot(app: &TestApp) -> std::collections::BTreeMap<String, Value> {
    let now = app.now();
    let manifest = app.reports.run(now / DAY, now).await.expect("report run");
    let mut rows = std::collections::BTreeMap::new();
    for o in &manifest.objects {
        if o.key.starts_with("reports/snapshot-jsonl/") {
            let text = String::from_utf8(app.object(&o.key).await).unwrap();
            for line in text.lines() {
                let row: Value = serde_json::from_str(line).unwrap();
                rows.insert(row["sku"].as_str().unwrap().to_owned(), row);
            }
        }
    }
    rows
}

#[tokio::test]
async fn a_write_off_takes_stock_out_with_its_reason_into_ledger_counters_and_report() {
    let app = spawn_app().await;
    app.stocked("W", "WH1", 20).await;
    app.replaced(
        "/v1/skus/W",
        json!({ "name": "W", "unit_cost": 2.5, "currency": "EUR" }),
    )
    .await;

    let mut body = write_off("W", 3, "damaged");
    body["note"] = json!("pallet crushed by a forklift");
    let answer = app
        .created("/v1/writeoffs", Role::Ops, "wo-1", body.clone())
        .await;
    assert_eq!(answer["kind"], "write_off");
    assert_eq!(answer["reason_code"], "damaged");
    assert_eq!(answer["reason"], "pallet crushed by a forklift");
    assert_eq!(answer["lines"][0]["delta"]["on_hand"], -3);
    assert_eq!(app.level("W", "WH1").await, Some((17, 0, 0, 17)));

    // The same request again is the same write-off.
    let again = app.post("/v1/writeoffs", Role::Ops, "wo-1", body).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.json(), answer);
    assert_eq!(app.level("W", "WH1").await, Some((17, 0, 0, 17)));

    app.process_stream().await;
    let ledger = app.ledger("W").await;
    let entry = &ledger[0];
    assert_eq!(entry["kind"], "write_off", "{entry}");
    assert_eq!(entry["reason_code"], "damaged");
    assert_eq!(entry["reason"], "pallet crushed by a forklift");
    assert_eq!(entry["before"]["on_hand"], 20);
    assert_eq!(entry["after"]["on_hand"], 17);
    assert_eq!(ledger.len(), 2, "the receipt and one write-off: {ledger:?}");

    let daily = app.get("/v1/skus/W/daily?days=1", Role::ReadOnly).await;
    assert_eq!(daily.status, StatusCode::OK);
    let today = &daily.json()["days"][0];
    assert_eq!(
        (&today["written_off"], &today["sold"], &today["received"]),
        (&json!(3), &json!(0), &json!(20)),
        "{today}"
    );

    let rows = snapshot(&app).await;
    let row = &rows["W"];
    assert_eq!(row["on_hand"], 17);
    assert_eq!(row["written_off"], 3);
    assert_eq!(row["written_off_30d"], 3);
    assert_eq!(row["sold"], 0);
    assert_eq!(row["net_change"], 17, "20 received − 3 written off");
    assert_eq!(row["shrinkage_value_30d"].as_f64(), Some(7.5));
}

#[tokio::test]
async fn a_write_off_that_cannot_be_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.stocked("W", "WH1", 5).await;

    // Each refusal: its body, then the problem's status and slug.
    let without_code = json!({ "sku": "W", "location": "WH1", "quantity": 1 });
    let (conflict, invalid, not_found) = (
        StatusCode::CONFLICT,
        StatusCode::UNPROCESSABLE_ENTITY,
        StatusCode::NOT_FOUND,
    );
    let refusals = [
        (write_off("W", 6, "lost"), conflict, "insufficient-stock"),
        (write_off("W", 1, "broken"), invalid, "validation"),
        (without_code, invalid, "validation"),
        (write_off("NOPE", 1, "theft"), not_found, "sku-not-found"),
    ];
    let mut problems = Vec::new();
    for (i, (body, status, slug)) in refusals.into_iter().enumerate() {
        let key = format!("k{}", i + 1);
        let r = app.post("/v1/writeoffs", Role::Ops, &key, body).await;
        problems.push(assert_problem(&r, status, slug));
    }
    let [short, code, no_code, _unknown] = &problems[..] else {
        unreachable!("one problem per refusal")
    };
    assert_eq!(short["available"], 5);
    assert_eq!(code["errors"][0]["field"], "reason_code", "{code}");
    assert!(
        no_code["detail"].as_str().unwrap().contains("reason_code"),
        "{no_code}"
    );

    // Storefronts sell; they do not write stock off.
    let storefront = app
        .post(
            "/v1/writeoffs",
            Role::Storefront,
            "k5",
            write_off("W", 1, "theft"),
        )
        .await;
    assert_edge_forbidden(&storefront);

    assert_eq!(app.level("W", "WH1").await, Some((5, 0, 0, 5)));
    app.process_stream().await;
    assert_eq!(app.ledger("W").await.len(), 1, "the receipt alone");
}

#[tokio::test]
async fn a_level_from_before_write_offs_gets_its_ring_at_its_first_write_off() {
    let app = spawn_app().await;
    app.stocked("OLD", "WH1", 10).await;
    // A level written before write-offs existed has no write-off ring.
    app.dynamodb
        .update_item()
        .table_name(&app.table)
        .set_key(Some(keys::key(keys::sku("OLD"), keys::location("WH1"))))
        .update_expression("REMOVE wo_d")
        .send()
        .await
        .unwrap();

    let written_off = |key: &'static str, quantity: i64, code: &'static str| {
        app.created(
            "/v1/writeoffs",
            Role::Ops,
            key,
            write_off("OLD", quantity, code),
        )
    };
    written_off("old-1", 4, "expired").await;
    app.sell("old-sale", "OLD", 1).await;
    written_off("old-2", 2, "other").await;
    assert_eq!(app.level("OLD", "WH1").await, Some((3, 0, 0, 3)));

    let daily = app.get("/v1/skus/OLD/daily?days=2", Role::ReadOnly).await;
    let today = &daily.json()["days"][1];
    assert_eq!(
        (&today["written_off"], &today["sold"], &today["received"]),
        (&json!(6), &json!(1), &json!(10)),
        "{today}"
    );
}

#[tokio::test]
async fn a_count_carries_a_reason_code_from_the_same_list() {
    let app = spawn_app().await;
    app.stocked("C", "WH1", 10).await;
    let count = |key: &'static str, code: &str| {
        let body = json!({
            "sku": "C", "location": "WH1", "counted": 8, "expected": 10,
            "reason": "shelf count", "reason_code": code,
        });
        app.post("/v1/adjustments", Role::Ops, key, body)
    };
    let bad = count("c1", "vanished").await;
    let problem = assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(problem["errors"][0]["field"], "reason_code", "{problem}");

    let r = count("c2", "theft").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["reason_code"], "theft");
    app.process_stream().await;
    let entry = &app.ledger("C").await[0];
    assert_eq!(
        (
            &entry["kind"],
            &entry["reason_code"],
            &entry["after"]["on_hand"]
        ),
        (&json!("adjustment"), &json!("theft"), &json!(8)),
        "{entry}"
    );
}
