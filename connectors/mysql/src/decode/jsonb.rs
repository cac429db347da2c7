//! MySQL 8 binary JSON (the storage format of the JSON type, `json_binary.h`) to JSON text.
//!
//! The text follows MySQL's own rendering (what `SELECT json_col` returns): `{"k": v, "k2": v2}`
//! with keys in stored order (MySQL sorts them by length, then bytes), `[1, 2]`, decimals as
//! numbers, DATE/TIME/DATETIME/TIMESTAMP scalars as quoted strings with six fraction digits
//! (`"2015-01-15 23:24:25.000000"`), other opaque values as `"base64:type<N>:<data>"`. Doubles use
//! the shortest text that reads back to the same value; its exponent formatting can differ from
//! MySQL's (`1e20` vs `1e+20`), never the value. MariaDB stores JSON as text and never uses this.
//!
//! Format: `type byte` then value. Objects/arrays: element count and byte size (2 bytes each in
//! the small form, 4 in the large), key entries (offset, 2-byte length), value entries (type plus
//! an offset, or the value itself when it fits), then keys and values; offsets are relative to the
//! start of the container. Strings and opaque data carry a 7-bit variable-length length. Nesting
//! is limited to 100 levels (MySQL's own limit) so malformed input cannot exhaust the stack.

use super::decimal::decimal_from_bytes;
use super::temporal::{datetime_from_packed, time_from_packed, Temporal};

const SMALL_OBJECT: u8 = 0x00;
const LARGE_OBJECT: u8 = 0x01;
const SMALL_ARRAY: u8 = 0x02;
const LARGE_ARRAY: u8 = 0x03;
const LITERAL: u8 = 0x04;
const INT16: u8 = 0x05;
const UINT16: u8 = 0x06;
const INT32: u8 = 0x07;
const UINT32: u8 = 0x08;
const INT64: u8 = 0x09;
const UINT64: u8 = 0x0a;
const DOUBLE: u8 = 0x0b;
const STRING: u8 = 0x0c;
const OPAQUE: u8 = 0x0f;

const MAX_DEPTH: usize = 100;

/// Convert one binary JSON document to text. An empty document is JSON `null` (as in MySQL).
pub fn to_text(doc: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(doc.len() * 2);
    match doc.split_first() {
        None => out.push_str("null"),
        Some((&t, rest)) => write_value(&mut out, t, rest, 0)?,
    }
    Ok(out)
}

fn get(b: &[u8], at: usize, n: usize) -> Result<&[u8], String> {
    b.get(at..at.checked_add(n).ok_or("offset overflow")?)
        .ok_or_else(|| "binary JSON is truncated".to_owned())
}

fn uint_le(b: &[u8], at: usize, n: usize) -> Result<u64, String> {
    Ok(get(b, at, n)?.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x)))
}

/// 7 bits per byte, least significant group first, top bit = more; at most 5 bytes.
fn varlen(b: &[u8], at: usize) -> Result<(usize, usize), String> {
    let mut len = 0usize;
    for i in 0..5 {
        let byte = *b.get(at + i).ok_or("binary JSON length is truncated")?;
        len |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((len, i + 1));
        }
    }
    Err("binary JSON length is too long".into())
}

fn write_value(out: &mut String, t: u8, data: &[u8], depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("binary JSON nests deeper than 100 levels".into());
    }
    match t {
        SMALL_OBJECT | LARGE_OBJECT => write_container(out, data, t == LARGE_OBJECT, true, depth),
        SMALL_ARRAY | LARGE_ARRAY => write_container(out, data, t == LARGE_ARRAY, false, depth),
        LITERAL => write_literal(out, *data.first().ok_or("empty literal")?),
        INT16 => push(out, (uint_le(data, 0, 2)? as u16 as i16).to_string()),
        UINT16 => push(out, uint_le(data, 0, 2)?.to_string()),
        INT32 => push(out, (uint_le(data, 0, 4)? as u32 as i32).to_string()),
        UINT32 => push(out, uint_le(data, 0, 4)?.to_string()),
        INT64 => push(out, (uint_le(data, 0, 8)? as i64).to_string()),
        UINT64 => push(out, uint_le(data, 0, 8)?.to_string()),
        DOUBLE => push(out, format_double(f64::from_bits(uint_le(data, 0, 8)?))),
        STRING => {
            let (len, n) = varlen(data, 0)?;
            let s = std::str::from_utf8(get(data, n, len)?).map_err(|e| format!("JSON string: {e}"))?;
            write_string(out, s);
            Ok(())
        }
        OPAQUE => {
            let field_type = *data.first().ok_or("empty opaque value")?;
            let (len, n) = varlen(data, 1)?;
            write_opaque(out, field_type, get(data, 1 + n, len)?)
        }
        other => Err(format!("unknown binary JSON type {other:#x}")),
    }
}

fn push(out: &mut String, s: String) -> Result<(), String> {
    out.push_str(&s);
    Ok(())
}

fn write_literal(out: &mut String, v: u8) -> Result<(), String> {
    out.push_str(match v {
        0 => "null",
        1 => "true",
        2 => "false",
        other => return Err(format!("unknown JSON literal {other}")),
    });
    Ok(())
}

/// Does a value of type `t` live inside its value entry instead of at an offset?
fn inlined(t: u8, large: bool) -> bool {
    matches!(t, LITERAL | INT16 | UINT16) || (large && matches!(t, INT32 | UINT32))
}

fn write_container(
    out: &mut String,
    data: &[u8],
    large: bool,
    object: bool,
    depth: usize,
) -> Result<(), String> {
    let w = if large { 4 } else { 2 };
    let count = usize::try_from(uint_le(data, 0, w)?).map_err(|_| "count overflow")?;
    let size = usize::try_from(uint_le(data, w, w)?).map_err(|_| "size overflow")?;
    let data = data.get(..size).ok_or("binary JSON container is truncated")?;
    let key_entries = 2 * w;
    let value_entries = key_entries + if object { count * (w + 2) } else { 0 };
    out.push(if object { '{' } else { '[' });
    for i in 0..count {
        if i > 0 {
            out.push_str(", ");
        }
        if object {
            let at = key_entries + i * (w + 2);
            let key_off = usize::try_from(uint_le(data, at, w)?).map_err(|_| "offset overflow")?;
            let key_len = usize::try_from(uint_le(data, at + w, 2)?).map_err(|_| "length overflow")?;
            let key =
                std::str::from_utf8(get(data, key_off, key_len)?).map_err(|e| format!("JSON key: {e}"))?;
            write_string(out, key);
            out.push_str(": ");
        }
        let at = value_entries + i * (1 + w);
        let t = *get(data, at, 1)?.first().ok_or("truncated value entry")?;
        if inlined(t, large) {
            write_value(out, t, get(data, at + 1, w)?, depth + 1)?;
        } else {
            let off = usize::try_from(uint_le(data, at + 1, w)?).map_err(|_| "offset overflow")?;
            write_value(out, t, data.get(off..).ok_or("value offset past the end")?, depth + 1)?;
        }
    }
    out.push(if object { '}' } else { ']' });
    Ok(())
}

fn write_opaque(out: &mut String, field_type: u8, data: &[u8]) -> Result<(), String> {
    const NEWDECIMAL: u8 = 246;
    const DATE: u8 = 10;
    const TIME: u8 = 11;
    const DATETIME: u8 = 12;
    const TIMESTAMP: u8 = 7;
    match field_type {
        NEWDECIMAL => {
            let (&precision, rest) = data.split_first().ok_or("empty JSON decimal")?;
            let (&scale, digits) = rest.split_first().ok_or("empty JSON decimal")?;
            let mut digits = digits.to_vec();
            out.push_str(&decimal_from_bytes(&mut digits, precision, scale)?);
        }
        DATE | DATETIME | TIMESTAMP | TIME => {
            let packed = uint_le(data, 0, 8)? as i64;
            let text = if field_type == TIME {
                format_time(time_from_packed(packed))
            } else {
                let (a, frac) =
                    (packed.unsigned_abs() as i64 >> 24, packed.unsigned_abs() as i64 % (1 << 24));
                let Temporal::Value(micros) = datetime_from_packed(a, frac) else {
                    return Err("JSON date value is a zero date".into());
                };
                format_datetime(micros, field_type == DATE)
            };
            write_string(out, &text);
        }
        other => write_string(out, &format!("base64:type{other}:{}", base64(data))),
    }
    Ok(())
}

fn format_time(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let a = micros.unsigned_abs();
    let secs = a / 1_000_000;
    format!("{sign}{:02}:{:02}:{:02}.{:06}", secs / 3600, secs / 60 % 60, secs % 60, a % 1_000_000)
}

fn format_datetime(micros: i64, date_only: bool) -> String {
    let days = micros.div_euclid(86_400_000_000);
    let rem = micros.rem_euclid(86_400_000_000);
    let (y, m, d) = sluice_core::civil::civil_from_days(days);
    if date_only {
        return format!("{y:04}-{m:02}-{d:02}");
    }
    let secs = rem / 1_000_000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:06}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rem % 1_000_000
    )
}

/// Shortest round-trip text, always with a `.` or exponent so it reads back as a double.
fn format_double(v: f64) -> String {
    if !v.is_finite() {
        // Binary JSON cannot hold these; keep the output valid JSON.
        return "null".into();
    }
    format!("{v:?}")
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(to_text(&[]).unwrap(), "null");
        assert_eq!(to_text(&[LITERAL, 1]).unwrap(), "true");
        assert_eq!(to_text(&[INT16, 0xff, 0xff]).unwrap(), "-1");
        assert_eq!(
            to_text(&[UINT64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap(),
            "18446744073709551615"
        );
        let mut d = vec![DOUBLE];
        d.extend_from_slice(&1.5f64.to_le_bytes());
        assert_eq!(to_text(&d).unwrap(), "1.5");
        assert_eq!(to_text(&[STRING, 5, b'a', b'"', b'\n', b'\\', 0x01]).unwrap(), r#""a\"\n\\\u0001""#);
    }

    /// `{"a": 1, "bb": [true, "x"]}` built by hand from the documented layout.
    #[test]
    fn object_with_nested_array() {
        // Inner array: count 2, size, 2 value entries (3 bytes each), then the string "x".
        let mut arr = vec![2, 0, 0, 0];
        arr.extend_from_slice(&[LITERAL, 1, 0]);
        arr.extend_from_slice(&[STRING, 0, 0]); // offset patched below
        let str_off = arr.len() as u16;
        arr[8..10].copy_from_slice(&str_off.to_le_bytes());
        arr.extend_from_slice(&[1, b'x']);
        let size = arr.len() as u16;
        arr[2..4].copy_from_slice(&size.to_le_bytes());

        // Object: count 2, size, 2 key entries (4 bytes), 2 value entries (3 bytes), keys, values.
        let header = 4 + 2 * 4 + 2 * 3;
        let key_a = header as u16;
        let key_bb = key_a + 1;
        let arr_off = key_bb + 2;
        let mut obj = vec![2, 0, 0, 0];
        obj.extend_from_slice(&key_a.to_le_bytes());
        obj.extend_from_slice(&1u16.to_le_bytes());
        obj.extend_from_slice(&key_bb.to_le_bytes());
        obj.extend_from_slice(&2u16.to_le_bytes());
        obj.extend_from_slice(&[INT16, 1, 0]);
        obj.push(SMALL_ARRAY);
        obj.extend_from_slice(&arr_off.to_le_bytes());
        obj.extend_from_slice(b"abb");
        obj.extend_from_slice(&arr);
        let size = obj.len() as u16;
        obj[2..4].copy_from_slice(&size.to_le_bytes());

        let mut doc = vec![SMALL_OBJECT];
        doc.extend_from_slice(&obj);
        assert_eq!(to_text(&doc).unwrap(), r#"{"a": 1, "bb": [true, "x"]}"#);
        // Truncation is an error, not a panic.
        assert!(to_text(&doc[..doc.len() - 3]).is_err());
    }

    #[test]
    fn large_array_inlines_int32() {
        let mut arr = vec![1, 0, 0, 0, 0, 0, 0, 0];
        arr.push(INT32);
        arr.extend_from_slice(&(-7i32).to_le_bytes());
        let size = arr.len() as u32;
        arr[4..8].copy_from_slice(&size.to_le_bytes());
        let mut doc = vec![LARGE_ARRAY];
        doc.extend_from_slice(&arr);
        assert_eq!(to_text(&doc).unwrap(), "[-7]");
    }

    #[test]
    fn opaque_values() {
        // DECIMAL 12.34 as decimal(4,2): precision, scale, binary digits.
        let mut doc = vec![OPAQUE, 246, 4, 4, 2, 0x80 | 12, 34];
        assert_eq!(to_text(&doc).unwrap(), "12.34");
        // DATETIME 2015-01-15 23:24:25.5 packed: (ymdhms << 24) | micros.
        let ymd: i64 = ((2015 * 13 + 1) << 5) | 15;
        let hms: i64 = (23 << 12) | (24 << 6) | 25;
        let packed = (((ymd << 17) | hms) << 24) | 500_000;
        doc = vec![OPAQUE, 12, 8];
        doc.extend_from_slice(&packed.to_le_bytes());
        assert_eq!(to_text(&doc).unwrap(), r#""2015-01-15 23:24:25.500000""#);
        doc[1] = 10;
        doc[3..].copy_from_slice(&(((ymd << 17) << 24).to_le_bytes()));
        assert_eq!(to_text(&doc).unwrap(), r#""2015-01-15""#);
        // TIME -01:02:03
        let t = -(((1i64 << 12) | (2 << 6) | 3) << 24);
        doc = vec![OPAQUE, 11, 8];
        doc.extend_from_slice(&t.to_le_bytes());
        assert_eq!(to_text(&doc).unwrap(), r#""-01:02:03.000000""#);
        assert_eq!(to_text(&[OPAQUE, 252, 3, 1, 2, 3]).unwrap(), r#""base64:type252:AQID""#);
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(sluice_core::civil::civil_from_days(0), (1970, 1, 1));
        assert_eq!(sluice_core::civil::civil_from_days(-1), (1969, 12, 31));
    }
}
