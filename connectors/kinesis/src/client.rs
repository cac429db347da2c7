//! The Kinesis client, and the streams Sluice publishes to: created on first use with the
//! configured shard count when missing, used as they are when they exist.

use std::time::{Duration, Instant};

use aws_config::timeout::TimeoutConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::types::StreamStatus;
use aws_sdk_kinesis::Client;
use sluice_core::aws::AwsEndpoint;

use crate::error::KinesisError;

/// How long a stream may stay `CREATING`/`UPDATING` before Sluice gives up (retriable).
const ACTIVE_WAIT: Duration = Duration::from_secs(300);

pub async fn client(ep: &AwsEndpoint) -> Result<Client, KinesisError> {
    let timeout = Duration::from_secs(ep.connect_timeout_secs.max(1));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder().connect_timeout(timeout).operation_attempt_timeout(timeout * 6).build(),
    );
    if let Some(r) = &ep.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(u) = &ep.endpoint_url {
        loader = loader.endpoint_url(u);
    }
    if let Some(id) = &ep.access_key_id {
        let token = (!ep.session_token.is_empty()).then(|| ep.session_token.expose().to_owned());
        loader = loader.credentials_provider(Credentials::new(
            id,
            ep.secret_access_key.expose(),
            token,
            None,
            "sluice-config",
        ));
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        return Err(KinesisError::fatal(
            "no AWS region: set [kinesis.connection] region (or AWS_REGION in the environment)",
        ));
    }
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
