//! The records of the registry topic: Confluent's `_schemas` key/value JSON format.
//!
//! Keys and values are the JSON that Confluent Schema Registry writes, so its tooling (and a
//! `kafka-console-consumer` reader) understands the topic:
//!
//! | key | value |
//! | --- | --- |
//! | `{"keytype":"SCHEMA","subject":S,"version":V,"magic":1}` | `{"subject":S,"version":V,"id":N,"schema":"...","deleted":false}`, or null (permanently deleted) |
//! | `{"keytype":"CONFIG","subject":S,"magic":0}` (`"subject":null` for the global level) | `{"compatibilityLevel":"FULL"}`, or null (setting removed) |
//! | `{"keytype":"NOOP","magic":0}` | null: a catch-up marker, carries nothing |
//! | `{"keytype":"SLUICE_MAX_ID","magic":0}` | `{"maxId":N}`: Sluice's only addition, see below |
//!
//! Invariants: a key's bytes depend only on what it names (fields always in the order above), so
//! log compaction keeps exactly the latest value per subject/version and per config scope. The
//! `SLUICE_MAX_ID` record is written with every permanent delete: once compaction drops the
//! tombstoned schema records, it still tells a replay the highest id ever handed out, so ids are
//! never reused. Confluent's `DELETE_SUBJECT` records (soft-deleting all versions up to one) are
//! understood when read; other key types are skipped. Failure: [`Record::decode`] returns
//! `Err(reason)` for a record that is not valid JSON of a known shape; the reader logs and skips
//! it rather than stopping.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::avro::Level;

/// One record of the registry topic, decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    /// A subject version; `value: None` is a permanent delete (tombstone).
    Schema { subject: String, version: i32, value: Option<SchemaValue> },
    /// A compatibility level; `subject: None` is the global one, `level: None` removes it.
    Config { subject: Option<String>, level: Option<Level> },
    /// Confluent's soft delete of every version of `subject` up to `version`.
    DeleteSubject { subject: String, version: i32 },
    /// A catch-up marker.
    Noop,
    /// The highest schema id ever allocated.
    MaxId(i32),
    /// A key type this registry does not use (e.g. Confluent's `MODE`); skipped.
    Ignored(String),
}

/// The value of a `SCHEMA` record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SchemaValue {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema: String,
    #[serde(default)]
    pub deleted: bool,
    #[serde(rename = "schemaType", default, skip_serializing_if = "Option::is_none")]
    pub schema_type: Option<String>,
}

#[derive(Serialize)]
struct SchemaKey<'a> {
    keytype: &'static str,
    subject: &'a str,
    version: i32,
    magic: u8,
}

#[derive(Serialize)]
struct ConfigKey<'a> {
    keytype: &'static str,
    subject: Option<&'a str>,
    magic: u8,
}

#[derive(Serialize)]
struct BareKey<'a> {
    keytype: &'a str,
    magic: u8,
}

#[derive(Serialize, Deserialize)]
struct ConfigValue {
    #[serde(rename = "compatibilityLevel")]
    compatibility_level: String,
}

#[derive(Serialize, Deserialize)]
struct MaxIdValue {
    #[serde(rename = "maxId")]
    max_id: i32,
}

#[derive(Deserialize)]
struct AnyKey {
    keytype: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    version: Option<i32>,
}

#[derive(Deserialize)]
struct DeleteSubjectValue {
    #[serde(default)]
    version: Option<i32>,
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs of strings and integers cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

impl Record {
    /// The record's key and value bytes (`None` is a tombstone / empty value).
    pub fn encode(&self) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            Record::Schema { subject, version, value } => (
                to_json(&SchemaKey { keytype: "SCHEMA", subject, version: *version, magic: 1 }),
                value.as_ref().map(to_json),
            ),
            Record::Config { subject, level } => (
                to_json(&ConfigKey { keytype: "CONFIG", subject: subject.as_deref(), magic: 0 }),
                level.map(|l| to_json(&ConfigValue { compatibility_level: l.as_str().to_owned() })),
            ),
            Record::DeleteSubject { subject, version } => (
                to_json(&ConfigKey { keytype: "DELETE_SUBJECT", subject: Some(subject), magic: 0 }),
                Some(to_json(&serde_json::json!({"subject": subject, "version": version}))),
            ),
            Record::Noop => (to_json(&BareKey { keytype: "NOOP", magic: 0 }), None),
            Record::MaxId(max_id) => (
                to_json(&BareKey { keytype: "SLUICE_MAX_ID", magic: 0 }),
                Some(to_json(&MaxIdValue { max_id: *max_id })),
            ),
            Record::Ignored(keytype) => (to_json(&BareKey { keytype, magic: 0 }), None),
        }
    }

    /// Decodes a record read from the topic.
    pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Record, String> {
        let key = key.ok_or("record without a key")?;
        let key: AnyKey = serde_json::from_slice(key).map_err(|e| format!("bad key: {e}"))?;
        // An empty payload is a tombstone too (some tools write "" rather than null).
        let value = value.filter(|v| !v.is_empty());
        match key.keytype.as_str() {
            "SCHEMA" => {
                let subject = key.subject.ok_or("SCHEMA key without subject")?;
                let version = key.version.ok_or("SCHEMA key without version")?;
                let value = match value {
                    None => None,
                    Some(v) => {
                        let v: SchemaValue =
                            serde_json::from_slice(v).map_err(|e| format!("bad SCHEMA value: {e}"))?;
                        if v.subject != subject || v.version != version {
                            return Err(format!(
                                "SCHEMA value for {}/{} under key {subject}/{version}",
                                v.subject, v.version
                            ));
                        }
                        Some(v)
                    }
                };
                Ok(Record::Schema { subject, version, value })
            }
            "CONFIG" => {
                let level = match value {
                    None => None,
                    Some(v) => {
                        let raw: Value =
                            serde_json::from_slice(v).map_err(|e| format!("bad CONFIG value: {e}"))?;
                        match raw
                            .get("compatibilityLevel")
                            .or_else(|| raw.get("compatibility"))
                            .and_then(Value::as_str)
                        {
                            Some(name) => Some(name.parse::<Level>().map_err(|e| e.to_string())?),
                            // A config record with only other settings (e.g. normalize) leaves
                            // the level unset.
                            None => None,
                        }
                    }
                };
                Ok(Record::Config { subject: key.subject, level })
            }
            "DELETE_SUBJECT" => {
                let subject = key.subject.ok_or("DELETE_SUBJECT key without subject")?;
                let version = value
                    .and_then(|v| serde_json::from_slice::<DeleteSubjectValue>(v).ok())
                    .and_then(|v| v.version)
                    .unwrap_or(i32::MAX);
                Ok(Record::DeleteSubject { subject, version })
            }
            "NOOP" => Ok(Record::Noop),
            "SLUICE_MAX_ID" => {
                let v: MaxIdValue = serde_json::from_slice(value.ok_or("SLUICE_MAX_ID without value")?)
                    .map_err(|e| format!("bad SLUICE_MAX_ID value: {e}"))?;
                Ok(Record::MaxId(v.max_id))
            }
            other => Ok(Record::Ignored(other.to_owned())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn round_trip(r: &Record) -> Record {
        let (k, v) = r.encode();
        Record::decode(Some(&k), v.as_deref()).unwrap()
    }

    #[test]
    fn keys_are_confluent_json() {
        let r = Record::Schema {
            subject: "orders-value".into(),
            version: 3,
            value: Some(SchemaValue {
                subject: "orders-value".into(),
                version: 3,
                id: 7,
                schema: "\"string\"".into(),
                deleted: false,
                schema_type: None,
            }),
        };
        let (k, v) = r.encode();
        assert_eq!(
            String::from_utf8(k).unwrap(),
            r#"{"keytype":"SCHEMA","subject":"orders-value","version":3,"magic":1}"#
        );
        assert_eq!(
            String::from_utf8(v.unwrap()).unwrap(),
            r#"{"subject":"orders-value","version":3,"id":7,"schema":"\"string\"","deleted":false}"#
        );
        assert_eq!(round_trip(&r), r);

        let global = Record::Config { subject: None, level: Some(Level::Full) };
        let (k, v) = global.encode();
        assert_eq!(String::from_utf8(k).unwrap(), r#"{"keytype":"CONFIG","subject":null,"magic":0}"#);
        assert_eq!(String::from_utf8(v.unwrap()).unwrap(), r#"{"compatibilityLevel":"FULL"}"#);
        assert_eq!(round_trip(&global), global);
    }

    #[test]
    fn tombstones_markers_and_max_id_round_trip() {
        for r in [
            Record::Schema { subject: "s".into(), version: 1, value: None },
            Record::Config { subject: Some("s".into()), level: None },
            Record::Noop,
            Record::MaxId(42),
            Record::DeleteSubject { subject: "s".into(), version: 2 },
        ] {
            assert_eq!(round_trip(&r), r);
        }
    }

    #[test]
    fn unknown_and_broken_records() {
        let mode = br#"{"keytype":"MODE","subject":null,"magic":0}"#;
        assert_eq!(
            Record::decode(Some(mode), Some(br#"{"mode":"READWRITE"}"#)).unwrap(),
            Record::Ignored("MODE".into())
        );
        assert!(Record::decode(Some(b"not json"), None).is_err());
        assert!(Record::decode(None, None).is_err());
        let key = br#"{"keytype":"SCHEMA","subject":"a","version":1,"magic":1}"#;
        let wrong = br#"{"subject":"b","version":1,"id":1,"schema":"\"int\""}"#;
        assert!(Record::decode(Some(key), Some(wrong)).is_err());
    }
}
