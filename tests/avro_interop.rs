//! Events encoded by Sluice, registered in Sluice's registry and published to the broker, are
//! decoded by `confluent-kafka`'s AvroDeserializer (a client we did not write) to the exact
//! values written — for every logical type — before and after a schema evolution.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value as Json};
use sluice_avro::schema_gen::{EnvelopeOptions, SourceKind};
use sluice_avro::{EventEncoder, RegistryClient, SubjectNameStrategy, TableCodec};
use sluice_core::{
    ChangeEvent, Column, DataType, Lsn, Op, Position, SnapshotMarker, SourceDetail, SourceInfo, TableId,
    TableSchema, TransactionInfo, Value,
};
use sluice_testkit::{testbed, unique};

fn table(version: u32, table_name: &str) -> TableSchema {
    let c = Column::new;
    let mut columns = vec![
        c("id", DataType::Int32, "int4", false),
        c("flag", DataType::Boolean, "bool", true),
        c("small", DataType::Int16, "int2", true),
        c("big", DataType::Int64, "int8", true),
        c("ubig", DataType::UInt64, "bigint unsigned", true),
        c("real4", DataType::Float32, "float4", true),
        c("real8", DataType::Float64, "float8", true),
        c("amount", DataType::Decimal { precision: Some(12), scale: Some(3) }, "numeric(12,3)", true),
        c("anynum", DataType::Decimal { precision: None, scale: None }, "numeric", true),
        c("name", DataType::Text, "varchar(40)", true),
        c("blob", DataType::Bytes, "bytea", true),
        c("doc", DataType::Json, "jsonb", true),
        c("uid", DataType::Uuid, "uuid", true),
        c("day", DataType::Date, "date", true),
        c("tod", DataType::Time, "time", true),
        c("tod_tz", DataType::TimeTz, "timetz", true),
        c("wall", DataType::Timestamp, "timestamp", true),
        c("instant", DataType::TimestampTz, "timestamptz", true),
        c("span", DataType::Interval, "interval", true),
        c("mood", DataType::Enum(vec!["sad".into(), "happy".into()]), "mood", true),
        c("tags", DataType::Array(Box::new(DataType::Text)), "_text", true),
    ];
    if version >= 2 {
        columns.push(c("added", DataType::Text, "text", true));
    }
    TableSchema { id: TableId::new("public", table_name), columns, key: vec![0], version }
}

fn row(id: i32, version: u32) -> Vec<Value> {
    let mut r = vec![
        Value::Int32(id),
        Value::Bool(true),
        Value::Int16(-32768),
        Value::Int64(i64::MIN + 1),
        Value::UInt64(18_446_744_073_709_551_615),
        Value::Float32(0.5),
        Value::Float64(-1.0e-300),
        Value::Decimal("-123456789.125".into()),
        Value::Decimal("0.000000000000000000000000000000000000000001".into()),
        Value::Text("naïve ✓".into()),
        Value::Bytes(vec![0x00, 0xff, 0x80, 0x7f]),
        Value::Json("{\"k\": [1, 2]}".into()),
        Value::Uuid(*b"\x55\x0e\x84\x00\xe2\x9b\x41\xd4\xa7\x16\x44\x66\x55\x44\x00\x00"),
        Value::Date(-719_162), // 0001-01-01
        Value::Time(86_399_999_999),
        Value::TimeTz { micros: 45_296_000_000, offset_seconds: -18_000 },
        Value::Timestamp(1_700_000_000_123_456),
        Value::TimestampTz(946_684_800_000_001),
        Value::Interval { months: 13, days: -2, micros: 3_600_000_001 },
        Value::Text("happy".into()),
        Value::Array(vec![Value::Text("a".into()), Value::Null, Value::Text("c".into())]),
    ];
    if version >= 2 {
        r.push(Value::Text("new column".into()));
    }
    r
}

fn event(
    table: &Arc<TableSchema>,
    op: Op,
    before: Option<Vec<Value>>,
    after: Option<Vec<Value>>,
    n: u64,
) -> ChangeEvent {
    ChangeEvent {
        table: table.clone(),
        op,
        before,
        after,
        source: SourceInfo {
            connector: "postgresql",
            name: "interop".into(),
            ts_ms: 1_700_000_000_000,
            snapshot: SnapshotMarker::False,
            db: "app".into(),
            schema: Some("public".into()),
            table: table.id.table.clone(),
            detail: SourceDetail::Postgres { lsn: 1000 + n, tx_id: Some(500), xmin: None, sequence: None },
        },
        ts_ms: 1_700_000_000_999,
        transaction: Some(TransactionInfo {
            id: "500:1000".into(),
            total_order: n,
            data_collection_order: n,
        }),
        position: Position::Postgres(Lsn(1000 + n)),
    }
}

async fn register(reg: &RegistryClient, codec: &mut TableCodec) -> anyhow::Result<()> {
    let s = SubjectNameStrategy::TopicName;
    let key_id = match codec.key_schema() {
        Some(k) => Some(reg.register(&s.subject(&codec.topic, true, ""), k).await?),
        None => None,
    };
    let value_id = reg.register(&s.subject(&codec.topic, false, ""), codec.value_schema()).await?;
    codec.set_ids(key_id, value_id);
    Ok(())
}

/// The values `confluent-kafka` must decode for `row(id, v)`.
fn expected_after(id: i32, version: u32) -> Json {
    let mut m = json!({
        "id": id,
        "flag": true,
        "small": -32768,
        "big": i64::MIN + 1,
        "ubig": {"decimal": "18446744073709551615"},
        "real4": 0.5,
        "real8": -1.0e-300,
        "amount": {"decimal": "-123456789.125"},
        "anynum": {"scale": 42, "value": {"hex": "01"}},
        "name": "naïve ✓",
        "blob": {"hex": "00ff807f"},
        "doc": "{\"k\": [1, 2]}",
        "uid": "550e8400-e29b-41d4-a716-446655440000",
        // Debezium's semantic types are plain Avro: days, µs, and an ISO string in UTC.
        "day": -719_162,
        "tod": 86_399_999_999i64,
        "tod_tz": "12:34:56-05:00",
        "wall": 1_700_000_000_123_456i64,
        "instant": "2000-01-01T00:00:00.000001Z",
        "span": "P1Y1M-2DT1H0.000001S",
        "mood": "happy",
        "tags": ["a", null, "c"],
    });
    if version >= 2 {
        m["added"] = json!("new column");
    }
    m
}

#[tokio::test]
async fn confluent_client_decodes_every_logical_type_across_an_evolution() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("interop")?;
    let (_registry, url) = common::start_registry(&dir, &unique("_schemas")).await?;
    let reg = RegistryClient::new(&url)?;
    let opts = EnvelopeOptions::new("interop", SourceKind::Postgres);
    let table_name = unique("t");
    let v1 = Arc::new(table(1, &table_name));
    let mut c1 = TableCodec::new(v1.clone(), &opts);
    register(&reg, &mut c1).await?;
    let v2 = Arc::new(table(2, &table_name));
    let mut c2 = TableCodec::new(v2.clone(), &opts);

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &tb.kafka.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .create()?;
    let topic = c1.topic.clone();
    let mut enc = EventEncoder::default();
    let mut send = |codec: &TableCodec, ev: ChangeEvent| {
        let has_key = enc.encode(codec, &ev).map(|k| (k, enc.key.clone(), enc.value.clone()));
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            let (has_key, key, value) = has_key?;
            let mut rec = FutureRecord::to(&topic).payload(&value);
            if has_key {
                rec = rec.key(&key);
            }
            producer.send(rec, Duration::from_secs(10)).await.map_err(|(e, _)| e)?;
            anyhow::Ok(())
        }
    };
    send(&c1, event(&v1, Op::Create, None, Some(row(1, 1)), 1)).await?;
    send(&c1, event(&v1, Op::Update, Some(row(1, 1)), Some(row(1, 1)), 2)).await?;
    // Evolution: a nullable column is added; a new version is registered under BACKWARD.
    register(&reg, &mut c2).await?;
    send(&c2, event(&v2, Op::Create, None, Some(row(2, 2)), 3)).await?;
    send(&c2, event(&v2, Op::Delete, Some(row(2, 2)), None, 4)).await?;

    let out = tb.python(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode_topic.py"),
        &[&tb.kafka.bootstrap, &url, &topic, "4"],
    )?;
    let records: Vec<Json> = out.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    assert_eq!(records.len(), 4, "{out}");
    let ids: Vec<i64> = records.iter().map(|r| r["schema_id"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(ids[0], ids[1]);
    assert_ne!(ids[1], ids[2], "an evolved table must register a new schema id");
    assert_eq!(ids[2], ids[3]);

    let v = &records[0]["value"];
    assert_eq!(records[0]["key"], json!({"id": 1}));
    assert_eq!(v["op"], "c");
    assert_eq!(v["before"], Json::Null);
    for (k, want) in expected_after(1, 1).as_object().into_iter().flatten() {
        assert_eq!(&v["after"][k], want, "column {k}");
    }
    assert_eq!(v["source"]["connector"], "postgresql");
    assert_eq!(v["source"]["lsn"], 1001);
    assert_eq!(v["transaction"]["total_order"], 1);
    assert_eq!(records[1]["value"]["op"], "u");
    assert_eq!(records[1]["value"]["before"]["amount"], json!({"decimal": "-123456789.125"}));
    let v = &records[2]["value"];
    for (k, want) in expected_after(2, 2).as_object().into_iter().flatten() {
        assert_eq!(&v["after"][k], want, "column {k} after evolution");
    }
    assert_eq!(records[3]["value"]["op"], "d");
    assert_eq!(records[3]["value"]["after"], Json::Null);
    assert_eq!(records[3]["key"], json!({"id": 2}));

    // The registry holds two versions of the value subject.
    let versions: Vec<i64> =
        reqwest::get(format!("{url}/subjects/{topic}-value/versions")).await?.json().await?;
    assert_eq!(versions, vec![1, 2]);
    Ok(())
}
