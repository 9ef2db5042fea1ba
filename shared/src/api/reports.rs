//! Routes of the reports API: the days that have reports, and one day's manifest with a
//! short-lived presigned download URL per object.

use std::time::Duration;

use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

use super::{json_response, ApiError, App, Operation, Query, Route};
use crate::{domain::FieldError, store::StoreError};

/// How long a download URL works.
pub const URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Where the report writer commits each day's manifest.
const MANIFESTS: &str = "reports/manifests/dt=";

fn bucket_error(e: crate::bucket::BucketError) -> ApiError {
    StoreError::Failed(e.to_string()).into()
}

fn valid_date(dt: &str) -> bool {
    dt.len() == 10
        && time::Date::parse(
            dt,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .is_ok()
}

impl App {
    pub(super) async fn reports_route(
        &self,
        route: &Route,
        params: &[&str],
        query: &Query,
    ) -> Result<Response<Body>, ApiError> {
        let Some(reports) = &self.reports else {
            return Err(ApiError::RouteNotFound);
        };
        query.page_with(&[])?;
        match route.operation {
            Operation::ListReports => {
                let mut days: Vec<Value> = reports
                    .list(MANIFESTS)
                    .await
                    .map_err(bucket_error)?
                    .iter()
                    .filter_map(|k| k.strip_prefix(MANIFESTS)?.strip_suffix("/manifest.json"))
                    .map(|dt| json!({ "dt": dt, "path": format!("/v1/reports/{dt}") }))
                    .collect();
                days.reverse();
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "items": days, "next_cursor": null }),
                ))
            }
            Operation::GetReport => {
                let dt = params[0];
                if !valid_date(dt) {
                    return Err(ApiError::InvalidParameter(vec![FieldError::new(
                        "dt",
                        "must be a date, YYYY-MM-DD",
                    )]));
                }
                let key = format!("{MANIFESTS}{dt}/manifest.json");
                let Some(bytes) = reports.get(&key).await.map_err(bucket_error)? else {
                    return Err(ApiError::ReportNotFound(dt.to_owned()));
                };
                let mut manifest: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::from(StoreError::Corrupt(e.to_string())))?;
                if let Some(objects) = manifest["objects"].as_array_mut() {
                    for o in objects {
                        let Some(k) = o["key"].as_str().map(str::to_owned) else {
                            continue;
                        };
                        let url = reports
                            .presigned_get(&k, URL_LIFETIME)
                            .await
                            .map_err(bucket_error)?;
                        o["url"] = json!(url);
                    }
                }
                manifest["url_expires_in_seconds"] = json!(URL_LIFETIME.as_secs());
                Ok(json_response(StatusCode::OK, &manifest))
            }
            _ => Err(ApiError::RouteNotFound),
        }
    }
}
