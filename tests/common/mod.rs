//! Helpers shared by the root integration tests: running the `sluice` binary as a child process.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_testkit::{free_port, testbed};

/// A `sluice` child process, killed when dropped.
pub struct SluiceProcess {
    pub child: Child,
    pub log: std::path::PathBuf,
}

impl Drop for SluiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SluiceProcess {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Start `sluice ARGS…` with stdout/stderr going to `dir/<name>.log`.
pub fn spawn_sluice(dir: &Path, name: &str, args: &[&str]) -> anyhow::Result<SluiceProcess> {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log)?;
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .spawn()?;
    Ok(SluiceProcess { child, log })
}

/// Poll `url` until it answers 2xx, or fail with the process log.
pub async fn wait_http_ok(url: &str, proc_: &mut SluiceProcess, timeout: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if let Some(status) = proc_.child.try_wait()? {
            anyhow::bail!("sluice exited with {status} before {url} answered:\n{}", proc_.log_text());
        }
        if start.elapsed() > timeout {
            anyhow::bail!("{url} did not answer within {timeout:?}:\n{}", proc_.log_text());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A built-in registry on a free port storing schemas in its own topic.
pub async fn start_registry(dir: &Path, topic: &str) -> anyhow::Result<(SluiceProcess, String)> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let mut p = spawn_sluice(
        dir,
        &format!("registry-{port}"),
        &["registry", "--listen", &listen, "--kafka", &testbed().kafka.bootstrap, "--topic", topic],
    )?;
    let url = format!("http://{listen}");
    wait_http_ok(&format!("{url}/subjects"), &mut p, Duration::from_secs(60)).await?;
    Ok((p, url))
}
