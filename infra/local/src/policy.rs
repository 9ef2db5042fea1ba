//! A function's DynamoDB policy from `template.yaml`, applied to its calls as IAM would apply it:
//! by action, by resource (the table or one of its indexes), by partition key
//! (`dynamodb:LeadingKeys`) and by attribute (`dynamodb:Attributes`). DynamoDB Local enforces no
//! IAM; the function binaries' tests send every call of a function through a proxy that refuses
//! what its policy does not allow, so a policy too narrow for the code fails a test, and a grant
//! the code needs is in the template.

use serde_json::Value;

/// What one statement is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Table,
    Index(String),
    /// The stream, a queue, a topic: not the table's items.
    Other,
}

/// One `Allow` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<Resource>,
    /// `ForAllValues:StringLike` `dynamodb:LeadingKeys` patterns, when the statement has them.
    pub leading_keys: Option<Vec<String>>,
    /// `ForAllValues:StringLike` `dynamodb:Attributes` patterns, when the statement has them.
    pub attributes: Option<Vec<String>>,
}

/// A function's statements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy(pub Vec<Statement>);

/// What one call asks IAM for: an action on a resource, for an item of a partition key (table
/// requests) with these attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub action: String,
    pub resource: Resource,
    pub key: Option<String>,
    pub attributes: Vec<String>,
}

/// Whether `key` matches an IAM `StringLike` pattern (`*` any run of characters, `?` one).
pub fn string_like(pattern: &str, key: &str) -> bool {
    fn go(p: &[char], k: &[char]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let (p, k): (Vec<char>, Vec<char>) = (pattern.chars().collect(), key.chars().collect());
    go(&p, &k)
}

/// The partition keys (`pk`) a DynamoDB request reaches on the table itself, as IAM's
/// `dynamodb:LeadingKeys` sees them; index queries, scans and stream calls name none.
pub fn leading_keys(op: &str, body: &Value) -> Vec<String> {
    let pk = |item: &Value| item["pk"]["S"].as_str().map(str::to_owned);
    let mut out = Vec::new();
    match op {
        "GetItem" | "UpdateItem" | "DeleteItem" => out.extend(pk(&body["Key"])),
        "PutItem" => out.extend(pk(&body["Item"])),
        "TransactWriteItems" | "TransactGetItems" => {
            for t in body["TransactItems"].as_array().into_iter().flatten() {
                for (kind, field) in [
                    ("Put", "Item"),
                    ("Update", "Key"),
                    ("Delete", "Key"),
                    ("ConditionCheck", "Key"),
                    ("Get", "Key"),
                ] {
                    out.extend(pk(&t[kind][field]));
                }
            }
        }
        "BatchGetItem" => {
            for table in body["RequestItems"].as_object().into_iter().flatten() {
                for key in table.1["Keys"].as_array().into_iter().flatten() {
                    out.extend(pk(key));
                }
            }
        }
        "BatchWriteItem" => {
            for table in body["RequestItems"].as_object().into_iter().flatten() {
                for r in table.1.as_array().into_iter().flatten() {
                    out.extend(pk(&r["PutRequest"]["Item"]));
                    out.extend(pk(&r["DeleteRequest"]["Key"]));
                }
            }
        }
        "Query" if body.get("IndexName").is_none() => {
            // `pk = :v` (or `#n = :v` with #n naming pk) in the key condition.
            let condition = body["KeyConditionExpression"].as_str().unwrap_or("");
            let names = body["ExpressionAttributeNames"].as_object();
            for part in condition.split(" AND ") {
                let Some((left, right)) = part.split_once('=') else {
                    continue;
                };
                let left = left.trim();
                let name = names
                    .and_then(|n| n.get(left))
                    .and_then(Value::as_str)
                    .unwrap_or(left);
                if name == "pk" {
                    out.extend(
                        body["ExpressionAttributeValues"][right.trim()]["S"]
                            .as_str()
                            .map(str::to_owned),
                    );
                }
            }
        }
        _ => {}
    }
    out
}

/// Words of an expression that are not attribute names.
const KEYWORDS: &[&str] = &[
    "SET",
    "REMOVE",
    "ADD",
    "DELETE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
    "if_not_exists",
    "list_append",
];

/// The attribute names a request touches: its key, its item, its aliases (`#x`) and the names an
/// expression spells out.
fn attributes(body: &Value, item: &Value) -> Vec<String> {
    let mut out: Vec<String> = item
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for v in body["ExpressionAttributeNames"]
        .as_object()
        .into_iter()
        .flatten()
    {
        out.extend(v.1.as_str().map(str::to_owned));
    }
    for field in [
        "UpdateExpression",
        "ConditionExpression",
        "ProjectionExpression",
        "KeyConditionExpression",
        "FilterExpression",
    ] {
        let text = body[field].as_str().unwrap_or("");
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || "_#:".contains(c))) {
            let bare = !word.is_empty()
                && !word.starts_with(['#', ':'])
                && !word.starts_with(|c: char| c.is_ascii_digit())
                && !KEYWORDS.contains(&word);
            if bare {
                out.push(word.to_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What a DynamoDB call of `op` with `body` asks IAM for, one access per item it reaches.
pub fn accesses(op: &str, body: &Value) -> Vec<Access> {
    let pk = |item: &Value| item["pk"]["S"].as_str().map(str::to_owned);
    let one = |action: &str, item: &Value, body: &Value| Access {
        action: format!("dynamodb:{action}"),
        resource: Resource::Table,
        key: pk(item),
        attributes: attributes(body, item),
    };
    match op {
        "GetItem" | "UpdateItem" | "DeleteItem" | "ConditionCheckItem" => {
            vec![one(op, &body["Key"], body)]
        }
        "PutItem" => vec![one(op, &body["Item"], body)],
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| {
                [
                    ("Put", "PutItem", "Item"),
                    ("Update", "UpdateItem", "Key"),
                    ("Delete", "DeleteItem", "Key"),
                    ("ConditionCheck", "ConditionCheckItem", "Key"),
                    ("Get", "GetItem", "Key"),
                ]
                .into_iter()
                .filter(|(kind, _, _)| t.get(*kind).is_some())
                .map(|(kind, action, field)| one(action, &t[kind][field], &t[kind]))
                .collect::<Vec<_>>()
            })
            .collect(),
        "BatchGetItem" | "BatchWriteItem" => leading_keys(op, body)
            .into_iter()
            .map(|key| Access {
                action: format!("dynamodb:{op}"),
                resource: Resource::Table,
                key: Some(key),
                attributes: Vec::new(),
            })
            .collect(),
        "Query" | "Scan" => {
            let index = body["IndexName"].as_str().map(str::to_owned);
            let keys = leading_keys(op, body);
            vec![Access {
                action: format!("dynamodb:{op}"),
                resource: index.map_or(Resource::Table, Resource::Index),
                key: keys.into_iter().next(),
                attributes: Vec::new(),
            }]
        }
        // Describe calls and the like touch no item.
        _ => Vec::new(),
    }
}

impl Statement {
    fn allows(&self, a: &Access) -> bool {
        let patterns_hold = |patterns: &Option<Vec<String>>, values: &[String]| match patterns {
            None => true,
            Some(p) => values.iter().all(|v| p.iter().any(|p| string_like(p, v))),
        };
        let key = a.key.iter().cloned().collect::<Vec<_>>();
        self.actions.contains(&a.action)
            && self.resources.contains(&a.resource)
            // A statement limited to key prefixes allows no request whose key it cannot see.
            && (self.leading_keys.is_none() || a.key.is_some())
            && patterns_hold(&self.leading_keys, &key)
            && patterns_hold(&self.attributes, &a.attributes)
    }
}

impl Policy {
    /// The first access of a call that no statement allows, as words.
    pub fn refuses(&self, op: &str, body: &Value) -> Option<String> {
        accesses(op, body)
            .into_iter()
            .find(|a| !self.0.iter().any(|s| s.allows(a)))
            .map(|a| {
                format!(
                    "{} on {:?} for partition key {} with attributes {:?}",
                    a.action,
                    a.resource,
                    a.key.as_deref().unwrap_or("(none)"),
                    a.attributes
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leading_keys_are_read_from_every_item_request_like_iam() {
        assert!(string_like("SKU#*", "SKU#A") && string_like("CLOCK#SWEEP", "CLOCK#SWEEP"));
        assert!(!string_like("SKU#*", "LEDGER#A") && !string_like("CLOCK#SWEEP", "CLOCK#SWEEPX"));
        let t = json!({ "TransactItems": [
            { "Update": { "Key": { "pk": { "S": "SKU#A" } } } },
            { "Put": { "Item": { "pk": { "S": "MOV#x" } } } },
            { "ConditionCheck": { "Key": { "pk": { "S": "LOC#W" } } } } ] });
        assert_eq!(
            leading_keys("TransactWriteItems", &t),
            vec!["SKU#A", "MOV#x", "LOC#W"]
        );
        let q = json!({ "KeyConditionExpression": "#p = :p AND begins_with(sk, :s)",
                        "ExpressionAttributeNames": { "#p": "pk" },
                        "ExpressionAttributeValues": { ":p": { "S": "LEDGER#A" }, ":s": { "S": "x" } } });
        assert_eq!(leading_keys("Query", &q), vec!["LEDGER#A"]);
        let on_index = json!({ "IndexName": "gsi1", "KeyConditionExpression": "gsi1pk = :p" });
        assert!(leading_keys("Query", &on_index).is_empty());
        let batch = json!({ "RequestItems": { "t": { "Keys": [{ "pk": { "S": "SKU#B" } }] } } });
        assert_eq!(leading_keys("BatchGetItem", &batch), vec!["SKU#B"]);
    }

    fn policy() -> Policy {
        Policy(vec![
            Statement {
                actions: vec!["dynamodb:UpdateItem".into()],
                resources: vec![Resource::Table],
                leading_keys: Some(vec!["SKU#*".into()]),
                attributes: Some(vec!["pk".into(), "sk".into(), "reorder_point".into()]),
            },
            Statement {
                actions: vec!["dynamodb:Query".into()],
                resources: vec![Resource::Index("levels".into())],
                leading_keys: None,
                attributes: None,
            },
        ])
    }

    #[test]
    fn calls_are_allowed_by_action_resource_key_and_attribute_as_iam_would() {
        let p = policy();
        let rop = json!({ "Key": { "pk": { "S": "SKU#A" }, "sk": { "S": "LOC#W" } },
                          "UpdateExpression": "SET #r = :r", "ConditionExpression": "attribute_exists(pk)",
                          "ExpressionAttributeNames": { "#r": "reorder_point" } });
        assert_eq!(p.refuses("UpdateItem", &rop), None);
        // The same action on another attribute of the level, or on another partition.
        let stock = json!({ "Key": { "pk": { "S": "SKU#A" }, "sk": { "S": "LOC#W" } },
                            "UpdateExpression": "SET on_hand = :n" });
        assert!(p.refuses("UpdateItem", &stock).is_some());
        let rule = json!({ "Key": { "pk": { "S": "RULE#A" }, "sk": { "S": "META" } },
                           "UpdateExpression": "SET #r = :r", "ExpressionAttributeNames": { "#r": "reorder_point" } });
        assert!(p.refuses("UpdateItem", &rule).is_some());
        // Another action, another index.
        assert!(p
            .refuses("PutItem", &json!({ "Item": { "pk": { "S": "SKU#A" } } }))
            .is_some());
        assert_eq!(p.refuses("Query", &json!({ "IndexName": "levels" })), None);
        assert!(p
            .refuses("Query", &json!({ "IndexName": "gsi1" }))
            .is_some());
        // A transaction is each of its items' own action.
        let t = json!({ "TransactItems": [{ "Update": rop }] });
        assert_eq!(p.refuses("TransactWriteItems", &t), None);
    }
}
