//! Bulk stocktake import: a CSV of counts (sku, location, counted, optional expected and reason)
//! uploaded through `POST /v1/stocktakes` and applied asynchronously, one adjustment per line.
//!
//! - **Upload** (the API): the file's structure is checked at once (size, header, columns, line
//!   count); its lines are stored in chunks (`IMPORT#<id>` / `LINES#<hash>#<n>`), then the import
//!   item (`IMPORT#<id>` / `META`, status `queued`) is written last, under the condition that it
//!   is new. The import id comes from the caller and its Idempotency-Key, so the same upload again
//!   is the same import and changes nothing twice; the same key with another file is refused.
//! - **Apply** (the stream projector, started by the import item's stream record):
//!   each line becomes a stocktake adjustment through the same movement path as
//!   `POST /v1/adjustments`, under an idempotency key made of the import id and the line number,
//!   so a run that is cut off and started again applies nothing twice. Lines of one level are
//!   applied in file order, levels side by side. A line that fails (unknown SKU or location, a
//!   stale `expected`, a bad number, text that is not UTF-8) is recorded with its line number and
//!   problem; the others go on. Progress is written to the import item as it runs.
//! - **Result**: `GET /v1/stocktakes/{id}` (status, counts, first failures) and
//!   `GET /v1/stocktakes/{id}/result` (a CSV with one row per line).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::{types::AttributeValue, Client};
use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    domain::{FieldError, IdempotencyKey},
    movements::{self, Actor, AdjustmentBody, Channel, RecordError},
    schema::{entity, keys, Item},
    store::{MovementError, Store, StoreError},
};

/// Why a line was refused, in the terms of the movement it would have made.
#[derive(Debug)]
pub enum LineRefusal {
    /// The line's fields (each error names its field).
    Validation(Vec<FieldError>),
    /// The line's key was used before for another request (an adjustment sent by hand under it).
    KeyReused,
    /// The store refused the count (an unknown SKU or location, a stale `expected`, ...).
    Movement(MovementError),
}

/// A refused line as its problem `type` and `detail`: the HTTP layer's problem catalogue, handed
/// in by the wiring so that the import speaks of refusals as the API does.
pub type Describe = fn(LineRefusal) -> (String, String);

/// The largest file taken, and the most lines.
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_IMPORT_LINES: usize = 20_000;
/// Lines stored per chunk item, and failures per failure item.
const CHUNK: usize = 500;
/// Levels applied side by side.
const AT_ONCE: usize = 16;
/// Progress is written every this many lines.
const PROGRESS_EVERY: usize = 250;
/// Import items expire (TTL) after 30 days.
const KEEP_SECONDS: i64 = 30 * 86_400;

/// The longest cell kept (a reason is at most 256 characters): a longer one makes its line
/// unreadable, so a chunk of lines stays far below DynamoDB's 400 KB item limit.
const MAX_CELL_BYTES: usize = 1024;
/// An import left `running` this long (past Lambda's 15 minutes) has stopped: the same upload
/// again starts it once more.
const STALLED_SECONDS: i64 = 20 * 60;

const REQUIRED: &[&str] = &["sku", "location", "counted"];
const OPTIONAL: &[&str] = &["expected", "reason"];

/// One line of the file as read: its line number in the file (the header is line 1) and its
/// cells, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    #[serde(rename = "n")]
    pub number: u64,
    #[serde(rename = "s")]
    pub sku: String,
    #[serde(rename = "l")]
    pub location: String,
    #[serde(rename = "c")]
    pub counted: String,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set when the line could not be read at all (not UTF-8, too few cells).
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// Why a file is refused as a whole.
pub fn file_error(message: impl Into<String>) -> FieldError {
    FieldError::new("file", message)
}

/// Reads a CSV file into lines: a header naming `sku`, `location`, `counted` and optionally
/// `expected` and `reason` (any case, any order; a UTF-8 byte order mark is skipped), then up to
/// [`MAX_IMPORT_LINES`] lines. A file whose header is wrong is refused whole; a line that cannot
/// be read is kept, marked, and reported in the result with the others.
pub fn parse(bytes: &[u8]) -> Result<Vec<Line>, FieldError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(file_error(format!("the header cannot be read: {e}"))),
        None => return Err(file_error("the file is empty: it needs a header and lines")),
    };
    let mut columns: HashMap<String, usize> = HashMap::new();
    let mut unknown = Vec::new();
    for (i, cell) in header.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(cell) else {
            return Err(file_error(
                "the header is not UTF-8 text: save the file as CSV UTF-8",
            ));
        };
        let name = name.trim().to_ascii_lowercase();
        if !REQUIRED.contains(&name.as_str()) && !OPTIONAL.contains(&name.as_str()) {
            unknown.push(name);
            continue;
        }
        if columns.insert(name.clone(), i).is_some() {
            return Err(file_error(format!("the column {name} appears twice")));
        }
    }
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|c| !columns.contains_key(*c))
        .collect();
    if !missing.is_empty() || !unknown.is_empty() {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("missing columns: {}", missing.join(", ")));
        }
        if !unknown.is_empty() {
            why.push(format!("unknown columns: {}", unknown.join(", ")));
        }
        return Err(file_error(format!(
            "{}; the header must name sku, location, counted and optionally expected, reason",
            why.join("; ")
        )));
    }
    // The line a record starts on, from its byte offset (the reader's own count is off by one
    // after a CR LF line end, where it starts the next record at the LF).
    let newlines: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter_map(|(i, b)| (*b == b'\n').then_some(i))
        .collect();
    let line_at = |position: Option<&csv::Position>| -> u64 {
        let Some(p) = position else { return 0 };
        let mut at = p.byte() as usize;
        while matches!(bytes.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        newlines.partition_point(|&n| n < at) as u64 + 1
    };
    let mut lines = Vec::new();
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let number = line_at(e.position());
                lines.push(unreadable(number, format!("the line cannot be read: {e}")));
                continue;
            }
        };
        let number = line_at(record.position());
        // A blank line is no line.
        if record.iter().all(|c| c.iter().all(u8::is_ascii_whitespace)) {
            continue;
        }
        if lines.len() == MAX_IMPORT_LINES {
            return Err(file_error(format!(
                "more than {MAX_IMPORT_LINES} lines: split the file"
            )));
        }
        if record.iter().any(|c| c.len() > MAX_CELL_BYTES) {
            lines.push(unreadable(
                number,
                format!("a cell is longer than {MAX_CELL_BYTES} bytes"),
            ));
            continue;
        }
        let cell = |name: &str| -> Result<Option<String>, ()> {
            match columns.get(name).and_then(|i| record.get(*i)) {
                None => Ok(None),
                Some(bytes) => std::str::from_utf8(bytes)
                    .map(|s| Some(s.trim().to_owned()))
                    .map_err(|_| ()),
            }
        };
        let cells: Result<Vec<Option<String>>, ()> =
            ["sku", "location", "counted", "expected", "reason"]
                .iter()
                .map(|c| cell(c))
                .collect();
        let Ok(cells) = cells else {
            lines.push(unreadable(
                number,
                "the line is not UTF-8 text: save the file as CSV UTF-8".into(),
            ));
            continue;
        };
        let [sku, location, counted, expected, reason]: [Option<String>; 5] =
            cells.try_into().unwrap_or_default();
        let (Some(sku), Some(location), Some(counted)) = (sku, location, counted) else {
            lines.push(unreadable(
                number,
                "the line has fewer cells than the header".into(),
            ));
            continue;
        };
        lines.push(Line {
            number,
            sku,
            location,
            counted,
            expected: expected.filter(|e| !e.is_empty()),
            reason: reason.filter(|r| !r.is_empty()),
            unreadable: None,
        });
    }
    if lines.is_empty() {
        return Err(file_error("the file has a header but no lines"));
    }
    Ok(lines)
}

fn unreadable(number: u64, why: String) -> Line {
    Line {
        number,
        sku: String::new(),
        location: String::new(),
        counted: String::new(),
        expected: None,
        reason: None,
        unreadable: Some(why),
    }
}

/// The upload's idempotency key was used before for another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReused;

/// A line that was not applied, and why (a problem type and its detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub line: u64,
    pub sku: String,
    pub location: String,
    #[serde(rename = "type")]
    pub problem: String,
    pub detail: String,
}

/// An import as `GET /v1/stocktakes/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    pub import_id: String,
    /// `queued`, `running` or `done`.
    pub status: String,
    pub lines: u64,
    pub processed: u64,
    pub applied: u64,
    pub failed: u64,
    pub created_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(skip)]
    pub request_hash: String,
    #[serde(skip)]
    pub chunks: u64,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn get_s(item: &Item, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}
fn get_n(item: &Item, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn import_from(item: &Item) -> Result<Import, StoreError> {
    let need = |k: &str| {
        get_s(item, k).ok_or_else(|| StoreError::Corrupt(format!("import item without {k}")))
    };
    Ok(Import {
        import_id: need("import_id")?,
        status: need("status")?,
        lines: get_n(item, "lines"),
        processed: get_n(item, "processed"),
        applied: get_n(item, "applied"),
        failed: get_n(item, "failed"),
        created_by: need("created_by")?,
        created_at: need("created_at")?,
        started_at: get_s(item, "started_at"),
        finished_at: get_s(item, "finished_at"),
        request_hash: need("request_hash")?,
        chunks: get_n(item, "chunks"),
    })
}

/// The import id of a caller's upload under its Idempotency-Key.
pub fn import_id(subject: &str, key: &IdempotencyKey) -> String {
    let digest = Sha256::new()
        .chain_update(subject.as_bytes())
        .chain_update([0u8])
        .chain_update(b"stocktake")
        .chain_update([0u8])
        .chain_update(key.as_str().as_bytes())
        .finalize();
    format!("st_{}", &hex::encode(digest)[..20])
}

fn lines_key(hash: &str, chunk: usize) -> String {
    format!("LINES#{}#{chunk:04}", &hash[..12])
}
fn failures_key(chunk: usize) -> String {
    format!("FAILED#{chunk:04}")
}

/// What an upload became.
pub enum Uploaded {
    Queued(Import),
    /// The same upload again: the import as it stands.
    Again(Import),
}

/// The import store and the worker, over one table.
pub struct Stocktakes {
    client: Client,
    table: String,
}

impl Stocktakes {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores an upload's lines and queues it (see the module's notes). `request_hash` is the
    /// file's digest: the same key with another file is refused.
    pub async fn upload(
        &self,
        id: &str,
        request_hash: &str,
        lines: &[Line],
        by: &str,
        now: i64,
        now_text: &str,
    ) -> Result<Result<Uploaded, KeyReused>, StoreError> {
        if let Some(existing) = self.get(id).await? {
            if existing.request_hash != request_hash {
                return Ok(Err(KeyReused));
            }
            // A run that stopped (every retry failed, or cut off): queued again, which starts
            // the function once more; it replays what was applied and applies the rest.
            let stalled = existing.status == "running"
                && existing
                    .started_at
                    .as_deref()
                    .and_then(|t| crate::levels::unix(Some(t)))
                    .is_some_and(|t| now - t > STALLED_SECONDS);
            if stalled {
                self.requeue(id).await?;
                return Ok(Ok(Uploaded::Again(Import {
                    status: "queued".into(),
                    ..existing
                })));
            }
            return Ok(Ok(Uploaded::Again(existing)));
        }
        let expires = n(now + KEEP_SECONDS);
        let chunks: Vec<Item> = lines
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                Item::from([
                    ("pk".into(), s(keys::import(id))),
                    ("sk".into(), s(lines_key(request_hash, i))),
                    ("entity".into(), s(entity::IMPORT_CHUNK)),
                    (
                        "lines".into(),
                        s(serde_json::to_string(chunk).unwrap_or_default()),
                    ),
                    ("expires_at".into(), expires.clone()),
                ])
            })
            .collect();
        let count = chunks.len();
        crate::store::batch_write(&self.client, &self.table, chunks).await?;
        let import = Import {
            import_id: id.to_owned(),
            status: "queued".into(),
            lines: lines.len() as u64,
            processed: 0,
            applied: 0,
            failed: 0,
            created_by: by.to_owned(),
            created_at: now_text.to_owned(),
            started_at: None,
            finished_at: None,
            request_hash: request_hash.to_owned(),
            chunks: count as u64,
        };
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(keys::import(id)))
            .item("sk", s(keys::META))
            .item("entity", s(entity::IMPORT))
            .item("import_id", s(id))
            .item("status", s("queued"))
            .item("lines", n(lines.len()))
            .item("chunks", n(count))
            .item("processed", n(0))
            .item("applied", n(0))
            .item("failed", n(0))
            .item("created_by", s(by))
            .item("created_at", s(now_text))
            .item("request_hash", s(request_hash))
            .item("expires_at", expires)
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(Ok(Uploaded::Queued(import))),
            // Two uploads under one key at once: the other one's import stands.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                match self.get(id).await? {
                    Some(existing) if existing.request_hash == request_hash => {
                        Ok(Ok(Uploaded::Again(existing)))
                    }
                    _ => Ok(Err(KeyReused)),
                }
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// Puts a stopped import back in the queue (its `queued` change on the stream starts it).
    async fn requeue(&self, id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::import(id), keys::META)))
            .update_expression("SET #st = :q REMOVE started_at")
            .condition_expression("#st = :r")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":q", s("queued"))
            .expression_attribute_values(":r", s("running"))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Import>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::import(id), keys::META)))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item.as_ref().map(import_from).transpose()
    }

    /// Every item of an import's partition whose sort key starts with `prefix`, in order.
    async fn items(&self, id: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
            .expression_attribute_values(":pk", s(keys::import(id)))
            .expression_attribute_values(":p", s(prefix))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(item.map_err(StoreError::from_sdk)?);
        }
        Ok(out)
    }

    /// The lines of an import, in file order.
    pub async fn lines(&self, import: &Import) -> Result<Vec<Line>, StoreError> {
        let mut out = Vec::new();
        let prefix = format!("LINES#{}#", &import.request_hash[..12]);
        for item in self.items(&import.import_id, &prefix).await? {
            let text = get_s(&item, "lines").unwrap_or_default();
            let chunk: Vec<Line> = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("import lines: {e}")))?;
            out.extend(chunk);
        }
        Ok(out)
    }

    /// The failed lines of a finished import, in line order.
    pub async fn failures(&self, id: &str) -> Result<Vec<Failure>, StoreError> {
        let mut out = Vec::new();
        for item in self.items(id, "FAILED#").await? {
            let text = get_s(&item, "failures").unwrap_or_default();
            let chunk: Vec<Failure> = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("import failures: {e}")))?;
            out.extend(chunk);
        }
        Ok(out)
    }

    async fn progress(
        &self,
        id: &str,
        status: &str,
        tally: &Tally,
        at: (&str, &str),
    ) -> Result<(), StoreError> {
        let (field, now) = at;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::key(keys::import(id), keys::META)))
            .update_expression(
                "SET #st = :st, #pr = :p, #ap = :a, #fa = :f, #at = if_not_exists(#at, :now)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#pr", "processed")
            .expression_attribute_names("#ap", "applied")
            .expression_attribute_names("#fa", "failed")
            .expression_attribute_names("#at", field)
            .expression_attribute_values(":st", s(status))
            .expression_attribute_values(":p", n(tally.processed))
            .expression_attribute_values(":a", n(tally.applied))
            .expression_attribute_values(":f", n(tally.failures.len()))
            .expression_attribute_values(":now", s(now))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    /// Applies an import's lines (see the module's notes); a finished import is left as it is.
    /// An error (the table unavailable past the retries) leaves the import running: the next
    /// run applies what is left and replays what was done.
    async fn apply_all(
        &self,
        store: &Store,
        describe: Describe,
        import: Import,
        now: i64,
        now_text: &str,
    ) -> Result<Import, StoreError> {
        let id = import.import_id.as_str();
        if import.status == "done" {
            return Ok(import);
        }
        let lines = self.lines(&import).await?;
        let mut tally = Tally::default();
        self.progress(id, "running", &tally, ("started_at", now_text))
            .await?;
        // Lines of one level in file order; levels side by side.
        let mut by_level: BTreeMap<(String, String), Vec<Line>> = BTreeMap::new();
        for line in lines {
            by_level
                .entry((line.sku.clone(), line.location.clone()))
                .or_default()
                .push(line);
        }
        let actor = Actor {
            subject: import.created_by.clone(),
        };
        let mut outcomes = stream::iter(by_level.into_values())
            .map(|level: Vec<Line>| {
                let (actor, import) = (&actor, &import);
                async move {
                    let mut out = Vec::new();
                    for line in level {
                        let outcome = apply(store, import, actor, &line, now_text).await;
                        out.push((line, outcome));
                    }
                    out
                }
            })
            .buffer_unordered(AT_ONCE);
        let mut since = 0;
        while let Some(done) = outcomes.next().await {
            for (line, outcome) in done {
                tally.processed += 1;
                since += 1;
                match outcome {
                    Ok(()) => tally.applied += 1,
                    Err(LineError::Refused(refusal)) => {
                        let (problem, detail) = describe(refusal);
                        tally.failures.push(Failure {
                            line: line.number,
                            sku: line.sku.clone(),
                            location: line.location.clone(),
                            problem,
                            detail,
                        })
                    }
                    Err(LineError::Store(e)) => return Err(e),
                }
            }
            if since >= PROGRESS_EVERY {
                since = 0;
                self.progress(id, "running", &tally, ("started_at", now_text))
                    .await?;
            }
        }
        tally.failures.sort_by_key(|f| f.line);
        let chunks: Vec<Item> = tally
            .failures
            .chunks(CHUNK)
            .enumerate()
            .map(|(i, chunk)| {
                Item::from([
                    ("pk".into(), s(keys::import(id))),
                    ("sk".into(), s(failures_key(i))),
                    ("entity".into(), s(entity::IMPORT_CHUNK)),
                    (
                        "failures".into(),
                        s(serde_json::to_string(chunk).unwrap_or_default()),
                    ),
                    ("expires_at".into(), n(now + KEEP_SECONDS)),
                ])
            })
            .collect();
        crate::store::batch_write(&self.client, &self.table, chunks).await?;
        self.progress(id, "done", &tally, ("finished_at", now_text))
            .await?;
        self.get(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("import {id} vanished")))
    }
}

#[derive(Default)]
struct Tally {
    processed: u64,
    applied: u64,
    failures: Vec<Failure>,
}

enum LineError {
    /// Refused for this line alone.
    Refused(LineRefusal),
    /// The table, past its retries: the run stops and is tried again.
    Store(StoreError),
}

/// Applies one line as a stocktake adjustment, under the key of (import, line). A replay (the
/// line applied by an earlier run) counts as applied.
async fn apply(
    store: &Store,
    import: &crate::stocktake::Import,
    actor: &Actor,
    line: &Line,
    now_text: &str,
) -> Result<(), LineError> {
    let refuse = |e: LineRefusal| LineError::Refused(e);
    if let Some(why) = &line.unreadable {
        return Err(refuse(LineRefusal::Validation(vec![FieldError::new(
            "line",
            why.clone(),
        )])));
    }
    let number = |field: &str, v: &str| {
        v.parse::<i64>()
            .map_err(|_| FieldError::new(field, "must be a whole number"))
    };
    let mut errors = Vec::new();
    let counted = number("counted", &line.counted)
        .map_err(|e| errors.push(e))
        .unwrap_or(0);
    let expected = match &line.expected {
        None => None,
        Some(v) => number("expected", v).map_err(|e| errors.push(e)).ok(),
    };
    let body = AdjustmentBody {
        sku: line.sku.clone(),
        location: line.location.clone(),
        counted,
        expected,
        reason: line
            .reason
            .clone()
            .unwrap_or_else(|| format!("stocktake import {}", import.import_id)),
    };
    let movement = match body.validate() {
        Ok(m) if errors.is_empty() => m,
        Ok(_) => return Err(refuse(LineRefusal::Validation(errors))),
        Err(mut more) => {
            errors.append(&mut more);
            return Err(refuse(LineRefusal::Validation(errors)));
        }
    };
    let key = IdempotencyKey::parse(
        "idempotency-key",
        &format!("stocktake.{}.{}", import.import_id, line.number),
    )
    .map_err(|e| refuse(LineRefusal::Validation(vec![e])))?;
    let channel = Channel {
        path: movements::ADJUSTMENTS_PATH,
        opens_order: false,
    };
    let record = movements::prepare(channel, actor, &key, &body, &movement, now_text.to_owned());
    let mut attempt = 0;
    loop {
        match movements::record(store, &movement, &record).await {
            // Applied now, or by an earlier run of this import.
            Ok(_) => return Ok(()),
            Err(RecordError::KeyReused) => return Err(refuse(LineRefusal::KeyReused)),
            Err(RecordError::Movement(MovementError::Store(e)))
                if e.is_retryable() && attempt < 4 =>
            {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
            Err(RecordError::Movement(MovementError::Store(e))) => return Err(LineError::Store(e)),
            Err(RecordError::Movement(e)) => return Err(refuse(LineRefusal::Movement(e))),
        }
    }
}

/// Runs the stocktake imports queued on the table's stream: the stream projector hands it each
/// record of a queued import (new, or queued again after it stopped).
pub struct ImportWorker {
    pub stocktakes: Stocktakes,
    pub store: Store,
    pub clock: crate::clock::Clock,
    describe: Describe,
}

impl ImportWorker {
    pub fn new(store: Store, clock: crate::clock::Clock, describe: Describe) -> Self {
        Self {
            stocktakes: Stocktakes::new(store.client().clone(), store.table()),
            store,
            clock,
            describe,
        }
    }

    /// Applies the import a stream record queued; a record of anything else is passed over. An
    /// error (the table unavailable past its retries) leaves the import running: the record is
    /// retried, and the next run replays what was done and applies the rest.
    pub async fn run_queued(&self, record: &serde_json::Value) -> Result<(), StoreError> {
        let image = &record["dynamodb"]["NewImage"];
        if image["entity"]["S"] != entity::IMPORT || image["status"]["S"] != "queued" {
            return Ok(());
        }
        let Some(id) = image["import_id"]["S"].as_str() else {
            return Ok(());
        };
        let now = self.clock.now();
        let Some(import) = self.stocktakes.get(id).await? else {
            // Gone (expired, or removed by hand): nothing left to apply.
            tracing::warn!(import = id, "stocktake import is gone; skipped");
            return Ok(());
        };
        match self
            .stocktakes
            .apply_all(
                &self.store,
                self.describe,
                import,
                now,
                &self.clock.rfc3339(),
            )
            .await
        {
            Ok(done) => {
                tracing::info!(
                    import = id,
                    lines = done.lines,
                    applied = done.applied,
                    failed = done.failed,
                    "stocktake import done"
                );
                Ok(())
            }
            Err(e) => {
                tracing::error!(import = id, error = %e, "stocktake import stopped; retried");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_into_numbered_lines_in_any_column_order() {
        let lines = parse(
            b"\xEF\xBB\xBFLocation,SKU,Counted,reason\r\nWH1,HAT,5,shelf\r\n\r\n\"WH2\",\"C,1\",7,\n",
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                lines[0].number,
                lines[0].sku.as_str(),
                lines[0].counted.as_str()
            ),
            (2, "HAT", "5")
        );
        assert_eq!(lines[0].reason.as_deref(), Some("shelf"));
        assert_eq!(
            (
                lines[1].number,
                lines[1].sku.as_str(),
                lines[1].reason.clone()
            ),
            (4, "C,1", None)
        );
    }

    #[test]
    fn a_wrong_header_is_refused_whole_and_a_bad_line_is_kept_marked() {
        for (file, says) in [
            (&b""[..], "empty"),
            (b"sku,location\nA,WH1\n", "missing columns: counted"),
            (
                b"sku,location,counted,colour\nA,WH1,1,red\n",
                "unknown columns: colour",
            ),
            (b"sku,sku,location,counted\n", "twice"),
            (b"sku,location,counted\n", "no lines"),
            (b"\xff\xfesku,location,counted\n", "UTF-8"),
        ] {
            let e = parse(file).unwrap_err();
            let text = format!("{e:?}");
            assert!(text.contains(says), "{text}");
        }
        let lines = parse(b"sku,location,counted\nA,WH1,1\nB\xe9,WH1,2\nC\n").unwrap();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].unreadable.is_none());
        assert!(lines[1].unreadable.as_deref().unwrap().contains("UTF-8"));
        assert!(lines[2]
            .unreadable
            .as_deref()
            .unwrap()
            .contains("fewer cells"));
    }

    #[test]
    fn too_many_lines_are_refused() {
        let mut file = b"sku,location,counted\n".to_vec();
        for i in 0..=MAX_IMPORT_LINES {
            file.extend_from_slice(format!("S{i},WH1,1\n").as_bytes());
        }
        assert!(format!("{:?}", parse(&file).unwrap_err()).contains("split the file"));
    }
}
