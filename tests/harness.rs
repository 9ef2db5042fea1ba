//! `spawn_app()`: the whole API on a free port, on its own table in a serialised moto emulator
//! (one emulator per test binary, one table per test), called over HTTP like a storefront would.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
};

pub use http::{Method, StatusCode};
pub use local_stack::client::ApiResponse;
use local_stack::{
    client::ApiClient,
    emulator_sdk_config,
    gateway::{Gateway, GatewayHandle},
    jwt::{JwtKey, LOCAL_AUDIENCE, LOCAL_ISSUER},
    moto::Moto,
    project_root,
    template::Template,
};
use serde_json::{json, Value};
use shared::{
    api::scope,
    store::{RequestCounter, Store},
};

static MOTO: OnceLock<Moto> = OnceLock::new();
static NEXT_TABLE: AtomicU32 = AtomicU32::new(0);

/// The emulator shared by this test binary's tests.
pub fn moto_endpoint() -> String {
    MOTO.get_or_init(|| Moto::start(0).expect("start the moto emulator"))
        .endpoint()
}

/// One test's system: its own table, gateway and signing key.
pub struct TestApp {
    pub api: ApiClient,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub key: JwtKey,
    /// DynamoDB requests the API has sent (every attempt).
    pub requests: RequestCounter,
    _gateway: GatewayHandle,
}

pub async fn spawn_app() -> TestApp {
    let endpoint = moto_endpoint();
    let sdk = emulator_sdk_config(&endpoint);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!(
        "inventory-{}-{}",
        std::process::id(),
        NEXT_TABLE.fetch_add(1, Ordering::Relaxed)
    );
    let template = Template::load(&project_root().join("template.yaml")).expect("template");
    template
        .create_table(&dynamodb, "InventoryTable", &table)
        .await
        .expect("create table");
    let requests = RequestCounter::default();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(requests.clone())
            .build(),
    );
    let key = JwtKey::random();
    let gateway = Gateway::new(template.routes(), Store::new(counted, &table), key.clone())
        .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("serve gateway");
    TestApp {
        api: ApiClient::new(gateway.base_url()),
        dynamodb,
        table,
        key,
        requests,
        _gateway: gateway,
    }
}

/// Who calls: the scopes each role's token carries.
#[derive(Debug, Clone, Copy)]
pub enum Role {
    Storefront,
    Ops,
    ReadOnly,
}

impl TestApp {
    pub fn token(&self, role: Role) -> String {
        let (sub, scopes) = match role {
            Role::Storefront => ("shop-1", format!("{} {}", scope::SELL, scope::READ)),
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

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        idempotency_key: Option<&str>,
        body: Option<&Value>,
    ) -> ApiResponse {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        if let Some(k) = idempotency_key {
            headers.push(("idempotency-key", k));
        }
        self.api
            .send(
                method,
                path,
                &headers,
                body.map(|b| b.to_string().into_bytes()),
            )
            .await
            .expect("HTTP call")
    }

    pub async fn get(&self, path: &str, role: Role) -> ApiResponse {
        self.call(Method::GET, path, Some(&self.token(role)), None, None)
            .await
    }

    pub async fn post(&self, path: &str, role: Role, key: &str, body: Value) -> ApiResponse {
        self.call(
            Method::POST,
            path,
            Some(&self.token(role)),
            Some(key),
            Some(&body),
        )
        .await
    }

    pub async fn put(&self, path: &str, role: Role, body: Value) -> ApiResponse {
        self.call(
            Method::PUT,
            path,
            Some(&self.token(role)),
            None,
            Some(&body),
        )
        .await
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

    /// Every ledger entry of a SKU, newest first, following the cursors.
    pub async fn ledger(&self, sku: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/skus/{sku}/ledger?limit=100&cursor={c}"),
                None => format!("/v1/skus/{sku}/ledger?limit=100"),
            };
            let r = self.get(&path, Role::ReadOnly).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.json());
            let body = r.json();
            out.extend(body["items"].as_array().cloned().unwrap_or_default());
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }
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
