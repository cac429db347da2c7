//! The DynamoDB target end to end: PostgreSQL source (`sluice source`) → broker → `sluice sink`
//! with `type = "dynamodb"` (dynalite), read back with boto3 and compared value by value with the
//! source table: numbers as N (exact; DynamoDB normalizes `12.50` to `12.5`), jsonb as nested
//! maps, arrays as lists, timestamps as ISO-8601 text with microseconds, a composite key as
//! partition + sort key. Inserts, updates (unchanged TOAST values included), deletes and a
//! truncate run while the sink is killed with `kill -9` three times.

mod common;

use common::doc_targets::{survives_kill_nine, Doc};

#[tokio::test(flavor = "multi_thread")]
async fn postgres_to_dynamodb_survives_kill_nine_and_ends_equal_value_by_value() -> anyhow::Result<()> {
    survives_kill_nine(Doc::Dynamo, "dyn").await.map(|_| ())
}
