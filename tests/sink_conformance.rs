//! The sink conformance suite ([`sluice_testkit::conformance`]) for every target:
//! PostgreSQL, MariaDB, Redis, MongoDB, DynamoDB, OpenSearch, S3 files and Iceberg, each read back
//! with its own client (tokio-postgres, mysql_async, redis-py, pymongo, boto3, opensearch-py,
//! pyarrow / fastavro, pyiceberg).

#![allow(clippy::expect_used)]

mod common;

use anyhow::Result;
use mysql_async::prelude::Queryable;
use sluice_dynamodb::{DynamoSinkConfig, DynamoTarget};
use sluice_iceberg::{IcebergSinkConfig, IcebergTarget};
use sluice_mongodb::{MongoSinkConfig, MongoTarget};
use sluice_mysql::{MySqlSinkConfig, MySqlTarget};
use sluice_opensearch::{SearchSinkConfig, SearchTarget};
use sluice_postgres::{PgSinkConfig, PgTarget};
use sluice_redis::{RedisSinkConfig, RedisTarget};
use sluice_s3::{S3SinkConfig, S3Target};
use sluice_testkit::conformance::{run_all, Harness, Rows};
use sluice_testkit::{free_port, testbed, unique};

/// Rows a python reader returned, keyed by their integer `id`.
fn int_keyed(rows: common::KeyedRows) -> Result<Rows> {
    rows.into_iter().map(|(k, v)| Ok((k.parse()?, v))).collect()
}

/// Text columns of `id` and `columns`, keyed by `id`.
fn keyed(rows: Vec<Vec<Option<String>>>) -> Result<Rows> {
    let mut out = Rows::new();
    for mut r in rows {
        let id = r.remove(0).unwrap_or_default().parse()?;
        out.insert(id, r);
    }
    Ok(out)
}

struct Postgres;

fn pg_endpoint(port: u16) -> String {
    let pg = &testbed().postgres;
    format!("[connection]\nhost = \"{}\"\nport = {port}\nuser = \"{}\"\npassword = \"{}\"\ndatabase = \"{}\"\nconnect_timeout_secs = 2\n", pg.host, pg.user, pg.password, pg.database)
}

impl Harness for Postgres {
    type T = PgTarget;

    fn config(&self, ns: &str) -> PgSinkConfig {
        let s = format!("table_pattern = \"{ns}.{{table}}\"\n{}", pg_endpoint(testbed().postgres.port));
        toml::from_str(&s).expect("PostgreSQL settings")
    }

    fn unreachable(&self) -> PgSinkConfig {
        toml::from_str(&pg_endpoint(free_port().expect("port"))).expect("PostgreSQL settings")
    }

    async fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> Result<Rows> {
        let client = testbed().postgres.connect(&testbed().postgres.database).await?;
        let cols: Vec<String> =
            std::iter::once("id").chain(columns.iter().copied()).map(|c| format!("{c}::text")).collect();
        let sql = format!("SELECT {} FROM \"{ns}\".\"{table}\"", cols.join(", "));
        let rows = client.query(&sql, &[]).await?;
        keyed(rows.iter().map(|r| (0..r.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect())
    }
}

struct MariaDb;

fn maria_endpoint(port: u16) -> String {
    let m = &testbed().mariadb;
    format!(
        "[connection]\nhost = \"{}\"\nport = {port}\nuser = \"{}\"\npassword = \"{}\"\n",
        m.host, m.user, m.password
    )
}

impl Harness for MariaDb {
    type T = MySqlTarget;

    fn config(&self, ns: &str) -> MySqlSinkConfig {
        let s = format!("table_pattern = \"{ns}.{{table}}\"\n{}", maria_endpoint(testbed().mariadb.port));
        toml::from_str(&s).expect("MariaDB settings")
    }

    fn unreachable(&self) -> MySqlSinkConfig {
        toml::from_str(&maria_endpoint(free_port().expect("port"))).expect("MariaDB settings")
    }

    async fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> Result<Rows> {
        let mut conn = testbed().mariadb.connect(None).await?;
        let cols: Vec<String> = std::iter::once("id")
            .chain(columns.iter().copied())
            .map(|c| format!("CAST(`{c}` AS CHAR)"))
            .collect();
        let sql = format!("SELECT {} FROM `{ns}`.`{table}`", cols.join(", "));
        let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
        let text = rows
            .into_iter()
            .map(|r| (0..r.len()).map(|i| r.get::<Option<String>, _>(i).flatten()).collect())
            .collect();
        conn.disconnect().await?;
        keyed(text)
    }
}

struct Redis;

fn redis_endpoint(url: &str) -> String {
    format!("[connection]\nurl = \"{url}\"\nconnect_timeout_secs = 2\n")
}

impl Harness for Redis {
    type T = RedisTarget;

    fn config(&self, ns: &str) -> RedisSinkConfig {
        let s = format!("key_pattern = \"{ns}.{{table}}\"\n{}", redis_endpoint(&testbed().redis.url()));
        toml::from_str(&s).expect("Redis settings")
    }

    fn unreachable(&self) -> RedisSinkConfig {
        let url = format!("redis://127.0.0.1:{}", free_port().expect("port"));
        toml::from_str(&redis_endpoint(&url)).expect("Redis settings")
    }

    /// Read with redis-py (`tests/python/redis_rows.py`).
    async fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> Result<Rows> {
        int_keyed(common::python_rows(
            "redis_rows.py",
            &[&testbed().redis.url(), &format!("{ns}.{table}"), &columns.join(",")],
        )?)
    }
}

struct Mongo;

fn mongo_settings(ns: &str, url: &str) -> String {
    format!("database = \"{ns}\"\ncollection_pattern = \"{{table}}\"\n[connection]\nurl = \"{url}\"\nconnect_timeout_secs = 2\n")
}

impl Harness for Mongo {
    type T = MongoTarget;

    fn config(&self, ns: &str) -> MongoSinkConfig {
        toml::from_str(&mongo_settings(ns, &testbed().mongodb.url())).expect("MongoDB settings")
    }

    fn unreachable(&self) -> MongoSinkConfig {
        let url = format!("mongodb://127.0.0.1:{}/?directConnection=true", free_port().expect("port"));
        toml::from_str(&mongo_settings("down", &url)).expect("MongoDB settings")
    }

    /// Read with pymongo (`tests/python/mongo_rows.py`).
    async fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> Result<Rows> {
        int_keyed(common::python_rows(
            "mongo_rows.py",
            &[&testbed().mongodb.url(), ns, table, &columns.join(",")],
        )?)
    }
    /// A document is at most 16 MiB of BSON.
    fn too_large(&self) -> Option<usize> {
        Some(17 << 20)
    }
}

/// `write_mode`: "batch" (the default) or "conditional".
struct Dynamo(&'static str);

fn dynamo_settings(ns: &str, endpoint: &str, mode: &str) -> String {
    format!(
        "table_pattern = \"{ns}.{{table}}\"\nwrite_mode = \"{mode}\"\n[connection]\nendpoint_url = \"{endpoint}\"\nregion = \"us-east-1\"\n\
         access_key_id = \"test\"\nsecret_access_key = \"test\"\nconnect_timeout_secs = 2\n"
    )
}

impl Harness for Dynamo {
    type T = DynamoTarget;

    fn config(&self, ns: &str) -> DynamoSinkConfig {
        toml::from_str(&dynamo_settings(ns, &testbed().dynamodb.url(), self.0)).expect("DynamoDB settings")
    }

    fn unreachable(&self) -> DynamoSinkConfig {
        let url = format!("http://127.0.0.1:{}", free_port().expect("port"));
        toml::from_str(&dynamo_settings("down", &url, self.0)).expect("DynamoDB settings")
    }

    /// Read with boto3 (`tests/python/dynamodb_rows.py`).
    async fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> Result<Rows> {
        let url = testbed().dynamodb.url();
        int_keyed(common::python_rows(
            "dynamodb_rows.py",
            &[&url, &format!("{ns}.{table}"), "id", &columns.join(",")],
        )?)
    }
    /// An item is at most 400 KB.
    fn too_large(&self) -> Option<usize> {
        Some(450_000)
    }
}

struct Search;

fn search_settings(ns: &str, url: &str) -> String {
    format!(
        "index_pattern = \"{ns}.{{table}}\"\nrefresh = \"wait_for\"\n[connection]\nurl = \"{url}\"\nconnect_timeout_secs = 2\n"
    )
}

impl Harness for Search {
    type T = SearchTarget;

    fn config(&self, ns: &str) -> SearchSinkConfig {
        toml::from_str(&search_settings(ns, &testbed().opensearch.url())).expect("OpenSearch settings")
    }

    fn unreachable(&self) -> SearchSinkConfig {
        let url = format!("http://127.0.0.1:{}", free_port().expect("port"));
        toml::from_str(&search_settings("down", &url)).expect("OpenSearch settings")
    }

    /// Read with opensearch-py (`tests/python/opensearch_rows.py`).
    async fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> Result<Rows> {
        int_keyed(common::python_rows(
            "opensearch_rows.py",
            &[&testbed().opensearch.url(), &format!("{ns}.{table}"), &columns.join(",")],
        )?)
    }
}

/// `format`: "parquet", "avro" or "jsonl".
struct S3(&'static str);

/// The conformance bucket; each case writes under its own prefix (the namespace).
const S3_BUCKET: &str = "sluice-conformance";

fn s3_settings(ns: &str, connection: &str, format: &str) -> String {
    // Roll at every commit: the suite checks what each commit made durable.
    format!(
        "bucket = \"{S3_BUCKET}\"\nprefix = \"{ns}\"\nformat = \"{format}\"\nroll_secs = 0\n\
         [connection]\n{connection}connect_timeout_secs = 1\n"
    )
}

impl Harness for S3 {
    type T = S3Target;

    fn config(&self, ns: &str) -> S3SinkConfig {
        static BUCKET: std::sync::OnceLock<()> = std::sync::OnceLock::new();
        BUCKET.get_or_init(|| testbed().s3.ensure_bucket(S3_BUCKET).expect("conformance bucket"));
        toml::from_str(&s3_settings(ns, &testbed().s3.connection(), self.0)).expect("S3 settings")
    }

    fn unreachable(&self) -> S3SinkConfig {
        let s3 = &testbed().s3;
        let connection =
            s3.connection().replace(&s3.url(), &format!("http://127.0.0.1:{}", free_port().expect("port")));
        toml::from_str(&s3_settings("down", &connection, self.0)).expect("S3 settings")
    }

    /// The change files read with boto3 + pyarrow / fastavro and replayed (`tests/python/s3_rows.py`).
    async fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> Result<Rows> {
        let s3 = &testbed().s3;
        int_keyed(common::python_rows(
            "s3_rows.py",
            &["rows", &s3.url(), S3_BUCKET, &format!("{ns}/app/{table}"), "id", &columns.join(",")],
        )?)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_parquet_target_conforms() -> Result<()> {
    run_all(&S3("parquet"), |case| unique(&format!("conf_s3p_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_avro_target_conforms() -> Result<()> {
    run_all(&S3("avro"), |case| unique(&format!("conf_s3a_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_jsonl_target_conforms() -> Result<()> {
    run_all(&S3("jsonl"), |case| unique(&format!("conf_s3j_{case}"))).await
}

/// The Iceberg target: one SQLite catalog per test process, each case its own namespace.
struct Iceberg;

fn iceberg_catalog() -> &'static std::path::Path {
    static DB: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DB.get_or_init(|| {
        testbed().s3.ensure_bucket(S3_BUCKET).expect("conformance bucket");
        testbed().scratch_dir("iceberg").expect("scratch dir").join("catalog.db")
    })
}

fn iceberg_settings(ns: &str, connection: &str) -> String {
    // Commit at every commit: the suite checks what each commit made durable.
    format!(
        "warehouse = \"s3://{S3_BUCKET}/iceberg\"\nnamespace = \"{ns}\"\ntable_pattern = \"{{table}}\"\n\
         commit_secs = 0\n[catalog]\nuri = \"sqlite://{}?mode=rwc\"\n[connection]\n{connection}connect_timeout_secs = 1\n",
        iceberg_catalog().display()
    )
}

impl Harness for Iceberg {
    type T = IcebergTarget;

    fn config(&self, ns: &str) -> IcebergSinkConfig {
        toml::from_str(&iceberg_settings(ns, &testbed().s3.connection())).expect("Iceberg settings")
    }

    fn unreachable(&self) -> IcebergSinkConfig {
        let s3 = &testbed().s3;
        let connection =
            s3.connection().replace(&s3.url(), &format!("http://127.0.0.1:{}", free_port().expect("port")));
        toml::from_str(&iceberg_settings("down", &connection)).expect("Iceberg settings")
    }

    /// The table scanned with pyiceberg and replayed (`tests/python/iceberg_rows.py`).
    async fn rows(&self, ns: &str, table: &str, columns: &[&str]) -> Result<Rows> {
        int_keyed(common::python_rows(
            "iceberg_rows.py",
            &[
                "rows",
                &iceberg_catalog().display().to_string(),
                &testbed().s3.url(),
                &format!("{ns}.{table}"),
                "id",
                &columns.join(","),
            ],
        )?)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn iceberg_target_conforms() -> Result<()> {
    run_all(&Iceberg, |case| unique(&format!("conf_ib_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn opensearch_target_conforms() -> Result<()> {
    run_all(&Search, |case| unique(&format!("conf_os_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_target_conforms() -> Result<()> {
    run_all(&Dynamo("batch"), |case| unique(&format!("conf_dy_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_conditional_writes_conform() -> Result<()> {
    run_all(&Dynamo("conditional"), |case| unique(&format!("conf_dc_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mongodb_target_conforms() -> Result<()> {
    run_all(&Mongo, |case| unique(&format!("conf_mg_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_target_conforms() -> Result<()> {
    run_all(&Redis, |case| unique(&format!("conf_rd_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_target_conforms() -> Result<()> {
    run_all(&Postgres, |case| unique(&format!("conf_pg_{case}"))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_target_conforms() -> Result<()> {
    run_all(&MariaDb, |case| unique(&format!("conf_my_{case}"))).await
}
