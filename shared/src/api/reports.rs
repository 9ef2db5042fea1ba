//! Routes of the reports API: the days that have reports, and one day's manifest with a
//! short-lived presigned download URL per object.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::{json, Value};

use super::{json_response, ApiError, App, Operation, Query, Route};
use crate::{domain::FieldError, store::StoreError};

/// How long a download URL works.
pub const URL_LIFETIME: Duration = Duration::from_secs(15 * 60);

fn s3_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_s3::error::SdkError<E, R>,
) -> ApiError {
    StoreError::Failed(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()).into()
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
                let mut days = Vec::new();
                let mut pages = reports
                    .s3
                    .list_objects_v2()
                    .bucket(&reports.bucket)
                    .prefix("reports/manifests/dt=")
                    .into_paginator()
                    .send();
                while let Some(page) = pages.next().await {
                    for object in page.map_err(s3_error)?.contents() {
                        let dt = object
                            .key()
                            .and_then(|k| k.strip_prefix("reports/manifests/dt="))
                            .and_then(|k| k.strip_suffix("/manifest.json"));
                        if let Some(dt) = dt {
                            days.push(json!({ "dt": dt, "path": format!("/v1/reports/{dt}") }));
                        }
                    }
                }
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
                let key = format!("reports/manifests/dt={dt}/manifest.json");
                let object = match reports
                    .s3
                    .get_object()
                    .bucket(&reports.bucket)
                    .key(&key)
                    .send()
                    .await
                {
                    Ok(o) => o,
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                        return Err(ApiError::ReportNotFound(dt.to_owned()));
                    }
                    Err(e) => return Err(s3_error(e)),
                };
                let bytes = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| ApiError::from(StoreError::Failed(e.to_string())))?
                    .into_bytes();
                let mut manifest: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::from(StoreError::Corrupt(e.to_string())))?;
                let presigning = PresigningConfig::expires_in(URL_LIFETIME)
                    .map_err(|e| ApiError::from(StoreError::Failed(e.to_string())))?;
                if let Some(objects) = manifest["objects"].as_array_mut() {
                    for o in objects {
                        let Some(k) = o["key"].as_str().map(str::to_owned) else {
                            continue;
                        };
                        let url = reports
                            .s3
                            .get_object()
                            .bucket(&reports.bucket)
                            .key(&k)
                            .presigned(presigning.clone())
                            .await
                            .map_err(s3_error)?;
                        o["url"] = json!(url.uri());
                    }
                }
                manifest["url_expires_in_seconds"] = json!(URL_LIFETIME.as_secs());
                Ok(json_response(StatusCode::OK, &manifest))
            }
            _ => Err(ApiError::RouteNotFound),
        }
    }
}
