//! Avro object container files: the metadata columns then the table's columns, each a nullable
//! union of its type, typed with Avro's logical types (docs/sinks.md, "Object-store target"):
//!
//! | logical type | Avro |
//! |---|---|
//! | boolean, smallint, int, bigint | boolean, int, int, long |
//! | `BIGINT UNSIGNED` | bytes, decimal(20, 0) |
//! | float, double | float, double |
//! | decimal(p, s) | bytes, decimal(p, s), exact at any precision |
//! | decimal without precision | string, the exact decimal text |
//! | text, enum, set, bits, timetz, interval | string (as in the Parquet files) |
//! | json / jsonb | string, with `"sluice.type": "json"` |
//! | uuid | string, logical type uuid |
//! | bytes | bytes |
//! | date | int, date |
//! | time | long, time-micros — MySQL/MariaDB `TIME` (a duration) as a plain long of µs |
//! | timestamp / timestamptz | long, local-timestamp-micros / timestamp-micros |
//! | arrays | array of the element's (nullable) type |
//!
//! Blocks hold up to `row_group_rows` rows, each compressed with codec `deflate` — the one codec
//! besides `null` every Avro reader has without extras (fastavro needs another package for
//! `zstandard`). The sync marker is derived from the file's name, so a file rewritten after a
//! crash has the same bytes as the first try.

use serde_json::{json, Value as Json};
use sluice_avro::decimal::to_unscaled_bytes;
use sluice_avro::encode::{format_uuid, write_long};
use sluice_avro::schema_gen::field_name;
use sluice_core::{DataType, TableSchema, Value};

use crate::rows::FileRow;

/// The Avro schema (`null`-first unions) of a file of table `t`.
pub fn schema(t: &TableSchema, mysql: bool) -> Json {
    let opt = |t: Json| json!(["null", t]);
    let mut fields = vec![
        json!({"name": "__op", "type": "string"}),
        json!({"name": "__ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}}),
        json!({"name": "__source_pos", "type": "string"}),
        json!({"name": "__txn_id", "type": opt(json!("string")), "default": null}),
        json!({"name": "__topic", "type": "string"}),
        json!({"name": "__partition", "type": "int"}),
        json!({"name": "__offset", "type": "long"}),
        json!({"name": "__unchanged", "type": opt(json!({"type": "array", "items": "string"})), "default": null}),
    ];
    for c in &t.columns {
        let mut f =
            json!({"name": field_name(c), "type": opt(avro_type(&c.data_type, mysql)), "default": null});
        if field_name(c) != c.name {
            f["sluice.column"] = json!(c.name);
        }
        fields.push(f);
    }
    json!({
        "type": "record",
        "name": sanitize_name(&t.id.table),
        "namespace": format!("sluice.s3.{}", sanitize_name(&t.id.schema)),
        "fields": fields,
    })
}

fn sanitize_name(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn avro_type(dt: &DataType, mysql: bool) -> Json {
    match dt {
        DataType::Boolean => json!("boolean"),
        DataType::Int16 | DataType::Int32 => json!("int"),
        DataType::Int64 => json!("long"),
        DataType::UInt64 => json!({"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 0}),
        DataType::Float32 => json!("float"),
        DataType::Float64 => json!("double"),
        DataType::Decimal { precision: Some(p), scale } => {
            json!({"type": "bytes", "logicalType": "decimal", "precision": p, "scale": scale.unwrap_or(0)})
        }
        DataType::Json => json!({"type": "string", "sluice.type": "json"}),
        DataType::Uuid => json!({"type": "string", "logicalType": "uuid"}),
        DataType::Bytes => json!("bytes"),
        DataType::Date => json!({"type": "int", "logicalType": "date"}),
        DataType::Time if mysql => json!({"type": "long", "sluice.type": "mysql-time-micros"}),
        DataType::Time => json!({"type": "long", "logicalType": "time-micros"}),
        DataType::Timestamp => json!({"type": "long", "logicalType": "local-timestamp-micros"}),
        DataType::TimestampTz => json!({"type": "long", "logicalType": "timestamp-micros"}),
        DataType::Array(inner) => json!({"type": "array", "items": ["null", avro_type(inner, mysql)]}),
        DataType::Decimal { .. }
        | DataType::Text
        | DataType::TimeTz
        | DataType::Interval
        | DataType::Enum(_)
        | DataType::Set(_)
        | DataType::Bits(_) => json!("string"),
    }
}

/// Whether `row` fits the file schema of `t` (decimals exact at their scale), checked when a
/// change is staged so that a refusal names its record.
pub fn check(t: &TableSchema, row: &[Value]) -> Result<(), String> {
    let mut scratch = Vec::new();
    for (c, v) in t.columns.iter().zip(row) {
        if !v.is_null() {
            scratch.clear();
            value(&c.data_type, false, v, &mut scratch).map_err(|e| format!("column {}: {e}", c.name))?;
        }
    }
    Ok(())
}

/// Encode `rows` as one Avro object container file named `name` (the name seeds the sync marker),
/// blocks deflated at `level` (0–9).
pub fn encode(
    t: &TableSchema,
    mysql: bool,
    rows: &[FileRow],
    block_rows: usize,
    level: u32,
    name: &str,
) -> Result<Vec<u8>, String> {
    let schema = schema(t, mysql).to_string();
    let sync = sync_marker(name);
    let mut out = Vec::with_capacity(rows.len() * 48 + schema.len() + 64);
    out.extend_from_slice(b"Obj\x01");
    write_long(&mut out, 2);
    for (k, v) in [("avro.schema", schema.as_bytes()), ("avro.codec", b"deflate".as_slice())] {
        write_bytes(&mut out, k.as_bytes());
        write_bytes(&mut out, v);
    }
    write_long(&mut out, 0);
    out.extend_from_slice(&sync);
    let mut block = Vec::new();
    for chunk in rows.chunks(block_rows.max(1)) {
        block.clear();
        for r in chunk {
            row(t, mysql, r, &mut block)?;
        }
        let packed = deflate(&block, level)?;
        write_long(&mut out, chunk.len() as i64);
        write_long(&mut out, packed.len() as i64);
        out.extend_from_slice(&packed);
        out.extend_from_slice(&sync);
    }
    Ok(out)
}

fn row(t: &TableSchema, mysql: bool, r: &FileRow, buf: &mut Vec<u8>) -> Result<(), String> {
    let m = &r.meta;
    write_str(buf, m.op);
    write_long(buf, m.ts_ms);
    write_str(buf, &m.pos);
    match &m.txn {
        None => write_long(buf, 0),
        Some(x) => {
            write_long(buf, 1);
            write_str(buf, x);
        }
    }
    write_str(buf, &m.topic);
    write_long(buf, i64::from(m.partition));
    write_long(buf, m.offset);
    if m.unchanged.is_empty() {
        write_long(buf, 0);
    } else {
        write_long(buf, 1);
        write_long(buf, m.unchanged.len() as i64);
        for n in &m.unchanged {
            write_str(buf, n);
        }
        write_long(buf, 0);
    }
    for (c, v) in t.columns.iter().zip(&r.image) {
        nullable(&c.data_type, mysql, v, buf).map_err(|e| format!("column {}: {e}", c.name))?;
    }
    Ok(())
}

/// A `["null", T]` union: branch 0 for null, else branch 1 and the value.
fn nullable(dt: &DataType, mysql: bool, v: &Value, buf: &mut Vec<u8>) -> Result<(), String> {
    if v.is_null() || v.is_unchanged() {
        write_long(buf, 0);
        return Ok(());
    }
    write_long(buf, 1);
    value(dt, mysql, v, buf)
}

fn value(dt: &DataType, mysql: bool, v: &Value, buf: &mut Vec<u8>) -> Result<(), String> {
    let mismatch = || format!("a {} value in a {dt:?} column", v.kind_name());
    match (dt, v) {
        (DataType::Boolean, Value::Bool(b)) => buf.push(u8::from(*b)),
        (DataType::Int16 | DataType::Int32, Value::Int16(n)) => write_long(buf, i64::from(*n)),
        (DataType::Int16 | DataType::Int32, Value::Int32(n)) => write_long(buf, i64::from(*n)),
        (DataType::Int64, Value::Int64(n)) => write_long(buf, *n),
        (DataType::Int64, Value::Int32(n)) => write_long(buf, i64::from(*n)),
        (DataType::UInt64, Value::UInt64(n)) => decimal(&n.to_string(), 0, buf)?,
        (DataType::Float32, Value::Float32(f)) => buf.extend_from_slice(&f.to_le_bytes()),
        (DataType::Float64, Value::Float64(f)) => buf.extend_from_slice(&f.to_le_bytes()),
        (DataType::Float64, Value::Float32(f)) => buf.extend_from_slice(&f64::from(*f).to_le_bytes()),
        (DataType::Decimal { precision: Some(_), scale }, Value::Decimal(d)) => {
            decimal(d, scale.unwrap_or(0), buf)?
        }
        (DataType::Uuid, Value::Uuid(u)) => write_str(buf, &format_uuid(u)),
        (DataType::Bytes, Value::Bytes(b)) => write_bytes(buf, b),
        (DataType::Date, Value::Date(d)) => write_long(buf, i64::from(*d)),
        (DataType::Time, Value::Time(m)) => write_long(buf, *m),
        (DataType::Timestamp | DataType::TimestampTz, Value::Timestamp(m) | Value::TimestampTz(m)) => {
            write_long(buf, *m)
        }
        (DataType::Array(inner), Value::Array(items)) => {
            if !items.is_empty() {
                write_long(buf, items.len() as i64);
                for i in items {
                    nullable(inner, mysql, i, buf)?;
                }
            }
            write_long(buf, 0);
        }
        (
            DataType::Decimal { precision: None, .. }
            | DataType::Text
            | DataType::Json
            | DataType::TimeTz
            | DataType::Interval
            | DataType::Enum(_)
            | DataType::Set(_)
            | DataType::Bits(_),
            v,
        ) if !matches!(v, Value::Array(_)) => {
            write_str(buf, &sluice_core::text::scalar_text(v).ok_or_else(mismatch)?)
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

/// Raw deflate (RFC 1951), as Avro's `deflate` codec has it.
fn deflate(block: &[u8], level: u32) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(block.len() / 3),
        flate2::Compression::new(level),
    );
    e.write_all(block).map_err(|e| format!("deflate: {e}"))?;
    e.finish().map_err(|e| format!("deflate: {e}"))
}

fn decimal(text: &str, scale: u32, buf: &mut Vec<u8>) -> Result<(), String> {
    let mut b = Vec::with_capacity(17);
    to_unscaled_bytes(text, scale, &mut b)
        .map_err(|e| format!("decimal {text:?} has no Avro decimal form ({e})"))?;
    write_bytes(buf, &b);
    Ok(())
}

fn write_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    write_long(buf, b.len() as i64);
    buf.extend_from_slice(b);
}

fn write_str(buf: &mut Vec<u8>, s: &str) {
    write_bytes(buf, s.as_bytes());
}

/// 16 bytes from two FNV-1a hashes of the file name: stable across rewrites of the same file.
fn sync_marker(name: &str) -> [u8; 16] {
    let fnv =
        |seed: u64| name.bytes().fold(seed, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&fnv(0xcbf2_9ce4_8422_2325).to_le_bytes());
    out[8..].copy_from_slice(&fnv(0x8422_2325_cbf2_9ce4).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sluice_core::{Column, TableId};

    use super::*;
    use crate::rows::Meta;

    fn col(name: &str, data_type: DataType) -> Column {
        Column::new(name, data_type, "", true)
    }

    /// What we write, read by the apache-avro crate's reader (schema, logical types, codec).
    #[test]
    fn files_read_back_with_apache_avro() {
        let t = TableSchema {
            id: TableId::new("public", "t-1"),
            columns: vec![
                col("id", DataType::Int32),
                col("amount", DataType::Decimal { precision: Some(10), scale: Some(2) }),
                col("big", DataType::UInt64),
                col("at", DataType::TimestampTz),
                col("tags", DataType::Array(Box::new(DataType::Text))),
                col("u", DataType::Uuid),
            ],
            key: vec![0],
            version: 1,
        };
        let rows: Vec<FileRow> = (0..5)
            .map(|i| FileRow {
                meta: Meta {
                    op: "c",
                    ts_ms: 1_700_000_000_000 + i,
                    pos: format!("0/{i}"),
                    txn: (i % 2 == 0).then(|| i.to_string()),
                    topic: Arc::from("p.public.t-1"),
                    partition: 0,
                    offset: i,
                    unchanged: if i == 3 { vec!["tags".into()] } else { vec![] },
                },
                image: vec![
                    Value::Int32(i as i32),
                    Value::Decimal("-12.5".into()),
                    Value::UInt64(u64::MAX),
                    Value::TimestampTz(1_700_000_000_000_000),
                    if i == 3 {
                        Value::Null
                    } else {
                        Value::Array(vec![Value::Text("a".into()), Value::Null])
                    },
                    Value::Uuid([7; 16]),
                ],
            })
            .collect();
        let bytes = encode(&t, false, &rows, 2, 6, "x").unwrap();
        assert_eq!(bytes, encode(&t, false, &rows, 2, 6, "x").unwrap(), "same name, same bytes");
        let reader = apache_avro::Reader::new(&bytes[..]).unwrap();
        let read: Vec<apache_avro::types::Value> = reader.map(|r| r.unwrap()).collect();
        assert_eq!(read.len(), 5);
        let apache_avro::types::Value::Record(fields) = &read[3] else { panic!("{:?}", read[3]) };
        let get = |n: &str| &fields.iter().find(|(k, _)| k == n).unwrap().1;
        assert_eq!(get("__offset"), &apache_avro::types::Value::Long(3));
        assert!(matches!(get("amount"), apache_avro::types::Value::Union(1, _)));
        assert!(check(&t, &rows[0].image).is_ok());
        let mut bad = rows[0].image.clone();
        bad[1] = Value::Decimal("1.234".into());
        assert!(check(&t, &bad).unwrap_err().contains("amount"));
    }
}
