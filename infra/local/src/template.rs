//! Reads `template.yaml` so the local stack creates the same resources and serves the same routes
//! as the deployed system: local and cloud cannot drift.

use std::path::Path;

use anyhow::{bail, Context};
use aws_sdk_dynamodb::{
    types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
        TimeToLiveSpecification,
    },
    Client,
};
use serde_yaml::Value;

/// The parsed template.
pub struct Template {
    root: Value,
}

/// An HTTP API route of a function.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TemplateRoute {
    pub method: String,
    pub path: String,
    pub function: String,
    /// `Auth.AuthorizationScopes`: the token needs one of them (checked by API Gateway).
    pub scopes: Vec<String>,
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

fn str_of<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    untag(&v[key])
        .as_str()
        .with_context(|| format!("template: {key} is not a string"))
}

impl Template {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Self {
            root: serde_yaml::from_str(&text).context("parsing template.yaml")?,
        })
    }

    pub fn resource(&self, logical_id: &str) -> anyhow::Result<&Value> {
        let r = &self.root["Resources"][logical_id];
        if r.is_null() {
            bail!("template.yaml has no resource {logical_id}");
        }
        Ok(r)
    }

    /// Logical ids of every resource of a type, in template order.
    pub fn resources_of_type(&self, ty: &str) -> Vec<String> {
        self.root["Resources"]
            .as_mapping()
            .map(|m| {
                m.iter()
                    .filter(|(_, v)| v["Type"].as_str() == Some(ty))
                    .filter_map(|(k, _)| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every HttpApi route, with the function that serves it.
    pub fn routes(&self) -> Vec<TemplateRoute> {
        let mut out = Vec::new();
        for function in self.resources_of_type("AWS::Serverless::Function") {
            let events = &self.root["Resources"][function.as_str()]["Properties"]["Events"];
            for (_, event) in events.as_mapping().into_iter().flatten() {
                if event["Type"].as_str() != Some("HttpApi") {
                    continue;
                }
                let p = &event["Properties"];
                if let (Ok(method), Ok(path)) = (str_of(p, "Method"), str_of(p, "Path")) {
                    let scopes = p["Auth"]["AuthorizationScopes"]
                        .as_sequence()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect();
                    out.push(TemplateRoute {
                        method: method.to_ascii_uppercase(),
                        path: path.to_owned(),
                        function: function.clone(),
                        scopes,
                    });
                }
            }
        }
        out
    }

    /// A function's policy statements on the table, its indexes and anything else.
    pub fn policy(&self, function: &str) -> crate::policy::Policy {
        use crate::policy::{Resource, Statement};
        let strings = |v: &Value| -> Vec<String> {
            match untag(v) {
                Value::Sequence(s) => s
                    .iter()
                    .filter_map(|x| untag(x).as_str().map(str::to_owned))
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            }
        };
        let resource = |v: &Value| -> Resource {
            let text = serde_yaml::to_string(v).unwrap_or_default();
            if let Some((_, rest)) = text.split_once("/index/") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                Resource::Index(name)
            } else if text.contains("InventoryTable.Arn") && !text.contains("StreamArn") {
                Resource::Table
            } else {
                Resource::Other
            }
        };
        let mut statements = Vec::new();
        let policies = &self.root["Resources"][function]["Properties"]["Policies"];
        for policy in policies.as_sequence().into_iter().flatten() {
            for s in policy["Statement"].as_sequence().into_iter().flatten() {
                let resources = match untag(&s["Resource"]) {
                    Value::Sequence(list) => list.iter().map(resource).collect(),
                    _ => vec![resource(&s["Resource"])],
                };
                let like = &s["Condition"]["ForAllValues:StringLike"];
                let patterns = |k: &str| (!like[k].is_null()).then(|| strings(&like[k]));
                statements.push(Statement {
                    actions: strings(&s["Action"]),
                    resources,
                    leading_keys: patterns("dynamodb:LeadingKeys"),
                    attributes: patterns("dynamodb:Attributes"),
                });
            }
        }
        crate::policy::Policy(statements)
    }

    /// The environment variable names a function declares (its own and the globals).
    pub fn environment(&self, function: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for vars in [
            &self.root["Globals"]["Function"]["Environment"]["Variables"],
            &self.root["Resources"][function]["Properties"]["Environment"]["Variables"],
        ] {
            for (k, _) in vars.as_mapping().into_iter().flatten() {
                if let Some(k) = k.as_str() {
                    names.push(k.to_owned());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// The DynamoDB stream event source of a function: batch size, retries, filter patterns.
    pub fn stream_mapping(&self, function: &str) -> anyhow::Result<crate::streams::MappingConfig> {
        let events = &self.resource(function)?["Properties"]["Events"];
        let (_, event) = events
            .as_mapping()
            .into_iter()
            .flatten()
            .find(|(_, e)| e["Type"].as_str() == Some("DynamoDB"))
            .with_context(|| format!("{function} has no DynamoDB stream event"))?;
        let p = &event["Properties"];
        let filters = p["FilterCriteria"]["Filters"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|f| {
                let pattern = str_of(f, "Pattern")?;
                serde_json::from_str(pattern).context("filter pattern is not JSON")
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(crate::streams::MappingConfig {
            batch_size: p["BatchSize"].as_u64().unwrap_or(100) as usize,
            max_retries: p["MaximumRetryAttempts"].as_u64().unwrap_or(0) as u32,
            filters,
        })
    }

    /// Creates a DynamoDB table as the template defines `logical_id`, under `name`.
    pub async fn create_table(
        &self,
        client: &Client,
        logical_id: &str,
        name: &str,
    ) -> anyhow::Result<()> {
        let props = &self.resource(logical_id)?["Properties"];
        let key_schema = |v: &Value| -> anyhow::Result<Vec<KeySchemaElement>> {
            v.as_sequence()
                .context("KeySchema")?
                .iter()
                .map(|k| {
                    Ok(KeySchemaElement::builder()
                        .attribute_name(str_of(k, "AttributeName")?)
                        .key_type(KeyType::from(str_of(k, "KeyType")?))
                        .build()?)
                })
                .collect()
        };
        let mut create = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(&props["KeySchema"])?));
        for a in props["AttributeDefinitions"]
            .as_sequence()
            .context("AttributeDefinitions")?
        {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(str_of(a, "AttributeName")?)
                    .attribute_type(ScalarAttributeType::from(str_of(a, "AttributeType")?))
                    .build()?,
            );
        }
        for g in props["GlobalSecondaryIndexes"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            create = create.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(str_of(g, "IndexName")?)
                    .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(str_of(
                                &g["Projection"],
                                "ProjectionType",
                            )?))
                            .set_non_key_attributes(
                                g["Projection"]["NonKeyAttributes"]
                                    .as_sequence()
                                    .map(|names| {
                                        names
                                            .iter()
                                            .filter_map(|n| n.as_str().map(str::to_owned))
                                            .collect()
                                    }),
                            )
                            .build(),
                    )
                    .build()?,
            );
        }
        if let Ok(view) = str_of(&props["StreamSpecification"], "StreamViewType") {
            create = create.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view))
                    .build()?,
            );
        }
        create.send().await.context("CreateTable")?;
        if let Ok(attr) = str_of(&props["TimeToLiveSpecification"], "AttributeName") {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attr)
                        .enabled(true)
                        .build()?,
                )
                .send()
                .await
                .context("UpdateTimeToLive")?;
        }
        Ok(())
    }
}

/// A function's SQS event source as the template defines it, with its queue's redrive policy.
#[derive(Debug, Clone)]
pub struct QueueMapping {
    /// The queue's logical id.
    pub queue: String,
    pub batch_size: i32,
    /// Invocations at once at most (`ScalingConfig.MaximumConcurrency`).
    pub max_concurrency: usize,
    /// The dead-letter queue's logical id, and the receives before a message moves there.
    pub dead_letter: String,
    pub max_receives: u32,
    pub visibility_timeout: i32,
}

impl Template {
    /// The SQS event source of `function` and its queue's definition.
    pub fn queue_mapping(&self, function: &str) -> anyhow::Result<QueueMapping> {
        let events = &self.resource(function)?["Properties"]["Events"];
        let (_, event) = events
            .as_mapping()
            .into_iter()
            .flatten()
            .find(|(_, e)| e["Type"].as_str() == Some("SQS"))
            .with_context(|| format!("{function} has no SQS event"))?;
        let p = &event["Properties"];
        let logical = |v: &Value| -> anyhow::Result<String> {
            let text = untag(v).as_str().context("template: not a !GetAtt")?;
            Ok(text.split('.').next().unwrap_or(text).to_owned())
        };
        let queue = logical(&p["Queue"])?;
        let q = &self.resource(&queue)?["Properties"];
        let redrive = &q["RedrivePolicy"];
        Ok(QueueMapping {
            batch_size: p["BatchSize"].as_i64().unwrap_or(10) as i32,
            max_concurrency: p["ScalingConfig"]["MaximumConcurrency"]
                .as_u64()
                .unwrap_or(1000) as usize,
            dead_letter: logical(&redrive["deadLetterTargetArn"])?,
            max_receives: redrive["maxReceiveCount"]
                .as_u64()
                .context("template: the queue has no maxReceiveCount")?
                as u32,
            visibility_timeout: q["VisibilityTimeout"].as_i64().unwrap_or(30) as i32,
            queue,
        })
    }
}
