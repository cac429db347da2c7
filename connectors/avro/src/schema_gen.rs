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

use serde_json::{json, Value as Json};
use sluice_core::{Column, DataType, TableSchema};

use crate::connect::{self, Field, Kind, Schema};
use crate::naming::{sanitize, sanitize_namespace};
use crate::repr::Repr;

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
fn source_type_parameters(col: &Column) -> Vec<(String, String)> {
    let st = col.source_type.trim();
    let (head, args, tail) = match (st.find('('), st.find(')')) {
        (Some(a), Some(b)) if b > a => (&st[..a], &st[a + 1..b], st[b + 1..].trim()),
        _ => (st, "", ""),
    };
    let mut type_name = head.trim().to_ascii_uppercase();
    if !tail.is_empty() {
        type_name = format!("{type_name} {}", tail.to_ascii_uppercase());
    }
    let mut m = vec![("__debezium.source.column.type".to_owned(), type_name)];
    let mut parts = args.split(',').map(str::trim).filter(|s| !s.is_empty());
    if let Some(len) = parts.next() {
        if len.chars().all(|c| c.is_ascii_digit()) {
            m.push(("__debezium.source.column.length".into(), len.into()));
        }
    }
    if let Some(scale) = parts.next() {
        if scale.chars().all(|c| c.is_ascii_digit()) {
            m.push(("__debezium.source.column.scale".into(), scale.into()));
        }
    }
    if field_name(col) != col.name {
        m.push(("__sluice.source.column.name".into(), col.name.clone()));
    }
    m
}

/// The Connect schema of a column: its [`Repr`]'s type, optional when the column is nullable,
/// with the source-type parameters merged into its parameters.
pub fn column_connect_schema(col: &Column, kind: SourceKind) -> Schema {
    let mut s = Repr::of(col, kind).connect_schema();
    if !matches!(s.kind, Kind::Struct(_)) {
        s.params.extend(source_type_parameters(col));
    }
    s.with_optional(col.nullable)
}

fn row_struct<'a>(columns: impl Iterator<Item = &'a Column>, kind: SourceKind, name: String) -> Schema {
    let fields = columns.map(|c| Field::new(field_name(c), column_connect_schema(c, kind))).collect();
    Schema::named(Kind::Struct(fields), &name)
}

/// The key's Connect schema, or `None` for a table without key columns.
pub fn key_connect_schema(table: &TableSchema, opts: &EnvelopeOptions) -> Option<Schema> {
    if table.key.is_empty() {
        return None;
    }
    let ns = opts.record_namespace(table);
    Some(row_struct(table.key_columns(), opts.source, format!("{ns}.Key")))
}

/// The key schema, or `None` for a table without key columns (events then have a null key).
pub fn key_schema(table: &TableSchema, opts: &EnvelopeOptions) -> Option<Json> {
    key_connect_schema(table, opts).map(|s| connect::to_avro(&s))
}

fn string() -> Schema {
    Schema::of(Kind::String)
}

fn long() -> Schema {
    Schema::of(Kind::Int64)
}

/// Debezium's `source` block for the connector kind.
pub fn source_connect_schema(kind: SourceKind) -> Schema {
    let snapshot = Schema::semantic(Kind::String, "io.debezium.data.Enum")
        .param("allowed", "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental")
        .optional()
        .default(json!("false"));
    let mut fields = vec![
        Field::new("version", string()),
        Field::new("connector", string()),
        Field::new("name", string()),
        Field::new("ts_ms", long()),
        Field::new("snapshot", snapshot),
        Field::new("db", string()),
        Field::new("sequence", string().optional()),
        Field::new("ts_us", long().optional()),
        Field::new("ts_ns", long().optional()),
    ];
    match kind {
        SourceKind::Postgres => fields.extend([
            Field::new("schema", string()),
            Field::new("table", string()),
            Field::new("txId", long().optional()),
            Field::new("lsn", long().optional()),
            Field::new("xmin", long().optional()),
        ]),
        SourceKind::MySql => fields.extend([
            Field::new("table", string().optional()),
            Field::new("server_id", long()),
            Field::new("gtid", string().optional()),
            Field::new("file", string()),
            Field::new("pos", long()),
            Field::new("row", Schema::of(Kind::Int32)),
            Field::new("thread", long().optional()),
            Field::new("query", string().optional()),
        ]),
    }
    Schema::named(Kind::Struct(fields), &format!("io.debezium.connector.{}.Source", kind.connector()))
}

/// Debezium's `source` block for the connector kind, as Avro.
pub fn source_schema(kind: SourceKind) -> Json {
    connect::to_avro(&source_connect_schema(kind))
}

/// Debezium's per-event `transaction` block.
pub fn transaction_block_connect_schema() -> Schema {
    Schema::named(
        Kind::Struct(vec![
            Field::new("id", string()),
            Field::new("total_order", long()),
            Field::new("data_collection_order", long()),
        ]),
        "event.block",
    )
    .version(1)
}

/// Debezium's per-event `transaction` block, as Avro.
pub fn transaction_block_schema() -> Json {
    connect::to_avro(&transaction_block_connect_schema())
}

/// The envelope's Connect schema: `before`/`after` rows, `source`, `transaction`, `op`, the
/// timestamps, and Sluice's `unchanged` list.
pub fn envelope_connect_schema(table: &TableSchema, opts: &EnvelopeOptions) -> Schema {
    let ns = opts.record_namespace(table);
    let row = row_struct(table.columns.iter(), opts.source, format!("{ns}.Value")).optional();
    let unchanged = Schema::of(Kind::Array(Box::new(string()))).optional().doc(
        "Sluice: columns the source did not send because they did not change (unchanged TOAST); keep the target's value",
    );
    Schema::named(
        Kind::Struct(vec![
            Field::new("before", row.clone()),
            Field::new("after", row),
            Field::new("source", source_connect_schema(opts.source)),
            Field::new("transaction", transaction_block_connect_schema().optional()),
            Field::new("op", string()),
            Field::new("ts_ms", long().optional()),
            Field::new("ts_us", long().optional()),
            Field::new("ts_ns", long().optional()),
            Field::new("unchanged", unchanged),
        ]),
        &format!("{ns}.Envelope"),
    )
    .version(2)
}

/// The value schema: the Debezium envelope around the table's `Value` record.
pub fn value_schema(table: &TableSchema, opts: &EnvelopeOptions) -> Json {
    connect::to_avro(&envelope_connect_schema(table, opts))
}

/// Key of the transaction metadata topic (`<prefix>.transaction`).
pub fn transaction_key_connect_schema() -> Schema {
    Schema::named(
        Kind::Struct(vec![Field::new("id", string())]),
        "io.debezium.connector.common.TransactionMetadataKey",
    )
}

/// Value of the transaction metadata topic: one `BEGIN` and one `END` event per transaction.
pub fn transaction_value_connect_schema() -> Schema {
    let collection = Schema::of(Kind::Struct(vec![
        Field::new("data_collection", string()),
        Field::new("event_count", long()),
    ]));
    Schema::named(
        Kind::Struct(vec![
            Field::new("status", string()),
            Field::new("id", string()),
            Field::new("event_count", long().optional()),
            Field::new("data_collections", Schema::of(Kind::Array(Box::new(collection))).optional()),
            Field::new("ts_ms", long()),
        ]),
        "io.debezium.connector.common.TransactionMetadataValue",
    )
}

pub fn transaction_key_schema() -> Json {
    connect::to_avro(&transaction_key_connect_schema())
}

pub fn transaction_value_schema() -> Json {
    connect::to_avro(&transaction_value_connect_schema())
}

/// Key of heartbeat events (`__debezium-heartbeat.<prefix>`).
pub fn heartbeat_key_connect_schema() -> Schema {
    Schema::named(
        Kind::Struct(vec![Field::new("serverName", string())]),
        "io.debezium.connector.common.ServerNameKey",
    )
}

/// Value of heartbeat events.
pub fn heartbeat_value_connect_schema() -> Schema {
    Schema::named(Kind::Struct(vec![Field::new("ts_ms", long())]), "io.debezium.connector.common.Heartbeat")
}

pub fn heartbeat_key_schema() -> Json {
    connect::to_avro(&heartbeat_key_connect_schema())
}

pub fn heartbeat_value_schema() -> Json {
    connect::to_avro(&heartbeat_value_connect_schema())
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
