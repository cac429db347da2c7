//! `shape = "changelog"` of the Redis, MongoDB and DynamoDB targets: every change event appended
//! as one entry with the whole envelope and its record's coordinates, exactly once — a process
//! that restarts from the stored offsets appends nothing twice, and a replay of the same records
//! (MongoDB, DynamoDB: entries keyed by their record) leaves one entry per record. Read back with
//! redis-py, pymongo and boto3 (`tests/python/changelog_rows.py`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;

use anyhow::{ensure, Result};
use serde_json::{json, Value as Json};
use sluice_core::{
    BrokerOffset, ChangeEvent, Column, DataType, Op, RecordAt, Sink, TableId, TableSchema, Target, Value,
};
use sluice_testkit::conformance::event;
use sluice_testkit::{testbed, unique};

fn table() -> Arc<TableSchema> {
    Arc::new(TableSchema {
        id: TableId::new("app", "log"),
        columns: vec![
            Column::new("id", DataType::Int32, "integer", false),
            Column::new("name", DataType::Text, "text", true),
            Column::new("big", DataType::Text, "text", true),
        ],
        key: vec![0],
        version: 1,
    })
}

fn events() -> Vec<ChangeEvent> {
    let t = table();
    let row = |name: &str, big: Value| vec![Value::Int32(1), Value::Text(name.into()), big];
    vec![
        event(&t, Op::Create, None, Some(row("a", Value::Text("x".into())))),
        event(&t, Op::Update, Some(row("a", Value::Text("x".into()))), Some(row("b", Value::Unchanged))),
        event(&t, Op::Delete, Some(row("b", Value::Null)), None),
        event(&t, Op::Truncate, None, None),
    ]
}

/// What every target must hold: one entry per record, in offset order.
fn want(topic: &str) -> Json {
    json!([
        [topic, 0, 0, "c", null, {"id": 1, "name": "a", "big": "x"}, "log"],
        [topic, 0, 1, "u", {"id": 1, "name": "a", "big": "x"}, {"id": 1, "name": "b"}, "log"],
        [topic, 0, 2, "d", {"id": 1, "name": "b", "big": null}, null, "log"],
        [topic, 0, 3, "t", null, null, "log"],
    ])
}

async fn apply<S: Sink>(sink: &mut S, topic: &str, evs: &[ChangeEvent]) -> Result<()> {
    let at: Vec<RecordAt<'_>> =
        (0..evs.len() as i64).map(|offset| RecordAt { topic, partition: 0, offset }).collect();
    sink.apply_at(evs, &at).await?;
    sink.commit(&[BrokerOffset { topic: topic.into(), partition: 0, next_offset: evs.len() as i64 }]).await?;
    Ok(())
}

fn read(kind: &str, url: &str, name: &str) -> Result<Json> {
    let out = Command::new(&testbed().python)
        .arg(format!("{}/tests/python/changelog_rows.py", env!("CARGO_MANIFEST_DIR")))
        .args([kind, url, name])
        .output()?;
    ensure!(out.status.success(), "changelog_rows.py: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// Apply, restart from the stored offsets (nothing left to apply), then `replay` the same
/// records under the same sink name when the target keys entries by record.
async fn check<T: Target>(config: &T::Config, kind: &str, url: &str, name: &str, replay: bool) -> Result<()> {
    let topic = unique("cl");
    let sink_name = unique("clsink");
    let mut sink = T::connect(config, &sink_name).await?;
    sink.stored_offsets().await?;
    apply(&mut sink, &topic, &events()).await?;
    drop(sink);
    let mut again = T::connect(config, &sink_name).await?;
    let stored = again.stored_offsets().await?;
    ensure!(stored.len() == 1 && stored[0].next_offset == 4, "{kind}: stored offsets {stored:?}");
    if replay {
        let mut other = T::connect(config, &unique("clreplay")).await?;
        other.stored_offsets().await?;
        apply(&mut other, &topic, &events()).await?;
    }
    let got = read(kind, url, name)?;
    ensure!(got == want(&topic), "{kind}: change log differs\n  got:  {got}\n  want: {}", want(&topic));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_appends_each_change_to_a_stream_exactly_once() -> Result<()> {
    let url = testbed().redis.url();
    let ns = unique("clrd");
    let config = toml::from_str(&format!(
        "shape = \"changelog\"\nkey_pattern = \"{ns}.{{table}}\"\n[connection]\nurl = \"{url}\"\n"
    ))?;
    check::<sluice_redis::RedisTarget>(&config, "redis", &url, &format!("{ns}.log"), false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_keeps_one_document_per_change() -> Result<()> {
    let url = testbed().mongodb.url();
    let db = unique("clmg");
    let config = toml::from_str(&format!(
        "shape = \"changelog\"\ndatabase = \"{db}\"\ncollection_pattern = \"{{table}}_changes\"\n[connection]\nurl = \"{url}\"\n"
    ))?;
    check::<sluice_mongodb::MongoTarget>(&config, "mongodb", &url, &format!("{db}.log_changes"), true).await
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_keeps_one_item_per_change() -> Result<()> {
    let url = testbed().dynamodb.url();
    let ns = unique("cldy");
    let config = toml::from_str(&format!(
        "shape = \"changelog\"\ntable_pattern = \"{ns}.{{table}}\"\n[connection]\nendpoint_url = \"{url}\"\n\
         region = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\n"
    ))?;
    check::<sluice_dynamodb::DynamoTarget>(&config, "dynamodb", &url, &format!("{ns}.log"), true).await
}
