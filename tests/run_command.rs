//! `sluice run` with a `[source]` and a `[sink]`: one process captures a PostgreSQL database
//! (with its built-in registry) and applies the topics to a second database; the target ends
//! equal to the source, and one observability listener serves both.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use sluice_testkit::{free_port, testbed, unique};

#[tokio::test(flavor = "multi_thread")]
async fn run_applies_a_source_to_its_sink_in_one_process() -> anyhow::Result<()> {
    let tb = testbed();
    let src_db = tb.postgres.create_database("runsrc").await?;
    let dst_db = tb.postgres.create_database("rundst").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g")
        .await?;
    let dst = tb.postgres.connect(&dst_db).await?;
    let dir = tb.scratch_dir("run")?;
    let prefix = unique("run");
    let (port, http) = (free_port()?, free_port()?);
    let config = format!(
        "{}\n[http]\nlisten = \"127.0.0.1:{http}\"\n\
         [sink]\ntype = \"postgres\"\nname = \"run\"\ngroup_id = \"{prefix}\"\ntopic_regex = '^{prefix}\\.public\\..*'\nbatch_max_ms = 50\n\
         [sink.connection]\nhost = \"{}\"\nport = {}\nuser = \"postgres\"\ndatabase = \"{dst_db}\"\n",
        common::pg_source_config(&src_db, &prefix, port, ""),
        tb.postgres.host,
        tb.postgres.port
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, config)?;
    let mut p = common::spawn_sluice(&dir, "run", &["run", "--config", &path.display().to_string()])?;
    common::wait_log(&mut p, "streaming", Duration::from_secs(120)).await?;
    src.batch_execute("UPDATE t SET v = 'changed' WHERE id <= 10; DELETE FROM t WHERE id > 45").await?;
    let sql = "SELECT id::text, v FROM t ORDER BY id";
    let want = common::pg_text_rows(&src, sql).await?;
    let start = Instant::now();
    loop {
        if common::pg_text_rows(&dst, sql).await.unwrap_or_default() == want {
            break;
        }
        if let Some(status) = p.child.try_wait()? {
            anyhow::bail!("sluice run exited with {status}:\n{}", p.log_text());
        }
        assert!(start.elapsed() < Duration::from_secs(120), "target not equal:\n{}", p.log_text());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = reqwest::get(format!("http://127.0.0.1:{http}/metrics")).await?.text().await?;
    assert!(metrics.contains("sluice_sink_applied_events_total"), "no sink metrics:\n{metrics}");
    assert!(metrics.contains("command=\"run\""), "{metrics}");
    Ok(())
}
