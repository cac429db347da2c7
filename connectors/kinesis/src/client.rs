//! The Kinesis client, and the streams Sluice publishes to: created on first use with the
//! configured shard count when missing, used as they are when they exist.

use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_kinesis::Client;
use sluice_core::aws::AwsEndpoint;

use crate::error::KinesisError;

/// How long a stream may stay `CREATING`/`UPDATING` before Sluice gives up (retriable).
const ACTIVE_WAIT: Duration = Duration::from_secs(300);

pub async fn client(ep: &AwsEndpoint) -> Result<Client, KinesisError> {
    let conf = sluice_aws::sdk_config(ep, "[kinesis.connection]").await.map_err(KinesisError::fatal)?;
    Ok(Client::new(&conf))
}

/// Make `stream` exist and be writable: create it with `shards` shards when missing, then wait
/// until it is `ACTIVE` (or `UPDATING`, which takes writes).
pub async fn ensure_stream(client: &Client, stream: &str, shards: i32) -> Result<(), KinesisError> {
    crate::config::ensure_stream_name(stream).map_err(KinesisError::fatal)?;
    let started = Instant::now();
    let mut created = false;
    loop {
        match client.describe_stream_summary().stream_name(stream).send().await {
            Ok(out) => {
                let status = out.stream_description_summary().map(|d| d.stream_status().clone());
                match status {
                    Some(StreamStatus::Active | StreamStatus::Updating) => return Ok(()),
                    Some(StreamStatus::Deleting) => {
                        return Err(KinesisError::retriable(format!("stream {stream} is being deleted")))
                    }
                    _ => {}
                }
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                if !created {
                    match client.create_stream().stream_name(stream).shard_count(shards).send().await {
                        Ok(_) => tracing::info!(stream, shards, "created Kinesis stream"),
                        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
                        Err(e) => return Err(KinesisError::request(format!("creating stream {stream}"), &e)),
                    }
                    created = true;
                }
            }
            Err(e) => return Err(KinesisError::request(format!("describing stream {stream}"), &e)),
        }
        if started.elapsed() > ACTIVE_WAIT {
            return Err(KinesisError::retriable(format!("stream {stream} not ACTIVE after {ACTIVE_WAIT:?}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
