//! Silences: what mutes a rule or a SKU's notices until a time.

use super::*;

/// Whether one of `silences` covers `rule_id` or `sku` (the one check every trigger makes).
pub fn silenced(silences: &[Silence], rule_id: &str, sku: &str) -> bool {
    silences.iter().any(|s| {
        s.silence_id
            .strip_prefix("rule:")
            .map(|r| r == rule_id)
            .or_else(|| s.silence_id.strip_prefix("sku:").map(|k| k == sku))
            .unwrap_or(false)
    })
}

/// A silence: no alert opens for the rule or SKU until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Silence {
    /// `rule:<rule_id>` or `sku:<sku>`.
    pub silence_id: String,
    pub until: String,
    #[serde(skip)]
    pub until_unix: i64,
    pub reason: String,
    pub created_by: String,
}

pub(super) fn silence_from(item: &Item) -> Result<Silence, StoreError> {
    let i: SilenceItem = decode(entity::SILENCE, item).map_err(corrupt)?;
    Ok(Silence {
        silence_id: i.silence_id,
        until: i.until,
        until_unix: i.until_unix,
        reason: i.reason,
        created_by: i.created_by,
    })
}

impl AlertStore {
    /// Creates or replaces the silence of a target until `until_unix`.
    pub async fn put_silence(&self, silence: &Silence) -> Result<(), StoreError> {
        let item = keys::item(
            keys::silence(&silence.silence_id),
            keys::META,
            [
                ("entity", s(entity::SILENCE)),
                ("silence_id", s(&silence.silence_id)),
                ("until", s(&silence.until)),
                ("until_unix", n(silence.until_unix)),
                ("reason", s(&silence.reason)),
                ("created_by", s(&silence.created_by)),
                // Removed by TTL a day after it ends; the evaluator ignores it from `until` on.
                ("expires_at", n(silence.until_unix + 86_400)),
                (keys::INDEX_PARTITION, s(SILENCES)),
                (keys::INDEX_SORT, s(&silence.silence_id)),
            ],
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }

    pub async fn list_silences(&self, now: i64) -> Result<Vec<Silence>, StoreError> {
        let mut silences = self.all_read_as(SILENCES, silence_from, "silence").await?;
        silences.retain(|s| s.until_unix > now);
        Ok(silences)
    }

    /// Ends a silence early; false when there was none.
    pub async fn delete_silence(&self, silence_id: &str) -> Result<bool, StoreError> {
        self.delete(silence_key(silence_id)).await
    }
}
