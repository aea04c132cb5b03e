//! The single error type of the crate, and the mapping from serde errors.
//!
//! Dead-letter handling needs to know *which stage* rejected a message and
//! *which field* was at fault, so both are carried as data rather than only
//! folded into the message text.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::de::ObjectOnly;

/// Which stage rejected the bytes.
///
/// `Decode`: not JSON, wrong JSON type, unknown field, missing required
/// field, unknown enum value of a closed Rust enum, bad date-time.
/// `Validate`: the bytes had the right shape but broke a constraint
/// (range, length, pattern, allowed values, cross-field rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Decode,
    Validate,
}

impl Stage {
    /// Stable lower-case name, used in metrics labels and dead-letter records.
    pub fn as_str(&self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Validate => "validate",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{stage} error at {field}: {reason}")]
pub struct SchemaError {
    pub stage: Stage,
    /// JSON-pointer-like path of the offending field, e.g. `/location/lat`;
    /// empty when the fault is not tied to one field (e.g. not JSON at all).
    pub field: String,
    pub reason: String,
}

impl SchemaError {
    pub(crate) fn validate(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SchemaError {
            stage: Stage::Validate,
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn decode(field: impl Into<String>, reason: impl Into<String>) -> Self {
        SchemaError {
            stage: Stage::Decode,
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Deserialize `T` from JSON bytes, turning any failure into a `Decode` error.
/// The top level must be an object (see [`ObjectOnly`]) with nothing after it.
///
/// The fast path is one plain serde_json pass. Only when that fails do we
/// decode a second time through `serde_path_to_error` to learn the path of
/// the failing field: rejects are rare, so the happy path pays nothing for
/// good error locations.
pub(crate) fn decode_json<T>(bytes: &[u8]) -> Result<T, SchemaError>
where
    T: serde::de::DeserializeOwned,
{
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match T::deserialize(ObjectOnly(&mut de)).and_then(|value| de.end().map(|()| value)) {
        Ok(value) => Ok(value),
        Err(first) => {
            Err(locate::<T>(bytes).unwrap_or_else(|| SchemaError::decode("", first.to_string())))
        }
    }
}

/// Re-run the decode with path tracking. `None` if it unexpectedly succeeds.
fn locate<T>(bytes: &[u8]) -> Option<SchemaError>
where
    T: serde::de::DeserializeOwned,
{
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let err = match serde_path_to_error::deserialize::<_, T>(ObjectOnly(&mut de)) {
        // Only trailing characters can fail now; they belong to no field.
        Ok(_) => {
            return de
                .end()
                .err()
                .map(|e| SchemaError::decode("", e.to_string()));
        }
        Err(err) => err,
    };
    let mut field = pointer(err.path());
    let reason = err.inner().to_string();
    // For a missing or repeated field serde reports the path of the
    // enclosing object; name the member itself, as a reader of the dead
    // letter wants.
    let member = backticked_after(&reason, "missing field `")
        .or_else(|| backticked_after(&reason, "duplicate field `"));
    if let Some(name) = member {
        push_segment(&mut field, name);
    }
    Some(SchemaError::decode(field, reason))
}

/// Render a serde path as a JSON pointer (RFC 6901 escaping).
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => push_segment(&mut out, &index.to_string()),
            Segment::Map { key } => push_segment(&mut out, key),
            Segment::Enum { variant } => push_segment(&mut out, variant),
            Segment::Unknown => push_segment(&mut out, "?"),
        }
    }
    out
}

fn push_segment(out: &mut String, segment: &str) {
    out.push('/');
    for c in segment.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
}

/// `backticked_after("missing field `x` at ..", "missing field `")` == Some("x").
fn backticked_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    rest.find('`').map(|end| &rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_stage_field_and_reason() {
        let e = SchemaError::validate("/location/lat", "must be between -90 and 90");
        assert_eq!(
            e.to_string(),
            "validate error at /location/lat: must be between -90 and 90"
        );
    }

    #[test]
    fn pointer_segments_are_escaped() {
        let mut s = String::new();
        push_segment(&mut s, "a/b~c");
        assert_eq!(s, "/a~1b~0c");
    }

    #[test]
    fn backticked_extracts_name() {
        assert_eq!(
            backticked_after("missing field `kind` at line 1 column 3", "missing field `"),
            Some("kind")
        );
        assert_eq!(backticked_after("nothing here", "missing field `"), None);
    }
}
