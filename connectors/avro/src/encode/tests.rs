//! The direct encoder checked against apache-avro's decoder for the generated schemas.

use std::sync::Arc;

use apache_avro::types::Value as AV;
use sluice_core::{
    ChangeEvent, Column, DataType, Lsn, Op, Position, SnapshotMarker, SourceDetail, SourceInfo, TableId,
    TableSchema, TransactionInfo, Value,
};

use super::*;

pub(crate) fn all_types_table() -> TableSchema {
    let c = Column::new;
    TableSchema {
        id: TableId::new("public", "all_types"),
        columns: vec![
            c("id", DataType::Int32, "int4", false),
            c("b", DataType::Boolean, "bool", true),
            c("i16", DataType::Int16, "int2", true),
            c("i64", DataType::Int64, "int8", true),
            c("u64", DataType::UInt64, "bigint unsigned", true),
            c("f32", DataType::Float32, "float4", true),
            c("f64", DataType::Float64, "float8", true),
            c("dec", DataType::Decimal { precision: Some(12), scale: Some(3) }, "numeric(12,3)", true),
            c("vdec", DataType::Decimal { precision: None, scale: None }, "numeric", true),
            c("txt", DataType::Text, "text", true),
            c("bin", DataType::Bytes, "bytea", true),
            c("js", DataType::Json, "jsonb", true),
            c("u", DataType::Uuid, "uuid", true),
            c("d", DataType::Date, "date", true),
            c("t", DataType::Time, "time", true),
            c("ttz", DataType::TimeTz, "timetz", true),
            c("ts", DataType::Timestamp, "timestamp", true),
            c("tstz", DataType::TimestampTz, "timestamptz", true),
            c("iv", DataType::Interval, "interval", true),
            c("e", DataType::Enum(vec!["red".into(), "green".into()]), "mood", true),
            c("arr", DataType::Array(Box::new(DataType::Int32)), "_int4", true),
            c("big", DataType::Text, "text", false),
        ],
        key: vec![0],
        version: 1,
    }
}

pub(crate) fn all_types_row() -> Vec<Value> {
    vec![
        Value::Int32(7),
        Value::Bool(true),
        Value::Int16(-3),
        Value::Int64(-9_000_000_000),
        Value::UInt64(u64::MAX),
        Value::Float32(1.5),
        Value::Float64(-2.25),
        Value::Decimal("-12345.678".into()),
        Value::Decimal("3.14159265358979323846264338327950288419716939937510".into()),
        Value::Text("héllo".into()),
        Value::Bytes(vec![0, 255, 1]),
        Value::Json("{\"a\": 1}".into()),
        Value::Uuid([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
        ]),
        Value::Date(19_000),
        Value::Time(3_723_000_004),
        Value::TimeTz { micros: 3_723_000_000, offset_seconds: 3600 },
        Value::Timestamp(1_700_000_000_123_456),
        Value::TimestampTz(-1_000_001),
        Value::Interval { months: 14, days: 3, micros: 14_706_000_007 },
        Value::Text("green".into()),
        Value::Array(vec![Value::Int32(1), Value::Null, Value::Int32(3)]),
        Value::Text("x".repeat(100)),
    ]
}

pub(crate) fn event(
    table: Arc<TableSchema>,
    op: Op,
    before: Option<Vec<Value>>,
    after: Option<Vec<Value>>,
) -> ChangeEvent {
    ChangeEvent {
        source: SourceInfo {
            connector: "postgresql",
            name: "shop".into(),
            ts_ms: 1_700_000_000_000,
            snapshot: SnapshotMarker::False,
            db: "app".into(),
            schema: Some(table.id.schema.clone()),
            table: table.id.table.clone(),
            detail: SourceDetail::Postgres { lsn: 0x1234, tx_id: Some(77), xmin: None, sequence: None },
        },
        table,
        op,
        before,
        after,
        ts_ms: 1_700_000_000_500,
        transaction: Some(TransactionInfo { id: "77:4660".into(), total_order: 2, data_collection_order: 1 }),
        position: Position::Postgres(Lsn(0x1234)),
    }
}

fn opts() -> EnvelopeOptions {
    EnvelopeOptions::new("shop", SourceKind::Postgres)
}

fn decode(schema: &serde_json::Value, body: &[u8]) -> AV {
    let s = apache_avro::Schema::parse(schema).unwrap();
    let mut r = body;
    let v = apache_avro::reader::datum::GenericDatumReader::builder(&s)
        .build()
        .unwrap()
        .read_value(&mut r)
        .unwrap();
    assert!(r.is_empty(), "{} trailing bytes", r.len());
    v
}

fn field<'a>(rec: &'a AV, name: &str) -> &'a AV {
    let AV::Record(fields) = rec else { panic!("not a record: {rec:?}") };
    &fields.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no field {name}")).1
}

fn unwrap_union(v: &AV) -> &AV {
    match v {
        AV::Union(_, inner) => inner,
        other => other,
    }
}

#[test]
fn every_type_decodes_with_apache_avro() {
    let table = Arc::new(all_types_table());
    let mut codec = TableCodec::new(table.clone(), &opts());
    codec.set_ids(Some(1), 2);
    let ev = event(table, Op::Create, None, Some(all_types_row()));
    let mut enc = EventEncoder::default();
    assert!(enc.encode(&codec, &ev).unwrap());
    let (kid, kbody) = wire::split(&enc.key).unwrap();
    assert_eq!(kid, 1);
    let key = decode(codec.key_schema().unwrap(), kbody);
    assert_eq!(field(&key, "id"), &AV::Int(7));

    let (vid, vbody) = wire::split(&enc.value).unwrap();
    assert_eq!(vid, 2);
    let env = decode(codec.value_schema(), vbody);
    assert_eq!(unwrap_union(field(&env, "before")), &AV::Null);
    assert_eq!(field(&env, "op"), &AV::String("c".into()));
    assert_eq!(unwrap_union(field(&env, "ts_ms")), &AV::Long(1_700_000_000_500));
    let src = field(&env, "source");
    assert_eq!(field(src, "connector"), &AV::String("postgresql".into()));
    assert_eq!(unwrap_union(field(src, "lsn")), &AV::Long(0x1234));
    assert_eq!(unwrap_union(field(src, "txId")), &AV::Long(77));
    let tx = unwrap_union(field(&env, "transaction"));
    assert_eq!(field(tx, "total_order"), &AV::Long(2));

    let after = unwrap_union(field(&env, "after"));
    let f = |n: &str| unwrap_union(field(after, n)).clone();
    assert_eq!(f("b"), AV::Boolean(true));
    assert_eq!(f("i16"), AV::Int(-3));
    assert_eq!(f("i64"), AV::Long(-9_000_000_000));
    assert_eq!(f("f32"), AV::Float(1.5));
    assert_eq!(f("f64"), AV::Double(-2.25));
    let AV::Decimal(d) = f("dec") else { panic!("decimal") };
    let bytes: Vec<u8> = d.try_into().unwrap();
    assert_eq!(crate::decimal::from_unscaled_bytes(&bytes, 3), "-12345.678");
    let AV::Decimal(u) = f("u64") else { panic!("decimal") };
    let bytes: Vec<u8> = u.try_into().unwrap();
    assert_eq!(crate::decimal::from_unscaled_bytes(&bytes, 0), u64::MAX.to_string());
    let vdec = f("vdec");
    let AV::Int(scale) = field(&vdec, "scale") else { panic!("scale") };
    let AV::Bytes(vb) = field(&vdec, "value") else { panic!("value") };
    assert_eq!(
        crate::decimal::from_unscaled_bytes(vb, *scale as u32),
        "3.14159265358979323846264338327950288419716939937510"
    );
    assert_eq!(f("txt"), AV::String("héllo".into()));
    assert_eq!(f("bin"), AV::Bytes(vec![0, 255, 1]));
    assert_eq!(f("js"), AV::String("{\"a\": 1}".into()));
    assert_eq!(f("u"), AV::String("12345678-9abc-def0-1234-56789abcdef0".into()));
    // Debezium's semantic types carry no Avro logical type: Connect's AvroConverter refuses one.
    assert_eq!(f("d"), AV::Int(19_000));
    assert_eq!(f("t"), AV::Long(3_723_000_004));
    assert_eq!(f("ttz"), AV::String("01:02:03+01:00".into()));
    assert_eq!(f("ts"), AV::Long(1_700_000_000_123_456));
    assert_eq!(f("tstz"), AV::String("1969-12-31T23:59:58.999999Z".into()));
    assert_eq!(f("iv"), AV::String("P1Y2M3DT4H5M6.000007S".into()));
    assert_eq!(f("e"), AV::String("green".into()));
    let AV::Array(items) = f("arr") else { panic!("array") };
    assert_eq!(
        items.iter().map(unwrap_union).cloned().collect::<Vec<_>>(),
        vec![AV::Int(1), AV::Null, AV::Int(3)]
    );
    assert_eq!(unwrap_union(field(&env, "unchanged")), &AV::Null);
}

#[test]
fn unchanged_columns_are_listed_and_use_debezium_placeholders() {
    let table = Arc::new(all_types_table());
    let mut codec = TableCodec::new(table.clone(), &opts());
    codec.set_ids(Some(1), 2);
    let mut row = all_types_row();
    row[9] = Value::Unchanged; // txt
    row[11] = Value::Unchanged; // js
    row[20] = Value::Unchanged; // arr (nullable, not a string)
    row[21] = Value::Unchanged; // big (NOT NULL text)
    let ev = event(table, Op::Update, None, Some(row));
    let mut buf = Vec::new();
    codec.write_envelope(&ev, &mut buf).unwrap();
    let env = decode(codec.value_schema(), &buf);
    let after = unwrap_union(field(&env, "after"));
    assert_eq!(unwrap_union(field(after, "txt")), &AV::String(UNAVAILABLE_VALUE.into()));
    assert_eq!(unwrap_union(field(after, "arr")), &AV::Null);
    assert_eq!(field(after, "big"), &AV::String(UNAVAILABLE_VALUE.into()));
    let AV::Array(names) = unwrap_union(field(&env, "unchanged")) else { panic!("unchanged list") };
    assert_eq!(
        names,
        &vec![
            AV::String("txt".into()),
            AV::String("js".into()),
            AV::String("arr".into()),
            AV::String("big".into())
        ]
    );
}

#[test]
fn delete_has_before_and_key_from_before() {
    let table = Arc::new(all_types_table());
    let mut codec = TableCodec::new(table.clone(), &opts());
    codec.set_ids(Some(1), 2);
    let ev = event(table, Op::Delete, Some(all_types_row()), None);
    let mut enc = EventEncoder::default();
    assert!(enc.encode(&codec, &ev).unwrap());
    let env = decode(codec.value_schema(), wire::split(&enc.value).unwrap().1);
    assert_eq!(unwrap_union(field(&env, "after")), &AV::Null);
    assert_eq!(field(&env, "op"), &AV::String("d".into()));
}

#[test]
fn wrong_value_type_names_table_and_column_not_value() {
    let table = Arc::new(all_types_table());
    let mut codec = TableCodec::new(table.clone(), &opts());
    codec.set_ids(Some(1), 2);
    let mut row = all_types_row();
    row[3] = Value::Text("secret-ish".into());
    let ev = event(table.clone(), Op::Create, None, Some(row));
    let e = codec.encode_value(&ev, &mut Vec::new()).unwrap_err().to_string();
    assert!(e.contains("public.all_types") && e.contains("i64"), "{e}");
    assert!(!e.contains("secret-ish"), "{e}");
    let mut row = all_types_row();
    row[0] = Value::Null;
    let ev = event(table, Op::Create, None, Some(row));
    assert!(codec.encode_value(&ev, &mut Vec::new()).unwrap_err().to_string().contains("NOT NULL"));
}

#[test]
fn formats() {
    assert_eq!(format_interval(0, 0, 0), "PT0S");
    assert_eq!(format_interval(-14, 0, 0), "P-1Y-2M");
    assert_eq!(format_interval(0, -1, -3_600_000_000), "P-1DT-1H");
    assert_eq!(format_timetz(0, -19800), "00:00:00-05:30");
    let schema = apache_avro::Schema::parse_str("\"long\"").unwrap();
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema).build().unwrap();
    let mut b = Vec::new();
    for v in [0i64, -1, 1, 63, -64, 64, i64::MAX, i64::MIN] {
        b.clear();
        write_long(&mut b, v);
        assert_eq!(reader.read_value(&mut &b[..]).unwrap(), AV::Long(v));
    }
}

#[test]
fn transaction_events_decode() {
    let ev = sluice_core::TransactionEvent {
        status: sluice_core::TransactionStatus::End,
        id: "5:100".into(),
        ts_ms: 7,
        event_count: Some(3),
        data_collections: vec![("public.a".into(), 2), ("public.b".into(), 1)],
    };
    let (mut k, mut v) = (Vec::new(), Vec::new());
    encode_transaction(&ev, 1, 2, &mut k, &mut v);
    let key = decode(&schema_gen::transaction_key_schema(), wire::split(&k).unwrap().1);
    assert_eq!(field(&key, "id"), &AV::String("5:100".into()));
    let val = decode(&schema_gen::transaction_value_schema(), wire::split(&v).unwrap().1);
    assert_eq!(field(&val, "status"), &AV::String("END".into()));
    assert_eq!(unwrap_union(field(&val, "event_count")), &AV::Long(3));
    let AV::Array(dc) = unwrap_union(field(&val, "data_collections")) else { panic!() };
    assert_eq!(field(unwrap_union(&dc[1]), "data_collection"), &AV::String("public.b".into()));
    let begin = sluice_core::TransactionEvent {
        status: sluice_core::TransactionStatus::Begin,
        event_count: None,
        data_collections: vec![],
        ..ev
    };
    encode_transaction(&begin, 1, 2, &mut k, &mut v);
    let val = decode(&schema_gen::transaction_value_schema(), wire::split(&v).unwrap().1);
    assert_eq!(unwrap_union(field(&val, "data_collections")), &AV::Null);
}

/// A delete under the default replica identity carries only the key; the other columns are
/// `Unchanged`, and NOT NULL ones of every type get a zero value of their own Avro type.
#[test]
fn key_only_before_images_encode_for_every_not_null_type() {
    let mut t = all_types_table();
    for c in &mut t.columns {
        c.nullable = false;
    }
    let table = Arc::new(t);
    let mut codec = TableCodec::new(table.clone(), &opts());
    codec.set_ids(Some(1), 2);
    let mut row = vec![Value::Unchanged; table.columns.len()];
    row[0] = Value::Int32(7);
    let ev = event(table, Op::Delete, Some(row), None);
    let mut enc = EventEncoder::default();
    assert!(enc.encode(&codec, &ev).unwrap());
    let env = decode(codec.value_schema(), wire::split(&enc.value).unwrap().1);
    let before = unwrap_union(field(&env, "before"));
    assert_eq!(field(before, "id"), &AV::Int(7));
    assert_eq!(field(before, "i16"), &AV::Int(0));
}

#[test]
fn zoned_timestamps_are_spelled_as_debezium_does() {
    use super::format_zoned_timestamp as z;
    assert_eq!(z(0), "1970-01-01T00:00:00Z");
    assert_eq!(z(1_709_214_330_123_456), "2024-02-29T13:45:30.123456Z");
    assert_eq!(z(1_500_000), "1970-01-01T00:00:01.5Z");
    assert_eq!(z(-1), "1969-12-31T23:59:59.999999Z");
    assert_eq!(z(253_402_300_800_000_000), "+10000-01-01T00:00:00Z");
    // Years before 1 AD are proleptic: 1 BC is year 0000, 2 BC is -0001.
    assert_eq!(z(-62_167_219_200_000_000), "0000-01-01T00:00:00Z");
    assert_eq!(z(-62_198_755_200_000_000), "-0001-01-01T00:00:00Z");
    assert_eq!(z(i64::MAX), "infinity");
    assert_eq!(z(i64::MIN), "-infinity");
    // Round trip through the decoder's parser.
    for t in [0, -1, 1_500_000, 253_402_300_800_000_000, -62_135_596_800_000_001, -100_000_000_000_000_000] {
        assert_eq!(crate::decode::parse_zoned_timestamp_for_tests(&z(t)), Ok(t), "{}", z(t));
    }
}
