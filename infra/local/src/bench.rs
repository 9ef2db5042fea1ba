//! What the benchmark binaries (`src/bin/*bench.rs`) share, so that each keeps only what it
//! measures: the system behind a metering proxy, the measured run in a child process of its own
//! (its time, capacity and peak memory are then its own), sizes from the command line, and the
//! figures their tables print.

use std::{
    collections::BTreeMap,
    fmt::Display,
    future::Future,
    process::Command,
    str::FromStr,
    time::{Duration, Instant},
};

use anyhow::{bail, Context};
use http::Method;
use serde_json::Value;

use crate::{
    client::ApiClient,
    proxy::{Capacity, Proxy},
    system::{Options, System},
    Emulators, Endpoints,
};

/// Every scope of the API: the benchmarks' caller may do anything.
pub const ALL_SCOPES: &str = "inventory/sell inventory/read inventory/admin";

/// A metering proxy in front of `endpoints`' DynamoDB, and the endpoints through it: every
/// DynamoDB call made through them reports the capacity it consumed ([`Proxy::capacity`]).
async fn metered(endpoints: &Endpoints) -> std::io::Result<(Proxy, Endpoints)> {
    let proxy = Proxy::start(&endpoints.dynamodb, true).await?;
    let through = Endpoints {
        dynamodb: proxy.endpoint(),
        moto: endpoints.moto.clone(),
    };
    Ok((proxy, through))
}

/// The system behind a metering proxy, and one caller of its API with every scope and a new
/// idempotency key for every call.
pub struct Metered {
    pub system: System,
    pub proxy: Proxy,
    pub api: ApiClient,
    pub token: String,
    /// Idempotency keys are `<key_prefix>-<n>`.
    key_prefix: &'static str,
    next_key: u64,
}

impl Metered {
    /// Starts the system on `emulators` with `options`, every DynamoDB call of it metered.
    pub async fn start(
        emulators: &Emulators,
        options: Options,
        key_prefix: &'static str,
    ) -> anyhow::Result<Self> {
        let (proxy, endpoints) = metered(&emulators.endpoints()).await?;
        let token = options.key.mint("bench", ALL_SCOPES, 7200);
        let system = System::start(&endpoints, options).await?;
        Ok(Self {
            api: ApiClient::new(system.gateway.base_url()),
            system,
            proxy,
            token,
            key_prefix,
            next_key: 0,
        })
    }

    /// Calls the API; the answer's JSON, or an error unless it is a success.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.next_key += 1;
        let key = format!("{}-{}", self.key_prefix, self.next_key);
        let request = format!("{method} {path}");
        let answer = self
            .api
            .call(method, path, Some(&self.token), Some(&key), body.as_ref())
            .await?;
        Ok(answer.success(request)?.json())
    }

    /// What one `POST` costs, all-in: its own writes and the stream readers' for it (the stream
    /// is drained before and after); with the answer's JSON.
    pub async fn measure(&mut self, path: &str, body: Value) -> anyhow::Result<(Capacity, Value)> {
        self.system.drain_stream().await?;
        let before = self.proxy.capacity();
        let answer = self.call(Method::POST, path, Some(body)).await?;
        self.system.drain_stream().await?;
        Ok((self.proxy.capacity().since(&before), answer))
    }
}

/// The parent of a benchmark measured in a child (see [`run_seeded`]): its system, on emulators
/// of its own, and how many levels to seed.
pub struct Parent {
    /// Running as long as the parent holds them (the child uses them too).
    pub emulators: Emulators,
    pub system: System,
    pub levels: usize,
}

impl Parent {
    /// Seeds the levels (`items_of(i)` for level `i`, see [`crate::seed::put_levels`]) and says
    /// so on stderr; how many items, and in how many seconds.
    pub async fn seed(
        &self,
        items_of: impl Fn(usize) -> Vec<crate::seed::Item>,
    ) -> anyhow::Result<(usize, f64)> {
        let started = Instant::now();
        let (dynamodb, table) = (&self.system.dynamodb, &self.system.table);
        let written = crate::seed::put_levels(dynamodb, table, self.levels, items_of).await?;
        let seconds = started.elapsed().as_secs_f64();
        eprintln!("seeded {written} items in {seconds:.0} s");
        Ok((written, seconds))
    }
}

/// Runs a benchmark whose parent seeds a system of `--levels` levels (`default_levels` without
/// the option) and whose child, this executable again, measures one run on it: `child` when this
/// process is that child (see [`run_child`]), else `parent` with the system (named `name`) started.
pub async fn run_seeded<C, P>(
    name: &str,
    default_levels: usize,
    child: impl FnOnce(Child) -> C,
    parent: impl FnOnce(Parent) -> P,
) -> anyhow::Result<()>
where
    C: Future<Output = anyhow::Result<()>>,
    P: Future<Output = anyhow::Result<()>>,
{
    let args: Vec<String> = std::env::args().collect();
    if let Some(measured) = Child::from_args(&args)? {
        return child(measured).await;
    }
    let levels = option(&args, "--levels", default_levels)?;
    let emulators = Emulators::start()?;
    let options = Options::loopback(name, crate::jwt::JwtKey::random());
    let system = System::start(&emulators.endpoints(), options).await?;
    parent(Parent {
        emulators,
        system,
        levels,
    })
    .await
}

/// The flag that makes a benchmark binary its own measured child (see [`run_child`]).
const CHILD_FLAG: &str = "--run";

/// What a measured child is given by [`run_child`]: the emulators (DynamoDB Local without the
/// parent's proxy), the parent's table and bucket, and the benchmark's own arguments.
pub struct Child {
    pub endpoints: Endpoints,
    pub table: String,
    pub bucket: String,
    pub args: Vec<String>,
}

impl Child {
    /// The child's part of this process's arguments, when [`run_child`] started it.
    pub fn from_args(args: &[String]) -> anyhow::Result<Option<Self>> {
        let Some(i) = args.iter().position(|a| a == CHILD_FLAG) else {
            return Ok(None);
        };
        let [dynamodb, moto, table, bucket, rest @ ..] = &args[i + 1..] else {
            bail!("{CHILD_FLAG} needs DynamoDB's and moto's endpoints, a table and a bucket");
        };
        Ok(Some(Self {
            endpoints: Endpoints {
                dynamodb: dynamodb.clone(),
                moto: moto.clone(),
            },
            table: table.clone(),
            bucket: bucket.clone(),
            args: rest.to_vec(),
        }))
    }

    /// Measures one run and prints its figures as one JSON line, the one [`run_child`] returns.
    /// `run` is given the SDK configuration (DynamoDB through a metering proxy of the child's own)
    /// and does its set-up before it returns the future; only the future is timed. Its figures
    /// get the time (`seconds`), the capacity the run consumed (`rcu`, `wcu`, `writes`, `reads`)
    /// and the child's peak memory (`peak_kib`, see [`peak_mib`]).
    pub async fn measure<F, Fut>(&self, run: F) -> anyhow::Result<()>
    where
        F: FnOnce(&aws_config::SdkConfig) -> Fut,
        Fut: Future<Output = anyhow::Result<Value>>,
    {
        let (proxy, endpoints) = metered(&self.endpoints).await?;
        let run = run(&endpoints.sdk_config());
        let started = Instant::now();
        let mut figures = run.await?;
        figures["seconds"] = started.elapsed().as_secs_f64().into();
        let capacity = proxy.capacity();
        figures["rcu"] = capacity.read_total().into();
        figures["wcu"] = capacity.total().into();
        figures["writes"] = serde_json::to_value(&capacity.writes)?;
        figures["reads"] = serde_json::to_value(&capacity.reads)?;
        figures["peak_kib"] = peak_rss_kib().into();
        println!("{figures}");
        Ok(())
    }
}

/// Runs `what` (the measured part of this benchmark) in a process of its own: this executable
/// again, as a [`Child`] of `system` given `args`. Returns the figures it reported, the last JSON
/// line it printed (its log lines come before).
pub fn run_child(what: &str, system: &System, args: &[String]) -> anyhow::Result<Value> {
    let out = Command::new(std::env::current_exe()?)
        .arg(CHILD_FLAG)
        .args([
            &system.endpoints.dynamodb,
            &system.endpoints.moto,
            &system.table,
            &system.bucket,
        ])
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or("{}");
    Ok(serde_json::from_str(last)?)
}

/// The value after `name` in `args` (`--levels 1000`); `default` when `name` is not there or
/// ends them.
pub fn option<T: FromStr>(args: &[String], name: &str, default: T) -> anyhow::Result<T> {
    match args
        .iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
    {
        Some(raw) => number(raw, name),
        None => Ok(default),
    }
}

/// `raw` as a number, or an error naming `what` (the option or variable it came from).
pub fn number<T: FromStr>(raw: &str, what: &str) -> anyhow::Result<T> {
    raw.trim()
        .parse()
        .ok()
        .with_context(|| format!("{what}: {raw:?} is not a number"))
}

/// The `p` quantile (0 to 1) of sorted values, at the nearest index.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The `p` quantile (0 to 1) of sorted durations, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    percentile(sorted, p).as_secs_f64() * 1000.0
}

/// "2 PutItem, 1 UpdateItem": writes, refused attempts or read units per operation, in whole
/// numbers, as the tables print them.
pub fn per_operation<V: Display>(counts: &BTreeMap<String, V>) -> String {
    counts
        .iter()
        .map(|(operation, v)| format!("{v:.0} {operation}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The value of `key` in a `key: value` file of /proc, where it has one.
fn proc_value(file: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(file).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// This process's peak resident memory (VmHWM) in KiB; 0 where /proc does not tell it.
pub fn peak_rss_kib() -> u64 {
    proc_value("/proc/self/status", "VmHWM")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A child's peak memory in MiB, from the figures it reported with [`Child::report`].
pub fn peak_mib(figures: &Value) -> f64 {
    figures["peak_kib"].as_f64().unwrap_or(0.0) / 1024.0
}

/// The CPU's model name, as /proc/cpuinfo gives it.
pub fn cpu_model() -> String {
    proc_value("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into())
}
