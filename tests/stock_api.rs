//! The stock API through HTTP and DynamoDB Local: movements, errors, idempotency and contention.

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::proxy::{Fault, FaultRule, Schedule, Service};
use serde_json::{json, Value};
use system_tests::*;

fn sale(sku: &str, location: &str, quantity: i64) -> Value {
    json!({ "sku": sku, "location": location, "quantity": quantity })
}

/// `sku` has `on_hand` units at WH1, none of them reserved or on the way, and `entries` ledger
/// entries: what a refused or replayed request leaves behind.
async fn assert_stock(app: &TestApp, sku: &str, on_hand: i64, entries: usize) {
    let level = Some((on_hand, 0, 0, on_hand));
    assert_eq!(app.level(sku, "WH1").await, level, "{sku}");
    assert_eq!(app.ledger(sku).await.len(), entries, "{sku}'s ledger");
}

#[tokio::test]
async fn a_sku_carries_an_exact_unit_cost_in_its_currency_and_loses_it_when_replaced_without() {
    let app = spawn_app().await;
    let put = |body: Value| app.put("/v1/skus/COST-1", Role::Ops, body);
    let r = put(json!({ "name": "Mug", "unit_cost": 12.5, "currency": "EUR" })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(
        (r.json()["unit_cost"].clone(), r.json()["currency"].clone()),
        (json!(12.5), json!("EUR"))
    );
    let read = app.read("/v1/skus/COST-1").await;
    assert_eq!(
        (read["unit_cost"].clone(), read["currency"].clone()),
        (json!(12.5), json!("EUR"))
    );
    for (body, fields) in [
        (
            json!({ "name": "Mug", "unit_cost": -1, "currency": "EUR" }),
            vec!["unit_cost"],
        ),
        (
            json!({ "name": "Mug", "unit_cost": 1.23456, "currency": "EUR" }),
            vec!["unit_cost"],
        ),
        (
            json!({ "name": "Mug", "unit_cost": 1e12, "currency": "EUR" }),
            vec!["unit_cost"],
        ),
        (
            json!({ "name": "Mug", "unit_cost": 3, "currency": "euro" }),
            vec!["currency"],
        ),
        (json!({ "name": "Mug", "unit_cost": 3 }), vec!["currency"]),
        (
            json!({ "name": "Mug", "currency": "EUR" }),
            vec!["unit_cost"],
        ),
    ] {
        assert_invalid(&put(body.clone()).await, &fields, &body.to_string());
    }
    let unchanged = app.read("/v1/skus/COST-1").await;
    assert_eq!(
        unchanged["unit_cost"],
        json!(12.5),
        "a refused PUT changes nothing"
    );
    let replaced = put(json!({ "name": "Mug" })).await.json();
    assert!(
        replaced.get("unit_cost").is_none() && replaced.get("currency").is_none(),
        "{replaced}"
    );
}

#[tokio::test]
async fn a_sku_carries_its_supply_facts_and_bad_ones_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let put = |body: Value| app.put("/v1/skus/BUY-1", Role::Ops, body);
    let supply = json!({
        "supplier": "ACME-TEXTILES", "lead_time_days": 10, "min_order_qty": 48, "pack_size": 12,
        "lead_time_by_location": { "FR": 14 }
    });
    let r = put(json!({ "name": "Shirt", "unit_cost": 4.2, "currency": "EUR", "supply": supply }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_eq!(r.json()["supply"], supply);
    let read = app.read("/v1/skus/BUY-1").await;
    assert_eq!(read["supply"], supply);
    assert_eq!(read["unit_cost"], json!(4.2));
    for (bad, field) in [
        (json!({ "lead_time_days": -1 }), "supply.lead_time_days"),
        (json!({ "lead_time_days": 366 }), "supply.lead_time_days"),
        (json!({ "pack_size": 0 }), "supply.pack_size"),
        (json!({ "min_order_qty": 0 }), "supply.min_order_qty"),
        (json!({ "supplier": "" }), "supply.supplier"),
        (json!({ "supplier": "a b" }), "supply.supplier"),
        (
            json!({ "lead_time_by_location": { "FR": -3 } }),
            "supply.lead_time_by_location.FR",
        ),
        (
            json!({ "lead_time_by_location": { "no good": 3 } }),
            "supply.lead_time_by_location.no good",
        ),
        (json!({ "lead_days": 3 }), "supply.lead_days"),
        (json!({ "pack_size": "12" }), "supply.pack_size"),
    ] {
        let r = put(json!({ "name": "Shirt", "supply": bad })).await;
        assert_invalid(&r, &[field], &bad.to_string());
    }
    // Refused PUTs changed nothing; a PUT without supply facts removes them.
    assert_eq!(app.read("/v1/skus/BUY-1").await["supply"], supply);
    let replaced = put(json!({ "name": "Shirt" })).await.json();
    assert!(replaced.get("supply").is_none(), "{replaced}");
}

#[tokio::test]
async fn sku_is_created_then_updated_and_read_back_with_levels_and_totals() {
    let app = spawn_app().await;
    let created = app
        .put(
            "/v1/skus/TEE-RED-M",
            Role::Ops,
            json!({ "name": "Tee red M", "attributes": { "colour": "red", "size": "M" } }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json()["attributes"]["colour"], "red");
    let updated = app
        .put(
            "/v1/skus/TEE-RED-M",
            Role::Ops,
            json!({ "name": "Tee red (M)" }),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.json()["created_at"], created.json()["created_at"]);

    app.create_location("WH1").await;
    app.create_location("WH2").await;
    app.receive("TEE-RED-M", "WH1", 10).await;
    app.receive("TEE-RED-M", "WH2", 5).await;

    let r = app.get("/v1/skus/TEE-RED-M", Role::ReadOnly).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["name"], "Tee red (M)");
    assert_eq!(body["levels"].as_array().unwrap().len(), 2);
    assert_eq!(body["levels"][0]["location"], "WH1");
    assert_eq!(body["levels"][0]["available"], 10);
    assert_eq!(
        body["totals"],
        json!({ "on_hand": 15, "reserved": 0, "in_transit": 0, "available": 15 })
    );

    let list = app.get("/v1/skus?limit=10", Role::ReadOnly).await;
    assert_eq!(list.json()["items"][0]["sku"], "TEE-RED-M");
    let locations = app.read("/v1/locations").await;
    assert_eq!(locations["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn receipt_sale_and_refund_follow_the_stock_rule_and_leave_a_ledger() {
    let app = spawn_stocked(&[("MUG", "WH1", 20)]).await;
    let sold = json!({ "sku": "MUG", "location": "WH1", "quantity": 7, "reference": "web-1001",
                       "order_id": "web-1001" });
    let body = app
        .created("/v1/sales", Role::Storefront, "sale-1", sold)
        .await;
    assert_eq!(body["kind"], "sale");
    assert_eq!(body["order_id"], "web-1001");
    assert_eq!(body["actor"], "shop-1");
    assert_eq!(body["lines"][0]["delta"]["available"], -7);

    let refunded = json!({ "sku": "MUG", "location": "WH1", "quantity": 2, "order_id": "web-1001",
                           "reason": "changed mind" });
    app.created("/v1/refunds", Role::Storefront, "refund-1", refunded)
        .await;

    // stock(t+1) = stock(t) − sold + received + refunded
    assert_eq!(app.level("MUG", "WH1").await, Some((20 - 7 + 2, 0, 0, 15)));

    let ledger = app.ledger("MUG").await;
    let kinds: Vec<_> = ledger.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["refund", "sale", "receipt"], "newest first");
    assert_eq!(ledger[1]["reference"], "web-1001");
    assert_eq!(ledger[1]["quantity"], 7);
    assert_eq!(ledger[1]["actor"], "shop-1");
    assert_eq!(ledger[0]["reason"], "changed mind");
    assert_eq!(ledger[0]["restocked"], true);
    assert_eq!(ledger[2]["actor"], "ops-1");

    // The level carries the sales counters the alert evaluator reads from the stream image.
    let item = app
        .dynamodb
        .get_item()
        .table_name(&app.table)
        .key("pk", AttributeValue::S("SKU#MUG".into()))
        .key("sk", AttributeValue::S("LOC#WH1".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    // Fixed-length rings (48 hourly slots, 32 daily), whatever the timing of sales.
    let ring = |name: &str| -> Vec<i64> {
        item[name]
            .as_l()
            .unwrap()
            .iter()
            .map(|v| v.as_n().unwrap().parse::<i64>().unwrap())
            .collect()
    };
    let hour: i64 = item["ctr_hour"].as_n().unwrap().parse().unwrap();
    assert!((hour - time_now() / 3600).abs() <= 1);
    let (sold_h, sold_d) = (ring("sold_h"), ring("sold_d"));
    assert_eq!((sold_h.len(), sold_d.len()), (48, 32));
    assert_eq!(sold_h[hour.rem_euclid(48) as usize], 7);
    let today = (hour.div_euclid(24)).rem_euclid(32) as usize;
    assert_eq!(sold_d[today], 7);
    assert_eq!(sold_h.iter().sum::<i64>(), 7);
    // And what was received and refunded (restocked) today, for the daily report.
    assert_eq!((ring("rcv_d")[today], ring("rfd_d")[today]), (20, 2));
    assert!(item.contains_key("last_sale_at") && item.contains_key("last_receipt_at"));
}

#[tokio::test]
async fn incoming_then_receipt_from_in_transit_moves_stock_onto_the_shelf() {
    let app = spawn_app().await;
    app.create_location("WH1").await;
    app.create_sku("CAP").await;
    let incoming = json!({ "sku": "CAP", "location": "WH1", "quantity": 12, "reference": "PO-7" });
    app.created("/v1/incoming", Role::Ops, "in-1", incoming)
        .await;
    assert_eq!(app.level("CAP", "WH1").await, Some((0, 0, 12, 0)));

    let from_in_transit = |quantity: i64| json!({ "sku": "CAP", "location": "WH1", "quantity": quantity, "from_in_transit": true });
    let r = app
        .post("/v1/receipts", Role::Ops, "rc-1", from_in_transit(13))
        .await;
    let problem = assert_problem(&r, StatusCode::CONFLICT, "insufficient-in-transit");
    assert_eq!(problem["in_transit"], 12);

    app.created("/v1/receipts", Role::Ops, "rc-2", from_in_transit(10))
        .await;
    assert_eq!(app.level("CAP", "WH1").await, Some((10, 0, 2, 10)));
}

#[tokio::test]
async fn refund_not_restocked_is_recorded_but_changes_no_quantity() {
    let app = spawn_stocked(&[("VASE", "WH1", 5)]).await;
    app.created("/v1/refunds", Role::Storefront, "rf-1", json!({ "sku": "VASE", "location": "WH1", "quantity": 1, "restock": false, "reason": "arrived broken" }))
        .await;
    assert_eq!(app.level("VASE", "WH1").await, Some((5, 0, 0, 5)));
    let ledger = app.ledger("VASE").await;
    assert_eq!(ledger[0]["kind"], "refund");
    assert_eq!(ledger[0]["restocked"], false);
    assert_eq!(ledger[0]["delta"]["on_hand"], 0);
}

#[tokio::test]
async fn stocktake_with_a_stale_expectation_is_refused_and_changes_nothing() {
    let app = spawn_stocked(&[("BOOK", "WH1", 10)]).await;
    let stale = json!({ "sku": "BOOK", "location": "WH1", "counted": 8, "expected": 9, "reason": "stocktake" });
    let r = app.post("/v1/adjustments", Role::Ops, "adj-1", stale).await;
    let problem = assert_problem(&r, StatusCode::CONFLICT, "stale-count");
    assert_eq!(problem["on_hand"], 10);
    assert_eq!(app.level("BOOK", "WH1").await, Some((10, 0, 0, 10)));

    let counted = json!({ "sku": "BOOK", "location": "WH1", "counted": 8, "expected": 10, "reason": "stocktake" });
    app.created("/v1/adjustments", Role::Ops, "adj-2", counted)
        .await;
    assert_eq!(app.level("BOOK", "WH1").await, Some((8, 0, 0, 8)));

    // Without an expectation the count is simply set.
    let blind = json!({ "sku": "BOOK", "location": "WH1", "counted": 11, "reason": "recount" });
    app.created("/v1/adjustments", Role::Ops, "adj-3", blind)
        .await;
    assert_eq!(app.level("BOOK", "WH1").await, Some((11, 0, 0, 11)));
    let ledger = app.ledger("BOOK").await;
    assert_eq!(ledger[0]["counted"], 11);
    assert_eq!(ledger[1]["expected"], 10);
}

#[tokio::test]
async fn transfer_moves_both_legs_or_neither() {
    let app = spawn_stocked(&[("LAMP", "WH1", 6)]).await;
    app.create_location("DE").await;
    let transfer = |to: &str, quantity: i64| json!({ "sku": "LAMP", "from": "WH1", "to": to, "quantity": quantity });

    // Refused whole: neither leg moves.
    for (key, to, quantity, status, slug) in [
        ("tr-1", "DE", 7, StatusCode::CONFLICT, "insufficient-stock"),
        (
            "tr-2",
            "NOWHERE",
            1,
            StatusCode::NOT_FOUND,
            "location-not-found",
        ),
    ] {
        let body = transfer(to, quantity);
        let r = app.post("/v1/transfers", Role::Ops, key, body).await;
        assert_problem(&r, status, slug);
        assert_eq!(app.level("LAMP", "WH1").await, Some((6, 0, 0, 6)), "{key}");
        assert_eq!(app.level("LAMP", "DE").await, None, "{key}");
    }

    app.created("/v1/transfers", Role::Ops, "tr-3", transfer("DE", 4))
        .await;
    assert_eq!(app.level("LAMP", "WH1").await, Some((2, 0, 0, 2)));
    assert_eq!(app.level("LAMP", "DE").await, Some((4, 0, 0, 4)));
    let ledger = Value::from(app.ledger("LAMP").await);
    let kinds = each(&ledger, "kind");
    assert!(
        kinds.contains(&"transfer_out") && kinds.contains(&"transfer_in"),
        "{kinds:?}"
    );
}

#[tokio::test]
async fn order_sells_every_line_or_none() {
    let app = spawn_stocked(&[("A", "WH1", 5), ("B", "WH1", 1)]).await;
    let order = |lines: Vec<Value>| json!({ "order_id": "o-1", "lines": lines });

    let too_much = order(vec![sale("A", "WH1", 2), sale("B", "WH1", 2)]);
    let r = app
        .post("/v1/orders", Role::Storefront, "ord-1", too_much)
        .await;
    let problem = assert_problem(&r, StatusCode::CONFLICT, "insufficient-stock");
    assert_eq!(problem["sku"], "B");
    assert_eq!(problem["line"], 1);
    assert_eq!(
        app.level("A", "WH1").await,
        Some((5, 0, 0, 5)),
        "no partial order"
    );

    let ok = order(vec![sale("A", "WH1", 2), sale("B", "WH1", 1)]);
    let ok = app
        .created("/v1/orders", Role::Storefront, "ord-2", ok)
        .await;
    assert_eq!(ok["kind"], "order");
    assert_eq!(app.level("A", "WH1").await, Some((3, 0, 0, 3)));
    assert_eq!(app.level("B", "WH1").await, Some((0, 0, 0, 0)));

    // The same order id again, whatever its lines: refused.
    let again = order(vec![sale("A", "WH1", 1)]);
    let r = app.post("/v1/orders", Role::Storefront, "ord-3", again);
    assert_problem(&r.await, StatusCode::CONFLICT, "order-exists");
    assert_eq!(app.level("A", "WH1").await, Some((3, 0, 0, 3)));
}

#[tokio::test]
async fn refunds_against_an_order_never_exceed_what_it_sold() {
    let app = spawn_stocked(&[("A", "WH1", 10)]).await;
    let order = json!({ "order_id": "o-9", "lines": [sale("A", "WH1", 3)] });
    app.created("/v1/orders", Role::Storefront, "ord-1", order)
        .await;
    let refund = |key: &'static str, q: i64, restock: bool| {
        let app = &app;
        async move {
            app.post("/v1/refunds", Role::Storefront, key, json!({ "sku": "A", "location": "WH1", "quantity": q, "order_id": "o-9", "restock": restock }))
                .await
        }
    };
    // The order is its storefront's: to another storefront it does not exist; ops refund any.
    let theirs = json!({ "sku": "A", "location": "WH1", "quantity": 1, "order_id": "o-9" });
    let r = app
        .post("/v1/refunds", Role::OtherStorefront, "rf-b", theirs)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "order-not-found");
    assert_eq!(app.level("A", "WH1").await, Some((7, 0, 0, 7)));
    assert_eq!(refund("rf-1", 2, true).await.status, StatusCode::CREATED);
    let over = refund("rf-2", 2, false).await;
    let problem = assert_problem(&over, StatusCode::CONFLICT, "refund-exceeds-order");
    assert_eq!(problem["refundable"], 1);
    assert_eq!(refund("rf-3", 1, false).await.status, StatusCode::CREATED);
    assert_problem(
        &refund("rf-4", 1, true).await,
        StatusCode::CONFLICT,
        "refund-exceeds-order",
    );
    assert_eq!(app.level("A", "WH1").await, Some((9, 0, 0, 9)));

    let unknown = json!({ "sku": "A", "location": "WH1", "quantity": 1, "order_id": "o-404" });
    let r = app
        .post("/v1/refunds", Role::Storefront, "rf-5", unknown)
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, "order-not-found");
}

#[tokio::test]
async fn sale_beyond_available_is_rejected_and_changes_nothing() {
    let app = spawn_stocked(&[("SHOE", "WH1", 3)]).await;
    let r = app
        .post("/v1/sales", Role::Storefront, "s-1", sale("SHOE", "WH1", 4))
        .await;
    let problem = assert_problem(&r, StatusCode::CONFLICT, "insufficient-stock");
    assert_eq!(problem["available"], 3);
    assert_eq!(app.level("SHOE", "WH1").await, Some((3, 0, 0, 3)));
    assert_eq!(app.ledger("SHOE").await.len(), 1, "only the receipt");

    // A known SKU never stocked at a known location has nothing available.
    app.create_location("WH2").await;
    let r = app
        .post("/v1/sales", Role::Storefront, "s-2", sale("SHOE", "WH2", 1))
        .await;
    assert_eq!(
        assert_problem(&r, StatusCode::CONFLICT, "insufficient-stock")["available"],
        0
    );
}

#[tokio::test]
async fn unknown_sku_or_location_is_404() {
    let app = spawn_stocked(&[("KNOWN", "WH1", 3)]).await;
    for (path, role, key, sku, location, slug) in [
        (
            "/v1/sales",
            Role::Storefront,
            "s-1",
            "GHOST",
            "WH1",
            "sku-not-found",
        ),
        (
            "/v1/sales",
            Role::Storefront,
            "s-2",
            "KNOWN",
            "MARS",
            "location-not-found",
        ),
        (
            "/v1/receipts",
            Role::Ops,
            "r-1",
            "GHOST",
            "WH1",
            "sku-not-found",
        ),
        (
            "/v1/receipts",
            Role::Ops,
            "r-2",
            "KNOWN",
            "MARS",
            "location-not-found",
        ),
        (
            "/v1/refunds",
            Role::Ops,
            "rf-1",
            "KNOWN",
            "MARS",
            "location-not-found",
        ),
    ] {
        let body = sale(sku, location, 1);
        let r = app.post(path, role, key, body).await;
        assert_problem(&r, StatusCode::NOT_FOUND, slug);
    }
    for path in ["/v1/skus/GHOST", "/v1/skus/GHOST/ledger"] {
        let r = app.get(path, Role::ReadOnly).await;
        assert_problem(&r, StatusCode::NOT_FOUND, "sku-not-found");
    }
    assert_eq!(app.level("KNOWN", "WH1").await, Some((3, 0, 0, 3)));
}

#[tokio::test]
async fn invalid_input_gets_a_precise_problem_and_changes_nothing() {
    let app = spawn_stocked(&[("SKU1", "WH1", 5)]).await;
    let token = app.token(Role::Storefront);
    let raw = |body: &'static str, content_type: &'static str| {
        let app = &app;
        let auth = format!("Bearer {token}");
        async move {
            app.api
                .send(
                    Method::POST,
                    "/v1/sales",
                    &[
                        ("authorization", &auth),
                        ("idempotency-key", "bad-1"),
                        ("content-type", content_type),
                    ],
                    Some(body.as_bytes().to_vec()),
                )
                .await
                .unwrap()
        }
    };

    // Raw bodies: the refusal each gets, and the fields it names (where it names them).
    let json = "application/json";
    let (bad, invalid) = (StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY);
    let media = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    let cases: [(&str, &str, StatusCode, &str, &[&str]); 5] = [
        ("{\"sku\": ", json, bad, "malformed-json", &[]),
        (
            r#"{"sku":"SKU1","location":"WH1","quantity":0}"#,
            json,
            invalid,
            "validation",
            &["quantity"],
        ),
        (
            r#"{"sku":"SKU1","location":"WH1","quantity":"two"}"#,
            json,
            invalid,
            "validation",
            &["quantity"],
        ),
        (
            r#"{"sku":"bad sku!","location":"WH1","quantity":99999999}"#,
            json,
            invalid,
            "validation",
            &["sku", "quantity"],
        ),
        (
            r#"{"sku":"SKU1","location":"WH1","quantity":1}"#,
            "text/plain",
            media,
            "unsupported-media-type",
            &[],
        ),
    ];
    for (body, content_type, status, slug, fields) in cases {
        let p = assert_problem(&raw(body, content_type).await, status, slug);
        if !fields.is_empty() {
            assert_eq!(each(&p["errors"], "field"), fields, "{body}");
        }
    }
    let r = raw(
        r#"{"sku":"SKU1","location":"WH1","quantity":1,"price":9}"#,
        json,
    )
    .await;
    let p = assert_problem(&r, invalid, "validation");
    assert!(p["detail"].as_str().unwrap().contains("price"), "{p}");

    let big = json!({ "sku": "SKU1", "location": "WH1", "quantity": 1, "reference": "x".repeat(70 * 1024) });
    let r = app.post("/v1/sales", Role::Storefront, "big-1", big).await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");

    for (key, slug) in [
        (None, "idempotency-key-missing"),
        (Some("spaces are bad"), "idempotency-key-invalid"),
    ] {
        let body = sale("SKU1", "WH1", 1);
        let r = app
            .api
            .call(Method::POST, "/v1/sales", Some(&token), key, Some(&body))
            .await
            .expect("HTTP call");
        assert_problem(&r, bad, slug);
    }

    for (path, field) in [
        ("/v1/skus?limit=1000", Some("limit")),
        ("/v1/skus/SKU1/ledger?cursor=bm90LWEtY3Vyc29y", None),
        ("/v1/skus/has%20space", None),
    ] {
        let r = app.get(path, Role::ReadOnly).await;
        let p = assert_problem(&r, bad, "invalid-parameter");
        if let Some(field) = field {
            assert_eq!(p["errors"][0]["field"], field, "{path}");
        }
    }

    let r = app
        .put(
            "/v1/locations/XX",
            Role::Ops,
            json!({ "name": "Somewhere", "kind": "country" }),
        )
        .await;
    assert_eq!(
        assert_problem(&r, invalid, "validation")["errors"][0]["field"],
        "country"
    );

    assert_stock(&app, "SKU1", 5, 1).await;
}

#[tokio::test]
async fn hostile_bodies_never_cause_a_5xx_or_a_write() {
    let app = spawn_stocked(&[("SKU1", "WH1", 5)]).await;
    let token = app.token(Role::Ops);
    let auth = format!("Bearer {token}");
    let routes = [
        "/v1/sales",
        "/v1/orders",
        "/v1/refunds",
        "/v1/receipts",
        "/v1/incoming",
        "/v1/adjustments",
        "/v1/transfers",
    ];
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"{}".to_vec(),
        b"{\"sku\":null}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        br#"{"sku":"SKU1","location":"WH1","quantity":1e400}"#.to_vec(),
        br#"{"sku":"SKU1","location":"WH1","quantity":-9223372036854775808}"#.to_vec(),
        br#"{"sku":"SKU1","location":"WH1","quantity":1.5}"#.to_vec(),
        br#"{"sku":"SKU1\u0000","location":"WH1","quantity":1}"#.to_vec(),
        br#"{"order_id":"o","lines":[{"sku":"SKU1","location":"WH1","quantity":1}],"lines":[]}"#
            .to_vec(),
        br#"{"sku":"SKU1","from":"WH1","to":"WH1","quantity":1}"#.to_vec(),
        br#"{"sku":"SKU1","location":"WH1","counted":-1,"reason":""}"#.to_vec(),
        format!("{}1{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        format!(
            r#"{{"order_id":"o","lines":[{}]}}"#,
            vec![r#"{"sku":"SKU1","location":"WH1","quantity":1}"#; 30].join(",")
        )
        .into_bytes(),
    ];
    let mut n = 0;
    for route in routes {
        for body in &bodies {
            n += 1;
            let key = format!("hostile-{n}");
            // Scopes differ per route; send both tokens' scopes by using a token that has all.
            let all = app.token_with(json!({ "sub": "fuzzer", "scope": "inventory/sell inventory/admin inventory/read" }));
            let auth_all = format!("Bearer {all}");
            let r = app
                .api
                .send(
                    Method::POST,
                    route,
                    &[("authorization", &auth_all), ("idempotency-key", &key)],
                    Some(body.clone()),
                )
                .await
                .unwrap();
            assert!(
                r.status.is_client_error(),
                "{route} {:?} -> {} {:?}",
                String::from_utf8_lossy(body),
                r.status,
                r.json()
            );
            assert_eq!(r.header("content-type"), Some("application/problem+json"));
        }
    }
    let _ = auth;
    assert_stock(&app, "SKU1", 5, 1).await;
}

#[tokio::test]
async fn replay_returns_the_first_result_and_changes_nothing() {
    let app = spawn_stocked(&[("PEN", "WH1", 10)]).await;
    let sell = |quantity: i64| {
        app.post(
            "/v1/sales",
            Role::Storefront,
            "order-77-line-1",
            sale("PEN", "WH1", quantity),
        )
    };
    let first = sell(4).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("idempotent-replayed"), None);

    let before = app.requests.get();
    let replay = sell(4).await;
    assert_eq!(
        app.requests.get() - before,
        1,
        "a replay is one DynamoDB request"
    );
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json(), first.json());
    assert_eq!(app.level("PEN", "WH1").await, Some((6, 0, 0, 6)));

    let different = sell(5).await;
    assert_problem(
        &different,
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
    );
    assert_eq!(app.level("PEN", "WH1").await, Some((6, 0, 0, 6)));

    // The key is the caller's own: another storefront may use the same string.
    let other = app.token_with(json!({ "sub": "shop-2", "scope": "inventory/sell" }));
    let r = app
        .api
        .call(
            Method::POST,
            "/v1/sales",
            Some(&other),
            Some("order-77-line-1"),
            Some(&sale("PEN", "WH1", 1)),
        )
        .await
        .expect("HTTP call");
    assert_eq!(r.status, StatusCode::CREATED);
    assert_stock(&app, "PEN", 5, 3).await;
}

#[tokio::test]
async fn concurrent_replays_change_stock_exactly_once() {
    let app = spawn_stocked(&[("PEN", "WH1", 10)]).await;
    let token = app.token(Role::Storefront);
    let calls = (0..40).map(|_| ("same-key".to_owned(), sale("PEN", "WH1", 3)));
    let responses = app.post_all("/v1/sales", &token, calls).await;
    assert!(responses.iter().all(|r| r.status == StatusCode::CREATED));
    let replayed = responses
        .iter()
        .filter(|r| r.header("idempotent-replayed").is_some())
        .count();
    assert_eq!(replayed, 39);
    let ids: std::collections::HashSet<_> = responses
        .iter()
        .map(|r| r.json()["movement_id"].clone())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_stock(&app, "PEN", 7, 2).await;
}

#[tokio::test]
async fn routes_need_a_valid_token_with_the_right_scope() {
    let app = spawn_stocked(&[("HAT", "WH1", 5)]).await;
    let expired = app.token_with(json!({ "sub": "x", "scope": "inventory/read", "exp": 1 }));
    let foreign = local_stack::jwt::JwtKey::random().mint("x", "inventory/read", 60);
    for token in [None, Some("not-a-jwt"), Some(&expired), Some(&foreign)] {
        let r = app
            .api
            .call(Method::GET, "/v1/skus/HAT", token, None, None)
            .await
            .expect("HTTP call");
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token:?}");
    }

    for (path, role, key) in [
        ("/v1/receipts", Role::Storefront, "k1"),
        ("/v1/sales", Role::ReadOnly, "k2"),
        ("/v1/sales", Role::Ops, "k3"),
    ] {
        assert_edge_forbidden(&app.post(path, role, key, sale("HAT", "WH1", 1)).await);
    }
    let r = app
        .put("/v1/skus/NEW", Role::Storefront, json!({ "name": "x" }))
        .await;
    assert_edge_forbidden(&r);
    let no_sub = app.token_with(json!({ "scope": "inventory/read" }));
    let r = app
        .api
        .call(Method::GET, "/v1/skus/HAT", Some(&no_sub), None, None)
        .await
        .expect("HTTP call");
    assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(app.level("HAT", "WH1").await, Some((5, 0, 0, 5)));
}

#[tokio::test]
async fn ledger_pages_newest_first_without_gaps() {
    let app = spawn_stocked(&[("GUM", "WH1", 100)]).await;
    for i in 0..12 {
        let r = app
            .post("/v1/sales", Role::Storefront, &format!("gum-{i}"), json!({ "sku": "GUM", "location": "WH1", "quantity": 1, "reference": format!("r{i}") }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    // The ledger is written from the stream (within a second on AWS).
    app.process_stream().await;
    let mut seen = Vec::new();
    for items in app.pages("/v1/skus/GUM/ledger?limit=5").await {
        assert!(items.len() <= 5);
        seen.extend(
            items
                .iter()
                .map(|e| e["reference"].as_str().unwrap_or("receipt").to_owned()),
        );
    }
    let mut expected: Vec<String> = (0..12).rev().map(|i| format!("r{i}")).collect();
    expected.push("receipt".into());
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_listing_cut_by_dynamodbs_one_megabyte_page_limit_still_offers_the_rest() {
    let app = spawn_app().await;
    // 60 SKUs of about 25 KB each (32 attributes of 256 three-byte characters): 1.5 MB, more
    // than one Query page of DynamoDB can hold, whatever `limit` asks for.
    let value: String = "倉".repeat(256);
    let attributes: serde_json::Map<String, Value> = (0..32)
        .map(|i| (format!("a{i:02}"), json!(value)))
        .collect();
    for i in 0..60 {
        let r = app
            .put(
                &format!("/v1/skus/BIG-{i:02}"),
                Role::Ops,
                json!({ "name": format!("Big {i}"), "attributes": attributes }),
            )
            .await;
        assert!(r.status.is_success(), "{:?}", r.json());
    }
    let pages = app.pages("/v1/skus?limit=100").await;
    assert!(pages.len() < 10, "cursor never ends");
    assert!(
        pages.len() >= 2,
        "the first page held everything: {}",
        pages.len()
    );
    let seen = Value::from(pages.concat());
    let seen = each(&seen, "sku");
    let expected: Vec<String> = (0..60).map(|i| format!("BIG-{i:02}")).collect();
    assert_eq!(seen, expected, "no SKU lost or repeated across pages");
}

#[tokio::test]
async fn five_hundred_concurrent_sales_of_137_units_sell_exactly_137() {
    let app = spawn_stocked(&[("HOT", "WH1", 137)]).await;
    let token = app.token(Role::Storefront);
    let outcomes = rush(&app, &token, "hot", 500).await;
    let responses: Vec<ApiResponse> = outcomes.into_iter().map(|(r, _)| r).collect();
    let created = responses
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let refused = responses
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (137, 363));
    assert_eq!(app.level("HOT", "WH1").await, Some((0, 0, 0, 0)));
    let ledger = app.ledger("HOT").await;
    assert_eq!(ledger.iter().filter(|e| e["kind"] == "sale").count(), 137);
}

#[tokio::test]
async fn competing_three_line_orders_never_sell_part_of_an_order() {
    let app = spawn_stocked(&[("A", "WH1", 60), ("B", "WH1", 45), ("C", "WH1", 50)]).await;
    let token = app.token(Role::Storefront);
    // Each order takes 1 A, 2 B and 1 C, or 2 A, 1 B and 3 C: B and C run out first.
    let shapes = [(1, 2, 1), (2, 1, 3)];
    let calls = (0..200).map(|i| {
        let (a, b, c) = shapes[i % 2];
        let body = json!({ "order_id": format!("o-{i}"), "lines": [sale("A", "WH1", a), sale("B", "WH1", b), sale("C", "WH1", c)] });
        (format!("ord-{i}"), body)
    });
    let responses = app.post_all("/v1/orders", &token, calls).await;
    let mut sold = (0i64, 0i64, 0i64);
    for (i, r) in responses.iter().enumerate() {
        match r.status {
            StatusCode::CREATED => {
                let (a, b, c) = shapes[i % 2];
                sold = (sold.0 + a, sold.1 + b, sold.2 + c);
            }
            StatusCode::CONFLICT => assert_eq!(r.json()["type"], "/problems/insufficient-stock"),
            other => panic!("unexpected {other}: {:?}", r.json()),
        }
    }
    let a = app.level("A", "WH1").await.unwrap();
    let b = app.level("B", "WH1").await.unwrap();
    let c = app.level("C", "WH1").await.unwrap();
    assert_eq!((a.3, b.3, c.3), (60 - sold.0, 45 - sold.1, 50 - sold.2));
    assert!(a.3 >= 0 && b.3 >= 0 && c.3 >= 0);
    // Stock ran out for at least one SKU: the rest of the orders were refused whole.
    assert!(b.3 < 2 || c.3 < 3, "{b:?} {c:?}");
    let sales_of = |entries: Vec<Value>| -> i64 {
        entries
            .iter()
            .filter(|e| e["kind"] == "sale")
            .map(|e| e["quantity"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(sales_of(app.ledger("A").await), sold.0);
    assert_eq!(sales_of(app.ledger("B").await), sold.1);
    assert_eq!(sales_of(app.ledger("C").await), sold.2);
}

/// A storefront's sale: sent again with the same key while the API answers 503 (as documented),
/// until it is decided. Returns the deciding response and the 503s seen before it.
async fn sell_until_decided(
    api: local_stack::client::ApiClient,
    auth: String,
    key: String,
    body: Value,
) -> (ApiResponse, Vec<ApiResponse>) {
    let mut busy = Vec::new();
    loop {
        let r = api
            .send(
                Method::POST,
                "/v1/sales",
                &[("authorization", &auth), ("idempotency-key", &key)],
                Some(body.to_string().into_bytes()),
            )
            .await
            .unwrap();
        if r.status != StatusCode::SERVICE_UNAVAILABLE || busy.len() >= 50 {
            return (r, busy);
        }
        busy.push(r);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn conflicting_transactions_on_one_sku_retry_and_never_oversell_or_lose_a_sale() {
    let app = spawn_stocked(&[("HOT", "WH1", 120)]).await;
    let token = app.token(Role::Storefront);
    // DynamoDB Local runs transactions on one item one after another and never reports a
    // conflict; on AWS, concurrent transactions on one item cancel each other with
    // TransactionConflict. The proxy in front of DynamoDB Local gives the sale transactions
    // AWS's answer six times in ten; the engine still decides every sale that gets through.
    app.dynamodb_proxy.inject(
        FaultRule::new(
            Service::DynamoDb,
            "TransactWriteItems",
            Fault::TransactionConflict,
            Schedule::Probability(0.6),
        )
        .containing("SKU#HOT"),
    );
    let before = app.requests.get();
    let outcomes = rush(&app, &token, "rush", 300).await;
    let sent = outcomes
        .iter()
        .map(|(_, busy)| busy.len() + 1)
        .sum::<usize>() as u64;
    let transactions = app.requests.get() - before;
    // Cancelled transactions were retried inside the API (with jittered backoff): more
    // transactions than requests, and every conflict answered was one more attempt.
    let conflicts = app.dynamodb_proxy.injected().len() as u64;
    assert!(
        conflicts > 0 && transactions > sent,
        "{conflicts} {transactions} {sent}"
    );
    // Five conflicts in a row for one request: the documented 503, and the storefront's retry
    // with the same key went on to decide it.
    let busy: usize = outcomes.iter().map(|(_, busy)| busy.len()).sum();
    assert!(busy > 0, "no request ran out of attempts");
    // Only the documented 503, with its problem type and Retry-After.
    for r in outcomes.iter().flat_map(|(_, busy)| busy) {
        assert_eq!(r.json()["type"], "/problems/busy", "{:?}", r.json());
        assert!(r.header("retry-after").is_some());
    }
    let mut created = Vec::new();
    for (i, (r, _)) in outcomes.iter().enumerate() {
        match r.status {
            StatusCode::CREATED => created.push(i),
            StatusCode::CONFLICT => assert_eq!(r.json()["type"], "/problems/insufficient-stock"),
            other => panic!("rush-{i}: unexpected {other}: {:?}", r.json()),
        }
    }
    assert_eq!(created.len(), 120, "every unit sold exactly once");
    assert_eq!(app.level("HOT", "WH1").await, Some((0, 0, 0, 0)));
    let sales = app.ledger("HOT").await;
    assert_eq!(sales.iter().filter(|e| e["kind"] == "sale").count(), 120);
    // A replay after the stock ran out still gets the sale it made.
    let first = created[0];
    let (replay, _) = sell_until_decided(
        app.api.clone(),
        format!("Bearer {token}"),
        format!("rush-{first}"),
        sale("HOT", "WH1", 1),
    )
    .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        replay.json()["movement_id"],
        outcomes[first].0.json()["movement_id"]
    );
    eprintln!("{sent} requests, {transactions} transactions, {conflicts} conflicts, {busy} busy");
}

/// `n` storefront sales of one HOT at WH1 sent at once (keys `<prefix>-<i>`), each sent again
/// while the API is busy: the deciding answer of each, and the 503s before it.
async fn rush(
    app: &TestApp,
    token: &str,
    prefix: &str,
    n: usize,
) -> Vec<(ApiResponse, Vec<ApiResponse>)> {
    let calls = (0..n).map(|i| {
        tokio::spawn(sell_until_decided(
            app.api.clone(),
            format!("Bearer {token}"),
            format!("{prefix}-{i}"),
            sale("HOT", "WH1", 1),
        ))
    });
    futures_join(calls).await
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.expect("task"));
    }
    out
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Okta and Entra put the scopes in `scp`, as an array: API Gateway passes it as "[a b]", and
/// both the edge and the code read it.
#[tokio::test]
async fn scopes_in_an_scp_array_are_honoured() {
    let app = spawn_stocked(&[("HAT", "WH1", 5)]).await;
    let okta =
        app.token_with(json!({ "sub": "shop-1", "scp": ["inventory/read", "inventory/sell"] }));
    let r = app
        .api
        .call(Method::GET, "/v1/skus/HAT", Some(&okta), None, None)
        .await
        .expect("HTTP call");
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
    let post = |path: &'static str, key: &'static str| {
        let body = sale("HAT", "WH1", 1);
        let okta = okta.clone();
        let app = &app;
        async move {
            app.api
                .call(Method::POST, path, Some(&okta), Some(key), Some(&body))
                .await
                .expect("HTTP call")
        }
    };
    let r = post("/v1/sales", "scp-1").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    assert_edge_forbidden(&post("/v1/receipts", "scp-2").await);
    assert_eq!(app.level("HAT", "WH1").await, Some((4, 0, 0, 4)));
}

/// The scope check in the code is a second layer behind the edge's: a request that reached the
/// function without the scope (a route deployed without `AuthorizationScopes`, say) is refused
/// with problem+json and changes nothing.
#[tokio::test]
async fn the_code_checks_the_scope_again_behind_the_edge() {
    use shared::api::{App, Function};
    let app = spawn_stocked(&[("HAT", "WH1", 5)]).await;
    let event = json!({
        "version": "2.0", "routeKey": "POST /v1/receipts", "rawPath": "/v1/receipts",
        "rawQueryString": "",
        "headers": { "content-type": "application/json", "idempotency-key": "k-1" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "x", "domainName": "x", "domainPrefix": "x",
            "http": { "method": "POST", "path": "/v1/receipts", "protocol": "HTTP/1.1",
                      "sourceIp": "127.0.0.1", "userAgent": "t" },
            "authorizer": { "jwt": { "claims": { "sub": "shop-1", "scope": "inventory/sell" },
                                     "scopes": null } },
            "requestId": "r-1", "routeKey": "POST /v1/receipts", "stage": "$default",
            "time": "01/Dec/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "body": sale("HAT", "WH1", 1).to_string(), "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&event.to_string()).unwrap();
    let store = shared::store::Store::new(app.dynamodb.clone(), &app.table);
    let response = App::for_function(store, Function::StockCommand)
        .handle(request)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    assert_eq!(body["type"], "/problems/forbidden");
    assert_eq!(body["required_scope"], "inventory/admin");
    assert_eq!(app.level("HAT", "WH1").await, Some((5, 0, 0, 5)));
}

/// serde would read a JSON array into a struct field by field: `["SKU1","WH1",1]` as a sale,
/// `"selector": []` as a rule watching every SKU. Wherever an object is expected, an array is
/// refused, naming the place, and nothing is written.
#[tokio::test]
async fn arrays_are_refused_wherever_an_object_is_expected() {
    let app = spawn_stocked(&[("SKU1", "WH1", 5)]).await;
    let rule = |extra: Value| low_stock(2, 4, extra);
    let cases: Vec<(Method, &str, Role, Value, &str)> = vec![
        (
            Method::POST,
            "/v1/sales",
            Role::Storefront,
            json!(["SKU1", "WH1", 1]),
            "body",
        ),
        (
            Method::POST,
            "/v1/orders",
            Role::Storefront,
            json!({ "order_id": "o-1", "lines": [["SKU1", "WH1", 1]] }),
            "lines[0]",
        ),
        (
            Method::POST,
            "/v1/receipts",
            Role::Ops,
            json!(["SKU1", "WH1", 9]),
            "body",
        ),
        (
            Method::PUT,
            "/v1/skus/NEW",
            Role::Ops,
            json!(["New thing"]),
            "body",
        ),
        (
            Method::PUT,
            "/v1/locations/WH9",
            Role::Ops,
            json!(["Nine", "warehouse"]),
            "body",
        ),
        (
            Method::POST,
            "/v1/rules",
            Role::Ops,
            rule(json!({ "selector": [] })),
            "selector",
        ),
        (
            Method::POST,
            "/v1/rules",
            Role::Ops,
            rule(json!({ "channels": [] })),
            "channels",
        ),
        (
            Method::POST,
            "/v1/rules",
            Role::Ops,
            rule(json!({ "quiet_hours": [22, 6] })),
            "quiet_hours",
        ),
        (
            Method::POST,
            "/v1/rules",
            Role::Ops,
            rule(json!({ "selector": { "attribute": ["brand", "acme"] } })),
            "selector.attribute",
        ),
        (
            Method::POST,
            "/v1/silences",
            Role::Ops,
            json!([null, "SKU1", 60, "stocktake"]),
            "body",
        ),
        (
            Method::POST,
            "/v1/refunds",
            Role::Ops,
            json!(["SKU1", "WH1", 3]),
            "body",
        ),
        (
            Method::POST,
            "/v1/incoming",
            Role::Ops,
            json!(["SKU1", "WH1", 4]),
            "body",
        ),
        (
            Method::POST,
            "/v1/adjustments",
            Role::Ops,
            json!(["SKU1", "WH1", 50, "recount"]),
            "body",
        ),
        (
            Method::POST,
            "/v1/transfers",
            Role::Ops,
            json!(["SKU1", "WH1", "WH2", 1]),
            "body",
        ),
        (
            Method::PUT,
            "/v1/rules/rl_missing",
            Role::Ops,
            json!(["Low", "low_stock", 2]),
            "body",
        ),
        (
            Method::PUT,
            "/v1/rules/rl_missing",
            Role::Ops,
            rule(json!({ "selector": [] })),
            "selector",
        ),
    ];
    for (i, (method, path, role, body, field)) in cases.into_iter().enumerate() {
        let key = format!("array-{i}");
        let token = app.token(role);
        let r = app
            .api
            .call(method.clone(), path, Some(&token), Some(&key), Some(&body))
            .await
            .expect("HTTP call");
        assert_invalid(&r, &[field], &format!("{method} {path} {body}"));
    }
    assert_stock(&app, "SKU1", 5, 1).await;
    let rules = app.read("/v1/rules").await;
    assert_eq!(rules["items"], json!([]));
    let skus = app.get("/v1/skus/NEW", Role::ReadOnly).await;
    assert_eq!(skus.status, StatusCode::NOT_FOUND);
}

/// Who may put stock back: a storefront restocks only against a recorded order and within what it
/// sold; a refund that restocks nothing needs no order; ops may restock without one.
#[tokio::test]
async fn a_storefront_restocks_only_against_its_orders_and_ops_may_without_one() {
    let app = spawn_stocked(&[("CUP", "WH1", 10)]).await;
    let refund = |extra: Value| {
        merged(
            json!({ "sku": "CUP", "location": "WH1", "quantity": 2 }),
            extra,
        )
    };
    let shop = Role::Storefront;
    // No order named: refused, nothing changes.
    let r = app
        .post("/v1/refunds", shop, "rf-1", refund(json!({})))
        .await;
    let problem = assert_problem(&r, StatusCode::FORBIDDEN, "refund-needs-order");
    assert_eq!(problem["required_scope"], "inventory/admin");
    let huge = refund(json!({ "quantity": 1_000_000 }));
    let r = app.post("/v1/refunds", shop, "rf-2", huge).await;
    assert_problem(&r, StatusCode::FORBIDDEN, "refund-needs-order");
    assert_eq!(app.level("CUP", "WH1").await, Some((10, 0, 0, 10)));

    // A sale with an order id is refundable by the storefront, up to what it sold.
    let sold = json!({ "sku": "CUP", "location": "WH1", "quantity": 3, "order_id": "web-7" });
    app.created("/v1/sales", shop, "s-1", sold).await;
    let against_order = refund(json!({ "order_id": "web-7" }));
    app.created("/v1/refunds", shop, "rf-3", against_order.clone())
        .await;
    let r = app.post("/v1/refunds", shop, "rf-4", against_order).await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "only 1 of 3 left to refund: {:?}",
        r.json()
    );
    assert_eq!(app.level("CUP", "WH1").await, Some((9, 0, 0, 9)));

    // Goods kept or damaged: recorded without an order, no stock back.
    let kept = refund(json!({ "restock": false, "reason": "arrived broken" }));
    app.created("/v1/refunds", shop, "rf-5", kept).await;
    assert_eq!(app.level("CUP", "WH1").await, Some((9, 0, 0, 9)));

    // Ops restock a return that came without its order.
    app.created("/v1/refunds", Role::Ops, "rf-6", refund(json!({})))
        .await;
    assert_eq!(app.level("CUP", "WH1").await, Some((11, 0, 0, 11)));
    // Read-only tokens are stopped at the edge.
    let r = app
        .post("/v1/refunds", Role::ReadOnly, "rf-7", refund(json!({})))
        .await;
    assert_edge_forbidden(&r);
}

/// A client can quote the request it made: API Gateway's request id comes back in
/// `X-Request-Id`, and a problem names it as its `instance` (the same id is on the log line).
/// The addresses listening on `port` (hex, as the kernel's tables write them).
fn listeners(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is ADDRESS:PORT in hex; state 0A is LISTEN.
            let Some((address, hex_port)) = fields.get(1).and_then(|a| a.split_once(':')) else {
                continue;
            };
            if fields.get(3) == Some(&"0A") && u16::from_str_radix(hex_port, 16) == Ok(port) {
                found.push(address.to_owned());
            }
        }
    }
    found
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

#[tokio::test]
async fn the_emulators_and_the_gateway_listen_on_loopback_only() {
    if !std::path::Path::new("/proc/net/tcp").exists() {
        eprintln!("no /proc/net/tcp here: the listening addresses cannot be read");
        return;
    }
    let app = spawn_app().await;
    // 127.0.0.1 as /proc/net/tcp writes it, and as ::ffff:127.0.0.1 or ::1 in tcp6.
    let loopback = [
        "0100007F",
        "0000000000000000FFFF00000100007F",
        "00000000000000000000000001000000",
    ];
    for (what, url) in [
        ("DynamoDB Local", endpoints().dynamodb),
        ("moto", endpoints().moto),
        ("the DynamoDB proxy", app.endpoints.dynamodb.clone()),
        ("the moto proxy", app.endpoints.moto.clone()),
        ("the gateway", app.api.base_url().to_owned()),
    ] {
        let found = listeners(port_of(&url));
        assert!(!found.is_empty(), "{what} is not listening on {url}");
        for address in &found {
            assert!(
                loopback.contains(&address.as_str()),
                "{what} listens on {address} (port {}), not loopback only",
                port_of(&url)
            );
        }
    }
}

#[tokio::test]
async fn every_response_names_its_request_and_a_problem_its_instance() {
    let app = spawn_app().await;
    let ok = app.get("/v1/skus", Role::ReadOnly).await;
    assert_eq!(ok.status, StatusCode::OK);
    let first = ok.header("x-request-id").expect("a request id").to_owned();
    assert!(!first.is_empty());
    let missing = app.get("/v1/skus/NOPE", Role::ReadOnly).await;
    let id = missing
        .header("x-request-id")
        .expect("a request id")
        .to_owned();
    assert_ne!(id, first, "each request its own id");
    let problem = assert_problem(&missing, StatusCode::NOT_FOUND, "sku-not-found");
    assert_eq!(problem["instance"], format!("urn:request:{id}"));
}

/// Every route, hostile input: bodies of the wrong shape, odd path parameters and query strings,
/// and tokens with malformed claims. Nothing answers 5xx, every refusal is problem+json (or API
/// Gateway's own 401/403), and nothing changes.
#[tokio::test]
async fn hostile_input_on_every_route_never_gets_a_5xx() {
    let app = spawn_stocked(&[("SKU1", "WH1", 5)]).await;
    let all = app.token_with(json!({
        "sub": "fuzzer", "scope": "inventory/sell inventory/admin inventory/read"
    }));
    let params = [
        "%00",
        "..",
        "a%2Fb",
        &"x".repeat(300),
        "%F0%9F%92%A9",
        "%25",
        "-",
    ];
    let queries = [
        "",
        "?limit=-1",
        "?limit=99999999999999999999",
        "?cursor=not-a-cursor",
        "?cursor=%00%01",
        "?state=%00&sku=",
        "?limit=&cursor=",
    ];
    let bodies: Vec<&[u8]> = vec![b"", b"null", b"[]", b"{}", b"\"x\"", b"{\"a\":", b"1e999"];
    let mut checked = 0;
    for route in shared::api::ROUTES {
        for param in params {
            let path = route
                .path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        param.to_owned()
                    } else {
                        seg.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let sends: Vec<(String, Option<&[u8]>)> = if route.method == "GET" {
                queries
                    .iter()
                    .map(|q| (format!("{path}{q}"), None))
                    .collect()
            } else {
                bodies.iter().map(|b| (path.clone(), Some(*b))).collect()
            };
            for (target, body) in sends {
                checked += 1;
                let auth = format!("Bearer {all}");
                let key = format!("hostile-{checked}");
                let method = Method::from_bytes(route.method.as_bytes()).unwrap();
                let r = app
                    .api
                    .send(
                        method,
                        &target,
                        &[("authorization", &auth), ("idempotency-key", &key)],
                        body.map(<[u8]>::to_vec),
                    )
                    .await
                    .unwrap();
                assert!(
                    !r.status.is_server_error(),
                    "{} {target} {:?} -> {}",
                    route.method,
                    body.map(String::from_utf8_lossy),
                    r.status
                );
                if r.status.is_client_error() && r.status != StatusCode::NOT_FOUND {
                    assert_eq!(
                        r.header("content-type"),
                        Some("application/problem+json"),
                        "{} {target}",
                        route.method
                    );
                }
            }
        }
    }
    assert!(checked > 300, "{checked}");

    // Tokens with malformed claims, on every route: no subject (401 from the function), or
    // scopes of the wrong type (403, at the edge or in the code). Never a 2xx or a 5xx. (API
    // Gateway hands every claim to the function as text, so a number or an array in `sub`
    // arrives as a subject like any other.)
    const ALL: &str = "inventory/sell inventory/admin inventory/read";
    let malformed = [
        json!({ "scope": ALL }),
        json!({ "sub": "", "scope": ALL }),
        json!({ "sub": "x", "scope": 5 }),
        json!({ "sub": "x", "scope": { "read": true } }),
        json!({ "sub": "x", "scp": [1, 2] }),
        json!({ "sub": "x", "scope": null }),
    ];
    let mut refused = 0;
    for claims in malformed {
        let token = app.token_with(claims.clone());
        for route in shared::api::ROUTES {
            let path = route
                .path
                .split('/')
                .map(|seg| match seg {
                    "{sku}" => "SKU1",
                    "{location}" => "WH1",
                    "{dt}" => "2026-11-30",
                    s if s.starts_with('{') => "x",
                    s => s,
                })
                .collect::<Vec<_>>()
                .join("/");
            let method = Method::from_bytes(route.method.as_bytes()).unwrap();
            let body = (route.method != "GET").then(|| sale("SKU1", "WH1", 1));
            let r = app
                .api
                .call(method, &path, Some(&token), Some("claims"), body.as_ref())
                .await
                .expect("HTTP call");
            assert!(
                matches!(r.status.as_u16(), 401 | 403),
                "{claims} {} {path} -> {} {:?}",
                route.method,
                r.status,
                r.json()
            );
            refused += 1;
        }
    }
    assert_eq!(refused, 6 * shared::api::ROUTES.len());
    assert_stock(&app, "SKU1", 5, 1).await;
    assert_eq!(app.read("/v1/rules").await["items"], json!([]));
}

#[tokio::test]
async fn names_made_only_of_invisible_or_format_characters_are_refused() {
    let app = spawn_app().await;
    let invisible = [
        "\u{200b}\u{200d}",
        " \u{2060}\u{00ad} ",
        "\u{feff}",
        "\t\u{3000}",
    ];
    for name in invisible {
        for (path, body) in [
            ("/v1/skus/GHOST", json!({ "name": name, "attributes": {} })),
            (
                "/v1/locations/NOWHERE",
                json!({ "name": name, "kind": "warehouse" }),
            ),
        ] {
            let r = app.put(path, Role::Ops, body).await;
            let p = assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation");
            assert_eq!(p["errors"][0]["field"], "name", "{path} {name:?}: {p}");
        }
    }
    assert_eq!(
        app.get("/v1/skus/GHOST", Role::ReadOnly).await.status,
        StatusCode::NOT_FOUND
    );
    let locations = app.read("/v1/locations").await;
    assert!(!locations.to_string().contains("NOWHERE"), "{locations}");
    // A visible character among them is a name.
    let visible = json!({ "name": "\u{200b}Ghost\u{200d}", "attributes": {} });
    let r = app.put("/v1/skus/GHOST", Role::Ops, visible).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
}
