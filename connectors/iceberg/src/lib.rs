//! The Iceberg target (`type = "iceberg"`): one Apache Iceberg table per source table holding its
//! change log — every change event a row with its metadata columns and row image — appended
//! through a SQL catalog (SQLite or PostgreSQL) into an S3 warehouse. Tested against SeaweedFS
//! and read back with pyiceberg (tests/iceberg_sink.rs, the sink conformance suite).
//!
//! A *deferred* target: rows are staged per table and appended as one snapshot per commit; the
//! snapshot records the offsets it covers ([`sink`] has the protocol and why it is exactly once).
//! iceberg-rust 0.10 commits appends only (no row-delta), so the table is a change log, and
//! docs/sinks.md gives the query that reads the current state from it.

pub mod catalog;
pub mod config;
pub mod error;
pub mod sink;
pub mod write;

pub use config::IcebergSinkConfig;
pub use error::IcebergError;
pub use sink::IcebergSink;
use sluice_core::Check;

/// The `iceberg` target plug-in.
pub struct IcebergTarget;

impl sluice_core::Target for IcebergTarget {
    const TYPES: &'static [&'static str] = &["iceberg"];
    const COMMIT_MODE: sluice_core::CommitMode = sluice_core::CommitMode::Deferred;
    type Config = IcebergSinkConfig;
    type Sink = IcebergSink;

    async fn checks(config: &IcebergSinkConfig, endpoint: &str) -> Vec<Check> {
        check_sink(endpoint, config).await
    }

    async fn connect(config: &IcebergSinkConfig, name: &str) -> sluice_core::Result<IcebergSink> {
        Ok(IcebergSink::connect(config.clone(), name).await?)
    }
}

/// `ensure_catalog` (opened, the namespace listed or created) and `ensure_warehouse` (the
/// warehouse bucket listable with these credentials).
pub async fn check_sink(endpoint: &str, config: &IcebergSinkConfig) -> Vec<Check> {
    if let Err(e) = config.ensure_valid() {
        return vec![Check::fail(endpoint, "settings", "valid", e, "fix the [sink] settings")];
    }
    let mut checks = Vec::new();
    let (bucket, prefix) = config.warehouse_bucket();
    let hint = "check [sink] warehouse and [sink.connection] endpoint_url, region and credentials";
    match &config.connection {
        Some(ep) => match sluice_s3::store::Bucket::new(ep, bucket) {
            Ok(b) => match b.list(prefix).await {
                Ok(_) => checks.push(Check::pass(endpoint, "warehouse", format!("s3://{bucket} readable"))),
                Err(e) if e.kind == sluice_core::ErrorKind::Retriable => {
                    checks.push(Check::error(endpoint, "warehouse", e.to_string(), hint))
                }
                Err(e) => checks.push(Check::fail(
                    endpoint,
                    "warehouse",
                    "listable",
                    e.to_string(),
                    "create the bucket or grant s3:ListBucket",
                )),
            },
            Err(e) => checks.push(Check::error(endpoint, "warehouse", e.to_string(), hint)),
        },
        None => checks.push(Check::pass(endpoint, "warehouse", "AWS S3 with the environment's credentials")),
    }
    let opened = async {
        let catalog = catalog::open(config).await?;
        let ns = iceberg::NamespaceIdent::from_strs(config.namespace.split('.'))
            .map_err(|e| IcebergError::from_iceberg("namespace", &e))?;
        catalog::ensure_namespace(&catalog, &ns).await
    };
    checks.push(match opened.await {
        Ok(()) => Check::pass(endpoint, "catalog", format!("{} namespace {}", config.catalog.uri, config.namespace)),
        Err(e) => Check::fail(
            endpoint,
            "catalog",
            "opened, namespace created",
            e.to_string(),
            "check [sink.catalog] uri (sqlite:///abs/path.db or postgres://…) and that its database is writable",
        ),
    });
    checks
}
