//! API Gateway (HTTP API) emulation: matches the routes `template.yaml` declares, validates the
//! bearer token as the JWT authorizer does, turns the request into a payload-format-2.0 event, and
//! invokes the function's handler in-process, exactly as Lambda would hand it the event.
//!
//! Optionally it also hosts the admin console's static files under `/console/` (no token needed,
//! as CloudFront serves them on AWS), with the local stack's own `config.json`.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use base64::{engine::general_purpose::STANDARD, Engine};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    body::Incoming,
    header::{self, HeaderValue},
    Method, Request, Response, StatusCode,
};
use serde_json::{json, Map, Value};
use shared::{
    api::{App, Function},
    store::Store,
};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{jwt::JwtKey, template::TemplateRoute};

/// API Gateway's own payload limit for HTTP APIs.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

/// Routes mapped to the in-process handler of the function that serves them.
pub struct Gateway {
    routes: Vec<TemplateRoute>,
    functions: HashMap<String, App>,
    key: JwtKey,
    console: Option<Console>,
    clock_control: Option<ClockControl>,
}

/// The local stack's clock, moved by `POST /_local/clock` (local only: AWS has no such route).
struct ClockControl {
    offset: Arc<std::sync::atomic::AtomicI64>,
    clock: shared::clock::Clock,
    alert_clock: Arc<shared::alerts::clock::AlertClock>,
}

/// A running gateway; stops when dropped.
pub struct GatewayHandle {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl GatewayHandle {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn plain(status: u16, message: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        json!({ "message": message }).to_string(),
    )));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or_default();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl Gateway {
    /// Builds the gateway for `routes`, one handler per function, all on `store`.
    pub fn new(routes: Vec<TemplateRoute>, store: Store, key: JwtKey) -> Self {
        let functions = [
            Function::StockCommand,
            Function::StockQuery,
            Function::AlertsApi,
            Function::ReportsApi,
        ]
        .into_iter()
        .map(|f| {
            (
                f.logical_id().to_owned(),
                App::for_function(store.clone(), f),
            )
        })
        .collect();
        Self {
            routes,
            functions,
            key,
            console: None,
            clock_control: None,
        }
    }

    /// Serves `POST /_local/clock` (`{"advance_seconds": N}`, ops token): moves the local stack's
    /// clock (`offset` seconds ahead of the system's) and runs the alert clock at once, so anyone
    /// can watch a window pass, quiet hours end and a reminder fire without waiting.
    pub fn with_clock_control(
        mut self,
        offset: Arc<std::sync::atomic::AtomicI64>,
        clock: shared::clock::Clock,
        alert_clock: Arc<shared::alerts::clock::AlertClock>,
    ) -> Self {
        self.clock_control = Some(ClockControl {
            offset,
            clock,
            alert_clock,
        });
        self
    }

    async fn move_clock(&self, control: &ClockControl, body: &[u8]) -> Response<Full<Bytes>> {
        let advance = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("advance_seconds").and_then(Value::as_i64))
            .filter(|s| (0..=366 * 86_400).contains(s));
        let Some(seconds) = advance else {
            return plain(400, "expected {\"advance_seconds\": 0 to 31622400}");
        };
        control
            .offset
            .fetch_add(seconds, std::sync::atomic::Ordering::Relaxed);
        let tick = match control.alert_clock.tick().await {
            Ok(report) => json!(report),
            Err(e) => json!({ "error": e.to_string() }),
        };
        let mut r = Response::new(Full::new(Bytes::from(
            json!({
                "now": control.clock.rfc3339(),
                "offset_seconds": control.offset.load(std::sync::atomic::Ordering::Relaxed),
                "alert_clock": tick,
            })
            .to_string(),
        )));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    }

    /// Also serves the admin console: the files of `dir` under `/console/` (read at request time,
    /// so edits show on reload), `config` as `/console/config.json` instead of the file on disk,
    /// and `/` and `/console` redirect there. These routes need no token.
    pub fn with_console(mut self, dir: PathBuf, config: Value) -> Self {
        self.console = Some(Console {
            dir,
            config: Bytes::from(config.to_string()),
        });
        self
    }

    /// Every function takes the time from `clock`.
    pub fn with_clock(mut self, clock: shared::clock::Clock) -> Self {
        self.functions = self
            .functions
            .into_iter()
            .map(|(id, app)| (id, app.with_clock(clock.clone())))
            .collect();
        self
    }

    /// Gives the reports function its bucket.
    pub fn with_reports(mut self, reports: shared::api::ReportsBucket) -> Self {
        if let Some(app) = self.functions.remove(Function::ReportsApi.logical_id()) {
            self.functions.insert(
                Function::ReportsApi.logical_id().to_owned(),
                app.with_reports(reports),
            );
        }
        self
    }

    /// Serves on `addr` (port 0 picks a free one) until the handle is dropped.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<GatewayHandle> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let gateway = Arc::new(self);
        let task = crate::http1::serve(listener, move |req, peer| {
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(gateway.call(req, peer).await) }
        });
        Ok(GatewayHandle { addr, task })
    }

    fn find_route(&self, method: &str, path: &str) -> Option<(&TemplateRoute, Map<String, Value>)> {
        let segments: Vec<&str> = path.split('/').collect();
        self.routes.iter().find_map(|r| {
            let template: Vec<&str> = r.path.split('/').collect();
            if r.method != method || template.len() != segments.len() {
                return None;
            }
            let mut params = Map::new();
            for (t, s) in template.iter().zip(&segments) {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    if s.is_empty() {
                        return None;
                    }
                    params.insert(name.to_owned(), json!(s));
                } else if t != s {
                    return None;
                }
            }
            Some((r, params))
        })
    }

    async fn call(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        // The console's static files come before the authorizer: they carry no data.
        if let Some(console) = &self.console {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            if let Some(response) = console.respond(&parts.method, parts.uri.path(), host).await {
                return response;
            }
        }
        let method = parts.method.as_str().to_owned();
        let path = parts.uri.path().to_owned();
        let local_clock = path == "/_local/clock" && method == "POST";
        let found = self.find_route(&method, &path);
        if found.is_none() && !(local_clock && self.clock_control.is_some()) {
            return plain(404, "Not Found");
        }
        // The JWT authorizer: a missing or invalid token never reaches the function.
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        let Some(claims) = token.and_then(|t| self.key.verify(t.trim())) else {
            return plain(401, "Unauthorized");
        };
        let body = match Limited::new(body, GATEWAY_MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return plain(413, "Request Entity Too Large"),
        };
        // Claims as API Gateway hands them to the function: every value a string, arrays as
        // "[a b]"; the route's AuthorizationScopes checked against `scope` and `scp` first.
        let claims = api_gateway_claims(claims);
        if let Some((route, _)) = &found {
            let held = token_scopes(&claims);
            if !route.scopes.is_empty() && !route.scopes.iter().any(|s| held.contains(s)) {
                return json_response(403, r#"{"message":"Forbidden"}"#);
            }
        }
        let Some((route, path_params)) = found else {
            // The local clock control: ops only.
            let admin = token_scopes(&claims)
                .iter()
                .any(|s| s == shared::api::scope::ADMIN);
            return match (&self.clock_control, admin) {
                (Some(control), true) => self.move_clock(control, &body).await,
                (Some(_), false) => plain(403, "Forbidden: the clock needs the admin scope"),
                (None, _) => plain(404, "Not Found"),
            };
        };
        let event = api_gateway_event(
            &parts,
            &route.method,
            &route.path,
            path_params,
            claims,
            &body,
            peer,
        );
        let Some(app) = self.functions.get(&route.function) else {
            return plain(500, "Internal Server Error");
        };
        let request = match lambda_http::request::from_str(&event.to_string()) {
            Ok(r) => r,
            Err(_) => return plain(400, "Bad Request"),
        };
        let response = app.handle(request).await;
        let (parts, body) = response.into_parts();
        let bytes = Bytes::copy_from_slice(body.as_ref());
        Response::from_parts(parts, Full::new(bytes))
    }
}

/// The Content-Security-Policy of the console's HTML pages. `connect-src` admits the local S3
/// emulator on 127.0.0.1, where presigned report URLs point (it answers CORS).
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self' http://127.0.0.1:*; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

/// The admin console's static files and the configuration it is served with.
struct Console {
    dir: PathBuf,
    /// The JSON served as `/console/config.json`.
    config: Bytes,
}

impl Console {
    /// The response to a console request, or `None` when the request is not the console's.
    async fn respond(
        &self,
        method: &Method,
        path: &str,
        host: Option<&str>,
    ) -> Option<Response<Full<Bytes>>> {
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let response = match path {
            "/" | "/console" => console_redirect("/console/"),
            "/console/" => self.file("index.html").await,
            // It hands out the local sign-in tokens: only to a page loaded from a loopback name,
            // so a site whose name is rebound to 127.0.0.1 (DNS rebinding) cannot read them.
            "/console/config.json" if !host.is_some_and(loopback_host) => plain(
                403,
                "Forbidden: the console configuration is served to loopback hosts only",
            ),
            "/console/config.json" => {
                console_response(self.config.clone(), "application/json", "no-store", false)
            }
            _ => self.file(path.strip_prefix("/console/")?).await,
        };
        Some(response)
    }

    /// A file under the console directory; 404 unless every segment of the raw (undecoded) path is
    /// a plain name (no `..`, no hidden files, no percent-encoding) and it is a regular file there.
    async fn file(&self, relative: &str) -> Response<Full<Bytes>> {
        if !relative.split('/').all(plain_segment) {
            return console_not_found();
        }
        // Defence in depth against symlinks leading out of the directory.
        let (Ok(root), Ok(path)) = (
            tokio::fs::canonicalize(&self.dir).await,
            tokio::fs::canonicalize(self.dir.join(relative)).await,
        ) else {
            return console_not_found();
        };
        if !path.starts_with(&root) || !tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_file())
        {
            return console_not_found();
        }
        let Ok(bytes) = tokio::fs::read(&path).await else {
            return console_not_found();
        };
        let content_type = content_type(&path);
        console_response(
            Bytes::from(bytes),
            content_type,
            "no-cache",
            content_type.starts_with("text/html"),
        )
    }
}

/// `localhost`, `127.0.0.1` (any of 127/8) or `[::1]`, with or without a port.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `[A-Za-z0-9_-][A-Za-z0-9._-]*`
fn plain_segment(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The headers every console response carries.
fn console_headers(r: &mut Response<Full<Bytes>>, cache_control: &'static str) {
    let headers = r.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn console_response(
    body: Bytes,
    content_type: &'static str,
    cache_control: &'static str,
    html: bool,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if html {
        r.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONSOLE_CSP),
        );
    }
    console_headers(&mut r, cache_control);
    r
}

fn console_redirect(location: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::FOUND;
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    console_headers(&mut r, "no-cache");
    r
}

fn console_not_found() -> Response<Full<Bytes>> {
    let mut r = plain(404, "Not Found");
    console_headers(&mut r, "no-cache");
    r
}

/// JWT claims as an HTTP API's authorizer passes them on: strings as they are, numbers and
/// booleans as their text, arrays as `[a b]`, objects as JSON text.
pub fn api_gateway_claims(claims: Map<String, Value>) -> Map<String, Value> {
    fn text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(" "))
            }
            other => other.to_string(),
        }
    }
    claims
        .into_iter()
        .map(|(k, v)| {
            let t = text(&v);
            (k, Value::String(t))
        })
        .collect()
}

/// The scopes a token holds (its `scope` and `scp` claims, as API Gateway reads them).
fn token_scopes(claims: &Map<String, Value>) -> Vec<String> {
    ["scope", "scp"]
        .iter()
        .filter_map(|c| claims.get(*c).and_then(Value::as_str))
        .flat_map(shared::api::scope_claim)
        .collect()
}

fn json_response(status: u16, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The payload-format-2.0 event API Gateway sends for a request.
pub fn api_gateway_event(
    parts: &http::request::Parts,
    method: &str,
    path_template: &str,
    path_params: Map<String, Value>,
    claims: Map<String, Value>,
    body: &[u8],
    peer: SocketAddr,
) -> Value {
    let mut headers: Map<String, Value> = Map::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), json!(value));
            }
        }
    }
    let raw_query = parts.uri.query().unwrap_or("");
    let mut query: Map<String, Value> = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.insert(k.to_owned(), json!(v));
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (STANDARD.encode(body), true),
    };
    let now = time::OffsetDateTime::now_utc();
    let route_key = format!("{method} {path_template}");
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "authorizer": { "jwt": { "claims": claims, "scopes": null } },
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": parts.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
            },
            "requestId": format!("{:016x}", rand::random::<u64>()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.unix_timestamp().to_string(),
            "timeEpoch": now.unix_timestamp() * 1000 + i64::from(now.millisecond()),
        },
        "isBase64Encoded": is_base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !path_params.is_empty() {
        event["pathParameters"] = Value::Object(path_params);
    }
    if !body.is_empty() {
        event["body"] = json!(body);
    }
    event
}
