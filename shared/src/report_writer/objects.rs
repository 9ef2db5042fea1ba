//! Writing, copying, listing and deleting the report's S3 objects. An object is buffered up to
//! one part (5 MiB) and sent as a single PUT when it fits, else as a multipart upload, part by
//! part, so memory is bounded by a part whatever the object's size.

use aws_sdk_s3::{
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier},
    Client,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ReportError;
use crate::reports;

/// S3's smallest part (except the last one).
const PART_BYTES: usize = 5 * 1024 * 1024;

pub(super) fn s3_err<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_s3::error::SdkError<E, R>,
) -> ReportError {
    ReportError::S3(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}

/// The bucket the reports go to.
#[derive(Clone)]
pub(super) struct Bucket {
    pub s3: Client,
    pub name: String,
}

/// What the manifest says of each object: where readers find it, its rows, size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub key: String,
    pub rows: usize,
    pub bytes: usize,
    pub sha256: String,
}

/// One object being written (to `key`, a staging key); its entry names `final_key`.
pub(super) struct ObjectWriter {
    key: String,
    final_key: String,
    content_type: &'static str,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    pub buffer: String,
    hash: Sha256,
    bytes: usize,
    pub rows: usize,
}

impl ObjectWriter {
    pub fn new(key: String, final_key: String, content_type: &'static str) -> Self {
        Self {
            key,
            final_key,
            content_type,
            upload_id: None,
            parts: Vec::new(),
            buffer: String::new(),
            hash: Sha256::new(),
            bytes: 0,
            rows: 0,
        }
    }

    /// Sends a part once the buffer holds one.
    pub async fn flush(&mut self, b: &Bucket) -> Result<(), ReportError> {
        if self.buffer.len() < PART_BYTES {
            return Ok(());
        }
        if self.upload_id.is_none() {
            let created =
                b.s3.create_multipart_upload()
                    .bucket(&b.name)
                    .key(&self.key)
                    .content_type(self.content_type)
                    .send()
                    .await
                    .map_err(s3_err)?;
            self.upload_id = created.upload_id;
        }
        self.send_part(b).await
    }

    async fn send_part(&mut self, b: &Bucket) -> Result<(), ReportError> {
        let body = std::mem::take(&mut self.buffer);
        self.hash.update(body.as_bytes());
        self.bytes += body.len();
        let number = self.parts.len() as i32 + 1;
        let part =
            b.s3.upload_part()
                .bucket(&b.name)
                .key(&self.key)
                .upload_id(self.upload_id.clone().unwrap_or_default())
                .part_number(number)
                .body(ByteStream::from(body.into_bytes()))
                .send()
                .await
                .map_err(s3_err)?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag)
                .build(),
        );
        Ok(())
    }

    pub async fn finish(mut self, b: &Bucket) -> Result<ObjectEntry, ReportError> {
        if self.upload_id.is_none() {
            // It fits in one part: one PUT.
            let body = std::mem::take(&mut self.buffer);
            self.hash.update(body.as_bytes());
            self.bytes = body.len();
            put(b, &self.key, self.content_type, body.into_bytes()).await?;
        } else {
            self.send_part(b).await?;
            b.s3.complete_multipart_upload()
                .bucket(&b.name)
                .key(&self.key)
                .upload_id(self.upload_id.clone().unwrap_or_default())
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(std::mem::take(&mut self.parts)))
                        .build(),
                )
                .send()
                .await
                .map_err(s3_err)?;
        }
        Ok(ObjectEntry {
            key: self.final_key,
            rows: self.rows,
            bytes: self.bytes,
            sha256: hex::encode(self.hash.finalize()),
        })
    }
}

/// A dataset's part written in both formats (CSV with a header row, JSON Lines).
pub(super) struct Dataset {
    columns: &'static [&'static str],
    pub csv: ObjectWriter,
    jsonl: ObjectWriter,
}

impl Dataset {
    /// Part `file_stem` (`part-00007`) of dataset `name` for `day`, written to staging.
    pub fn new(name: &str, day: i64, file_stem: &str, columns: &'static [&'static str]) -> Self {
        let object = |dataset: String, file: String, content_type| {
            let final_key = reports::object_key(&dataset, day, &file);
            ObjectWriter::new(
                reports::staged_key(day, &final_key),
                final_key,
                content_type,
            )
        };
        let mut csv = object(
            name.to_owned(),
            format!("{file_stem}.csv"),
            "text/csv; charset=utf-8; header=present",
        );
        // The header row goes first, even for an empty part.
        reports::write_csv::<()>(&mut csv.buffer, columns, &[], true);
        Self {
            columns,
            csv,
            jsonl: object(
                format!("{name}-jsonl"),
                format!("{file_stem}.jsonl"),
                "application/x-ndjson",
            ),
        }
    }

    pub async fn push<T: Serialize>(&mut self, b: &Bucket, rows: &[T]) -> Result<(), ReportError> {
        reports::write_csv(&mut self.csv.buffer, self.columns, rows, false);
        reports::write_jsonl(&mut self.jsonl.buffer, rows);
        self.csv.rows += rows.len();
        self.jsonl.rows += rows.len();
        self.csv.flush(b).await?;
        self.jsonl.flush(b).await
    }

    pub async fn finish(self, b: &Bucket) -> Result<Vec<ObjectEntry>, ReportError> {
        Ok(vec![self.csv.finish(b).await?, self.jsonl.finish(b).await?])
    }
}

pub(super) async fn put(
    b: &Bucket,
    key: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<(), ReportError> {
    b.s3.put_object()
        .bucket(&b.name)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(s3_err)?;
    Ok(())
}

/// The object at `key`, or `None` when there is none.
pub(super) async fn get(b: &Bucket, key: &str) -> Result<Option<Vec<u8>>, ReportError> {
    match b.s3.get_object().bucket(&b.name).key(key).send().await {
        Ok(o) => Ok(Some(
            o.body
                .collect()
                .await
                .map_err(|e| ReportError::S3(e.to_string()))?
                .into_bytes()
                .to_vec(),
        )),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(s3_err(e)),
    }
}

/// Server-side copy (the promotion of a staged object).
pub(super) async fn copy(b: &Bucket, from: &str, to: &str) -> Result<(), ReportError> {
    b.s3.copy_object()
        .bucket(&b.name)
        .copy_source(format!("{}/{}", b.name, urlencode_key(from)))
        .key(to)
        .send()
        .await
        .map_err(s3_err)?;
    Ok(())
}

/// A key as a copy source wants it: each path segment percent-encoded, `/` kept.
fn urlencode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Every key under `prefix`.
pub(super) async fn list(b: &Bucket, prefix: &str) -> Result<Vec<String>, ReportError> {
    let mut keys = Vec::new();
    let mut pages =
        b.s3.list_objects_v2()
            .bucket(&b.name)
            .prefix(prefix)
            .into_paginator()
            .send();
    while let Some(page) = pages.next().await {
        for object in page.map_err(s3_err)?.contents() {
            if let Some(k) = object.key() {
                keys.push(k.to_owned());
            }
        }
    }
    Ok(keys)
}

/// Deletes `keys`, up to 1,000 per request.
pub(super) async fn delete(b: &Bucket, keys: &[String]) -> Result<(), ReportError> {
    for chunk in keys.chunks(1000) {
        let objects = chunk
            .iter()
            .map(|k| ObjectIdentifier::builder().key(k).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ReportError::S3(e.to_string()))?;
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| ReportError::S3(e.to_string()))?;
        let out =
            b.s3.delete_objects()
                .bucket(&b.name)
                .delete(delete)
                .send()
                .await
                .map_err(s3_err)?;
        if let Some(e) = out.errors().first() {
            return Err(ReportError::S3(format!(
                "deleting {}: {}",
                e.key().unwrap_or_default(),
                e.message().unwrap_or_default()
            )));
        }
    }
    Ok(())
}
