//! Answers: JSON bodies, pages and the status of a create-or-replace.

use super::*;

/// The system time as recorded on writes (RFC 3339, UTC, milliseconds).
pub fn now_rfc3339() -> String {
    crate::clock::Clock::system().rfc3339()
}

pub(crate) fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

pub(crate) fn page_response<T: Serialize>(page: Page<T>) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "items": page.items, "next_cursor": page.next_cursor }),
    )
}

pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    raw_json_response(
        status,
        serde_json::to_string(body).unwrap_or_else(|_| "null".into()),
        false,
    )
}

pub(crate) fn raw_json_response(
    status: StatusCode,
    body: String,
    replayed: bool,
) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// A CSV download named `filename`.
pub(crate) fn csv_response(body: Vec<u8>, filename: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
