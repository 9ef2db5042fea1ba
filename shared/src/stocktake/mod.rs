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

mod apply;
mod file;
pub mod store;

pub use self::{
    apply::*,
    file::*,
    store::{Failure, Import, ImportStore},
};

use std::collections::{BTreeMap, HashMap};

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    domain::{FieldError, IdempotencyKey},
    movements::{self, Actor, AdjustmentBody, Channel, Patience, RecordError},
    schema::entity,
    store::{MovementError, Store, StoreError},
};

/// The largest file taken, and the most lines.
pub const MAX_IMPORT_BYTES: usize = 2 * 1024 * 1024;
pub const MAX_IMPORT_LINES: usize = 20_000;
/// Levels applied side by side.
const AT_ONCE: usize = 16;
/// Progress is written every this many lines.
const PROGRESS_EVERY: usize = 250;
/// Import items expire (TTL) after 30 days.
const KEEP_SECONDS: i64 = 30 * 86_400;

/// The upload's idempotency key was used before for another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyReused;

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

/// What an upload became.
pub enum Uploaded {
    Queued(Import),
    /// The same upload again: the import as it stands.
    Again(Import),
}

/// Uploads and their imports, over one table.
pub struct Stocktakes {
    imports: ImportStore,
}

impl Stocktakes {
    pub fn new(store: &Store) -> Self {
        Self {
            imports: ImportStore::of(store),
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
                self.imports.requeue(id).await?;
                return Ok(Ok(Uploaded::Again(Import {
                    status: "queued".into(),
                    ..existing
                })));
            }
            return Ok(Ok(Uploaded::Again(existing)));
        }
        let mut import = Import {
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
            chunks: 0,
            runs: 0,
        };
        if self
            .imports
            .create(&mut import, lines, now + KEEP_SECONDS)
            .await?
        {
            return Ok(Ok(Uploaded::Queued(import)));
        }
        // Two uploads under one key at once: the other one's import stands.
        match self.get(id).await? {
            Some(existing) if existing.request_hash == request_hash => {
                Ok(Ok(Uploaded::Again(existing)))
            }
            _ => Ok(Err(KeyReused)),
        }
    }

    /// The import `id`, if there is one.
    pub async fn get(&self, id: &str) -> Result<Option<Import>, StoreError> {
        self.imports.get(id).await
    }

    /// The lines of an import, in file order.
    pub async fn lines(&self, import: &Import) -> Result<Vec<Line>, StoreError> {
        self.imports.lines(import).await
    }

    /// The failed lines of a finished import, in line order.
    pub async fn failures(&self, id: &str) -> Result<Vec<Failure>, StoreError> {
        self.imports.failures(id).await
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
    fn a_count_line_may_carry_a_reason_code() {
        let lines =
            parse(b"sku,location,counted,reason_code\nHAT,WH1,3,theft\nCAP,WH1,4,\n").unwrap();
        let codes: Vec<_> = lines.iter().map(|l| l.reason_code.as_deref()).collect();
        assert_eq!(codes, [Some("theft"), None]);
        // Stored with the line, so the import applies it as the count's reason code.
        let stored: Line =
            serde_json::from_str(&serde_json::to_string(&lines[0]).unwrap()).unwrap();
        assert_eq!(stored, lines[0]);
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
