//! Line numbers for CSV records.
//!
//! The csv crate's `Position::line()` is off for CRLF files: a record's position points at the
//! `\n` left over from the previous record's `\r\n`, before that newline is counted, so every
//! data row of a police.uk file would be reported one line too early (and blank lines shift it
//! further). This reader wrapper records where every line starts and which bytes are line
//! terminators, so a record's byte offset maps to the line a person sees in an editor.

use std::io::{self, Read};

/// A `Read` adapter that indexes line starts of everything read through it.
pub(crate) struct LineTracker<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Byte offset of the first byte of each line; line 1 starts at 0.
    line_starts: Vec<u64>,
    /// Byte offsets of every `\r` and `\n`, ascending.
    terminators: Vec<u64>,
    /// The previous byte read was `\r` (a following `\n` belongs to the same line break).
    after_cr: bool,
}

impl<R> LineTracker<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            line_starts: vec![0],
            terminators: Vec::new(),
            after_cr: false,
        }
    }

    /// 1-based line of the first non-terminator byte at or after `byte` (a record's start as
    /// reported by the csv crate may sit on the line break before it).
    pub(crate) fn line_of(&self, byte: u64) -> u64 {
        let mut b = byte;
        let mut i = self.terminators.partition_point(|&t| t < b);
        while self.terminators.get(i) == Some(&b) {
            b += 1;
            i += 1;
        }
        self.line_starts.partition_point(|&s| s <= b) as u64
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for (i, &c) in buf[..n].iter().enumerate() {
            let at = self.offset + i as u64;
            match c {
                b'\n' => {
                    self.terminators.push(at);
                    if self.after_cr {
                        // `\r\n`: one break; the line starts after the `\n`, not the `\r`.
                        if let Some(last) = self.line_starts.last_mut() {
                            *last = at + 1;
                        }
                    } else {
                        self.line_starts.push(at + 1);
                    }
                    self.after_cr = false;
                }
                b'\r' => {
                    self.terminators.push(at);
                    self.line_starts.push(at + 1);
                    self.after_cr = true;
                }
                _ => self.after_cr = false,
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_lines(input: &str) -> Vec<u64> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(LineTracker::new(input.as_bytes()));
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while rdr.read_byte_record(&mut rec).unwrap() {
            let byte = rec.position().unwrap().byte();
            out.push(rdr.get_ref().line_of(byte));
        }
        out
    }

    #[test]
    fn crlf_lf_cr_blank_lines_and_quoted_newlines() {
        assert_eq!(record_lines("h\r\na\r\nb\r\n\r\nc\r\n"), [1, 2, 3, 5]);
        assert_eq!(record_lines("h\na\nb\n\nc"), [1, 2, 3, 5]);
        assert_eq!(record_lines("h\ra\rb\r"), [1, 2, 3]);
        assert_eq!(record_lines("h\r\na,\"x\r\ny\"\r\nb\r\n"), [1, 2, 4]);
    }
}
