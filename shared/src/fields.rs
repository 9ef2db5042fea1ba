//! Input as the API and the import take it: field errors that name what a client sent wrong, the
//! identifiers and quantities every movement is made of, and free text a person reads. Pure.
//! (Re-exported by [`crate::domain`], where the rest of the domain uses them.)

use std::fmt;

use serde::Serialize;

/// Largest quantity a single movement line may carry.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// Largest on-hand value a stocktake adjustment may set.
pub const MAX_COUNTED: u32 = 1_000_000_000;
/// Most lines in one order (each line touches two items of one DynamoDB transaction).
pub const MAX_ORDER_LINES: usize = 25;
/// Longest free text (reference, reason, SKU name, attribute value).
pub const MAX_TEXT: usize = 256;
/// Most attributes on one SKU.
pub const MAX_ATTRIBUTES: usize = 32;

/// A validation failure naming the offending field, as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Collects every field error of one input, so a client sees them all at once.
#[derive(Default)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// The value, or `None` with its error kept.
    pub fn take<T>(&mut self, r: Result<T, FieldError>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }

    /// The value built from what was taken, or every error kept.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            // Every `take` succeeded, so every Option is Some.
            value().ok_or_else(|| vec![FieldError::new("body", "invalid request")])
        } else {
            Err(self.0)
        }
    }
}

fn is_id_char(c: char, extra: &str) -> bool {
    c.is_ascii_alphanumeric() || extra.contains(c)
}

fn parse_id(
    field: &str,
    raw: &str,
    max: usize,
    extra: &str,
    what: &str,
) -> Result<String, FieldError> {
    if raw.is_empty() || raw.len() > max {
        return Err(FieldError::new(
            field,
            format!("{what} must be 1 to {max} characters long"),
        ));
    }
    let first_ok = raw
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !raw.chars().all(|c| is_id_char(c, extra)) {
        return Err(FieldError::new(
            field,
            format!("{what} must start with a letter or digit and contain only letters, digits and {extra:?}"),
        ));
    }
    Ok(raw.to_owned())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $max:expr, $extra:expr, $what:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_LEN: usize = $max;
            pub const EXTRA_CHARS: &'static str = $extra;

            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                parse_id(field, raw, $max, $extra, $what).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

identifier!(
    /// A stock-keeping unit id: 1–64 characters, `[A-Za-z0-9]` then `[A-Za-z0-9._-]`.
    SkuId, 64, "._-", "a SKU id"
);
identifier!(
    /// A location (warehouse or country) id: 1–32 characters, `[A-Za-z0-9]` then `[A-Za-z0-9_-]`.
    LocationId, 32, "_-", "a location id"
);
identifier!(
    /// A storefront's order id: 1–64 characters, `[A-Za-z0-9]` then `[A-Za-z0-9._:-]`.
    OrderId, 64, "._:-", "an order id"
);
identifier!(
    /// The caller's `Idempotency-Key`: 1–128 characters, `[A-Za-z0-9]` then `[A-Za-z0-9._:-]`.
    IdempotencyKey, 128, "._:-", "an idempotency key"
);

/// A positive movement quantity, at most [`MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    pub fn parse(field: &str, raw: i64) -> Result<Self, FieldError> {
        if raw < 1 || raw > i64::from(MAX_QUANTITY) {
            return Err(FieldError::new(
                field,
                format!("must be an integer from 1 to {MAX_QUANTITY}"),
            ));
        }
        Ok(Self(raw as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A counted on-hand value for a stocktake: 0 to [`MAX_COUNTED`].
pub fn parse_count(field: &str, raw: i64) -> Result<u32, FieldError> {
    if raw < 0 || raw > i64::from(MAX_COUNTED) {
        return Err(FieldError::new(
            field,
            format!("must be an integer from 0 to {MAX_COUNTED}"),
        ));
    }
    Ok(raw as u32)
}

/// Free text a person reads (names, references, reasons): 1–256 characters, no control characters.
pub fn parse_text(field: &str, raw: &str) -> Result<String, FieldError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_TEXT {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_TEXT} characters of text"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if !trimmed.chars().any(visible) {
        return Err(FieldError::new(field, "must contain a visible character"));
    }
    Ok(trimmed.to_owned())
}

/// Whether `c` shows as something: not white space, not a control, and not one of the
/// characters that render as nothing (format characters such as zero-width spaces and joiners,
/// bidirectional controls, variation selectors, tag characters, and the blank fillers: Hangul
/// fillers, braille blank). The console's form uses the same list.
pub fn visible(c: char) -> bool {
    !(c.is_whitespace()
        || c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}'
            | '\u{17B5}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{2800}' | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{1D159}'
            | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'))
}
