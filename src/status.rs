//! Task statistics that outlive the process: each source and sink writes its report
//! (`sluice_core::stats`) to the compacted status topic (`<state_topic>.status`), keyed
//! `status:<role>:<task>`, every few seconds while it changes and once when it stops;
//! `sluice status` reads them back. A restarted task continues from its last report, so its
//! counters are totals since the task began, not since the process started.
//!
//! Reports live in their own topic so that frequent writes never slow down loading the source
//! state (which reads its whole topic).

use std::time::Duration;

use anyhow::Context;
use sluice_core::stats::{self, Report};
use sluice_kafka::state::StateTopic;
use sluice_kafka::KafkaConfig;

use crate::config::Config;

/// How often a changed report is written.
const PERSIST_EVERY: Duration = Duration::from_secs(5);

fn topic(kafka: &KafkaConfig) -> String {
    format!("{}.status", kafka.state_topic)
}

fn key(role: &str, task: &str) -> String {
    format!("status:{role}:{task}")
}

/// Writes this process's report until dropped (a last write happens on [`Tracker::finish`]).
pub struct Tracker {
    topic: std::sync::Arc<StateTopic>,
    key: String,
    task: tokio::task::JoinHandle<()>,
}

impl Tracker {
    /// Name the task, restore its previous counters, and start writing reports.
    pub async fn start(kafka: &KafkaConfig, role: &str, task: &str) -> anyhow::Result<Self> {
        stats::set_task(role, task);
        let topic = std::sync::Arc::new(StateTopic::open(kafka, &topic(kafka)).await?);
        let key = key(role, task);
        if let Some(bytes) = topic.load(&key).await? {
            match serde_json::from_slice::<Report>(&bytes) {
                Ok(previous) => stats::restore(&previous),
                Err(e) => tracing::warn!(error = %e, "ignoring an unreadable previous status report"),
            }
        }
        let (t, k) = (topic.clone(), key.clone());
        let task = tokio::spawn(async move {
            let mut last = None;
            let mut tick = tokio::time::interval(PERSIST_EVERY);
            loop {
                tick.tick().await;
                let mut report = stats::report();
                let updated = report.updated_ms;
                report.updated_ms = 0;
                if last.as_ref() == Some(&report) {
                    continue;
                }
                report.updated_ms = updated;
                match serde_json::to_vec(&report) {
                    Ok(bytes) => {
                        if let Err(e) = t.store(&k, Some(&bytes)).await {
                            tracing::warn!(error = %e, "cannot write the status report");
                            continue;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot encode the status report"),
                }
                report.updated_ms = 0;
                last = Some(report);
            }
        });
        Ok(Self { topic, key, task })
    }

    /// Record the final phase and write the report once more.
    pub async fn finish(self, phase: &str) {
        self.task.abort();
        stats::set_phase(phase);
        if let Ok(bytes) = serde_json::to_vec(&stats::report()) {
            if let Err(e) = self.topic.store(&self.key, Some(&bytes)).await {
                tracing::warn!(error = %e, "cannot write the final status report");
            }
        }
    }
}

/// `sluice status`: print the reports of the tasks this config names (all, when it names none).
pub async fn print(cfg: &Config, json: bool) -> anyhow::Result<()> {
    let kafka = cfg.kafka.clone().context("`sluice status` needs the [kafka] section the tasks use")?;
    let store = StateTopic::open(&kafka, &topic(&kafka)).await?;
    let mut wanted = Vec::new();
    if let Some(s) = &cfg.source {
        wanted.push(key("source", &crate::source_cmd::task_name(s)));
    }
    if let Some(s) = &cfg.sink {
        // Every instance of the sink's group: `status:sink:<name>:<instance>`.
        wanted.push(key("sink", &s.name));
    }
    let reports: Vec<Report> = store
        .load_prefix("status:")
        .await?
        .into_iter()
        .filter(|(k, _)| {
            wanted.is_empty() || wanted.iter().any(|w| k == w || k.starts_with(&format!("{w}:")))
        })
        .filter_map(|(k, v)| match serde_json::from_slice(&v) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(key = %k, error = %e, "skipping an unreadable status report");
                None
            }
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
        return Ok(());
    }
    if reports.is_empty() {
        println!("no status reported yet by the tasks of this config");
    }
    for r in &reports {
        println!("{}", stats::render(r));
    }
    Ok(())
}

/// The phase a task's result leaves in its report.
pub fn final_phase(result: &anyhow::Result<()>) -> String {
    match result {
        Ok(()) => "stopped".into(),
        Err(e) => format!("failed: {e:#}"),
    }
}
