//! Handler CPU per request, without I/O: what a movement costs in the Lambda before and after its
//! one DynamoDB call. For a single-line sale and a 3-line order, each step on its own and the whole
//! pipeline:
//!
//! - `decode_event`: the API Gateway payload-2.0 event (as the Lambda runtime receives it) into a
//!   `lambda_http::Request`;
//! - `parse`: the body into `SaleBody`/`OrderBody` with `serde_json::from_slice`;
//! - `parse_body`: the same through `shared::api::parse_body` (size and media-type checks, field
//!   paths on errors) on a `lambda_http::Request`;
//! - `validate`: the body into a domain `Movement`;
//! - `prepare`: `movements::prepare` (scoped key hash, request hash, response body);
//! - `movement_write`: the `TransactWriteItems` items the store sends;
//! - `pipeline`: idempotency key + `parse_body` + validate + prepare (with the clock) +
//!   `movement_write`, from a built request to the transaction, as the handler runs them.
//!
//! Not included: the SDK's serialisation of the transaction and the network round trip.
//!
//! Run: `cargo bench -p shared --bench handler_cpu`

use std::{hint::black_box, time::Duration};

use criterion::{criterion_group, criterion_main, Criterion};
use lambda_http::{Body, Request};
use serde::{de::DeserializeOwned, Serialize};
use shared::{
    api::{
        now_rfc3339, parse_body,
        requests::{OrderBody, SaleBody},
        Operation, Route, ROUTES,
    },
    domain::{FieldError, IdempotencyKey, Movement},
    movements::{prepare, Actor},
    store::movement_write,
};

const TABLE: &str = "inventory";
const AT: &str = "2026-03-01T12:34:56.789Z";
const KEY: &str = "checkout-7f3a9c2e-0b4d-4e8a-9c1f-2d6b8a0e5f17";

const SALE: &str = r#"{"sku":"TSHIRT-RED-M","location":"WH-BERLIN","quantity":1}"#;
const ORDER: &str = r#"{"order_id":"web-1000042","lines":[{"sku":"TSHIRT-RED-M","location":"WH-BERLIN","quantity":1},{"sku":"TSHIRT-BLUE-L","location":"WH-BERLIN","quantity":2},{"sku":"MUG-LOGO","location":"WH-BERLIN","quantity":1}]}"#;

fn route(operation: Operation) -> &'static Route {
    ROUTES
        .iter()
        .find(|r| r.operation == operation)
        .expect("route exists")
}

fn actor() -> Actor {
    Actor {
        subject: "storefront-demo".into(),
        owner: "storefront-demo".into(),
        any_owner: false,
    }
}

fn request(path: &str, body: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri(format!("https://api.example.com{path}"))
        .header("content-type", "application/json")
        .header("idempotency-key", KEY)
        .body(Body::from(body.to_owned()))
        .expect("valid request")
}

/// The payload-format-2.0 event API Gateway hands the function for this request.
fn event(path: &str, body: &str) -> String {
    serde_json::json!({
        "version": "2.0",
        "routeKey": format!("POST {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl",
            "content-type": "application/json",
            "content-length": body.len().to_string(),
            "host": "api.example.com",
            "idempotency-key": KEY,
            "user-agent": "storefront/1.0",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "authorizer": { "jwt": {
                "claims": {
                    "sub": "storefront-demo",
                    "scope": "inventory/sell inventory/read",
                    "iss": "https://issuer.example.com",
                    "aud": "inventory-api",
                    "exp": "4000000000",
                    "iat": "1700000000",
                },
                "scopes": null,
            }},
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": "POST",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "storefront/1.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": format!("POST {path}"),
            "stage": "$default",
            "time": "01/Mar/2026:12:34:56 +0000",
            "timeEpoch": 1_772_368_496_789_i64,
        },
        "body": body,
        "isBase64Encoded": false,
    })
    .to_string()
}

fn bench_movement<B>(
    c: &mut Criterion,
    name: &str,
    operation: Operation,
    body: &'static str,
    validate: fn(&B) -> Result<Movement, Vec<FieldError>>,
) where
    B: DeserializeOwned + Serialize,
{
    let route = route(operation);
    let actor = actor();
    let key = IdempotencyKey::parse("Idempotency-Key", KEY).expect("valid key");
    let req = request(route.path, body);
    let event = event(route.path, body);
    let parsed: B = serde_json::from_slice(body.as_bytes()).expect("valid body");
    let movement = validate(&parsed).expect("valid movement");
    let record = prepare(route.channel(), &actor, &key, &parsed, &movement, AT.into());
    let lines = movement_write(TABLE, &movement, &record).items.len();
    assert!(
        lines >= movement.lines.len() * 2,
        "a level and a ledger entry per line"
    );

    let mut g = c.benchmark_group(name);
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50);

    g.bench_function("decode_event", |b| {
        b.iter(|| lambda_http::request::from_str(black_box(&event)).expect("valid event"))
    });
    g.bench_function("parse", |b| {
        b.iter(|| serde_json::from_slice::<B>(black_box(body.as_bytes())).expect("valid body"))
    });
    g.bench_function("parse_body", |b| {
        b.iter(|| parse_body::<B>(black_box(&req)).expect("valid body"))
    });
    g.bench_function("validate", |b| {
        b.iter(|| validate(black_box(&parsed)).expect("valid movement"))
    });
    g.bench_function("prepare", |b| {
        b.iter(|| {
            prepare(
                route.channel(),
                &actor,
                black_box(&key),
                black_box(&parsed),
                black_box(&movement),
                AT.to_owned(),
            )
        })
    });
    g.bench_function("movement_write", |b| {
        b.iter(|| movement_write(TABLE, black_box(&movement), black_box(&record)))
    });
    g.bench_function("pipeline", |b| {
        b.iter(|| {
            let req = black_box(&req);
            let raw = req.headers()["idempotency-key"].to_str().expect("ASCII");
            let key = IdempotencyKey::parse("Idempotency-Key", raw).expect("valid key");
            let body: B = parse_body(req).expect("valid body");
            let movement = validate(&body).expect("valid movement");
            let record = prepare(
                route.channel(),
                &actor,
                &key,
                &body,
                &movement,
                now_rfc3339(),
            );
            movement_write(TABLE, &movement, &record)
        })
    });
    g.finish();
}

fn handler_cpu(c: &mut Criterion) {
    bench_movement::<SaleBody>(c, "sale_1_line", Operation::Sale, SALE, SaleBody::validate);
    bench_movement::<OrderBody>(
        c,
        "order_3_lines",
        Operation::Order,
        ORDER,
        OrderBody::validate,
    );
}

criterion_group!(benches, handler_cpu);
criterion_main!(benches);
