//! Routes of the alerts API: rules (admin), the alert inbox, acknowledgement, resolution by hand,
//! and silences.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    idempotency_key, json_response, page_response, parse_body, raw_json_response, sku_param,
    ApiError, App, Operation, Principal, Query, Route,
};
use crate::{
    alerts::{
        evaluate::AlertState,
        rules::{RuleBody, Severity},
        store::{AckError, AlertFilter, RuleCreated, Silence},
    },
    clock::rfc3339_seconds as rfc3339,
    domain::{parse_text, FieldError, LocationId},
};

/// A silence as a client asks for it: a rule or a SKU, for a number of minutes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    #[serde(default)]
    pub rule_id: Option<String>,
    #[serde(default)]
    pub sku: Option<String>,
    pub minutes: i64,
    pub reason: String,
}

/// The longest silence: a week.
pub const MAX_SILENCE_MINUTES: i64 = 7 * 24 * 60;

/// The most alerts one bulk action takes.
pub const MAX_BULK_ALERTS: usize = 100;

/// Many alerts at once: acknowledge, resolve, or silence each one's SKU or rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkAlertsBody {
    pub action: String,
    pub alert_ids: Vec<String>,
    /// For the silence actions.
    #[serde(default)]
    pub minutes: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BulkAction {
    Acknowledge,
    Resolve,
    SilenceSku,
    SilenceRule,
}

fn id_param(field: &str, raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::InvalidParameter(vec![FieldError::new(
            field,
            "not an id this API issues",
        )]))
    }
}

impl App {
    pub(super) async fn alerts_route(
        &self,
        req: &Request,
        route: &Route,
        params: &[&str],
        principal: &Principal,
        query: &Query,
    ) -> Result<Response<Body>, ApiError> {
        use Operation::*;
        match route.operation {
            ListRules => {
                let (limit, cursor) = query.page()?;
                Ok(page_response(self.alerts.list_rules(limit, cursor).await?))
            }
            CreateRule => self.create_rule(req, route, principal).await,
            GetRule => {
                let id = id_param("rule_id", params[0])?;
                match self.alerts.get_rule(&id).await? {
                    Some(rule) => Ok(json_response(StatusCode::OK, &rule)),
                    None => Err(ApiError::RuleNotFound(id)),
                }
            }
            ReplaceRule => {
                let id = id_param("rule_id", params[0])?;
                let body: RuleBody = parse_body(req)?;
                body.validate().map_err(ApiError::Validation)?;
                match self
                    .alerts
                    .replace_rule(&id, &body, &self.clock.rfc3339())
                    .await?
                {
                    Some(rule) => Ok(json_response(StatusCode::OK, &rule)),
                    None => Err(ApiError::RuleNotFound(id)),
                }
            }
            DeleteRule => {
                let id = id_param("rule_id", params[0])?;
                if self.alerts.delete_rule(&id).await? {
                    Ok(empty(StatusCode::NO_CONTENT))
                } else {
                    Err(ApiError::RuleNotFound(id))
                }
            }
            ListAlerts => {
                let (limit, cursor) = query.page_with(&["state", "severity", "sku", "location"])?;
                let mut errors = Vec::new();
                let refused = |field: &str, message: &str| FieldError::new(field, message);
                let filter = AlertFilter {
                    state: query.param("state", &mut errors, |s| {
                        AlertState::parse(s).ok_or_else(|| {
                            refused("state", "must be firing, acknowledged or resolved")
                        })
                    }),
                    severity: query.param("severity", &mut errors, |s| {
                        Severity::parse(s)
                            .ok_or_else(|| refused("severity", "must be info, warning or critical"))
                    }),
                    sku: query.param("sku", &mut errors, |s| {
                        sku_param(s)
                            .map(|s| s.to_string())
                            .map_err(|_| refused("sku", "not a SKU id"))
                    }),
                    location: query.param("location", &mut errors, |l| {
                        LocationId::parse("location", l).map(|l| l.to_string())
                    }),
                };
                if !errors.is_empty() {
                    return Err(ApiError::InvalidParameter(errors));
                }
                Ok(page_response(
                    self.alerts.list_alerts(&filter, limit, cursor).await?,
                ))
            }
            GetAlert => {
                let id = id_param("alert_id", params[0])?;
                match self.alerts.get_alert(&id).await? {
                    Some(alert) => Ok(json_response(StatusCode::OK, &alert)),
                    None => Err(ApiError::AlertNotFound(id)),
                }
            }
            AcknowledgeAlert | ResolveAlert => {
                let id = id_param("alert_id", params[0])?;
                let now = self.clock.rfc3339();
                let result = if route.operation == AcknowledgeAlert {
                    self.alerts.acknowledge(&id, &principal.subject, &now).await
                } else {
                    self.alerts
                        .resolve_by_hand(&id, &principal.subject, &now)
                        .await
                };
                match result {
                    Ok(Some(alert)) => Ok(json_response(StatusCode::OK, &alert)),
                    Ok(None) => Err(ApiError::AlertNotFound(id)),
                    Err(AckError::NotFiring(state)) => {
                        Err(ApiError::AlertStateConflict(state.as_str()))
                    }
                    Err(AckError::Store(e)) => Err(e.into()),
                }
            }
            ListSilences => {
                query.page_with(&[])?;
                let silences = self.alerts.list_silences(self.clock.now()).await?;
                Ok(json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "items": silences, "next_cursor": null }),
                ))
            }
            CreateSilence => {
                let body: SilenceBody = parse_body(req)?;
                let mut errors = Vec::new();
                let target = match (&body.rule_id, &body.sku) {
                    (Some(r), None) => match id_param("rule_id", r) {
                        Ok(r) => Some(format!("rule:{r}")),
                        Err(_) => {
                            errors.push(FieldError::new("rule_id", "not a rule id"));
                            None
                        }
                    },
                    (None, Some(s)) => match sku_param(s) {
                        Ok(s) => Some(format!("sku:{s}")),
                        Err(_) => {
                            errors.push(FieldError::new("sku", "not a SKU id"));
                            None
                        }
                    },
                    _ => {
                        errors.push(FieldError::new(
                            "rule_id",
                            "give exactly one of rule_id and sku",
                        ));
                        None
                    }
                };
                if !(1..=MAX_SILENCE_MINUTES).contains(&body.minutes) {
                    errors.push(FieldError::new(
                        "minutes",
                        format!("must be an integer from 1 to {MAX_SILENCE_MINUTES}"),
                    ));
                }
                let reason = parse_text("reason", &body.reason)
                    .map_err(|e| errors.push(e))
                    .ok();
                let (Some(target), Some(reason), true) = (target, reason, errors.is_empty()) else {
                    return Err(ApiError::Validation(errors));
                };
                if let Some(rule_id) = &body.rule_id {
                    if self.alerts.get_rule(rule_id).await?.is_none() {
                        return Err(ApiError::RuleNotFound(rule_id.clone()));
                    }
                }
                let until_unix = self.clock.now() + body.minutes * 60;
                let silence = Silence {
                    silence_id: target,
                    until: rfc3339(until_unix),
                    until_unix,
                    reason,
                    created_by: principal.subject.clone(),
                };
                self.alerts.put_silence(&silence).await?;
                Ok(json_response(StatusCode::CREATED, &silence))
            }
            DeleteSilence => {
                let id = params[0];
                let valid = id.split_once(':').is_some_and(|(k, v)| {
                    (k == "rule" || k == "sku") && !v.is_empty() && v.len() <= 64
                });
                if !valid {
                    return Err(ApiError::InvalidParameter(vec![FieldError::new(
                        "silence_id",
                        "is rule:<rule_id> or sku:<sku>",
                    )]));
                }
                if self.alerts.delete_silence(id).await? {
                    Ok(empty(StatusCode::NO_CONTENT))
                } else {
                    Err(ApiError::SilenceNotFound(id.to_owned()))
                }
            }
            BulkAlerts => self.bulk_alerts(req, principal).await,
            _ => Err(ApiError::RouteNotFound),
        }
    }

    /// `POST /v1/alerts/bulk`: one action on up to [`MAX_BULK_ALERTS`] alerts, each done (or
    /// refused) on its own, answered with a result per id in the order given. A silence action
    /// silences each distinct SKU (or rule) once.
    async fn bulk_alerts(
        &self,
        req: &Request,
        principal: &Principal,
    ) -> Result<Response<Body>, ApiError> {
        use futures_util::StreamExt;
        let body: BulkAlertsBody = parse_body(req)?;
        let mut errors = Vec::new();
        let action = match body.action.as_str() {
            "acknowledge" => Some(BulkAction::Acknowledge),
            "resolve" => Some(BulkAction::Resolve),
            "silence_sku" => Some(BulkAction::SilenceSku),
            "silence_rule" => Some(BulkAction::SilenceRule),
            _ => {
                errors.push(FieldError::new(
                    "action",
                    "must be acknowledge, resolve, silence_sku or silence_rule",
                ));
                None
            }
        };
        if body.alert_ids.is_empty() || body.alert_ids.len() > MAX_BULK_ALERTS {
            errors.push(FieldError::new(
                "alert_ids",
                format!("must list 1 to {MAX_BULK_ALERTS} alert ids"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, id) in body.alert_ids.iter().enumerate() {
            if id_param("alert_id", id).is_err() {
                errors.push(FieldError::new(
                    format!("alert_ids[{i}]"),
                    "not an id this API issues",
                ));
            } else if !seen.insert(id.as_str()) {
                errors.push(FieldError::new(format!("alert_ids[{i}]"), "listed twice"));
            }
        }
        let silencing = matches!(
            action,
            Some(BulkAction::SilenceSku | BulkAction::SilenceRule)
        );
        let mut silence = None;
        if silencing {
            let minutes = body
                .minutes
                .filter(|m| (1..=MAX_SILENCE_MINUTES).contains(m));
            if minutes.is_none() {
                errors.push(FieldError::new(
                    "minutes",
                    format!("must be an integer from 1 to {MAX_SILENCE_MINUTES}"),
                ));
            }
            let reason = parse_text("reason", body.reason.as_deref().unwrap_or(""))
                .map_err(|e| errors.push(e))
                .ok();
            silence = minutes.zip(reason);
        } else if body.minutes.is_some() || body.reason.is_some() {
            errors.push(FieldError::new(
                "minutes",
                "minutes and reason are for the silence actions",
            ));
        }
        let (Some(action), true) = (action, errors.is_empty()) else {
            return Err(ApiError::Validation(errors));
        };
        let now = self.clock.rfc3339();
        let until_unix = self.clock.now() + silence.as_ref().map_or(0, |(m, _)| m * 60);
        let silenced: tokio::sync::Mutex<std::collections::HashSet<String>> = Default::default();
        let one = |id: String| {
            let (now, silence, silenced) = (&now, &silence, &silenced);
            async move {
                let outcome: Result<serde_json::Value, ApiError> = async {
                    match action {
                        BulkAction::Acknowledge | BulkAction::Resolve => {
                            let result = if action == BulkAction::Acknowledge {
                                self.alerts.acknowledge(&id, &principal.subject, now).await
                            } else {
                                self.alerts
                                    .resolve_by_hand(&id, &principal.subject, now)
                                    .await
                            };
                            match result {
                                Ok(Some(alert)) => Ok(serde_json::json!({ "state": alert.state })),
                                Ok(None) => Err(ApiError::AlertNotFound(id.clone())),
                                Err(AckError::NotFiring(state)) => {
                                    Err(ApiError::AlertStateConflict(state.as_str()))
                                }
                                Err(AckError::Store(e)) => Err(e.into()),
                            }
                        }
                        BulkAction::SilenceSku | BulkAction::SilenceRule => {
                            let Some(alert) = self.alerts.get_alert(&id).await? else {
                                return Err(ApiError::AlertNotFound(id.clone()));
                            };
                            let target = if action == BulkAction::SilenceSku {
                                format!("sku:{}", alert.sku)
                            } else {
                                format!("rule:{}", alert.rule_id)
                            };
                            let (_, reason) = silence.as_ref().expect("validated");
                            // Each target once, however many of its alerts are listed (silence
                            // actions run one at a time, so a target is marked only once its
                            // silence is written).
                            if !silenced.lock().await.contains(&target) {
                                self.alerts
                                    .put_silence(&Silence {
                                        silence_id: target.clone(),
                                        until: rfc3339(until_unix),
                                        until_unix,
                                        reason: reason.clone(),
                                        created_by: principal.subject.clone(),
                                    })
                                    .await?;
                                silenced.lock().await.insert(target.clone());
                            }
                            Ok(serde_json::json!({ "silence_id": target }))
                        }
                    }
                }
                .await;
                match outcome {
                    Ok(mut done) => {
                        done["alert_id"] = serde_json::json!(id);
                        done["status"] = serde_json::json!(200);
                        done
                    }
                    Err(e) => serde_json::json!({
                        "alert_id": id,
                        "status": e.as_json()["status"],
                        "problem": e.as_json(),
                    }),
                }
            }
        };
        let results: Vec<serde_json::Value> = futures_util::stream::iter(body.alert_ids.clone())
            .map(one)
            .buffered(if silencing { 1 } else { 8 })
            .collect()
            .await;
        let succeeded = results.iter().filter(|r| r["status"] == 200).count();
        Ok(json_response(
            StatusCode::OK,
            &serde_json::json!({
                "action": body.action,
                "succeeded": succeeded,
                "failed": results.len() - succeeded,
                "results": results,
            }),
        ))
    }

    async fn create_rule(
        &self,
        req: &Request,
        route: &Route,
        principal: &Principal,
    ) -> Result<Response<Body>, ApiError> {
        let key = idempotency_key(req.headers())?;
        let body: RuleBody = parse_body(req)?;
        body.validate().map_err(ApiError::Validation)?;
        let digest = Sha256::new()
            .chain_update(principal.subject.as_bytes())
            .chain_update([0])
            .chain_update(key.as_str().as_bytes())
            .finalize();
        let rule_id = format!("rl_{}", &hex::encode(digest)[..16]);
        let request_hash = hex::encode(
            Sha256::new()
                .chain_update(route.path)
                .chain_update([0])
                .chain_update(serde_json::to_vec(&body).unwrap_or_default())
                .finalize(),
        );
        let now = self.clock.rfc3339();
        let rule = body
            .into_rule(rule_id, now.clone(), now)
            .map_err(ApiError::Validation)?;
        match self.alerts.create_rule(&rule, &body, &request_hash).await? {
            RuleCreated::Created(rule) => Ok(json_response(StatusCode::CREATED, &rule)),
            RuleCreated::Existing {
                rule,
                request_hash: stored,
            } if stored == request_hash => Ok(raw_json_response(
                StatusCode::CREATED,
                serde_json::to_string(&rule).unwrap_or_default(),
                true,
            )),
            RuleCreated::Existing { .. } => Err(ApiError::IdempotencyKeyReused),
        }
    }
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = status;
    r
}
