//! Writing, copying, listing and deleting the report's S3 objects. An object is buffered up to
//! one part (5 MiB) and sent as a single PUT when it fits, else as a multipart upload, part by
//! part, so memory is bounded by a part whatever the object's size.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ReportError;
use crate::{
    bucket::{Bucket, Upload},
    reports,
};

/// S3's smallest part (except the last one).
const PART_BYTES: usize = 5 * 1024 * 1024;

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
    upload: Option<Upload>,
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
            upload: None,
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
        if self.upload.is_none() {
            self.upload = Some(b.start_upload(&self.key, self.content_type).await?);
        }
        self.send_part(b).await
    }

    async fn send_part(&mut self, b: &Bucket) -> Result<(), ReportError> {
        let body = std::mem::take(&mut self.buffer);
        self.hash.update(body.as_bytes());
        self.bytes += body.len();
        let upload = self
            .upload
            .as_mut()
            .expect("an upload is started before its parts");
        b.upload_part(upload, body.into_bytes()).await?;
        Ok(())
    }

    pub async fn finish(mut self, b: &Bucket) -> Result<ObjectEntry, ReportError> {
        match self.upload.take() {
            None => {
                // It fits in one part: one PUT.
                let body = std::mem::take(&mut self.buffer);
                self.hash.update(body.as_bytes());
                self.bytes = body.len();
                b.put(&self.key, self.content_type, body.into_bytes())
                    .await?;
            }
            Some(upload) => {
                self.upload = Some(upload);
                self.send_part(b).await?;
                b.complete(self.upload.take().expect("just put back"))
                    .await?;
            }
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
