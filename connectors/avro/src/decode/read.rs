//! Executing a compiled reader plan over Avro binary: the cursor, per-type value readers, and
//! the generic skipper (and JSON renderer) for fields the plan does not need or has no type for.
//!
//! Invariants: the plan was compiled from the writer schema of these bytes, so fields are read
//! in writer order with no lookups by name; nothing is allocated except the decoded values
//! themselves (row vectors, strings, byte vectors) — strings of the `source` and `transaction`
//! blocks are borrowed from the input until the event is assembled. Every length and count is
//! checked against the bytes that remain, so a corrupt record fails with an `Err` (never a
//! panic, never an allocation sized by untrusted input).

use std::sync::Arc;

use serde_json::Value as Json;
use sluice_core::Value;

use super::text;
use crate::encode::UNAVAILABLE_VALUE;

pub(super) type ReadResult<T> = Result<T, String>;

/// A read position in an Avro binary body.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
}

fn truncated() -> String {
    "record ends early (truncated or written with another schema)".into()
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Avro `long` / `int`: zigzag base-128 varint of at most 10 bytes.
    #[inline]
    pub(super) fn long(&mut self) -> ReadResult<i64> {
        let mut v: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(truncated());
            };
            self.buf = rest;
            if shift == 63 && b > 1 {
                return Err("varint overflows 64 bits".into());
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    #[inline]
    pub(super) fn int(&mut self) -> ReadResult<i32> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| format!("int out of range ({v})"))
    }

    #[inline]
    pub(super) fn take(&mut self, n: usize) -> ReadResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(truncated());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    #[inline]
    pub(super) fn bytes(&mut self) -> ReadResult<&'a [u8]> {
        let n = self.long()?;
        let n = usize::try_from(n).map_err(|_| format!("negative length {n}"))?;
        self.take(n)
    }

    #[inline]
    pub(super) fn str(&mut self) -> ReadResult<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "string is not valid UTF-8".to_string())
    }

    fn boolean(&mut self) -> ReadResult<bool> {
        match self.take(1)? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err("boolean byte is neither 0 nor 1".into()),
        }
    }

    fn float(&mut self) -> ReadResult<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn double(&mut self) -> ReadResult<f64> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// Whether a value follows (`false`: the null branch of an optional field).
    #[inline]
    pub(super) fn present(&mut self, nullity: Nullity) -> ReadResult<bool> {
        match nullity {
            Nullity::Required => Ok(true),
            Nullity::Optional { null_index } => match self.long()? {
                i if i == i64::from(null_index) => Ok(false),
                i if i == 1 - i64::from(null_index) => Ok(true),
                i => Err(format!("union branch {i} does not exist")),
            },
        }
    }

    /// The item count of the next array/map block (0 ends the sequence). A count larger than
    /// the bytes left cannot be real and is refused before anything is allocated for it.
    fn block(&mut self) -> ReadResult<usize> {
        let n = self.long()?;
        let count = if n < 0 {
            self.long()?; // block size in bytes, unused
            n.unsigned_abs()
        } else {
            n as u64
        };
        if count > self.buf.len() as u64 {
            return Err(format!("block of {count} items exceeds the {} bytes left", self.buf.len()));
        }
        Ok(count as usize)
    }
}

/// How a field's optionality is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nullity {
    Required,
    /// A two-branch union; the value is the other branch.
    Optional {
        null_index: u8,
    },
}

/// Any Avro type, for fields the plan skips or renders as JSON.
#[derive(Debug, Clone)]
pub(super) enum Node {
    Null,
    Bool,
    /// `int`, `long`, and `enum` indexes when the symbols do not matter.
    Varint,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(Arc<[String]>),
    Array(Box<Node>),
    Map(Box<Node>),
    Record(Vec<(String, Node)>),
    Union(Vec<Node>),
}

pub(super) fn skip(cur: &mut Cursor<'_>, node: &Node) -> ReadResult<()> {
    match node {
        Node::Null => {}
        Node::Bool => {
            cur.take(1)?;
        }
        Node::Varint | Node::Enum(_) => {
            cur.long()?;
        }
        Node::Float => {
            cur.take(4)?;
        }
        Node::Double => {
            cur.take(8)?;
        }
        Node::Bytes | Node::String => {
            cur.bytes()?;
        }
        Node::Fixed(n) => {
            cur.take(*n)?;
        }
        Node::Array(item) => loop {
            let n = cur.block()?;
            if n == 0 {
                break;
            }
            for _ in 0..n {
                skip(cur, item)?;
            }
        },
        Node::Map(value) => loop {
            let n = cur.block()?;
            if n == 0 {
                break;
            }
            for _ in 0..n {
                cur.bytes()?;
                skip(cur, value)?;
            }
        },
        Node::Record(fields) => {
            for (_, f) in fields {
                skip(cur, f)?;
            }
        }
        Node::Union(branches) => {
            let i = cur.long()?;
            let b = usize::try_from(i).ok().and_then(|i| branches.get(i));
            skip(cur, b.ok_or_else(|| format!("union branch {i} does not exist"))?)?;
        }
    }
    Ok(())
}

/// A value of any type as JSON, as Kafka Connect's JSON converter renders it (bytes base64).
pub(super) fn read_json(cur: &mut Cursor<'_>, node: &Node) -> ReadResult<Json> {
    Ok(match node {
        Node::Null => Json::Null,
        Node::Bool => Json::Bool(cur.boolean()?),
        Node::Varint => Json::from(cur.long()?),
        Node::Float => serde_json::Number::from_f64(f64::from(cur.float()?)).map_or(Json::Null, Json::Number),
        Node::Double => serde_json::Number::from_f64(cur.double()?).map_or(Json::Null, Json::Number),
        Node::Bytes => Json::String(text::base64(cur.bytes()?)),
        Node::String => Json::String(cur.str()?.to_owned()),
        Node::Fixed(n) => Json::String(text::base64(cur.take(*n)?)),
        Node::Enum(symbols) => Json::String(symbol(cur, symbols)?.to_owned()),
        Node::Array(item) => {
            let mut out = Vec::new();
            loop {
                let n = cur.block()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    out.push(read_json(cur, item)?);
                }
            }
            Json::Array(out)
        }
        Node::Map(value) => {
            let mut out = serde_json::Map::new();
            loop {
                let n = cur.block()?;
                if n == 0 {
                    break;
                }
                for _ in 0..n {
                    let k = cur.str()?.to_owned();
                    out.insert(k, read_json(cur, value)?);
                }
            }
            Json::Object(out)
        }
        Node::Record(fields) => {
            let mut out = serde_json::Map::new();
            for (name, f) in fields {
                out.insert(name.clone(), read_json(cur, f)?);
            }
            Json::Object(out)
        }
        Node::Union(branches) => {
            let i = cur.long()?;
            let b = usize::try_from(i).ok().and_then(|i| branches.get(i));
            read_json(cur, b.ok_or_else(|| format!("union branch {i} does not exist"))?)?
        }
    })
}

fn symbol<'s>(cur: &mut Cursor<'_>, symbols: &'s [String]) -> ReadResult<&'s str> {
    let i = cur.long()?;
    usize::try_from(i)
        .ok()
        .and_then(|i| symbols.get(i))
        .map(String::as_str)
        .ok_or_else(|| format!("enum index {i} is not one of {} symbols", symbols.len()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeUnit {
    Millis,
    Micros,
    Nanos,
}

/// Debezium 3.6's `io.debezium.time.Date` for PostgreSQL `date 'infinity'` (measured, see
/// tests/python/reference/README.md).
const DEBEZIUM_DATE_INFINITY: i32 = -2_147_472_692;

/// A timestamp in `unit` as microseconds; Debezium's stand-ins for PostgreSQL `±infinity`
/// (`crate::repr::PG_INFINITY_MICROS`, ÷1000 in millisecond fields) become `i64::MAX`/`i64::MIN`.
fn timestamp_micros(unit: TimeUnit, v: i64) -> ReadResult<i64> {
    use crate::repr::{PG_INFINITY_MICROS as INF, PG_NEG_INFINITY_MICROS as NEG_INF};
    match (unit, v) {
        (TimeUnit::Micros, INF) => Ok(i64::MAX),
        (TimeUnit::Micros, NEG_INF) => Ok(i64::MIN),
        (TimeUnit::Millis, v) if v == INF / 1000 => Ok(i64::MAX),
        (TimeUnit::Millis, v) if v == NEG_INF / 1000 => Ok(i64::MIN),
        (unit, v) => unit.to_micros(v),
    }
}

impl TimeUnit {
    fn to_micros(self, v: i64) -> ReadResult<i64> {
        match self {
            TimeUnit::Millis => v.checked_mul(1000).ok_or_else(|| "temporal value out of range".to_string()),
            TimeUnit::Micros => Ok(v),
            TimeUnit::Nanos => Ok(v.div_euclid(1000)),
        }
    }
}

/// How one non-null column value is read and what [`Value`] it becomes.
#[derive(Debug, Clone)]
pub(super) enum Reader {
    Bool,
    /// Avro `int` checked into `i16` (`connect.type` int16/int8).
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// `decimal` bytes at a fixed scale.
    Decimal {
        scale: i32,
    },
    FixedDecimal {
        size: usize,
        scale: i32,
    },
    /// decimal(20,0) of MySQL `BIGINT UNSIGNED`.
    UInt64Decimal,
    /// `io.debezium.data.VariableScaleDecimal`: record {scale: int, value: bytes}.
    VarDecimal,
    /// A numeric column sent as a string (`decimal.handling.mode=string`).
    DecimalText,
    Text,
    Json,
    Bytes,
    FixedBytes(usize),
    UuidText,
    UuidFixed,
    /// Days since the epoch (`int`).
    Date,
    /// Time of day: `int` milliseconds, `long` micro- or nanoseconds.
    Time(TimeUnit),
    /// `long` since the epoch; `tz` = an instant (UTC), else wall-clock.
    Timestamp {
        unit: TimeUnit,
        tz: bool,
    },
    ZonedTimestamp,
    ZonedTime,
    /// ISO-8601 duration text.
    IntervalText,
    /// `long` micro- or nanoseconds (`io.debezium.time.MicroDuration` / `NanoDuration`).
    Duration(TimeUnit),
    /// Avro `duration`: fixed(12) of little-endian u32 months, days, milliseconds.
    AvroDuration,
    /// An Avro `enum`, decoded to its symbol.
    Symbol(Arc<[String]>),
    Array(Box<ColumnPlan>),
    /// A structure Sluice has no type for (geometry, hstore as map), rendered as JSON text.
    AsJson(Node),
    /// `io.debezium.data.geometry.Point` `{x, y, …}` as PostgreSQL's point text `(x,y)`.
    PointText(Node),
}

/// One column (or array item): optionality, reader, and whether Debezium's
/// `__debezium_unavailable_value` placeholder means [`Value::Unchanged`] here.
#[derive(Debug, Clone)]
pub(super) struct ColumnPlan {
    pub nullity: Nullity,
    pub reader: Reader,
    pub placeholder: bool,
}

#[inline]
pub(super) fn read_column(cur: &mut Cursor<'_>, c: &ColumnPlan) -> ReadResult<Value> {
    if !cur.present(c.nullity)? {
        return Ok(Value::Null);
    }
    read_value(cur, &c.reader, c.placeholder)
}

fn is_placeholder(b: &[u8]) -> bool {
    b == UNAVAILABLE_VALUE.as_bytes()
}

/// `UUID.nameUUIDFromBytes("__debezium_unavailable_value")`: the element of Debezium's
/// placeholder for an unchanged TOASTed `uuid[]`.
const PLACEHOLDER_UUID: [u8; 16] =
    [0xb6, 0x8a, 0x35, 0xa7, 0x17, 0xad, 0x35, 0xb3, 0xaf, 0x2a, 0xae, 0x46, 0xed, 0xb4, 0x54, 0x5a];

/// Debezium's value for an unchanged TOASTed array (PostgreSQL connector,
/// `UnchangedToastedPlaceholder`): a one-element array holding the placeholder for text, json,
/// bytea and uuid arrays, and the placeholder's bytes as numbers for `int4[]`, `date[]` and
/// `int8[]`. A real array equal to one of these cannot be told apart, as in Debezium itself.
fn is_array_placeholder(items: &[Value]) -> bool {
    let p = UNAVAILABLE_VALUE.as_bytes();
    match items {
        [Value::Text(s) | Value::Json(s)] => s == UNAVAILABLE_VALUE,
        [Value::Bytes(b)] => is_placeholder(b),
        [Value::Uuid(u)] => *u == PLACEHOLDER_UUID,
        _ => {
            items.len() == p.len()
                && items.iter().zip(p).all(|(v, &b)| match v {
                    Value::Int32(x) | Value::Date(x) => *x == i32::from(b),
                    Value::Int64(x) => *x == i64::from(b),
                    _ => false,
                })
        }
    }
}

fn read_value(cur: &mut Cursor<'_>, reader: &Reader, placeholder: bool) -> ReadResult<Value> {
    Ok(match reader {
        Reader::Bool => Value::Bool(cur.boolean()?),
        Reader::Int16 => {
            let v = cur.long()?;
            Value::Int16(i16::try_from(v).map_err(|_| format!("{v} does not fit int16"))?)
        }
        Reader::Int32 => Value::Int32(cur.int()?),
        Reader::Int64 => Value::Int64(cur.long()?),
        Reader::Float32 => Value::Float32(cur.float()?),
        Reader::Float64 => Value::Float64(cur.double()?),
        Reader::Decimal { scale } => Value::Decimal(text::decimal_text(cur.bytes()?, *scale)),
        Reader::FixedDecimal { size, scale } => Value::Decimal(text::decimal_text(cur.take(*size)?, *scale)),
        Reader::UInt64Decimal => {
            let b = cur.bytes()?;
            if b.first().is_some_and(|&x| x & 0x80 != 0) {
                return Err("negative value in an unsigned 64-bit column".into());
            }
            let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
            if b.len() - start > 8 {
                return Err("value does not fit an unsigned 64-bit integer".into());
            }
            Value::UInt64(b[start..].iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
        }
        Reader::VarDecimal => {
            let scale = cur.int()?;
            if scale.unsigned_abs() > text::MAX_DECIMAL_SCALE.unsigned_abs() {
                return Err(format!("decimal scale {scale} out of range"));
            }
            Value::Decimal(text::decimal_text(cur.bytes()?, scale))
        }
        Reader::DecimalText => Value::Decimal(cur.str()?.to_owned()),
        Reader::Text => {
            let s = cur.str()?;
            if placeholder && is_placeholder(s.as_bytes()) {
                Value::Unchanged
            } else {
                Value::Text(s.to_owned())
            }
        }
        Reader::Json => {
            let s = cur.str()?;
            if placeholder && is_placeholder(s.as_bytes()) {
                Value::Unchanged
            } else {
                Value::Json(s.to_owned())
            }
        }
        Reader::Bytes => {
            let b = cur.bytes()?;
            if placeholder && is_placeholder(b) {
                Value::Unchanged
            } else {
                Value::Bytes(b.to_vec())
            }
        }
        Reader::FixedBytes(n) => Value::Bytes(cur.take(*n)?.to_vec()),
        Reader::UuidText => Value::Uuid(text::parse_uuid(cur.str()?)?),
        Reader::UuidFixed => {
            let b = cur.take(16)?;
            let mut u = [0u8; 16];
            u.copy_from_slice(b);
            Value::Uuid(u)
        }
        Reader::Date => Value::Date(match cur.int()? {
            // What Debezium's PostgreSQL connector writes for `date 'infinity'` (pgjdbc's
            // infinity date overflowed into days); no real date is that far before year 1.
            DEBEZIUM_DATE_INFINITY => i32::MAX,
            d => d,
        }),
        Reader::Time(TimeUnit::Millis) => Value::Time(i64::from(cur.int()?) * 1000),
        Reader::Time(unit) => Value::Time(unit.to_micros(cur.long()?)?),
        Reader::Timestamp { unit, tz: true } => Value::TimestampTz(timestamp_micros(*unit, cur.long()?)?),
        Reader::Timestamp { unit, tz: false } => Value::Timestamp(timestamp_micros(*unit, cur.long()?)?),
        Reader::ZonedTimestamp => Value::TimestampTz(text::parse_zoned_timestamp(cur.str()?)?),
        Reader::ZonedTime => {
            let (micros, offset_seconds) = text::parse_zoned_time(cur.str()?)?;
            Value::TimeTz { micros, offset_seconds }
        }
        Reader::IntervalText => {
            let (months, days, micros) = text::parse_interval(cur.str()?)?;
            Value::Interval { months, days, micros }
        }
        Reader::Duration(unit) => {
            Value::Interval { months: 0, days: 0, micros: unit.to_micros(cur.long()?)? }
        }
        Reader::AvroDuration => {
            let b = cur.take(12)?;
            let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let months = i32::try_from(u(0)).map_err(|_| "duration months out of range".to_string())?;
            let days = i32::try_from(u(4)).map_err(|_| "duration days out of range".to_string())?;
            Value::Interval { months, days, micros: i64::from(u(8)) * 1000 }
        }
        Reader::Symbol(symbols) => Value::Text(symbol(cur, symbols)?.to_owned()),
        Reader::Array(item) => {
            let mut items = Vec::new();
            loop {
                let n = cur.block()?;
                if n == 0 {
                    break;
                }
                items.reserve(n);
                for _ in 0..n {
                    items.push(read_column(cur, item)?);
                }
            }
            if placeholder && is_array_placeholder(&items) {
                Value::Unchanged
            } else {
                Value::Array(items)
            }
        }
        Reader::AsJson(node) => {
            let j = read_json(cur, node)?;
            Value::Json(j.to_string())
        }
        Reader::PointText(node) => {
            let j = read_json(cur, node)?;
            match (
                j.get("x").and_then(serde_json::Value::as_f64),
                j.get("y").and_then(serde_json::Value::as_f64),
            ) {
                (Some(x), Some(y)) => Value::Text(format!("({x},{y})")),
                _ => return Err("a Point without numeric x and y".into()),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::write_long;

    #[test]
    fn varints_round_trip_and_overflow_is_refused() {
        let mut b = Vec::new();
        for v in [0i64, -1, 1, 63, -64, 64, i64::MAX, i64::MIN] {
            b.clear();
            write_long(&mut b, v);
            let mut c = Cursor::new(&b);
            assert_eq!(c.long(), Ok(v));
            assert_eq!(c.remaining(), 0);
        }
        assert!(Cursor::new(&[0xff; 11]).long().is_err());
        assert!(Cursor::new(&[0x80]).long().is_err());
        assert!(Cursor::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02]).long().is_err());
    }

    #[test]
    fn lengths_and_counts_are_bounded_by_the_input() {
        let mut b = Vec::new();
        write_long(&mut b, 1_000_000);
        b.extend_from_slice(b"abc");
        assert!(Cursor::new(&b).bytes().is_err());
        let mut c = Cursor::new(&b);
        assert!(skip(&mut c, &Node::Array(Box::new(Node::Null))).is_err());
        assert!(Cursor::new(&[0x01]).bytes().is_err(), "negative length");
        assert!(Cursor::new(&[4]).present(Nullity::Optional { null_index: 0 }).is_err());
    }

    #[test]
    fn absurd_decimal_scales_are_refused_before_allocating() {
        let mut b = Vec::new();
        write_long(&mut b, 1 << 30); // scale
        write_long(&mut b, 1);
        b.push(1);
        let e = read_value(&mut Cursor::new(&b), &Reader::VarDecimal, false).unwrap_err();
        assert!(e.contains("scale"), "{e}");
    }

    /// Each array placeholder of Debezium's PostgreSQL connector, written as its Avro array.
    #[test]
    fn debezium_array_placeholders_are_unchanged() {
        fn strings(items: &[&[u8]]) -> Vec<u8> {
            let mut b = Vec::new();
            write_long(&mut b, items.len() as i64);
            for s in items {
                write_long(&mut b, s.len() as i64);
                b.extend_from_slice(s);
            }
            write_long(&mut b, 0);
            b
        }
        fn numbers(items: &[u8]) -> Vec<u8> {
            let mut b = Vec::new();
            write_long(&mut b, items.len() as i64);
            for &x in items {
                write_long(&mut b, i64::from(x));
            }
            write_long(&mut b, 0);
            b
        }
        let read = |b: &[u8], item: Reader| {
            let plan = ColumnPlan { nullity: Nullity::Required, reader: item, placeholder: false };
            read_value(&mut Cursor::new(b), &Reader::Array(Box::new(plan)), true).unwrap()
        };
        let p = UNAVAILABLE_VALUE.as_bytes();
        for (b, item) in [
            (strings(&[p]), Reader::Text),
            (strings(&[p]), Reader::Json),
            (strings(&[p]), Reader::Bytes),
            (strings(&[b"b68a35a7-17ad-35b3-af2a-ae46edb4545a"]), Reader::UuidText),
            (numbers(p), Reader::Int32),
            (numbers(p), Reader::Date),
            (numbers(p), Reader::Int64),
        ] {
            assert_eq!(read(&b, item.clone()), Value::Unchanged, "{item:?}");
        }
        // Real values stay values.
        let v = read(&numbers(&p[1..]), Reader::Int32);
        assert!(matches!(v, Value::Array(ref items) if items.len() == p.len() - 1), "{v:?}");
        assert_eq!(read(&strings(&[b"x"]), Reader::Text), Value::Array(vec![Value::Text("x".into())]));
    }

    #[test]
    fn json_rendering_of_unknown_structures() {
        // {"x": 1.5 (double), "wkb": bytes, "srid": ["null","int"] = null}
        let node = Node::Record(vec![
            ("x".into(), Node::Double),
            ("wkb".into(), Node::Bytes),
            ("srid".into(), Node::Union(vec![Node::Null, Node::Varint])),
        ]);
        let mut b = 1.5f64.to_le_bytes().to_vec();
        write_long(&mut b, 2);
        b.extend_from_slice(&[1, 2]);
        write_long(&mut b, 0);
        let v = read_json(&mut Cursor::new(&b), &node).unwrap();
        assert_eq!(v, serde_json::json!({"x": 1.5, "wkb": "AQI=", "srid": null}));
        let mut c = Cursor::new(&b);
        skip(&mut c, &node).unwrap();
        assert_eq!(c.remaining(), 0);
    }
}
