//! Kafka Connect reads Sluice's topics (issue 24). The reference all-types tables of
//! `tests/python/reference/` (every type, with edge values: infinity, BC dates, NaN, empty
//! arrays, 4-byte UTF-8, MariaDB zero dates and TIME beyond 24 h) are captured by `sluice source`
//! — full load, then inserts, updates (with unchanged TOAST columns), a delete and its tombstone —
//! and `tests/python/connect_parity.py` then
//! - converts every record of the table, transaction and heartbeat topics with Confluent's Java
//!   `AvroConverter`, the converter every Kafka Connect sink runs on Debezium topics: 0 errors;
//! - diffs the registered schemas against the ones the real Debezium 3.6 engine registered for
//!   the same table (`reference/debezium_*_schemas.json`), field by field: only the documented
//!   deliberate differences remain;
//! - compares the converted snapshot rows with Debezium's converted rows, column by column.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::Value as Json;
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(120);

fn reference(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/reference").join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn parity_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/connect_parity.py")
}

/// `connect_parity.py` with `args` after the common `--bootstrap`, `--prefix`, `--table-topic`
/// and the source's transaction and heartbeat topics.
fn run_parity(prefix: &str, table_topic: &str, args: &[&str]) -> anyhow::Result<String> {
    let tb = testbed();
    let (tx, hb) = (format!("{prefix}.transaction"), format!("__debezium-heartbeat.{prefix}"));
    let mut all =
        vec!["--bootstrap", tb.kafka.bootstrap.as_str(), "--prefix", prefix, "--table-topic", table_topic];
    all.extend_from_slice(&["--transaction-topic", &tx, "--heartbeat-topic", &hb]);
    all.extend_from_slice(args);
    tb.python(&parity_script(), &all)
}

/// Run the parity script and check its report.
fn check_report(out: &str, log: &str) -> anyhow::Result<()> {
    let report: Json = serde_json::from_str(out)?;
    let errors = report["errors"].as_u64().unwrap_or(u64::MAX);
    assert!(report["records"].as_u64().unwrap_or(0) > 0, "no records converted: {report:#}");
    assert_eq!(errors, 0, "AvroConverter failed on records: {report:#}\nsource log:\n{log}");
    assert!(report["snapshot_rows_compared"].as_u64().unwrap_or(0) >= 2, "{report:#}");
    let schema = report["schema_differences"].as_array().cloned().unwrap_or_default();
    assert!(schema.is_empty(), "schemas differ from Debezium's: {:#}", Json::Array(schema));
    let values = report["value_differences"].as_array().cloned().unwrap_or_default();
    assert!(values.is_empty(), "values differ from Debezium's: {:#}", Json::Array(values));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_avro_converter_reads_every_postgres_record_and_schemas_match_debezium() -> anyhow::Result<()>
{
    let tb = testbed();
    let dir = tb.scratch_dir("connect_pg")?;
    let db = tb.postgres.create_database("connect").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(&reference("pg_alltypes.sql")).await?;
    let prefix = unique("cpg");
    let port = free_port()?;
    let cfg = common::pg_source_config(&db, &prefix, port, "transaction_topic = true");
    let mut src = common::start_source(&dir, "source", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    c.batch_execute(&reference("pg_stream.sql")).await?;

    let topic = format!("{prefix}.public.alltypes");
    let url = format!("http://127.0.0.1:{port}");
    // 2 snapshot rows, 2 inserts, 4 updates, a delete and its tombstone.
    common::read_topic(&url, &topic, 10, T).await.map_err(|e| anyhow::anyhow!("{e}\n{}", src.log_text()))?;
    tokio::time::sleep(Duration::from_secs(2)).await; // a heartbeat or two
    let live = format!("{}:{}/{db}", tb.postgres.host, tb.postgres.port);
    let out = run_parity(
        &prefix,
        &topic,
        &["--engine", "postgres", "--registry-url", &url, "--live-postgres", &live],
    )?;
    check_report(&out, &src.log_text())?;
    // The stock Python client decodes every record too (fastavro refused ±infinity timestamps
    // while they carried Avro logical types).
    tb.python(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode_topic.py"),
        &[&tb.kafka.bootstrap, &url, &topic, "10"],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_avro_converter_reads_every_mariadb_record_and_schemas_match_debezium() -> anyhow::Result<()>
{
    let tb = testbed();
    let dir = tb.scratch_dir("connect_maria")?;
    let db = unique("cmaria");
    let mut conn = mysql_async::Conn::new(tb.mariadb.opts(None)).await?;
    conn.query_drop(format!("CREATE DATABASE {db} CHARACTER SET utf8mb4")).await?;
    conn.query_drop(format!("USE {db}")).await?;
    conn.query_drop("SET NAMES utf8mb4").await?;
    conn.query_drop(reference("mariadb_alltypes.sql")).await?;
    let prefix = unique("cmar");
    let port = free_port()?;
    let cfg = common::mysql_source_config(&db, &prefix, port).replacen(
        "[source]\n",
        "[source]\nprovide_transaction_metadata = true\n",
        1,
    );
    let mut src = common::start_source(&dir, "source", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    conn.query_drop(reference("mariadb_stream.sql")).await?;

    let topic = format!("{prefix}.{db}.alltypes");
    let url = format!("http://127.0.0.1:{port}");
    common::read_topic(&url, &topic, 4, T).await.map_err(|e| anyhow::anyhow!("{e}\n{}", src.log_text()))?;
    let out = run_parity(&prefix, &topic, &["--engine", "mariadb", "--registry-url", &url])?;
    check_report(&out, &src.log_text())?;
    tb.python(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode_topic.py"),
        &[&tb.kafka.bootstrap, &url, &topic, "4"],
    )?;
    Ok(())
}

/// Every column of `public.alltypes` (the source's, in order) and the query selecting them as
/// text, ordered by id.
async fn alltypes_text_query(c: &tokio_postgres::Client) -> anyhow::Result<(Vec<String>, String)> {
    let cols: Vec<String> = c
        .query(
            "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'alltypes' \
             AND table_schema = 'public' ORDER BY ordinal_position",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let select: Vec<String> = cols.iter().map(|c| format!("\"{c}\"::text")).collect();
    Ok((cols, format!("SELECT {} FROM public.alltypes ORDER BY id", select.join(", "))))
}

/// PostgreSQL → PostgreSQL keeps every edge value exactly: infinity stays infinity, BC dates,
/// years past 9999, NaN and ±Infinity in numeric (`decimal_handling_mode = "string"`), real and
/// double, a 1,000-digit numeric, empty and NULL-holding arrays, a multi-dimensional array
/// (declared `integer[][]`: carried as text), money, geometric and XML values, empty strings
/// and bytes, 4-byte UTF-8, unchanged TOAST columns.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_edge_values_reach_a_postgres_target_exactly() -> anyhow::Result<()> {
    edge_values_round_trip(false).await
}

/// The same through Kafka Connect JSON (`[kafka] format = "json"`): no registry involved.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_edge_values_reach_a_postgres_target_exactly_as_connect_json() -> anyhow::Result<()> {
    edge_values_round_trip(true).await
}

/// With `format = "json"` the source writes `JsonConverter` records; the sink reads them.
fn with_json(cfg: String) -> String {
    cfg.replacen("[kafka]\n", "[kafka]\nformat = \"json\"\n", 1)
}

async fn edge_values_round_trip(json: bool) -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("edge_pg")?;
    let db = tb.postgres.create_database("edge").await?;
    let target_db = tb.postgres.create_database("edget").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(&reference("pg_alltypes.sql")).await?;
    c.batch_execute(
        "ALTER TABLE public.alltypes ADD COLUMN c_matrix integer[][]; \
                     UPDATE public.alltypes SET c_matrix = '{{1,2},{3,NULL}}' WHERE id = 1",
    )
    .await?;
    let prefix = unique("edge");
    let port = free_port()?;
    let mut cfg = common::pg_source_config(&db, &prefix, port, "decimal_handling_mode = \"string\"");
    if json {
        cfg = with_json(cfg);
    }
    let mut src = common::start_source(&dir, "source", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    c.batch_execute(&reference("pg_stream.sql")).await?;
    c.batch_execute("UPDATE public.alltypes SET c_numeric = 'NaN', c_matrix = '{{5}}' WHERE id = 4").await?;
    // The target has the source's types where PostgreSQL has them built in; create the enum and
    // hstore so the columns can be compared as the same types.
    let t = tb.postgres.connect(&target_db).await?;
    t.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS hstore; CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');",
    )
    .await?;
    let url = format!("http://127.0.0.1:{port}");
    let sink_cfg = common::pg_sink_config(
        &target_db,
        &format!("{prefix}-sink"),
        &format!("{prefix}-sink"),
        &format!("^{prefix}\\.public\\..*"),
        &url,
        "",
    );
    let mut sink = common::start_sink(&dir, "sink", &sink_cfg)?;
    let (columns, sql) = alltypes_text_query(&c).await?;
    common::wait_pg_rows_equal(&c, &t, &sql, &columns, &mut sink, T)
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nsource log:\n{}", src.log_text()))?;
    Ok(())
}

/// Kafka Connect's own `JsonConverter` (schemas.enable=true) converts every record Sluice writes
/// with `[kafka] format = "json"` — table, transaction and heartbeat topics — and the snapshot
/// rows equal Debezium's, as with Avro.
#[tokio::test(flavor = "multi_thread")]
async fn connect_json_converter_reads_every_postgres_record() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("connect_json")?;
    let db = tb.postgres.create_database("cjson").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(&reference("pg_alltypes.sql")).await?;
    let prefix = unique("cjs");
    let port = free_port()?;
    let cfg = with_json(common::pg_source_config(&db, &prefix, port, "transaction_topic = true"));
    let mut src = common::start_source(&dir, "source", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    c.batch_execute(&reference("pg_stream.sql")).await?;
    let topic = format!("{prefix}.public.alltypes");
    let consumer: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &tb.kafka.bootstrap)
        .set("group.id", format!("{prefix}-probe"))
        .create()?;
    common::wait_for_topic(&consumer, &topic, T).await?;
    common::wait_for_topic(&consumer, &format!("__debezium-heartbeat.{prefix}"), T).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let out = run_parity(&prefix, &topic, &["--engine", "postgres", "--format", "json"])?;
    check_report(&out, &src.log_text())
}

/// The PostgreSQL edge values into MariaDB, which has no infinity or NaN and dates only in years
/// 1–9999: with `unrepresentable_values = "clamp"` every row arrives, each such value at the
/// nearest one MariaDB holds (NaN, which has none, as NULL).
#[tokio::test(flavor = "multi_thread")]
async fn postgres_edge_values_reach_mariadb_clamped() -> anyhow::Result<()> {
    use mysql_async::prelude::Queryable;
    let tb = testbed();
    let dir = tb.scratch_dir("edge_maria")?;
    let db = tb.postgres.create_database("edgem").await?;
    let c = tb.postgres.connect(&db).await?;
    c.batch_execute(&reference("pg_alltypes.sql")).await?;
    let prefix = unique("edgem");
    let port = free_port()?;
    let cfg = common::pg_source_config(&db, &prefix, port, "decimal_handling_mode = \"string\"");
    let mut src = common::start_source(&dir, "source", &cfg, port).await?;
    common::wait_log(&mut src, "streaming", T).await?;
    c.batch_execute(&reference("pg_stream.sql")).await?;
    let maria_db = tb.mariadb.create_database("edgem").await?;
    let sink_cfg = format!(
        "[log]\nlevel = \"info\"\n\
         [sink]\ntype = \"mysql\"\nname = \"maria\"\ngroup_id = \"{prefix}-maria\"\ntopic_regex = '^{prefix}\\.public\\..*'\n\
         batch_max_ms = 50\ntable_pattern = \"{maria_db}.{{table}}\"\nunrepresentable_values = \"clamp\"\n\
         [sink.connection]\nhost = \"{}\"\nport = {}\nuser = \"{}\"\npassword = \"{}\"\n\
         [kafka]\nbootstrap_servers = \"{}\"\n\
         [kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n\
         [registry]\nurl = \"http://127.0.0.1:{port}\"\n",
        tb.mariadb.host, tb.mariadb.port, tb.mariadb.user, tb.mariadb.password, tb.kafka.bootstrap
    );
    let mut sink = common::start_sink(&dir, "sink", &sink_cfg)?;
    let mut m = tb.mariadb.connect(None).await?;
    // Row 1 after the stream: c_date 'infinity', c_timestamp/c_timestamptz '-infinity', c_double
    // NaN; row 2: real Infinity, double -Infinity, numeric NaN, a BC date.
    let q = format!(
        "SELECT id, CAST(c_date AS CHAR), CAST(c_timestamp AS CHAR), CAST(c_timestamptz AS CHAR), \
         c_double IS NULL, c_real > 3e38, c_numeric IS NULL, c_text FROM {maria_db}.alltypes ORDER BY id"
    );
    type Row =
        (i32, Option<String>, Option<String>, Option<String>, bool, Option<bool>, bool, Option<String>);
    let start = std::time::Instant::now();
    let rows: Vec<Row> = loop {
        let got: Vec<Row> = m.query(&q).await.unwrap_or_default();
        if got.len() == 3 && got[0].7.as_deref() == Some("updated") && got.iter().any(|r| r.0 == 4) {
            break got;
        }
        if let Some(status) = sink.child.try_wait()? {
            anyhow::bail!("sink exited with {status}:\n{}", sink.log_text());
        }
        anyhow::ensure!(start.elapsed() < T, "MariaDB never caught up: {got:?}\n{}", sink.log_text());
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let r1 = &rows[0];
    assert_eq!(r1.1.as_deref(), Some("9999-12-31"), "date 'infinity' clamped");
    assert_eq!(r1.2.as_deref(), Some("0001-01-01 00:00:00.000000"), "timestamp '-infinity' clamped");
    assert_eq!(r1.3.as_deref(), Some("0001-01-01 00:00:00.000000"), "timestamptz '-infinity' clamped");
    assert!(r1.4, "double NaN has no nearest value: NULL");
    let r2 = &rows[1];
    assert_eq!(r2.5, Some(true), "real Infinity clamped to the largest float");
    assert!(r2.6, "numeric NaN: NULL");
    Ok(())
}
