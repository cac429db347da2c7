//! Change events to Avro binary, written directly in the layout of the schemas that
//! [`crate::schema_gen`] generates for the same table — no intermediate Avro value tree, no
//! allocation per field. A benchmark (`benches/encode.rs`) records the cost per event.
//!
//! Invariants: one [`TableCodec`] per table schema version; its key and value layouts come
//! from the same column list as its schemas. A value whose variant does not fit its column's
//! type is an [`AvroError::Value`] naming table and column (never the value itself).
//!
//! Unchanged columns ([`Value::Unchanged`]) are listed in the envelope's `unchanged` field. The
//! field itself carries Debezium's placeholder `__debezium_unavailable_value` for string, JSON
//! and bytes columns, null for other nullable columns, and the type's zero value for other
//! NOT NULL columns — so a Debezium consumer sees what Debezium would send, and a Sluice sink
//! keeps the target's value.

use std::sync::Arc;

use serde_json::Value as Json;
use sluice_core::{ChangeEvent, Column, SourceDetail, TableSchema, Value};

use crate::decimal;
use crate::error::AvroError;
use crate::repr::{timestamp_field, Repr};
use crate::schema_gen::{self, EnvelopeOptions, SourceKind};
use crate::wire;

/// Debezium's placeholder for a value the source did not send.
pub const UNAVAILABLE_VALUE: &str = "__debezium_unavailable_value";

const SLUICE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Schemas, registry ids and encoders for one version of one table.
#[derive(Debug, Clone)]
pub struct TableCodec {
    pub table: Arc<TableSchema>,
    pub topic: String,
    source: SourceKind,
    key_schema: Option<Json>,
    value_schema: Json,
    key_id: Option<u32>,
    value_id: Option<u32>,
    /// Each column's wire representation, in column order.
    reprs: Vec<Repr>,
    /// Columns whose union is `[T, "null"]` (nullable with a default): null is branch 1.
    value_first: Vec<bool>,
    /// The Connect JSON schemas of key and value (`JsonConverter`, `schemas.enable=true`).
    json_key_schema: Option<String>,
    json_value_schema: String,
}

impl TableCodec {
    pub fn new(table: Arc<TableSchema>, opts: &EnvelopeOptions) -> Self {
        let reprs: Vec<Repr> = table.columns.iter().map(|c| Repr::of(c, opts)).collect();
        Self {
            topic: opts.topic(&table),
            source: opts.source,
            key_schema: schema_gen::key_schema(&table, opts),
            value_schema: schema_gen::value_schema(&table, opts),
            key_id: None,
            value_id: None,
            value_first: table
                .columns
                .iter()
                .zip(&reprs)
                .map(|(c, r)| c.nullable && schema_gen::column_default(c, r).is_some())
                .collect(),
            reprs,
            json_key_schema: schema_gen::key_connect_schema(&table, opts)
                .map(|s| crate::connect::to_json_schema(&s).to_string()),
            json_value_schema: crate::connect::to_json_schema(&schema_gen::envelope_connect_schema(
                &table, opts,
            ))
            .to_string(),
            table,
        }
    }

    pub fn key_schema(&self) -> Option<&Json> {
        self.key_schema.as_ref()
    }

    pub fn value_schema(&self) -> &Json {
        &self.value_schema
    }

    /// Record the registry ids of the key and value schemas.
    pub fn set_ids(&mut self, key_id: Option<u32>, value_id: u32) {
        self.key_id = key_id;
        self.value_id = Some(value_id);
    }

    pub fn has_ids(&self) -> bool {
        self.value_id.is_some() && (self.key_schema.is_none() || self.key_id.is_some())
    }

    /// The Confluent-framed key into `buf`; `false` (and `buf` empty) when the event has no
    /// key (a table without key columns, or a truncate).
    pub fn encode_key(&self, ev: &ChangeEvent, buf: &mut Vec<u8>) -> Result<bool, AvroError> {
        buf.clear();
        let (Some(id), Some(row)) = (self.key_id, ev.key_row()) else {
            return Ok(false);
        };
        if self.key_schema.is_none() {
            return Ok(false);
        }
        wire::begin(buf, id);
        for &i in &self.table.key {
            let (col, v) = self.column_value(row, i)?;
            // Key schemas carry no defaults: always ["null", T].
            write_field(buf, col, &self.reprs[i], false, v, &self.table)?;
        }
        Ok(true)
    }

    /// The Confluent-framed value (the envelope) into `buf`.
    pub fn encode_value(&self, ev: &ChangeEvent, buf: &mut Vec<u8>) -> Result<(), AvroError> {
        let id =
            self.value_id.ok_or_else(|| AvroError::Schema(format!("no registry id for {}", self.topic)))?;
        wire::begin(buf, id);
        self.write_envelope(ev, buf)
    }

    /// The Avro body of the envelope, without the wire header.
    pub fn write_envelope(&self, ev: &ChangeEvent, buf: &mut Vec<u8>) -> Result<(), AvroError> {
        self.write_row(buf, ev.before.as_deref())?;
        self.write_row(buf, ev.after.as_deref())?;
        self.write_source(buf, ev)?;
        match &ev.transaction {
            None => write_long(buf, 0),
            Some(t) => {
                write_long(buf, 1);
                write_str(buf, &t.id);
                write_long(buf, t.total_order as i64);
                write_long(buf, t.data_collection_order as i64);
            }
        }
        write_str(buf, ev.op.code());
        write_opt_long(buf, Some(ev.ts_ms));
        write_opt_long(buf, Some(ev.ts_ms.saturating_mul(1_000)));
        write_opt_long(buf, Some(ev.ts_ms.saturating_mul(1_000_000)));
        let unchanged =
            ev.after.as_deref().map(|r| r.iter().filter(|v| v.is_unchanged()).count()).unwrap_or(0);
        if unchanged == 0 {
            write_long(buf, 0);
        } else if let Some(after) = &ev.after {
            write_long(buf, 1);
            write_long(buf, unchanged as i64);
            for (c, _) in self.table.columns.iter().zip(after).filter(|(_, v)| v.is_unchanged()) {
                write_str(buf, &c.name);
            }
            write_long(buf, 0);
        }
        Ok(())
    }

    fn column_value<'a>(&'a self, row: &'a [Value], i: usize) -> Result<(&'a Column, &'a Value), AvroError> {
        match (self.table.columns.get(i), row.get(i)) {
            (Some(c), Some(v)) => Ok((c, v)),
            _ => Err(AvroError::Value {
                table: self.table.id.to_string(),
                column: format!("#{i}"),
                reason: format!(
                    "row has {} values, table has {} columns",
                    row.len(),
                    self.table.columns.len()
                ),
            }),
        }
    }

    fn write_row(&self, buf: &mut Vec<u8>, row: Option<&[Value]>) -> Result<(), AvroError> {
        let Some(row) = row else {
            write_long(buf, 0);
            return Ok(());
        };
        if row.len() != self.table.columns.len() {
            return Err(AvroError::Value {
                table: self.table.id.to_string(),
                column: "*".into(),
                reason: format!(
                    "row has {} values, table has {} columns",
                    row.len(),
                    self.table.columns.len()
                ),
            });
        }
        write_long(buf, 1);
        for (i, (col, v)) in self.table.columns.iter().zip(row).enumerate() {
            write_field(buf, col, &self.reprs[i], self.value_first[i], v, &self.table)?;
        }
        Ok(())
    }

    fn write_source(&self, buf: &mut Vec<u8>, ev: &ChangeEvent) -> Result<(), AvroError> {
        let s = &ev.source;
        write_str(buf, SLUICE_VERSION);
        write_str(buf, s.connector);
        write_str(buf, &s.name);
        write_long(buf, s.ts_ms);
        write_long(buf, 0); // snapshot: the string branch of [Enum, null]
        write_str(buf, s.snapshot.as_str());
        write_str(buf, &s.db);
        match (&s.detail, self.source) {
            (SourceDetail::Postgres { lsn, tx_id, xmin, sequence }, SourceKind::Postgres) => {
                write_opt_str(buf, sequence.as_deref());
                write_source_micros(buf, s.ts_ms);
                write_str(buf, s.schema.as_deref().unwrap_or(""));
                write_str(buf, &s.table);
                write_opt_long(buf, *tx_id);
                write_opt_long(buf, Some(*lsn as i64));
                write_opt_long(buf, *xmin);
                write_long(buf, 0); // origin
                write_long(buf, 0); // origin_lsn
            }
            (SourceDetail::MySql { server_id, gtid, file, pos, row, thread, query }, SourceKind::MySql) => {
                write_long(buf, 0); // sequence
                write_source_micros(buf, s.ts_ms);
                write_opt_str(buf, Some(&s.table));
                write_long(buf, i64::from(*server_id));
                write_opt_str(buf, gtid.as_deref());
                write_str(buf, file);
                write_long(buf, *pos as i64);
                write_long(buf, i64::from(*row));
                write_opt_long(buf, *thread);
                write_opt_str(buf, query.as_deref());
            }
            _ => {
                return Err(AvroError::Schema(format!(
                    "event source block does not match the {} envelope of {}",
                    self.source.connector(),
                    self.topic
                )))
            }
        }
        Ok(())
    }
}

/// One column: the union branch when nullable, then the value.
fn write_field(
    buf: &mut Vec<u8>,
    col: &Column,
    repr: &Repr,
    value_first: bool,
    v: &Value,
    table: &TableSchema,
) -> Result<(), AvroError> {
    let err =
        |reason: String| AvroError::Value { table: table.id.to_string(), column: col.name.clone(), reason };
    let substituted;
    let v = match substitute(col, repr, v) {
        None => v,
        Some(Substitute::Value(s)) => {
            substituted = s;
            &substituted
        }
        Some(Substitute::Zero) => {
            write_zero(buf, repr);
            return Ok(());
        }
    };
    if col.nullable {
        // ["null", T], or [T, "null"] for a nullable column with a default.
        if v.is_null() {
            write_long(buf, i64::from(value_first));
            return Ok(());
        }
        write_long(buf, i64::from(!value_first));
    } else if v.is_null() {
        return Err(err("NULL in a NOT NULL column".into()));
    }
    write_value(buf, repr, v).map_err(err)
}

/// What an encoder writes instead of a value that cannot go out as it is.
pub(crate) enum Substitute {
    /// This value instead (Debezium's placeholder, or null).
    Value(Value),
    /// The representation's zero value: an unchanged NOT NULL column without a placeholder.
    Zero,
}

/// The substitute for `v`, if it needs one: Debezium's placeholder for an unchanged string,
/// JSON, XML or bytes column, null for another unchanged nullable column, the zero value for
/// another unchanged NOT NULL column; null for a PostgreSQL `NaN`/`±Infinity` in a Connect
/// decimal (Debezium's precise mode sends null too; `decimal_handling_mode = "string"` carries
/// them). `None` — every ordinary value — costs one match.
#[inline]
pub(crate) fn substitute(col: &Column, repr: &Repr, v: &Value) -> Option<Substitute> {
    match v {
        Value::Unchanged => Some(match repr {
            Repr::String(None | Some("io.debezium.data.Json" | "io.debezium.data.Xml")) => {
                Substitute::Value(Value::Text(UNAVAILABLE_VALUE.to_owned()))
            }
            Repr::Bytes => Substitute::Value(Value::Bytes(UNAVAILABLE_VALUE.as_bytes().to_vec())),
            _ if col.nullable => Substitute::Value(Value::Null),
            _ => Substitute::Zero,
        }),
        Value::Decimal(t) if repr.is_exact_decimal() && col.nullable && decimal::scale_of(t).is_err() => {
            Some(Substitute::Value(Value::Null))
        }
        _ => None,
    }
}

/// The zero value of a representation (an unchanged NOT NULL column that is not a string).
fn write_zero(buf: &mut Vec<u8>, repr: &Repr) {
    match repr {
        Repr::Boolean => buf.push(0),
        Repr::Int16 | Repr::Int32 | Repr::Int64 | Repr::Year | Repr::Date => write_long(buf, 0),
        Repr::TimeMillis | Repr::MicroTime | Repr::TimestampMillis | Repr::MicroTimestamp => {
            write_long(buf, 0)
        }
        Repr::Float32 => buf.extend_from_slice(&0f32.to_le_bytes()),
        Repr::Float64 | Repr::DecimalDouble => buf.extend_from_slice(&0f64.to_le_bytes()),
        Repr::DecimalString => write_str(buf, "0"),
        Repr::Decimal { .. } | Repr::Money => write_bytes(buf, &[0]),
        Repr::VariableScaleDecimal => {
            write_long(buf, 0);
            write_bytes(buf, &[0]);
        }
        Repr::String(_) | Repr::Enum { .. } | Repr::Bytes | Repr::Bits(_) | Repr::Interval => {
            write_str(buf, "")
        }
        Repr::ZonedTimestamp => write_str(buf, "1970-01-01T00:00:00Z"),
        Repr::ZonedTime => write_str(buf, "00:00:00Z"),
        Repr::Point => {
            buf.extend_from_slice(&0f64.to_le_bytes());
            buf.extend_from_slice(&0f64.to_le_bytes());
            write_long(buf, 0);
            write_long(buf, 0);
        }
        Repr::Array(_) => write_long(buf, 0),
    }
}

/// A non-null value in its column's representation.
fn write_value(buf: &mut Vec<u8>, repr: &Repr, v: &Value) -> Result<(), String> {
    let mismatch = || format!("a {} value does not fit representation {repr:?}", v.kind_name());
    match (repr, v) {
        (Repr::Boolean, Value::Bool(b)) => buf.push(u8::from(*b)),
        // PostgreSQL bit(1), sent as text.
        (Repr::Boolean, Value::Text(t)) => buf.push(u8::from(t == "1")),
        (Repr::Int16 | Repr::Int32 | Repr::Year | Repr::Int64, Value::Int16(i)) => {
            write_long(buf, i64::from(*i))
        }
        (Repr::Int32 | Repr::Year | Repr::Int64, Value::Int32(i)) => write_long(buf, i64::from(*i)),
        (Repr::Int64, Value::Int64(i)) => write_long(buf, *i),
        (Repr::Float32, Value::Float32(f)) => buf.extend_from_slice(&f.to_le_bytes()),
        (Repr::Float64, Value::Float64(f)) => buf.extend_from_slice(&f.to_le_bytes()),
        (Repr::Float64, Value::Float32(f)) => buf.extend_from_slice(&f64::from(*f).to_le_bytes()),
        (Repr::Decimal { scale, .. }, Value::UInt64(u)) => write_decimal(buf, &u.to_string(), *scale)?,
        (Repr::Decimal { scale, .. }, Value::Decimal(t)) => write_decimal(buf, t, *scale)?,
        (Repr::Money, Value::Text(t) | Value::Decimal(t)) => write_decimal(buf, &money_decimal(t)?, 2)?,
        (Repr::DecimalString, Value::Decimal(t)) => write_str(buf, t),
        (Repr::DecimalString, Value::UInt64(u)) => write_str(buf, &u.to_string()),
        // PostgreSQL money, whose text carries a currency symbol and group separators.
        (Repr::DecimalString, Value::Text(t)) => write_str(buf, &money_decimal(t)?),
        (Repr::DecimalDouble, Value::Decimal(t) | Value::Text(t)) => {
            let f: f64 = money_decimal(t).unwrap_or_else(|_| t.clone()).parse().map_err(|_| mismatch())?;
            buf.extend_from_slice(&f.to_le_bytes())
        }
        (Repr::DecimalDouble, Value::UInt64(u)) => buf.extend_from_slice(&(*u as f64).to_le_bytes()),
        (Repr::VariableScaleDecimal, Value::Decimal(t)) => {
            let scale = decimal::scale_of(t)?;
            write_long(buf, i64::from(scale));
            write_decimal(buf, t, scale)?;
        }
        (Repr::String(_) | Repr::Enum { .. }, Value::Text(s) | Value::Json(s)) => write_str(buf, s),
        (Repr::String(_), Value::Uuid(u)) => write_str(buf, &format_uuid(u)),
        (Repr::Bytes, Value::Bytes(b)) => write_bytes(buf, b),
        (Repr::Bits(_), Value::Bytes(b)) => write_bytes(buf, b),
        (Repr::Bits(n), Value::Text(t)) => write_bytes(buf, &bits_le(t, *n)?),
        (Repr::Date, Value::Date(d)) => write_long(buf, i64::from(*d)),
        (Repr::TimeMillis, Value::Time(t)) => write_long(buf, t.div_euclid(1000)),
        (Repr::MicroTime, Value::Time(t)) => write_long(buf, *t),
        (Repr::TimestampMillis, Value::Timestamp(t)) => write_long(buf, timestamp_field(*t, true)),
        (Repr::MicroTimestamp, Value::Timestamp(t)) => write_long(buf, timestamp_field(*t, false)),
        (Repr::ZonedTimestamp, Value::TimestampTz(t)) => write_zoned_timestamp(buf, *t),
        (Repr::ZonedTime, Value::TimeTz { micros, offset_seconds }) => {
            write_str(buf, &format_timetz(*micros, *offset_seconds))
        }
        (Repr::Interval, Value::Interval { months, days, micros }) => {
            write_str(buf, &format_interval(*months, *days, *micros))
        }
        (Repr::Interval, Value::Text(s)) => write_str(buf, s),
        (Repr::Point, Value::Text(t)) => {
            let (x, y) = parse_point(t)?;
            buf.extend_from_slice(&x.to_le_bytes());
            buf.extend_from_slice(&y.to_le_bytes());
            write_long(buf, 1);
            write_bytes(buf, &point_wkb(x, y));
            write_long(buf, 0);
        }
        (Repr::Array(inner), Value::Array(items)) => {
            if !items.is_empty() {
                write_long(buf, items.len() as i64);
                for item in items {
                    if item.is_null() {
                        write_long(buf, 0);
                    } else {
                        write_long(buf, 1);
                        write_value(buf, inner, item)?;
                    }
                }
            }
            write_long(buf, 0);
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// PostgreSQL `money` text (`$1,234.56`, `-$0.50`, with `lc_monetary=C`) as a plain decimal.
pub fn money_decimal(t: &str) -> Result<String, String> {
    let neg = t.contains('-') || (t.starts_with('(') && t.ends_with(')'));
    let body: String = t.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
    if body.is_empty() {
        return Err("money value without digits".into());
    }
    Ok(if neg { format!("-{body}") } else { body })
}

/// A bit string (`'10110'`, most significant bit first) as Debezium's little-endian bytes of a
/// `length`-bit column: bit i (counted from the right) is bit i % 8 of byte i / 8.
pub fn bits_le(text: &str, length: u32) -> Result<Vec<u8>, String> {
    let n = (length as usize).max(text.len());
    let mut out = vec![0u8; n.div_ceil(8)];
    for (i, c) in text.bytes().rev().enumerate() {
        match c {
            b'1' => out[i / 8] |= 1 << (i % 8),
            b'0' => {}
            _ => return Err("bit string with a character other than 0 or 1".into()),
        }
    }
    Ok(out)
}

/// PostgreSQL's `(x,y)`.
pub fn parse_point(t: &str) -> Result<(f64, f64), String> {
    let inner = t.trim().trim_start_matches('(').trim_end_matches(')');
    let (x, y) = inner.split_once(',').ok_or("point is not (x,y)")?;
    let f = |s: &str| s.trim().parse::<f64>().map_err(|_| "point coordinate is not a number".to_owned());
    Ok((f(x)?, f(y)?))
}

/// The OGC well-known binary of a point (little-endian), as Debezium's `Point.wkb`.
pub fn point_wkb(x: f64, y: f64) -> Vec<u8> {
    let mut w = Vec::with_capacity(21);
    w.push(1);
    w.extend_from_slice(&1u32.to_le_bytes());
    w.extend_from_slice(&x.to_le_bytes());
    w.extend_from_slice(&y.to_le_bytes());
    w
}

/// An instant as Debezium's `ZonedTimestamp`: ISO-8601 in UTC with the fraction trimmed of
/// trailing zeros (`2024-01-02T01:04:05.1234Z`); years beyond 9999 get a `+`, years before 1 AD
/// are proleptic (`-0043` is 44 BC); `i64::MAX`/`MIN` are `infinity`/`-infinity`.
pub fn format_zoned_timestamp(micros: i64) -> String {
    let mut tmp = [0u8; ZONED_MAX];
    let n = zoned_timestamp_into(micros, &mut tmp);
    String::from_utf8_lossy(&tmp[..n]).into_owned()
}

/// The longest `ZonedTimestamp` text (`-290308-12-21T19:59:05.224192Z` and the like).
const ZONED_MAX: usize = 40;

/// `ZonedTimestamp` text into `out` without allocating; returns its length.
fn zoned_timestamp_into(micros: i64, out: &mut [u8; ZONED_MAX]) -> usize {
    use std::io::Write;
    let mut w = &mut out[..];
    // Writes into a 40-byte array cannot fail for these bounded fields.
    let _ = match micros {
        i64::MAX => w.write_all(b"infinity"),
        i64::MIN => w.write_all(b"-infinity"),
        _ => {
            let days = micros.div_euclid(86_400_000_000);
            let tod = micros.rem_euclid(86_400_000_000);
            let (y, m, d) = sluice_core::civil::civil_from_days(days);
            let (h, mi, s, us) =
                (tod / 3_600_000_000, tod / 60_000_000 % 60, tod / 1_000_000 % 60, tod % 1_000_000);
            let _ = if y > 9999 {
                write!(w, "+{y}")
            } else if y < 0 {
                write!(w, "-{:04}", -y)
            } else {
                write!(w, "{y:04}")
            };
            let _ = write!(w, "-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            if us != 0 {
                let mut frac = us;
                let mut digits = 6;
                while frac % 10 == 0 {
                    frac /= 10;
                    digits -= 1;
                }
                let _ = write!(w, ".{frac:0digits$}");
            }
            w.write_all(b"Z")
        }
    };
    ZONED_MAX - w.len()
}

/// A `ZonedTimestamp` as an Avro string, without allocating.
fn write_zoned_timestamp(buf: &mut Vec<u8>, micros: i64) {
    let mut tmp = [0u8; ZONED_MAX];
    let n = zoned_timestamp_into(micros, &mut tmp);
    write_bytes(buf, &tmp[..n]);
}

fn write_decimal(buf: &mut Vec<u8>, text: &str, scale: u32) -> Result<(), String> {
    // Length-prefixed: encode into a small stack of bytes first.
    let mut tmp = Vec::with_capacity(16);
    decimal::to_unscaled_bytes(text, scale, &mut tmp)?;
    write_bytes(buf, &tmp);
    Ok(())
}

/// Avro `long`/`int`: zigzag, then base-128 varint.
#[inline]
pub fn write_long(buf: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.push((z as u8) | 0x80);
        z >>= 7;
    }
    buf.push(z as u8);
}

#[inline]
fn write_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    write_long(buf, b.len() as i64);
    buf.extend_from_slice(b);
}

#[inline]
fn write_str(buf: &mut Vec<u8>, s: &str) {
    write_bytes(buf, s.as_bytes());
}

fn write_opt_str(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => write_long(buf, 0),
        Some(s) => {
            write_long(buf, 1);
            write_str(buf, s);
        }
    }
}

/// The source block's `ts_us` and `ts_ns` (Debezium 2.6+), from its `ts_ms`.
fn write_source_micros(buf: &mut Vec<u8>, ts_ms: i64) {
    write_opt_long(buf, Some(ts_ms.saturating_mul(1_000)));
    write_opt_long(buf, Some(ts_ms.saturating_mul(1_000_000)));
}

fn write_opt_long(buf: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => write_long(buf, 0),
        Some(v) => {
            write_long(buf, 1);
            write_long(buf, v);
        }
    }
}

pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// `HH:MM:SS[.ffffff]+hh:mm`, keeping the source's offset.
pub fn format_timetz(micros: i64, offset_seconds: i32) -> String {
    let (h, m, s, us) =
        (micros / 3_600_000_000, micros / 60_000_000 % 60, micros / 1_000_000 % 60, micros % 1_000_000);
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let off = offset_seconds.unsigned_abs();
    let mut out = format!("{h:02}:{m:02}:{s:02}");
    if us != 0 {
        out.push_str(&format!(".{us:06}"));
    }
    out.push_str(&format!("{sign}{:02}:{:02}", off / 3600, off / 60 % 60));
    if !off.is_multiple_of(60) {
        out.push_str(&format!(":{:02}", off % 60));
    }
    out
}

/// ISO-8601 duration with a sign per component, as PostgreSQL's `iso_8601` interval style:
/// `P1Y2M3DT4H5M6.000007S`, `P-1Y-2M`, `PT0S`.
pub fn format_interval(months: i32, days: i32, micros: i64) -> String {
    let mut out = String::from("P");
    let (y, mo) = (months / 12, months % 12);
    if y != 0 {
        out.push_str(&format!("{y}Y"));
    }
    if mo != 0 {
        out.push_str(&format!("{mo}M"));
    }
    if days != 0 {
        out.push_str(&format!("{days}D"));
    }
    if micros != 0 || out.len() == 1 {
        out.push('T');
        let neg = micros < 0;
        let a = micros.unsigned_abs();
        let (h, m, s, us) = (a / 3_600_000_000, a / 60_000_000 % 60, a / 1_000_000 % 60, a % 1_000_000);
        let sign = if neg { "-" } else { "" };
        if h != 0 {
            out.push_str(&format!("{sign}{h}H"));
        }
        if m != 0 {
            out.push_str(&format!("{sign}{m}M"));
        }
        if s != 0 || us != 0 || (h == 0 && m == 0) {
            if us == 0 {
                out.push_str(&format!("{sign}{s}S"));
            } else {
                out.push_str(&format!("{sign}{s}.{us:06}S"));
            }
        }
    }
    out
}

/// The Confluent-framed key and value of a transaction metadata event, for schemas
/// `schema_gen::transaction_key_schema` / `transaction_value_schema` registered as ids
/// `key_id` / `value_id`.
pub fn encode_transaction(
    ev: &sluice_core::TransactionEvent,
    key_id: u32,
    value_id: u32,
    key: &mut Vec<u8>,
    value: &mut Vec<u8>,
) {
    wire::begin(key, key_id);
    write_str(key, &ev.id);
    wire::begin(value, value_id);
    write_str(value, ev.status.as_str());
    write_str(value, &ev.id);
    write_opt_long(value, ev.event_count.map(|n| n as i64));
    if ev.status == sluice_core::TransactionStatus::End {
        write_long(value, 1);
        if !ev.data_collections.is_empty() {
            write_long(value, ev.data_collections.len() as i64);
            for (name, n) in &ev.data_collections {
                write_long(value, 1); // the record branch of ["null", event.collection]
                write_str(value, name);
                write_long(value, *n as i64);
            }
        }
        write_long(value, 0);
    } else {
        write_long(value, 0);
    }
    write_long(value, ev.ts_ms);
}

/// The Confluent-framed key (`{serverName}`) and value (`{ts_ms}`) of a heartbeat event, for
/// schemas `schema_gen::heartbeat_key_schema` / `heartbeat_value_schema` registered as ids
/// `key_id` / `value_id`.
pub fn encode_heartbeat(
    server_name: &str,
    ts_ms: i64,
    key_id: u32,
    value_id: u32,
    key: &mut Vec<u8>,
    value: &mut Vec<u8>,
) {
    wire::begin(key, key_id);
    write_str(key, server_name);
    wire::begin(value, value_id);
    write_long(value, ts_ms);
}

/// Encodes events of many tables; holds one reusable buffer pair.
#[derive(Debug, Default)]
pub struct EventEncoder {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl EventEncoder {
    /// Encode `ev` with `codec` into the encoder's buffers; returns whether there is a key.
    pub fn encode(&mut self, codec: &TableCodec, ev: &ChangeEvent) -> Result<bool, AvroError> {
        let has_key = codec.encode_key(ev, &mut self.key)?;
        codec.encode_value(ev, &mut self.value)?;
        Ok(has_key)
    }
}

pub mod json;

#[cfg(test)]
pub(crate) mod tests;
