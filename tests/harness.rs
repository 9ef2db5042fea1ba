//! `spawn_app()`: the whole API on a free port, on its own table in DynamoDB Local and its own
//! topic and bucket in moto (one pair of emulators per test binary, one table per test), called
//! over HTTP like a storefront would.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    sync::{
        atomic::{AtomicI64, AtomicU32, Ordering},
        Arc, OnceLock,
    },
};

pub use aws_sdk_dynamodb::types::AttributeValue;
pub use http::{Method, StatusCode};
pub use local_stack::client::ApiResponse;
pub use local_stack::proxy::{Fault, FaultRule, Schedule, Service};
use local_stack::{
    client::ApiClient,
    dynamodb_local::DynamoDbLocal,
    gateway::GatewayHandle,
    jwt::{JwtKey, LOCAL_AUDIENCE, LOCAL_ISSUER},
    proxy::Proxy,
    streams::{StreamPoller, StreamReader},
    system::{Options, System},
    Emulators, Endpoints,
};
use serde_json::{json, Value};
use shared::{alerts::evaluator::Evaluator, api::scope, store::RequestCounter};
use tokio::sync::Mutex;

static EMULATORS: OnceLock<Emulators> = OnceLock::new();
static NEXT_TABLE: AtomicU32 = AtomicU32::new(0);

/// The emulators shared by this test binary's tests: DynamoDB Local and moto.
pub fn endpoints() -> Endpoints {
    EMULATORS
        .get_or_init(|| Emulators::start().expect("start DynamoDB Local and moto"))
        .endpoints()
}

/// moto's endpoint (SNS, SES, S3, and what they "sent" at `/moto-api/data.json`).
pub fn moto_endpoint() -> String {
    endpoints().moto
}

/// One test's system: its own table, topic, gateway, signing key and evaluator clock.
pub struct TestApp {
    pub api: ApiClient,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sdk: aws_config::SdkConfig,
    pub endpoints: Endpoints,
    pub table: String,
    pub topic_arn: String,
    pub key: JwtKey,
    /// DynamoDB requests the API has sent (every attempt).
    pub requests: RequestCounter,
    pub evaluator: Arc<Evaluator>,
    /// The alert clock (scheduled every minute on AWS).
    pub alert_clock: Arc<shared::alerts::clock::AlertClock>,
    /// The reservation-expiry sweep (scheduled every minute on AWS), on the app's clock.
    pub expiry: Arc<shared::reservations::expiry::ExpirySweep>,
    /// The scheduled function's work, and where it writes.
    pub reports: Arc<local_stack::batch::Reports>,
    /// The replenishment function (scheduled daily on AWS): its coordinator, task queue and
    /// worker, on the app's clock.
    pub replenishment: Arc<local_stack::batch::Replenishment>,
    /// The reconciler (scheduled nightly on AWS), on the app's clock.
    pub reconciliation: Arc<local_stack::batch::Reconciliation>,
    pub bucket: String,
    pub s3: aws_sdk_s3::Client,
    poller: Mutex<StreamPoller>,
    projector_poller: Mutex<StreamPoller>,
    /// Seconds added to the evaluator's clock.
    clock_offset: Arc<AtomicI64>,
    moto: ApiClient,
    /// Every DynamoDB call of this test's system goes through this proxy: faults can be injected
    /// and the write capacity is metered.
    pub dynamodb_proxy: Proxy,
    /// Every SNS, SES and S3 call of this test's system goes through this proxy.
    pub moto_proxy: Proxy,
    _gateway: GatewayHandle,
    /// This test's own DynamoDB Local, when it has one ([`spawn_app_on_own_engine`]); stopped
    /// after everything above (fields drop in order).
    _engine: Option<DynamoDbLocal>,
}

/// The clock's starting offset: none, or with `TEST_CLOCK_AT=HH:MM` the seconds to the next such
/// UTC time of day, so the suite can be run as if it were, say, a minute before midnight.
fn start_offset() -> i64 {
    let Ok(at) = std::env::var("TEST_CLOCK_AT") else {
        return 0;
    };
    let (h, m) = at.split_once(':').expect("TEST_CLOCK_AT is HH:MM");
    let target = h.parse::<i64>().expect("hour") * 3600 + m.parse::<i64>().expect("minute") * 60;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    (target - now.rem_euclid(86_400)).rem_euclid(86_400)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with stock: each `(sku, location, quantity)` received, its SKU and location
/// created first (each once).
pub async fn spawn_stocked(levels: &[(&str, &str, i64)]) -> TestApp {
    let app = spawn_app().await;
    let (mut skus, mut locations) = (BTreeSet::new(), BTreeSet::new());
    for &(sku, location, quantity) in levels {
        if locations.insert(location) {
            app.create_location(location).await;
        }
        if skus.insert(sku) {
            app.create_sku(sku).await;
        }
        app.receive(sku, location, quantity).await;
    }
    app
}

/// [`spawn_app`] with the system's options changed first (say, shorter SNS and SES timeouts for
/// a test that makes them hang).
pub async fn spawn_app_with(change: impl FnOnce(&mut Options)) -> TestApp {
    spawn_on(endpoints(), None, change).await
}

/// [`spawn_app`] on a DynamoDB Local of its own (moto is still shared), for a test that writes
/// tens of thousands of items. An engine applies every write on one thread and slows down the
/// more its earlier tests wrote: seeding the 10,000-SKU catalogue took 38 s in a fresh engine and
/// 111 to 141 s after the thousand-line stocktake test had run in the same one.
pub async fn spawn_app_on_own_engine() -> TestApp {
    let engine = tokio::task::spawn_blocking(DynamoDbLocal::start)
        .await
        .expect("DynamoDB Local start-up")
        .expect("start DynamoDB Local");
    let emulators = Endpoints {
        dynamodb: engine.endpoint(),
        ..endpoints()
    };
    spawn_on(emulators, Some(engine), |_| {}).await
}

async fn spawn_on(
    emulators: Endpoints,
    engine: Option<DynamoDbLocal>,
    change: impl FnOnce(&mut Options),
) -> TestApp {
    let dynamodb_proxy = Proxy::start(&emulators.dynamodb, true)
        .await
        .expect("DynamoDB proxy");
    let moto_proxy = Proxy::start(&emulators.moto, false)
        .await
        .expect("moto proxy");
    let endpoints = Endpoints {
        dynamodb: dynamodb_proxy.endpoint(),
        moto: moto_proxy.endpoint(),
    };
    let name = format!(
        "inventory-{}-{}",
        std::process::id(),
        NEXT_TABLE.fetch_add(1, Ordering::Relaxed)
    );
    let requests = RequestCounter::default();
    let key = JwtKey::random();
    let clock_offset = Arc::new(AtomicI64::new(start_offset()));
    let offset = clock_offset.clone();
    let mut options = Options::new(&name, SocketAddr::from(([127, 0, 0, 1], 0)), key.clone());
    options.counter = Some(requests.clone());
    // Injected SNS/SES faults are retried by the SDK quickly in tests.
    options.notify_backoff = std::time::Duration::from_millis(5);
    options.clock = shared::clock::Clock::offset(offset.clone());
    options.clock_offset = Some(offset);
    change(&mut options);
    let system = System::start(&endpoints, options)
        .await
        .expect("start the system");
    TestApp {
        api: ApiClient::new(system.gateway.base_url()),
        sdk: system.sdk.clone(),
        endpoints: endpoints.clone(),
        dynamodb: system.dynamodb,
        table: system.table,
        topic_arn: system.topic_arn,
        key,
        requests,
        evaluator: system.evaluator,
        alert_clock: system.alert_clock,
        expiry: system.expiry,
        reports: system.reports,
        replenishment: system.replenishment,
        reconciliation: system.reconciliation,
        bucket: system.bucket,
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&system.sdk)
                .force_path_style(true)
                .build(),
        ),
        poller: Mutex::new(system.poller),
        projector_poller: Mutex::new(system.projector_poller),
        clock_offset,
        moto: ApiClient::new(emulators.moto),
        dynamodb_proxy,
        moto_proxy,
        _gateway: system.gateway,
        _engine: engine,
    }
}

/// Hands a reader of the stream everything on it; returns how many records it was handed.
async fn drain(poller: &Mutex<StreamPoller>) -> usize {
    poller.lock().await.drain().await.expect("stream delivery")
}

/// One SNS publish as the emulator recorded it.
#[derive(Debug, Clone)]
pub struct Published {
    /// The per-protocol message (`default`, `sms`, `email`…).
    pub message: Value,
    pub subject: String,
    /// Message attributes: name → value.
    pub attributes: serde_json::Map<String, Value>,
}

impl TestApp {
    /// Runs both readers of the stream over everything on it, as their event source mappings
    /// would: the projector (ledger, listing, replenishment list, stocktake imports), then the
    /// alert evaluator. Returns what the evaluator was handed.
    pub async fn process_stream(&self) -> usize {
        self.project().await;
        self.evaluate().await
    }

    /// Runs the stream projector alone over everything on the stream (alerting left behind).
    pub async fn project(&self) -> usize {
        drain(&self.projector_poller).await
    }

    /// Runs the alert evaluator alone over everything on the stream.
    pub async fn evaluate(&self) -> usize {
        drain(&self.poller).await
    }

    /// Runs the stream projector, which starts the new imports on the stream, as its event
    /// source mapping would; returns how many queued imports it was handed.
    pub async fn run_imports(&self) -> usize {
        let import = |r: &Value| {
            r.pointer("/dynamodb/NewImage/entity/S")
                .and_then(Value::as_str)
                == Some(shared::schema::entity::IMPORT)
        };
        self.projector_poller
            .lock()
            .await
            .drain_counting(&import)
            .await
            .expect("stream delivery")
    }

    /// One run of the alert clock at the app's clock time.
    pub async fn tick(&self) -> shared::alerts::clock::TickReport {
        self.alert_clock.tick().await.expect("alert clock tick")
    }

    /// One replenishment run at the app's clock time, as on AWS: its tasks through its queue
    /// (two workers), committed. Panics if it did not commit.
    pub async fn plan_replenishment(&self) -> shared::replenishment::run::RunReport {
        self.replenishment
            .plan(self.now(), 2)
            .await
            .expect("the replenishment run commits")
    }

    /// One run of the reconciler (scheduled nightly on AWS) at the app's clock time, as on
    /// AWS: its tasks through its queue (two workers), committed.
    pub async fn reconcile(&self) -> shared::reconcile::RunReport {
        self.reconciliation
            .reconcile(self.now())
            .await
            .expect("the reconciliation run commits")
    }

    /// The data upgrade (the deploy runs it), at the app's clock time.
    pub fn upgrader(&self) -> shared::upgrade::Upgrader {
        let store = shared::store::Store::new(self.dynamodb.clone(), &self.table);
        let clock = shared::clock::Clock::offset(self.clock_offset.clone());
        shared::upgrade::Upgrader::new(store, clock)
    }

    /// One pass of the reservation-expiry sweep at the app's clock time.
    pub async fn expire_holds(&self) -> shared::reservations::expiry::SweepReport {
        self.expiry.sweep().await.expect("hold expiry sweep")
    }

    /// Records the poller gave up on (what would reach the on-failure queue).
    pub async fn dead_letters(&self) -> usize {
        self.poller.lock().await.dead_letters.len()
            + self.projector_poller.lock().await.dead_letters.len()
    }

    /// The current time of the evaluator's clock.
    pub fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp() + self.clock_offset.load(Ordering::Relaxed)
    }

    /// An object of the reports bucket.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    /// The app's clock offset (seconds ahead of the system's), for a clock of another
    /// machine that must move with it.
    pub fn clock_offset(&self) -> Arc<AtomicI64> {
        self.clock_offset.clone()
    }

    /// Moves the evaluator's clock forward.
    pub fn advance_clock(&self, seconds: i64) {
        self.clock_offset.fetch_add(seconds, Ordering::Relaxed);
    }

    /// Every record on the table's stream, as Lambda would deliver them.
    pub async fn stream_records(&self) -> Vec<Value> {
        StreamReader::for_table(&self.sdk, &self.endpoints.dynamodb, &self.table)
            .await
            .expect("open the stream")
            .read()
            .await
            .expect("read the stream")
    }

    async fn emulator_state(&self) -> Value {
        let r = self
            .moto
            .send(Method::GET, "/moto-api/data.json", &[], None)
            .await
            .expect("moto state");
        r.json()
    }

    /// What was published to this test's ops topic, oldest first.
    pub async fn published(&self) -> Vec<Published> {
        let state = self.emulator_state().await;
        let topics = state["sns"]["Topic"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // data.json lists every topic object ever made, a deleted and re-created one included.
        topics
            .iter()
            .filter(|t| t["arn"] == self.topic_arn.as_str())
            .flat_map(|t| {
                t["sent_notifications"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .iter()
            .map(|n| Published {
                message: n[1]
                    .as_str()
                    .and_then(|m| serde_json::from_str(m).ok())
                    .unwrap_or(Value::Null),
                subject: n[2].as_str().unwrap_or_default().to_owned(),
                attributes: n[3]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v["Value"].clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Emails the emulator's SES accepted for `recipient`, oldest first.
    pub async fn emails_to(&self, recipient: &str) -> Vec<Value> {
        let state = self.emulator_state().await;
        state["ses"]["Message"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| {
                m["destinations"]["ToAddresses"]
                    .as_array()
                    .is_some_and(|to| to.iter().any(|t| t == recipient))
            })
            .collect()
    }
}

/// Who calls: the scopes each role's token carries.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    Storefront,
    /// A second storefront (another client): it may not see or touch the first one's holds.
    OtherStorefront,
    Ops,
    ReadOnly,
}

impl TestApp {
    pub fn token(&self, role: Role) -> String {
        let (sub, scopes) = match role {
            Role::Storefront => ("shop-1", format!("{} {}", scope::SELL, scope::READ)),
            Role::OtherStorefront => {
                // A client-credentials token as Cognito issues it: the client id is its subject.
                return self.token_with(json!({
                    "sub": "shop-2",
                    "client_id": "shop-2",
                    "scope": format!("{} {}", scope::SELL, scope::READ),
                }));
            }
            Role::Ops => ("ops-1", format!("{} {}", scope::ADMIN, scope::READ)),
            Role::ReadOnly => ("analyst-1", scope::READ.to_owned()),
        };
        self.key.mint(sub, &scopes, 600)
    }

    /// A token with arbitrary claims, signed with this app's key.
    pub fn token_with(&self, claims: Value) -> String {
        let mut c = json!({ "iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "exp": 4_000_000_000i64 });
        if let (Some(base), Value::Object(extra)) = (c.as_object_mut(), claims) {
            base.extend(extra);
        }
        self.key.sign(&c)
    }

    pub async fn get(&self, path: &str, role: Role) -> ApiResponse {
        self.without_body(Method::GET, path, role).await
    }

    /// A call as `role` with neither body nor Idempotency-Key.
    async fn without_body(&self, method: Method, path: &str, role: Role) -> ApiResponse {
        self.api
            .call(method, path, Some(&self.token(role)), None, None)
            .await
            .expect("HTTP call")
    }

    pub async fn post(&self, path: &str, role: Role, key: &str, body: Value) -> ApiResponse {
        self.api
            .call(
                Method::POST,
                path,
                Some(&self.token(role)),
                Some(key),
                Some(&body),
            )
            .await
            .expect("HTTP call")
    }

    pub async fn put(&self, path: &str, role: Role, body: Value) -> ApiResponse {
        self.api
            .call(
                Method::PUT,
                path,
                Some(&self.token(role)),
                None,
                Some(&body),
            )
            .await
            .expect("HTTP call")
    }

    pub async fn create_location(&self, id: &str) {
        let r = self
            .put(
                &format!("/v1/locations/{id}"),
                Role::Ops,
                json!({ "name": format!("Warehouse {id}"), "kind": "warehouse" }),
            )
            .await;
        assert!(r.status.is_success(), "{}: {:?}", r.status, r.json());
    }

    pub async fn create_sku(&self, id: &str) {
        let r = self
            .put(
                &format!("/v1/skus/{id}"),
                Role::Ops,
                json!({ "name": format!("Product {id}") }),
            )
            .await;
        assert!(r.status.is_success(), "{}: {:?}", r.status, r.json());
    }

    /// A SKU stocked with `quantity` at `location` (both created).
    pub async fn stocked(&self, sku: &str, location: &str, quantity: i64) {
        self.create_location(location).await;
        self.create_sku(sku).await;
        self.receive(sku, location, quantity).await;
    }

    /// POSTs sent all at once, each on its own task as from a client of its own: a key and a
    /// body each, with `token`. Their answers, in the order given.
    pub async fn post_all(
        &self,
        path: &str,
        token: &str,
        calls: impl IntoIterator<Item = (String, Value)>,
    ) -> Vec<ApiResponse> {
        let auth = format!("Bearer {token}");
        let tasks: Vec<_> = calls
            .into_iter()
            .map(|(key, body)| {
                let (api, auth, path) = (self.api.clone(), auth.clone(), path.to_owned());
                tokio::spawn(async move {
                    let headers = [("authorization", auth.as_str()), ("idempotency-key", &key)];
                    let body = Some(body.to_string().into_bytes());
                    api.send(Method::POST, &path, &headers, body)
                        .await
                        .expect("HTTP call")
                })
            })
            .collect();
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.expect("task"));
        }
        out
    }

    pub async fn receive(&self, sku: &str, location: &str, quantity: i64) {
        let key = format!(
            "seed-{sku}-{location}-{}",
            NEXT_TABLE.fetch_add(1, Ordering::Relaxed)
        );
        let r = self
            .post(
                "/v1/receipts",
                Role::Ops,
                &key,
                json!({ "sku": sku, "location": location, "quantity": quantity }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    }

    /// The level of `sku` at `location` as the API reports it: (on_hand, reserved, in_transit, available).
    pub async fn level(&self, sku: &str, location: &str) -> Option<(i64, i64, i64, i64)> {
        let r = self.get(&format!("/v1/skus/{sku}"), Role::ReadOnly).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
        let body = r.json();
        body["levels"].as_array()?.iter().find_map(|l| {
            (l["location"] == location).then(|| {
                (
                    l["on_hand"].as_i64().unwrap(),
                    l["reserved"].as_i64().unwrap(),
                    l["in_transit"].as_i64().unwrap(),
                    l["available"].as_i64().unwrap(),
                )
            })
        })
    }

    /// A storefront sale of `quantity` units of `sku` at WH1 that must succeed.
    pub async fn sell(&self, key: &str, sku: &str, quantity: i64) {
        let r = self
            .post(
                "/v1/sales",
                Role::Storefront,
                key,
                json!({ "sku": sku, "location": "WH1", "quantity": quantity }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    }

    /// Creates an alert rule (ops); returns its id.
    pub async fn create_rule(&self, key: &str, rule: Value) -> String {
        let r = self.post("/v1/rules", Role::Ops, key, rule).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
        r.json()["rule_id"].as_str().unwrap().to_owned()
    }

    /// The inbox (`GET /v1/alerts?<query>`), first page.
    pub async fn alerts(&self, query: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/v1/alerts?{query}"), Role::ReadOnly)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
        r.json()["items"].as_array().cloned().unwrap()
    }

    /// The id of the first alert of the inbox (`GET /v1/alerts?<query>`).
    pub async fn first_alert_id(&self, query: &str) -> String {
        let alerts = self.alerts(query).await;
        let first = alerts
            .first()
            .unwrap_or_else(|| panic!("no alert for {query:?}"));
        first["alert_id"].as_str().unwrap().to_owned()
    }

    /// What went out on the ops topic, in order: `"<sku> <event>"` per publish.
    pub async fn notices(&self) -> Vec<String> {
        self.published()
            .await
            .iter()
            .map(|p| {
                format!(
                    "{} {}",
                    p.attributes["sku"].as_str().unwrap_or_default(),
                    p.attributes["event"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// Every ledger entry of a SKU, newest first, following the cursors. The ledger is written
    /// from the table's stream by the projector, so it runs first (as Lambda would have by then);
    /// alerting is not needed for it, and is not run.
    pub async fn ledger(&self, sku: &str) -> Vec<Value> {
        self.project().await;
        self.pages(&format!("/v1/skus/{sku}/ledger?limit=100"))
            .await
            .concat()
    }

    /// Every page of a listing (`path` with its query, without a cursor), following the cursors:
    /// each page's items. Each page must be a 200, and the cursors must end.
    pub async fn pages(&self, path: &str) -> Vec<Vec<Value>> {
        self.pages_as(path, Role::ReadOnly).await
    }

    /// [`Self::pages`] as `role` (a storefront lists its own holds).
    pub async fn pages_as(&self, path: &str, role: Role) -> Vec<Vec<Value>> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = match &cursor {
                Some(c) => format!("{path}{sep}cursor={c}"),
                None => path.to_owned(),
            };
            let r = self.get(&page, role).await;
            assert_eq!(r.status, StatusCode::OK, "{page}: {:?}", r.json());
            let body = r.json();
            pages.push(body["items"].as_array().cloned().unwrap_or_default());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return pages,
            }
            assert!(pages.len() < 1000, "{path}: the cursors never end");
        }
    }

    /// The SKUs of every page of a listing (`path` with its query, without a cursor).
    pub async fn skus_listed(&self, path: &str) -> BTreeSet<String> {
        self.pages(path)
            .await
            .concat()
            .iter()
            .map(|row| row["sku"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A POST that must be answered 201; returns its body.
    pub async fn created(&self, path: &str, role: Role, key: &str, body: Value) -> Value {
        let r = self.post(path, role, key, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{path}: {:?}", r.json());
        r.json()
    }

    /// A GET that must be answered 200; returns its body.
    pub async fn read(&self, path: &str) -> Value {
        self.read_as(path, Role::ReadOnly).await
    }

    /// [`Self::read`] as `role` (a storefront reads its own holds).
    pub async fn read_as(&self, path: &str, role: Role) -> Value {
        let r = self.get(path, role).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.json());
        r.json()
    }

    /// A POST with neither body nor Idempotency-Key (an alert's acknowledge or resolve).
    pub async fn post_bare(&self, path: &str, role: Role) -> ApiResponse {
        self.without_body(Method::POST, path, role).await
    }

    /// A PUT that must be answered 200 (a replaced rule, SKU or location); returns its body.
    pub async fn replaced(&self, path: &str, body: Value) -> Value {
        let r = self.put(path, Role::Ops, body).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.json());
        r.json()
    }

    pub async fn delete(&self, path: &str, role: Role) -> ApiResponse {
        self.without_body(Method::DELETE, path, role).await
    }

    /// From now on, the calls of `operation` to `service` get `fault` as `schedule` says, from
    /// the proxy in front of its emulator.
    pub fn fail(&self, service: Service, operation: &str, fault: Fault, schedule: Schedule) {
        self.inject(FaultRule::new(service, operation, fault, schedule));
    }

    /// SNS answers 5xx to every attempt of the next publish (the SDK's own retries included),
    /// then recovers.
    pub fn fail_next_publish(&self) {
        self.fail(
            Service::Sns,
            "Publish",
            Fault::ServerError,
            Schedule::Times(5),
        );
    }

    /// How many calls of `operation` got an injected fault, from either proxy.
    pub fn faults_answered(&self, operation: &str) -> usize {
        let (dynamodb, moto) = (self.dynamodb_proxy.injected(), self.moto_proxy.injected());
        dynamodb
            .iter()
            .chain(&moto)
            .filter(|(_, op, _)| op == operation)
            .count()
    }

    /// Hands the alert evaluator `records` as one batch, as Lambda would deliver them; returns
    /// the ids of the records it failed.
    pub async fn evaluate_batch(&self, records: &[Value]) -> Vec<String> {
        let event = json!({ "Records": records });
        let response = self.evaluator.handle_json(event).await;
        response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone().unwrap_or_default())
            .collect()
    }

    /// A fault rule, given to the proxy in front of its service's emulator.
    pub fn inject(&self, rule: FaultRule) {
        match rule.service {
            Service::DynamoDb | Service::DynamoDbStreams => self.dynamodb_proxy.inject(rule),
            Service::Sns | Service::Ses | Service::S3 => self.moto_proxy.inject(rule),
        }
    }
}

/// The `field` of each element of the array `items`, as text (an error's field, a history's
/// event, a ledger entry's kind).
pub fn each<'a>(items: &'a Value, field: &str) -> Vec<&'a str> {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|e| {
            e[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field}: {e}"))
        })
        .collect()
}

/// `base` with each field of `extra` set over it.
pub fn merged(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("extra fields are an object") {
        base[k] = v.clone();
    }
    base
}

/// The out-of-stock rule most alerting tests watch with (critical, by SMS), with `extra` fields.
pub fn out_of_stock(extra: Value) -> Value {
    merged(
        json!({ "name": "Out", "kind": "out_of_stock", "severity": "critical",
                "channels": { "sms": true } }),
        extra,
    )
}

/// A low-stock rule (a warning) firing at `threshold` and clearing at `clear_at`, with `extra`
/// fields.
pub fn low_stock(threshold: i64, clear_at: i64, extra: Value) -> Value {
    merged(
        json!({ "name": "Low", "kind": "low_stock", "threshold": threshold, "clear_at": clear_at,
                "severity": "warning" }),
        extra,
    )
}

/// Each SKU's SMS events, in the order SNS took them.
pub fn sms_by_sku(published: &[Published]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in published {
        out.entry(p.attributes["sku"].as_str().unwrap().to_owned())
            .or_default()
            .push(p.attributes["event"].as_str().unwrap().to_owned());
    }
    out
}

/// Each SKU's emails, "fire" or "resolve" by their subject, in the order SES took them.
pub fn emails_by_sku(emails: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in emails {
        let subject = e["subject"].as_str().unwrap();
        let sku = subject
            .split_once("] ")
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap()
            .to_owned();
        let event = if subject.starts_with("[RESOLVED]") {
            "resolve"
        } else {
            "fire"
        };
        out.entry(sku).or_default().push(event.to_owned());
    }
    out
}

/// Asserts a 422 `validation` problem naming exactly `fields`, in order; returns its body.
pub fn assert_invalid(r: &ApiResponse, fields: &[&str], what: &str) -> Value {
    let problem = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(
        each(&problem["errors"], "field"),
        fields,
        "{what}: {problem}"
    );
    problem
}

/// API Gateway's own refusal of a token without the route's scope (`AuthorizationScopes`): the
/// function never runs.
pub fn assert_edge_forbidden(r: &ApiResponse) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json());
    assert_eq!(r.json(), json!({ "message": "Forbidden" }));
}

/// Asserts a problem+json response with the given status and type slug; returns its body.
pub fn assert_problem(r: &ApiResponse, status: StatusCode, slug: &str) -> Value {
    assert_eq!(
        r.status,
        status,
        "body: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{:?}",
        r.json()
    );
    let body = r.json();
    assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

/// An item's size as DynamoDB counts it (what its 400 KB limit and its write units are measured
/// in): each attribute's name plus its value; a number by its significant digits; a map or
/// list 3 bytes plus 1 per element, plus its elements.
pub fn item_bytes(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => {
                let digits = n.trim_start_matches('-').replace('.', "");
                let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
                significant.div_ceil(2) + 1
            }
            AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
            AttributeValue::Ns(v) => v.iter().map(|n| value(&AttributeValue::N(n.clone()))).sum(),
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>()
            }
            _ => 0,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

impl TestApp {
    /// A level item of `sku` at WH1 someone broke by hand (no quantities), in the levels' index
    /// like the others.
    pub async fn put_broken_level(&self, sku: &str) {
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("SKU#{sku}")))
            .item("sk", AttributeValue::S("LOC#WH1".into()))
            .item("entity", AttributeValue::S("stock_level".into()))
            .item("lvl_shard", AttributeValue::S("LEVELS#00".into()))
            .send()
            .await
            .expect("put a broken level item");
    }

    /// The stored alert item of `alert_id`, as DynamoDB holds it.
    pub async fn alert_item(
        &self,
        alert_id: &str,
    ) -> std::collections::HashMap<String, AttributeValue> {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("ALERT#{alert_id}")))
            .key("sk", AttributeValue::S("META".into()))
            .consistent_read(true)
            .send()
            .await
            .expect("get alert item")
            .item
            .expect("the alert item exists")
    }
}
