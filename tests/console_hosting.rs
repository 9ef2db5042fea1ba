//! The gateway hosts the admin console: static files under `/console/` without a token, its own
//! `config.json`, redirects to it, and nothing outside the console directory. The API routes keep
//! their authorizer.
//!
//! The console directory is a temporary one made here, so these tests do not depend on the real
//! console's contents. No request reaches a function, so the store points at no emulator.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

use local_stack::{
    client::ApiClient,
    emulator_sdk_config,
    gateway::{Gateway, GatewayHandle, CONSOLE_CSP},
    jwt::JwtKey,
    project_root,
    template::Template,
};
use serde_json::json;
use shared::store::Store;
use system_tests::{ApiResponse, Method, StatusCode};

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

const INDEX: &str = "<!doctype html><title>console</title><script src=\"app.js\"></script>";
const APP: &str = "console.log('console');";

/// A gateway serving a fresh console directory; the directory is removed when dropped.
struct Console {
    api: ApiClient,
    dir: PathBuf,
    config: serde_json::Value,
    _gateway: GatewayHandle,
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Console {
    async fn get(&self, path: &str) -> ApiResponse {
        self.send(Method::GET, path).await
    }

    async fn send(&self, method: Method, path: &str) -> ApiResponse {
        self.api
            .send(method, path, &[], None)
            .await
            .expect("HTTP call")
    }

    /// A GET of `path` by a page that names the server `host`.
    async fn get_from(&self, host: &str, path: &str) -> ApiResponse {
        self.api
            .send(Method::GET, path, &[("host", host)], None)
            .await
            .expect("HTTP call")
    }

    /// A GET of `path` that must be a 200 of `content_type`.
    async fn served(&self, path: &str, content_type: &str) -> ApiResponse {
        let r = self.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        r
    }
}

async fn console() -> Console {
    let dir = std::env::temp_dir().join(format!(
        "inventory-console-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(dir.join("img")).unwrap();
    std::fs::write(dir.join("index.html"), INDEX).unwrap();
    std::fs::write(dir.join("app.js"), APP).unwrap();
    std::fs::write(dir.join("style.css"), "body { margin: 0 }").unwrap();
    std::fs::write(
        dir.join("img/logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    std::fs::write(dir.join(".hidden"), "secret").unwrap();
    // The deployers' file on disk: the local stack serves its own configuration instead.
    std::fs::write(dir.join("config.json"), r#"{"api_url":"https://on-disk"}"#).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(project_root().join("Cargo.toml"), dir.join("escape.txt")).unwrap();

    let key = JwtKey::random();
    let config = json!({
        "api_url": "",
        "auth": { "mode": "local", "tokens": { "ops": key.mint("ops-demo", "inventory/admin inventory/read", 600) } },
    });
    let template = Template::load(&project_root().join("template.yaml")).unwrap();
    let sdk = emulator_sdk_config("http://127.0.0.1:9");
    let gateway = Gateway::new(
        template.routes(),
        Store::new(aws_sdk_dynamodb::Client::new(&sdk), "no-table"),
        key,
    )
    .with_console(dir.clone(), config.clone())
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap();
    Console {
        api: ApiClient::new(gateway.base_url()),
        dir,
        config,
        _gateway: gateway,
    }
}

fn assert_common_headers(r: &ApiResponse) {
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
}

#[tokio::test]
async fn the_root_and_the_bare_console_path_redirect_to_the_console() {
    let c = console().await;
    for path in ["/", "/console"] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::FOUND, "{path}");
        assert_eq!(r.header("location"), Some("/console/"), "{path}");
        assert_common_headers(&r);
    }
}

#[tokio::test]
async fn the_console_serves_its_index_with_the_content_security_policy() {
    let c = console().await;
    let r = c.served("/console/", "text/html; charset=utf-8").await;
    assert_eq!(r.body, INDEX.as_bytes());
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_common_headers(&r);
    let csp = r.header("content-security-policy").unwrap();
    assert_eq!(csp, CONSOLE_CSP);
    assert_eq!(
        csp,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self' http://127.0.0.1:*; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'"
    );
    assert_eq!(c.get("/console/index.html").await.body, INDEX.as_bytes());
}

#[tokio::test]
async fn the_console_files_have_their_content_types_and_are_read_at_request_time() {
    let c = console().await;
    let r = c
        .served("/console/app.js", "text/javascript; charset=utf-8")
        .await;
    assert_eq!(r.body, APP.as_bytes());
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert_eq!(r.header("content-security-policy"), None);
    assert_common_headers(&r);

    c.served("/console/style.css", "text/css; charset=utf-8")
        .await;
    c.served("/console/img/logo.svg", "image/svg+xml").await;

    let head = c.send(Method::HEAD, "/console/app.js").await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(
        head.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(head.body.is_empty());

    std::fs::write(c.dir.join("app.js"), "console.log('edited');").unwrap();
    assert_eq!(
        c.get("/console/app.js").await.body,
        b"console.log('edited');".as_slice()
    );
}

#[tokio::test]
async fn the_console_config_is_the_configured_value_never_cached() {
    let c = console().await;
    let r = c.served("/console/config.json", "application/json").await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_common_headers(&r);
    assert_eq!(r.json(), c.config);
    for host in ["localhost:3000", "127.0.0.1", "[::1]:3000", "LOCALHOST"] {
        let r = c.get_from(host, "/console/config.json").await;
        assert_eq!(r.status, StatusCode::OK, "{host}");
    }
}

/// The config hands out the local sign-in tokens: a page from any other name (a DNS-rebinding
/// site whose name now points at 127.0.0.1) is refused it.
#[tokio::test]
async fn the_console_config_is_refused_to_other_host_names() {
    let rebound = [
        "evil.example",
        "evil.example:3000",
        "127.0.0.1.evil.example",
        "10.0.0.1",
    ];
    let c = console().await;
    for host in rebound {
        let r = c.get_from(host, "/console/config.json").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{host}");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("token"),
            "{host}"
        );
    }
    let r = c.get_from("evil.example", "/console/app.js").await;
    assert_eq!(r.status, StatusCode::OK, "the static files carry no secret");
}

#[tokio::test]
async fn nothing_outside_the_console_directory_or_hidden_is_served() {
    let c = console().await;
    for path in [
        "/console/../Cargo.toml",
        "/console/%2e%2e/Cargo.toml",
        "/console/%2E%2E/Cargo.toml",
        "/console/..%2fCargo.toml",
        "/console/img/../app.js",
        "/console/./app.js",
        "/console/.hidden",
        "/console/%2ehidden",
        "/console/missing.js",
        "/console/img",
        "/console/img/",
        "/console//app.js",
        "/console/app.js/",
        "/console/escape.txt",
        "/consoleapp.js",
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.json(), json!({ "message": "Not Found" }), "{path}");
    }
    // Only GET and HEAD reach the console.
    let r = c.send(Method::POST, "/console/app.js").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn api_routes_still_demand_a_token() {
    let c = console().await;
    for (method, path) in [
        (Method::GET, "/v1/skus"),
        (Method::GET, "/v1/reports"),
        (Method::POST, "/v1/sales"),
    ] {
        let r = c.send(method, path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(r.json(), json!({ "message": "Unauthorized" }), "{path}");
    }
}

#[tokio::test]
async fn without_a_console_the_gateway_serves_none() {
    let template = Template::load(&project_root().join("template.yaml")).unwrap();
    let sdk = emulator_sdk_config("http://127.0.0.1:9");
    let gateway = Gateway::new(
        template.routes(),
        Store::new(aws_sdk_dynamodb::Client::new(&sdk), "no-table"),
        JwtKey::random(),
    )
    .serve(SocketAddr::from(([127, 0, 0, 1], 0)))
    .await
    .unwrap();
    let api = ApiClient::new(gateway.base_url());
    for path in ["/", "/console/", "/console/config.json"] {
        let r = api.send(Method::GET, path, &[], None).await.unwrap();
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
    }
}
