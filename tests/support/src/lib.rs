//! Test bench client: hands integration tests the endpoints of the real servers that
//! `scripts/testbed up` started (PostgreSQL with `wal_level=logical`, a second one with
//! `wal_level=replica`, MariaDB with a ROW binlog, a second one with a STATEMENT binlog, a
//! Kafka-protocol broker, and a Python venv with independent clients).
//!
//! Invariants: servers are started once per test run; every test takes its own database, topic,
//! consumer group and slot names from [`unique`], so tests run in parallel without interfering.
//! When `SLUICE_TESTBED` is unset the tests fail with a message saying to use `make test`.

#![allow(clippy::expect_used)]

pub mod conformance;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct PgServer {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    pub bin_dir: String,
    pub data_dir: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MariaDbServer {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub socket: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KafkaServer {
    pub bootstrap: String,
    /// `noida` or `tansu`.
    pub flavor: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisServer {
    pub host: String,
    pub port: u16,
}

impl RedisServer {
    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.host, self.port)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MongoServer {
    pub host: String,
    pub port: u16,
}

impl MongoServer {
    pub fn url(&self) -> String {
        format!("mongodb://{}:{}/?directConnection=true", self.host, self.port)
    }
}

/// A server reached by `http://host:port` (DynamoDB API, OpenSearch API).
#[derive(Debug, Clone, Deserialize)]
pub struct DynamoServer {
    pub host: String,
    pub port: u16,
}

impl DynamoServer {
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

/// An S3-compatible server (SeaweedFS), SigV4 with these static credentials.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Server {
    pub host: String,
    pub port: u16,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl S3Server {
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// `[sink.connection]` keys for this server (without the table header).
    pub fn connection(&self) -> String {
        format!(
            "endpoint_url = \"{}\"\nregion = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\n",
            self.url(),
            self.region,
            self.access_key_id,
            self.secret_access_key
        )
    }

    /// Create `bucket` (with boto3) unless it exists.
    pub fn ensure_bucket(&self, bucket: &str) -> Result<()> {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/s3_rows.py");
        testbed().python(&script, &["mkbucket", &self.url(), bucket]).map(|_| ())
    }
}

/// A Kinesis Data Streams API server (kinesalite): any credentials are accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct KinesisServer {
    pub host: String,
    pub port: u16,
    pub region: String,
}

impl KinesisServer {
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// `[kinesis.connection]` keys for this server (without the table header).
    pub fn connection(&self) -> String {
        format!(
            "endpoint_url = \"{}\"\nregion = \"{}\"\naccess_key_id = \"sluice\"\nsecret_access_key = \"sluice\"\n",
            self.url(),
            self.region
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Testbed {
    pub dir: String,
    pub postgres: PgServer,
    pub postgres_replica: PgServer,
    pub mariadb: MariaDbServer,
    pub mariadb_statement: MariaDbServer,
    pub kafka: KafkaServer,
    pub redis: RedisServer,
    pub mongodb: MongoServer,
    pub dynamodb: DynamoServer,
    /// OpenSearch API (osmem-server): `url()` like DynamoDB's.
    pub opensearch: DynamoServer,
    pub s3: S3Server,
    pub kinesis: KinesisServer,
    pub python: String,
}

static TESTBED: OnceLock<Testbed> = OnceLock::new();

/// The running test bench. Panics with instructions when the tests were not started by
/// `make test` (or `scripts/with-testbed`).
pub fn testbed() -> &'static Testbed {
    TESTBED.get_or_init(|| {
        let path = std::env::var("SLUICE_TESTBED").expect(
            "SLUICE_TESTBED is not set: integration tests need the real servers; run them with `make test` \
             (or `scripts/with-testbed cargo nextest run`)",
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid testbed file {path}: {e}"))
    })
}

/// A name unique in this test run: `<prefix>_<pid>_<counter>_<random>`, lowercase, safe as a
/// database, slot, topic or group name.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u32 = rand::random::<u32>() % 1_000_000;
    format!("{prefix}_{}_{n}_{r}", std::process::id())
}

/// A free TCP port on 127.0.0.1 with nothing listening on it (bound, then released).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

impl PgServer {
    pub fn config(&self, database: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host).port(self.port).user(&self.user).dbname(database);
        if !self.password.is_empty() {
            c.password(&self.password);
        }
        c
    }

    pub async fn connect(&self, database: &str) -> Result<tokio_postgres::Client> {
        let (client, conn) = self
            .config(database)
            .connect(tokio_postgres::NoTls)
            .await
            .with_context(|| format!("connect to postgres {}:{} db {database}", self.host, self.port))?;
        tokio::spawn(conn);
        Ok(client)
    }

    /// Create a fresh database for one test and return its name.
    pub async fn create_database(&self, prefix: &str) -> Result<String> {
        let name = unique(prefix);
        let admin = self.connect(&self.database).await?;
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(name)
    }
}

impl MariaDbServer {
    pub fn opts(&self, database: Option<&str>) -> mysql_async::Opts {
        let b = mysql_async::OptsBuilder::default()
            .ip_or_hostname(self.host.clone())
            .tcp_port(self.port)
            .user(Some(self.user.clone()))
            .pass((!self.password.is_empty()).then(|| self.password.clone()))
            .db_name(database.map(str::to_owned))
            .prefer_socket(false);
        mysql_async::Opts::from(b)
    }

    pub async fn connect(&self, database: Option<&str>) -> Result<mysql_async::Conn> {
        mysql_async::Conn::new(self.opts(database))
            .await
            .with_context(|| format!("connect to mariadb {}:{}", self.host, self.port))
    }

    /// Create a fresh database for one test and return its name.
    pub async fn create_database(&self, prefix: &str) -> Result<String> {
        use mysql_async::prelude::Queryable;
        let name = unique(prefix);
        let mut c = self.connect(None).await?;
        c.query_drop(format!("CREATE DATABASE `{name}`")).await?;
        c.disconnect().await?;
        Ok(name)
    }
}

impl Testbed {
    /// Run a Python script with the bench venv's interpreter; returns stdout, fails with stderr.
    pub fn python(&self, script: &Path, args: &[&str]) -> Result<String> {
        let out = std::process::Command::new(&self.python)
            .arg(script)
            .args(args)
            .output()
            .with_context(|| format!("run {} {}", self.python, script.display()))?;
        if !out.status.success() {
            bail!(
                "{} failed ({}):\nstdout:\n{}\nstderr:\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A directory for one test's files, inside the bench's state dir (removed with the bench).
    pub fn scratch_dir(&self, prefix: &str) -> Result<PathBuf> {
        let p = Path::new(&self.dir).join("scratch").join(unique(prefix));
        std::fs::create_dir_all(&p)?;
        Ok(p)
    }
}
