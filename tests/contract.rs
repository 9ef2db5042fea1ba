//! The documents that describe the system agree with the code: the OpenAPI document and
//! template.yaml list exactly the routes the handlers serve, each function declares exactly the
//! environment it reads, and its IAM policy grants only what it uses.

use std::collections::BTreeSet;

use local_stack::{project_root, template::Template};
use serde_yaml::Value;
use shared::{
    api::{Function, ROUTES},
    config::{
        ALERT_CLOCK_ENV, EVALUATOR_ENV, RECONCILER_ENV, REPLENISHMENT_ENV, REPORTS_API_ENV,
        REPORT_WRITER_ENV, STOCK_API_ENV,
    },
};

fn template() -> Template {
    Template::load(&project_root().join("template.yaml")).unwrap()
}

fn code_routes() -> BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect()
}

fn openapi() -> Value {
    let text = std::fs::read_to_string(project_root().join("docs/openapi.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

#[test]
fn openapi_documents_exactly_the_routes_the_code_serves() {
    let doc = openapi();
    assert_eq!(doc["openapi"].as_str(), Some("3.1.0"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, op) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if ["get", "put", "post", "delete", "patch"].contains(&method) {
                let route = (
                    method.to_ascii_uppercase(),
                    path.as_str().unwrap().to_owned(),
                );
                // Each operation names the scope the code enforces.
                let scopes = ROUTES
                    .iter()
                    .find(|r| r.method == route.0 && r.path == route.1)
                    .map(|r| r.scopes())
                    .unwrap_or_default();
                for scope in scopes {
                    let description = op["description"].as_str().unwrap_or("");
                    assert!(
                        description.contains(&format!("`{scope}`")),
                        "{route:?} should document scope {scope}"
                    );
                }
                documented.insert(route);
            }
        }
    }
    assert_eq!(documented, code_routes());
}

/// Each route goes to the function that serves it, and API Gateway checks the same scope as the
/// code (`AuthorizationScopes`: the edge refuses before a function runs; the code checks again).
#[test]
fn template_routes_each_route_to_the_function_that_serves_it_behind_its_scope() {
    type Row = (String, String, String, Vec<String>);
    let deployed: BTreeSet<Row> = template()
        .routes()
        .into_iter()
        .map(|r| (r.method, r.path, r.function, r.scopes))
        .collect();
    let code: BTreeSet<Row> = ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.logical_id().to_owned(),
                r.scopes().into_iter().map(str::to_owned).collect(),
            )
        })
        .collect();
    assert_eq!(deployed, code);
}

#[test]
fn every_function_declares_exactly_the_environment_it_reads() {
    let t = template();
    // The log level and format come from Lambda's LoggingConfig (AWS_LAMBDA_LOG_LEVEL and
    // AWS_LAMBDA_LOG_FORMAT, which Lambda sets itself), not from a variable of ours.
    let with_log = |vars: &[&str]| {
        let mut v: Vec<String> = vars.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    for f in [
        Function::StockCommand,
        Function::StockQuery,
        Function::AlertsApi,
    ] {
        assert_eq!(
            t.environment(f.logical_id()),
            with_log(STOCK_API_ENV),
            "{}",
            f.logical_id()
        );
    }
    assert_eq!(
        t.environment("AlertEvaluatorFunction"),
        with_log(EVALUATOR_ENV)
    );
    assert_eq!(
        t.environment("AlertClockFunction"),
        with_log(ALERT_CLOCK_ENV)
    );
    assert_eq!(
        t.environment("ReportWriterFunction"),
        with_log(REPORT_WRITER_ENV)
    );
    assert_eq!(
        t.environment("ReportsApiFunction"),
        with_log(REPORTS_API_ENV)
    );
    // The stream projector reads what the stock API functions read.
    assert_eq!(
        t.environment("StreamProjectorFunction"),
        with_log(STOCK_API_ENV)
    );
    // So does the reservation-expiry sweep.
    assert_eq!(
        t.environment("ReservationExpiryFunction"),
        with_log(STOCK_API_ENV)
    );
    // The replenishment run reads what the report writer reads (the table and the bucket), and
    // the queue of its tasks.
    assert_eq!(
        t.environment("ReplenishmentFunction"),
        with_log(REPLENISHMENT_ENV)
    );
    // The reconciler reads the table alone, as the expiry sweep does.
    assert_eq!(
        t.environment("ReconcilerFunction"),
        with_log(RECONCILER_ENV)
    );
    // The data upgrade reads and writes the table alone.
    assert_eq!(t.environment("UpgradeFunction"), with_log(STOCK_API_ENV));
    assert_eq!(
        t.resources_of_type("AWS::Serverless::Function").len(),
        12,
        "a new function needs its own parity check here"
    );
}

fn policy_actions(t: &Template, function: &str) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let policies = &t.resource(function).unwrap()["Properties"]["Policies"];
    for policy in policies.as_sequence().unwrap() {
        for statement in policy["Statement"].as_sequence().unwrap() {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"));
            for a in statement["Action"].as_sequence().unwrap() {
                actions.insert(a.as_str().unwrap().to_owned());
            }
            // No wildcard resources.
            let resources = serde_yaml::to_string(&statement["Resource"]).unwrap();
            assert!(
                !resources.contains("'*'") && !resources.contains("\"*\""),
                "{resources}"
            );
        }
    }
    actions
}

fn set(actions: &[&str]) -> BTreeSet<String> {
    actions.iter().map(|a| a.to_string()).collect()
}

/// The actions of every group.
fn union(groups: &[&[&str]]) -> BTreeSet<String> {
    groups.iter().flat_map(|g| set(g)).collect()
}

#[test]
fn iam_policies_grant_only_what_each_function_uses() {
    let t = template();
    // Writes are conditional Update/Put (and ConditionCheck in transactions); GetItem only
    // explains a refusal. No Scan or Delete; a Query only for a count (the level's ledger since
    // the count, its holds), never on the sale path.
    // (BatchWriteItem stores a stocktake upload's lines, under IMPORT# alone.)
    let counts = ["dynamodb:BatchGetItem", "dynamodb:Query"];
    assert_eq!(
        policy_actions(&t, "StockCommandFunction"),
        union(&[
            &[
                "dynamodb:BatchWriteItem",
                "dynamodb:ConditionCheckItem",
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem"
            ],
            &counts
        ])
    );
    assert_eq!(
        policy_actions(&t, "StockQueryFunction"),
        set(&[
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:Query"
        ])
    );
    assert_eq!(
        policy_actions(&t, "AlertsApiFunction"),
        set(&[
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem"
        ])
    );
    // A reader of the table's stream, and the queue for the records it never gets through.
    let stream_reader = [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "sqs:SendMessage",
    ];
    // A sender of notices: SNS, SES, and the topic's key.
    let notifier = [
        "kms:Decrypt",
        "kms:GenerateDataKey*",
        "ses:SendEmail",
        "sns:Publish",
    ];
    // Reading and moving rules, episodes and levels.
    let episodes = [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ];
    // The evaluator reads the stream and the rules, moves episodes, notifies.
    assert_eq!(
        policy_actions(&t, "AlertEvaluatorFunction"),
        union(&[&stream_reader, &episodes, &notifier])
    );
    // The clock reads rules, episodes and levels (the sweep: the level index, then the levels in
    // batches), moves episodes, notifies: no Scan, no Delete.
    assert_eq!(
        policy_actions(&t, "AlertClockFunction"),
        union(&[&["dynamodb:BatchGetItem"], &episodes, &notifier])
    );
    // The stream projector: ledger entries, listing and replenishment-list entries, adjustments
    // as the stock API makes them (imports), its import items, the stream, the queue for records
    // that never succeed. No SNS, no SES: it never waits on them.
    let projector = ["dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem"];
    assert_eq!(
        policy_actions(&t, "StreamProjectorFunction"),
        union(&[&stream_reader, &episodes, &projector, &counts])
    );
    // The data upgrade scans, reads its progress and listing entries, and writes what is
    // missing: no delete, no transaction, no batch write.
    assert_eq!(
        policy_actions(&t, "UpgradeFunction"),
        set(&[
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:UpdateItem"
        ])
    );
    // The reconciler reads levels, checkpoints and ledgers and puts checkpoints (and keeps its
    // runs' records and queues their tasks): nothing else.
    assert_eq!(
        policy_actions(&t, "ReconcilerFunction"),
        set(&[
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "sqs:SendMessage",
        ])
    );
    // The replenishment run reads levels, SKUs and forecasts, writes forecasts and reorder
    // points, the dataset, and its runs' records and tasks.
    assert_eq!(
        policy_actions(&t, "ReplenishmentFunction"),
        set(&[
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "s3:PutObject",
            "sqs:SendMessage",
        ])
    );
    assert_eq!(
        policy_actions(&t, "ReportWriterFunction"),
        // Reports only: it reads levels, ledgers and alerts (no Scan) and writes the bucket
        // (staging, promotion by copy, clean-up); it keeps its runs' records and queues their
        // tasks; it alerts no one.
        set(&[
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:PutObject",
            "sqs:SendMessage",
        ])
    );
}

#[test]
fn the_reports_api_only_reads_the_bucket() {
    let t = template();
    assert_eq!(
        policy_actions(&t, "ReportsApiFunction"),
        set(&["s3:GetObject", "s3:ListBucket"])
    );
}

#[test]
fn the_reports_bucket_is_private_encrypted_and_expires_old_reports() {
    let t = template();
    let props = &t.resource("ReportsBucket").unwrap()["Properties"];
    let block = &props["PublicAccessBlockConfiguration"];
    for k in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[k].as_bool(), Some(true), "{k}");
    }
    assert!(!props["BucketEncryption"].is_null());
    assert!(
        props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]
            .as_u64()
            .is_some()
    );
}

#[test]
fn the_evaluator_hears_stock_levels_only_and_reports_partial_failures() {
    let t = template();
    let mapping = t.stream_mapping("AlertEvaluatorFunction").unwrap();
    assert_eq!(
        mapping.filters,
        vec![
            serde_json::json!({ "dynamodb": { "NewImage": { "entity": { "S": ["stock_level"] } } } })
        ]
    );
    let events = &t.resource("AlertEvaluatorFunction").unwrap()["Properties"]["Events"]
        ["StockChanges"]["Properties"];
    assert_eq!(
        events["FunctionResponseTypes"][0].as_str(),
        Some("ReportBatchItemFailures")
    );
    assert_eq!(events["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert!(events["MaximumRetryAttempts"].as_u64().is_some());
    assert!(!events["DestinationConfig"]["OnFailure"]["Destination"].is_null());
}

#[test]
fn table_has_streams_point_in_time_recovery_and_ttl() {
    let t = template();
    let props = &t.resource("InventoryTable").unwrap()["Properties"];
    assert_eq!(
        props["StreamSpecification"]["StreamViewType"].as_str(),
        Some("NEW_AND_OLD_IMAGES")
    );
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );
    assert_eq!(
        props["TimeToLiveSpecification"]["Enabled"].as_bool(),
        Some(true)
    );
}

/// The admin console validates rule forms in the browser (console/lib/rules.js) before sending;
/// these shared cases hold it to the API's own validation (the console's copy of this check is in
/// tests/console/unit.test.mjs, on the same file).
#[test]
fn rule_validation_cases_match_the_api() {
    let text = std::fs::read_to_string(project_root().join("tests/fixtures/rule-validation.json"))
        .unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let body: shared::alerts::rules::RuleBody =
            serde_json::from_value(case["body"].clone()).unwrap();
        let mut fields: Vec<String> = match body.validate() {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.field).collect(),
        };
        fields.sort();
        let expected: Vec<String> = serde_json::from_value(case["errors"].clone()).unwrap();
        assert_eq!(fields, expected, "{}", case["why"]);
    }
}

/// Logs an on-call person can use: JSON at a level the stack sets, kept for a set time (not
/// forever), one log group per function, and an access log line per API request.
#[test]
fn every_function_logs_json_to_a_group_with_a_retention_and_the_api_logs_access() {
    let t = template();
    let text = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    let root: Value = serde_yaml::from_str(&text).unwrap();
    let logging = &root["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"].as_str(), Some("JSON"));
    assert!(serde_yaml::to_string(&logging["ApplicationLogLevel"])
        .unwrap()
        .contains("LogLevel"));
    let groups = t.resources_of_type("AWS::Logs::LogGroup");
    for function in t.resources_of_type("AWS::Serverless::Function") {
        let named = groups.iter().any(|g| {
            let props = &root["Resources"][g.as_str()]["Properties"];
            serde_yaml::to_string(&props["LogGroupName"])
                .unwrap()
                .contains(&format!("/aws/lambda/${{{function}}}"))
                && serde_yaml::to_string(&props["RetentionInDays"])
                    .unwrap()
                    .contains("LogRetentionDays")
        });
        assert!(named, "{function} needs a log group with a retention");
    }
    let access = &root["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"];
    let format = access["Format"].as_str().unwrap();
    for field in ["$context.requestId", "$context.status", "$context.routeKey"] {
        assert!(format.contains(field), "{field}");
    }
}

fn raw_template() -> Value {
    let text = std::fs::read_to_string(project_root().join("template.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn yaml_text(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap()
}

/// What on-call is told, and where: every alarm an operator would ask for goes to the ops topic,
/// and the dashboard is a valid CloudWatch dashboard body.
#[test]
fn alarms_reach_the_ops_topic_and_the_dashboard_parses() {
    let root = raw_template();
    let resources = root["Resources"].as_mapping().unwrap();
    let alarms: Vec<(&str, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(k, r)| (k.as_str().unwrap(), r))
        .collect();
    let names: BTreeSet<&str> = alarms.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "AlertFailuresQueued",
            "AlertStreamLagging",
            "ApiServerErrors",
            "BatchRunLate",
            "BatchTasksFailed",
            "DailyReportMissing",
            "FunctionErrors",
            "FunctionThrottles",
            "HoldExpiriesFailing",
            "LedgerDrift",
            "ProjectionsFailed",
            "ProjectionsLagging",
            "ScheduledFunctionErrors",
            "ScheduledFunctionThrottles",
        ])
    );
    // Alarms page the engineers (their own topic), never the ops topic whose SMS reach the shop
    // floor about stock.
    for (name, alarm) in &alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let text = yaml_text(&alarm["Properties"][actions]);
            assert!(text.contains("AlarmsTopic"), "{name} {actions}: {text}");
            assert!(!text.contains("OpsAlertsTopic"), "{name} {actions}: {text}");
        }
    }
    // The missing-report alarm watches the morning check, which runs at 01:00 UTC.
    let missing = &root["Resources"]["DailyReportMissing"]["Properties"];
    assert_eq!(missing["MetricName"].as_str(), Some("ReportMissing"));
    assert_eq!(missing["Period"].as_u64(), Some(300));
    let check = &root["Resources"]["ReportWriterFunction"]["Properties"]["Events"]["MorningCheck"]
        ["Properties"];
    assert_eq!(
        check["ScheduleExpression"].as_str(),
        Some("cron(0 1 * * ? *)")
    );
    assert_eq!(check["ScheduleExpressionTimezone"].as_str(), Some("UTC"));
    assert_eq!(check["Input"].as_str(), Some(r#"{"check": true}"#));
    // The error and throttle alarms cover every function, each function in one alarm of a pair.
    let functions = template().resources_of_type("AWS::Serverless::Function");
    for pair in [
        ["FunctionErrors", "ScheduledFunctionErrors"],
        ["FunctionThrottles", "ScheduledFunctionThrottles"],
    ] {
        let texts = pair.map(|alarm| yaml_text(&root["Resources"][alarm]));
        for f in &functions {
            let watching = texts.iter().filter(|t| t.contains(f.as_str())).count();
            assert_eq!(watching, 1, "{pair:?} watch {f} {watching} times");
        }
    }
    // An alarm's metric math takes at most 10 metrics (a CloudWatch hard limit: more and the
    // deploy fails).
    let metrics_of = |alarm: &serde_yaml::Value| {
        alarm["Properties"]["Metrics"].as_sequence().map_or(0, |m| {
            m.iter().filter(|q| !q["MetricStat"].is_null()).count()
        })
    };
    for (name, alarm) in &alarms {
        let metrics = metrics_of(alarm);
        assert!(metrics <= 10, "{name} reads {metrics} metrics");
    }
    // The count sees them: the serving functions' alarms read one metric each of eight.
    assert_eq!(metrics_of(&root["Resources"]["FunctionErrors"]), 8);
    assert_eq!(metrics_of(&root["Resources"]["FunctionThrottles"]), 8);
    let body = root["Resources"]["OpsDashboard"]["Properties"]["DashboardBody"].clone();
    let body = yaml_text(&body);
    let body = body
        .trim_start_matches("!Sub")
        .trim()
        .trim_start_matches('|')
        .trim();
    // `${Name}` and `${Name.Attr}` are filled in by CloudFormation; anything is JSON-safe here.
    let mut filled = String::new();
    let mut rest = body;
    while let Some(i) = rest.find("${") {
        filled.push_str(&rest[..i]);
        let end = rest[i..].find('}').unwrap();
        filled.push('x');
        rest = &rest[i + end + 1..];
    }
    filled.push_str(rest);
    let dashboard: serde_json::Value = serde_json::from_str(&filled).expect("dashboard JSON");
    assert!(dashboard["widgets"].as_array().unwrap().len() >= 6);
}

/// Data at rest encrypted, in transit TLS only.
#[test]
fn topic_and_queue_are_encrypted_and_buckets_refuse_plain_http() {
    let root = raw_template();
    let r = &root["Resources"];
    for topic in ["OpsAlertsTopic", "AlarmsTopic"] {
        assert!(
            yaml_text(&r[topic]["Properties"]["KmsMasterKeyId"]).contains("OpsTopicKey"),
            "{topic}"
        );
    }
    assert_eq!(
        r["OpsTopicKey"]["Properties"]["EnableKeyRotation"].as_bool(),
        Some(true)
    );
    assert_eq!(
        r["AlertEvaluatorFailures"]["Properties"]["SqsManagedSseEnabled"].as_bool(),
        Some(true)
    );
    for (policy, bucket) in [
        ("ReportsBucketPolicy", "ReportsBucket"),
        ("ConsoleBucketPolicy", "ConsoleBucket"),
    ] {
        let statements = r[policy]["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .unwrap();
        let deny = statements
            .iter()
            .find(|s| s["Effect"].as_str() == Some("Deny"))
            .unwrap_or_else(|| panic!("{policy} has no deny"));
        assert_eq!(deny["Action"].as_str(), Some("s3:*"));
        assert_eq!(
            deny["Condition"]["Bool"]["aws:SecureTransport"].as_bool(),
            Some(false)
        );
        assert!(yaml_text(&deny["Resource"]).contains(bucket));
    }
    let csp = yaml_text(
        &r["ConsoleHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
            ["ContentSecurityPolicy"]["ContentSecurityPolicy"],
    );
    for directive in [
        "script-src 'self'",
        "frame-ancestors 'none'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{directive}");
    }
}

/// Least privilege by key: every statement that reaches items of the table (not an index, the
/// stream or a Scan) is limited to the partition-key prefixes of what that function owns, so the
/// alerts API cannot touch stock, ledger or order items, and the stock API cannot touch alerts.
#[test]
fn item_access_is_limited_to_the_key_prefixes_each_function_owns() {
    let t = template();
    let prefixes = |function: &str| -> BTreeSet<String> {
        let mut all = BTreeSet::new();
        let policies = &t.resource(function).unwrap()["Properties"]["Policies"];
        for policy in policies.as_sequence().unwrap() {
            for statement in policy["Statement"].as_sequence().unwrap() {
                let resource = serde_yaml::to_string(&statement["Resource"]).unwrap();
                let on_items = resource.contains("InventoryTable.Arn")
                    && !resource.contains("/index/")
                    && !resource.contains("StreamArn");
                let actions = serde_yaml::to_string(&statement["Action"]).unwrap();
                if !on_items || actions.contains("dynamodb:Scan") {
                    continue;
                }
                let keys =
                    &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                let keys = keys
                    .as_sequence()
                    .unwrap_or_else(|| panic!("{function}: {actions} without LeadingKeys"));
                all.extend(keys.iter().map(|k| k.as_str().unwrap().to_owned()));
            }
        }
        all
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        prefixes("StockCommandFunction"),
        set(&["IMPORT#*", "LEDGER#*", "LOC#*", "MOV#*", "ORDER#*", "RES#*", "SKU#*"])
    );
    assert_eq!(
        prefixes("StockQueryFunction"),
        set(&["FCST#*", "IMPORT#*", "LEDGER#*", "LOC#*", "RES#*", "SKU#*"])
    );
    // The expiry sweep changes levels and reservations, and reads nothing else by key.
    assert_eq!(
        prefixes("ReservationExpiryFunction"),
        set(&["LOC#*", "RES#*", "SKU#*"])
    );
    assert_eq!(
        prefixes("StreamProjectorFunction"),
        set(&["FCST#*", "IMPORT#*", "LEDGER#*", "LOC#*", "MOV#*", "RES#*", "SKU#*", "STK#*"])
    );
    assert_eq!(
        prefixes("AlertsApiFunction"),
        set(&["ALERT#*", "RULE#*", "SILENCE#*", "TRACK#*"])
    );
    // Alerting writes no projection: its own items, and it reads levels and rules.
    assert_eq!(
        prefixes("AlertEvaluatorFunction"),
        set(&["ALERT#*", "RULE#*", "SKU#*", "TRACK#*"])
    );
    assert_eq!(
        prefixes("AlertClockFunction"),
        set(&["ALERT#*", "CLOCK#SWEEP", "RULE#*", "SKU#*", "TRACK#*"])
    );
    // The report writer reads levels and ledgers, and keeps its runs' records, nothing else
    // by key.
    assert_eq!(
        prefixes("ReportWriterFunction"),
        set(&["LEDGER#*", "RUN#report#*", "SKU#*"])
    );
    // The replenishment run reads levels and SKUs and writes forecast items (and a level's
    // reorder point), nothing else by key.
    assert_eq!(
        prefixes("ReplenishmentFunction"),
        set(&["FCST#*", "RUN#replenishment#*", "SKU#*"])
    );
    // The reconciler reads levels and ledgers and writes its checkpoints and its runs' records
    // alone.
    assert_eq!(
        prefixes("ReconcilerFunction"),
        set(&["LEDGER#*", "RECON#*", "RUN#reconciliation#*", "SKU#*"])
    );
    // The data upgrade writes index keys of levels, SKUs, receipts and alerts, listing entries and its
    // own progress: nothing else by key (its Scan reads, it writes no stock).
    assert_eq!(
        prefixes("UpgradeFunction"),
        set(&["ALERT#*", "LEDGER#*", "SKU#*", "STK#*", "UPGRADE"])
    );
    // The prefixes are the schema's own (a key builder renamed fails here).
    use shared::schema::keys;
    for (built, prefix) in [
        (keys::sku("x"), "SKU#"),
        (keys::location("x"), "LOC#"),
        (keys::order("x"), "ORDER#"),
        (keys::movement("x"), "MOV#"),
        (keys::ledger("x"), "LEDGER#"),
        (keys::rule("x"), "RULE#"),
        (keys::alert("x"), "ALERT#"),
        (keys::tracker("x", "y", "z").0, "TRACK#"),
        (keys::silence("x"), "SILENCE#"),
        (keys::listing_entry("x", "y"), "STK#"),
        (keys::import("x"), "IMPORT#"),
        (keys::checkpoint("x"), "RECON#"),
        (keys::reservation("x"), "RES#"),
        (keys::forecast("x"), "FCST#"),
    ] {
        assert!(built.starts_with(prefix), "{built}");
    }
    assert_eq!(keys::CLOCK_SWEEP, "CLOCK#SWEEP");
}

/// Every problem type the code can answer with (`problem(<status>, "<slug>", …)` in
/// `shared/src/api/problem.rs`).
fn code_problem_types() -> BTreeSet<String> {
    let text = std::fs::read_to_string(project_root().join("shared/src/api/problem.rs")).unwrap();
    let mut out = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("problem(") {
        rest = &rest[at + "problem(".len()..];
        // The status argument, then the slug literal.
        let Some(comma) = rest.find(',') else { break };
        let after = rest[comma + 1..].trim_start();
        if let Some(lit) = after.strip_prefix('"') {
            if let Some(end) = lit.find('"') {
                out.insert(lit[..end].to_owned());
            }
        }
    }
    out
}

#[test]
fn openapi_and_the_api_docs_list_exactly_the_problem_types_the_code_answers_with() {
    let code = code_problem_types();
    assert!(code.len() > 20, "{code:?}");
    let doc = openapi();
    let listed: BTreeSet<String> = doc["components"]["schemas"]["Problem"]["properties"]["type"]
        ["enum"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap()
                .trim_start_matches("/problems/")
                .to_owned()
        })
        .collect();
    assert_eq!(listed, code, "OpenAPI's Problem.type against the code");
    // The problem types are documented in the API reference, docs/api.md (its "Errors" table).
    let api_doc = std::fs::read_to_string(project_root().join("docs/api.md")).unwrap();
    let missing: Vec<&String> = code
        .iter()
        .filter(|slug| {
            !api_doc.contains(&format!("`{slug}`"))
                && !api_doc.contains(&format!("/problems/{slug}"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "problem types docs/api.md does not name: {missing:?}"
    );
}

/// The alerts-by-day index projects exactly what its reader (the daily report) decodes: no rule,
/// SKU or delivery attribute reaches it.
#[test]
fn the_alerts_by_day_index_projects_only_what_the_report_reads() {
    let root = raw_template();
    let indexes = root["Resources"]["InventoryTable"]["Properties"]["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap();
    let index = indexes
        .iter()
        .find(|i| i["IndexName"].as_str() == Some(shared::schema::keys::ALERT_DAY_INDEX))
        .expect("the alert_days index");
    assert_eq!(
        index["Projection"]["ProjectionType"].as_str(),
        Some("INCLUDE")
    );
    let projected: Vec<&str> = index["Projection"]["NonKeyAttributes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert_eq!(projected, shared::schema::ALERT_DAY_PROJECTION);
    for private in [
        "observation",
        "deliveries",
        "body",
        "unit_cost",
        "supply",
        "history",
    ] {
        assert!(!projected.contains(&private), "{private}");
    }
}
