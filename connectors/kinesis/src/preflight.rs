//! `sluice check` for the Kinesis broker: the settings, the endpoint and the credentials (a
//! `ListStreams` call, which any principal allowed to publish can usually make).

use sluice_core::{Check, ErrorKind};

use crate::config::KinesisConfig;
use crate::error::KinesisError;

/// The checks of `[kinesis]`, named `endpoint` in the report.
pub async fn check(endpoint: &str, config: &KinesisConfig) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Err(e) = config.ensure_valid() {
        checks.push(Check::error(endpoint, "settings", e, "fix the [kinesis] settings"));
        return checks;
    }
    checks.push(Check::pass(endpoint, "settings", format!("streams {:?}", config.stream_pattern)));
    let client = match crate::client::client(&config.connection).await {
        Ok(c) => c,
        Err(e) => {
            checks.push(Check::error(endpoint, "client", e.to_string(), "set [kinesis.connection] region"));
            return checks;
        }
    };
    let listed = client.list_streams().limit(100).send().await;
    checks.push(match listed {
        Ok(out) => Check::pass(
            endpoint,
            "list_streams",
            format!("reachable; {} stream(s) listed", out.stream_names().len()),
        ),
        Err(e) => {
            let e = KinesisError::request("ListStreams", &e);
            let hint = if e.kind() == ErrorKind::Retriable {
                "check [kinesis.connection] endpoint_url and the network"
            } else {
                "check the credentials and that they allow kinesis:ListStreams, CreateStream, \
                 DescribeStreamSummary and PutRecords"
            };
            Check::error(endpoint, "list_streams", e.to_string(), hint)
        }
    });
    checks
}
