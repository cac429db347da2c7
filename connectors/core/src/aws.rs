//! How to reach an AWS service (DynamoDB, Kinesis): AWS's regional endpoint by default, or a
//! custom one (a VPC endpoint, DynamoDB Local, dynalite, kinesalite). Credentials: the keys here
//! when set, else the AWS default chain (environment, profile, SSO, web identity, container and
//! instance roles). The secret never prints.

use serde::Deserialize;

use crate::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsEndpoint {
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// AWS region; default from the environment (`AWS_REGION`) or profile.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Secret,
    #[serde(default)]
    pub session_token: Secret,
    /// Connect timeout; each request also times out after 6× this (default 10 s).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_connect_timeout() -> u64 {
    10
}

impl Default for AwsEndpoint {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            region: None,
            access_key_id: None,
            secret_access_key: Secret::default(),
            session_token: Secret::default(),
            connect_timeout_secs: default_connect_timeout(),
        }
    }
}
