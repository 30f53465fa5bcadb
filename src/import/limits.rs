//! Size caps on what one record may hold, enforced on the byte stream before the CSV reader
//! or the JSON deserializer buffers anything: a 100 MB cell is refused after its first
//! [`Limits::max_field_bytes`] bytes, so memory stays flat whatever the upload holds.
//!
//! [`Capped`] follows just enough of the syntax (CSV quoting as the `csv` crate reads it; JSON
//! strings, escapes and nesting) to know where a field, a record and a row are, and fails the
//! read with [`TooBig`] (kept in a shared slot, so the front end can turn it into a problem
//! naming the row) when one is over its cap.

use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// Default cap on one CSV cell or one JSON string: 64 KiB.
pub const DEFAULT_MAX_FIELD_BYTES: usize = 64 * 1024;
/// Default cap on one CSV row or one element of a JSON batch: 4 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 4 * 1024 * 1024;

/// How large one field and one record may be, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// One CSV cell, or one JSON string value or key.
    pub max_field_bytes: usize,
    /// One CSV row (all its cells), or one element of a JSON batch.
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_field_bytes: DEFAULT_MAX_FIELD_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// A field or record over its cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooBig {
    /// The 1-based data row (CSV; 0 is the header) or array element (JSON).
    pub(crate) row: usize,
    /// The 0-based column (CSV only).
    pub(crate) column: Option<usize>,
    /// A field (`true`) or a whole record (`false`).
    pub(crate) field: bool,
    /// The cap that was passed.
    pub(crate) limit: usize,
}

impl TooBig {
    /// A stand-in for a refused header.
    pub(crate) const HEADER: TooBig = TooBig {
        row: 0,
        column: None,
        field: true,
        limit: 0,
    };

    /// The sentence of the problem, completing "This …".
    pub(crate) fn message(&self, what_field: &str) -> String {
        if self.field {
            format!(
                "{what_field} is longer than {} bytes, the most one field may hold \
                 (MAX_FIELD_BYTES); nothing was written. Shorten it or split the data.",
                self.limit
            )
        } else {
            format!(
                "This record is longer than {} bytes, the most one record may hold \
                 (MAX_RECORD_BYTES); nothing was written. Split it or shorten its fields.",
                self.limit
            )
        }
    }
}

/// Where a [`Capped`] reader reports what it refused.
pub(crate) type Slot = Rc<Cell<Option<TooBig>>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Csv {
    /// At the start of a cell.
    Start,
    /// In an unquoted cell (a quote here is literal, as the csv crate reads it).
    Unquoted,
    /// Inside quotes.
    Quoted,
    /// Just after a quote inside quotes: a second quote is an escaped one.
    QuoteInQuoted,
}

#[derive(Clone, Copy)]
enum Syntax {
    Csv {
        state: Csv,
        column: usize,
    },
    Json {
        depth: usize,
        in_string: bool,
        escaped: bool,
    },
}

/// A reader that fails once a field or a record is over its cap.
pub(crate) struct Capped<R> {
    inner: R,
    limits: Limits,
    syntax: Syntax,
    row: usize,
    field_len: usize,
    record_len: usize,
    slot: Slot,
}

impl<R: Read> Capped<R> {
    /// Caps a CSV stream.
    pub(crate) fn csv(inner: R, limits: Limits) -> (Capped<R>, Slot) {
        Self::new(
            inner,
            limits,
            Syntax::Csv {
                state: Csv::Start,
                column: 0,
            },
        )
    }

    /// Caps a JSON stream (a batch: an array of records).
    pub(crate) fn json(inner: R, limits: Limits) -> (Capped<R>, Slot) {
        Self::new(
            inner,
            limits,
            Syntax::Json {
                depth: 0,
                in_string: false,
                escaped: false,
            },
        )
    }

    fn new(inner: R, limits: Limits, syntax: Syntax) -> (Capped<R>, Slot) {
        let slot: Slot = Rc::default();
        let capped = Capped {
            inner,
            limits,
            syntax,
            row: 0,
            field_len: 0,
            record_len: 0,
            slot: Rc::clone(&slot),
        };
        (capped, slot)
    }

    /// Follows `bytes`; the first violation, if any.
    fn scan(&mut self, bytes: &[u8]) -> Option<TooBig> {
        let (max_field, max_record) = (self.limits.max_field_bytes, self.limits.max_record_bytes);
        match &mut self.syntax {
            Syntax::Csv { state, column } => {
                for &b in bytes {
                    let end_record = match (*state, b) {
                        (Csv::Quoted, b'"') => {
                            *state = Csv::QuoteInQuoted;
                            false
                        }
                        (Csv::Quoted, _) => false,
                        (Csv::QuoteInQuoted, b'"') => {
                            *state = Csv::Quoted;
                            false
                        }
                        (Csv::Start, b'"') => {
                            *state = Csv::Quoted;
                            false
                        }
                        (_, b',') => {
                            *state = Csv::Start;
                            *column += 1;
                            self.field_len = 0;
                            self.record_len += 1;
                            continue;
                        }
                        (_, b'\n' | b'\r') => true,
                        (_, _) => {
                            *state = Csv::Unquoted;
                            false
                        }
                    };
                    if end_record {
                        // Blank lines are skipped by the reader and not counted as rows.
                        if self.record_len > 0 {
                            self.row += 1;
                        }
                        self.record_len = 0;
                        self.field_len = 0;
                        *column = 0;
                        *state = Csv::Start;
                        continue;
                    }
                    self.field_len += 1;
                    self.record_len += 1;
                    if self.field_len > max_field {
                        return Some(TooBig {
                            row: self.row,
                            column: Some(*column),
                            field: true,
                            limit: max_field,
                        });
                    }
                    if self.record_len > max_record {
                        return Some(TooBig {
                            row: self.row,
                            column: None,
                            field: false,
                            limit: max_record,
                        });
                    }
                }
            }
            Syntax::Json {
                depth,
                in_string,
                escaped,
            } => {
                for &b in bytes {
                    let before = *depth;
                    if *in_string {
                        if *escaped {
                            *escaped = false;
                        } else if b == b'\\' {
                            *escaped = true;
                        } else if b == b'"' {
                            *in_string = false;
                        }
                        self.field_len += 1;
                        if self.field_len > max_field {
                            return Some(TooBig {
                                row: self.row.max(1),
                                column: None,
                                field: true,
                                limit: max_field,
                            });
                        }
                    } else {
                        if before == 1 && b == b',' {
                            self.record_len = 0;
                            continue;
                        }
                        if before == 1 && self.record_len == 0 {
                            if b.is_ascii_whitespace() || b == b']' {
                                *depth -= usize::from(b == b']');
                                continue;
                            }
                            // The first byte of the next element.
                            self.row += 1;
                        }
                        match b {
                            b'"' => {
                                *in_string = true;
                                self.field_len = 0;
                            }
                            b'[' | b'{' => *depth += 1,
                            b']' | b'}' => *depth = depth.saturating_sub(1),
                            _ => {}
                        }
                    }
                    if before >= 1 && self.row > 0 {
                        self.record_len += 1;
                        if self.record_len > max_record {
                            return Some(TooBig {
                                row: self.row,
                                column: None,
                                field: false,
                                limit: max_record,
                            });
                        }
                    }
                }
            }
        }
        None
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(t) = self.slot.get() {
            return Err(refused(t));
        }
        let n = self.inner.read(buf)?;
        if let Some(t) = self.scan(&buf[..n]) {
            self.slot.set(Some(t));
            return Err(refused(t));
        }
        Ok(n)
    }
}

fn refused(t: TooBig) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("row {} is over the size cap of {} bytes", t.row, t.limit),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(field: usize, record: usize) -> Limits {
        Limits {
            max_field_bytes: field,
            max_record_bytes: record,
        }
    }

    fn read_all(mut r: impl Read) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(out),
                n => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    #[test]
    fn csv_cells_rows_quotes_and_blank_lines() {
        let body = "id,name\n\nW1,\"a, \"\"quoted\"\"\nname\"\r\nW2,12\" pipe\nW3,xxxxxxxxxxxxxxxxxxxxxxxxxx\n";
        let (r, slot) = Capped::csv(body.as_bytes(), limits(25, 100));
        assert!(read_all(r).is_err());
        assert_eq!(
            slot.get(),
            Some(TooBig {
                row: 3,
                column: Some(1),
                field: true,
                limit: 25
            })
        );
        let (r, slot) = Capped::csv(body.as_bytes(), limits(100, 100));
        assert_eq!(read_all(r).unwrap(), body.as_bytes());
        assert_eq!(slot.get(), None);
        let (r, slot) = Capped::csv("id,name\nW1,abc\nW2,abcdefgh\n".as_bytes(), limits(100, 8));
        assert!(read_all(r).is_err());
        assert_eq!(slot.get().map(|t| (t.row, t.field)), Some((2, false)));
    }

    #[test]
    fn json_elements_and_strings() {
        let body = r#" [ {"id": "a\"b", "lines": [1, 2]}, {"id": "0123456789x"} ] "#;
        let (r, slot) = Capped::json(body.as_bytes(), limits(10, 1000));
        let read = read_all(r);
        assert!(read.is_err(), "{read:?}");
        assert_eq!(slot.get().map(|t| (t.row, t.field)), Some((2, true)));
        let (r, slot) = Capped::json(body.as_bytes(), limits(100, 30));
        assert!(read_all(r).is_err());
        assert_eq!(slot.get().map(|t| (t.row, t.field)), Some((1, false)));
        let (r, _) = Capped::json(body.as_bytes(), limits(100, 1000));
        assert_eq!(read_all(r).unwrap(), body.as_bytes());
    }
}
