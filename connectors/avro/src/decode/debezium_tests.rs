//! Decoding what Debezium writes. The schemas are written by hand after Debezium's
//! documentation of its PostgreSQL and MySQL connectors (envelope, `source` block, data type
//! mappings, `column.propagate.source.type`) as Confluent's `AvroConverter` renders them;
//! records are encoded with apache-avro's generic writer, not with Sluice's encoder.

use apache_avro::types::Value as AV;
use serde_json::json;
use sluice_core::{DataType, ErrorKind, Op, Position, SnapshotMarker, SourceDetail, TableId, Value};

use super::*;
use crate::encode::UNAVAILABLE_VALUE;

/// `connect.parameters` as `column.propagate.source.type` writes them.
fn src(t: &str, len: &str, scale: &str) -> Json {
    json!({"__debezium.source.column.type": t, "__debezium.source.column.length": len,
           "__debezium.source.column.scale": scale})
}

fn opt(t: Json) -> Json {
    json!(["null", t])
}

fn field(name: &str, t: Json) -> Json {
    if t.is_array() {
        json!({"name": name, "type": t, "default": null})
    } else {
        json!({"name": name, "type": t})
    }
}

fn common_source_fields() -> Vec<Json> {
    vec![
        field("version", json!("string")),
        field("connector", json!("string")),
        field("name", json!("string")),
        field("ts_ms", json!("long")),
        json!({"name": "snapshot", "type": [{"type": "string", "connect.version": 1,
            "connect.parameters": {"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
            "connect.default": "false", "connect.name": "io.debezium.data.Enum"}, "null"], "default": "false"}),
        field("db", json!("string")),
        field("sequence", opt(json!("string"))),
    ]
}

fn tx_block() -> Json {
    opt(json!({"type": "record", "name": "block", "namespace": "event", "fields": [
        {"name": "id", "type": "string"}, {"name": "total_order", "type": "long"},
        {"name": "data_collection_order", "type": "long"}], "connect.version": 1, "connect.name": "event.block"}))
}

/// Debezium 2.7 PostgreSQL connector, `pg1.public.orders`, every column with its source type.
fn pg_value_schema() -> Json {
    let vsd = json!({"type": "record", "name": "VariableScaleDecimal", "namespace": "io.debezium.data",
        "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}],
        "connect.doc": "Variable scaled decimal", "connect.version": 1,
        "connect.parameters": src("NUMERIC", "0", "0"), "connect.name": "io.debezium.data.VariableScaleDecimal"});
    let sem = |t: &str, name: &str, p: Json| json!({"type": t, "connect.version": 1, "connect.parameters": p, "connect.name": name});
    let columns = vec![
        json!({"name": "id", "type": {"type": "int", "connect.parameters": src("SERIAL", "10", "0"), "connect.default": 0}, "default": 0}),
        field("customer", opt(json!({"type": "string", "connect.parameters": src("VARCHAR", "255", "0")}))),
        field(
            "amount",
            opt(json!({"type": "bytes", "scale": 2, "precision": 10, "connect.version": 1,
            "connect.parameters": {"scale": "2", "connect.decimal.precision": "10",
                "__debezium.source.column.type": "NUMERIC", "__debezium.source.column.length": "10",
                "__debezium.source.column.scale": "2"},
            "connect.name": "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal"})),
        ),
        field("ratio", opt(vsd)),
        field(
            "created_at",
            opt(sem("string", "io.debezium.time.ZonedTimestamp", src("TIMESTAMPTZ", "35", "6"))),
        ),
        field("updated_at", opt(sem("long", "io.debezium.time.MicroTimestamp", src("TIMESTAMP", "29", "6")))),
        field("legacy_at", opt(sem("long", "io.debezium.time.Timestamp", src("TIMESTAMP", "26", "3")))),
        field("ship_date", opt(sem("int", "io.debezium.time.Date", src("DATE", "13", "0")))),
        field("ship_time", opt(sem("long", "io.debezium.time.MicroTime", src("TIME", "15", "6")))),
        field("alarm", opt(sem("int", "io.debezium.time.Time", src("TIME", "12", "3")))),
        field("pickup", opt(sem("string", "io.debezium.time.ZonedTime", src("TIMETZ", "21", "6")))),
        field("payload", opt(sem("string", "io.debezium.data.Json", src("JSONB", "2147483647", "0")))),
        field(
            "status",
            opt(
                json!({"type": "string", "connect.version": 1, "connect.parameters": {"allowed": "new,paid,shipped",
            "__debezium.source.column.type": "ORDER_STATUS", "__debezium.source.column.length": "2147483647",
            "__debezium.source.column.scale": "0"}, "connect.name": "io.debezium.data.Enum"}),
            ),
        ),
        field("ref", opt(sem("string", "io.debezium.data.Uuid", src("UUID", "2147483647", "0")))),
        field(
            "qty",
            opt(json!({"type": "int", "connect.parameters": src("INT2", "5", "0"), "connect.type": "int16"})),
        ),
        field(
            "tags",
            opt(
                json!({"type": "array", "items": ["null", "string"], "connect.parameters": src("_TEXT", "2147483647", "0")}),
            ),
        ),
        field("note", opt(json!({"type": "string", "connect.parameters": src("TEXT", "2147483647", "0")}))),
        field("doc", opt(json!({"type": "bytes", "connect.parameters": src("BYTEA", "2147483647", "0")}))),
        field(
            "flags",
            opt(json!({"type": "bytes", "connect.version": 1, "connect.parameters": {"length": "4",
            "__debezium.source.column.type": "BIT", "__debezium.source.column.length": "4",
            "__debezium.source.column.scale": "0"}, "connect.name": "io.debezium.data.Bits"})),
        ),
        field("ttl", opt(sem("long", "io.debezium.time.MicroDuration", src("INTERVAL", "49", "6")))),
        field(
            "location",
            opt(json!({"type": "record", "name": "Point", "namespace": "io.debezium.data.geometry",
            "fields": [{"name": "x", "type": "double"}, {"name": "y", "type": "double"},
                {"name": "wkb", "type": ["null", "bytes"], "default": null}, {"name": "srid", "type": ["null", "int"], "default": null}],
            "connect.doc": "Geometry (POINT)", "connect.version": 1, "connect.name": "io.debezium.data.geometry.Point"})),
        ),
    ];
    let mut source = common_source_fields();
    source.extend([
        field("ts_us", opt(json!("long"))),
        field("ts_ns", opt(json!("long"))),
        field("schema", json!("string")),
        field("table", json!("string")),
        field("txId", opt(json!("long"))),
        field("lsn", opt(json!("long"))),
        field("xmin", opt(json!("long"))),
    ]);
    json!({"type": "record", "name": "Envelope", "namespace": "pg1.public.orders", "fields": [
        field("before", opt(json!({"type": "record", "name": "Value", "fields": columns, "connect.name": "pg1.public.orders.Value"}))),
        field("after", opt(json!("Value"))),
        field("source", json!({"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql",
            "fields": source, "connect.name": "io.debezium.connector.postgresql.Source"})),
        field("transaction", tx_block()),
        field("op", json!("string")),
        field("ts_ms", opt(json!("long"))),
        field("ts_us", opt(json!("long"))),
        field("ts_ns", opt(json!("long"))),
    ], "connect.version": 2, "connect.name": "pg1.public.orders.Envelope"})
}

fn pg_key_schema() -> Json {
    json!({"type": "record", "name": "Key", "namespace": "pg1.public.orders", "fields": [
        {"name": "id", "type": {"type": "int", "connect.parameters": src("SERIAL", "10", "0"), "connect.default": 0}, "default": 0}],
        "connect.name": "pg1.public.orders.Key"})
}

fn some(v: AV) -> AV {
    AV::Union(1, Box::new(v))
}

fn null() -> AV {
    AV::Union(0, Box::new(AV::Null))
}

fn rec(fields: Vec<(&str, AV)>) -> AV {
    AV::Record(fields.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
}

fn unscaled(text: &str, scale: u32) -> Vec<u8> {
    let mut b = Vec::new();
    crate::decimal::to_unscaled_bytes(text, scale, &mut b).unwrap();
    b
}

/// The Confluent-framed datum of `value` under `schema`, written by apache-avro.
fn framed(schema: &Json, id: u32, value: AV) -> Vec<u8> {
    let s = apache_avro::Schema::parse(schema).unwrap();
    let w = apache_avro::writer::datum::GenericDatumWriter::builder(&s).build().unwrap();
    let mut out = Vec::new();
    wire::begin(&mut out, id);
    out.extend(w.write_value_to_vec(value).unwrap());
    out
}

fn pg_row(note: AV, doc: AV, payload: AV, tags: AV) -> AV {
    rec(vec![
        ("id", AV::Int(1001)),
        ("customer", some(AV::String("Ada".into()))),
        ("amount", some(AV::Decimal(unscaled("1234.50", 2).into()))),
        ("ratio", some(rec(vec![("scale", AV::Int(4)), ("value", AV::Bytes(unscaled("3.1416", 4)))]))),
        ("created_at", some(AV::String("2024-01-02T01:04:05.123456Z".into()))),
        ("updated_at", some(AV::Long(1_704_157_445_123_456))),
        ("legacy_at", some(AV::Long(1_704_157_445_123))),
        ("ship_date", some(AV::Int(19_724))),
        ("ship_time", some(AV::Long(3_723_000_004))),
        ("alarm", some(AV::Int(3_723_004))),
        ("pickup", some(AV::String("13:37:03.5Z".into()))),
        ("payload", payload),
        ("status", some(AV::String("paid".into()))),
        ("ref", some(AV::String("5f0c3a52-3b1a-4c6e-9c1d-2f8e4b7a9d10".into()))),
        ("qty", some(AV::Int(3))),
        ("tags", tags),
        ("note", note),
        ("doc", doc),
        ("flags", some(AV::Bytes(vec![0x0b]))),
        ("ttl", some(AV::Long(90_061_000_000))),
        (
            "location",
            some(rec(vec![
                ("x", AV::Double(1.5)),
                ("y", AV::Double(-2.0)),
                ("wkb", null()),
                ("srid", some(AV::Int(4326))),
            ])),
        ),
    ])
}

fn pg_envelope(op: &str, before: AV, after: AV) -> AV {
    let ts = |v: i64| some(AV::Long(v));
    rec(vec![
        ("before", before),
        ("after", after),
        (
            "source",
            rec(vec![
                ("version", AV::String("2.7.3.Final".into())),
                ("connector", AV::String("postgresql".into())),
                ("name", AV::String("pg1".into())),
                ("ts_ms", AV::Long(1_704_157_445_123)),
                ("snapshot", AV::Union(0, Box::new(AV::String("false".into())))),
                ("db", AV::String("shop".into())),
                ("sequence", some(AV::String("[\"24023119\",\"24023128\"]".into()))),
                ("ts_us", ts(1_704_157_445_123_456)),
                ("ts_ns", ts(1_704_157_445_123_456_000)),
                ("schema", AV::String("public".into())),
                ("table", AV::String("orders".into())),
                ("txId", ts(555)),
                ("lsn", ts(24_023_128)),
                ("xmin", null()),
            ]),
        ),
        (
            "transaction",
            some(rec(vec![
                ("id", AV::String("555:24023128".into())),
                ("total_order", AV::Long(2)),
                ("data_collection_order", AV::Long(1)),
            ])),
        ),
        ("op", AV::String(op.into())),
        ("ts_ms", ts(1_704_157_445_200)),
        ("ts_us", ts(1_704_157_445_200_000)),
        ("ts_ns", ts(1_704_157_445_200_000_000)),
    ])
}

async fn decode<S: SchemaSource>(d: &mut EventDecoder<S>, key: &[u8], value: &[u8]) -> ChangeEvent {
    match d.decode("pg1.public.orders", Some(key), Some(value)).await.unwrap() {
        Decoded::Event(ev) => ev,
        other => panic!("{other:?}"),
    }
}

fn pg_decoder() -> EventDecoder<StaticSchemas> {
    let mut s = StaticSchemas::new();
    s.insert(101, pg_key_schema()).insert(102, pg_value_schema());
    EventDecoder::new(s)
}

fn pg_key(id: i32) -> Vec<u8> {
    framed(&pg_key_schema(), 101, rec(vec![("id", AV::Int(id))]))
}

#[tokio::test]
async fn postgres_insert_decodes_every_column() {
    let mut d = pg_decoder();
    let s = |t: &str| some(AV::String(t.into()));
    let tags = some(AV::Array(vec![s("a"), null()]));
    let value = framed(
        &pg_value_schema(),
        102,
        pg_envelope(
            "c",
            null(),
            some(pg_row(s("leave at the door"), some(AV::Bytes(vec![1, 2, 3])), s("{\"gift\": true}"), tags)),
        ),
    );
    let ev = decode(&mut d, &pg_key(1001), &value).await;

    let t = &ev.table;
    assert_eq!(t.id, TableId::new("public", "orders"));
    assert_eq!(t.key, vec![0]);
    assert_eq!(t.version, 102);
    let types: Vec<(&str, &DataType, &str, bool)> = t
        .columns
        .iter()
        .map(|c| (c.name.as_str(), &c.data_type, c.source_type.as_str(), c.nullable))
        .collect();
    let dec = |p, s| DataType::Decimal { precision: p, scale: s };
    let expected_types = [
        ("id", &DataType::Int32, "SERIAL", false),
        ("customer", &DataType::Text, "VARCHAR(255)", true),
        ("amount", &dec(Some(10), Some(2)), "NUMERIC(10,2)", true),
        ("ratio", &dec(None, None), "NUMERIC", true),
        ("created_at", &DataType::TimestampTz, "TIMESTAMPTZ", true),
        ("updated_at", &DataType::Timestamp, "TIMESTAMP", true),
        ("legacy_at", &DataType::Timestamp, "TIMESTAMP", true),
        ("ship_date", &DataType::Date, "DATE", true),
        ("ship_time", &DataType::Time, "TIME", true),
        ("alarm", &DataType::Time, "TIME", true),
        ("pickup", &DataType::TimeTz, "TIMETZ", true),
        ("payload", &DataType::Json, "JSONB", true),
        (
            "status",
            &DataType::Enum(vec!["new".into(), "paid".into(), "shipped".into()]),
            "ORDER_STATUS",
            true,
        ),
        ("ref", &DataType::Uuid, "UUID", true),
        ("qty", &DataType::Int16, "INT2", true),
        ("tags", &DataType::Array(Box::new(DataType::Text)), "_TEXT", true),
        ("note", &DataType::Text, "TEXT", true),
        ("doc", &DataType::Bytes, "BYTEA", true),
        ("flags", &DataType::Bits(4), "BIT(4)", true),
        ("ttl", &DataType::Interval, "INTERVAL", true),
        ("location", &DataType::Text, "TEXT", true),
    ];
    assert_eq!(types, expected_types);

    let after = ev.after.as_ref().unwrap();
    let expected = [
        Value::Int32(1001),
        Value::Text("Ada".into()),
        Value::Decimal("1234.50".into()),
        Value::Decimal("3.1416".into()),
        Value::TimestampTz(1_704_157_445_123_456),
        Value::Timestamp(1_704_157_445_123_456),
        Value::Timestamp(1_704_157_445_123_000),
        Value::Date(19_724),
        Value::Time(3_723_000_004),
        Value::Time(3_723_004_000),
        Value::TimeTz { micros: 49_023_500_000, offset_seconds: 0 },
        Value::Json("{\"gift\": true}".into()),
        Value::Text("paid".into()),
        Value::Uuid([
            0x5f, 0x0c, 0x3a, 0x52, 0x3b, 0x1a, 0x4c, 0x6e, 0x9c, 0x1d, 0x2f, 0x8e, 0x4b, 0x7a, 0x9d, 0x10,
        ]),
        Value::Int16(3),
        Value::Array(vec![Value::Text("a".into()), Value::Null]),
        Value::Text("leave at the door".into()),
        Value::Bytes(vec![1, 2, 3]),
        Value::Bytes(vec![0x0b]),
        Value::Interval { months: 0, days: 0, micros: 90_061_000_000 },
    ];
    assert_eq!(&after[..expected.len()], &expected);
    // PostgreSQL's point comes back as its own text form.
    assert_eq!(after[20], Value::Text("(1.5,-2)".into()));

    assert_eq!(ev.op, Op::Create);
    assert_eq!(ev.before, None);
    assert_eq!(ev.ts_ms, 1_704_157_445_200);
    assert_eq!(ev.source.connector, "postgresql");
    assert_eq!(ev.source.name, "pg1");
    assert_eq!(ev.source.ts_ms, 1_704_157_445_123);
    assert_eq!(ev.source.snapshot, SnapshotMarker::False);
    assert_eq!((ev.source.db.as_str(), ev.source.schema.as_deref()), ("shop", Some("public")));
    assert_eq!(
        ev.source.detail,
        SourceDetail::Postgres {
            lsn: 24_023_128,
            tx_id: Some(555),
            xmin: None,
            sequence: Some("[\"24023119\",\"24023128\"]".into())
        }
    );
    assert_eq!(ev.position, Position::Postgres(sluice_core::Lsn(24_023_128)));
    let tx = ev.transaction.as_ref().unwrap();
    assert_eq!((tx.id.as_str(), tx.total_order, tx.data_collection_order), ("555:24023128", 2, 1));
    assert_eq!(d.value_schema(102).await.unwrap().flavor, Flavor::Debezium);
}

#[tokio::test]
async fn postgres_toast_placeholders_decode_as_unchanged() {
    let mut d = pg_decoder();
    let p = || some(AV::String(UNAVAILABLE_VALUE.into()));
    let row =
        pg_row(p(), some(AV::Bytes(UNAVAILABLE_VALUE.as_bytes().to_vec())), p(), some(AV::Array(vec![p()])));
    let value = framed(&pg_value_schema(), 102, pg_envelope("u", null(), some(row)));
    let ev = decode(&mut d, &pg_key(1001), &value).await;
    let after = ev.after.unwrap();
    let by_name = |n: &str| &after[ev.table.column_index(n).unwrap()];
    for c in ["note", "doc", "payload", "tags"] {
        assert_eq!(by_name(c), &Value::Unchanged, "{c}");
    }
    assert_eq!(by_name("customer"), &Value::Text("Ada".into()));
    assert_eq!(ev.op, Op::Update);
}

#[tokio::test]
async fn postgres_delete_then_tombstone() {
    let mut d = pg_decoder();
    // Default replica identity: `before` holds the key; other columns are null.
    let AV::Record(mut fields) = pg_row(null(), null(), null(), null()) else { unreachable!() };
    for (name, v) in fields.iter_mut().skip(1) {
        if name != "id" {
            *v = null();
        }
    }
    let value = framed(&pg_value_schema(), 102, pg_envelope("d", some(AV::Record(fields)), null()));
    let ev = decode(&mut d, &pg_key(1001), &value).await;
    assert_eq!(ev.op, Op::Delete);
    assert_eq!(ev.after, None);
    let before = ev.before.as_ref().unwrap();
    assert_eq!(ev.table.key_of(before), vec![&Value::Int32(1001)]);
    assert!(before[1..].iter().all(Value::is_null));

    match d.decode("pg1.public.orders", Some(&pg_key(1001)), None).await.unwrap() {
        Decoded::Tombstone { key: Some(k) } => {
            assert_eq!(k.values, vec![Value::Int32(1001)]);
            assert_eq!(k.schema.table, Some(TableId::new("public", "orders")));
            assert_eq!(k.schema.columns[0].source_type, "SERIAL");
        }
        other => panic!("{other:?}"),
    }
}

/// Debezium 2.x MySQL connector (`transaction` after `ts_ms`), `mysql1.inventory.products`;
/// only two columns carry their source type, and MySQL keeps `bigint.unsigned.handling.mode=precise`.
fn mysql_value_schema() -> Json {
    let sem = |t: &str, name: &str| json!({"type": t, "connect.version": 1, "connect.name": name});
    let enum_ = |name: &str, allowed: &str| json!({"type": "string", "connect.version": 1, "connect.parameters": {"allowed": allowed}, "connect.name": name});
    let columns = vec![
        field("id", json!("int")),
        field("name", json!("string")),
        field(
            "price",
            opt(json!({"type": "bytes", "scale": 2, "precision": 8, "connect.version": 1,
            "connect.parameters": {"scale": "2", "connect.decimal.precision": "8"},
            "connect.name": "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal"})),
        ),
        field(
            "stock",
            opt(json!({"type": "bytes", "scale": 0, "precision": 20, "connect.version": 1,
            "connect.parameters": {"scale": "0", "connect.decimal.precision": "20",
                "__debezium.source.column.type": "BIGINT UNSIGNED", "__debezium.source.column.length": "20"},
            "connect.name": "org.apache.kafka.connect.data.Decimal", "logicalType": "decimal"})),
        ),
        field("created", opt(sem("long", "io.debezium.time.MicroTimestamp"))),
        field("modified", opt(sem("string", "io.debezium.time.ZonedTimestamp"))),
        field("released", opt(sem("int", "io.debezium.time.Date"))),
        field("duration", opt(sem("long", "io.debezium.time.MicroTime"))),
        field(
            "colour",
            opt(
                json!({"type": "string", "connect.version": 1, "connect.parameters": {"allowed": "red,green,blue",
            "__debezium.source.column.type": "ENUM", "__debezium.source.column.length": "1"}, "connect.name": "io.debezium.data.Enum"}),
            ),
        ),
        field("features", opt(enum_("io.debezium.data.EnumSet", "gift,fragile"))),
        field("attrs", opt(sem("string", "io.debezium.data.Json"))),
        field("flag", opt(json!("boolean"))),
        field("small", opt(json!({"type": "int", "connect.type": "int16"}))),
        field("yr", opt(sem("int", "io.debezium.time.Year"))),
        field("weight", opt(json!("double"))),
    ];
    let mut source = common_source_fields();
    source.extend([
        field("table", opt(json!("string"))),
        field("server_id", json!("long")),
        field("gtid", opt(json!("string"))),
        field("file", json!("string")),
        field("pos", json!("long")),
        field("row", json!("int")),
        field("thread", opt(json!("long"))),
        field("query", opt(json!("string"))),
    ]);
    json!({"type": "record", "name": "Envelope", "namespace": "mysql1.inventory.products", "fields": [
        field("before", opt(json!({"type": "record", "name": "Value", "fields": columns, "connect.name": "mysql1.inventory.products.Value"}))),
        field("after", opt(json!("Value"))),
        field("source", json!({"type": "record", "name": "Source", "namespace": "io.debezium.connector.mysql",
            "fields": source, "connect.name": "io.debezium.connector.mysql.Source"})),
        field("op", json!("string")),
        field("ts_ms", opt(json!("long"))),
        field("transaction", tx_block()),
    ], "connect.version": 1, "connect.name": "mysql1.inventory.products.Envelope"})
}

#[tokio::test]
async fn mysql_snapshot_row_decodes() {
    let key_schema = json!({"type": "record", "name": "Key", "namespace": "mysql1.inventory.products",
        "fields": [{"name": "id", "type": "int"}], "connect.name": "mysql1.inventory.products.Key"});
    let mut s = StaticSchemas::new();
    s.insert(201, key_schema.clone()).insert(202, mysql_value_schema());
    let mut d = EventDecoder::new(s);
    let st = |t: &str| some(AV::String(t.into()));
    let row = rec(vec![
        ("id", AV::Int(7)),
        ("name", AV::String("Widget".into())),
        ("price", some(AV::Decimal(unscaled("19.99", 2).into()))),
        ("stock", some(AV::Decimal(unscaled("18446744073709551615", 0).into()))),
        ("created", some(AV::Long(1_704_157_445_123_456))),
        ("modified", st("2024-01-02T01:04:05.123Z")),
        ("released", some(AV::Int(19_000))),
        ("duration", some(AV::Long(-3_600_000_000))),
        ("colour", st("green")),
        ("features", st("gift,fragile")),
        ("attrs", st("{\"size\":\"L\"}")),
        ("flag", some(AV::Boolean(true))),
        ("small", some(AV::Int(-7))),
        ("yr", some(AV::Int(2024))),
        ("weight", some(AV::Double(0.25))),
    ]);
    let envelope = rec(vec![
        ("before", null()),
        ("after", some(row)),
        (
            "source",
            rec(vec![
                ("version", AV::String("2.5.4.Final".into())),
                ("connector", AV::String("mysql".into())),
                ("name", AV::String("mysql1".into())),
                ("ts_ms", AV::Long(1_704_157_445_000)),
                ("snapshot", AV::Union(0, Box::new(AV::String("last".into())))),
                ("db", AV::String("inventory".into())),
                ("sequence", null()),
                ("table", st("products")),
                ("server_id", AV::Long(223_344)),
                ("gtid", st("3e11fa47-71ca-11e1-9e33-c80aa9429562:23")),
                ("file", AV::String("mysql-bin.000003".into())),
                ("pos", AV::Long(154)),
                ("row", AV::Int(0)),
                ("thread", some(AV::Long(7))),
                ("query", null()),
            ]),
        ),
        ("op", AV::String("r".into())),
        ("ts_ms", some(AV::Long(1_704_157_445_500))),
        ("transaction", null()),
    ]);
    let value = framed(&mysql_value_schema(), 202, envelope);
    let key = framed(&key_schema, 201, rec(vec![("id", AV::Int(7))]));
    let Decoded::Event(ev) = d.decode("mysql1.inventory.products", Some(&key), Some(&value)).await.unwrap()
    else {
        panic!("not an event")
    };
    let t = &ev.table;
    assert_eq!(t.id, TableId::new("inventory", "products"));
    assert_eq!(t.key, vec![0]);
    let types: Vec<(&DataType, &str)> =
        t.columns.iter().map(|c| (&c.data_type, c.source_type.as_str())).collect();
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        types,
        [
            (&DataType::Int32, "INTEGER"),
            (&DataType::Text, "TEXT"),
            (&DataType::Decimal { precision: Some(8), scale: Some(2) }, "NUMERIC(8,2)"),
            (&DataType::UInt64, "BIGINT UNSIGNED"),
            (&DataType::Timestamp, "TIMESTAMP"),
            (&DataType::TimestampTz, "TIMESTAMP WITH TIME ZONE"),
            (&DataType::Date, "DATE"),
            (&DataType::Time, "TIME"),
            (&DataType::Enum(set(&["red", "green", "blue"])), "ENUM('red','green','blue')"),
            (&DataType::Set(set(&["gift", "fragile"])), "SET"),
            (&DataType::Json, "JSON"),
            (&DataType::Boolean, "BOOLEAN"),
            (&DataType::Int16, "SMALLINT"),
            (&DataType::Int32, "INTEGER"),
            (&DataType::Float64, "DOUBLE PRECISION"),
        ]
    );
    assert_eq!(
        ev.after.unwrap(),
        vec![
            Value::Int32(7),
            Value::Text("Widget".into()),
            Value::Decimal("19.99".into()),
            Value::UInt64(u64::MAX),
            Value::Timestamp(1_704_157_445_123_456),
            Value::TimestampTz(1_704_157_445_123_000),
            Value::Date(19_000),
            Value::Time(-3_600_000_000),
            Value::Text("green".into()),
            Value::Text("gift,fragile".into()),
            Value::Json("{\"size\":\"L\"}".into()),
            Value::Bool(true),
            Value::Int16(-7),
            Value::Int32(2024),
            Value::Float64(0.25),
        ]
    );
    assert_eq!(ev.op, Op::Read);
    assert_eq!(ev.source.connector, "mysql");
    assert_eq!(ev.source.snapshot, SnapshotMarker::Last);
    assert_eq!(
        (ev.source.db.as_str(), ev.source.schema.as_deref(), ev.source.table.as_str()),
        ("inventory", None, "products")
    );
    assert_eq!(
        ev.source.detail,
        SourceDetail::MySql {
            server_id: 223_344,
            gtid: Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:23".into()),
            file: "mysql-bin.000003".into(),
            pos: 154,
            row: 0,
            thread: Some(7),
            query: None,
        }
    );
    assert_eq!(
        ev.position,
        Position::Binlog(sluice_core::BinlogPosition {
            file: "mysql-bin.000003".into(),
            pos: 154,
            gtid_set: None
        })
    );
    assert_eq!(ev.transaction, None);
}

/// PostgreSQL with `time.precision.mode=connect`, `interval.handling.mode=string`,
/// `decimal.handling.mode=string`, `hstore.handling.mode=map`, and nanosecond timestamps.
#[tokio::test]
async fn other_debezium_modes_decode() {
    let columns = json!([
        {"name": "d", "type": {"type": "int", "connect.version": 1, "connect.name": "org.apache.kafka.connect.data.Date", "logicalType": "date"}},
        {"name": "t", "type": {"type": "int", "connect.version": 1, "connect.name": "org.apache.kafka.connect.data.Time", "logicalType": "time-millis"}},
        {"name": "ts", "type": {"type": "long", "connect.version": 1, "connect.name": "org.apache.kafka.connect.data.Timestamp", "logicalType": "timestamp-millis"}},
        {"name": "iv", "type": {"type": "string", "connect.version": 1, "connect.name": "io.debezium.time.Interval"}},
        {"name": "amount", "type": {"type": "string", "connect.parameters": src("NUMERIC", "10", "2")}},
        {"name": "nts", "type": {"type": "long", "connect.version": 1, "connect.name": "io.debezium.time.NanoTimestamp"}},
        {"name": "h", "type": {"type": "map", "values": ["null", "string"]}}
    ]);
    let mut source = common_source_fields();
    source.extend([
        field("schema", json!("string")),
        field("table", json!("string")),
        field("lsn", opt(json!("long"))),
    ]);
    let schema = json!({"type": "record", "name": "Envelope", "namespace": "pg2.public.modes", "fields": [
        field("before", opt(json!({"type": "record", "name": "Value", "fields": columns}))),
        field("after", opt(json!("Value"))),
        field("source", json!({"type": "record", "name": "Source", "namespace": "io.debezium.connector.postgresql", "fields": source})),
        field("op", json!("string")),
        field("ts_ms", opt(json!("long"))),
    ]});
    let row = rec(vec![
        ("d", AV::Date(19_724)),
        ("t", AV::TimeMillis(3_723_004)),
        ("ts", AV::TimestampMillis(1_704_157_445_123)),
        ("iv", AV::String("P1Y2M3DT4H5M6.78S".into())),
        ("amount", AV::String("12.30".into())),
        ("nts", AV::Long(1_704_157_445_123_456_789)),
        ("h", AV::Map([("k".to_string(), some(AV::String("v".into())))].into_iter().collect())),
    ]);
    let src_block = rec(vec![
        ("version", AV::String("3.0.0.Final".into())),
        ("connector", AV::String("postgresql".into())),
        ("name", AV::String("pg2".into())),
        ("ts_ms", AV::Long(1)),
        ("snapshot", AV::Union(1, Box::new(AV::Null))),
        ("db", AV::String("db".into())),
        ("sequence", null()),
        ("schema", AV::String("public".into())),
        ("table", AV::String("modes".into())),
        ("lsn", null()),
    ]);
    let env = rec(vec![
        ("before", null()),
        ("after", some(row)),
        ("source", src_block),
        ("op", AV::String("c".into())),
        ("ts_ms", null()),
    ]);
    let value = framed(&schema, 7, env);
    let mut s = StaticSchemas::new();
    s.insert(7, schema);
    let mut d = EventDecoder::new(s);
    let Decoded::Event(ev) = d.decode("pg2.public.modes", None, Some(&value)).await.unwrap() else {
        panic!()
    };
    let types: Vec<&DataType> = ev.table.columns.iter().map(|c| &c.data_type).collect();
    let dec = DataType::Decimal { precision: Some(10), scale: Some(2) };
    assert_eq!(
        types,
        [
            &DataType::Date,
            &DataType::Time,
            &DataType::Timestamp,
            &DataType::Interval,
            &dec,
            &DataType::Timestamp,
            &DataType::Json
        ]
    );
    assert_eq!(
        ev.after.unwrap(),
        vec![
            Value::Date(19_724),
            Value::Time(3_723_004_000),
            Value::Timestamp(1_704_157_445_123_000),
            Value::Interval { months: 14, days: 3, micros: 14_706_780_000 },
            Value::Decimal("12.30".into()),
            Value::Timestamp(1_704_157_445_123_456),
            Value::Json("{\"k\":\"v\"}".into()),
        ]
    );
    // No transaction block, null ts_ms and lsn: defaults, keyless table.
    assert_eq!(ev.ts_ms, 1);
    assert_eq!(ev.source.snapshot, SnapshotMarker::False);
    assert_eq!(ev.position, Position::Postgres(sluice_core::Lsn(0)));
    assert!(ev.table.key.is_empty());
}

#[tokio::test]
async fn unsupported_connectors_are_fatal() {
    let mut schema = pg_value_schema();
    schema["fields"][2]["type"] = json!({"type": "record", "name": "Source", "namespace": "io.debezium.connector.sqlserver",
        "fields": [{"name": "change_lsn", "type": ["null", "string"]}], "connect.name": "io.debezium.connector.sqlserver.Source"});
    let mut s = StaticSchemas::new();
    s.insert(1, schema);
    let e = EventDecoder::new(s).value_schema(1).await.unwrap_err();
    assert!(e.to_string().contains("neither PostgreSQL's nor MySQL's"), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
}
