//! Every function's real binary, run as Lambda runs it: started with `AWS_LAMBDA_RUNTIME_API`
//! pointing at the Runtime API emulator, with exactly the environment `template.yaml` declares for
//! it (plus what Lambda itself sets), fed the event fixtures in `tests/fixtures/`.
//!
//! The binaries are built by `cargo build --workspace --bins` (infra/test.sh runs it first).

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use aws_sdk_dynamodb::types::AttributeValue;
use local_stack::{
    jwt::JwtKey,
    project_root,
    runtime_api::{Outcome, RuntimeApi},
    system::{Options, System, LOCAL_SENDER},
    template::Template,
};
use serde_json::Value;
use shared::schema::keys;
use system_tests::{endpoints, moto_endpoint};

/// A function binary running under its own Runtime API emulator; killed when dropped.
struct Function {
    runtime: RuntimeApi,
    child: Child,
    /// The function's own way to DynamoDB Local: refuses, as IAM would, any call its policy in
    /// the template does not allow (by action, table or index, partition key and attribute).
    dynamodb: local_stack::proxy::Proxy,
    /// What the function printed on stdout (where Lambda collects logs and EMF metrics).
    stdout: PathBuf,
}

impl Drop for Function {
    fn drop(&mut self) {
        // Every call the function made was one its policy allows.
        let denied = self.dynamodb.denied();
        if !denied.is_empty() && !std::thread::panicking() {
            panic!("calls outside the function's policy: {denied:?}");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stdout);
    }
}

static NEXT_LOG: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<this test> → target/<profile>/<name>
    let exe = std::env::current_exe().expect("test path");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (infra/test.sh does)",
        path.display()
    );
    path
}

fn fixture(name: &str) -> Value {
    let path = project_root().join("tests/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

/// The value a declared variable takes in this test's system.
fn value_of(var: &str, function: &str, system: &System) -> String {
    match var {
        "TABLE_NAME" => system.table.clone(),
        "ALERT_TOPIC_ARN" => system.topic_arn.clone(),
        "SENDER_EMAIL" => LOCAL_SENDER.into(),
        "RULE_CACHE_SECONDS" => "0".into(),
        "TIME_RULE_SWEEP_HOURS" => "1".into(),
        "REPORTS_BUCKET" => system.bucket.clone(),
        // Each fanned-out function's own task queue.
        "TASK_QUEUE_URL" if function == "ReportWriterFunction" => {
            system.reports.driver.queues().url.clone()
        }
        "TASK_QUEUE_URL" if function == "ReconcilerFunction" => {
            system.reconciliation.driver.queues().url.clone()
        }
        "TASK_QUEUE_URL" => system.replenishment.driver.queues().url.clone(),
        "RUST_LOG" => "warn".into(),
        other => panic!("template declares {other}: give it a test value here"),
    }
}

/// Drains `queues` into `function` (one invocation at a time: one runtime serves one), each
/// batch as the SQS event its event source mapping sends.
async fn drain_into(
    system: &System,
    function: &Arc<Function>,
    queues: &local_stack::queue::TaskQueues,
) -> local_stack::queue::Drained {
    let function = function.clone();
    let handler: local_stack::queue::TaskHandler = Arc::new(move |event| {
        let function = function.clone();
        Box::pin(async move {
            match function.invoke(&serde_json::to_value(&event)?).await {
                Outcome::Response(r) => Ok(serde_json::from_value(r)?),
                Outcome::Error(e) => anyhow::bail!("the worker failed: {e}"),
            }
        })
    });
    local_stack::queue::QueueDriver::new(
        aws_sdk_sqs::Client::new(&system.sdk),
        queues.clone(),
        handler,
    )
    .drain(1)
    .await
    .expect("the queue drains")
}

/// The stock command function, with the fixtures' location, SKU and receipt (10 CAP at WH1) sent
/// through it.
async fn command_with_cap_stocked(system: &System) -> Function {
    let command = start(system, "StockCommandFunction", "stock-command", &[], &[]).await;
    for f in [
        "apigw-v2-put-location.json",
        "apigw-v2-put-sku.json",
        "apigw-v2-post-receipt.json",
    ] {
        assert_eq!(command.http(&fixture(f)).await.0, 201, "{f}");
    }
    command
}

/// An API Gateway event of another route: `event` with its route key and path replaced.
fn routed(mut event: Value, route_key: &str, path: &str) -> Value {
    event["routeKey"] = serde_json::json!(route_key);
    event["requestContext"]["routeKey"] = serde_json::json!(route_key);
    event["rawPath"] = serde_json::json!(path);
    event["requestContext"]["http"]["path"] = serde_json::json!(path);
    event
}

/// CAP's level item at WH1, as the table holds it.
async fn cap_level(system: &System) -> std::collections::HashMap<String, AttributeValue> {
    system
        .dynamodb
        .get_item()
        .table_name(&system.table)
        .key("pk", AttributeValue::S(keys::sku("CAP")))
        .key("sk", AttributeValue::S(keys::location("WH1")))
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

/// Starts `binary` as the template's `logical_id`, leaving out `omit` and overriding `set`.
async fn start(
    system: &System,
    logical_id: &str,
    binary_name: &str,
    omit: &[&str],
    set: &[(&str, &str)],
) -> Function {
    let runtime = RuntimeApi::start().await.expect("runtime API");
    let template = Template::load(&project_root().join("template.yaml")).expect("template");
    let stdout = std::env::temp_dir().join(format!(
        "inventory-{binary_name}-{}-{}.log",
        std::process::id(),
        NEXT_LOG.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let dynamodb = local_stack::proxy::Proxy::start(&endpoints().dynamodb, false)
        .await
        .expect("DynamoDB proxy");
    dynamodb.enforce_policy(template.policy(logical_id));
    let mut cmd = Command::new(binary(binary_name));
    cmd.env_clear()
        // What Lambda sets for every function.
        .env("AWS_LAMBDA_RUNTIME_API", runtime.endpoint())
        .env("AWS_LAMBDA_FUNCTION_NAME", logical_id)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{logical_id}"),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/28/[$LATEST]local")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_SESSION_TOKEN", "test")
        // The emulators stand in for AWS's endpoints (DynamoDB Local for DynamoDB, moto for the
        // rest), reached through the SDK's own endpoint variables.
        .envs(endpoints().env())
        .env("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.endpoint())
        .stdout(Stdio::from(
            std::fs::File::create(&stdout).expect("stdout file"),
        ))
        .stderr(Stdio::null());
    for var in template.environment(logical_id) {
        if !omit.contains(&var.as_str()) {
            cmd.env(&var, value_of(&var, logical_id, system));
        }
    }
    for (k, v) in set {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start the function binary");
    Function {
        runtime,
        child,
        dynamodb,
        stdout,
    }
}

impl Function {
    /// The JSON lines the function printed so far.
    fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.stdout)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The value of each EMF metric `name` printed so far (with its line).
    fn metric(&self, name: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| {
                l["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["Name"] == name))
            })
            .collect()
    }

    async fn invoke(&self, event: &Value) -> Outcome {
        self.runtime
            .invoke(event, Duration::from_secs(20))
            .await
            .expect("the function answers")
    }

    /// Invokes with an API Gateway event; returns (status, body as JSON).
    async fn http(&self, event: &Value) -> (u64, Value) {
        match self.invoke(event).await {
            Outcome::Response(r) => {
                let body = r["body"].as_str().unwrap_or("null");
                (
                    r["statusCode"].as_u64().unwrap_or(0),
                    serde_json::from_str(body).unwrap_or(Value::Null),
                )
            }
            Outcome::Error(e) => panic!("invocation error: {e}"),
        }
    }

    /// Waits for the process to exit (it must, after an init failure), serving the runtime API
    /// meanwhile.
    async fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        for _ in 0..200 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

async fn system() -> System {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "lambda-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let options = Options::new(
        name,
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        JwtKey::random(),
    );
    System::start(&endpoints(), options).await.expect("system")
}

#[tokio::test]
async fn api_binaries_answer_api_gateway_events_and_change_stock() {
    let system = system().await;
    let command = start(&system, "StockCommandFunction", "stock-command", &[], &[]).await;
    let query = start(&system, "StockQueryFunction", "stock-query", &[], &[]).await;

    for (fixture_name, status) in [
        ("apigw-v2-put-location.json", 201),
        ("apigw-v2-put-sku.json", 201),
        ("apigw-v2-post-receipt.json", 201),
        ("apigw-v2-post-sale.json", 201),
    ] {
        let (got, body) = command.http(&fixture(fixture_name)).await;
        assert_eq!(got, status, "{fixture_name}: {body}");
    }
    // The same sale again is a replay: same result, stock unchanged.
    let (status, replay) = command.http(&fixture("apigw-v2-post-sale.json")).await;
    assert_eq!(status, 201);
    assert_eq!(replay["actor"], "storefront-1");

    let (status, sku) = query.http(&fixture("apigw-v2-get-sku.json")).await;
    assert_eq!(status, 200, "{sku}");
    assert_eq!(sku["levels"][0]["available"], 7);
    assert_eq!(sku["attributes"]["brand"], "Hatly");

    // Each function answers only its own routes (the command function knows only PUT there).
    let (status, body) = query.http(&fixture("apigw-v2-post-sale.json")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = command.http(&fixture("apigw-v2-get-sku.json")).await;
    assert_eq!(
        (status, body["allowed"].clone()),
        (405, serde_json::json!(["PUT"]))
    );

    // Refusals: the store's (more than is available) and the caller's (an invalid body).
    let refusal = |key: &str, body: serde_json::Value| {
        let mut event = fixture("apigw-v2-post-sale.json");
        event["headers"]["idempotency-key"] = serde_json::json!(key);
        event["body"] = serde_json::json!(body.to_string());
        event
    };
    let (status, body) = command
        .http(&refusal(
            "too-many",
            serde_json::json!({ "sku": "CAP", "location": "WH1", "quantity": 500 }),
        ))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = command
        .http(&refusal(
            "bad-body",
            serde_json::json!({ "sku": "CAP", "location": "WH1", "quantity": -1 }),
        ))
        .await;
    assert_eq!(status, 422, "{body}");
    let refused: Vec<(String, String)> = command
        .metric("MovementsRefused")
        .iter()
        .map(|l| {
            (
                l["Kind"].as_str().unwrap().to_owned(),
                l["Reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            ("sale".to_owned(), "insufficient-stock".to_owned()),
            ("sale".to_owned(), "validation".to_owned())
        ]
    );

    // What it printed: one JSON line per request, and the accepted movements as EMF metrics.
    let accepted = command.metric("MovementsAccepted");
    let kinds: Vec<&str> = accepted
        .iter()
        .map(|l| l["Kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["receipt", "sale"],
        "the replay is not counted again"
    );
    assert_eq!(
        accepted[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Inventory"
    );
    let requests: Vec<Value> = command
        .lines()
        .into_iter()
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 8, "{requests:?}");
    let sale = &requests[3]["fields"];
    assert_eq!(sale["route"], "POST /v1/sales");
    assert_eq!(sale["status"], 201);
    assert_eq!(sale["actor"], "storefront-1");
    assert!(sale["latency_ms"].as_f64().is_some() && sale["request_id"].is_string());
}

#[tokio::test]
async fn evaluator_binary_answers_stream_events_and_notifies() {
    let system = system().await;
    let alerts = start(&system, "AlertsApiFunction", "alerts-api", &[], &[]).await;
    let evaluator = start(
        &system,
        "AlertEvaluatorFunction",
        "alert-evaluator",
        &[],
        &[],
    )
    .await;
    let (status, rule) = alerts.http(&fixture("apigw-v2-post-rule.json")).await;
    assert_eq!(status, 201, "{rule}");

    let event = fixture("dynamodb-stream-level-crosses-threshold.json");
    let Outcome::Response(response) = evaluator.invoke(&event).await else {
        panic!("the evaluator failed the whole batch");
    };
    // The corrupted record is reported; the other one was processed.
    assert_eq!(
        response["batchItemFailures"],
        serde_json::json!([{ "itemIdentifier": "111100000000000000002" }])
    );
    let state: Value = local_stack::client::ApiClient::new(moto_endpoint())
        .send(http::Method::GET, "/moto-api/data.json", &[], None)
        .await
        .unwrap()
        .json();
    let sent: Vec<Value> = state["sns"]["Topic"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["arn"] == system.topic_arn.as_str())
        .flat_map(|t| {
            t["sent_notifications"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(sent.len(), 1);
    let message: Value = serde_json::from_str(sent[0][1].as_str().unwrap()).unwrap();
    assert!(message["sms"].as_str().unwrap().contains("CAP @ WH1"));

    // Delivered again: nothing is sent twice.
    evaluator.invoke(&event).await;
    let state: Value = local_stack::client::ApiClient::new(moto_endpoint())
        .send(http::Method::GET, "/moto-api/data.json", &[], None)
        .await
        .unwrap()
        .json();
    let again = state["sns"]["Topic"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["arn"] == system.topic_arn.as_str())
        .map(|t| t["sent_notifications"].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    assert_eq!(again, 1);

    // Restocked (a newer version of the level, back above clear_at): the episode resolves.
    let mut restock = event["Records"][0].clone();
    let before = restock["dynamodb"]["NewImage"].clone();
    let image = &mut restock["dynamodb"]["NewImage"];
    for quantity in ["on_hand", "available"] {
        image[quantity] = serde_json::json!({ "N": "12" });
    }
    image["version"] = serde_json::json!({ "N": "6" });
    restock["dynamodb"]["OldImage"] = before;
    restock["dynamodb"]["SequenceNumber"] = serde_json::json!("111100000000000000003");
    restock["eventID"] = serde_json::json!("c4ca4238a0b923820dcc509a6f75849c");
    let Outcome::Response(response) = evaluator
        .invoke(&serde_json::json!({ "Records": [restock] }))
        .await
    else {
        panic!("the evaluator failed the restock");
    };
    assert_eq!(response["batchItemFailures"], serde_json::json!([]));

    // Its metrics: one alert fired and resolved, its SMS sent, and each delivery of the batch
    // with one failed record counted.
    assert_eq!(evaluator.metric("AlertsFired").len(), 1);
    let resolved = evaluator.metric("AlertsResolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["Kind"], "low_stock");
    let sent = evaluator.metric("DeliveriesSent");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["Channel"], "sms");
    let failed = evaluator.metric("StreamRecordsFailed");
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["StreamRecordsFailed"], 1.0);
}

#[tokio::test]
async fn missing_or_malformed_configuration_fails_init_naming_the_variable() {
    let system = system().await;
    // A variable left out, or set to what it cannot be: the init error names it.
    let left_out = [
        ("StockCommandFunction", "stock-command", "TABLE_NAME"),
        ("StockQueryFunction", "stock-query", "TABLE_NAME"),
        ("AlertEvaluatorFunction", "alert-evaluator", "SENDER_EMAIL"),
        ("StreamProjectorFunction", "stream-projector", "TABLE_NAME"),
        (
            "ReservationExpiryFunction",
            "reservation-expiry",
            "TABLE_NAME",
        ),
    ]
    .map(|(function, binary, named)| (function, binary, vec![named], vec![], named));
    let set_wrong = [
        (
            "AlertsApiFunction",
            "alerts-api",
            ("TABLE_NAME", "no spaces allowed"),
        ),
        (
            "AlertEvaluatorFunction",
            "alert-evaluator",
            ("RULE_CACHE_SECONDS", "soon"),
        ),
        (
            "AlertClockFunction",
            "alert-clock",
            ("TIME_RULE_SWEEP_HOURS", "25"),
        ),
    ]
    .map(|(function, binary, set)| (function, binary, vec![], vec![set], set.0));
    for (logical_id, binary_name, omit, set, named) in left_out.into_iter().chain(set_wrong) {
        let mut f = start(&system, logical_id, binary_name, &omit, &set).await;
        let status = f.exit_status().await.expect("the process stops at init");
        assert!(!status.success(), "{binary_name}");
        let error = f
            .runtime
            .init_error()
            .expect("init error reported to the runtime API");
        assert_eq!(error["errorType"], "Runtime.ConfigError");
        assert!(
            error["errorMessage"].as_str().unwrap().contains(named),
            "{binary_name}: {error}"
        );
        assert!(
            f.runtime
                .first_poll(Duration::from_millis(10))
                .await
                .is_none(),
            "never asked for work"
        );
    }
}

#[tokio::test]
async fn stream_projector_binary_applies_an_upload_from_its_stream_record() {
    let system = system().await;
    let command = command_with_cap_stocked(&system).await;
    // An upload through the API (the command function stores it and queues it).
    let receipt = fixture("apigw-v2-post-receipt.json");
    let mut upload = routed(receipt, "POST /v1/stocktakes", "/v1/stocktakes");
    upload["headers"]["content-type"] = serde_json::json!("text/csv");
    upload["headers"]["idempotency-key"] = serde_json::json!("count-1");
    upload["body"] =
        serde_json::json!("sku,location,counted,expected\nCAP,WH1,4,10\nCAP,WH1,3,9\n");
    let (status, queued) = command.http(&upload).await;
    assert_eq!(status, 202, "{queued}");
    let id = queued["import_id"].as_str().unwrap().to_owned();

    // Its stream record (the import item's INSERT, as the event source mapping's filter passes
    // it) starts the function.
    let worker = start(
        &system,
        "StreamProjectorFunction",
        "stream-projector",
        &[],
        &[],
    )
    .await;
    let record = serde_json::json!({ "Records": [{
        "eventID": "1", "eventName": "INSERT", "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": { "pk": { "S": format!("IMPORT#{id}") }, "sk": { "S": "META" } },
            "NewImage": { "pk": { "S": format!("IMPORT#{id}") }, "sk": { "S": "META" },
                          "entity": { "S": "stocktake_import" }, "import_id": { "S": id },
                          "status": { "S": "queued" } },
            "SequenceNumber": "100", "StreamViewType": "NEW_AND_OLD_IMAGES" } }] });
    let Outcome::Response(response) = worker.invoke(&record).await else {
        panic!("the stream projector failed");
    };
    assert_eq!(response["batchItemFailures"], serde_json::json!([]));
    // The first line counted 4 where 10 were; the second expected 9, which was stale by then.
    let query = start(&system, "StockQueryFunction", "stock-query", &[], &[]).await;
    let (_, sku) = query.http(&fixture("apigw-v2-get-sku.json")).await;
    assert_eq!(sku["levels"][0]["on_hand"], 4, "{sku}");
    let path = format!("/v1/stocktakes/{id}");
    let get_sku = fixture("apigw-v2-get-sku.json");
    let mut get = routed(get_sku, "GET /v1/stocktakes/{import_id}", &path);
    get["pathParameters"] = serde_json::json!({ "import_id": id });
    let (status, done) = query.http(&get).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (
            done["status"].as_str(),
            done["applied"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some("done"), Some(1), Some(1)),
        "{done}"
    );
    assert_eq!(done["failures"][0]["line"], 3);
    assert_eq!(done["failures"][0]["type"], "/problems/stale-count");

    // The stock changes now on the stream (the receipt's, the import's line), as the mapping's
    // filter passes them: the same binary writes their ledger entries and listing entries under
    // its template's key prefixes.
    let records: Vec<Value> = local_stack::streams::StreamReader::for_table(
        &system.sdk,
        &system.endpoints.dynamodb,
        &system.table,
    )
    .await
    .unwrap()
    .read()
    .await
    .unwrap()
    .into_iter()
    .filter(|r| {
        r.pointer("/dynamodb/NewImage/entity/S")
            .and_then(Value::as_str)
            == Some("stock_level")
    })
    .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    let Outcome::Response(response) = worker
        .invoke(&serde_json::json!({ "Records": records }))
        .await
    else {
        panic!("the stream projector failed the stock changes");
    };
    assert_eq!(response["batchItemFailures"], serde_json::json!([]));
    let get_sku = fixture("apigw-v2-get-sku.json");
    let ledger = routed(get_sku, "GET /v1/skus/{sku}/ledger", "/v1/skus/CAP/ledger");
    let (status, entries) = query.http(&ledger).await;
    assert_eq!(status, 200, "{entries}");
    let items = entries["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{entries}");
    assert_eq!(items[0]["before"]["on_hand"], 10, "{entries}");
    assert_eq!(items[0]["after"]["on_hand"], 4, "{entries}");
}

#[tokio::test]
async fn reservation_expiry_binary_gives_back_a_hold_past_its_time() {
    let system = system().await;
    let command = command_with_cap_stocked(&system).await;
    // A storefront holds 4 of the 10 through the command function.
    let mut hold = fixture("apigw-v2-post-sale.json");
    for (path, value) in [
        ("/routeKey", "POST /v1/reservations"),
        ("/requestContext/routeKey", "POST /v1/reservations"),
        ("/rawPath", "/v1/reservations"),
        ("/requestContext/http/path", "/v1/reservations"),
        ("/headers/idempotency-key", "cart-77"),
    ] {
        *hold.pointer_mut(path).unwrap() = serde_json::json!(value);
    }
    hold["body"] = serde_json::json!(
        r#"{"lines":[{"sku":"CAP","location":"WH1","quantity":4}],"ttl_minutes":1}"#
    );
    let (status, held) = command.http(&hold).await;
    assert_eq!(status, 201, "{held}");
    let id = held["reservation_id"].as_str().unwrap().to_owned();
    // A minute passes: its end is moved into the past (the binary runs on the system clock).
    let past = time::OffsetDateTime::now_utc().unix_timestamp() * 1000 - 1000;
    system
        .dynamodb
        .update_item()
        .table_name(&system.table)
        .key("pk", AttributeValue::S(keys::reservation(&id)))
        .key("sk", AttributeValue::S(keys::META.into()))
        .update_expression("SET hold_until_ms = :ms, exp_sk = :sk")
        .expression_attribute_values(":ms", AttributeValue::N(past.to_string()))
        .expression_attribute_values(":sk", AttributeValue::S(keys::expiry_sort(past, &id)))
        .send()
        .await
        .unwrap();
    // One run of the schedule's function, under the template's key prefixes, gives it back.
    let expiry = start(
        &system,
        "ReservationExpiryFunction",
        "reservation-expiry",
        &[],
        &[],
    )
    .await;
    let mut tick = fixture("eventbridge-scheduled.json");
    tick["window_seconds"] = serde_json::json!(0);
    let report = match expiry.invoke(&tick).await {
        Outcome::Response(report) => report,
        Outcome::Error(e) => panic!("the expiry function failed: {e}"),
    };
    assert_eq!(
        report,
        serde_json::json!({"passes": 1, "due": 1, "expired": 1, "skipped": 0, "failed": 0, "deferred": 0, "shards_failed": 0})
    );
    let level = cap_level(&system).await;
    assert_eq!(level["reserved"], AttributeValue::N("0".into()));
    assert_eq!(level["available"], AttributeValue::N("10".into()));
    assert_eq!(expiry.metric("HoldsExpired")[0]["HoldsExpired"], 1.0);
}

#[tokio::test]
async fn alert_clock_binary_answers_its_schedule() {
    let system = system().await;
    let clock = start(&system, "AlertClockFunction", "alert-clock", &[], &[]).await;
    let Outcome::Response(report) = clock.invoke(&fixture("eventbridge-scheduled.json")).await
    else {
        panic!("the alert clock failed");
    };
    // Nothing open yet: it walked the (empty) episodes index of the table the template names.
    assert_eq!(
        report,
        serde_json::json!({ "episodes": 0, "closed_for_rule_change": 0,
                            "closed_for_missing_level": 0, "failed": 0,
                            "sweep": { "shards": 0, "levels": 0, "opened": 0, "skipped": 0 } })
    );
}

#[tokio::test]
async fn reconciler_binary_proves_a_level_against_its_ledger_and_moves_its_checkpoint() {
    let mut system = system().await;
    let _command = command_with_cap_stocked(&system).await;
    system.drain_stream().await.unwrap();
    let reconciler = Arc::new(start(&system, "ReconcilerFunction", "reconciler", &[], &[]).await);
    let Outcome::Response(started) = reconciler
        .invoke(&fixture("eventbridge-scheduled.json"))
        .await
    else {
        panic!("the reconciler failed");
    };
    assert_eq!(started["sent"], 60, "{started}");
    let drained = drain_into(&system, &reconciler, system.reconciliation.driver.queues()).await;
    assert_eq!((drained.messages, drained.failed), (60, 0), "{drained:?}");
    let report: Value = system
        .reconciliation
        .summary(started["run"].as_str().unwrap())
        .await
        .unwrap()
        .expect("committed");
    // CAP at WH1: its receipt's entry adds up to the level.
    assert_eq!(
        (
            &report["levels"],
            &report["clean"],
            &report["drift"],
            &report["failed"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(1),
            &serde_json::json!(0),
            &serde_json::json!(0)
        ),
        "{report}"
    );
    assert_eq!(
        reconciler.metric("LevelsReconciled")[0]["LevelsReconciled"],
        1.0
    );
    // Its checkpoint is written under the template's key prefixes.
    let checkpoint = system
        .dynamodb
        .get_item()
        .table_name(&system.table)
        .key("pk", AttributeValue::S("RECON#CAP".into()))
        .key("sk", AttributeValue::S("LOC#WH1".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("a checkpoint");
    assert_eq!(checkpoint["version"], AttributeValue::N("1".into()));
}

#[tokio::test]
async fn upgrade_binary_backfills_old_shape_items_within_its_policy() {
    let mut system = system().await;
    let _command = command_with_cap_stocked(&system).await;
    system.drain_stream().await.unwrap();
    // CAP as the first releases wrote it: a level without its shard or listing entry, a receipt
    // outside the receipts index, a SKU without search text.
    let strip = |pk: String, sk: String, names: &'static [&'static str]| {
        let update = system
            .dynamodb
            .update_item()
            .table_name(&system.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk));
        let expression: Vec<String> = (0..names.len()).map(|i| format!("#a{i}")).collect();
        let update = names.iter().enumerate().fold(update, |u, (i, name)| {
            u.expression_attribute_names(format!("#a{i}"), *name)
        });
        async move {
            update
                .update_expression(format!("REMOVE {}", expression.join(", ")))
                .send()
                .await
                .unwrap();
        }
    };
    strip(keys::sku("CAP"), keys::location("WH1"), &["lvl_shard"]).await;
    strip(keys::sku("CAP"), keys::META.into(), &["search"]).await;
    let receipts = system
        .dynamodb
        .query()
        .table_name(&system.table)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", AttributeValue::S(keys::ledger("CAP")))
        .send()
        .await
        .unwrap();
    for entry in receipts.items() {
        let sk = entry["sk"].as_s().unwrap().clone();
        strip(keys::ledger("CAP"), sk, &["rcpt_pk", "rcpt_sk"]).await;
    }
    system
        .dynamodb
        .delete_item()
        .table_name(&system.table)
        .key("pk", AttributeValue::S(keys::listing_entry("CAP", "WH1")))
        .key("sk", AttributeValue::S(keys::META.into()))
        .send()
        .await
        .unwrap();
    let upgrade = start(&system, "UpgradeFunction", "upgrade", &[], &[]).await;
    let report = match upgrade.invoke(&serde_json::json!({})).await {
        Outcome::Response(report) => report,
        Outcome::Error(e) => panic!("the upgrade failed: {e}"),
    };
    let fixed = |k: &str| report[k].as_u64();
    assert_eq!(
        (
            report["complete"].as_bool(),
            fixed("levels_sharded"),
            fixed("levels_listed"),
            fixed("receipts_indexed"),
            fixed("skus_indexed")
        ),
        (Some(true), Some(1), Some(1), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(
        cap_level(&system).await["lvl_shard"],
        AttributeValue::S(keys::level_shard("CAP", "WH1"))
    );
    // Invoked again (as a deploy does every time): already done, nothing read but its state.
    let Outcome::Response(again) = upgrade.invoke(&serde_json::json!({})).await else {
        panic!("the upgrade failed");
    };
    assert_eq!(
        (again["complete"].as_bool(), again["pages"].as_u64()),
        (Some(true), Some(0))
    );
}

#[tokio::test]
async fn replenishment_binary_plans_a_level_under_its_template_key_prefixes() {
    let system = system().await;
    let _command = command_with_cap_stocked(&system).await;
    // Twenty days of one a day already carried into the level's forecast item.
    let today = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .div_euclid(86_400);
    let demand = shared::replenishment::Demand {
        daily: vec![1; 20],
        last_day: today - 1,
    };
    let level = shared::domain::Quantities {
        on_hand: 10,
        available: 10,
        ..Default::default()
    };
    let earlier = shared::replenishment::plan("CAP", "WH1", None, &demand, &level, "2026-01-01");
    system
        .dynamodb
        .put_item()
        .table_name(&system.table)
        .set_item(Some(shared::replenishment::store::to_item(
            &demand, &earlier,
        )))
        .send()
        .await
        .unwrap();
    let planner =
        Arc::new(start(&system, "ReplenishmentFunction", "replenishment", &[], &[]).await);
    // Its schedule starts the night's run: the run recorded, one task per level shard queued.
    let started = match planner.invoke(&fixture("eventbridge-scheduled.json")).await {
        Outcome::Response(started) => started,
        Outcome::Error(e) => panic!("the replenishment coordinator failed: {e}"),
    };
    assert_eq!(
        (&started["tasks"], &started["sent"], &started["resumed"]),
        (
            &serde_json::json!(60),
            &serde_json::json!(60),
            &serde_json::json!(false)
        ),
        "{started}"
    );
    // The queue's messages reach the same binary as SQS events, as its event source sends them.
    let drained = drain_into(&system, &planner, system.replenishment.driver.queues()).await;
    assert_eq!((drained.messages, drained.failed), (60, 0), "{drained:?}");
    let run = started["run"].as_str().unwrap();
    let report: Value = system
        .replenishment
        .summary(run)
        .await
        .unwrap()
        .expect("committed");
    assert_eq!(
        (
            &report["planned"],
            &report["failed"],
            &report["reorder_points_written"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!(0),
            &serde_json::json!(1)
        ),
        "{report}"
    );
    assert_eq!(planner.metric("RunsCommitted").len(), 1);
    // Invoked again (a retry of the schedule), the coordinator finds the run committed.
    let again = match planner.invoke(&fixture("eventbridge-scheduled.json")).await {
        Outcome::Response(again) => again,
        Outcome::Error(e) => panic!("the replenishment coordinator failed: {e}"),
    };
    assert_eq!(
        (&again["sent"], &again["committed"]),
        (&serde_json::json!(0), &serde_json::json!(true))
    );
    assert_eq!(planner.metric("LevelsPlanned")[0]["LevelsPlanned"], 1.0);
    // The reorder point is on the level: 1 a day over 8 days (7 default lead + 1), no error.
    let item = cap_level(&system).await;
    assert_eq!(item["reorder_point"], AttributeValue::N("8".into()));
    assert_eq!(
        item["on_hand"],
        AttributeValue::N("10".into()),
        "stock untouched"
    );
    assert_eq!(report["objects"].as_array().unwrap().len(), 120);
}

#[tokio::test]
async fn report_writer_binary_answers_its_schedule_and_writes_the_previous_day() {
    let system = system().await;
    let _command = command_with_cap_stocked(&system).await;
    let writer = Arc::new(start(&system, "ReportWriterFunction", "report-writer", &[], &[]).await);
    // Scheduled at 00:15 tomorrow: the report of today, the day the stock came in (a day only
    // holds the levels that existed at its end, and only the last days can be written).
    let now = time::OffsetDateTime::now_utc();
    let today = shared::reports::date_of_day(now.unix_timestamp().div_euclid(86_400));
    let tomorrow = shared::reports::date_of_day(now.unix_timestamp().div_euclid(86_400) + 1);
    let mut event = fixture("eventbridge-scheduled.json");
    event["time"] = serde_json::json!(format!("{tomorrow}T00:15:00Z"));
    let started = match writer.invoke(&event).await {
        Outcome::Response(started) => started,
        Outcome::Error(e) => panic!("the report writer failed: {e}"),
    };
    assert_eq!(
        (&started["run"], &started["sent"]),
        (&serde_json::json!(today), &serde_json::json!(60)),
        "{started}"
    );
    let drained = drain_into(&system, &writer, system.reports.driver.queues()).await;
    assert_eq!((drained.messages, drained.failed), (60, 0), "{drained:?}");
    let manifest: Value = system
        .reports
        .summary(&today)
        .await
        .unwrap()
        .expect("the day committed");
    assert_eq!(manifest["dt"], today.as_str(), "{manifest}");
    assert_eq!(manifest["levels"], 1);
    let written = writer.metric("ReportWritten");
    assert_eq!(written.len(), 1);
    assert!(
        written[0]["ReportDuration"]
            .as_f64()
            .is_some_and(|ms| ms > 0.0),
        "{written:?}"
    );
    assert_eq!(written[0]["ReportRows"].as_f64(), {
        let rows: u64 = manifest["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["rows"].as_u64().unwrap())
            .sum();
        Some(rows as f64)
    });
    // The level's snapshot part is its level-index shard's.
    let shard = shared::schema::keys::level_shard("CAP", "WH1");
    let key = format!(
        "reports/snapshot/dt={today}/part-000{}.csv",
        shard.trim_start_matches("LEVELS#")
    );
    assert!(
        manifest["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["key"] == key.as_str()),
        "{manifest}"
    );
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&system.sdk)
            .force_path_style(true)
            .build(),
    );
    let object = s3
        .get_object()
        .bucket(&system.bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("day,sku,location,"), "{text}");
    assert!(
        text.contains(&format!("{today},CAP,WH1,10,0,0,10,")),
        "{text}"
    );

    // The 01:00 check (its schedule's input alone): last night's report is not there yet.
    let check = serde_json::json!({ "check": true });
    let Outcome::Response(answer) = writer.invoke(&check).await else {
        panic!("the check failed");
    };
    let yesterday = shared::reports::date_of_day(now.unix_timestamp().div_euclid(86_400) - 1);
    assert_eq!(
        answer,
        serde_json::json!({ "dt": yesterday, "committed": false })
    );
    // The check started that day's run (its tasks are queued); asked for the day again, the
    // function resumes the same run. Its tasks done, checked again: committed.
    let Outcome::Response(rerun) = writer
        .invoke(&serde_json::json!({ "day": yesterday }))
        .await
    else {
        panic!("the re-run failed");
    };
    assert_eq!(
        (&rerun["run"], &rerun["resumed"]),
        (&serde_json::json!(yesterday), &serde_json::json!(true)),
        "{rerun}"
    );
    let drained = drain_into(&system, &writer, system.reports.driver.queues()).await;
    assert_eq!(drained.failed, 0, "{drained:?}");
    let Outcome::Response(answer) = writer.invoke(&check).await else {
        panic!("the check failed");
    };
    assert_eq!(answer["committed"], true);
    let missing: Vec<f64> = writer
        .metric("ReportMissing")
        .iter()
        .map(|l| l["ReportMissing"].as_f64().unwrap())
        .collect();
    assert_eq!(
        missing,
        vec![1.0, 0.0, 0.0],
        "missing, written late, present"
    );
}
