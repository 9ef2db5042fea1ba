//! Runs the whole system locally: the serialised moto emulator, the resources of template.yaml,
//! and the HTTP API on 127.0.0.1 with a printed token per role.
//!
//! Usage: local-stack [--port 3000] [--demo]
//!        local-stack report [--day YYYY-MM-DD]   (writes the reports now, against the running stack)

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use anyhow::{bail, Context};
use http::Method;
use local_stack::{
    client::ApiClient,
    jwt::{JwtKey, LOCAL_AUDIENCE, LOCAL_ISSUER, ROLES},
    moto::Moto,
    project_root,
    system::{Options, System, LOCAL_SENDER},
};
use serde_json::json;

const TABLE: &str = "inventory";

struct Args {
    port: u16,
    demo: bool,
}

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        port: 3000,
        demo: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port" => args.port = it.next().context("--port needs a value")?.parse()?,
            "--demo" => args.demo = true,
            "-h" | "--help" => {
                println!("local-stack [--port 3000] [--demo]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(args)
}

/// Runs the scheduled function once against the running local stack (from its stack.json).
async fn report_now(day: Option<String>) -> anyhow::Result<()> {
    let state_file = project_root().join("infra/.local/stack.json");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&state_file)
            .with_context(|| format!("{} (is the local stack running?)", state_file.display()))?,
    )?;
    let text = |k: &str| {
        state[k]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{k} in stack.json"))
    };
    let sdk = local_stack::emulator_sdk_config(&text("moto_endpoint")?);
    let writer = shared::config::report_writer_from_sdk(
        &sdk,
        &shared::config::ReportConfig {
            table_name: text("table")?,
            bucket: text("reports_bucket")?,
            topic_arn: text("ops_topic_arn")?,
            sender_email: LOCAL_SENDER.into(),
        },
        shared::alerts::evaluator::system_clock(),
    );
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut raw = std::env::args().skip(1);
    if raw.next().as_deref() == Some("report") {
        let day = match (raw.next().as_deref(), raw.next()) {
            (Some("--day"), Some(d)) => Some(d),
            (None, _) => None,
            _ => bail!("usage: local-stack report [--day YYYY-MM-DD]"),
        };
        return report_now(day).await;
    }
    let args = args()?;
    let root = project_root();
    let moto = Moto::start(0)?;
    let key = JwtKey::random();
    let mut options = Options::new(
        TABLE,
        SocketAddr::from(([127, 0, 0, 1], args.port)),
        key.clone(),
    );
    // Rules and silences made through the API apply within five seconds locally.
    options.rule_cache = Duration::from_secs(5);
    let system = System::start(&moto.endpoint(), options).await?;
    let handle = system.gateway;
    let _poller = system.poller.spawn(Duration::from_millis(500));
    // The scheduled function: today's reports and the time-based rules every five minutes.
    let reports = system.reports.clone();
    let _ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(300)).await;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if let Err(e) = reports.run(now.div_euclid(86_400), now).await {
                eprintln!("report run failed: {e}");
            }
        }
    });

    let tokens: BTreeMap<&str, String> = ROLES
        .iter()
        .map(|(role, sub, scope)| (*role, key.mint(sub, scope, 12 * 3600)))
        .collect();
    let state_dir = root.join("infra/.local");
    std::fs::create_dir_all(&state_dir)?;
    let state = json!({
        "api_url": handle.base_url(),
        "moto_endpoint": moto.endpoint(),
        "table": TABLE,
        "ops_topic_arn": system.topic_arn,
        "reports_bucket": system.bucket,
        "sender_email": LOCAL_SENDER,
        "issuer": LOCAL_ISSUER,
        "audience": LOCAL_AUDIENCE,
        "tokens": tokens,
    });
    let state_file = state_dir.join("stack.json");
    std::fs::write(&state_file, serde_json::to_string_pretty(&state)?)?;

    if args.demo {
        load_demo(&handle.base_url(), &tokens["ops"]).await?;
    }

    println!("inventory API    {}", handle.base_url());
    println!("AWS emulator     {} (moto, serialised)", moto.endpoint());
    println!("table            {TABLE}");
    println!("ops topic        {}", system.topic_arn);
    println!("stream evaluator polling every 0.5 s (alerts appear within about a second)");
    println!(
        "reports bucket   {} (written every 5 min; now: cargo run -q -p local-stack -- report)",
        system.bucket
    );
    println!(
        "sent SMS/email   {}/moto-api/data.json (sns.Topic[].sent_notifications, ses.Message)",
        moto.endpoint()
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
    tokio::signal::ctrl_c().await?;
    drop(handle);
    drop(moto);
    Ok(())
}

/// Demo data through the API itself: two locations, three SKUs, stock received.
async fn load_demo(base: &str, ops_token: &str) -> anyhow::Result<()> {
    let api = ApiClient::new(base);
    let auth = format!("Bearer {ops_token}");
    let put = |path: String, body: serde_json::Value| {
        let api = api.clone();
        let auth = auth.clone();
        async move {
            let r = api
                .send(
                    Method::PUT,
                    &path,
                    &[("authorization", &auth)],
                    Some(body.to_string().into_bytes()),
                )
                .await?;
            if !r.status.is_success() {
                bail!("{path}: {} {}", r.status, String::from_utf8_lossy(&r.body));
            }
            Ok(())
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
    let rule = api
        .send(
            Method::POST,
            "/v1/rules",
            &[
                ("authorization", &auth),
                ("idempotency-key", "demo-rule-low-stock"),
            ],
            Some(
                json!({
                    "name": "Low stock at the Berlin warehouse", "kind": "low_stock",
                    "threshold": 10, "clear_at": 20, "severity": "warning",
                    "selector": { "location": "WH-BERLIN" },
                    "channels": { "sms": true, "email": ["ops@shop.example"] },
                    "notify_on_resolve": true, "repeat_minutes": 240
                })
                .to_string()
                .into_bytes(),
            ),
        )
        .await?;
    if !rule.status.is_success() {
        bail!(
            "demo rule: {} {}",
            rule.status,
            String::from_utf8_lossy(&rule.body)
        );
    }
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
        let r = api
            .send(
                Method::POST,
                "/v1/receipts",
                &[("authorization", &auth), ("idempotency-key", &format!("demo-receipt-{i}"))],
                Some(json!({"sku": sku, "location": "WH-BERLIN", "quantity": qty, "reference": "demo"}).to_string().into_bytes()),
            )
            .await?;
        if !r.status.is_success() {
            bail!(
                "demo receipt: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            );
        }
    }
    println!(
        "demo data loaded: locations WH-BERLIN, FR; SKUs TSHIRT-RED-M, MUG-LOGO, CAP-BLUE; \
         a low-stock rule (threshold 10) that CAP-BLUE already trips"
    );
    Ok(())
}
