//! A small HTTP/1.1 client for tests, scripts and benchmarks that call the local API.

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::{connect::HttpConnector, Client},
    rt::TokioExecutor,
};
use serde_json::Value;

/// A response as a caller sees it.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// This response when its status is a success; else an error naming the `request`
    /// (`POST /v1/sales`), the status and the body.
    pub fn success(self, request: impl std::fmt::Display) -> anyhow::Result<Self> {
        anyhow::ensure!(
            self.status.is_success(),
            "{request}: {} {}",
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        Ok(self)
    }
}

/// Calls the API at `base_url` with pooled keep-alive connections.
#[derive(Clone)]
pub struct ApiClient {
    base_url: String,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Where this client sends its requests (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends one request. `body` is sent as `application/json` unless a content-type is given.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<ApiResponse> {
        let mut req = http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base_url, path));
        let has_type = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_type {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let res = self.http.request(req).await?;
        let (parts, body) = res.into_parts();
        Ok(ApiResponse {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await?.to_bytes(),
        })
    }

    /// Sends `body` as JSON, with the bearer `token` and the `idempotency_key` where given (as the
    /// storefront and the console call the API).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> anyhow::Result<ApiResponse> {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        if let Some(k) = idempotency_key {
            headers.push(("idempotency-key", k));
        }
        self.send(
            method,
            path,
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
        .await
    }
}
