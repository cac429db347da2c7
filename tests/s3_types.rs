//! Every PostgreSQL type and every MariaDB type into the object-store targets, in each format: a
//! PostgreSQL `all_types` table (rows written while streaming: CDC) and a MariaDB one (rows
//! written before the source starts: full load) → `sluice source` ×2 → broker → four `sluice
//! sink`s: `type = "s3"` (Parquet, Avro, JSON Lines) into SeaweedFS, and `type = "iceberg"`. Each
//! is read back by its own reader (boto3 + pyarrow / fastavro / json: tests/python/s3_rows.py
//! `typed`; pyiceberg: tests/python/iceberg_rows.py `typed`), the change rows replayed, and every
//! column compared as (type the file or table declares, value) with the mapping docs/sinks.md
//! documents ("Object-store target", "Iceberg target"). Row 1 has a value in every column
//! (then an update of one), row 2 NULL in every nullable column.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::doc_targets::Doc;
use mysql_async::prelude::Queryable;
use serde_json::{json, Value as Json};
use sluice_testkit::{free_port, testbed, unique};

const BUCKET: &str = "sluice-types";
/// The three file formats of `type = "s3"`, and `type = "iceberg"`.
const FORMATS: [&str; 4] = ["parquet", "avro", "jsonl", "iceberg"];

type Dump = BTreeMap<String, BTreeMap<String, Json>>;

fn dump(format: &str, catalog: &str, ns: &str, schema: &str) -> anyhow::Result<Dump> {
    let tb = testbed();
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let out = if format == "iceberg" {
        let table = format!("{ns}.{schema}_all_types");
        tb.python(&python.join("iceberg_rows.py"), &["typed", catalog, &tb.s3.url(), &table, "id"])?
    } else {
        let prefix = format!("{ns}/{schema}/all_types");
        tb.python(&python.join("s3_rows.py"), &["typed", &tb.s3.url(), BUCKET, &prefix, "id"])?
    };
    Ok(serde_json::from_str(&out)?)
}

/// Every column of `got` against `want` ({column: [type, text]}); each difference listed.
fn differences(what: &str, got: Option<&BTreeMap<String, Json>>, want: &Json) -> Vec<String> {
    let Some(got) = got else { return vec![format!("{what}: missing")] };
    let want = want.as_object().expect("expectation is an object");
    let mut out = Vec::new();
    for (k, w) in want {
        if got.get(k) != Some(w) {
            out.push(format!(
                "{what} {k}: want {w}, got {}",
                got.get(k).map_or("nothing".into(), Json::to_string)
            ));
        }
    }
    out.extend(
        got.keys().filter(|k| !want.contains_key(*k)).map(|k| format!("{what} {k}: unexpected {}", got[k])),
    );
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_postgres_and_mariadb_type_lands_typed_in_each_file_format() -> anyhow::Result<()> {
    // SLUICE_PRINT_TYPED=1 prints what each format holds (to write the expectations from).
    let print = std::env::var_os("SLUICE_PRINT_TYPED").is_some();
    let t = Duration::from_secs(if print { 20 } else { 120 });
    let tb = testbed();
    tb.s3.ensure_bucket(BUCKET)?;
    let dir = tb.scratch_dir("s3_types")?;

    let pg_db = tb.postgres.create_database("s3types").await?;
    let pg = tb.postgres.connect(&pg_db).await?;
    pg.batch_execute(common::PG_ALL_TYPES).await?;
    let my_db = tb.mariadb.create_database("s3types").await?;
    let mut my = tb.mariadb.connect(Some(&my_db)).await?;
    my.query_drop("SET time_zone = '+00:00'").await?;
    my.query_drop(common::MARIADB_ALL_TYPES).await?;
    my.query_drop(common::MARIADB_ALL_TYPES_ROW).await?;
    my.query_drop("INSERT INTO all_types (id) VALUES (2)").await?;

    let (pg_prefix, my_prefix) = (unique("stpg"), unique("stmy"));
    let port = free_port()?;
    let mut pg_source = common::start_source(
        &dir,
        "pg_source",
        &common::pg_source_config(&pg_db, &pg_prefix, port, ""),
        port,
    )
    .await?;
    common::wait_log(&mut pg_source, "streaming", t).await?;
    let my_config = common::mysql_source_config(&my_db, &my_prefix, 0)
        .replace("listen = \"127.0.0.1:0\"", &format!("url = \"http://127.0.0.1:{port}\""));
    let mut my_source = common::start_source(&dir, "my_source", &my_config, port).await?;
    common::wait_log(&mut my_source, "streaming", t).await?;
    pg.batch_execute(common::PG_ALL_TYPES_ROWS).await?;
    pg.batch_execute("UPDATE all_types SET c_varchar = 'abd' WHERE id = 1").await?;
    my.query_drop("UPDATE all_types SET c_varchar = 'héllo ✓✓' WHERE id = 1").await?;

    let regex = format!("^({pg_prefix}\\.public|{my_prefix}\\.{my_db})\\.all_types$");
    let mut sinks = Vec::new();
    let mut namespaces = Vec::new();
    let catalog = dir.join("catalog.db").display().to_string();
    for format in FORMATS {
        let ns = unique("st");
        let settings = if format == "iceberg" {
            format!(
                "type = \"iceberg\"\nwarehouse = \"s3://{BUCKET}/{ns}\"\nnamespace = \"{ns}\"\ncommit_secs = 1\n\
                 [sink.catalog]\nuri = \"sqlite://{catalog}?mode=rwc\"\n[sink.connection]\n{}",
                tb.s3.connection()
            )
        } else {
            format!(
                "type = \"s3\"\nbucket = \"{BUCKET}\"\nprefix = \"{ns}\"\nformat = \"{format}\"\nroll_secs = 1\n\
                 [sink.connection]\n{}",
                tb.s3.connection()
            )
        };
        let config = Doc::Search.sink_config_for(&ns, &regex, &settings, port);
        sinks.push(common::start_sink(&dir, &format!("sink_{format}"), &config)?);
        namespaces.push(ns);
    }

    let mut failures = Vec::new();
    for ((format, ns), sink) in FORMATS.into_iter().zip(&namespaces).zip(&mut sinks) {
        for (schema, source) in [("public", "pg"), (my_db.as_str(), "mariadb")] {
            let what = format!("{format} {schema}.all_types");
            let (row_1, row_2) = expected(format, source);
            let started = Instant::now();
            let (rows, wrong) = loop {
                let rows = dump(format, &catalog, ns, schema)?;
                let mut wrong = differences(&format!("{what} row 1"), rows.get("1"), &row_1);
                wrong.extend(differences(&format!("{what} row 2"), rows.get("2"), &row_2));
                if wrong.is_empty() || started.elapsed() > t {
                    break (rows, wrong);
                }
                if let Some(status) = sink.child.try_wait()? {
                    anyhow::bail!("{format} sink exited with {status}:\n{}", sink.log_text());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            };
            failures.extend(wrong);
            if print {
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

/// Rows 1 and 2 of `source`'s table as files of `format` hold them: {column: [type, text]}.
/// Row 2 has the same types, NULL (`null`) everywhere but `id` and `c_not_null`.
fn expected(format: &str, source: &str) -> (Json, Json) {
    let row_1 = match (format, source) {
        ("parquet", "pg") => json!({
            "c_bool": ["bool", "true"], "c_bytea": ["binary", "00ff10"],
            "c_char": ["string", "ab   "], "c_cidr": ["string", "10.0.0.0/8"],
            "c_date": ["date32[day]", "2024-02-29"], "c_domain": ["int32", "5"],
            "c_enum": ["string", "happy"], "c_float4": ["float", "1.5"],
            "c_float8": ["double", "1.2345678901234567"], "c_inet": ["string", "192.168.0.1/24"],
            "c_int2": ["int16", "-32768"], "c_int4": ["int32", "2147483647"],
            "c_int8": ["int64", "-9223372036854775808"],
            "c_int_array": ["list<element: int32>", "[1,null,3]"],
            "c_interval": ["string", "P1Y2M3DT4H5M6.000007S"],
            "c_json": ["extension<arrow.json>", "{\"a\": [1, 2]}"],
            "c_jsonb": ["extension<arrow.json>", "{\"b\": {\"c\": null}}"],
            "c_macaddr": ["string", "08:00:2b:01:02:03"], "c_not_null": ["string", "not null"],
            "c_numeric": ["decimal128(12, 3)", "123456789.123"],
            "c_numeric_array": ["list<element: decimal128(6, 2)>", "[\"1.50\",\"-2.25\"]"],
            "c_numeric_free": ["string", "0.000001234"], "c_text": ["string", "héllo ✓"],
            "c_text_array": ["list<element: string>", "[\"a b\",\"c\"]"],
            "c_time": ["time64[us]", "23:59:59.999999"],
            "c_timestamp": ["timestamp[us]", "2024-01-02T03:04:05.123456"],
            "c_timestamptz": ["timestamp[us, tz=UTC]", "2024-01-02T01:04:05.123456Z"],
            "c_timetz": ["string", "12:34:56.789000+05:30"],
            "c_uuid": ["extension<arrow.uuid>", "550e8400-e29b-41d4-a716-446655440000"],
            "c_varchar": ["string", "abd"], "id": ["int32", "1"]
        }),
        ("avro", "pg") => json!({
            "c_bool": ["boolean", "true"], "c_bytea": ["bytes", "00ff10"],
            "c_char": ["string", "ab   "], "c_cidr": ["string", "10.0.0.0/8"],
            "c_date": ["date", "2024-02-29"], "c_domain": ["int", "5"],
            "c_enum": ["string", "happy"], "c_float4": ["float", "1.5"],
            "c_float8": ["double", "1.2345678901234567"], "c_inet": ["string", "192.168.0.1/24"],
            "c_int2": ["int", "-32768"], "c_int4": ["int", "2147483647"],
            "c_int8": ["long", "-9223372036854775808"],
            "c_int_array": ["array<int>", "[1,null,3]"],
            "c_interval": ["string", "P1Y2M3DT4H5M6.000007S"],
            "c_json": ["json", "{\"a\": [1, 2]}"], "c_jsonb": ["json", "{\"b\": {\"c\": null}}"],
            "c_macaddr": ["string", "08:00:2b:01:02:03"], "c_not_null": ["string", "not null"],
            "c_numeric": ["decimal(12,3)", "123456789.123"],
            "c_numeric_array": ["array<decimal(6,2)>", "[\"1.50\",\"-2.25\"]"],
            "c_numeric_free": ["string", "0.000001234"], "c_text": ["string", "héllo ✓"],
            "c_text_array": ["array<string>", "[\"a b\",\"c\"]"],
            "c_time": ["time-micros", "23:59:59.999999"],
            "c_timestamp": ["local-timestamp-micros", "2024-01-02T03:04:05.123456"],
            "c_timestamptz": ["timestamp-micros", "2024-01-02T01:04:05.123456Z"],
            "c_timetz": ["string", "12:34:56.789000+05:30"],
            "c_uuid": ["uuid", "550e8400-e29b-41d4-a716-446655440000"],
            "c_varchar": ["string", "abd"], "id": ["int", "1"]
        }),
        ("jsonl", "pg") => json!({
            "c_bool": ["bool", "true"], "c_bytea": ["str", "\\x00ff10"],
            "c_char": ["str", "ab   "], "c_cidr": ["str", "10.0.0.0/8"],
            "c_date": ["str", "2024-02-29"], "c_domain": ["int", "5"], "c_enum": ["str", "happy"],
            "c_float4": ["float", "1.5"], "c_float8": ["float", "1.2345678901234567"],
            "c_inet": ["str", "192.168.0.1/24"], "c_int2": ["int", "-32768"],
            "c_int4": ["int", "2147483647"], "c_int8": ["int", "-9223372036854775808"],
            "c_int_array": ["list", "[1,null,3]"], "c_interval": ["str", "P1Y2M3DT4H5M6.000007S"],
            "c_json": ["dict", "{\"a\":[1,2]}"], "c_jsonb": ["dict", "{\"b\":{\"c\":null}}"],
            "c_macaddr": ["str", "08:00:2b:01:02:03"], "c_not_null": ["str", "not null"],
            "c_numeric": ["str", "123456789.123"], "c_numeric_array": ["list", "[\"1.50\",\"-2.25\"]"],
            "c_numeric_free": ["str", "0.000001234"], "c_text": ["str", "héllo ✓"],
            "c_text_array": ["list", "[\"a b\",\"c\"]"], "c_time": ["str", "23:59:59.999999"],
            "c_timestamp": ["str", "2024-01-02 03:04:05.123456"],
            "c_timestamptz": ["str", "2024-01-02 01:04:05.123456+00:00"],
            "c_timetz": ["str", "12:34:56.789000+05:30"],
            "c_uuid": ["str", "550e8400-e29b-41d4-a716-446655440000"], "c_varchar": ["str", "abd"],
            "id": ["int", "1"]
        }),
        ("parquet", _) => json!({
            "c_bigint": ["int64", "-9223372036854775808"],
            "c_bigint_u": ["uint64", "18446744073709551615"], "c_binary": ["binary", "00ff1000"],
            "c_bit1": ["string", "true"], "c_bit10": ["string", "\\x0302"],
            "c_blob": ["binary", "ff00fe"], "c_char": ["string", "ab"],
            "c_date": ["date32[day]", "2024-02-29"],
            "c_datetime": ["timestamp[us]", "2024-01-02T03:04:05.123456"],
            "c_datetime0": ["timestamp[us]", "1999-12-31T23:59:59.000000"],
            "c_decimal": ["decimal128(12, 3)", "-123456789.123"],
            "c_double": ["double", "1.2345678901234567"], "c_enum": ["string", "happy"],
            "c_float": ["float", "1.5"],
            "c_geom": ["binary", "0101000000000000000000f03f0000000000000040"],
            "c_int": ["int32", "-2147483648"], "c_int_u": ["int64", "4294967295"],
            "c_json": ["extension<arrow.json>", "{\"a\": [1, 2]}"],
            "c_latin1": ["string", "café €"], "c_mediumint": ["int32", "-8388608"],
            "c_mediumint_u": ["int32", "16777215"], "c_not_null": ["string", "not null"],
            "c_set": ["string", "a,c"], "c_smallint": ["int16", "-32768"],
            "c_smallint_u": ["int32", "65535"], "c_text": ["string", "😀 emoji"],
            "c_time": ["int64", "45296789000"], "c_time_neg": ["int64", "-3020399000001"],
            "c_timestamp": ["timestamp[us, tz=UTC]", "2024-01-02T03:04:05.123456Z"],
            "c_tinyint": ["int16", "-128"], "c_tinyint_u": ["int16", "255"],
            "c_varbinary": ["binary", "deadbeef00"], "c_varchar": ["string", "héllo ✓✓"],
            "c_year": ["int32", "2024"], "id": ["int32", "1"]
        }),
        ("iceberg", "pg") => json!({
            "c_bool": ["boolean", "true"], "c_bytea": ["binary", "00ff10"],
            "c_char": ["string", "ab   "], "c_cidr": ["string", "10.0.0.0/8"],
            "c_date": ["date", "2024-02-29"], "c_domain": ["int", "5"],
            "c_enum": ["string", "happy"], "c_float4": ["float", "1.5"],
            "c_float8": ["double", "1.2345678901234567"], "c_inet": ["string", "192.168.0.1/24"],
            "c_int2": ["int", "-32768"], "c_int4": ["int", "2147483647"],
            "c_int8": ["long", "-9223372036854775808"], "c_int_array": ["list<int>", "[1,null,3]"],
            "c_interval": ["string", "P1Y2M3DT4H5M6.000007S"],
            "c_json": ["string", "{\"a\": [1, 2]}"],
            "c_jsonb": ["string", "{\"b\": {\"c\": null}}"],
            "c_macaddr": ["string", "08:00:2b:01:02:03"], "c_not_null": ["string", "not null"],
            "c_numeric": ["decimal(12, 3)", "123456789.123"],
            "c_numeric_array": ["list<decimal(6, 2)>", "[\"1.50\",\"-2.25\"]"],
            "c_numeric_free": ["string", "0.000001234"], "c_text": ["string", "héllo ✓"],
            "c_text_array": ["list<string>", "[\"a b\",\"c\"]"],
            "c_time": ["time", "23:59:59.999999"],
            "c_timestamp": ["timestamp", "2024-01-02T03:04:05.123456"],
            "c_timestamptz": ["timestamptz", "2024-01-02T01:04:05.123456Z"],
            "c_timetz": ["string", "12:34:56.789000+05:30"],
            "c_uuid": ["uuid", "550e8400-e29b-41d4-a716-446655440000"],
            "c_varchar": ["string", "abd"], "id": ["int", "1"]
        }),
        ("iceberg", _) => json!({
            "c_bigint": ["long", "-9223372036854775808"],
            "c_bigint_u": ["decimal(20, 0)", "18446744073709551615"],
            "c_binary": ["binary", "00ff1000"], "c_bit1": ["string", "true"],
            "c_bit10": ["string", "\\x0302"], "c_blob": ["binary", "ff00fe"],
            "c_char": ["string", "ab"], "c_date": ["date", "2024-02-29"],
            "c_datetime": ["timestamp", "2024-01-02T03:04:05.123456"],
            "c_datetime0": ["timestamp", "1999-12-31T23:59:59.000000"],
            "c_decimal": ["decimal(12, 3)", "-123456789.123"],
            "c_double": ["double", "1.2345678901234567"], "c_enum": ["string", "happy"],
            "c_float": ["float", "1.5"],
            "c_geom": ["binary", "0101000000000000000000f03f0000000000000040"],
            "c_int": ["int", "-2147483648"], "c_int_u": ["long", "4294967295"],
            "c_json": ["string", "{\"a\": [1, 2]}"], "c_latin1": ["string", "café €"],
            "c_mediumint": ["int", "-8388608"], "c_mediumint_u": ["int", "16777215"],
            "c_not_null": ["string", "not null"], "c_set": ["string", "a,c"],
            "c_smallint": ["int", "-32768"], "c_smallint_u": ["int", "65535"],
            "c_text": ["string", "😀 emoji"], "c_time": ["long", "45296789000"],
            "c_time_neg": ["long", "-3020399000001"],
            "c_timestamp": ["timestamptz", "2024-01-02T03:04:05.123456Z"],
            "c_tinyint": ["int", "-128"], "c_tinyint_u": ["int", "255"],
            "c_varbinary": ["binary", "deadbeef00"], "c_varchar": ["string", "héllo ✓✓"],
            "c_year": ["int", "2024"], "id": ["int", "1"]
        }),
        ("avro", _) => json!({
            "c_bigint": ["long", "-9223372036854775808"],
            "c_bigint_u": ["decimal(20,0)", "18446744073709551615"],
            "c_binary": ["bytes", "00ff1000"], "c_bit1": ["string", "true"],
            "c_bit10": ["string", "\\x0302"], "c_blob": ["bytes", "ff00fe"],
            "c_char": ["string", "ab"], "c_date": ["date", "2024-02-29"],
            "c_datetime": ["local-timestamp-micros", "2024-01-02T03:04:05.123456"],
            "c_datetime0": ["local-timestamp-micros", "1999-12-31T23:59:59.000000"],
            "c_decimal": ["decimal(12,3)", "-123456789.123"],
            "c_double": ["double", "1.2345678901234567"], "c_enum": ["string", "happy"],
            "c_float": ["float", "1.5"],
            "c_geom": ["bytes", "0101000000000000000000f03f0000000000000040"],
            "c_int": ["int", "-2147483648"], "c_int_u": ["long", "4294967295"],
            "c_json": ["json", "{\"a\": [1, 2]}"], "c_latin1": ["string", "café €"],
            "c_mediumint": ["int", "-8388608"], "c_mediumint_u": ["int", "16777215"],
            "c_not_null": ["string", "not null"], "c_set": ["string", "a,c"],
            "c_smallint": ["int", "-32768"], "c_smallint_u": ["int", "65535"],
            "c_text": ["string", "😀 emoji"], "c_time": ["mysql-time-micros", "45296789000"],
            "c_time_neg": ["mysql-time-micros", "-3020399000001"],
            "c_timestamp": ["timestamp-micros", "2024-01-02T03:04:05.123456Z"],
            "c_tinyint": ["int", "-128"], "c_tinyint_u": ["int", "255"],
            "c_varbinary": ["bytes", "deadbeef00"], "c_varchar": ["string", "héllo ✓✓"],
            "c_year": ["int", "2024"], "id": ["int", "1"]
        }),
        _ => json!({
            "c_bigint": ["int", "-9223372036854775808"],
            "c_bigint_u": ["int", "18446744073709551615"], "c_binary": ["str", "\\x00ff1000"],
            "c_bit1": ["bool", "true"], "c_bit10": ["str", "\\x0302"],
            "c_blob": ["str", "\\xff00fe"], "c_char": ["str", "ab"],
            "c_date": ["str", "2024-02-29"], "c_datetime": ["str", "2024-01-02 03:04:05.123456"],
            "c_datetime0": ["str", "1999-12-31 23:59:59.000000"],
            "c_decimal": ["str", "-123456789.123"], "c_double": ["float", "1.2345678901234567"],
            "c_enum": ["str", "happy"], "c_float": ["float", "1.5"],
            "c_geom": ["str", "\\x0101000000000000000000f03f0000000000000040"],
            "c_int": ["int", "-2147483648"], "c_int_u": ["int", "4294967295"],
            "c_json": ["dict", "{\"a\":[1,2]}"], "c_latin1": ["str", "café €"],
            "c_mediumint": ["int", "-8388608"], "c_mediumint_u": ["int", "16777215"],
            "c_not_null": ["str", "not null"], "c_set": ["str", "a,c"],
            "c_smallint": ["int", "-32768"], "c_smallint_u": ["int", "65535"],
            "c_text": ["str", "😀 emoji"], "c_time": ["str", "12:34:56.789000"],
            "c_time_neg": ["str", "-838:59:59.000001"],
            "c_timestamp": ["str", "2024-01-02 03:04:05.123456+00:00"],
            "c_tinyint": ["int", "-128"], "c_tinyint_u": ["int", "255"],
            "c_varbinary": ["str", "\\xdeadbeef00"], "c_varchar": ["str", "héllo ✓✓"],
            "c_year": ["int", "2024"], "id": ["int", "1"]
        }),
    };
    let mut row_2 = row_1.clone();
    for (k, v) in row_2.as_object_mut().expect("an object") {
        match k.as_str() {
            "id" => v[1] = json!("2"),
            "c_not_null" => v[1] = json!("x"),
            _ => v[1] = Json::Null,
        }
    }
    if format == "jsonl" {
        // A JSON null has no other type.
        for (k, v) in row_2.as_object_mut().expect("an object") {
            if k != "id" && k != "c_not_null" {
                v[0] = json!("NoneType");
            }
        }
    }
    (row_1, row_2)
}
