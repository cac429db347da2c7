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
use sluice_core::{Column, DataType, DecimalHandling, TableSchema};

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
    /// Debezium's `decimal.handling.mode`.
    pub decimal_handling: DecimalHandling,
}

impl EnvelopeOptions {
    /// Options with Debezium's defaults (`decimal.handling.mode=precise`).
    pub fn new(topic_prefix: impl Into<String>, source: SourceKind) -> Self {
        Self { topic_prefix: topic_prefix.into(), source, decimal_handling: DecimalHandling::Precise }
    }

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

/// Debezium's `column.propagate.source.type` parameters of a column — the type name, length and
/// scale Debezium reports — plus `__debezium.source.column.name`, and Sluice's exact source type
/// (`__sluice.source.column.type`: `format_type` or MySQL's column type) from which its sinks
/// create target columns.
fn source_type_parameters(col: &Column, kind: SourceKind) -> Vec<(String, String)> {
    let (type_name, length, scale) = match kind {
        SourceKind::Postgres => pg_debezium_type(&col.source_type),
        SourceKind::MySql => mysql_debezium_type(&col.source_type),
    };
    let mut m = vec![("__debezium.source.column.type".to_owned(), type_name)];
    if let Some(l) = length {
        m.push(("__debezium.source.column.length".into(), l.to_string()));
    }
    if let Some(s) = scale {
        m.push(("__debezium.source.column.scale".into(), s.to_string()));
    }
    m.push(("__debezium.source.column.name".into(), col.name.clone()));
    m.push(("__sluice.source.column.type".into(), col.source_type.clone()));
    m
}

/// `(base, modifiers)` of `numeric(10,2)` / `timestamp(3) without time zone`: the type without
/// its parenthesised modifiers, and the modifiers as numbers.
fn split_modifiers(source_type: &str) -> (String, Vec<u64>) {
    let st = source_type.trim().to_ascii_lowercase();
    match (st.find('('), st.find(')')) {
        (Some(a), Some(b)) if b > a => {
            let mods = st[a + 1..b].split(',').filter_map(|m| m.trim().parse().ok()).collect();
            let base = format!("{} {}", st[..a].trim(), st[b + 1..].trim());
            (base.trim().to_owned(), mods)
        }
        _ => (st, Vec::new()),
    }
}

const PG_UNBOUNDED: u64 = 2_147_483_647;

/// The type name, length and scale Debezium's PostgreSQL connector reports for a column whose
/// `format_type` is `source_type` (its names are `pg_type.typname`, its sizes pgjdbc's).
fn pg_debezium_type(source_type: &str) -> (String, Option<u64>, Option<u64>) {
    let (base, mods) = split_modifiers(source_type);
    let (elem, array) = match base.strip_suffix("[]") {
        Some(e) => (e.trim().to_owned(), true),
        None => (base, false),
    };
    let m0 = mods.first().copied();
    // Fractional-second precision; temporal lengths are pgjdbc's (measured: 9 + p for time).
    let p = m0.unwrap_or(6);
    let (name, length, scale) = match elem.as_str() {
        "smallint" | "int2" => ("int2", 5, 0),
        "integer" | "int4" | "int" => ("int4", 10, 0),
        "bigint" | "int8" => ("int8", 19, 0),
        "real" | "float4" => ("float4", 8, 8),
        "double precision" | "float8" => ("float8", 17, 17),
        "numeric" | "decimal" => ("numeric", m0.unwrap_or(131_089), mods.get(1).copied().unwrap_or(0)),
        "boolean" | "bool" => ("bool", 1, 0),
        "character varying" | "varchar" => ("varchar", m0.unwrap_or(PG_UNBOUNDED), 0),
        "character" | "char" | "bpchar" => ("bpchar", m0.unwrap_or(1), 0),
        "bit" => ("bit", m0.unwrap_or(1), 0),
        "bit varying" | "varbit" => ("varbit", m0.unwrap_or(PG_UNBOUNDED), 0),
        "date" => ("date", 13, 0),
        "time without time zone" | "time" => ("time", 9 + p, p),
        "time with time zone" | "timetz" => ("timetz", 15 + p, p),
        "timestamp without time zone" | "timestamp" => ("timestamp", 23 + p, p),
        "timestamp with time zone" | "timestamptz" => ("timestamptz", 29 + p, p),
        "interval" => ("interval", 49, p),
        other => {
            // User types (enums, domains) are reported without their schema.
            let name = other.rsplit('.').next().unwrap_or(other).trim_matches('"');
            return (
                format!("{}{}", if array { "_" } else { "" }, name.to_ascii_uppercase()),
                Some(PG_UNBOUNDED),
                Some(0),
            );
        }
    };
    let name = if array { format!("_{name}") } else { name.to_owned() };
    (name.to_ascii_uppercase(), Some(length), Some(scale))
}

/// The type name, length and scale Debezium's MySQL/MariaDB connectors report for a column of
/// MySQL type `source_type` (`bigint unsigned`, `decimal(10,2)`, `enum('a','b')`): integers get
/// their default display width, character and binary types their declared length, temporal
/// types their fractional-second precision when it is not 0; a scale only for decimals.
fn mysql_debezium_type(source_type: &str) -> (String, Option<u64>, Option<u64>) {
    let lower = source_type.trim().to_ascii_lowercase();
    if let Some(values) = lower.strip_prefix("set(").and_then(|v| v.strip_suffix(')')) {
        // The length of the longest value: every member, comma-separated.
        let joined: Vec<&str> = values.split(',').map(|v| v.trim().trim_matches('\'')).collect();
        return ("SET".into(), Some(joined.join(",").len() as u64), None);
    }
    if lower.starts_with("enum(") {
        return ("ENUM".into(), Some(1), None);
    }
    let (base, mods) = split_modifiers(source_type);
    let width = match base.as_str() {
        "tinyint" => Some(4),
        "tinyint unsigned" => Some(3),
        "smallint" => Some(6),
        "smallint unsigned" => Some(5),
        "mediumint" => Some(9),
        "mediumint unsigned" => Some(8),
        "int" => Some(11),
        "int unsigned" => Some(10),
        "bigint" | "bigint unsigned" => Some(20),
        "year" => Some(4),
        _ => None,
    };
    let length = width.or_else(|| mods.first().copied().filter(|&l| l > 0));
    let scale = if matches!(base.as_str(), "decimal" | "decimal unsigned" | "numeric") {
        Some(mods.get(1).copied().unwrap_or(0))
    } else {
        None
    };
    (base.to_ascii_uppercase(), length, scale)
}

/// The Connect schema of a column: its [`Repr`]'s type, optional when the column is nullable,
/// with the source-type parameters merged into its parameters.
pub fn column_connect_schema(col: &Column, opts: &EnvelopeOptions) -> Schema {
    let repr = Repr::of(col, opts);
    let mut s = repr.connect_schema();
    s.params.extend(source_type_parameters(col, opts.source));
    s.default = column_default(col, &repr);
    s.with_optional(col.nullable)
}

/// The column's default as Debezium declares it (`connect.default` and the Avro field default),
/// when it is a constant Sluice can spell. A nullable column with a default puts the value's
/// branch first in its union (`[T, "null"]`), as `AvroConverter` does.
pub fn column_default(col: &Column, repr: &Repr) -> Option<Json> {
    col.default.as_deref().and_then(|d| repr.default_json(d))
}

/// A key column: as Debezium's keys, without source-type parameters.
fn key_column_schema(col: &Column, opts: &EnvelopeOptions) -> Schema {
    Repr::of(col, opts).connect_schema().with_optional(col.nullable)
}

fn row_struct<'a>(
    columns: impl Iterator<Item = &'a Column>,
    name: String,
    schema_of: impl Fn(&Column) -> Schema,
) -> Schema {
    let fields = columns.map(|c| Field::new(field_name(c), schema_of(c))).collect();
    Schema::named(Kind::Struct(fields), &name)
}

/// The key's Connect schema, or `None` for a table without key columns.
pub fn key_connect_schema(table: &TableSchema, opts: &EnvelopeOptions) -> Option<Schema> {
    if table.key.is_empty() {
        return None;
    }
    let ns = opts.record_namespace(table);
    Some(row_struct(table.key_columns(), format!("{ns}.Key"), |c| key_column_schema(c, opts)))
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
        .param(
            "allowed",
            "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental",
        )
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
            Field::new("origin", string().optional()),
            Field::new("origin_lsn", long().optional()),
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
        .version(1)
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
    let row = row_struct(table.columns.iter(), format!("{ns}.Value"), |c| column_connect_schema(c, opts))
        .optional();
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
    .version(1)
}

/// Value of the transaction metadata topic: one `BEGIN` and one `END` event per transaction.
pub fn transaction_value_connect_schema() -> Schema {
    let collection = Schema::named(
        Kind::Struct(vec![Field::new("data_collection", string()), Field::new("event_count", long())]),
        "event.collection",
    )
    .version(1)
    .optional();
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
    .version(1)
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
    .version(1)
}

/// Value of heartbeat events.
pub fn heartbeat_value_connect_schema() -> Schema {
    Schema::named(Kind::Struct(vec![Field::new("ts_ms", long())]), "io.debezium.connector.common.Heartbeat")
        .version(1)
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
    let opts = EnvelopeOptions::new("example", SourceKind::Postgres);
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
    /// `SLUICE_REGENERATE_SCHEMAS=1 cargo test -p sluice-avro reference_schema_files`. Compared
    /// as JSON values: the order of object keys follows serde_json's `preserve_order` feature,
    /// which a build turns on when any crate in it asks (the MongoDB driver's bson does).
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
            let on_disk: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_default())
                .unwrap_or(Json::Null);
            assert_eq!(on_disk, schema, "{} is stale: regenerate it (see this test's doc)", path.display());
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
        EnvelopeOptions::new("shop", SourceKind::Postgres)
    }

    #[test]
    fn schemas_parse_with_apache_avro() {
        let t = table();
        for kind in [SourceKind::Postgres, SourceKind::MySql] {
            let o = EnvelopeOptions::new("shop", kind);
            let v = value_schema(&t, &o);
            apache_avro::Schema::parse(&v).unwrap_or_else(|e| panic!("{e}: {v:#}"));
        }
        let k = key_schema(&t, &opts()).unwrap();
        apache_avro::Schema::parse(&k).unwrap();
        assert_eq!(k["name"], "Key");
        assert_eq!(k["namespace"], "shop.public.orders");
    }

    #[test]
    fn postgres_types_are_reported_as_debezium_does() {
        assert_eq!(pg_debezium_type("integer"), ("INT4".into(), Some(10), Some(0)));
        assert_eq!(pg_debezium_type("character varying(20)"), ("VARCHAR".into(), Some(20), Some(0)));
        assert_eq!(pg_debezium_type("character(5)"), ("BPCHAR".into(), Some(5), Some(0)));
        assert_eq!(pg_debezium_type("numeric"), ("NUMERIC".into(), Some(131_089), Some(0)));
        assert_eq!(pg_debezium_type("time(3) without time zone"), ("TIME".into(), Some(12), Some(3)));
        assert_eq!(pg_debezium_type("time with time zone"), ("TIMETZ".into(), Some(21), Some(6)));
        assert_eq!(
            pg_debezium_type("timestamp(3) without time zone"),
            ("TIMESTAMP".into(), Some(26), Some(3))
        );
        assert_eq!(pg_debezium_type("timestamp with time zone"), ("TIMESTAMPTZ".into(), Some(35), Some(6)));
        assert_eq!(pg_debezium_type("integer[]"), ("_INT4".into(), Some(10), Some(0)));
        assert_eq!(pg_debezium_type("text[]"), ("_TEXT".into(), Some(2_147_483_647), Some(0)));
        assert_eq!(pg_debezium_type("public.mood"), ("MOOD".into(), Some(2_147_483_647), Some(0)));
        assert_eq!(pg_debezium_type("money"), ("MONEY".into(), Some(2_147_483_647), Some(0)));
        assert_eq!(mysql_debezium_type("int"), ("INT".into(), Some(11), None));
        assert_eq!(mysql_debezium_type("bigint unsigned"), ("BIGINT UNSIGNED".into(), Some(20), None));
        assert_eq!(mysql_debezium_type("decimal(10,2)"), ("DECIMAL".into(), Some(10), Some(2)));
        assert_eq!(mysql_debezium_type("datetime"), ("DATETIME".into(), None, None));
        assert_eq!(mysql_debezium_type("datetime(3)"), ("DATETIME".into(), Some(3), None));
        assert_eq!(mysql_debezium_type("varbinary(10)"), ("VARBINARY".into(), Some(10), None));
        assert_eq!(mysql_debezium_type("set('a','b','c')"), ("SET".into(), Some(5), None));
        assert_eq!(mysql_debezium_type("enum('sad','ok')"), ("ENUM".into(), Some(1), None));
    }

    #[test]
    fn columns_carry_source_types() {
        let v = value_schema(&table(), &opts());
        let fields = &v["fields"][0]["type"][1]["fields"];
        assert_eq!(fields[1]["type"][1]["connect.parameters"]["__debezium.source.column.type"], "NUMERIC");
        assert_eq!(fields[1]["type"][1]["connect.parameters"]["__debezium.source.column.length"], "10");
        assert_eq!(fields[1]["type"][1]["connect.parameters"]["__debezium.source.column.scale"], "2");
        assert_eq!(fields[4]["name"], "note_text");
        assert_eq!(fields[4]["type"][1]["connect.parameters"]["__debezium.source.column.name"], "note-text");
        assert_eq!(fields[4]["type"][1]["connect.parameters"]["__debezium.source.column.length"], "20");
        assert_eq!(fields[4]["type"][1]["connect.parameters"]["__sluice.source.column.type"], "varchar(20)");
        // The second unconstrained numeric refers to the first definition by name.
        assert_eq!(fields[3]["type"][1], "io.debezium.data.VariableScaleDecimal");
    }
}
