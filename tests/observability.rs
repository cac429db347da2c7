//! A long-running subcommand (`sluice registry`) answers `/metrics`, `/health` and `/ready` on the
//! configured listener while it runs, and writes JSON logs when asked to.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use sluice_testkit::{free_port, testbed, unique};

#[tokio::test]
async fn metrics_health_and_ready_answer_while_the_registry_runs() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("obs")?;
    let http_port = free_port()?;
    let reg_port = free_port()?;
    let cfg = dir.join("sluice.toml");
    std::fs::write(
        &cfg,
        format!(
            "[log]\nformat = \"json\"\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n[kafka]\nbootstrap_servers = \"{}\"\n[registry]\nlisten = \"127.0.0.1:{reg_port}\"\ntopic = \"{}\"\n",
            tb.kafka.bootstrap,
            unique("_schemas")
        ),
    )?;
    let cfg = cfg.display().to_string();
    let mut p = common::spawn_sluice(&dir, "registry", &["registry", "--config", &cfg])?;
    let base = format!("http://127.0.0.1:{http_port}");
    common::wait_http_ok(&format!("{base}/ready"), &mut p, Duration::from_secs(60)).await?;

    let health = reqwest::get(format!("{base}/health")).await?;
    assert_eq!(health.status(), 200);
    // Drive the registry so its metrics have samples.
    let subjects: Vec<String> =
        reqwest::get(format!("http://127.0.0.1:{reg_port}/subjects")).await?.json().await?;
    assert!(subjects.is_empty());
    let metrics = reqwest::get(format!("{base}/metrics")).await?;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await?;
    assert!(text.contains("sluice_up{command=\"registry\"} 1"), "{text}");
    assert!(text.contains("sluice_registry_"), "{text}");

    // Logs are JSON objects, one per line.
    let log = p.log_text();
    let first = log.lines().find(|l| l.contains("registry ready")).unwrap_or_default();
    let parsed: serde_json::Value = serde_json::from_str(first).map_err(|e| anyhow::anyhow!("{e}: {log}"))?;
    assert_eq!(parsed["level"], "INFO");
    Ok(())
}

#[tokio::test]
async fn registry_without_listen_address_is_a_clear_error() -> anyhow::Result<()> {
    let tb = testbed();
    let dir = tb.scratch_dir("obs_err")?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["registry", "--kafka", &tb.kafka.bootstrap])
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pass --listen HOST:PORT or set [registry] listen"), "{err}");
    drop(dir);
    Ok(())
}
