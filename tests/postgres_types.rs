//! Every common PostgreSQL type, written by SQL, streamed by `sluice source`, and decoded by
//! `confluent-kafka`'s AvroDeserializer to the exact value written (compared value by value).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice_testkit::{free_port, testbed, unique};

fn expected_row_1() -> Json {
    json!({
        "id": 1,
        "c_int2": -32768, "c_int4": 2147483647, "c_int8": -9223372036854775808i64,
        "c_float4": 1.5, "c_float8": 1.2345678901234567,
        "c_numeric": {"decimal": "123456789.123"},
        "c_numeric_free": {"scale": 9, "value": {"hex": "04d2"}},
        "c_bool": true,
        "c_text": "héllo ✓", "c_varchar": "abc", "c_char": "ab   ",
        "c_bytea": {"hex": "00ff10"},
        "c_uuid": "550e8400-e29b-41d4-a716-446655440000",
        "c_json": "{\"a\": [1, 2]}",
        "c_jsonb": "{\"b\": {\"c\": null}}",
        "c_date": 19_782,
        "c_time": 86_399_999_999i64,
        "c_timetz": "12:34:56.789000+05:30",
        "c_timestamp": 1_704_164_645_123_456i64,
        "c_timestamptz": "2024-01-02T01:04:05.123456Z",
        "c_interval": "P1Y2M3DT4H5M6.000007S",
        "c_inet": "192.168.0.1/24", "c_cidr": "10.0.0.0/8", "c_macaddr": "08:00:2b:01:02:03",
        "c_enum": "happy", "c_domain": 5,
        "c_int_array": [1, null, 3],
        "c_text_array": ["a b", "c"],
        "c_numeric_array": [{"decimal": "1.50"}, {"decimal": "-2.25"}],
        "c_not_null": "not null"
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_type_decodes_to_the_exact_value_with_confluent_kafka() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("pg_types")?;
    let db = tb.postgres.create_database("types").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(common::PG_ALL_TYPES).await?;
    let prefix = unique("types");
    let port = free_port()?;
    let mut src =
        common::start_source(&dir, "source", &common::pg_source_config(&db, &prefix, port, ""), port).await?;
    common::wait_log(&mut src, "streaming", Duration::from_secs(60)).await?;
    c.batch_execute(common::PG_ALL_TYPES_ROWS).await?;

    let topic = format!("{prefix}.public.all_types");
    let out = tb
        .python(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode_topic.py"),
            &[&tb.kafka.bootstrap, &format!("http://127.0.0.1:{port}"), &topic, "2"],
        )
        .map_err(|e| anyhow::anyhow!("{e}\nsource log:\n{}", src.log_text()))?;
    let records: Vec<Json> = out.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let after = &records[0]["value"]["after"];
    for (k, want) in expected_row_1().as_object().unwrap() {
        assert_eq!(&after[k], want, "column {k}: got {}", after[k]);
    }
    assert_eq!(records[0]["key"], json!({"id": 1}));
    assert_eq!(records[0]["value"]["op"], "c");
    assert_eq!(records[0]["value"]["source"]["connector"], "postgresql");
    assert_eq!(records[0]["value"]["source"]["db"], db.as_str());
    assert_eq!(records[0]["value"]["source"]["table"], "all_types");
    // The second row: every nullable column null, the NOT NULL one its default.
    let after2 = &records[1]["value"]["after"];
    for (k, _) in expected_row_1().as_object().unwrap() {
        match k.as_str() {
            "id" => assert_eq!(after2[k], 2),
            "c_not_null" => assert_eq!(after2[k], "x"),
            _ => assert_eq!(after2[k], Json::Null, "column {k}"),
        }
    }
    Ok(())
}
