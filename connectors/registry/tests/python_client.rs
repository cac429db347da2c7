//! The stock client: confluent-kafka's `SchemaRegistryClient` (the Python client most users
//! have) drives the registry through `tests/python/client_check.py`, which asserts what the
//! client returns, including `SchemaRegistryError.error_code`, and an Avro round trip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_python_client_gets_what_it_expects() {
    let testbed = common::testbed();
    let registry = common::start(&common::unique_topic("python")).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_check.py");
    let url = format!("http://{}", registry.local_addr());
    let output = tokio::process::Command::new(&testbed.python)
        .arg(script)
        .arg(&url)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", testbed.python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "client_check.py failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("client_check: 10 passed, 0 failed"), "{stdout}");
    registry.shutdown().await.unwrap();
}
