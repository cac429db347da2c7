//! Decoding `COPY … TO STDOUT` text format (the default: tab-separated, `\N` for NULL,
//! backslash escapes) into fields.
//!
//! Each field's unescaped text is exactly the type's output function text — what pgoutput sends
//! for the same value — so the snapshot and streaming paths share one parser (`text::parse`).
//!
//! Invariant: a raw newline (0x0A) only ever ends a row and a raw tab only separates fields: COPY
//! escapes both inside values. A field with no backslash is borrowed, not copied.
//! Failure: bytes that are not UTF-8 after unescaping are an error (the connection's client
//! encoding is UTF-8).

use std::borrow::Cow;

/// Split complete rows out of a byte stream that arrives in arbitrary pieces.
#[derive(Debug, Default)]
pub struct LineBuffer {
    carry: Vec<u8>,
}

impl LineBuffer {
    /// Call `f` on every complete row (without its newline) in `carry + chunk`; keep the rest.
    pub fn feed<E>(&mut self, chunk: &[u8], mut f: impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        let mut rest = chunk;
        if !self.carry.is_empty() {
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                self.carry.extend_from_slice(rest);
                return Ok(());
            };
            self.carry.extend_from_slice(&rest[..nl]);
            let line = std::mem::take(&mut self.carry);
            f(&line)?;
            rest = &rest[nl + 1..];
        }
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            f(&rest[..nl])?;
            rest = &rest[nl + 1..];
        }
        self.carry.extend_from_slice(rest);
        Ok(())
    }

    /// Bytes after the last newline (a well-formed COPY stream leaves none).
    pub fn is_empty(&self) -> bool {
        self.carry.is_empty()
    }
}

/// The fields of one row: `None` is SQL NULL.
pub fn split_fields<'a>(line: &'a [u8], out: &mut Vec<Option<Cow<'a, str>>>) -> Result<(), String> {
    out.clear();
    for raw in line.split(|&b| b == b'\t') {
        if raw == b"\\N" {
            out.push(None);
            continue;
        }
        let text = if raw.contains(&b'\\') {
            Cow::Owned(String::from_utf8(unescape(raw)).map_err(|_| "COPY field is not UTF-8".to_owned())?)
        } else {
            Cow::Borrowed(std::str::from_utf8(raw).map_err(|_| "COPY field is not UTF-8".to_owned())?)
        };
        out.push(Some(text));
    }
    Ok(())
}

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        if b != b'\\' || i >= raw.len() {
            out.push(b);
            continue;
        }
        let e = raw[i];
        i += 1;
        match e {
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            b'x' => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            i += 1;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    out.push(b'x');
                } else {
                    out.push(v as u8);
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &[u8]) -> Vec<Option<String>> {
        let mut out = Vec::new();
        split_fields(line, &mut out).unwrap();
        out.into_iter().map(|f| f.map(Cow::into_owned)).collect()
    }

    #[test]
    fn nulls_escapes_and_plain_fields() {
        assert_eq!(
            fields(b"1\t\\N\ta\\tb\\nc\\\\d\t{\"x\\\\\"y\"}\t"),
            vec![
                Some("1".into()),
                None,
                Some("a\tb\nc\\d".into()),
                Some("{\"x\\\"y\"}".into()),
                Some(String::new())
            ]
        );
        assert_eq!(fields(b"\\101\\x42\\r"), vec![Some("AB\r".into())]);
        assert_eq!(fields("é".as_bytes()), vec![Some("é".into())]);
    }

    #[test]
    fn rows_split_across_chunks() {
        let mut buf = LineBuffer::default();
        let mut rows: Vec<Vec<u8>> = Vec::new();
        for piece in [&b"1\ta\n2\t"[..], b"b", b"\n3\tc\n", b"4\td\n"] {
            buf.feed(piece, |l| {
                rows.push(l.to_vec());
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        assert!(buf.is_empty());
        assert_eq!(rows, vec![b"1\ta".to_vec(), b"2\tb".to_vec(), b"3\tc".to_vec(), b"4\td".to_vec()]);
    }
}
