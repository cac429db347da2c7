//! Kafka Connect JSON records (`JsonConverter` with `schemas.enable=true`: Sluice's JSON format,
//! Debezium's JSON, DMS-style `{"schema", "payload"}`) turned into what the Avro decoder reads:
//! the embedded Connect schema becomes the Avro schema `AvroConverter` would register for it
//! ([`crate::connect::to_avro`]), and the payload is written as Avro binary in that schema's
//! layout. One decoding path then serves both formats, with the same semantic types.
//!
//! Each distinct schema gets a local id (a hash of its text with the top bit set, never a
//! registry id), cached like a registry schema. Payload values are taken as `JsonConverter`
//! writes them: bytes and decimals as base64 (or decimals as numbers, `decimal.format=NUMERIC`),
//! floats as numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`. A record without a schema
//! (`schemas.enable=false`) cannot be typed and is refused by name.

use serde_json::Value as Json;

use crate::base64;
use crate::connect::{Field, Kind, Schema, DECIMAL};
use crate::decimal;
use crate::encode::write_long;

/// The Connect schema of a `JsonConverter` schema object.
pub(crate) fn parse_schema(j: &Json) -> Result<Schema, String> {
    let o = j.as_object().ok_or("a JSON schema that is not an object")?;
    let t = o.get("type").and_then(Json::as_str).ok_or("a JSON schema without a type")?;
    let kind = match t {
        "int8" => Kind::Int8,
        "int16" => Kind::Int16,
        "int32" => Kind::Int32,
        "int64" => Kind::Int64,
        "float" => Kind::Float32,
        "double" => Kind::Float64,
        "boolean" => Kind::Boolean,
        "string" => Kind::String,
        "bytes" => Kind::Bytes,
        "array" => {
            Kind::Array(Box::new(parse_schema(o.get("items").ok_or("an array schema without items")?)?))
        }
        "struct" => {
            let fields = o.get("fields").and_then(Json::as_array).ok_or("a struct schema without fields")?;
            Kind::Struct(
                fields
                    .iter()
                    .map(|f| {
                        let name =
                            f.get("field").and_then(Json::as_str).ok_or("a struct field without a name")?;
                        Ok(Field::new(name, parse_schema(f)?))
                    })
                    .collect::<Result<_, String>>()?,
            )
        }
        other => return Err(format!("JSON schema type {other:?} is not supported")),
    };
    let mut s = Schema::of(kind);
    s.optional = o.get("optional").and_then(Json::as_bool).unwrap_or(false);
    s.name = o.get("name").and_then(Json::as_str).map(str::to_owned);
    s.version = o.get("version").and_then(Json::as_i64).and_then(|v| i32::try_from(v).ok());
    s.doc = o.get("doc").and_then(Json::as_str).map(str::to_owned);
    s.default = o.get("default").filter(|d| !d.is_null()).cloned();
    if let Some(p) = o.get("parameters").and_then(Json::as_object) {
        s.params = p
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
            .collect();
    }
    Ok(s)
}

/// `v` as Avro binary in the layout of `to_avro(schema)`.
pub(crate) fn write_avro(schema: &Schema, v: &Json, buf: &mut Vec<u8>) -> Result<(), String> {
    if schema.optional {
        // to_avro: `[T, "null"]` when the default is not null, else `["null", T]`.
        let value_first = schema.default.as_ref().is_some_and(|d| !d.is_null());
        match (v.is_null(), value_first) {
            (true, true) => return write_long_ok(buf, 1),
            (true, false) => return write_long_ok(buf, 0),
            (false, true) => write_long(buf, 0),
            (false, false) => write_long(buf, 1),
        }
    } else if v.is_null() {
        return Err("null for a required field".into());
    }
    match &schema.kind {
        Kind::Int8 | Kind::Int16 | Kind::Int32 | Kind::Int64 => {
            write_long(buf, v.as_i64().ok_or("an integer field that is not an integer")?)
        }
        Kind::Float32 => buf.extend_from_slice(&(float(v)? as f32).to_le_bytes()),
        Kind::Float64 => buf.extend_from_slice(&float(v)?.to_le_bytes()),
        Kind::Boolean => buf.push(u8::from(v.as_bool().ok_or("a boolean field that is not a boolean")?)),
        Kind::String => write_bytes(buf, v.as_str().ok_or("a string field that is not a string")?.as_bytes()),
        Kind::Bytes if schema.name.as_deref() == Some(DECIMAL) => {
            let bytes = match v {
                Json::String(s) => base64::decode(s)?,
                Json::Number(n) => {
                    let scale = schema.param_value("scale").and_then(|s| s.parse().ok()).unwrap_or(0);
                    let mut b = Vec::new();
                    decimal::to_unscaled_bytes(&n.to_string(), scale, &mut b)?;
                    b
                }
                _ => return Err("a decimal that is neither base64 nor a number".into()),
            };
            write_bytes(buf, &bytes);
        }
        Kind::Bytes => {
            write_bytes(buf, &base64::decode(v.as_str().ok_or("a bytes field that is not base64 text")?)?)
        }
        Kind::Array(items) => {
            let a = v.as_array().ok_or("an array field that is not an array")?;
            if !a.is_empty() {
                write_long(buf, a.len() as i64);
                for item in a {
                    write_avro(items, item, buf)?;
                }
            }
            write_long(buf, 0);
        }
        Kind::Struct(fields) => {
            for f in fields {
                let fv = v.get(&f.name).unwrap_or(&Json::Null);
                write_avro(&f.schema, fv, buf).map_err(|e| format!("{}: {e}", f.name))?;
            }
        }
    }
    Ok(())
}

fn write_long_ok(buf: &mut Vec<u8>, v: i64) -> Result<(), String> {
    write_long(buf, v);
    Ok(())
}

fn write_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    write_long(buf, b.len() as i64);
    buf.extend_from_slice(b);
}

fn float(v: &Json) -> Result<f64, String> {
    match v {
        Json::Number(n) => n.as_f64().ok_or_else(|| "a float out of range".into()),
        Json::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err("a float field holding text".into()),
        },
        _ => Err("a float field that is not a number".into()),
    }
}

/// A local schema id for a JSON schema: FNV-1a of its text, top bit set (registry ids are
/// positive 31-bit numbers, so the two never meet).
pub(crate) fn local_id(schema_text: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in schema_text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h | 0x8000_0000
}

/// Connect schemas of JSON records by local id, each with the Avro schema it renders to: a
/// schema is parsed and rendered once, not per record.
pub(crate) type JsonSchemas = std::collections::HashMap<u32, (Schema, Json)>;

/// A `{"schema", "payload"}` record as (local id, framed Avro bytes); its schema is in `schemas`
/// under that id afterwards.
pub(crate) fn transcode(record: &[u8], schemas: &mut JsonSchemas) -> Result<(u32, Vec<u8>), String> {
    let j: Json = serde_json::from_slice(record).map_err(|e| format!("not JSON: {e}"))?;
    let (Some(schema), Some(payload)) = (j.get("schema"), j.get("payload")) else {
        return Err("a JSON record without an embedded schema: publish with schemas enabled \
                    (JsonConverter schemas.enable=true, Sluice json_schemas = true) so its columns can be typed"
            .into());
    };
    let id = local_id(&schema.to_string());
    let connect = match schemas.entry(id) {
        std::collections::hash_map::Entry::Occupied(e) => &e.into_mut().0,
        std::collections::hash_map::Entry::Vacant(e) => {
            let connect = parse_schema(schema)?;
            let avro = crate::connect::to_avro(&connect);
            &e.insert((connect, avro)).0
        }
    };
    let mut buf = Vec::with_capacity(record.len());
    crate::wire::begin(&mut buf, id);
    write_avro(connect, payload, &mut buf)?;
    Ok((id, buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_record_round_trips_through_the_connect_schema() {
        let schema = json!({"type": "struct", "name": "p.s.t.Value", "optional": false, "fields": [
            {"field": "id", "type": "int32", "optional": false},
            {"field": "amount", "type": "bytes", "optional": true, "name": DECIMAL, "version": 1,
             "parameters": {"scale": "2", "connect.decimal.precision": "10"}},
            {"field": "f", "type": "double", "optional": true},
            {"field": "tags", "type": "array", "optional": true, "items": {"type": "string", "optional": true}},
            {"field": "snap", "type": "string", "optional": true, "default": "false"}
        ]});
        let record = json!({"schema": schema, "payload":
            {"id": 7, "amount": "BNI=", "f": "NaN", "tags": ["a", null], "snap": "true"}});
        let mut schemas = JsonSchemas::new();
        let (id, bytes) = transcode(record.to_string().as_bytes(), &mut schemas).unwrap();
        assert!(id & 0x8000_0000 != 0);
        let parsed = apache_avro::Schema::parse(&schemas[&id].1).unwrap();
        let mut body = &bytes[5..];
        let v = apache_avro::reader::datum::GenericDatumReader::builder(&parsed)
            .build()
            .unwrap()
            .read_value(&mut body)
            .unwrap();
        let apache_avro::types::Value::Record(f) = v else { panic!() };
        assert_eq!(f[0].1, apache_avro::types::Value::Int(7));
        assert!(body.is_empty());
        assert!(transcode(br#"{"id": 1}"#, &mut schemas).unwrap_err().contains("schemas enabled"));
    }
}
