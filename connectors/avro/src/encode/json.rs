//! Change events as Kafka Connect's `JsonConverter` writes a Debezium envelope: with
//! `schemas.enable=true` each key and value is `{"schema": <Connect schema>, "payload": …}`,
//! otherwise the payload alone. The schema is the same Connect schema the Avro rendering comes
//! from ([`crate::connect::to_json_schema`]), so both formats describe a table identically.
//!
//! Values follow `JsonConverter`'s defaults: bytes and decimals (`decimal.format=BASE64`) as
//! base64 of the bytes / unscaled two's-complement integer, floats' NaN and infinities as the
//! strings `"NaN"`, `"Infinity"`, `"-Infinity"` (as Jackson writes them), everything else as the
//! Connect value of the column's [`Repr`]. No registry is involved.

use serde_json::{json, Map, Value as Json};
use sluice_core::{ChangeEvent, SourceDetail, TransactionEvent, Value};

use super::{
    bits_le, format_interval, format_timetz, format_uuid, format_zoned_timestamp, money_decimal, parse_point,
    point_wkb, substitute, Substitute, TableCodec,
};
use crate::base64;
use crate::decimal;
use crate::error::AvroError;
use crate::repr::{timestamp_field, Repr};
use crate::schema_gen;

/// `{"schema": …, "payload": …}` or the payload alone, serialized into `buf`.
fn frame(buf: &mut Vec<u8>, schema: Option<&str>, payload: &Json) {
    buf.clear();
    match schema {
        Some(s) => {
            buf.extend_from_slice(b"{\"schema\":");
            buf.extend_from_slice(s.as_bytes());
            buf.extend_from_slice(b",\"payload\":");
            // Serializing a `Value` into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *buf, payload);
            buf.push(b'}');
        }
        None => {
            let _ = serde_json::to_writer(&mut *buf, payload);
        }
    }
}

fn float(f: f64) -> Json {
    if f.is_nan() {
        json!("NaN")
    } else if f.is_infinite() {
        json!(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(f)
    }
}

fn decimal_b64(text: &str, scale: u32) -> Result<Json, String> {
    let mut b = Vec::with_capacity(16);
    decimal::to_unscaled_bytes(text, scale, &mut b)?;
    Ok(json!(base64::encode(&b)))
}

/// The Connect JSON value of a non-null value in `repr`.
fn value_json(repr: &Repr, v: &Value) -> Result<Json, String> {
    let mismatch = || format!("a {} value does not fit representation {repr:?}", v.kind_name());
    Ok(match (repr, v) {
        (Repr::Boolean, Value::Bool(b)) => json!(b),
        (Repr::Boolean, Value::Text(t)) => json!(t == "1"),
        (Repr::Int16 | Repr::Int32 | Repr::Year | Repr::Int64, Value::Int16(i)) => json!(i),
        (Repr::Int32 | Repr::Year | Repr::Int64, Value::Int32(i)) => json!(i),
        (Repr::Int64, Value::Int64(i)) => json!(i),
        (Repr::Float32, Value::Float32(f)) => float(f64::from(*f)),
        (Repr::Float64, Value::Float64(f)) => float(*f),
        (Repr::Float64, Value::Float32(f)) => float(f64::from(*f)),
        (Repr::Decimal { scale, .. }, Value::UInt64(u)) => decimal_b64(&u.to_string(), *scale)?,
        (Repr::Decimal { scale, .. }, Value::Decimal(t)) => decimal_b64(t, *scale)?,
        (Repr::Money, Value::Text(t) | Value::Decimal(t)) => decimal_b64(&money_decimal(t)?, 2)?,
        (Repr::VariableScaleDecimal, Value::Decimal(t)) => {
            let scale = decimal::scale_of(t)?;
            json!({"scale": scale, "value": decimal_b64(t, scale)?})
        }
        (Repr::DecimalString, Value::Decimal(t)) => json!(t),
        (Repr::DecimalString, Value::UInt64(u)) => json!(u.to_string()),
        (Repr::DecimalString, Value::Text(t)) => json!(money_decimal(t)?),
        (Repr::DecimalDouble, Value::Decimal(t) | Value::Text(t)) => {
            float(money_decimal(t).unwrap_or_else(|_| t.clone()).parse().map_err(|_| mismatch())?)
        }
        (Repr::DecimalDouble, Value::UInt64(u)) => float(*u as f64),
        (Repr::String(_) | Repr::Enum { .. }, Value::Text(s) | Value::Json(s)) => json!(s),
        (Repr::String(_), Value::Uuid(u)) => json!(format_uuid(u)),
        (Repr::Bytes | Repr::Bits(_), Value::Bytes(b)) => json!(base64::encode(b)),
        (Repr::Bits(n), Value::Text(t)) => json!(base64::encode(&bits_le(t, *n)?)),
        (Repr::Date, Value::Date(d)) => json!(d),
        (Repr::TimeMillis, Value::Time(t)) => json!(t.div_euclid(1000)),
        (Repr::MicroTime, Value::Time(t)) => json!(t),
        (Repr::TimestampMillis, Value::Timestamp(t)) => json!(timestamp_field(*t, true)),
        (Repr::MicroTimestamp, Value::Timestamp(t)) => json!(timestamp_field(*t, false)),
        (Repr::ZonedTimestamp, Value::TimestampTz(t)) => json!(format_zoned_timestamp(*t)),
        (Repr::ZonedTime, Value::TimeTz { micros, offset_seconds }) => {
            json!(format_timetz(*micros, *offset_seconds))
        }
        (Repr::Interval, Value::Interval { months, days, micros }) => {
            json!(format_interval(*months, *days, *micros))
        }
        (Repr::Interval, Value::Text(s)) => json!(s),
        (Repr::Point, Value::Text(t)) => {
            let (x, y) = parse_point(t)?;
            json!({"x": x, "y": y, "wkb": base64::encode(&point_wkb(x, y)), "srid": null})
        }
        (Repr::Array(inner), Value::Array(items)) => Json::Array(
            items
                .iter()
                .map(|i| if i.is_null() { Ok(Json::Null) } else { value_json(inner, i) })
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(mismatch()),
    })
}

impl TableCodec {
    /// One column's JSON value; unchanged columns as in the Avro encoding (placeholder text for
    /// strings and bytes, null or the zero value otherwise).
    fn column_json(&self, i: usize, v: &Value) -> Result<Json, AvroError> {
        let (col, repr) = (&self.table.columns[i], &self.reprs[i]);
        let err = |reason: String| AvroError::Value {
            table: self.table.id.to_string(),
            column: col.name.clone(),
            reason,
        };
        // The same unchanged/NaN rules as the Avro encoding (`substitute`).
        let substituted;
        let v = match substitute(col, repr, v) {
            None => v,
            Some(Substitute::Value(s)) => {
                substituted = s;
                &substituted
            }
            Some(Substitute::Zero) => return Ok(zero_json(repr)),
        };
        match v {
            Value::Null if col.nullable => Ok(Json::Null),
            Value::Null => Err(err("NULL in a NOT NULL column".into())),
            v => value_json(repr, v).map_err(err),
        }
    }

    fn row_json(
        &self,
        row: Option<&[Value]>,
        columns: impl Iterator<Item = usize>,
    ) -> Result<Json, AvroError> {
        let Some(row) = row else { return Ok(Json::Null) };
        let mut m = Map::new();
        for i in columns {
            let v = row.get(i).ok_or_else(|| AvroError::Value {
                table: self.table.id.to_string(),
                column: format!("#{i}"),
                reason: "row shorter than the table".into(),
            })?;
            m.insert(schema_gen::field_name(&self.table.columns[i]), self.column_json(i, v)?);
        }
        Ok(Json::Object(m))
    }

    /// The key as Connect JSON into `buf`; `false` (and `buf` empty) when the event has no key.
    pub fn encode_json_key(
        &self,
        ev: &ChangeEvent,
        schemas: bool,
        buf: &mut Vec<u8>,
    ) -> Result<bool, AvroError> {
        buf.clear();
        let (Some(schema), Some(row)) = (&self.json_key_schema, ev.key_row()) else {
            return Ok(false);
        };
        let payload = self.row_json(Some(row), self.table.key.iter().copied())?;
        frame(buf, schemas.then_some(schema.as_str()), &payload);
        Ok(true)
    }

    /// The envelope as Connect JSON into `buf`.
    pub fn encode_json_value(
        &self,
        ev: &ChangeEvent,
        schemas: bool,
        buf: &mut Vec<u8>,
    ) -> Result<(), AvroError> {
        let all = 0..self.table.columns.len();
        let s = &ev.source;
        let mut source = Map::new();
        source.insert("version".into(), json!(super::SLUICE_VERSION));
        source.insert("connector".into(), json!(s.connector));
        source.insert("name".into(), json!(s.name));
        source.insert("ts_ms".into(), json!(s.ts_ms));
        source.insert("snapshot".into(), json!(s.snapshot.as_str()));
        source.insert("db".into(), json!(s.db));
        source.insert("ts_us".into(), json!(s.ts_ms.saturating_mul(1_000)));
        source.insert("ts_ns".into(), json!(s.ts_ms.saturating_mul(1_000_000)));
        match &s.detail {
            SourceDetail::Postgres { lsn, tx_id, xmin, sequence } => {
                source.insert("sequence".into(), json!(sequence));
                source.insert("schema".into(), json!(s.schema.as_deref().unwrap_or("")));
                source.insert("table".into(), json!(s.table));
                source.insert("txId".into(), json!(tx_id));
                source.insert("lsn".into(), json!(lsn));
                source.insert("xmin".into(), json!(xmin));
                source.insert("origin".into(), Json::Null);
                source.insert("origin_lsn".into(), Json::Null);
            }
            SourceDetail::MySql { server_id, gtid, file, pos, row, thread, query } => {
                source.insert("sequence".into(), Json::Null);
                source.insert("table".into(), json!(s.table));
                source.insert("server_id".into(), json!(server_id));
                source.insert("gtid".into(), json!(gtid));
                source.insert("file".into(), json!(file));
                source.insert("pos".into(), json!(pos));
                source.insert("row".into(), json!(row));
                source.insert("thread".into(), json!(thread));
                source.insert("query".into(), json!(query));
            }
        }
        let unchanged: Vec<&str> = ev
            .after
            .as_deref()
            .map(|r| {
                self.table
                    .columns
                    .iter()
                    .zip(r)
                    .filter(|(_, v)| v.is_unchanged())
                    .map(|(c, _)| c.name.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let payload = json!({
            "before": self.row_json(ev.before.as_deref(), all.clone())?,
            "after": self.row_json(ev.after.as_deref(), all)?,
            "source": Json::Object(source),
            "transaction": ev.transaction.as_ref().map(|t| json!({
                "id": t.id, "total_order": t.total_order, "data_collection_order": t.data_collection_order
            })),
            "op": ev.op.code(),
            "ts_ms": ev.ts_ms,
            "ts_us": ev.ts_ms.saturating_mul(1_000),
            "ts_ns": ev.ts_ms.saturating_mul(1_000_000),
            "unchanged": if unchanged.is_empty() { Json::Null } else { json!(unchanged) },
        });
        frame(buf, schemas.then_some(self.json_value_schema.as_str()), &payload);
        Ok(())
    }
}

/// The zero value of a representation, as JSON (an unchanged NOT NULL column).
fn zero_json(repr: &Repr) -> Json {
    match repr {
        Repr::Boolean => json!(false),
        Repr::Decimal { .. } | Repr::Money => json!("AA=="),
        Repr::VariableScaleDecimal => json!({"scale": 0, "value": "AA=="}),
        Repr::DecimalString => json!("0"),
        Repr::String(Some("io.debezium.data.Uuid")) => json!("00000000-0000-0000-0000-000000000000"),
        Repr::Interval => json!("PT0S"),
        Repr::ZonedTimestamp => json!("1970-01-01T00:00:00Z"),
        Repr::ZonedTime => json!("00:00:00Z"),
        Repr::String(_) | Repr::Enum { .. } | Repr::Bytes | Repr::Bits(_) => json!(""),
        Repr::Point => json!({"x": 0.0, "y": 0.0, "wkb": null, "srid": null}),
        Repr::Array(_) => json!([]),
        _ => json!(0),
    }
}

/// A transaction metadata event as Connect JSON: (key, value).
pub fn encode_transaction_json(ev: &TransactionEvent, schemas: bool, key: &mut Vec<u8>, value: &mut Vec<u8>) {
    let ks = schemas
        .then(|| crate::connect::to_json_schema(&schema_gen::transaction_key_connect_schema()).to_string());
    let vs = schemas
        .then(|| crate::connect::to_json_schema(&schema_gen::transaction_value_connect_schema()).to_string());
    frame(key, ks.as_deref(), &json!({"id": ev.id}));
    let collections = (ev.status == sluice_core::TransactionStatus::End).then(|| {
        ev.data_collections
            .iter()
            .map(|(n, c)| json!({"data_collection": n, "event_count": c}))
            .collect::<Vec<_>>()
    });
    frame(
        value,
        vs.as_deref(),
        &json!({"status": ev.status.as_str(), "id": ev.id, "event_count": ev.event_count,
                "data_collections": collections, "ts_ms": ev.ts_ms}),
    );
}

/// A heartbeat event as Connect JSON: (key, value).
pub fn encode_heartbeat_json(
    server_name: &str,
    ts_ms: i64,
    schemas: bool,
    key: &mut Vec<u8>,
    value: &mut Vec<u8>,
) {
    let ks = schemas
        .then(|| crate::connect::to_json_schema(&schema_gen::heartbeat_key_connect_schema()).to_string());
    let vs = schemas
        .then(|| crate::connect::to_json_schema(&schema_gen::heartbeat_value_connect_schema()).to_string());
    frame(key, ks.as_deref(), &json!({"serverName": server_name}));
    frame(value, vs.as_deref(), &json!({"ts_ms": ts_ms}));
}
