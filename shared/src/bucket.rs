//! An S3 bucket as the reports, the replenishment run and the reports API use it: put, get,
//! copy, list and delete objects, and write a large object part by part. No S3 type goes above
//! this module.

use aws_sdk_s3::{
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier},
    Client,
};

/// Why S3 did not do what was asked.
#[derive(Debug, thiserror::Error)]
#[error("S3: {0}")]
pub struct BucketError(pub String);

fn s3_err<E: std::error::Error + 'static, R: std::fmt::Debug>(
    e: aws_sdk_s3::error::SdkError<E, R>,
) -> BucketError {
    BucketError(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}

/// A bucket and the client that reaches it.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub s3: Client,
    pub name: String,
}

/// A multipart upload under way: its id and the parts S3 has taken.
pub struct Upload {
    key: String,
    id: String,
    parts: Vec<CompletedPart>,
}

impl Bucket {
    pub fn new(s3: Client, name: impl Into<String>) -> Self {
        Self {
            s3,
            name: name.into(),
        }
    }

    /// Writes `body` at `key` in one PUT.
    pub async fn put(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(), BucketError> {
        self.s3
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    /// The object at `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BucketError> {
        match self
            .s3
            .get_object()
            .bucket(&self.name)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(
                o.body
                    .collect()
                    .await
                    .map_err(|e| BucketError(e.to_string()))?
                    .into_bytes()
                    .to_vec(),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(s3_err(e)),
        }
    }

    /// Server-side copy (the promotion of a staged object).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), BucketError> {
        self.s3
            .copy_object()
            .bucket(&self.name)
            .copy_source(format!("{}/{}", self.name, urlencode_key(from)))
            .key(to)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }

    /// Every key under `prefix`.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BucketError> {
        let mut keys = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.name)
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
    pub async fn delete(&self, keys: &[String]) -> Result<(), BucketError> {
        for chunk in keys.chunks(1000) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| BucketError(e.to_string()))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| BucketError(e.to_string()))?;
            let out = self
                .s3
                .delete_objects()
                .bucket(&self.name)
                .delete(delete)
                .send()
                .await
                .map_err(s3_err)?;
            if let Some(e) = out.errors().first() {
                return Err(BucketError(format!(
                    "deleting {}: {}",
                    e.key().unwrap_or_default(),
                    e.message().unwrap_or_default()
                )));
            }
        }
        Ok(())
    }

    /// A URL that downloads the object at `key` without credentials until `lifetime` passes.
    pub async fn presigned_get(
        &self,
        key: &str,
        lifetime: std::time::Duration,
    ) -> Result<String, BucketError> {
        let presigning = aws_sdk_s3::presigning::PresigningConfig::expires_in(lifetime)
            .map_err(|e| BucketError(e.to_string()))?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.name)
            .key(key)
            .presigned(presigning)
            .await
            .map_err(s3_err)?;
        Ok(request.uri().to_owned())
    }

    /// Starts writing `key` part by part.
    pub async fn start_upload(&self, key: &str, content_type: &str) -> Result<Upload, BucketError> {
        let created = self
            .s3
            .create_multipart_upload()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(s3_err)?;
        Ok(Upload {
            key: key.to_owned(),
            id: created.upload_id.unwrap_or_default(),
            parts: Vec::new(),
        })
    }

    /// Sends the next part of `upload` (every part but the last at least 5 MiB).
    pub async fn upload_part(&self, upload: &mut Upload, body: Vec<u8>) -> Result<(), BucketError> {
        let number = upload.parts.len() as i32 + 1;
        let part = self
            .s3
            .upload_part()
            .bucket(&self.name)
            .key(&upload.key)
            .upload_id(&upload.id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(s3_err)?;
        upload.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag)
                .build(),
        );
        Ok(())
    }

    /// Completes `upload`: the object appears whole at its key.
    pub async fn complete(&self, upload: Upload) -> Result<(), BucketError> {
        self.s3
            .complete_multipart_upload()
            .bucket(&self.name)
            .key(&upload.key)
            .upload_id(&upload.id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(upload.parts))
                    .build(),
            )
            .send()
            .await
            .map_err(s3_err)?;
        Ok(())
    }
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
