//! Helpers shared by the root integration tests: running the `sluice` binary as a child process.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_testkit::{free_port, testbed};

pub mod doc_targets;

/// A `sluice` child process, killed when dropped.
pub struct SluiceProcess {
    pub child: Child,
    pub log: std::path::PathBuf,
}

impl Drop for SluiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SluiceProcess {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Start `sluice ARGS…` with stdout/stderr going to `dir/<name>.log`.
pub fn spawn_sluice(dir: &Path, name: &str, args: &[&str]) -> anyhow::Result<SluiceProcess> {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log)?;
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()?;
    Ok(SluiceProcess { child, log })
}

/// Poll `url` until it answers 2xx, or fail with the process log.
pub async fn wait_http_ok(url: &str, proc_: &mut SluiceProcess, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if let Some(status) = proc_.child.try_wait()? {
            anyhow::bail!("sluice exited with {status} before {url} answered:\n{}", proc_.log_text());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("{url} did not answer within {timeout:?}:\n{}", proc_.log_text());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A built-in registry on a free port storing schemas in its own topic.
pub async fn start_registry(dir: &Path, topic: &str) -> anyhow::Result<(SluiceProcess, String)> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let mut p = spawn_sluice(
        dir,
        &format!("registry-{port}"),
        &["registry", "--listen", &listen, "--kafka", &testbed().kafka.bootstrap, "--topic", topic],
    )?;
    let url = format!("http://{listen}");
    wait_http_ok(&format!("{url}/subjects"), &mut p, Duration::from_secs(60)).await?;
    Ok((p, url))
}

/// One consumed record, decoded with the schema its header names.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<apache_avro::types::Value>,
    pub value: Option<apache_avro::types::Value>,
}

impl Record {
    /// A field of the value's envelope, e.g. `op`, `after`.
    pub fn field(&self, name: &str) -> Option<&apache_avro::types::Value> {
        field(self.value.as_ref()?, name)
    }

    pub fn op(&self) -> Option<String> {
        match self.field("op")? {
            apache_avro::types::Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// A column of `after` (or `before` when `after` is null).
    pub fn column(&self, image: &str, name: &str) -> Option<&apache_avro::types::Value> {
        field(unwrap_union(self.field(image)?), name).map(unwrap_union)
    }
}

pub fn unwrap_union(v: &apache_avro::types::Value) -> &apache_avro::types::Value {
    match v {
        apache_avro::types::Value::Union(_, inner) => inner,
        other => other,
    }
}

pub fn field<'a>(v: &'a apache_avro::types::Value, name: &str) -> Option<&'a apache_avro::types::Value> {
    match unwrap_union(v) {
        apache_avro::types::Value::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    }
}

/// Read `topic` from the beginning until `count` records arrived (all partitions, in offset
/// order per partition), decoding keys and values through the registry.
pub async fn read_topic(
    registry_url: &str,
    topic: &str,
    count: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<Record>> {
    read_topic_until(registry_url, topic, |r| r.len() >= count, timeout).await
}

/// Read `topic` from the beginning until `done` holds for the records read so far.
pub async fn read_topic_until(
    registry_url: &str,
    topic: &str,
    done: impl Fn(&[Record]) -> bool,
    timeout: Duration,
) -> anyhow::Result<Vec<Record>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let registry = sluice_avro::RegistryClient::new(registry_url)?;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &testbed().kafka.bootstrap)
        .set("group.id", sluice_testkit::unique("reader"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let start = Instant::now();
    wait_for_topic(&consumer, topic, timeout).await?;
    consumer.subscribe(&[topic])?;
    let mut out: Vec<Record> = Vec::new();
    while !done(&out) {
        if start.elapsed() > timeout {
            anyhow::bail!("condition not met after {} records on {topic} within {timeout:?}", out.len());
        }
        let polled = tokio::task::block_in_place(|| consumer.poll(Duration::from_millis(200)));
        match polled {
            None => continue,
            Some(Err(e)) => {
                // The topic may not exist yet.
                if start.elapsed() > timeout {
                    anyhow::bail!("consuming {topic}: {e}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Some(Ok(m)) => {
                let key = match m.key() {
                    Some(k) => Some(decode(&registry, k).await?),
                    None => None,
                };
                let value = match m.payload() {
                    Some(v) => Some(decode(&registry, v).await?),
                    None => None,
                };
                out.push(Record { partition: m.partition(), offset: m.offset(), key, value });
            }
        }
    }
    Ok(out)
}

async fn decode(
    registry: &sluice_avro::RegistryClient,
    msg: &[u8],
) -> anyhow::Result<apache_avro::types::Value> {
    let (id, mut body) = sluice_avro::wire::split(msg)?;
    let schema = registry.schema_by_id(id).await?;
    let reader = apache_avro::reader::datum::GenericDatumReader::builder(&schema).build()?;
    Ok(reader.read_value(&mut body)?)
}

/// A `[source]` PostgreSQL config for database `db` on the bench, with the built-in registry on
/// its own port and topic. `extra` is appended inside `[source]`.
pub fn pg_source_config(db: &str, prefix: &str, registry_port: u16, extra: &str) -> String {
    let tb = testbed();
    format!(
        "[log]\nlevel = \"info\"\n\
         [source]\ntype = \"postgres\"\ntopic_prefix = \"{prefix}\"\nslot = \"{prefix}\"\npublication = \"{prefix}\"\nheartbeat_interval_secs = 1\n{extra}\n\
         [source.connection]\nhost = \"{}\"\nport = {}\nuser = \"postgres\"\ndatabase = \"{db}\"\n\
         [kafka]\nbootstrap_servers = \"{}\"\nstate_topic = \"{prefix}.state\"\n\
         [registry]\nlisten = \"127.0.0.1:{registry_port}\"\ntopic = \"{prefix}._schemas\"\n",
        tb.postgres.host,
        tb.postgres.port,
        tb.kafka.bootstrap
    )
}

/// A `[source]` MariaDB config capturing database `db` on the bench, with the built-in registry
/// on its own port and topic.
pub fn mysql_source_config(db: &str, prefix: &str, registry_port: u16) -> String {
    let tb = testbed();
    format!(
        "[source]\ntype = \"mysql\"\ntopic_prefix = \"{prefix}\"\ninclude_tables = [\"{db}.*\"]\n\
         [source.connection]\nhost = \"{}\"\nport = {}\nuser = \"root\"\n\
         [kafka]\nbootstrap_servers = \"{}\"\nstate_topic = \"{prefix}.state\"\n\
         [registry]\nlisten = \"127.0.0.1:{registry_port}\"\ntopic = \"{prefix}._schemas\"\n",
        tb.mariadb.host, tb.mariadb.port, tb.kafka.bootstrap
    )
}

/// Start `sluice source` with `config`; waits until its embedded registry answers.
pub async fn start_source(
    dir: &Path,
    name: &str,
    config: &str,
    registry_port: u16,
) -> anyhow::Result<SluiceProcess> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config)?;
    let path = path.display().to_string();
    let mut p = spawn_sluice(dir, name, &["source", "--config", &path])?;
    wait_http_ok(&format!("http://127.0.0.1:{registry_port}/subjects"), &mut p, Duration::from_secs(60))
        .await?;
    Ok(p)
}

/// Wait until the source process logs `needle` (e.g. that it is streaming).
pub async fn wait_log(p: &mut SluiceProcess, needle: &str, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while !p.log_text().contains(needle) {
        if let Some(status) = p.child.try_wait()? {
            anyhow::bail!("sluice exited with {status}:\n{}", p.log_text());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("no {needle:?} in the log after {timeout:?}:\n{}", p.log_text());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Wait until `topic` exists with partitions (a consumer that subscribes earlier would notice it
/// only at its next metadata refresh, minutes later).
pub async fn wait_for_topic(
    consumer: &rdkafka::consumer::BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    use rdkafka::consumer::Consumer;
    let start = Instant::now();
    loop {
        let md = tokio::task::block_in_place(|| consumer.fetch_metadata(Some(topic), Duration::from_secs(5)));
        if md.ok().is_some_and(|m| {
            m.topics().iter().any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        }) {
            return Ok(());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("topic {topic} did not appear within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `[sink]` PostgreSQL config writing into database `db` on the bench, reading `topic_regex`
/// through the registry at `registry_url`. `extra` is appended inside `[sink]`. A short session
/// timeout lets a restarted sink take over the partitions of a killed one quickly. The test
/// broker (noida-db) ignores `fetch.max.bytes` and answers a fetch with the whole backlog, so a
/// sink that finds its topics late (regex subscriptions see new topics at a metadata refresh)
/// would get a response over librdkafka's 100 MB `receive.message.max.bytes` and fail forever
/// (seen in CI during the 1M-row migration): the limit is raised for the tests.
pub fn pg_sink_config(
    db: &str,
    name: &str,
    group: &str,
    topic_regex: &str,
    registry_url: &str,
    extra: &str,
) -> String {
    let tb = testbed();
    format!(
        "[log]\nlevel = \"info\"\n\
         [sink]\ntype = \"postgres\"\nname = \"{name}\"\ngroup_id = \"{group}\"\ntopic_regex = '{topic_regex}'\nbatch_max_ms = 50\n{extra}\n\
         [sink.connection]\nhost = \"{}\"\nport = {}\nuser = \"postgres\"\ndatabase = \"{db}\"\n\
         [kafka]\nbootstrap_servers = \"{}\"\n\
         [kafka.properties]\n\"receive.message.max.bytes\" = \"1000000000\"\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n\"max.poll.interval.ms\" = \"10000\"\n\
         [registry]\nurl = \"{registry_url}\"\n",
        tb.postgres.host,
        tb.postgres.port,
        tb.kafka.bootstrap
    )
}

/// Start `sluice sink` with `config` (no readiness wait: poll the target instead).
pub fn start_sink(dir: &Path, name: &str, config: &str) -> anyhow::Result<SluiceProcess> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, config)?;
    let path = path.display().to_string();
    spawn_sluice(dir, name, &["sink", "--config", &path])
}

fn zigzag(b: &mut &[u8]) -> i64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[0];
        *b = &b[1..];
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// The `after` image `(id, v)` of an envelope for `t (id int NOT NULL, v int NULL)`, read
/// straight from the Avro bytes (no registry round trip: crash tests read 200k+ records).
pub fn after_id_v(value: &[u8]) -> Option<(i64, i64)> {
    let mut b = &value[5..];
    if zigzag(&mut b) == 1 {
        let _ = zigzag(&mut b); // before.id
        if zigzag(&mut b) == 1 {
            let _ = zigzag(&mut b);
        }
    }
    if zigzag(&mut b) != 1 {
        return None;
    }
    let id = zigzag(&mut b);
    let v = if zigzag(&mut b) == 1 { zigzag(&mut b) } else { -1 };
    Some((id, v))
}

/// Read `topic` from the beginning until the last `(id, v)` per key equals `want`, checking
/// commit order per key on the way when `ordered` (each update adds 1 to v, so a later event may
/// repeat or rewind — a replay after a crash — but never skip ahead). A resumed full load reads
/// unfinished chunks from a newer snapshot, so its rows may skip ahead (the stream then replays
/// the changes in between): such tests pass `ordered = false`. Returns the records read and the
/// replayed state.
pub async fn replay_until_last_values(
    topic: &str,
    want: &std::collections::HashMap<i64, i64>,
    log: &dyn Fn() -> String,
    ordered: bool,
) -> anyhow::Result<(u64, std::collections::HashMap<i64, i64>)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &testbed().kafka.bootstrap)
        .set("group.id", sluice_testkit::unique("crashcheck"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    wait_for_topic(&consumer, topic, Duration::from_secs(600)).await?;
    consumer.subscribe(&[topic])?;
    let mut last: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    let mut records = 0u64;
    let start = Instant::now();
    while &last != want {
        if start.elapsed() > Duration::from_secs(300) {
            anyhow::bail!(
                "after {records} records: {} of {} keys, {} differ\n{}",
                last.len(),
                want.len(),
                want.iter().filter(|(k, v)| last.get(k) != Some(v)).count(),
                log()
            );
        }
        let Some(m) = tokio::task::block_in_place(|| consumer.poll(Duration::from_millis(500))) else {
            continue;
        };
        let m = m?;
        records += 1;
        let Some((id, v)) = m.payload().and_then(after_id_v) else { continue };
        if let Some(p) = last.insert(id, v) {
            anyhow::ensure!(
                !ordered || v <= p + 1,
                "key {id}: v went from {p} to {v} at offset {}",
                m.offset()
            );
        }
    }
    Ok((records, last))
}

/// A MariaDB table with every type of issue 7 (`tests/mysql_types.rs`, `tests/mysql_migration.rs`).
pub const MARIADB_ALL_TYPES: &str = "CREATE TABLE all_types (
    id INT PRIMARY KEY,
    c_tinyint TINYINT, c_tinyint_u TINYINT UNSIGNED, c_smallint SMALLINT, c_smallint_u SMALLINT UNSIGNED,
    c_mediumint MEDIUMINT, c_mediumint_u MEDIUMINT UNSIGNED, c_int INT, c_int_u INT UNSIGNED,
    c_bigint BIGINT, c_bigint_u BIGINT UNSIGNED,
    c_decimal DECIMAL(12,3), c_float FLOAT, c_double DOUBLE,
    c_bit1 BIT(1), c_bit10 BIT(10), c_year YEAR,
    c_date DATE, c_time TIME(3), c_time_neg TIME(6), c_datetime DATETIME(6), c_datetime0 DATETIME,
    c_timestamp TIMESTAMP(6) NULL,
    c_char CHAR(5), c_varchar VARCHAR(20), c_text TEXT,
    c_latin1 VARCHAR(20) CHARACTER SET latin1,
    c_binary BINARY(4), c_varbinary VARBINARY(10), c_blob BLOB,
    c_enum ENUM('sad','ok','happy'), c_set SET('a','b','c'),
    c_json JSON, c_geom POINT,
    c_not_null VARCHAR(8) NOT NULL DEFAULT 'x'
) DEFAULT CHARSET = utf8mb4";

/// A PostgreSQL table with every common type (`tests/postgres_types.rs`, `tests/doc_target_types.rs`).
pub const PG_ALL_TYPES: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE all_types (
    id int PRIMARY KEY,
    c_int2 smallint, c_int4 integer, c_int8 bigint,
    c_float4 real, c_float8 double precision,
    c_numeric numeric(12,3), c_numeric_free numeric,
    c_bool boolean,
    c_text text, c_varchar varchar(20), c_char char(5),
    c_bytea bytea, c_uuid uuid, c_json json, c_jsonb jsonb,
    c_date date, c_time time, c_timetz timetz,
    c_timestamp timestamp, c_timestamptz timestamptz, c_interval interval,
    c_inet inet, c_cidr cidr, c_macaddr macaddr,
    c_enum mood, c_domain posint,
    c_int_array int[], c_text_array text[], c_numeric_array numeric(6,2)[],
    c_not_null text NOT NULL DEFAULT 'x'
);
"#;

/// Row 1 of [`PG_ALL_TYPES`] with a value in every column, row 2 with NULL in every nullable one.
pub const PG_ALL_TYPES_ROWS: &str = r#"
INSERT INTO all_types VALUES (
    1,
    -32768, 2147483647, -9223372036854775808,
    1.5, 1.2345678901234567,
    123456789.123, 0.000001234,
    true,
    'héllo ✓', 'abc', 'ab',
    '\x00ff10', '550e8400-e29b-41d4-a716-446655440000', '{"a": [1, 2]}', '{"b": {"c": null}}',
    '2024-02-29', '23:59:59.999999', '12:34:56.789+05:30',
    '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123456+02', '1 year 2 mons 3 days 04:05:06.000007',
    '192.168.0.1/24', '10.0.0.0/8', '08:00:2b:01:02:03',
    'happy', 5,
    '{1,NULL,3}', '{"a b",c}', '{1.50,-2.25}',
    'not null'
);
INSERT INTO all_types (id) VALUES (2);
"#;

/// Row 1 of [`MARIADB_ALL_TYPES`], a value in every column.
pub const MARIADB_ALL_TYPES_ROW: &str = "INSERT INTO all_types VALUES (
    1,
    -128, 255, -32768, 65535,
    -8388608, 16777215, -2147483648, 4294967295,
    -9223372036854775808, 18446744073709551615,
    -123456789.123, 1.5, 1.2345678901234567,
    b'1', b'1000000011', 2024,
    '2024-02-29', '12:34:56.789', '-838:59:59.000001', '2024-01-02 03:04:05.123456', '1999-12-31 23:59:59',
    '2024-01-02 03:04:05.123456',
    'ab', 'héllo ✓', '😀 emoji',
    'café €',
    x'00FF10', x'DEADBEEF00', x'FF00FE',
    'happy', 'c,a',
    '{\"a\": [1, 2]}', ST_GeomFromText('POINT(1 2)'),
    'not null'
)";

/// Every row of `sql` (each cell as text, `NULL` as `None`) on one PostgreSQL connection.
pub async fn pg_text_rows(c: &tokio_postgres::Client, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    c.batch_execute("SET TimeZone = 'UTC'").await?;
    let rows = c.query(sql, &[]).await?;
    Ok(rows.iter().map(|r| (0..r.len()).map(|i| r.get(i)).collect()).collect())
}

/// Poll until `sql` gives the same rows on `target` as on `source` (the source read once, now);
/// on timeout, fail with every differing cell (by `columns` name) and the sink's log.
pub async fn wait_pg_rows_equal(
    source: &tokio_postgres::Client,
    target: &tokio_postgres::Client,
    sql: &str,
    columns: &[String],
    sink: &mut SluiceProcess,
    timeout: Duration,
) -> anyhow::Result<()> {
    let want = pg_text_rows(source, sql).await?;
    let start = Instant::now();
    loop {
        let got = pg_text_rows(target, sql).await.unwrap_or_default();
        if got == want {
            return Ok(());
        }
        if let Some(status) = sink.child.try_wait()? {
            anyhow::bail!("sink exited with {status}:\n{}", sink.log_text());
        }
        if start.elapsed() > timeout {
            let mut diffs = Vec::new();
            for (r, w) in want.iter().enumerate() {
                let g = got.get(r);
                for (i, v) in w.iter().enumerate() {
                    let have = g.and_then(|g| g.get(i));
                    if have != Some(v) {
                        let name = columns.get(i).map_or("?", String::as_str);
                        diffs.push(format!("row {r} ({:?}) {name}: want {v:?} got {have:?}", w.first()));
                    }
                }
            }
            anyhow::bail!(
                "target differs ({} vs {} rows):\n{}\nsink log:\n{}",
                want.len(),
                got.len(),
                diffs.join("\n"),
                sink.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Tables of the document/key-value target tests: every kind of value, a TOASTed column, and a
/// composite key whose text contains `:`.
pub const DOC_DDL: &str = "
    CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), ts timestamptz,
        d date, flag boolean, doc jsonb, u uuid, tags text[], big text);
    ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
    CREATE TABLE stock (sku text, wh int, qty bigint NOT NULL, PRIMARY KEY (sku, wh));";

/// Inserts, updates (NULLs included), deletes and upserts of both [`DOC_DDL`] tables for ids
/// `from..=to`. `stock` stays small (at most 280 rows, each updated again every 2,800 ids): on
/// SecantusDB an `_id` sub-document, which is how the MongoDB target stores a composite key, is
/// found by a collection scan, not through the `_id` index as on MongoDB.
pub async fn doc_workload(c: &tokio_postgres::Client, from: i32, to: i32) -> anyhow::Result<()> {
    c.batch_execute(&format!(
        "INSERT INTO items SELECT g, 'n' || g, g * 1.25, '2024-01-01 00:00:00+00'::timestamptz + g * interval '1.5 second',
             DATE '2020-02-29' + g, g % 2 = 0, jsonb_build_object('g', g, 'a', jsonb_build_array(1, 'x')),
             md5(g::text)::uuid, ARRAY['a', 'b' || g], repeat('big', 3000)
         FROM generate_series({from}, {to}) g;
         UPDATE items SET name = 'upd' || id, price = NULL WHERE id BETWEEN {from} AND {to} AND id % 3 = 0;
         DELETE FROM items WHERE id BETWEEN {from} AND {to} AND id % 7 = 0;
         INSERT INTO stock SELECT 'sku:' || (g % 7), (g / 10) % 40, g FROM generate_series({from}, {to}) g
             WHERE g % 10 = 0
             ON CONFLICT (sku, wh) DO UPDATE SET qty = stock.qty + EXCLUDED.qty;"
    ))
    .await?;
    Ok(())
}

/// Rows keyed by their key's text, each the other columns as text.
pub type KeyedRows = std::collections::BTreeMap<String, Vec<Option<String>>>;

/// The rows of `sql`, whose first column is the key's text.
pub async fn keyed_pg_rows(c: &tokio_postgres::Client, sql: &str) -> anyhow::Result<KeyedRows> {
    let mut out = KeyedRows::new();
    for r in c.query(sql, &[]).await? {
        let mut cells: Vec<Option<String>> = (0..r.len()).map(|i| r.get(i)).collect();
        let key = cells.remove(0).unwrap_or_default();
        out.insert(key, cells);
    }
    Ok(out)
}

/// The source side of the document/key-value target tests: 20 rounds of [`doc_workload`] on
/// database `db` (a truncate of `stock` halfway), then an update that leaves the TOASTed `big`
/// unchanged.
pub async fn spawn_doc_writer(db: &str) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    spawn_doc_writer_rounds(db, 20).await
}

/// [`spawn_doc_writer`] with `rounds` rounds of 500 ids (the truncate after round `rounds / 2`).
pub async fn spawn_doc_writer_rounds(
    db: &str,
    rounds: i32,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let c = testbed().postgres.connect(db).await?;
    Ok(tokio::spawn(async move {
        for i in 0..rounds {
            doc_workload(&c, i * 500 + 1, i * 500 + 500).await?;
            if i == rounds / 2 {
                c.batch_execute("TRUNCATE stock").await?;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        c.batch_execute("UPDATE items SET flag = NOT flag WHERE id % 5 = 0").await?;
        anyhow::Ok(())
    }))
}

/// Start `sluice sink` with `config` three times, killing it with SIGKILL after 2.5 s each time.
pub async fn kill_sink_three_times(dir: &Path, config: &str) -> anyhow::Result<()> {
    for round in 0..3 {
        let mut sink = start_sink(dir, &format!("sink{round}"), config)?;
        tokio::time::sleep(Duration::from_millis(2500)).await;
        if let Some(status) = sink.child.try_wait()? {
            anyhow::bail!("sink exited with {status}:\n{}", sink.log_text());
        }
        sink.child.kill()?; // SIGKILL: no shutdown path runs
        sink.child.wait()?;
    }
    Ok(())
}

/// Poll `read` (one [`KeyedRows`] per table) until it equals `want`; on timeout, fail with the
/// first differing rows and the sink's log.
pub async fn wait_keyed_rows_equal(
    sink: &mut SluiceProcess,
    mut read: impl FnMut() -> anyhow::Result<Vec<KeyedRows>>,
    want: &[KeyedRows],
    timeout: Duration,
) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let got = read()?;
        if got == want {
            return Ok(());
        }
        if let Some(status) = sink.child.try_wait()? {
            anyhow::bail!("sink exited with {status}:\n{}", sink.log_text());
        }
        if start.elapsed() > timeout {
            let mut diff = Vec::new();
            for (g, w) in got.iter().zip(want) {
                diff.push(format!("{} of {} rows", g.len(), w.len()));
                diff.extend(
                    w.iter()
                        .filter(|(k, v)| g.get(*k) != Some(v))
                        .take(3)
                        .map(|(k, v)| format!("{k}: want {v:?}, got {:?}", g.get(k))),
                );
            }
            anyhow::bail!("target differs: {diff:#?}\n{}", sink.log_text());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Run a `tests/python/<script>` reader and parse its JSON [`KeyedRows`].
pub fn python_rows(script: &str, args: &[&str]) -> anyhow::Result<KeyedRows> {
    let out = Command::new(&testbed().python)
        .arg(format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR")))
        .args(args)
        .output()?;
    anyhow::ensure!(out.status.success(), "{script}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// High-water mark of partition 0 of `topic`.
pub fn high_water(topic: &str) -> anyhow::Result<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer =
        rdkafka::ClientConfig::new().set("bootstrap.servers", &testbed().kafka.bootstrap).create()?;
    Ok(c.fetch_watermarks(topic, 0, Duration::from_secs(10))?.1)
}

/// A record's payload and its headers as (name, value) pairs.
pub type Letter = (Option<Vec<u8>>, Vec<(String, String)>);

/// The first `n` records of `topic`.
pub fn read_with_headers(topic: &str, n: usize) -> anyhow::Result<Vec<Letter>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &testbed().kafka.bootstrap)
        .set("group.id", sluice_testkit::unique("dlqreader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    c.subscribe(&[topic])?;
    let mut out = Vec::new();
    let start = Instant::now();
    while out.len() < n && start.elapsed() < Duration::from_secs(180) {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(200)) {
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| {
                            (
                                x.key.to_owned(),
                                String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push((m.payload().map(<[u8]>::to_vec), headers));
        }
    }
    Ok(out)
}

pub fn header<'a>(h: &'a [(String, String)], k: &str) -> &'a str {
    h.iter().find(|(n, _)| n == k).map_or("", |(_, v)| v.as_str())
}
