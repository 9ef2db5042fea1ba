//! Function binaries as Lambda runs them, under the Runtime API emulator: size, init time (exec →
//! first request for work) next to a bare `lambda_runtime` echo binary built with the same
//! profile, and warm invoke latency, with and without an emulated AWS call.
//!
//! Build the release binaries first, then run:
//!   cargo build --release -p stock-command -p stock-query -p alerts-api -p alert-evaluator -p lambda-echo
//!   cargo run --profile perf -p local-stack --bin lambda-bench
//! Binaries are taken from `target/release` (or `BENCH_BIN_DIR`).

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use local_stack::{
    bench::percentile,
    jwt::JwtKey,
    project_root,
    runtime_api::{Outcome, RuntimeApi},
    system::{Options, System, LOCAL_SENDER},
    template::Template,
    Emulators, Endpoints,
};
use serde_json::{json, Value};

/// Builds the i-th event of a warm-invoke series.
type EventMaker = Box<dyn Fn(usize) -> Value>;

const COLD_STARTS: usize = 15;
const WARM_INVOKES: usize = 200;

struct Spec {
    binary: &'static str,
    logical_id: Option<&'static str>,
}

fn env_for(
    spec: &Spec,
    system: &System,
    template: &Template,
    runtime: &RuntimeApi,
    endpoints: &Endpoints,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("AWS_LAMBDA_RUNTIME_API".to_owned(), runtime.endpoint()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), spec.binary.into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".into(),
            "/aws/lambda/bench".into(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "bench".into()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
    ];
    env.extend(endpoints.env());
    if let Some(id) = spec.logical_id {
        for var in template.environment(id) {
            let value = match var.as_str() {
                "TABLE_NAME" => system.table.clone(),
                "ALERT_TOPIC_ARN" => system.topic_arn.clone(),
                "SENDER_EMAIL" => LOCAL_SENDER.into(),
                "RULE_CACHE_SECONDS" => "60".into(),
                "RUST_LOG" => "warn".into(),
                _ => String::new(),
            };
            env.push((var, value));
        }
    }
    env
}

/// The function binary at `path` started as Lambda starts it, with only `env`, its output
/// discarded.
fn start_function(path: &Path, env: Vec<(String, String)>) -> std::io::Result<Child> {
    Command::new(path)
        .env_clear()
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Stops a function binary started by [`start_function`].
fn stop_function(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn api_event(
    method: &str,
    path: &str,
    route: &str,
    scope: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> Value {
    let mut headers = json!({ "content-type": "application/json" });
    if let Some(k) = key {
        headers["idempotency-key"] = json!(k);
    }
    let mut e = json!({
        "version": "2.0", "routeKey": format!("{method} {route}"), "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "stage": "$default", "requestId": "r",
            "routeKey": format!("{method} {route}"), "time": "", "timeEpoch": 0,
            "authorizer": { "jwt": { "claims": { "sub": "bench", "scope": scope }, "scopes": null } },
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench" }
        },
        "isBase64Encoded": false
    });
    if let Some(b) = body {
        e["body"] = json!(b.to_string());
    }
    e
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bin_dir = std::env::var_os("BENCH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target/release"));
    let emulators = Emulators::start()?;
    let endpoints = emulators.endpoints();
    let system = System::start(
        &endpoints,
        Options::loopback("lambdabench", JwtKey::random()),
    )
    .await?;
    let template = Template::load(&project_root().join("template.yaml"))?;
    let specs = [
        Spec {
            binary: "lambda-echo",
            logical_id: None,
        },
        Spec {
            binary: "stock-command",
            logical_id: Some("StockCommandFunction"),
        },
        Spec {
            binary: "stock-query",
            logical_id: Some("StockQueryFunction"),
        },
        Spec {
            binary: "alerts-api",
            logical_id: Some("AlertsApiFunction"),
        },
        Spec {
            binary: "alert-evaluator",
            logical_id: Some("AlertEvaluatorFunction"),
        },
    ];
    let all = "inventory/admin inventory/read inventory/sell";
    // Seed a SKU with stock through the command binary itself (below).
    let mut rows = Vec::new();
    let mut echo_init = 0.0;
    for spec in &specs {
        let path = bin_dir.join(spec.binary);
        if !path.exists() {
            bail!(
                "{} missing: build the release binaries first (see the header of this file)",
                path.display()
            );
        }
        let size = std::fs::metadata(&path)?.len() as f64 / 1_048_576.0;
        // Cold starts: exec → first GET /invocation/next.
        let mut inits = Vec::new();
        for _ in 0..COLD_STARTS {
            let runtime = RuntimeApi::start().await?;
            let started = Instant::now();
            let child = start_function(
                &path,
                env_for(spec, &system, &template, &runtime, &endpoints),
            )?;
            let polled = runtime
                .first_poll(Duration::from_secs(10))
                .await
                .context("no first poll")?;
            inits.push(polled.duration_since(started).as_secs_f64() * 1e3);
            stop_function(child);
        }
        inits.sort_by(f64::total_cmp);
        let init_p50 = percentile(&inits, 0.5);
        if spec.binary == "lambda-echo" {
            echo_init = init_p50;
        }

        // Warm invokes: one process, many events.
        let runtime = RuntimeApi::start().await?;
        let child = start_function(
            &path,
            env_for(spec, &system, &template, &runtime, &endpoints),
        )?;
        let (no_io, with_io): (Value, Option<EventMaker>) = match spec.binary {
            "lambda-echo" => (json!({ "hello": "world" }), None),
            "stock-command" => {
                for (m, p, r, b, k) in [
                    (
                        "PUT",
                        "/v1/locations/WH1",
                        "/v1/locations/{location}",
                        json!({"name": "WH1", "kind": "warehouse"}),
                        None,
                    ),
                    (
                        "PUT",
                        "/v1/skus/B1",
                        "/v1/skus/{sku}",
                        json!({"name": "bench"}),
                        None,
                    ),
                    (
                        "POST",
                        "/v1/receipts",
                        "/v1/receipts",
                        json!({"sku": "B1", "location": "WH1", "quantity": 1_000_000}),
                        Some("seed"),
                    ),
                ] {
                    runtime
                        .invoke(
                            &api_event(m, p, r, all, Some(b), k),
                            Duration::from_secs(10),
                        )
                        .await?;
                }
                (
                    // Refused by validation: the handler's own work, no AWS call.
                    api_event(
                        "POST",
                        "/v1/sales",
                        "/v1/sales",
                        all,
                        Some(json!({"sku": "B1", "location": "WH1", "quantity": 0})),
                        Some("bad"),
                    ),
                    Some(Box::new(|i| {
                        api_event(
                            "POST",
                            "/v1/sales",
                            "/v1/sales",
                            all,
                            Some(json!({"sku": "B1", "location": "WH1", "quantity": 1})),
                            Some(&format!("warm-{i}")),
                        )
                    })),
                )
            }
            "stock-query" => (
                api_event(
                    "GET",
                    "/v1/skus/bad%20id",
                    "/v1/skus/{sku}",
                    all,
                    None,
                    None,
                ),
                Some(Box::new(|_| {
                    api_event("GET", "/v1/skus/B1", "/v1/skus/{sku}", all, None, None)
                })),
            ),
            "alerts-api" => (
                api_event(
                    "POST",
                    "/v1/rules",
                    "/v1/rules",
                    all,
                    Some(json!({"name": "x", "kind": "nope", "severity": "info"})),
                    Some("bad"),
                ),
                Some(Box::new(|_| {
                    api_event("GET", "/v1/alerts", "/v1/alerts", all, None, None)
                })),
            ),
            _ => (json!({ "Records": [] }), None),
        };
        let measure = |event: &Value| {
            let event = event.clone();
            let runtime = &runtime;
            async move {
                let started = Instant::now();
                let outcome = runtime.invoke(&event, Duration::from_secs(10)).await?;
                if let Outcome::Error(e) = outcome {
                    bail!("invocation error: {e}");
                }
                Ok::<f64, anyhow::Error>(started.elapsed().as_secs_f64() * 1e3)
            }
        };
        let mut quiet = Vec::new();
        for _ in 0..WARM_INVOKES {
            quiet.push(measure(&no_io).await?);
        }
        quiet.sort_by(f64::total_cmp);
        let mut io = Vec::new();
        if let Some(make) = &with_io {
            for i in 0..WARM_INVOKES {
                io.push(measure(&make(i)).await?);
            }
            io.sort_by(f64::total_cmp);
        }
        stop_function(child);
        rows.push((
            spec.binary,
            size,
            init_p50,
            percentile(&inits, 0.9),
            quiet.clone(),
            io,
        ));
    }

    println!(
        "Function binaries under the Runtime API emulator (release profile, x86_64 here; {} cold starts, {} warm invokes each):\n",
        COLD_STARTS, WARM_INVOKES
    );
    println!("| binary | size | init p50 | init p90 | init ÷ echo | warm p50 (no AWS call) | warm p99 (no AWS call) | warm p50 (one emulator call) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, size, p50, p90, quiet, io) in rows {
        let io_p50 = if io.is_empty() {
            "–".to_owned()
        } else {
            format!("{:.2} ms", percentile(&io, 0.5))
        };
        println!(
            "| {name} | {size:.1} MiB | {p50:.1} ms | {p90:.1} ms | {:.2}× | {:.3} ms | {:.3} ms | {io_p50} |",
            p50 / echo_init,
            percentile(&quiet, 0.5),
            percentile(&quiet, 0.99)
        );
    }
    Ok(())
}
