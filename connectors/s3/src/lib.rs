//! The object-store target (`type = "s3"`): change events as files in S3 (or any S3-compatible
//! store) for analytics — Parquet (typed columns, zstd), Avro object container files or JSON Lines, one row per change with
//! its metadata ([`rows`]), in files named by the offsets they hold. Tested against SeaweedFS and
//! read back with boto3 and pyarrow (tests/s3_sink.rs, the sink conformance suite).
//!
//! A *deferred* target: rows are staged per (topic, partition) and written when the partition
//! rolls (records, bytes or age); a roll's manifest is its commit ([`sink`] has the protocol and
//! why it is exactly once).

pub mod avro;
pub mod config;
pub mod error;
pub mod jsonl;
pub mod parquet;
pub mod rows;
pub mod sink;
pub mod store;

pub use config::S3SinkConfig;
pub use error::S3Error;
pub use sink::S3Sink;
use sluice_core::Check;

/// The `s3` target plug-in.
pub struct S3Target;

impl sluice_core::Target for S3Target {
    const TYPES: &'static [&'static str] = &["s3"];
    const COMMIT_MODE: sluice_core::CommitMode = sluice_core::CommitMode::Deferred;
    type Config = S3SinkConfig;
    type Sink = S3Sink;

    async fn checks(config: &S3SinkConfig, endpoint: &str) -> Vec<Check> {
        check_sink(endpoint, config).await
    }

    async fn connect(config: &S3SinkConfig, name: &str) -> sluice_core::Result<S3Sink> {
        Ok(S3Sink::connect(config.clone(), name).await?)
    }
}

/// `ensure_bucket` (listed with these credentials) and `ensure_write` (a probe object written
/// and deleted under the prefix).
pub async fn check_sink(endpoint: &str, config: &S3SinkConfig) -> Vec<Check> {
    let hint = "check [sink] bucket and [sink.connection] endpoint_url, region and credentials";
    if let Err(e) = config.ensure_valid() {
        return vec![Check::fail(endpoint, "settings", "valid", e, "fix the [sink] settings")];
    }
    let bucket = match store::Bucket::new(&config.connection, &config.bucket) {
        Ok(b) => b,
        Err(e) => return vec![Check::error(endpoint, "bucket", e.to_string(), hint)],
    };
    let state = config.key("_sluice/");
    let mut checks = Vec::new();
    match bucket.list(&state).await {
        Ok(_) => checks.push(Check::pass(endpoint, "bucket", format!("s3://{} readable", config.bucket))),
        Err(e) if e.kind == sluice_core::ErrorKind::Retriable => {
            return vec![Check::error(endpoint, "bucket", e.to_string(), hint)]
        }
        Err(e) => {
            return vec![Check::fail(
                endpoint,
                "bucket",
                "listable",
                e.to_string(),
                "create the bucket or grant s3:ListBucket",
            )]
        }
    }
    let probe = config.key(&format!("_sluice/.check-{}", std::process::id()));
    let written = async {
        bucket.put(&probe, b"sluice check".to_vec()).await?;
        bucket.delete(&probe).await
    };
    checks.push(match written.await {
        Ok(()) => {
            Check::pass(endpoint, "write", format!("s3://{}/{} writable", config.bucket, config.key("")))
        }
        Err(e) => Check::fail(
            endpoint,
            "write",
            "put and delete objects",
            e.to_string(),
            "grant s3:PutObject and s3:DeleteObject on the prefix",
        ),
    });
    checks
}
