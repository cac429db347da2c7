//! `sluice check`: validate the config and test every endpoint it names, like DMS's "test
//! endpoint connection". Prints one PASS/FAIL line per check and exits non-zero if any failed.

use std::time::Duration;

use sluice_core::Check;

use crate::config::{Config, SourceConfig};

/// Run every check the config implies, in config order.
pub async fn run_checks(cfg: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    match &cfg.source {
        Some(SourceConfig::Postgres(pg)) => {
            checks.extend(sluice_postgres::preflight::check_source("source", &pg.connection).await)
        }
        Some(SourceConfig::Mysql(my)) => {
            let reload = my.snapshot_locking == sluice_mysql::SnapshotLocking::Minimal;
            checks.extend(sluice_mysql::preflight::check_source("source", &my.connection, reload).await)
        }
        None => {}
    }
    if let Some(sink) = &cfg.sink {
        match sink.target() {
            Ok(target) => checks.extend(target.check(&sink.settings, "sink").await),
            Err(e) => checks.push(Check::error("sink", "config", e, "fix [sink] for this `type`")),
        }
    }
    match cfg.kinesis_broker() {
        Ok(Some(k)) => checks.extend(sluice_kinesis::preflight::check("kinesis", k).await),
        Ok(None) => {}
        Err(e) => checks.push(Check::error("kinesis", "config", e.to_string(), "fix [broker] / [kinesis]")),
    }
    if let Some(k) = &cfg.kafka {
        checks.push(
            sluice_kafka::preflight::ensure_broker_reachable("kafka", k, Duration::from_secs(10)).await,
        );
    }
    if let Some(url) = cfg.registry.as_ref().and_then(|r| r.client_url()) {
        checks.push(ensure_registry_reachable(&url).await);
    }
    checks
}

/// `GET /subjects` must answer with a JSON list.
async fn ensure_registry_reachable(url: &str) -> Check {
    let endpoint = format!("{}/subjects", url.trim_end_matches('/'));
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(c) => c,
        Err(e) => return Check::error("registry", "subjects", e.to_string(), ""),
    };
    match client.get(&endpoint).send().await {
        Ok(resp) if resp.status().is_success() => match resp.json::<Vec<String>>().await {
            Ok(subjects) => {
                Check::pass("registry", "subjects", format!("{} subject(s) at {url}", subjects.len()))
            }
            Err(e) => Check::error(
                "registry",
                "subjects",
                format!("{endpoint} did not return a subject list: {e}"),
                "is this a Confluent-compatible schema registry?",
            ),
        },
        Ok(resp) => Check::fail(
            "registry",
            "subjects",
            "HTTP 200",
            format!("HTTP {}", resp.status().as_u16()),
            "check the registry URL and credentials",
        ),
        Err(e) => Check::error(
            "registry",
            "subjects",
            format!("cannot reach {endpoint}: {e}"),
            "check the registry URL",
        ),
    }
}
