//! Reading a request: its body (size, media type, JSON with the failing field named), its
//! idempotency key, path parameters and query string.

use super::*;

/// Request bodies above this size are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Page sizes for listings.
pub const DEFAULT_PAGE: i32 = 25;
pub const MAX_PAGE: i32 = 100;

pub(crate) fn sku_param(raw: &str) -> Result<SkuId, ApiError> {
    SkuId::parse("sku", raw).map_err(|e| ApiError::InvalidParameter(vec![e]))
}

pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let raw = headers
        .get("idempotency-key")
        .ok_or(ApiError::IdempotencyKeyMissing)?;
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::IdempotencyKeyInvalid("not ASCII".into()))?;
    IdempotencyKey::parse("Idempotency-Key", raw)
        .map_err(|e| ApiError::IdempotencyKeyInvalid(e.message))
}

/// The request's media type (`Content-Type` without its parameters), in lower case.
pub(crate) fn media_type(req: &Request) -> Option<String> {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

/// Checks size and media type, then parses the JSON body, naming the field of any type error.
pub fn parse_body<B: DeserializeOwned + serde::Serialize>(req: &Request) -> Result<B, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES));
    }
    let json_type =
        media_type(req).is_some_and(|m| m == "application/json" || m.ends_with("+json"));
    if !json_type {
        return Err(ApiError::UnsupportedMediaType("application/json"));
    }
    // Every body is an object: an array is refused as one, before serde would read it
    // position by position (and name whichever element did not fit).
    if bytes.trim_ascii_start().first() == Some(&b'[') {
        return Err(ApiError::Validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let result: Result<B, _> = serde_path_to_error::deserialize(de);
    match result {
        Ok(body) => {
            // serde reads a JSON array into a struct field by field (`"selector": []` would be a
            // selector of nothing, so of every SKU): wherever the body has an object, the input
            // must have had one.
            // (A body with no `[` has no array: the common single-line movement skips this.)
            let array = if bytes.contains(&b'[') {
                let input: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
                let shape = serde_json::to_value(&body).unwrap_or_default();
                array_for_object(&input, &shape, "")
            } else {
                None
            };
            match array {
                Some(field) => Err(ApiError::Validation(vec![FieldError::new(
                    if field.is_empty() {
                        "body".to_owned()
                    } else {
                        field
                    },
                    "must be a JSON object",
                )])),
                None => Ok(body),
            }
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() {
                let field = if path == "." { "body".to_owned() } else { path };
                Err(ApiError::Validation(vec![FieldError::new(
                    field,
                    strip_position(&inner.to_string()),
                )]))
            } else {
                Err(ApiError::MalformedJson(inner.to_string()))
            }
        }
    }
}

/// The first place (`selector`, `lines[1]`; "" for the body itself) where `input` has an array
/// and `shape`, the body as read, an object.
pub(super) fn array_for_object(
    input: &serde_json::Value,
    shape: &serde_json::Value,
    path: &str,
) -> Option<String> {
    use serde_json::Value;
    match (input, shape) {
        (Value::Array(_), Value::Object(_)) => Some(path.to_owned()),
        (Value::Object(given), Value::Object(read)) => read.iter().find_map(|(k, v)| {
            let field = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            given.get(k).and_then(|g| array_for_object(g, v, &field))
        }),
        (Value::Array(given), Value::Array(read)) => given
            .iter()
            .zip(read)
            .enumerate()
            .find_map(|(i, (g, r))| array_for_object(g, r, &format!("{path}[{i}]"))),
        _ => None,
    }
}

pub(super) fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Query parameters of a listing.
pub(crate) struct Query(pub(crate) BTreeMap<String, String>);

impl Query {
    pub(super) fn parse(raw: Option<&str>) -> Self {
        let mut map = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(percent_decode(k, true), percent_decode(v, true));
        }
        Self(map)
    }

    pub(super) fn page(&self) -> Result<(i32, Option<&str>), ApiError> {
        self.page_with(&[])
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Page parameters, accepting also the listing's own filter parameters.
    pub(crate) fn page_with(&self, filters: &[&str]) -> Result<(i32, Option<&str>), ApiError> {
        let mut errors = Vec::new();
        self.refuse_unknown(&mut errors, |k| {
            is_page_parameter(k) || filters.contains(&k)
        });
        let limit = self.number("limit", DEFAULT_PAGE, MAX_PAGE, &mut errors);
        let cursor = self.cursor(&mut errors);
        if errors.is_empty() {
            Ok((limit, cursor))
        } else {
            Err(ApiError::InvalidParameter(errors))
        }
    }
}

/// `limit` or `cursor`, which every listing takes.
pub(crate) fn is_page_parameter(key: &str) -> bool {
    key == "limit" || key == "cursor"
}

impl Query {
    /// Reports each parameter that `known` does not accept.
    pub(crate) fn refuse_unknown(
        &self,
        errors: &mut Vec<FieldError>,
        known: impl Fn(&str) -> bool,
    ) {
        for k in self.keys().filter(|k| !known(k)) {
            errors.push(FieldError::new(k, "unknown query parameter"));
        }
    }

    /// The whole number `name`, from 1 to `max` (`default` when absent); any other value is
    /// reported in `errors`.
    pub(crate) fn number<N>(
        &self,
        name: &str,
        default: N,
        max: N,
        errors: &mut Vec<FieldError>,
    ) -> N
    where
        N: std::str::FromStr + PartialOrd + From<u8> + std::fmt::Display + Copy,
    {
        match self.get(name).map(str::parse::<N>) {
            None => default,
            Some(Ok(n)) if (N::from(1)..=max).contains(&n) => n,
            Some(_) => {
                errors.push(FieldError::new(
                    name,
                    format!("must be an integer from 1 to {max}"),
                ));
                default
            }
        }
    }

    /// The parameter `name` read by `parse`, if sent; a value it refuses is reported in `errors`.
    pub(crate) fn param<T>(
        &self,
        name: &str,
        errors: &mut Vec<FieldError>,
        parse: impl FnOnce(&str) -> Result<T, FieldError>,
    ) -> Option<T> {
        parse(self.get(name)?).map_err(|e| errors.push(e)).ok()
    }

    /// The `cursor`, if sent; one that no page could have ended with is reported in `errors`.
    pub(crate) fn cursor(&self, errors: &mut Vec<FieldError>) -> Option<&str> {
        let cursor = self.get("cursor");
        if cursor.is_some_and(|c| c.is_empty() || c.len() > 4096) {
            errors.push(FieldError::new("cursor", "not a cursor this API issued"));
        }
        cursor
    }
}

/// Decodes `%XX` escapes; `+` is a space only in a query string (`plus_is_space`).
pub(super) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    pub(super) fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi * 16 + lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
