//! Reading a stocktake file: a CSV header naming its columns, then numbered lines; a line that
//! cannot be read is kept, marked, and reported with the others (pure: no I/O).

use super::*;

/// The longest cell kept (a reason is at most 256 characters): a longer one makes its line
/// unreadable, so a chunk of lines stays far below DynamoDB's 400 KB item limit.
pub(super) const MAX_CELL_BYTES: usize = 1024;
/// An import left `running` this long (past Lambda's 15 minutes) has stopped: the same upload
/// again starts it once more.
pub(super) const STALLED_SECONDS: i64 = 20 * 60;

pub(super) const REQUIRED: &[&str] = &["sku", "location", "counted"];
pub(super) const OPTIONAL: &[&str] = &["expected", "reason", "reason_code", "counted_at"];

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
    /// Why the count differs, as a write-off's reason code says it.
    #[serde(rename = "rc", default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// When the shelf was counted (RFC 3339); the upload's time when not given.
    #[serde(rename = "ca", default, skip_serializing_if = "Option::is_none")]
    pub counted_at: Option<String>,
    /// Set when the line could not be read at all (not UTF-8, too few cells).
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// Why a file is refused as a whole.
pub fn file_error(message: impl Into<String>) -> FieldError {
    FieldError::new("file", message)
}

/// Reads a CSV file into lines: a header naming `sku`, `location`, `counted` and optionally
/// `expected`, `reason`, `reason_code` and `counted_at` (any case, any order; a UTF-8 byte order mark is skipped), then up to
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
            "{}; the header must name sku, location, counted and optionally expected, reason, reason_code, counted_at",
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
        let cells: Result<Vec<Option<String>>, ()> = [
            "sku",
            "location",
            "counted",
            "expected",
            "reason",
            "reason_code",
            "counted_at",
        ]
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
        let [sku, location, counted, expected, reason, reason_code, counted_at]: [Option<String>;
            7] = cells.try_into().unwrap_or_default();
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
            reason_code: reason_code.filter(|r| !r.is_empty()),
            counted_at: counted_at.filter(|c| !c.is_empty()),
            unreadable: None,
        });
    }
    if lines.is_empty() {
        return Err(file_error("the file has a header but no lines"));
    }
    Ok(lines)
}

pub(super) fn unreadable(number: u64, why: String) -> Line {
    Line {
        number,
        sku: String::new(),
        location: String::new(),
        counted: String::new(),
        expected: None,
        reason: None,
        reason_code: None,
        counted_at: None,
        unreadable: Some(why),
    }
}
