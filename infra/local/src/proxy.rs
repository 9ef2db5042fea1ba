//! A proxy in front of an emulator (DynamoDB Local or moto) that every SDK client of the system can
//! be pointed at, for two things the emulators never do on their own:
//!
//! - **Fault injection.** Calls matching a [`FaultRule`] (service, operation, a text in the
//!   request) are answered with the error AWS would send instead of reaching the emulator:
//!   throttling, a 5xx, a permanent rejection, or a DynamoDB `TransactionConflict` cancellation.
//!   A rule fires for the next N matching calls, for a while (an outage), or with a seeded
//!   probability.
//! - **Capacity metering.** DynamoDB writes get `ReturnConsumedCapacity: INDEXES` added, and the
//!   capacity DynamoDB reports is summed per table and index, whoever sent the write.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, Request, Response};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::{net::TcpListener, task::JoinHandle};

/// Which AWS API a call is for, as the proxy tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    DynamoDbStreams,
    Sns,
    Ses,
    S3,
}

/// What the proxy answers instead of the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Throttling (DynamoDB `ProvisionedThroughputExceededException`, SNS `Throttling`,
    /// SES `TooManyRequestsException`): the SDK retries it with backoff.
    Throttle,
    /// A 500 from the service: transient.
    ServerError,
    /// A permanent 400 rejection with this error code and message (e.g. SES `MessageRejected`,
    /// SNS `InvalidParameter`): retrying never helps.
    Reject { code: String, message: String },
    /// DynamoDB cancels the transaction because another one holds one of its items.
    TransactionConflict,
    /// The service takes the request and answers nothing for this long (then a 504): a caller
    /// waits for its own timeout.
    Hang(Duration),
    /// The connection is closed without an answer, as when the service cannot be reached.
    Unreachable,
}

/// When a matching call gets the fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    /// The next `n` matching calls.
    Times(u32),
    /// Every matching call until this long after the rule was added.
    For(Duration),
    /// Each matching call with this probability (seeded, so a run can be repeated).
    Probability(f64),
    /// Every matching call until the rule is removed.
    Always,
}

/// A fault for the calls that match.
#[derive(Debug, Clone)]
pub struct FaultRule {
    pub service: Service,
    /// The API operation (`TransactWriteItems`, `Publish`, `SendEmail`); None: any.
    pub operation: Option<String>,
    /// Only calls whose request body contains this text (an email address, a SKU).
    pub body_contains: Option<String>,
    pub fault: Fault,
    pub schedule: Schedule,
}

impl FaultRule {
    pub fn new(service: Service, operation: &str, fault: Fault, schedule: Schedule) -> Self {
        Self {
            service,
            operation: Some(operation.to_owned()),
            body_contains: None,
            fault,
            schedule,
        }
    }

    /// Only calls whose body contains `text`.
    pub fn containing(mut self, text: &str) -> Self {
        self.body_contains = Some(text.to_owned());
        self
    }
}

struct ActiveRule {
    rule: FaultRule,
    added: Instant,
    remaining: Option<u32>,
}

/// Capacity DynamoDB reported: write units summed over the metered writes, and read units of
/// the metered reads kept apart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Capacity {
    /// Write requests that reported capacity, by operation.
    pub writes: BTreeMap<String, u64>,
    /// Capacity units of the table itself.
    pub table: f64,
    /// Capacity units per global secondary index.
    pub indexes: BTreeMap<String, f64>,
    /// Metered writes DynamoDB refused (cancelled transactions, failed conditions), by operation.
    pub refused: BTreeMap<String, u64>,
    /// Read capacity units (table and indexes) by read operation.
    pub reads: BTreeMap<String, f64>,
}

impl Capacity {
    /// Write units, table and indexes.
    pub fn total(&self) -> f64 {
        self.table + self.indexes.values().sum::<f64>()
    }

    /// Read units, every read operation.
    pub fn read_total(&self) -> f64 {
        self.reads.values().sum()
    }

    /// What was consumed since `before`.
    pub fn since(&self, before: &Capacity) -> Capacity {
        Capacity {
            writes: growth(&self.writes, &before.writes),
            refused: growth(&self.refused, &before.refused),
            table: self.table - before.table,
            reads: growth(&self.reads, &before.reads),
            indexes: growth(&self.indexes, &before.indexes),
        }
    }
}

/// How much each key of `after` grew since `before`: the keys that grew, with their growth.
fn growth<V>(after: &BTreeMap<String, V>, before: &BTreeMap<String, V>) -> BTreeMap<String, V>
where
    V: Copy + Default + PartialOrd + std::ops::Sub<Output = V>,
{
    after
        .iter()
        .map(|(k, v)| (k.clone(), *v - before.get(k).copied().unwrap_or_default()))
        .filter(|(_, v)| *v > V::default())
        .collect()
}

#[derive(Default)]
struct State {
    rules: Vec<ActiveRule>,
    injected: Vec<(Service, String, Fault)>,
    capacity: Capacity,
    /// The IAM policy DynamoDB calls must keep to (by action, resource, key and attribute).
    policy: Option<crate::policy::Policy>,
    /// Calls refused by it: (operation, what was refused).
    denied: Vec<(String, String)>,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const READS: &[&str] = &["GetItem", "BatchGetItem", "Query", "Scan"];
const WRITES: &[&str] = &[
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
];

/// The service and operation of a call.
fn classify(path: &str, headers: &http::HeaderMap, body: &[u8]) -> (Service, String) {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        let (prefix, op) = target.split_once('.').unwrap_or((target, ""));
        let service = if prefix.starts_with("DynamoDBStreams") {
            Service::DynamoDbStreams
        } else {
            Service::DynamoDb
        };
        return (service, op.to_owned());
    }
    if path.starts_with("/v2/email") {
        let op = if path.starts_with("/v2/email/outbound-emails") {
            "SendEmail"
        } else {
            "SesV2"
        };
        return (Service::Ses, op.to_owned());
    }
    let text = String::from_utf8_lossy(body);
    if let Some(action) = text
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_owned)
    {
        return (Service::Sns, action);
    }
    (Service::S3, String::new())
}

fn respond(status: u16, headers: &[(&str, String)], body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    for (k, v) in headers {
        if let Ok(v) = http::HeaderValue::from_str(v) {
            r.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("static header name"),
                v,
            );
        }
    }
    r
}

/// The error AWS sends for `fault`, in the service's protocol.
fn fault_response(service: Service, fault: &Fault, body: &[u8]) -> Response<Full<Bytes>> {
    let (status, code, message) = match fault {
        Fault::Throttle => (
            400,
            match service {
                Service::Sns => "Throttling",
                Service::Ses => "TooManyRequestsException",
                Service::S3 => "SlowDown",
                _ => "ProvisionedThroughputExceededException",
            }
            .to_owned(),
            "Rate exceeded (injected)".to_owned(),
        ),
        Fault::ServerError => (
            500,
            match service {
                Service::Sns => "InternalError",
                Service::S3 => "InternalError",
                _ => "InternalServerError",
            }
            .to_owned(),
            "Internal failure (injected)".to_owned(),
        ),
        Fault::Reject { code, message } => (400, code.clone(), message.clone()),
        // Answered in `call` (no error body); here only for completeness.
        Fault::Hang(_) | Fault::Unreachable => (
            504,
            "GatewayTimeout".to_owned(),
            "no answer (injected)".to_owned(),
        ),
        Fault::TransactionConflict => {
            let items = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
                .unwrap_or(1);
            let mut reasons = vec![json!({ "Code": "None" }); items];
            reasons[0] = json!({
                "Code": "TransactionConflict",
                "Message": "Transaction is ongoing for the item"
            });
            let codes: Vec<&str> = (0..items)
                .map(|i| {
                    if i == 0 {
                        "TransactionConflict"
                    } else {
                        "None"
                    }
                })
                .collect();
            let body = json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": format!(
                    "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                    codes.join(", ")
                ),
                "CancellationReasons": reasons,
            });
            return respond(
                400,
                &[("content-type", "application/x-amz-json-1.0".into())],
                body.to_string().into_bytes(),
            );
        }
    };
    match service {
        Service::DynamoDb | Service::DynamoDbStreams => respond(
            status,
            &[("content-type", "application/x-amz-json-1.0".into())],
            json!({ "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message })
                .to_string()
                .into_bytes(),
        ),
        Service::Ses => respond(
            if code == "TooManyRequestsException" {
                429
            } else {
                status
            },
            &[
                ("content-type", "application/json".into()),
                ("x-amzn-errortype", code.clone()),
            ],
            json!({ "message": message }).to_string().into_bytes(),
        ),
        Service::Sns | Service::S3 => {
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            let xml = format!(
                "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
                 <Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>injected</RequestId></ErrorResponse>"
            );
            respond(
                status,
                &[("content-type", "text/xml".into())],
                xml.into_bytes(),
            )
        }
    }
}

/// A request the proxy closes the connection on, unanswered.
#[derive(Debug)]
struct Unanswered;

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed unanswered (injected)")
    }
}

impl std::error::Error for Unanswered {}

struct Inner {
    upstream: String,
    state: Arc<Mutex<State>>,
    client: Client<HttpConnector, Full<Bytes>>,
    rng: Mutex<StdRng>,
    meter: bool,
}

impl Inner {
    /// What of this request the enforced policy does not allow, recorded.
    fn outside_policy(&self, op: &str, body: &[u8]) -> Option<String> {
        let mut state = self.state.lock().expect("proxy state");
        let policy = state.policy.as_ref()?;
        let body: Value = serde_json::from_slice(body).ok()?;
        let denied = policy.refuses(op, &body)?;
        state.denied.push((op.to_owned(), denied.clone()));
        Some(denied)
    }

    /// The fault for this call, if a rule says so (and counts it against the rule).
    fn fault_for(&self, service: Service, op: &str, body: &[u8]) -> Option<Fault> {
        let mut state = self.state.lock().expect("proxy state");
        let text = String::from_utf8_lossy(body);
        let mut chosen = None;
        for active in &mut state.rules {
            let rule = &active.rule;
            let matches = rule.service == service
                && rule.operation.as_deref().is_none_or(|o| o == op)
                && rule
                    .body_contains
                    .as_deref()
                    .is_none_or(|t| text.contains(t));
            if !matches {
                continue;
            }
            let fires = match rule.schedule {
                Schedule::Times(_) => active.remaining.is_some_and(|n| n > 0),
                Schedule::For(d) => active.added.elapsed() < d,
                Schedule::Probability(p) => self.rng.lock().expect("rng").random_bool(p),
                Schedule::Always => true,
            };
            if fires {
                if let Some(n) = active.remaining.as_mut() {
                    *n -= 1;
                }
                chosen = Some(rule.fault.clone());
                break;
            }
        }
        if let Some(f) = &chosen {
            state.injected.push((service, op.to_owned(), f.clone()));
        }
        chosen
    }

    fn record_capacity(&self, op: &str, response: &[u8]) {
        let Ok(v) = serde_json::from_slice::<Value>(response) else {
            return;
        };

        let entries: Vec<&Value> = match &v["ConsumedCapacity"] {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![&v["ConsumedCapacity"]],
            _ => return,
        };
        let mut state = self.state.lock().expect("proxy state");
        if READS.contains(&op) {
            let units: f64 = entries
                .iter()
                .map(|c| c["CapacityUnits"].as_f64().unwrap_or(0.0))
                .sum();
            *state.capacity.reads.entry(op.to_owned()).or_default() += units;
            return;
        }
        *state.capacity.writes.entry(op.to_owned()).or_default() += 1;
        for c in entries {
            state.capacity.table += c["Table"]["CapacityUnits"].as_f64().unwrap_or(0.0);
            if let Some(indexes) = c["GlobalSecondaryIndexes"].as_object() {
                for (name, units) in indexes {
                    *state.capacity.indexes.entry(name.clone()).or_default() +=
                        units["CapacityUnits"].as_f64().unwrap_or(0.0);
                }
            }
        }
    }

    /// Answers one request, or closes its connection unanswered (an injected unreachable fault).
    async fn call(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Unanswered> {
        let (mut parts, body) = req.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return Ok(respond(400, &[], b"unreadable request body".to_vec()));
        };
        let (service, op) = classify(parts.uri.path(), &parts.headers, &body);
        if let Some(fault) = self.fault_for(service, &op, &body) {
            match fault {
                Fault::Unreachable => return Err(Unanswered),
                Fault::Hang(time) => {
                    tokio::time::sleep(time).await;
                    return Ok(respond(504, &[], b"gateway timeout (injected)".to_vec()));
                }
                _ => return Ok(fault_response(service, &fault, &body)),
            }
        }
        if service == Service::DynamoDb {
            if let Some(denied) = self.outside_policy(&op, &body) {
                return Ok(fault_response(
                    service,
                    &Fault::Reject {
                        code: "AccessDeniedException".into(),
                        message: format!("not authorized: {denied} (not in the function's policy)"),
                    },
                    &body,
                ));
            }
        }
        let metered = self.meter && service == Service::DynamoDb && WRITES.contains(&op.as_str());
        let metered_read =
            self.meter && service == Service::DynamoDb && READS.contains(&op.as_str());
        let body = match serde_json::from_slice::<Value>(&body) {
            Ok(mut v) if metered || metered_read => {
                v["ReturnConsumedCapacity"] = json!(if metered { "INDEXES" } else { "TOTAL" });
                Bytes::from(v.to_string())
            }
            _ => body,
        };
        let uri = format!(
            "{}{}",
            self.upstream,
            parts.uri.path_and_query().map_or("/", |p| p.as_str())
        );
        let Ok(uri) = uri.parse() else {
            return Ok(respond(400, &[], b"bad request URI".to_vec()));
        };
        parts.uri = uri;
        parts.headers.remove(http::header::CONTENT_LENGTH);
        parts.headers.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
        let request = Request::from_parts(parts, Full::new(body));
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => return Ok(respond(502, &[], format!("upstream: {e}").into_bytes())),
        };
        let (parts, body) = response.into_parts();
        let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
            return Ok(respond(502, &[], b"upstream body".to_vec()));
        };
        if (metered || metered_read) && parts.status.is_success() {
            self.record_capacity(&op, &body);
        } else if metered {
            let mut state = self.state.lock().expect("proxy state");
            *state.capacity.refused.entry(op.clone()).or_default() += 1;
        }
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

impl Proxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:port`) on a free port; with `meter`,
    /// DynamoDB writes report their consumed capacity.
    pub async fn start(upstream: &str, meter: bool) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            state: state.clone(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            rng: Mutex::new(StdRng::seed_from_u64(7)),
            meter,
        });
        let task = crate::http1::serve(listener, move |req, _| {
            let inner = inner.clone();
            async move { inner.call(req).await }
        });
        Ok(Self { addr, state, task })
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a fault rule (rules are tried in the order they were added).
    pub fn inject(&self, rule: FaultRule) {
        let remaining = match rule.schedule {
            Schedule::Times(n) => Some(n),
            _ => None,
        };
        self.state
            .lock()
            .expect("proxy state")
            .rules
            .push(ActiveRule {
                rule,
                added: Instant::now(),
                remaining,
            });
    }

    /// Refuses, as IAM would with `AccessDeniedException`, every DynamoDB call `policy` does not
    /// allow (by action, resource, partition key and attribute).
    pub fn enforce_policy(&self, policy: crate::policy::Policy) {
        self.state.lock().expect("proxy state").policy = Some(policy);
    }

    /// Calls refused by [`enforce_policy`](Self::enforce_policy) so far: (operation, what of it
    /// was refused).
    pub fn denied(&self) -> Vec<(String, String)> {
        self.state.lock().expect("proxy state").denied.clone()
    }

    /// Removes every fault rule: calls reach the emulator again.
    pub fn heal(&self) {
        self.state.lock().expect("proxy state").rules.clear();
    }

    /// The faults injected so far: (service, operation, fault).
    pub fn injected(&self) -> Vec<(Service, String, Fault)> {
        self.state.lock().expect("proxy state").injected.clone()
    }

    /// The write capacity metered so far.
    pub fn capacity(&self) -> Capacity {
        self.state.lock().expect("proxy state").capacity.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_told_apart_by_target_path_or_action() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-amz-target",
            "DynamoDB_20120810.TransactWriteItems".parse().unwrap(),
        );
        assert_eq!(
            classify("/", &h, b"{}"),
            (Service::DynamoDb, "TransactWriteItems".into())
        );
        let none = http::HeaderMap::new();
        assert_eq!(
            classify("/", &none, b"Action=Publish&TopicArn=x"),
            (Service::Sns, "Publish".into())
        );
        assert_eq!(
            classify("/v2/email/outbound-emails", &none, b"{}"),
            (Service::Ses, "SendEmail".into())
        );
    }

    #[test]
    fn a_conflict_names_one_reason_per_transaction_item() {
        let r = fault_response(
            Service::DynamoDb,
            &Fault::TransactionConflict,
            br#"{"TransactItems":[{},{}]}"#,
        );
        assert_eq!(r.status(), 400);
        let body = futures_body(r);
        assert_eq!(
            body["CancellationReasons"][0]["Code"],
            "TransactionConflict"
        );
        assert_eq!(body["CancellationReasons"][1]["Code"], "None");
    }

    fn futures_body(r: Response<Full<Bytes>>) -> Value {
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(r.into_body().collect())
            .unwrap()
            .to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }
}
