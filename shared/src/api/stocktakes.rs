//! The stocktake import routes: `POST /v1/stocktakes` (a CSV, applied asynchronously),
//! `GET /v1/stocktakes/{import_id}` (progress and failures) and
//! `GET /v1/stocktakes/{import_id}/result` (a CSV with one row per line). See
//! [`crate::stocktake`].

use http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{csv_response, idempotency_key, media_type, raw_json_response, ApiError, Principal};
use crate::{
    domain::FieldError,
    stocktake::{
        import_id, parse, Import, KeyReused, LineRefusal, Stocktakes, Uploaded, MAX_IMPORT_BYTES,
    },
    store::{Store, StoreError},
};

fn stocktakes(store: &Store) -> Stocktakes {
    Stocktakes::new(store)
}

fn id_param(raw: &str) -> Result<String, ApiError> {
    let ok = raw.len() == 23
        && raw.starts_with("st_")
        && raw[3..].chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::InvalidParameter(vec![FieldError::new(
            "import_id",
            "not an import id this API issues",
        )]))
    }
}

fn view(import: &Import, failures: Option<&[crate::stocktake::Failure]>) -> serde_json::Value {
    let mut v = json!(import);
    v["links"] = json!({ "self": format!("/v1/stocktakes/{}", import.import_id) });
    if import.status == "done" {
        v["links"]["result"] = json!(format!("/v1/stocktakes/{}/result", import.import_id));
    }
    if let Some(f) = failures {
        v["failures"] = json!(f.iter().take(100).collect::<Vec<_>>());
    }
    v
}

/// `POST /v1/stocktakes`.
pub(super) async fn upload(
    store: &Store,
    req: &Request,
    principal: &Principal,
    now: i64,
    now_text: &str,
) -> Result<Response<Body>, ApiError> {
    let key = idempotency_key(req.headers())?;
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_IMPORT_BYTES));
    }
    let csv_type = media_type(req).is_some_and(|m| m == "text/csv" || m == "application/csv");
    if !csv_type {
        return Err(ApiError::UnsupportedMediaType("text/csv"));
    }
    let lines = parse(bytes).map_err(|e| ApiError::Validation(vec![e]))?;
    let hash = hex::encode(Sha256::digest(bytes));
    let id = import_id(&principal.subject, &key);
    match stocktakes(store)
        .upload(&id, &hash, &lines, &principal.subject, now, now_text)
        .await?
        .map_err(|KeyReused| ApiError::IdempotencyKeyReused)?
    {
        Uploaded::Queued(import) => Ok(accepted(&import, false)),
        Uploaded::Again(import) => Ok(accepted(&import, true)),
    }
}

fn accepted(import: &Import, replayed: bool) -> Response<Body> {
    let mut r = raw_json_response(
        StatusCode::ACCEPTED,
        view(import, None).to_string(),
        replayed,
    );
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/stocktakes/{}", import.import_id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /v1/stocktakes/{import_id}`.
pub(super) async fn get(store: &Store, raw_id: &str) -> Result<Response<Body>, ApiError> {
    let id = id_param(raw_id)?;
    let st = stocktakes(store);
    let Some(import) = st.get(&id).await? else {
        return Err(ApiError::ImportNotFound(id));
    };
    let failures = if import.status == "done" {
        Some(st.failures(&id).await?)
    } else {
        None
    };
    Ok(raw_json_response(
        StatusCode::OK,
        view(&import, failures.as_deref()).to_string(),
        false,
    ))
}

/// `GET /v1/stocktakes/{import_id}/result`: every line with what became of it.
pub(super) async fn result(store: &Store, raw_id: &str) -> Result<Response<Body>, ApiError> {
    let id = id_param(raw_id)?;
    let st = stocktakes(store);
    let Some(import) = st.get(&id).await? else {
        return Err(ApiError::ImportNotFound(id));
    };
    if import.status != "done" {
        return Err(ApiError::ImportNotFinished {
            import_id: id,
            processed: import.processed,
            lines: import.lines,
        });
    }
    let (lines, failures) = tokio::try_join!(st.lines(&import), st.failures(&id))?;
    let failed: std::collections::HashMap<u64, &crate::stocktake::Failure> =
        failures.iter().map(|f| (f.line, f)).collect();
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ApiError::from(StoreError::Failed(e.to_string()));
    w.write_record([
        "line", "sku", "location", "counted", "expected", "status", "problem", "detail",
    ])
    .map_err(fail)?;
    for line in &lines {
        let f = failed.get(&line.number);
        let n = |t: &str| crate::reports::neutralise(t).into_owned();
        w.write_record([
            line.number.to_string(),
            n(&line.sku),
            n(&line.location),
            n(&line.counted),
            n(line.expected.as_deref().unwrap_or("")),
            if f.is_some() { "failed" } else { "applied" }.to_owned(),
            f.map(|f| f.problem.clone()).unwrap_or_default(),
            n(f.map(|f| f.detail.as_str()).unwrap_or("")),
        ])
        .map_err(fail)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| ApiError::from(StoreError::Failed(e.to_string())))?;
    Ok(csv_response(body, &format!("{id}-result.csv")))
}

/// A refused import line as its problem `type` and `detail`, as the API would answer the same
/// adjustment (handed to the import by the wiring: [`crate::stocktake::Describe`]).
pub fn describe_refusal(refusal: LineRefusal) -> (String, String) {
    let error = match refusal {
        LineRefusal::Validation(errors) => ApiError::Validation(errors),
        LineRefusal::KeyReused => ApiError::IdempotencyKeyReused,
        LineRefusal::Movement(e) => ApiError::from(e),
    };
    let problem = error.as_json();
    let text = |field: &str| problem[field].as_str().unwrap_or_default().to_owned();
    (text("type"), text("detail"))
}
