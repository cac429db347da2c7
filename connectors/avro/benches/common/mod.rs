//! The 10-column row both Avro benchmarks measure (encode and decode), so their numbers are for
//! the same event.

use std::sync::Arc;

use sluice_core::{
    ChangeEvent, Column, DataType, Lsn, Op, Position, SnapshotMarker, SourceDetail, SourceInfo, TableId,
    TableSchema, TransactionInfo, Value,
};

pub fn table() -> TableSchema {
    let c = Column::new;
    TableSchema {
        id: TableId::new("public", "orders"),
        columns: vec![
            c("id", DataType::Int64, "int8", false),
            c("customer_id", DataType::Int32, "int4", false),
            c("status", DataType::Text, "varchar(16)", true),
            c("amount", DataType::Decimal { precision: Some(12), scale: Some(2) }, "numeric(12,2)", true),
            c("qty", DataType::Int16, "int2", true),
            c("weight", DataType::Float64, "float8", true),
            c("paid", DataType::Boolean, "bool", true),
            c("created_at", DataType::TimestampTz, "timestamptz", true),
            c("ship_date", DataType::Date, "date", true),
            c("note", DataType::Text, "text", true),
        ],
        key: vec![0],
        version: 1,
    }
}

pub fn event(table: Arc<TableSchema>, i: i64) -> ChangeEvent {
    ChangeEvent {
        source: SourceInfo {
            connector: "postgresql",
            name: "shop".into(),
            ts_ms: 1_700_000_000_000,
            snapshot: SnapshotMarker::False,
            db: "app".into(),
            schema: Some("public".into()),
            table: "orders".into(),
            detail: SourceDetail::Postgres {
                lsn: 0x1234 + i as u64,
                tx_id: Some(77),
                xmin: None,
                sequence: None,
            },
        },
        op: Op::Create,
        before: None,
        after: Some(vec![
            Value::Int64(i),
            Value::Int32(42),
            Value::Text("shipped".into()),
            Value::Decimal("1234.50".into()),
            Value::Int16(3),
            Value::Float64(1.25),
            Value::Bool(true),
            Value::TimestampTz(1_700_000_000_000_000),
            Value::Date(19_700),
            Value::Text("leave at the door".into()),
        ]),
        table,
        ts_ms: 1_700_000_000_100,
        transaction: Some(TransactionInfo { id: "77:4660".into(), total_order: 1, data_collection_order: 1 }),
        position: Position::Postgres(Lsn(0x1234)),
    }
}
