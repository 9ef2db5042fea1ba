//! Runs the whole system locally: DynamoDB Local and moto, the resources of template.yaml,
//! the HTTP API on 127.0.0.1 with a printed token per role, and the admin console under
//! `/console/` (signed in with those tokens).
//!
//! Usage: local-stack [--port 3000] [--demo] [--state-file PATH]
//!        local-stack report [--day YYYY-MM-DD] [--state-file PATH]
//!
//! The state file (default `infra/.local/stack.json`) is written last, once the stack is ready
//! (demo data loaded): a script can wait for it to appear. `report` runs the scheduled function
//! now against the stack that file describes.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{atomic::AtomicI64, Arc},
    time::Duration,
};

use anyhow::{bail, Context};
use http::Method;
use local_stack::{
    client::ApiClient,
    jwt::{JwtKey, LOCAL_AUDIENCE, LOCAL_ISSUER, ROLES},
    project_root,
    system::{Options, System, LOCAL_SENDER},
    Emulators,
};
use serde_json::json;
use shared::clock::Clock;

const TABLE: &str = "inventory";

const USAGE: &str = "\
usage: local-stack [--port 3000] [--demo] [--clock-offset T] [--state-file PATH]
       local-stack report [--day YYYY-MM-DD] [--state-file PATH]

  --port N           port of the API and the admin console on 127.0.0.1 (0: a free one)
  --demo             load demo data (locations, SKUs, stock, a low-stock rule)
  --clock-offset T   start the stack's clock T ahead (90s, 15m, 6h, 2d); move it later with
                     POST /_local/clock {\"advance_seconds\": N} (ops token)
  --state-file PATH  where the endpoints and tokens are written once the stack is ready
                     (default infra/.local/stack.json); `report` reads it
  report             write the reports now (today, or --day) against the running stack";

/// The command line: the stack itself, or `report` against a running one.
struct Args {
    report: bool,
    port: u16,
    demo: bool,
    day: Option<String>,
    state_file: PathBuf,
    /// Seconds the stack's clock starts ahead of the system's.
    clock_offset: i64,
}

fn default_state_file() -> PathBuf {
    project_root().join("infra/.local/stack.json")
}

/// `90`, `90s`, `15m`, `6h` or `2d` as seconds.
fn parse_offset(v: &str) -> anyhow::Result<i64> {
    let (number, unit) = match v.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&v[..i], c),
        _ => (v, 's'),
    };
    let n: i64 = number
        .parse()
        .with_context(|| format!("--clock-offset {v}: expected a number with s, m, h or d"))?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        other => bail!("--clock-offset {v}: unknown unit {other}"),
    };
    Ok(n * unit)
}

fn args() -> anyhow::Result<Args> {
    let mut raw = std::env::args().skip(1).peekable();
    let report = raw.peek().map(String::as_str) == Some("report");
    if report {
        raw.next();
    }
    let mut args = Args {
        report,
        port: 3000,
        demo: false,
        day: None,
        state_file: default_state_file(),
        clock_offset: 0,
    };
    while let Some(a) = raw.next() {
        match (a.as_str(), report) {
            ("--port", false) => {
                let port = raw.next().context("--port needs a value")?;
                args.port = port
                    .parse()
                    .with_context(|| format!("--port {port}: expected 0-65535"))?;
            }
            ("--demo", false) => args.demo = true,
            ("--clock-offset", false) => {
                let v = raw.next().context("--clock-offset needs a value")?;
                args.clock_offset = parse_offset(&v)?;
            }
            ("--day", true) => args.day = Some(raw.next().context("--day needs a value")?),
            ("--state-file", _) => {
                args.state_file = raw.next().context("--state-file needs a value")?.into();
            }
            ("-h" | "--help", _) => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            (other, _) => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    Ok(args)
}

/// Writes `contents` to `path` atomically: a temporary file in the same directory, renamed over
/// it, so a reader sees either no file or the whole of it.
fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file name", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("renaming to {}", path.display()));
    }
    Ok(())
}

/// Removes a state file; one that is not there is fine.
fn remove_state_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing the stale {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Runs the scheduled function once against the running local stack (from its state file).
async fn report_now(day: Option<String>, state_file: &Path) -> anyhow::Result<()> {
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state_file)
            .with_context(|| format!("{} (is the local stack running?)", state_file.display()))?,
    )
    .with_context(|| format!("parsing {}", state_file.display()))?;
    let text = |k: &str| {
        state[k]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{k} in {}", state_file.display()))
    };
    let sdk = local_stack::Endpoints {
        dynamodb: text("dynamodb_endpoint")?,
        moto: text("moto_endpoint")?,
    }
    .sdk_config();
    // As its function runs it: a run of the day, one task per level shard through a task
    // queue of its own (the stack's own queue is the stack's ticker's), drained here.
    let template =
        local_stack::template::Template::load(&local_stack::project_root().join("template.yaml"))?;
    let writer = local_stack::batch::reports(
        &sdk,
        &template,
        &shared::config::ReportConfig {
            table_name: text("table")?,
            bucket: text("reports_bucket")?,
        },
        Clock::system(),
        "report-now",
    )
    .await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let day = match day {
        Some(d) => time::OffsetDateTime::parse(
            &format!("{d}T00:00:00Z"),
            &time::format_description::well_known::Rfc3339,
        )
        .with_context(|| format!("--day {d}: expected YYYY-MM-DD"))?
        .unix_timestamp()
        .div_euclid(86_400),
        None => now.div_euclid(86_400),
    };
    let manifest = writer.run(day, now).await?;
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    Ok(())
}

/// Runs `job` every `period` (the first time after one period), as its schedule would on AWS;
/// a failure is printed as `<what> failed: <error>` and the next run comes as planned.
fn every<F, Fut, T, E>(period: Duration, what: &'static str, job: F) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, E>> + Send,
    E: std::fmt::Display,
{
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(period).await;
            if let Err(e) = job().await {
                eprintln!("{what} failed: {e}");
            }
        }
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    if args.report {
        return report_now(args.day, &args.state_file).await;
    }
    // Before anything else: whoever waits for the state file must never see a previous run's.
    remove_state_file(&args.state_file)?;
    let emulators = Emulators::start()?;
    let endpoints = emulators.endpoints();
    let key = JwtKey::random();
    let tokens: BTreeMap<&str, String> = ROLES
        .iter()
        .map(|(role, sub, scope)| (*role, key.mint(sub, scope, 12 * 3600)))
        .collect();
    let mut options = Options::new(
        TABLE,
        SocketAddr::from(([127, 0, 0, 1], args.port)),
        key.clone(),
    );
    // Rules and silences made through the API apply within five seconds locally.
    options.rule_cache = Duration::from_secs(5);
    // One clock for the API, the evaluator, the alert clock and the reports; moved by
    // --clock-offset and `POST /_local/clock`.
    let offset = Arc::new(AtomicI64::new(args.clock_offset));
    let options_offset = offset.clone();
    options.clock = Clock::offset(offset.clone());
    options.clock_offset = Some(offset);
    // The console calls the API on its own origin, signed in with the role tokens.
    options.console = Some(json!({
        "api_url": "",
        "auth": { "mode": "local", "tokens": tokens },
    }));
    let system = System::start(&endpoints, options).await?;
    let handle = system.gateway;
    // The data upgrade, as the deploy runs it before traffic (on a fresh table: one read and an
    // empty scan).
    let upgraded = shared::upgrade::Upgrader::new(
        shared::store::Store::new(system.dynamodb.clone(), &system.table),
        Clock::offset(options_offset.clone()),
    )
    .run(shared::upgrade::Budget::unlimited())
    .await?;
    anyhow::ensure!(
        upgraded.complete,
        "the data upgrade did not finish: {upgraded:?}"
    );
    let _poller = system.poller.spawn(Duration::from_millis(500));
    // The stream projector: ledger entries, the listing, the replenishment list and new
    // stocktake imports within a second, as its stream mapping would run it.
    let _projector = system.projector_poller.spawn(Duration::from_millis(500));
    // The alert clock, every minute as its EventBridge schedule runs it on AWS.
    let alert_clock = system.alert_clock.clone();
    let _alert_clock = every(Duration::from_secs(60), "alert clock tick", move || {
        let alert_clock = alert_clock.clone();
        async move { alert_clock.tick().await }
    });
    // The reservation-expiry function: holds past their time are given back within seconds.
    let expiry = system.expiry.clone();
    let _expiry = every(Duration::from_secs(5), "hold expiry", move || {
        let expiry = expiry.clone();
        async move { expiry.sweep().await }
    });
    // The scheduled functions: today's reports, the replenishment plans and the reconciliation
    // every five minutes.
    let reports = system.reports.clone();
    let replenishment = system.replenishment.clone();
    let reconciliation = system.reconciliation.clone();
    let report_clock = Clock::offset(options_offset.clone());
    let _ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(300)).await;
            let now = report_clock.now();
            if let Err(e) = reports.run(now.div_euclid(86_400), now).await {
                eprintln!("report run failed: {e}");
            }
            // Its tasks through its queue, two workers at once.
            match replenishment.plan(now, 2).await {
                Ok(planned) if planned.failed > 0 => eprintln!(
                    "replenishment: levels not planned: {}",
                    serde_json::json!(planned)
                ),
                Ok(_) => {}
                Err(e) => eprintln!("replenishment run incomplete: {e:#}"),
            }
            match reconciliation.reconcile(now).await {
                Ok(proved) if proved.drift > 0 => {
                    eprintln!("reconciliation found drift: {}", serde_json::json!(proved))
                }
                Ok(_) => {}
                Err(e) => eprintln!("reconciliation run incomplete: {e:#}"),
            }
        }
    });

    if args.demo {
        load_demo(&handle.base_url(), &tokens["ops"]).await?;
    }

    // Last: the stack is ready once this file exists.
    let console_url = format!("{}/console/", handle.base_url());
    let state = json!({
        "api_url": handle.base_url(),
        "console_url": console_url,
        "dynamodb_endpoint": endpoints.dynamodb,
        "moto_endpoint": endpoints.moto,
        "table": TABLE,
        "ops_topic_arn": system.topic_arn,
        "reports_bucket": system.bucket,
        // The replenishment function's task queue (a test may run the real binary on it).
        "replenishment_queue_url": system.replenishment.driver.queues().url,
        "sender_email": LOCAL_SENDER,
        "issuer": LOCAL_ISSUER,
        "audience": LOCAL_AUDIENCE,
        "tokens": tokens,
    });
    let state_file = &args.state_file;
    write_atomically(state_file, serde_json::to_string_pretty(&state)?.as_bytes())?;

    let report_command = if *state_file == default_state_file() {
        "cargo run -q -p local-stack --bin local-stack -- report".to_owned()
    } else {
        format!(
            "cargo run -q -p local-stack --bin local-stack -- report --state-file {}",
            state_file.display()
        )
    };
    println!("inventory API    {}", handle.base_url());
    println!("admin console    {console_url} (signed in with the dev tokens)");
    println!(
        "DynamoDB         {} (DynamoDB Local, in memory)",
        endpoints.dynamodb
    );
    println!("SNS, SES, S3     {} (moto)", endpoints.moto);
    println!("table            {TABLE}");
    println!("ops topic        {}", system.topic_arn);
    println!("stream evaluator polling every 0.5 s (alerts appear within about a second)");
    println!(
        "alert clock      every minute (reminders, quiet hours, window rules); move time: \
         curl -X POST -H \"Authorization: Bearer $OPS\" -d '{{\"advance_seconds\":3600}}' {}/_local/clock",
        handle.base_url()
    );
    println!(
        "reports bucket   {} (written every 5 min; now: {report_command})",
        system.bucket
    );
    println!(
        "sent SMS/email   {}/moto-api/data.json (sns.Topic[].sent_notifications, ses.Message)",
        endpoints.moto
    );
    for (role, sub, scope) in ROLES {
        println!("\n{role} token ({sub}; {scope}):\n{}", tokens[role]);
    }
    println!("\nTokens and endpoints written to {}", state_file.display());
    println!("Try:\n  TOKEN=$(python3 -c 'import json;print(json.load(open(\"{}\"))[\"tokens\"][\"readonly\"])')", state_file.display());
    println!(
        "  curl -s -H \"Authorization: Bearer $TOKEN\" {}/v1/skus",
        handle.base_url()
    );
    println!("\nCtrl-C stops everything.");
    stopped().await?;
    // A stopped stack leaves no state file claiming it is ready.
    remove_state_file(state_file)?;
    drop(handle);
    drop(emulators);
    Ok(())
}

/// Waits for Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn stopped() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Demo data through the API itself: two locations, three SKUs, stock received.
async fn load_demo(base: &str, ops_token: &str) -> anyhow::Result<()> {
    let api = ApiClient::new(base);
    let token = Some(ops_token);
    let put = |path: String, body: serde_json::Value| {
        let api = api.clone();
        async move {
            api.call(Method::PUT, &path, token, None, Some(&body))
                .await?
                .success(&path)
        }
    };
    put(
        "/v1/locations/WH-BERLIN".into(),
        json!({"name": "Berlin warehouse", "kind": "warehouse"}),
    )
    .await?;
    put(
        "/v1/locations/FR".into(),
        json!({"name": "France (cross-border)", "kind": "country", "country": "FR"}),
    )
    .await?;
    api.call(
        Method::POST,
        "/v1/rules",
        token,
        Some("demo-rule-low-stock"),
        Some(&json!({
            "name": "Low stock at the Berlin warehouse", "kind": "low_stock",
            "threshold": 10, "clear_at": 20, "severity": "warning",
            "selector": { "location": "WH-BERLIN" },
            "channels": { "sms": true, "email": ["ops@shop.example"] },
            "notify_on_resolve": true, "repeat_minutes": 240
        })),
    )
    .await?
    .success("demo rule")?;
    let skus = [
        (
            "TSHIRT-RED-M",
            "T-shirt red M",
            json!({"colour": "red", "size": "M", "brand": "Acme"}),
            120,
        ),
        (
            "MUG-LOGO",
            "Logo mug",
            json!({"brand": "Acme", "category": "kitchen"}),
            40,
        ),
        (
            "CAP-BLUE",
            "Blue cap",
            json!({"colour": "blue", "brand": "Hatly"}),
            8,
        ),
    ];
    for (i, (sku, name, attrs, qty)) in skus.iter().enumerate() {
        put(
            format!("/v1/skus/{sku}"),
            json!({"name": name, "attributes": attrs}),
        )
        .await?;
        api.call(
            Method::POST,
            "/v1/receipts",
            token,
            Some(&format!("demo-receipt-{i}")),
            Some(
                &json!({"sku": sku, "location": "WH-BERLIN", "quantity": qty, "reference": "demo"}),
            ),
        )
        .await?
        .success("demo receipt")?;
    }
    println!(
        "demo data loaded: locations WH-BERLIN, FR; SKUs TSHIRT-RED-M, MUG-LOGO, CAP-BLUE; \
         a low-stock rule (threshold 10) that CAP-BLUE already trips"
    );
    Ok(())
}
