//! A value the target cannot hold goes through the dead-letter policy even when the target
//! refuses it at commit (the Redis, MongoDB and DynamoDB targets write at commit): an item over
//! DynamoDB's 400 KB is dead-lettered with its record's coordinates and the target's reason, the
//! rest of its batch is applied, and the sink goes on.

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
