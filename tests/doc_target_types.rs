//! Every PostgreSQL type and every MariaDB type into each document/key-value target: a PostgreSQL
//! `all_types` table (rows written while streaming: CDC) and a MariaDB one (rows written before
//! the source starts: full load) → `sluice source` ×2 → broker → `sluice sink` into MongoDB,
//! DynamoDB, Redis and OpenSearch at once. Each target is read back by its own client (pymongo,
//! boto3, redis-py, opensearch-py: tests/python/typed_items.py) with each value's type in that system, and compared
//! value by value with the mapping docs/sinks.md documents (the tables under "MongoDB target",
//! "DynamoDB target" and "Redis target"). Row 1 has a value in every column (then an update of
//! one, sent by both sources with the whole new row); row 2 has NULL in every nullable column.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::doc_targets::Doc;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};
use sluice_testkit::{free_port, testbed, unique};

type Dump = BTreeMap<String, BTreeMap<String, Json>>;

/// The typed dump of one target table (`schema` = the source schema: `public` or the MariaDB
/// database).
fn dump(target: Doc, ns: &str, schema: &str) -> anyhow::Result<Dump> {
    let tb = testbed();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/typed_items.py");
    let table = format!("{schema}.all_types");
    let out = match target {
        Doc::Mongo => tb.python(&script, &["mongodb", &tb.mongodb.url(), ns, &table])?,
        Doc::Dynamo => {
            tb.python(&script, &["dynamodb", &tb.dynamodb.url(), &format!("{ns}.{table}"), "id"])?
        }
        Doc::Redis => tb.python(&script, &["redis", &tb.redis.url(), &format!("{ns}.{table}")])?,
        Doc::Search => tb.python(&script, &["opensearch", &tb.opensearch.url(), &format!("{ns}.{table}")])?,
    };
    Ok(serde_json::from_str(&out)?)
}

/// Compare one row field by field; every difference is listed.
fn differences(what: &str, got: Option<&BTreeMap<String, Json>>, want: &Json) -> Vec<String> {
    let want: BTreeMap<String, Json> =
        serde_json::from_value(want.clone()).expect("expectation is an object");
    let Some(got) = got else { return vec![format!("{what}: missing")] };
    let mut out = Vec::new();
    for (k, w) in &want {
        if got.get(k) != Some(w) {
            out.push(format!(
                "{what} {k}: want {w}, got {}",
                got.get(k).map_or("nothing".into(), Json::to_string)
            ));
        }
    }
    for (k, g) in got {
        if !want.contains_key(k) {
            out.push(format!("{what} {k}: unexpected {g}"));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_postgres_and_mariadb_type_lands_typed_in_each_document_target() -> anyhow::Result<()> {
    let t = Duration::from_secs(120);
    let tb = testbed();
    let dir = tb.scratch_dir("doc_types")?;

    let pg_db = tb.postgres.create_database("doctypes").await?;
    let pg = tb.postgres.connect(&pg_db).await?;
    pg.batch_execute(common::PG_ALL_TYPES).await?;
    let my_db = tb.mariadb.create_database("doctypes").await?;
    let mut my = tb.mariadb.connect(Some(&my_db)).await?;
    my.query_drop("SET time_zone = '+00:00'").await?;
    my.query_drop(common::MARIADB_ALL_TYPES).await?;
    my.query_drop(common::MARIADB_ALL_TYPES_ROW).await?;
    my.query_drop("INSERT INTO all_types (id) VALUES (2)").await?;

    let (pg_prefix, my_prefix) = (unique("dtpg"), unique("dtmy"));
    let port = free_port()?;
    let mut pg_source = common::start_source(
        &dir,
        "pg_source",
        &common::pg_source_config(&pg_db, &pg_prefix, port, ""),
        port,
    )
    .await?;
    common::wait_log(&mut pg_source, "streaming", t).await?;
    // The MariaDB source registers its schemas in the PostgreSQL source's registry, so one sink
    // decodes both.
    let my_config = common::mysql_source_config(&my_db, &my_prefix, 0)
        .replace("listen = \"127.0.0.1:0\"", &format!("url = \"http://127.0.0.1:{port}\""));
    let mut my_source = common::start_source(&dir, "my_source", &my_config, port).await?;
    common::wait_log(&mut my_source, "streaming", t).await?;
    pg.batch_execute(common::PG_ALL_TYPES_ROWS).await?;
    // An update of row 1 on each side (every column in the new image, so the targets' update
    // paths write every type too).
    pg.batch_execute("UPDATE all_types SET c_varchar = 'abd' WHERE id = 1").await?;
    my.query_drop("UPDATE all_types SET c_varchar = 'héllo ✓✓' WHERE id = 1").await?;

    let regex = format!("^({pg_prefix}\\.public|{my_prefix}\\.{my_db})\\.all_types$");
    let mut sinks = Vec::new();
    let mut namespaces = Vec::new();
    for target in Doc::ALL {
        let ns = unique("dt");
        let settings = target.settings(&ns).replace("{table}", "{schema}.{table}");
        let config = target.sink_config_for(&ns, &regex, &settings, port);
        sinks.push(common::start_sink(&dir, &format!("sink_{target:?}"), &config)?);
        namespaces.push(ns);
    }

    let mut failures = Vec::new();
    for ((target, ns), sink) in Doc::ALL.into_iter().zip(&namespaces).zip(&mut sinks) {
        for (schema, row_1) in [("public", expected_pg(target)), (my_db.as_str(), expected_mariadb(target))] {
            let what = format!("{target:?} {schema}.all_types");
            let started = Instant::now();
            // Until both rows are as expected (the update may land in a later batch).
            let (rows, wrong) = loop {
                let rows = dump(target, ns, schema)?;
                let mut wrong = differences(&format!("{what} row 1"), rows.get("1"), &row_1);
                wrong.extend(differences(&format!("{what} row 2"), rows.get("2"), &row_2(target, &row_1)));
                if wrong.is_empty() || started.elapsed() > t {
                    break (rows, wrong);
                }
                if let Some(status) = sink.child.try_wait()? {
                    anyhow::bail!("{target:?} sink exited with {status}:\n{}", sink.log_text());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            };
            failures.extend(wrong);
            if std::env::var_os("SLUICE_PRINT_TYPED").is_some() {
                eprintln!("TYPED {what}: {}", serde_json::to_string(&rows)?);
            }
        }
    }
    for mut s in sinks {
        s.child.kill()?;
    }
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
    my.disconnect().await?;
    Ok(())
}

/// Row 2 (only `id` and the NOT NULL column set): MongoDB and OpenSearch store every NULL as a
/// `null` field; DynamoDB and Redis store none (no attribute, no field); DynamoDB's `id` is the
/// item key.
fn row_2(target: Doc, row_1: &Json) -> Json {
    let mut row = serde_json::Map::new();
    if target == Doc::Mongo {
        for k in row_1.as_object().expect("row 1 is an object").keys() {
            row.insert(k.clone(), Json::Null);
        }
    }
    match target {
        Doc::Mongo => {
            row.insert("id".into(), json!({"$numberInt": "2"}));
            row.insert("c_not_null".into(), json!("x"));
        }
        Doc::Dynamo => {
            row.insert("c_not_null".into(), json!({"S": "x"}));
        }
        Doc::Redis => {
            row.insert("id".into(), json!("2"));
            row.insert("c_not_null".into(), json!("x"));
        }
        Doc::Search => {
            for k in row_1.as_object().expect("row 1 is an object").keys() {
                row.insert(k.clone(), Json::Null);
            }
            row.insert("id".into(), json!(2));
            row.insert("c_not_null".into(), json!("x"));
        }
    }
    Json::Object(row)
}

/// Row 1 of the PostgreSQL table as `target` holds it (row 2: see [`row_2`]).
fn expected_pg(target: Doc) -> Json {
    match target {
        // Decimals as exact strings, bytes base64, timestamps ISO 8601, JSON embedded.
        Doc::Search => json!({
            "c_bool": true, "c_bytea": "AP8Q", "c_char": "ab   ", "c_cidr": "10.0.0.0/8",
            "c_date": "2024-02-29", "c_domain": 5, "c_enum": "happy", "c_float4": 1.5,
            "c_float8": 1.2345678901234567, "c_inet": "192.168.0.1/24", "c_int2": -32768,
            "c_int4": 2147483647, "c_int8": i64::MIN, "c_int_array": [1, null, 3],
            "c_interval": "P1Y2M3DT4H5M6.000007S", "c_json": {"a": [1, 2]},
            "c_jsonb": {"b": {"c": null}}, "c_macaddr": "08:00:2b:01:02:03",
            "c_not_null": "not null", "c_numeric": "123456789.123",
            "c_numeric_array": ["1.50", "-2.25"], "c_numeric_free": "0.000001234",
            "c_text": "héllo ✓", "c_text_array": ["a b", "c"], "c_time": "23:59:59.999999",
            "c_timestamp": "2024-01-02T03:04:05.123456",
            "c_timestamptz": "2024-01-02T01:04:05.123456Z", "c_timetz": "12:34:56.789000+05:30",
            "c_uuid": "550e8400-e29b-41d4-a716-446655440000", "c_varchar": "abd", "id": 1
        }),
        Doc::Mongo => json!({
            "c_bool": true, "c_bytea": {"$binary": {"base64": "AP8Q", "subType": "00"}},
            "c_char": "ab   ", "c_cidr": "10.0.0.0/8",
            "c_date": {"$date": {"$numberLong": "1709164800000"}}, "c_domain": {"$numberInt": "5"},
            "c_enum": "happy", "c_float4": {"$numberDouble": "1.5"},
            "c_float8": {"$numberDouble": "1.2345678901234567"}, "c_inet": "192.168.0.1/24",
            "c_int2": {"$numberInt": "-32768"}, "c_int4": {"$numberInt": "2147483647"},
            "c_int8": {"$numberLong": "-9223372036854775808"},
            "c_int_array": [{"$numberInt": "1"}, null, {"$numberInt": "3"}],
            "c_interval": "P1Y2M3DT4H5M6.000007S",
            "c_json": {"a": [{"$numberInt": "1"}, {"$numberInt": "2"}]},
            "c_jsonb": {"b": {"c": null}}, "c_macaddr": "08:00:2b:01:02:03",
            "c_not_null": "not null", "c_numeric": {"$numberDecimal": "123456789.123"},
            "c_numeric_array": [{"$numberDecimal": "1.50"}, {"$numberDecimal": "-2.25"}],
            "c_numeric_free": {"$numberDecimal": "0.000001234"}, "c_text": "héllo ✓",
            "c_text_array": ["a b", "c"], "c_time": "23:59:59.999999",
            "c_timestamp": "2024-01-02T03:04:05.123456",
            "c_timestamptz": "2024-01-02T01:04:05.123456Z", "c_timetz": "12:34:56.789000+05:30",
            "c_uuid": {"$binary": {"base64": "VQ6EAOKbQdSnFkRmVUQAAA==", "subType": "04"}},
            "c_varchar": "abd", "id": {"$numberInt": "1"}
        }),
        Doc::Dynamo => json!({
            "c_bool": {"BOOL": true}, "c_bytea": {"B": "00ff10"}, "c_char": {"S": "ab   "},
            "c_cidr": {"S": "10.0.0.0/8"}, "c_date": {"S": "2024-02-29"}, "c_domain": {"N": "5"},
            "c_enum": {"S": "happy"}, "c_float4": {"N": "1.5"},
            "c_float8": {"N": "1.2345678901234567"}, "c_inet": {"S": "192.168.0.1/24"},
            "c_int2": {"N": "-32768"}, "c_int4": {"N": "2147483647"},
            "c_int8": {"N": "-9223372036854775808"},
            "c_int_array": {"L": [{"N": "1"}, {"NULL": true}, {"N": "3"}]},
            "c_interval": {"S": "P1Y2M3DT4H5M6.000007S"},
            "c_json": {"M": {"a": {"L": [{"N": "1"}, {"N": "2"}]}}},
            "c_jsonb": {"M": {"b": {"M": {"c": {"NULL": true}}}}},
            "c_macaddr": {"S": "08:00:2b:01:02:03"}, "c_not_null": {"S": "not null"},
            "c_numeric": {"N": "123456789.123"},
            "c_numeric_array": {"L": [{"N": "1.5"}, {"N": "-2.25"}]},
            "c_numeric_free": {"N": "0.000001234"}, "c_text": {"S": "héllo ✓"},
            "c_text_array": {"L": [{"S": "a b"}, {"S": "c"}]}, "c_time": {"S": "23:59:59.999999"},
            "c_timestamp": {"S": "2024-01-02T03:04:05.123456"},
            "c_timestamptz": {"S": "2024-01-02T01:04:05.123456Z"},
            "c_timetz": {"S": "12:34:56.789000+05:30"},
            "c_uuid": {"S": "550e8400-e29b-41d4-a716-446655440000"}, "c_varchar": {"S": "abd"}
        }),
        Doc::Redis => json!({
            "c_bool": "true", "c_bytea": {"hex": "00ff10"}, "c_char": "ab   ",
            "c_cidr": "10.0.0.0/8", "c_date": "2024-02-29", "c_domain": "5", "c_enum": "happy",
            "c_float4": "1.5", "c_float8": "1.2345678901234567", "c_inet": "192.168.0.1/24",
            "c_int2": "-32768", "c_int4": "2147483647", "c_int8": "-9223372036854775808",
            "c_int_array": "[1,null,3]", "c_interval": "P1Y2M3DT4H5M6.000007S",
            "c_json": "{\"a\": [1, 2]}", "c_jsonb": "{\"b\": {\"c\": null}}",
            "c_macaddr": "08:00:2b:01:02:03", "c_not_null": "not null",
            "c_numeric": "123456789.123", "c_numeric_array": "[1.50,-2.25]",
            "c_numeric_free": "0.000001234", "c_text": "héllo ✓",
            "c_text_array": "[\"a b\",\"c\"]", "c_time": "23:59:59.999999",
            "c_timestamp": "2024-01-02 03:04:05.123456",
            "c_timestamptz": "2024-01-02 01:04:05.123456+00:00",
            "c_timetz": "12:34:56.789000+05:30", "c_uuid": "550e8400-e29b-41d4-a716-446655440000",
            "c_varchar": "abd", "id": "1"
        }),
    }
}

/// Row 1 of the MariaDB table as `target` holds it (row 2: see [`row_2`]).
fn expected_mariadb(target: Doc) -> Json {
    match target {
        Doc::Search => json!({
            "c_bigint": i64::MIN, "c_bigint_u": 18_446_744_073_709_551_615u64,
            "c_binary": "AP8QAA==", "c_bit1": true, "c_bit10": "AwI=", "c_blob": "/wD+",
            "c_char": "ab", "c_date": "2024-02-29", "c_datetime": "2024-01-02T03:04:05.123456",
            "c_datetime0": "1999-12-31T23:59:59.000000", "c_decimal": "-123456789.123",
            "c_double": 1.2345678901234567, "c_enum": "happy", "c_float": 1.5,
            "c_geom": "AQEAAAAAAAAAAADwPwAAAAAAAABA", "c_int": -2147483648, "c_int_u": 4_294_967_295u32,
            "c_json": {"a": [1, 2]}, "c_latin1": "café €", "c_mediumint": -8388608,
            "c_mediumint_u": 16777215, "c_not_null": "not null", "c_set": "a,c",
            "c_smallint": -32768, "c_smallint_u": 65535, "c_text": "😀 emoji",
            "c_time": "12:34:56.789000", "c_time_neg": "-838:59:59.000001",
            "c_timestamp": "2024-01-02T03:04:05.123456Z", "c_tinyint": -128, "c_tinyint_u": 255,
            "c_varbinary": "3q2+7wA=", "c_varchar": "héllo ✓✓", "c_year": 2024, "id": 1
        }),
        Doc::Mongo => json!({
            "c_bigint": {"$numberLong": "-9223372036854775808"},
            "c_bigint_u": {"$numberDecimal": "18446744073709551615"},
            "c_binary": {"$binary": {"base64": "AP8QAA==", "subType": "00"}}, "c_bit1": true,
            "c_bit10": {"$binary": {"base64": "AwI=", "subType": "00"}},
            "c_blob": {"$binary": {"base64": "/wD+", "subType": "00"}}, "c_char": "ab",
            "c_date": {"$date": {"$numberLong": "1709164800000"}},
            "c_datetime": "2024-01-02T03:04:05.123456",
            "c_datetime0": "1999-12-31T23:59:59.000000",
            "c_decimal": {"$numberDecimal": "-123456789.123"},
            "c_double": {"$numberDouble": "1.2345678901234567"}, "c_enum": "happy",
            "c_float": {"$numberDouble": "1.5"},
            "c_geom": {"$binary": {"base64": "AQEAAAAAAAAAAADwPwAAAAAAAABA", "subType": "00"}},
            "c_int": {"$numberInt": "-2147483648"}, "c_int_u": {"$numberLong": "4294967295"},
            "c_json": {"a": [{"$numberInt": "1"}, {"$numberInt": "2"}]}, "c_latin1": "café €",
            "c_mediumint": {"$numberInt": "-8388608"}, "c_mediumint_u": {"$numberInt": "16777215"},
            "c_not_null": "not null", "c_set": "a,c", "c_smallint": {"$numberInt": "-32768"},
            "c_smallint_u": {"$numberInt": "65535"}, "c_text": "😀 emoji",
            "c_time": "12:34:56.789000", "c_time_neg": "-838:59:59.000001",
            "c_timestamp": "2024-01-02T03:04:05.123456Z", "c_tinyint": {"$numberInt": "-128"},
            "c_tinyint_u": {"$numberInt": "255"},
            "c_varbinary": {"$binary": {"base64": "3q2+7wA=", "subType": "00"}},
            "c_varchar": "héllo ✓✓", "c_year": {"$numberInt": "2024"}, "id": {"$numberInt": "1"}
        }),
        Doc::Dynamo => json!({
            "c_bigint": {"N": "-9223372036854775808"}, "c_bigint_u": {"N": "18446744073709551615"},
            "c_binary": {"B": "00ff1000"}, "c_bit1": {"BOOL": true}, "c_bit10": {"B": "0302"},
            "c_blob": {"B": "ff00fe"}, "c_char": {"S": "ab"}, "c_date": {"S": "2024-02-29"},
            "c_datetime": {"S": "2024-01-02T03:04:05.123456"},
            "c_datetime0": {"S": "1999-12-31T23:59:59.000000"},
            "c_decimal": {"N": "-123456789.123"}, "c_double": {"N": "1.2345678901234567"},
            "c_enum": {"S": "happy"}, "c_float": {"N": "1.5"},
            "c_geom": {"B": "0101000000000000000000f03f0000000000000040"},
            "c_int": {"N": "-2147483648"}, "c_int_u": {"N": "4294967295"},
            "c_json": {"M": {"a": {"L": [{"N": "1"}, {"N": "2"}]}}}, "c_latin1": {"S": "café €"},
            "c_mediumint": {"N": "-8388608"}, "c_mediumint_u": {"N": "16777215"},
            "c_not_null": {"S": "not null"}, "c_set": {"S": "a,c"}, "c_smallint": {"N": "-32768"},
            "c_smallint_u": {"N": "65535"}, "c_text": {"S": "😀 emoji"},
            "c_time": {"S": "12:34:56.789000"}, "c_time_neg": {"S": "-838:59:59.000001"},
            "c_timestamp": {"S": "2024-01-02T03:04:05.123456Z"}, "c_tinyint": {"N": "-128"},
            "c_tinyint_u": {"N": "255"}, "c_varbinary": {"B": "deadbeef00"},
            "c_varchar": {"S": "héllo ✓✓"}, "c_year": {"N": "2024"}
        }),
        Doc::Redis => json!({
            "c_bigint": "-9223372036854775808", "c_bigint_u": "18446744073709551615",
            "c_binary": {"hex": "00ff1000"}, "c_bit1": "true", "c_bit10": "\u{3}\u{2}", // Debezium Bits bytes, binary-safe
            "c_blob": {"hex": "ff00fe"}, "c_char": "ab", "c_date": "2024-02-29",
            "c_datetime": "2024-01-02 03:04:05.123456",
            "c_datetime0": "1999-12-31 23:59:59.000000", "c_decimal": "-123456789.123",
            "c_double": "1.2345678901234567", "c_enum": "happy", "c_float": "1.5",
            "c_geom": {"hex": "0101000000000000000000f03f0000000000000040"},
            "c_int": "-2147483648", "c_int_u": "4294967295", "c_json": "{\"a\": [1, 2]}",
            "c_latin1": "café €", "c_mediumint": "-8388608", "c_mediumint_u": "16777215",
            "c_not_null": "not null", "c_set": "a,c", "c_smallint": "-32768",
            "c_smallint_u": "65535", "c_text": "😀 emoji", "c_time": "12:34:56.789000",
            "c_time_neg": "-838:59:59.000001", "c_timestamp": "2024-01-02 03:04:05.123456+00:00",
            "c_tinyint": "-128", "c_tinyint_u": "255", "c_varbinary": {"hex": "deadbeef00"},
            "c_varchar": "héllo ✓✓", "c_year": "2024", "id": "1"
        }),
    }
}
