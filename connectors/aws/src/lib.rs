//! What Sluice's AWS connectors (DynamoDB, Kinesis) share: the SDK configuration built from an
//! endpoint table ([`sluice_core::aws::AwsEndpoint`]), and how an SDK error is classified.
//!
//! Invariants: the configured keys win over the default credential chain; a missing region is a
//! fatal, named error (never a request to a wrong endpoint); every request times out.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use sluice_core::aws::AwsEndpoint;
use sluice_core::ErrorKind;

/// The SDK configuration of `ep`; `section` names its config table in the missing-region error.
pub async fn sdk_config(ep: &AwsEndpoint, section: &str) -> Result<SdkConfig, String> {
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
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            id,
            ep.secret_access_key.expose(),
            token,
            None,
            "sluice-config",
        ));
    }
    let conf = loader.load().await;
    if conf.region().is_none() {
        return Err(format!("no AWS region: set {section} region (or AWS_REGION in the environment)"));
    }
    Ok(conf)
}

/// An SDK error's kind and text: network failures, timeouts and unparsable responses are
/// retriable, as are the service error codes in `retriable_codes`; everything else is fatal.
pub fn classify<E, R>(e: &SdkError<E, R>, retriable_codes: &[&str]) -> (ErrorKind, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let kind = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorKind::Retriable
        }
        _ if e.code().is_some_and(|c| retriable_codes.contains(&c)) => ErrorKind::Retriable,
        _ => ErrorKind::Fatal,
    };
    let reason = match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(e).to_string(),
    };
    (kind, reason)
}
