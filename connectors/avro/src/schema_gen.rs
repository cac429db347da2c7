//! Debezium-compatible Avro schemas generated from a [`TableSchema`].
//!
//! For topic prefix `p` and table `s.t` the key is record `p.s.t.Key` (key columns in key
//! order) and the value is record `p.s.t.Envelope` with fields `before` and `after` (both
//! `["null", p.s.t.Value]`), `source` (`io.debezium.connector.<kind>.Source`), `transaction`,
//! `op`, `ts_ms`, and Sluice's `unchanged` list (names of columns the source did not send; a
//! Debezium consumer ignores it, Sluice's sinks keep the target value of those columns).
//!
//! Column types follow Debezium's precise modes: `decimal` bytes with precision and scale,
//! `io.debezium.data.VariableScaleDecimal` for unconstrained numerics, `date`, times as plain
//! `long` µs (`io.debezium.time.MicroTime` without a logical type, as Debezium writes them:
//! MySQL TIME ranges over ±838 hours, which `time-micros` readers reject),
//! `timestamp-micros` (UTC instants), `local-timestamp-micros` (wall-clock timestamps), `uuid`
//! strings, JSON as `io.debezium.data.Json` strings, intervals as ISO-8601 strings. Every column
//! type carries `connect.parameters` with `__debezium.source.column.type` (and length/scale
//! where the source type has them) so a sink can convert types across engines.

use serde_json::{json, Map, Value as Json};
use sluice_core::{Column, DataType, TableSchema};

use crate::naming::{sanitize, sanitize_namespace};

/// Which connector's `source` block the envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Postgres,
    MySql,
}

impl SourceKind {
    pub fn connector(self) -> &'static str {
        match self {
            SourceKind::Postgres => "postgresql",
            SourceKind::MySql => "mysql",
        }
    }
}

/// What the schemas depend on besides the table.
#[derive(Debug, Clone)]
pub struct EnvelopeOptions {
    /// Logical server name; the first part of topic and record names.
    pub topic_prefix: String,
    pub source: SourceKind,
}

impl EnvelopeOptions {
    /// `<prefix>.<schema>.<table>`, Avro-sanitized.
    pub fn record_namespace(&self, table: &TableSchema) -> String {
        sanitize_namespace(&format!("{}.{}.{}", self.topic_prefix, table.id.schema, table.id.table))
    }

    /// `<prefix>.<schema>.<table>` as the topic name (not sanitized: Kafka allows `-`).
    pub fn topic(&self, table: &TableSchema) -> String {
        format!("{}.{}.{}", self.topic_prefix, table.id.schema, table.id.table)
    }
}

/// The Avro name of a column's field.
pub fn field_name(col: &Column) -> String {
    sanitize(&col.name)
}

/// `VARCHAR`, `NUMERIC`, ... with the length and scale split out of `varchar(20)`/`numeric(10,2)`.
fn source_type_parameters(col: &Column) -> Map<String, Json> {
    let st = col.source_type.trim();
    let (head, args, tail) = match (st.find('('), st.find(')')) {
        (Some(a), Some(b)) if b > a => (&st[..a], &st[a + 1..b], st[b + 1..].trim()),
        _ => (st, "", ""),
    };
    let mut type_name = head.trim().to_ascii_uppercase();
    if !tail.is_empty() {
        type_name = format!("{type_name} {}", tail.to_ascii_uppercase());
    }
    let mut m = Map::new();
    m.insert("__debezium.source.column.type".into(), Json::String(type_name));
    let mut parts = args.split(',').map(str::trim).filter(|s| !s.is_empty());
    if let Some(len) = parts.next() {
        if len.chars().all(|c| c.is_ascii_digit()) {
            m.insert("__debezium.source.column.length".into(), Json::String(len.into()));
        }
    }
    if let Some(scale) = parts.next() {
        if scale.chars().all(|c| c.is_ascii_digit()) {
            m.insert("__debezium.source.column.scale".into(), Json::String(scale.into()));
        }
    }
    if field_name(col) != col.name {
        m.insert("__sluice.source.column.name".into(), Json::String(col.name.clone()));
    }
    m
}

/// The non-null Avro type of a logical type, as a JSON object or primitive name.
fn data_type_schema(dt: &DataType) -> Json {
    match dt {
        DataType::Boolean => json!("boolean"),
        DataType::Int16 => json!({"type": "int", "connect.type": "int16"}),
        DataType::Int32 => json!("int"),
        DataType::Int64 => json!("long"),
        DataType::UInt64 => decimal_schema(20, 0),
        DataType::Float32 => json!("float"),
        DataType::Float64 => json!("double"),
        DataType::Decimal { precision: Some(p), scale } => decimal_schema(*p, scale.unwrap_or(0)),
        DataType::Decimal { precision: None, .. } => json!({
            "type": "record",
            "name": "VariableScaleDecimal",
            "namespace": "io.debezium.data",
            "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}],
            "connect.doc": "Variable scaled decimal",
            "connect.version": 1,
            "connect.name": "io.debezium.data.VariableScaleDecimal"
        }),
        DataType::Text => json!("string"),
        DataType::Bytes => json!("bytes"),
        DataType::Json => {
            json!({"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Json"})
        }
        DataType::Uuid => {
            json!({"type": "string", "connect.version": 1, "connect.name": "io.debezium.data.Uuid", "logicalType": "uuid"})
        }
        DataType::Date => {
            json!({"type": "int", "connect.version": 1, "connect.name": "io.debezium.time.Date", "logicalType": "date"})
        }
        DataType::Time => {
            json!({"type": "long", "connect.version": 1, "connect.name": "io.debezium.time.MicroTime"})
        }
        DataType::TimeTz => {
            json!({"type": "string", "connect.version": 1, "connect.name": "io.debezium.time.ZonedTime"})
        }
        DataType::Timestamp => {
            json!({"type": "long", "connect.version": 1, "connect.name": "io.debezium.time.MicroTimestamp", "logicalType": "local-timestamp-micros"})
        }
        DataType::TimestampTz => {
            json!({"type": "long", "connect.version": 1, "connect.name": "io.debezium.time.MicroTimestampUtc", "logicalType": "timestamp-micros"})
        }
        DataType::Interval => {
            json!({"type": "string", "connect.version": 1, "connect.name": "io.debezium.time.Interval"})
        }
        DataType::Enum(values) => json!({
            "type": "string", "connect.version": 1,
            "connect.parameters": {"allowed": values.join(",")},
            "connect.name": "io.debezium.data.Enum"
        }),
        DataType::Set(values) => json!({
            "type": "string", "connect.version": 1,
            "connect.parameters": {"allowed": values.join(",")},
            "connect.name": "io.debezium.data.EnumSet"
        }),
        DataType::Bits(1) => json!("boolean"),
        DataType::Bits(n) => json!({
            "type": "bytes", "connect.version": 1,
            "connect.parameters": {"length": n.to_string()},
            "connect.name": "io.debezium.data.Bits"
        }),
        DataType::Array(inner) => json!({"type": "array", "items": ["null", data_type_schema(inner)]}),
    }
}

fn decimal_schema(precision: u32, scale: u32) -> Json {
    json!({
        "type": "bytes",
        "scale": scale,
        "precision": precision,
        "connect.version": 1,
        "connect.parameters": {"scale": scale.to_string(), "connect.decimal.precision": precision.to_string()},
        "connect.name": "org.apache.kafka.connect.data.Decimal",
        "logicalType": "decimal"
    })
}

/// The column's type with its source-type parameters merged into `connect.parameters`.
///
/// A named record type (VariableScaleDecimal) may only be defined once per schema; `defined`
/// tracks that, and later uses refer to it by full name.
fn column_schema(col: &Column, defined: &mut Vec<String>) -> Json {
    let mut t = data_type_schema(&col.data_type);
    if let Some(name) =
        t.get("connect.name").and_then(Json::as_str).filter(|_| t.get("type") == Some(&json!("record")))
    {
        let name = name.to_owned();
        if defined.contains(&name) {
            return Json::String(name);
        }
        defined.push(name);
        return t;
    }
    if let Json::String(prim) = &t {
        t = json!({"type": prim});
    }
    if let Json::Object(obj) = &mut t {
        let params = obj.entry("connect.parameters").or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(p) = params {
            p.extend(source_type_parameters(col));
        }
    }
    t
}

fn field(col: &Column, defined: &mut Vec<String>) -> Json {
    let t = column_schema(col, defined);
    if col.nullable {
        json!({"name": field_name(col), "type": ["null", t], "default": null})
    } else {
        json!({"name": field_name(col), "type": t})
    }
}

/// The key schema, or `None` for a table without key columns (events then have a null key).
pub fn key_schema(table: &TableSchema, opts: &EnvelopeOptions) -> Option<Json> {
    if table.key.is_empty() {
        return None;
    }
    let ns = opts.record_namespace(table);
    let mut defined = Vec::new();
    let fields: Vec<Json> = table.key_columns().map(|c| field(c, &mut defined)).collect();
    Some(json!({
        "type": "record",
        "name": "Key",
        "namespace": ns,
        "fields": fields,
        "connect.name": format!("{ns}.Key")
    }))
}

/// The `Value` record: every column in source order.
fn value_record(table: &TableSchema, ns: &str) -> Json {
    let mut defined = Vec::new();
    let fields: Vec<Json> = table.columns.iter().map(|c| field(c, &mut defined)).collect();
    json!({
        "type": "record",
        "name": "Value",
        "namespace": ns,
        "fields": fields,
        "connect.name": format!("{ns}.Value")
    })
}

/// Debezium's `source` block for the connector kind.
pub fn source_schema(kind: SourceKind) -> Json {
    let common = vec![
        json!({"name": "version", "type": "string"}),
        json!({"name": "connector", "type": "string"}),
        json!({"name": "name", "type": "string"}),
        json!({"name": "ts_ms", "type": "long"}),
        json!({"name": "snapshot", "type": [{
            "type": "string", "connect.version": 1,
            "connect.parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
            "connect.default": "false", "connect.name": "io.debezium.data.Enum"
        }, "null"], "default": "false"}),
        json!({"name": "db", "type": "string"}),
        json!({"name": "sequence", "type": ["null", "string"], "default": null}),
    ];
    let specific = match kind {
        SourceKind::Postgres => vec![
            json!({"name": "schema", "type": "string"}),
            json!({"name": "table", "type": "string"}),
            json!({"name": "txId", "type": ["null", "long"], "default": null}),
            json!({"name": "lsn", "type": ["null", "long"], "default": null}),
            json!({"name": "xmin", "type": ["null", "long"], "default": null}),
        ],
        SourceKind::MySql => vec![
            json!({"name": "table", "type": ["null", "string"], "default": null}),
            json!({"name": "server_id", "type": "long"}),
            json!({"name": "gtid", "type": ["null", "string"], "default": null}),
            json!({"name": "file", "type": "string"}),
            json!({"name": "pos", "type": "long"}),
            json!({"name": "row", "type": "int"}),
            json!({"name": "thread", "type": ["null", "long"], "default": null}),
            json!({"name": "query", "type": ["null", "string"], "default": null}),
        ],
    };
    let ns = format!("io.debezium.connector.{}", kind.connector());
    json!({
        "type": "record",
        "name": "Source",
        "namespace": ns,
        "fields": common.into_iter().chain(specific).collect::<Vec<_>>(),
        "connect.name": format!("{ns}.Source")
    })
}

/// Debezium's per-event `transaction` block.
pub fn transaction_block_schema() -> Json {
    json!({
        "type": "record",
        "name": "block",
        "namespace": "event",
        "fields": [
            {"name": "id", "type": "string"},
            {"name": "total_order", "type": "long"},
            {"name": "data_collection_order", "type": "long"}
        ],
        "connect.version": 1,
        "connect.name": "event.block"
    })
}

/// The value schema: the Debezium envelope around the table's `Value` record.
pub fn value_schema(table: &TableSchema, opts: &EnvelopeOptions) -> Json {
    let ns = opts.record_namespace(table);
    json!({
        "type": "record",
        "name": "Envelope",
        "namespace": ns,
        "fields": [
            {"name": "before", "type": ["null", value_record(table, &ns)], "default": null},
            {"name": "after", "type": ["null", format!("{ns}.Value")], "default": null},
            {"name": "source", "type": source_schema(opts.source)},
            {"name": "transaction", "type": ["null", transaction_block_schema()], "default": null},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"], "default": null},
            {"name": "unchanged", "type": ["null", {"type": "array", "items": "string"}], "default": null,
             "doc": "Sluice: columns the source did not send because they did not change (unchanged TOAST); keep the target's value"}
        ],
        "connect.version": 2,
        "connect.name": format!("{ns}.Envelope")
    })
}

/// Key of the transaction metadata topic (`<prefix>.transaction`).
pub fn transaction_key_schema() -> Json {
    json!({
        "type": "record",
        "name": "TransactionMetadataKey",
        "namespace": "io.debezium.connector.common",
        "fields": [{"name": "id", "type": "string"}],
        "connect.name": "io.debezium.connector.common.TransactionMetadataKey"
    })
}

/// Value of the transaction metadata topic: one `BEGIN` and one `END` event per transaction.
pub fn transaction_value_schema() -> Json {
    json!({
        "type": "record",
        "name": "TransactionMetadataValue",
        "namespace": "io.debezium.connector.common",
        "fields": [
            {"name": "status", "type": "string"},
            {"name": "id", "type": "string"},
            {"name": "event_count", "type": ["null", "long"], "default": null},
            {"name": "data_collections", "type": ["null", {"type": "array", "items": {
                "type": "record",
                "name": "ConnectDefault",
                "namespace": "io.confluent.connect.avro",
                "fields": [
                    {"name": "data_collection", "type": "string"},
                    {"name": "event_count", "type": "long"}
                ]
            }}], "default": null},
            {"name": "ts_ms", "type": "long"}
        ],
        "connect.name": "io.debezium.connector.common.TransactionMetadataValue"
    })
}

/// Key of heartbeat events (`__debezium-heartbeat.<prefix>`).
pub fn heartbeat_key_schema() -> Json {
    json!({
        "type": "record",
        "name": "ServerNameKey",
        "namespace": "io.debezium.connector.common",
        "fields": [{"name": "serverName", "type": "string"}],
        "connect.name": "io.debezium.connector.common.ServerNameKey"
    })
}

/// Value of heartbeat events.
pub fn heartbeat_value_schema() -> Json {
    json!({
        "type": "record",
        "name": "Heartbeat",
        "namespace": "io.debezium.connector.common",
        "fields": [{"name": "ts_ms", "type": "long"}],
        "connect.name": "io.debezium.connector.common.Heartbeat"
    })
}

/// The files under `schemas/`: name and content. The table envelope is shown for an example
/// table (`example.public.customers`); real envelopes differ only in the `Value` fields.
pub fn reference_schemas() -> Vec<(&'static str, Json)> {
    let example = TableSchema {
        id: sluice_core::TableId::new("public", "customers"),
        columns: vec![
            Column::new("id", DataType::Int64, "int8", false),
            Column::new("email", DataType::Text, "varchar(255)", false),
            Column::new(
                "balance",
                DataType::Decimal { precision: Some(12), scale: Some(2) },
                "numeric(12,2)",
                true,
            ),
            Column::new("updated_at", DataType::TimestampTz, "timestamptz", true),
        ],
        key: vec![0],
        version: 1,
    };
    let opts = EnvelopeOptions { topic_prefix: "example".into(), source: SourceKind::Postgres };
    vec![
        ("envelope-example.avsc", value_schema(&example, &opts)),
        ("key-example.avsc", key_schema(&example, &opts).unwrap_or(Json::Null)),
        ("source-postgresql.avsc", source_schema(SourceKind::Postgres)),
        ("source-mysql.avsc", source_schema(SourceKind::MySql)),
        ("transaction-block.avsc", transaction_block_schema()),
        ("transaction-key.avsc", transaction_key_schema()),
        ("transaction-value.avsc", transaction_value_schema()),
        ("heartbeat-key.avsc", heartbeat_key_schema()),
        ("heartbeat-value.avsc", heartbeat_value_schema()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::TableId;

    /// `schemas/*.avsc` must equal what the code generates; regenerate with
    /// `SLUICE_REGENERATE_SCHEMAS=1 cargo test -p sluice-avro reference_schema_files`.
    #[test]
    fn reference_schema_files_match_the_code() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        for (name, schema) in reference_schemas() {
            apache_avro::Schema::parse(&schema).unwrap_or_else(|e| panic!("{name}: {e}"));
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            let path = dir.join(name);
            if std::env::var_os("SLUICE_REGENERATE_SCHEMAS").is_some() {
                std::fs::write(&path, &text).unwrap();
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(on_disk, text, "{} is stale: regenerate it (see this test's doc)", path.display());
        }
    }

    fn table() -> TableSchema {
        TableSchema {
            id: TableId::new("public", "orders"),
            columns: vec![
                Column::new("id", DataType::Int64, "int8", false),
                Column::new(
                    "amount",
                    DataType::Decimal { precision: Some(10), scale: Some(2) },
                    "numeric(10,2)",
                    true,
                ),
                Column::new("free", DataType::Decimal { precision: None, scale: None }, "numeric", true),
                Column::new("free2", DataType::Decimal { precision: None, scale: None }, "numeric", true),
                Column::new("note-text", DataType::Text, "varchar(20)", true),
            ],
            key: vec![0],
            version: 1,
        }
    }

    fn opts() -> EnvelopeOptions {
        EnvelopeOptions { topic_prefix: "shop".into(), source: SourceKind::Postgres }
    }

    #[test]
    fn schemas_parse_with_apache_avro() {
        let t = table();
        for kind in [SourceKind::Postgres, SourceKind::MySql] {
            let o = EnvelopeOptions { source: kind, ..opts() };
            let v = value_schema(&t, &o);
            apache_avro::Schema::parse(&v).unwrap_or_else(|e| panic!("{e}: {v:#}"));
        }
        let k = key_schema(&t, &opts()).unwrap();
        apache_avro::Schema::parse(&k).unwrap();
        assert_eq!(k["name"], "Key");
        assert_eq!(k["namespace"], "shop.public.orders");
    }

    #[test]
    fn columns_carry_source_types() {
        let v = value_schema(&table(), &opts());
        let fields = &v["fields"][0]["type"][1]["fields"];
        assert_eq!(fields[1]["type"][1]["connect.parameters"]["__debezium.source.column.type"], "NUMERIC");
        assert_eq!(fields[1]["type"][1]["connect.parameters"]["__debezium.source.column.length"], "10");
        assert_eq!(fields[1]["type"][1]["connect.parameters"]["__debezium.source.column.scale"], "2");
        assert_eq!(fields[4]["name"], "note_text");
        assert_eq!(fields[4]["type"][1]["connect.parameters"]["__sluice.source.column.name"], "note-text");
        assert_eq!(fields[4]["type"][1]["connect.parameters"]["__debezium.source.column.length"], "20");
        // The second unconstrained numeric refers to the first definition by name.
        assert_eq!(fields[3]["type"][1], "io.debezium.data.VariableScaleDecimal");
    }
}
