//! Every MariaDB type of issue 7, written by SQL, read by `sluice source` — from the binlog, and
//! by the full load — and decoded by `confluent-kafka`'s AvroDeserializer to the exact value
//! written (value by value): both paths produce the same values and the same schema.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};
use sluice_testkit::{free_port, testbed, unique};

fn expected_row_1() -> Json {
    json!({
        "id": 1,
        "c_tinyint": -128, "c_tinyint_u": 255, "c_smallint": -32768, "c_smallint_u": 65535,
        "c_mediumint": -8388608, "c_mediumint_u": 16777215, "c_int": -2147483648i64, "c_int_u": 4294967295i64,
        "c_bigint": -9223372036854775808i64, "c_bigint_u": {"decimal": "18446744073709551615"},
        "c_decimal": {"decimal": "-123456789.123"}, "c_float": 1.5, "c_double": 1.2345678901234567,
        "c_bit1": true, "c_bit10": {"hex": "0302"}, "c_year": 2024,
        "c_date": 19_782,
        "c_time": 45_296_789_000i64,
        "c_time_neg": -3_020_399_000_001i64,
        "c_datetime": 1_704_164_645_123_456i64,
        "c_datetime0": 946_684_799_000i64,
        "c_timestamp": "2024-01-02T03:04:05.123456Z",
        "c_char": "ab", "c_varchar": "héllo ✓", "c_text": "😀 emoji",
        "c_latin1": "café €",
        "c_binary": {"hex": "00ff1000"}, "c_varbinary": {"hex": "deadbeef00"}, "c_blob": {"hex": "ff00fe"},
        "c_enum": "happy", "c_set": "a,c",
        "c_json": "{\"a\": [1, 2]}",
        "c_geom": {"hex": "0101000000000000000000f03f0000000000000040"},
        "c_not_null": "not null"
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_mariadb_type_decodes_to_the_exact_value_with_confluent_kafka() -> anyhow::Result<()> {
    round_trip(false).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_full_load_reads_every_mariadb_type_to_the_same_value() -> anyhow::Result<()> {
    round_trip(true).await
}

/// Write the two rows after the source started streaming (binlog), or before it starts (full
/// load), and check what a Confluent client reads.
async fn round_trip(loaded: bool) -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("my_types")?;
    let db = tb.mariadb.create_database("mytypes").await?;
    let mut c = tb.mariadb.connect(Some(&db)).await?;
    c.query_drop("SET time_zone = '+00:00'").await?;
    c.query_drop(common::MARIADB_ALL_TYPES).await?;
    let prefix = unique("mytypes");
    let port = free_port()?;
    let cfg = common::mysql_source_config(&db, &prefix, port);
    if loaded {
        c.query_drop(common::MARIADB_ALL_TYPES_ROW).await?;
        c.query_drop("INSERT INTO all_types (id) VALUES (2)").await?;
    }
    let mut src = common::start_source(&dir, "source", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", Duration::from_secs(60)).await?;
    if !loaded {
        c.query_drop(common::MARIADB_ALL_TYPES_ROW).await?;
        c.query_drop("INSERT INTO all_types (id) VALUES (2)").await?;
    }

    let topic = format!("{prefix}.{db}.all_types");
    let out = tb
        .python(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode_topic.py"),
            &[&tb.kafka.bootstrap, &format!("http://127.0.0.1:{port}"), &topic, "2"],
        )
        .map_err(|e| anyhow::anyhow!("{e}\nsource log:\n{}", src.log_text()))?;
    let records: Vec<Json> = out.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let after = &records[0]["value"]["after"];
    let mut wrong = Vec::new();
    for (k, want) in expected_row_1().as_object().unwrap() {
        if &after[k] != want {
            wrong.push(format!("{k}: got {} want {want}", after[k]));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(records[0]["key"], json!({"id": 1}));
    assert_eq!(records[0]["value"]["source"]["connector"], "mysql");
    let (op, snapshot) = if loaded { ("r", "first") } else { ("c", "false") };
    assert_eq!(records[0]["value"]["op"], op);
    assert_eq!(records[0]["value"]["source"]["snapshot"], snapshot);
    let after2 = &records[1]["value"]["after"];
    for (k, _) in expected_row_1().as_object().unwrap() {
        match k.as_str() {
            "id" => assert_eq!(after2[k], 2),
            "c_not_null" => assert_eq!(after2[k], "x"),
            _ => assert_eq!(after2[k], Json::Null, "column {k}"),
        }
    }
    c.disconnect().await?;
    Ok(())
}
