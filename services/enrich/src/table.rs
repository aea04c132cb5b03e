//! Small helpers: reading the reference CSV files with good error messages, and
//! allocation-free ASCII case folding for look-ups.

use std::borrow::Cow;
use std::io::Cursor;
use std::path::PathBuf;

use lantern_pipelines::PipelineFiles;

use crate::EnrichError;

/// A reference CSV file opened with its header resolved to column indexes.
pub(crate) struct Table {
    pub path: PathBuf,
    reader: csv::Reader<Cursor<Cow<'static, [u8]>>>,
    headers: csv::StringRecord,
}

impl Table {
    /// Opens `name` (e.g. `reference/places/lsoa.csv`) from `files`.
    pub fn open(files: &PipelineFiles, name: &str) -> Result<Self, EnrichError> {
        let path = files.display_name(name);
        let file = Cursor::new(files.read(name)?);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(file);
        let headers = reader
            .headers()
            .map_err(|source| EnrichError::Csv {
                path: path.clone(),
                line: 1,
                source,
            })?
            .clone();
        Ok(Self {
            path,
            reader,
            headers,
        })
    }

    /// Index of a required column.
    pub fn column(&self, name: &'static str) -> Result<usize, EnrichError> {
        self.headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| EnrichError::MissingColumn {
                path: self.path.clone(),
                column: name,
            })
    }

    /// Calls `f(record)` for every data row; an `Err(message)` from `f` becomes
    /// [`EnrichError::InvalidRow`] with this file's path and the row's line number.
    pub fn for_each(
        &mut self,
        mut f: impl FnMut(&csv::StringRecord) -> Result<(), String>,
    ) -> Result<(), EnrichError> {
        let mut record = csv::StringRecord::new();
        loop {
            let line = self.reader.position().line();
            match self.reader.read_record(&mut record) {
                Ok(true) => {
                    let line = record.position().map_or(line, |p| p.line());
                    f(&record).map_err(|message| EnrichError::InvalidRow {
                        path: self.path.clone(),
                        line,
                        message,
                    })?;
                }
                Ok(false) => return Ok(()),
                Err(source) => {
                    let line = source.position().map_or(line, |p| p.line());
                    return Err(EnrichError::Csv {
                        path: self.path.clone(),
                        line,
                        source,
                    });
                }
            }
        }
    }
}

/// Longest key that the folded look-ups handle; longer inputs match nothing.
const FOLD_CAP: usize = 64;

/// How a look-up key is normalised before matching.
#[derive(Clone, Copy)]
pub(crate) enum Fold {
    /// ASCII upper case (offence codes, NFIB codes).
    Upper,
    /// ASCII lower case (crime type names).
    Lower,
    /// ASCII lower case with spaces and hyphens turned into underscores
    /// (premises and business incident types: "Convenience Store" -> "convenience_store").
    Snake,
}

/// Normalises `key` (trimmed, folded) into a stack buffer and passes it to `f`, without
/// allocating. Returns `None` if the key is longer than the buffer.
#[inline]
pub(crate) fn with_folded<R>(key: &str, fold: Fold, f: impl FnOnce(&str) -> R) -> Option<R> {
    let key = key.trim();
    let bytes = key.as_bytes();
    if bytes.len() > FOLD_CAP {
        return None;
    }
    let mut buf = [0u8; FOLD_CAP];
    for (dst, &b) in buf.iter_mut().zip(bytes) {
        *dst = match fold {
            Fold::Upper => b.to_ascii_uppercase(),
            Fold::Lower => b.to_ascii_lowercase(),
            Fold::Snake => match b {
                b' ' | b'-' => b'_',
                _ => b.to_ascii_lowercase(),
            },
        };
    }
    // Only ASCII bytes were changed (into ASCII bytes), so the buffer is still valid UTF-8.
    std::str::from_utf8(&buf[..bytes.len()]).ok().map(f)
}

/// Owned folded form of `key`, used when building the tables.
pub(crate) fn folded(key: &str, fold: Fold) -> String {
    let key = key.trim();
    match fold {
        Fold::Upper => key.to_ascii_uppercase(),
        Fold::Lower => key.to_ascii_lowercase(),
        Fold::Snake => key
            .chars()
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect(),
    }
}
