//! A value the target cannot hold goes through the dead-letter policy even when the target
//! refuses it at commit (the Redis, MongoDB and DynamoDB targets write at commit): an item over
//! DynamoDB's 400 KB is dead-lettered with its record's coordinates and the target's reason, the
//! rest of its batch is applied, and the sink goes on. A Redis out of memory is the opposite
//! case, the server's state rather than the record's: retried, never dead-lettered.

mod common;

use std::time::Duration;

use common::doc_targets::Doc;
use sluice_testkit::{free_port, testbed, unique};

const T: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread")]
async fn an_item_over_400_kb_is_dead_lettered_and_the_rest_applied() -> anyhow::Result<()> {
    let tb = testbed();
    let src_db = tb.postgres.create_database("refusesrc").await?;
    let src = tb.postgres.connect(&src_db).await?;
    src.batch_execute("CREATE TABLE notes (id int PRIMARY KEY, body text)").await?;
    let dir = tb.scratch_dir("refuse")?;
    let prefix = unique("ref");
    let port = free_port()?;
    let mut source =
        common::start_source(&dir, "source", &common::pg_source_config(&src_db, &prefix, port, ""), port)
            .await?;
    common::wait_log(&mut source, "streaming", T).await?;
    let ns = unique("refns");
    let dlq = unique("refdlq");
    let config = Doc::Dynamo.sink_config(&ns, &prefix, port).replace(
        "batch_max_events = 500",
        &format!("batch_max_events = 500\non_error = \"dead-letter\"\ndead_letter_topic = \"{dlq}\""),
    );
    src.batch_execute(
        "INSERT INTO notes SELECT g, CASE WHEN g = 3 THEN repeat('x', 450000) ELSE 'n' || g END FROM generate_series(1, 5) g",
    )
    .await?;
    let mut sink = common::start_sink(&dir, "sink", &config)?;
    let url = tb.dynamodb.url();
    let read =
        || Ok(vec![common::python_rows("dynamodb_rows.py", &[&url, &format!("{ns}.notes"), "id", "body"])?]);
    let rows = |ids: &[i32]| -> common::KeyedRows {
        ids.iter()
            .map(|i| (i.to_string(), vec![Some(if *i == 6 { "after".into() } else { format!("n{i}") })]))
            .collect()
    };
    // The rows around the refused one are applied…
    common::wait_keyed_rows_equal(&mut sink, read, &[rows(&[1, 2, 4, 5])], T).await?;
    // …the refused one is in the dead-letter topic with its coordinates and the target's reason…
    let letters = common::read_with_headers(&dlq, 1)?;
    anyhow::ensure!(letters.len() == 1, "no dead letter; sink log:\n{}", sink.log_text());
    let (_, h) = &letters[0];
    assert_eq!(common::header(h, "sluice.error.class"), "apply");
    assert_eq!(common::header(h, "sluice.error.topic"), format!("{prefix}.public.notes"));
    assert_eq!(common::header(h, "sluice.error.offset"), "2");
    let message = common::header(h, "sluice.error.message");
    assert!(message.contains("ValidationException") && message.contains("notes"), "{message}");
    // …and later changes still flow.
    src.batch_execute("INSERT INTO notes VALUES (6, 'after')").await?;
    common::wait_keyed_rows_equal(&mut sink, read, &[rows(&[1, 2, 4, 5, 6])], T).await?;
    Ok(())
}

/// Redis refusing writes for memory (`OOM`: `maxmemory` reached with `noeviction`) is the
/// server's state, not the record's: the commit fails retriably (the runtime retries it; it is
/// never dead-lettered) and nothing of the batch, nor its offsets, is written.
#[tokio::test(flavor = "multi_thread")]
async fn redis_out_of_memory_is_retriable_and_commits_nothing() -> anyhow::Result<()> {
    use sluice_core::{BrokerOffset, ErrorKind, Op, RecordAt, Sink, Target, Value};
    use sluice_testkit::conformance::{event, schema};
    let dir = testbed().scratch_dir("redis_oom")?;
    let port = free_port()?;
    let mut server = std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string(), "--save", "", "--appendonly", "no"])
        .args(["--maxmemory", "3mb", "--maxmemory-policy", "noeviction", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let config: sluice_redis::RedisSinkConfig = toml::from_str(&format!(
        "key_pattern = \"oom.{{table}}\"\n[connection]\nurl = \"redis://127.0.0.1:{port}\"\n"
    ))?;
    let started = std::time::Instant::now();
    let mut sink = loop {
        match sluice_redis::RedisTarget::connect(&config, "oom").await {
            Ok(s) => break s,
            Err(e) if started.elapsed() > Duration::from_secs(10) => anyhow::bail!("redis-server: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let t = schema("notes", false);
    let big = "x".repeat(100_000);
    let events: Vec<_> = (0..80)
        .map(|i| {
            let row = vec![
                Value::Int32(i),
                Value::Text("n".into()),
                Value::Text(big.clone()),
                Value::Int64(i.into()),
            ];
            event(&t, Op::Create, None, Some(row))
        })
        .collect();
    let at: Vec<RecordAt> =
        (0..80).map(|offset| RecordAt { topic: "oom.notes", partition: 0, offset }).collect();
    let failed = match sink.apply_at(&events, &at).await {
        Err(e) => e,
        Ok(()) => match sink
            .commit(&[BrokerOffset { topic: "oom.notes".into(), partition: 0, next_offset: 80 }])
            .await
        {
            Err(e) => e,
            Ok(_) => anyhow::bail!("8 MB went into a Redis with maxmemory 3mb"),
        },
    };
    assert_eq!(failed.kind(), ErrorKind::Retriable, "{failed}");
    assert!(failed.to_string().contains("OOM"), "{failed}");
    let mut c =
        redis::Client::open(format!("redis://127.0.0.1:{port}"))?.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut c).await?;
    assert!(keys.is_empty(), "a refused batch left {keys:?}");
    server.kill()?;
    Ok(())
}
