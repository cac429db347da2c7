//! Round trips through Sluice's own encoder: every type of `all_types_table()`, unchanged
//! columns, each op, MySQL source blocks, schema evolution, tombstones, and the error classes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sluice_core::{
    BinlogPosition, ChangeEvent, Column, DataType, ErrorKind, Op, Position, SourceDetail, SourceInfo,
    TableId, TableSchema, Value,
};

use super::*;
use crate::encode::tests::{all_types_row, all_types_table, event};
use crate::schema_gen::EnvelopeOptions;
use crate::{EventEncoder, TableCodec};

const KEY_ID: u32 = 11;
const VALUE_ID: u32 = 12;

fn codec(table: Arc<TableSchema>, kind: SourceKind, key_id: u32, value_id: u32) -> TableCodec {
    let opts = EnvelopeOptions::new("shop", kind);
    let mut c = TableCodec::new(table, &opts);
    c.set_ids(c.key_schema().map(|_| key_id), value_id);
    c
}

fn register(schemas: &mut StaticSchemas, c: &TableCodec, key_id: u32, value_id: u32) {
    if let Some(k) = c.key_schema() {
        schemas.insert(key_id, k.clone());
    }
    schemas.insert(value_id, c.value_schema().clone());
}

fn encode(c: &TableCodec, ev: &ChangeEvent) -> (Option<Vec<u8>>, Vec<u8>) {
    let mut enc = EventEncoder::default();
    let has_key = enc.encode(c, ev).unwrap();
    (has_key.then(|| enc.key.clone()), enc.value.clone())
}

async fn decode_event<S: SchemaSource>(
    d: &mut EventDecoder<S>,
    key: Option<&[u8]>,
    value: &[u8],
) -> ChangeEvent {
    match d.decode("shop.public.all_types", key, Some(value)).await.unwrap() {
        Decoded::Event(ev) => ev,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Equal to the original except what cannot survive the trip: the schema version (it becomes
/// the registry id) and the case of source type names (the schema carries them upper-case).
fn assert_same(decoded: &ChangeEvent, original: &ChangeEvent) {
    let (d, o) = (&decoded.table, &original.table);
    assert_eq!(d.id, o.id);
    assert_eq!(d.key, o.key);
    assert_eq!(d.columns.len(), o.columns.len());
    for (dc, oc) in d.columns.iter().zip(&o.columns) {
        assert_eq!(dc.name, oc.name);
        assert_eq!(dc.data_type, oc.data_type, "{}", oc.name);
        assert_eq!(dc.nullable, oc.nullable, "{}", oc.name);
        assert_eq!(dc.source_type.to_ascii_lowercase(), oc.source_type, "{}", oc.name);
    }
    assert_eq!(decoded.op, original.op);
    assert_eq!(decoded.before, original.before);
    assert_eq!(decoded.after, original.after);
    assert_eq!(decoded.source, original.source);
    assert_eq!(decoded.ts_ms, original.ts_ms);
    assert_eq!(decoded.transaction, original.transaction);
    assert_eq!(decoded.position, original.position);
}

fn setup() -> (Arc<TableSchema>, TableCodec, EventDecoder<StaticSchemas>) {
    let table = Arc::new(all_types_table());
    let c = codec(table.clone(), SourceKind::Postgres, KEY_ID, VALUE_ID);
    let mut schemas = StaticSchemas::new();
    register(&mut schemas, &c, KEY_ID, VALUE_ID);
    (table, c, EventDecoder::new(schemas))
}

#[tokio::test]
async fn every_type_round_trips() {
    let (table, c, mut d) = setup();
    let ev = event(table, Op::Create, None, Some(all_types_row()));
    let (key, value) = encode(&c, &ev);
    let decoded = decode_event(&mut d, key.as_deref(), &value).await;
    assert_same(&decoded, &ev);
    assert_eq!(decoded.table.version, VALUE_ID);
    let schema = d.value_schema(VALUE_ID).await.unwrap();
    assert_eq!(schema.flavor, Flavor::Sluice);
    assert_eq!(schema.connector, SourceKind::Postgres);
    assert_eq!(schema.table.id, TableId::new("public", "all_types"));
}

#[tokio::test]
async fn unchanged_columns_come_back_unchanged() {
    let (table, c, mut d) = setup();
    let mut after = all_types_row();
    for i in [7, 9, 10, 11, 13, 20, 21] {
        after[i] = Value::Unchanged;
    }
    let mut before = all_types_row();
    before[3] = Value::Null;
    let ev = event(table, Op::Update, Some(before), Some(after));
    let (key, value) = encode(&c, &ev);
    let decoded = decode_event(&mut d, key.as_deref(), &value).await;
    assert_same(&decoded, &ev);
}

#[tokio::test]
async fn deletes_and_truncates_round_trip() {
    let (table, c, mut d) = setup();
    let del = event(table.clone(), Op::Delete, Some(all_types_row()), None);
    let (key, value) = encode(&c, &del);
    assert!(key.is_some());
    assert_same(&decode_event(&mut d, key.as_deref(), &value).await, &del);
    // A truncate has no key; the table keeps the key seen before with this value schema.
    let trunc = event(table, Op::Truncate, None, None);
    let (key, value) = encode(&c, &trunc);
    assert!(key.is_none());
    assert_same(&decode_event(&mut d, None, &value).await, &trunc);
}

#[tokio::test]
async fn mysql_source_blocks_round_trip() {
    let c = Column::new;
    let table = Arc::new(TableSchema {
        id: TableId::new("inventory", "products"),
        columns: vec![
            c("id", DataType::Int64, "bigint", false),
            c("big", DataType::UInt64, "bigint unsigned", true),
            c("colour", DataType::Set(vec!["red".into(), "green".into()]), "set('red','green')", true),
            c("flag", DataType::Bits(1), "bit(1)", true),
            c("mask", DataType::Bits(12), "bit(12)", true),
        ],
        key: vec![0],
        version: 3,
    });
    let codec = codec(table.clone(), SourceKind::MySql, 21, 22);
    let mut schemas = StaticSchemas::new();
    register(&mut schemas, &codec, 21, 22);
    let mut d = EventDecoder::new(schemas);
    let mut ev = event(
        table,
        Op::Read,
        None,
        Some(vec![
            Value::Int64(5),
            Value::UInt64(9_223_372_036_854_775_808),
            Value::Text("red,green".into()),
            Value::Bool(true),
            Value::Bytes(vec![0x0f, 0xff]),
        ]),
    );
    ev.source = SourceInfo {
        connector: "mysql",
        name: "shop".into(),
        ts_ms: 1_700_000_000_000,
        snapshot: sluice_core::SnapshotMarker::Last,
        db: "inventory".into(),
        schema: None,
        table: "products".into(),
        detail: SourceDetail::MySql {
            server_id: 223_344,
            gtid: Some("3e11fa47-71ca-11e1-9e33-c80aa9429562:23".into()),
            file: "mysql-bin.000003".into(),
            pos: 154,
            row: 2,
            thread: Some(7),
            query: None,
        },
    };
    ev.transaction = None;
    ev.position =
        Position::Binlog(BinlogPosition { file: "mysql-bin.000003".into(), pos: 154, gtid_set: None });
    let (key, value) = encode(&codec, &ev);
    let decoded = decode_event(&mut d, key.as_deref(), &value).await;
    assert_same(&decoded, &ev);
    assert_eq!(d.value_schema(22).await.unwrap().connector, SourceKind::MySql);
}

/// Counts fetches, to show each id is fetched and compiled once.
struct Counting(StaticSchemas, AtomicUsize);

impl SchemaSource for Counting {
    fn schema_json(&self, id: u32) -> impl Future<Output = Result<Json, AvroError>> + Send {
        self.1.fetch_add(1, Ordering::Relaxed);
        self.0.schema_json(id)
    }
}

#[tokio::test]
async fn schema_evolution_yields_a_new_table_per_schema_id() {
    let v1 = Arc::new(all_types_table());
    let mut t2 = all_types_table();
    t2.columns.push(Column::new("added", DataType::Int64, "int8", true));
    t2.version = 2;
    let v2 = Arc::new(t2);
    let (c1, c2) =
        (codec(v1.clone(), SourceKind::Postgres, 1, 2), codec(v2.clone(), SourceKind::Postgres, 1, 3));
    let mut schemas = StaticSchemas::new();
    register(&mut schemas, &c1, 1, 2);
    register(&mut schemas, &c2, 1, 3);
    let mut d = EventDecoder::new(Counting(schemas, AtomicUsize::new(0)));
    let mut row2 = all_types_row();
    row2.push(Value::Int64(42));
    let e1 = event(v1, Op::Create, None, Some(all_types_row()));
    let e2 = event(v2, Op::Create, None, Some(row2));
    let (k1, b1) = encode(&c1, &e1);
    let (k2, b2) = encode(&c2, &e2);
    for _ in 0..3 {
        let d1 = decode_event(&mut d, k1.as_deref(), &b1).await;
        let d2 = decode_event(&mut d, k2.as_deref(), &b2).await;
        assert_same(&d1, &e1);
        assert_same(&d2, &e2);
        assert_eq!((d1.table.version, d2.table.version), (2, 3));
        assert_eq!(d2.table.columns.last().map(|c| c.name.as_str()), Some("added"));
    }
    // Value schemas 2 and 3 and key schema 1: three fetches for six records.
    assert_eq!(d.schemas.1.load(Ordering::Relaxed), 3);
    // Events of one schema share one table.
    let a = decode_event(&mut d, k1.as_deref(), &b1).await;
    let b = decode_event(&mut d, k1.as_deref(), &b1).await;
    assert!(Arc::ptr_eq(&a.table, &b.table));
}

#[tokio::test]
async fn table_id_comes_from_the_source_block() {
    let mut t = all_types_table();
    t.id = TableId::new("sales-eu", "order items");
    let table = Arc::new(t);
    let c = codec(table.clone(), SourceKind::Postgres, 1, 2);
    let mut schemas = StaticSchemas::new();
    register(&mut schemas, &c, 1, 2);
    let mut d = EventDecoder::new(schemas);
    let ev = event(table, Op::Create, None, Some(all_types_row()));
    let (key, value) = encode(&c, &ev);
    let decoded = decode_event(&mut d, key.as_deref(), &value).await;
    assert_eq!(decoded.table.id, TableId::new("sales-eu", "order items"));
    // The namespace is sanitized; only the source block has the real names.
    assert_eq!(d.value_schema(2).await.unwrap().table.id, TableId::new("sales_eu", "order_items"));
}

#[tokio::test]
async fn tombstones_are_recognized() {
    let (table, c, mut d) = setup();
    let ev = event(table, Op::Delete, Some(all_types_row()), None);
    let (key, _) = encode(&c, &ev);
    match d.decode("t", key.as_deref(), None).await.unwrap() {
        Decoded::Tombstone { key: Some(k) } => {
            assert_eq!(k.values, vec![Value::Int32(7)]);
            assert_eq!(k.schema.field_names, vec!["id".to_string()]);
            assert_eq!(k.schema.table, Some(TableId::new("public", "all_types")));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.decode("t", None, None).await.unwrap(), Decoded::Tombstone { key: None });
    assert_eq!(d.decode("t", None, Some(&[])).await.unwrap(), Decoded::Tombstone { key: None });
}

#[tokio::test]
async fn malformed_records_are_fatal_and_do_not_leak_values() {
    let (table, c, mut d) = setup();
    let mut row = all_types_row();
    row[9] = Value::Text("secret-text".into());
    let ev = event(table, Op::Create, None, Some(row));
    let (key, value) = encode(&c, &ev);
    let key = key.as_deref();

    let not_framed = d.decode("t", key, Some(b"{\"json\": true}")).await.unwrap_err();
    assert!(matches!(not_framed, AvroError::Framing(_)), "{not_framed}");
    let mut unknown = value.clone();
    unknown[1..5].copy_from_slice(&999u32.to_be_bytes());
    let unknown = d.decode("t", key, Some(&unknown)).await.unwrap_err();
    assert!(matches!(unknown, AvroError::RegistryRefused { status: 404, .. }), "{unknown}");
    let truncated = d.decode("t", key, Some(&value[..value.len() - 3])).await.unwrap_err();
    let mut trailing = value.clone();
    trailing.push(0);
    let trailing = d.decode("t", key, Some(&trailing)).await.unwrap_err();
    let mut bad_union = value.clone();
    bad_union[5] = 4; // `before`: union branch 2 of [null, Value]
    let bad_union = d.decode("t", key, Some(&bad_union)).await.unwrap_err();
    // Cut inside the text column: the error names table and column, not the value.
    let at = value.windows(11).position(|w| w == b"secret-text").unwrap();
    let cut = d.decode("t", key, Some(&value[..at + 4])).await.unwrap_err();
    assert!(matches!(&cut, AvroError::Value { column, .. } if column == "after.txt"), "{cut}");
    for e in [&not_framed, &unknown, &truncated, &trailing, &bad_union, &cut] {
        assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
    // Not an envelope: fatal, and remembered without fetching again.
    let mut schemas = StaticSchemas::new();
    schemas.insert(5, crate::schema_gen::heartbeat_value_schema());
    let mut d = EventDecoder::new(schemas);
    let mut hb = Vec::new();
    wire::begin(&mut hb, 5);
    crate::encode::write_long(&mut hb, 1);
    for _ in 0..2 {
        let e = d.decode("t", None, Some(&hb)).await.unwrap_err();
        assert!(matches!(e, AvroError::UnsupportedSchema { schema_id: 5, .. }), "{e}");
        assert_eq!(e.kind(), ErrorKind::Fatal);
    }
}

#[tokio::test]
async fn an_unreachable_registry_is_retriable() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let registry = RegistryClient::new("http://127.0.0.1:9").unwrap();
    let mut d = EventDecoder::new(registry);
    let (table, c, _) = setup();
    let ev = event(table, Op::Create, None, Some(all_types_row()));
    let (key, value) = encode(&c, &ev);
    let e = d.decode("t", key.as_deref(), Some(&value)).await.unwrap_err();
    assert!(matches!(e, AvroError::RegistryUnavailable { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Retriable);
}

#[tokio::test]
async fn a_sluice_text_equal_to_the_placeholder_stays_text() {
    // Only Debezium topics use the placeholder heuristic; Sluice's list is authoritative.
    let (table, c, mut d) = setup();
    let mut row = all_types_row();
    row[9] = Value::Text(crate::encode::UNAVAILABLE_VALUE.into());
    let ev = event(table, Op::Create, None, Some(row));
    let (key, value) = encode(&c, &ev);
    assert_same(&decode_event(&mut d, key.as_deref(), &value).await, &ev);
}

/// A registry speaking Confluent's `GET /schemas/ids/{id}` on a free port: ids 12 and 11 are
/// the all-types schemas, 13 a Protobuf schema, anything else 404.
async fn fake_registry(key: Json, value: Json) -> String {
    use axum::extract::Path;
    use axum::http::StatusCode;
    use axum::Json as J;
    let app = axum::Router::new().route(
        "/schemas/ids/{id}",
        axum::routing::get(move |Path(id): Path<u32>| {
            let (key, value) = (key.clone(), value.clone());
            async move {
                match id {
                    KEY_ID => (StatusCode::OK, J(serde_json::json!({"schema": key.to_string()}))),
                    VALUE_ID => (StatusCode::OK, J(serde_json::json!({"schema": value.to_string()}))),
                    13 => (
                        StatusCode::OK,
                        J(serde_json::json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"})),
                    ),
                    _ => (
                        StatusCode::NOT_FOUND,
                        J(serde_json::json!({"error_code": 40403, "message": "Schema not found"})),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn decodes_with_schemas_from_a_registry_over_http() {
    let (table, c, _) = setup();
    let url = fake_registry(c.key_schema().unwrap().clone(), c.value_schema().clone()).await;
    let mut d = EventDecoder::new(RegistryClient::new(&url).unwrap());
    let ev = event(table, Op::Create, None, Some(all_types_row()));
    let (key, value) = encode(&c, &ev);
    assert_same(&decode_event(&mut d, key.as_deref(), &value).await, &ev);

    let mut unknown = value.clone();
    unknown[1..5].copy_from_slice(&99u32.to_be_bytes());
    let e = d.decode("t", key.as_deref(), Some(&unknown)).await.unwrap_err();
    assert!(matches!(e, AvroError::RegistryRefused { status: 404, error_code: 40403, .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    let mut proto = value.clone();
    proto[1..5].copy_from_slice(&13u32.to_be_bytes());
    let e = d.decode("t", key.as_deref(), Some(&proto)).await.unwrap_err();
    assert!(matches!(e, AvroError::UnsupportedSchema { schema_id: 13, .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fatal);
}

#[tokio::test]
async fn transaction_metadata_round_trips() {
    let end = sluice_core::TransactionEvent {
        status: sluice_core::TransactionStatus::End,
        id: "5:100".into(),
        ts_ms: 7,
        event_count: Some(3),
        data_collections: vec![("public.a".into(), 2), ("public.b".into(), 1)],
    };
    let begin = sluice_core::TransactionEvent {
        status: sluice_core::TransactionStatus::Begin,
        event_count: None,
        data_collections: vec![],
        ..end.clone()
    };
    let mut schemas = StaticSchemas::new();
    schemas.insert(2, crate::schema_gen::transaction_value_schema());
    let mut d = EventDecoder::new(schemas);
    for ev in [begin, end] {
        let (mut k, mut v) = (Vec::new(), Vec::new());
        crate::encode_transaction(&ev, 1, 2, &mut k, &mut v);
        assert_eq!(d.decode_transaction("shop.transaction", &v).await.unwrap(), ev);
    }
    let err = d.decode_transaction("shop.transaction", b"\0\0\0\0\x02\x01").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Fatal, "{err}");
}
