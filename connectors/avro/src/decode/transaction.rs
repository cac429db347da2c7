//! Decoding transaction metadata records (`<prefix>.transaction`, Debezium's
//! `TransactionMetadataValue`) for sinks that apply source transactions atomically.
//!
//! These records are few (two per source transaction), so they are read with apache-avro's
//! generic reader from the writer schema; only the fields Debezium defines are used, in any
//! order, and unknown fields are ignored, so Debezium's and Sluice's records both decode.

use apache_avro::types::Value as Avro;
use sluice_core::{TransactionEvent, TransactionStatus};

use crate::error::AvroError;

fn unwrap_union(v: &Avro) -> &Avro {
    match v {
        Avro::Union(_, inner) => inner,
        other => other,
    }
}

fn field<'a>(fields: &'a [(String, Avro)], name: &str) -> Option<&'a Avro> {
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| unwrap_union(v))
}

fn long(v: Option<&Avro>) -> Option<i64> {
    match v {
        Some(Avro::Long(n)) => Some(*n),
        Some(Avro::Int(n)) => Some(i64::from(*n)),
        _ => None,
    }
}

fn string(v: Option<&Avro>) -> Option<&str> {
    match v {
        Some(Avro::String(s)) => Some(s),
        _ => None,
    }
}

/// Read one transaction metadata value `body` (without the 5-byte header) written with
/// `schema`.
pub fn read_transaction(
    schema: &apache_avro::Schema,
    topic: &str,
    schema_id: u32,
    mut body: &[u8],
) -> Result<TransactionEvent, AvroError> {
    let bad = |reason: String| AvroError::Decode { topic: topic.to_owned(), schema_id, reason };
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(schema)
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let value = reader.read_value(&mut body).map_err(|e| bad(e.to_string()))?;
    let Avro::Record(fields) = value else {
        return Err(bad("transaction metadata is not a record".into()));
    };
    let status = match string(field(&fields, "status")) {
        Some("BEGIN") => TransactionStatus::Begin,
        Some("END") => TransactionStatus::End,
        other => return Err(bad(format!("transaction status {other:?} is neither BEGIN nor END"))),
    };
    let id = string(field(&fields, "id")).ok_or_else(|| bad("transaction metadata without `id`".into()))?;
    let event_count = long(field(&fields, "event_count")).and_then(|n| u64::try_from(n).ok());
    let mut data_collections = Vec::new();
    if let Some(Avro::Array(items)) = field(&fields, "data_collections") {
        for item in items {
            let Avro::Record(f) = unwrap_union(item) else { continue };
            let name = string(field(f, "data_collection"));
            let count = long(field(f, "event_count")).and_then(|n| u64::try_from(n).ok());
            if let (Some(name), Some(count)) = (name, count) {
                data_collections.push((name.to_owned(), count));
            }
        }
    }
    Ok(TransactionEvent {
        status,
        id: id.to_owned(),
        ts_ms: long(field(&fields, "ts_ms")).unwrap_or(0),
        event_count,
        data_collections,
    })
}
